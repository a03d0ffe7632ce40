"""The database store across real processes, on a real embedded PostgreSQL: two `python app.py`
servers on one database (upload on one, list and ask on the other), `python -m qa index` killed
with SIGKILL in the middle of writing articles, and `python -m qa migrate` from a local index."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import requests

from conftest import ROOT
from running_app import serve

pytestmark = pytest.mark.slow

BRIDGE = b"Title: River Bridge Approved\n\nThe council approved a 42 million dollar pedestrian bridge over the Alder River on Tuesday.\n"
ENV = {**os.environ, "QA_ANSWERER": "features", "GRADIO_ANALYTICS_ENABLED": "False"}


def cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa", *args], cwd=ROOT, env={**ENV, **env}, capture_output=True, text=True, timeout=600)


def test_two_app_servers_on_one_database(tmp_path: Path, database_url: str, monkeypatch) -> None:
    monkeypatch.setenv("QA_ANSWERER", "features")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    server_a = serve(tmp_path / "a", "--store", database_url)
    a = next(server_a)
    server_b = serve(tmp_path / "b", "--store", database_url)
    b = next(server_b)
    try:
        response = requests.post(a.api("articles"), files={"files": ("bridge.txt", BRIDGE, "text/plain")}, timeout=120)
        assert response.status_code == 200, response.text
        uploaded = time.monotonic()
        while not any("Bridge" in x["title"] for x in requests.get(b.api("articles"), timeout=10).json()):
            assert time.monotonic() - uploaded < 2.0, "the upload on A was not listed on B within 2 s"
            time.sleep(0.1)
        answer = requests.post(b.api("ask"), json={"question": "How much will the Alder River bridge cost?"}, timeout=60).json()
        assert "42 million" in answer["text"]
        bridge = next(x for x in requests.get(b.api("articles"), timeout=10).json() if "Bridge" in x["title"])
        assert requests.delete(b.api(f"articles/{bridge['id']}"), timeout=60).status_code == 200
        removed = time.monotonic()
        while any("Bridge" in x["title"] for x in requests.get(a.api("articles"), timeout=10).json()):
            assert time.monotonic() - removed < 2.0, "the removal on B still listed on A after 2 s"
            time.sleep(0.1)
    finally:
        server_b.close()
        server_a.close()


def test_sigkill_during_an_ingest_leaves_whole_articles(tmp_path: Path, database_url: str) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    count = 400  # enough that writing them (one transaction each) outlasts a poll on a loaded machine
    for i in range(count):
        (corpus / f"note-{i:03d}.txt").write_text(
            f"Harbour note {i}\n\nThe harbour master logged vessel number {i} arriving at berth {i % 17}. "
            f"It carried {i * 3} tonnes of timber for the mill at Orsa. The crew of {i % 9 + 2} stayed two nights.\n"
        )
    process = subprocess.Popen([sys.executable, "-m", "qa", "index", str(corpus), "--store", database_url], cwd=ROOT, env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        written = 0
        # One connection for the whole watch (a new one per poll takes longer than some articles' writes).
        with psycopg.connect(database_url, autocommit=True) as watch:
            while written < 10:
                assert process.poll() is None, "the ingest ended before it could be interrupted"
                assert time.monotonic() < deadline
                try:
                    written = watch.execute("SELECT count(*) FROM qa_articles").fetchone()[0]
                except psycopg.errors.UndefinedTable:  # tables not created yet
                    written = 0
                    time.sleep(0.01)
            os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    with psycopg.connect(database_url) as conn:
        present = conn.execute("SELECT count(*) FROM qa_articles").fetchone()[0]
        partial = conn.execute(
            "SELECT a.id FROM qa_articles a LEFT JOIN qa_passages p ON p.article_id = a.id LEFT JOIN qa_sentences s ON s.article_id = a.id "
            "GROUP BY a.id HAVING count(p.id) = 0 OR count(s.ordinal) = 0"
        ).fetchall()
        before = dict(conn.execute("SELECT article_id, count(*) FROM qa_passages GROUP BY article_id").fetchall())
    assert 10 <= present < count, f"{present} articles: the kill did not land mid-ingest"
    assert partial == []
    # The next run completes the index; what was there stays as it was (whole, not written again).
    done = cli("index", str(corpus), "--store", database_url)
    assert done.returncode == 0, done.stderr
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM qa_articles").fetchone()[0] == count
        after = dict(conn.execute("SELECT article_id, count(*) FROM qa_passages GROUP BY article_id").fetchall())
    assert all(after[article] == n for article, n in before.items())
    listed = cli("articles", "--store", database_url)  # the database alone, every article whole
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == count, listed.stderr


def test_migrate_copies_a_local_index_without_embedding(tmp_path: Path, database_url: str) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "bridge.txt").write_bytes(BRIDGE)
    built = cli("index", str(corpus))
    assert built.returncode == 0, built.stderr
    with psycopg.connect(database_url, autocommit=True) as conn:  # a database of schema version 1 (no BM25 statistics)
        conn.execute("CREATE TABLE qa_meta (key text PRIMARY KEY, value jsonb NOT NULL)")
        conn.execute("INSERT INTO qa_meta VALUES ('schema_version', '1'), ('generation', '3')")
    refused = cli("articles", "--store", database_url)
    assert refused.returncode != 0 and "Run: python -m qa migrate --to" in refused.stderr
    moved = cli("migrate", "--corpus", str(corpus), "--to", database_url)
    assert moved.returncode == 0, moved.stderr
    assert "Copied 1 articles" in moved.stdout and "no re-embedding" in moved.stdout
    listed = cli("articles", "--store", database_url)  # no folder: the database alone
    assert listed.returncode == 0 and "River Bridge Approved" in listed.stdout
    asked = cli("ask", "How much will the Alder River bridge cost?", "--json", QA_STORE=database_url)  # the environment's store
    assert asked.returncode == 0 and "42 million" in asked.stdout
    wrong = cli("articles", "--store", "postgresql://qa:hunter2@127.0.0.1:1/qa")
    assert wrong.returncode == 3 and "Cannot reach the database at postgresql://qa@127.0.0.1:1/qa" in wrong.stderr
    assert "hunter2" not in wrong.stderr
