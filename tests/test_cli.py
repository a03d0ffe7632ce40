"""The command line, run as a user runs it: a real process, real model, real files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

TRADE = "How large was bilateral trade between Georgia and Russia in the first half of 2025?"


def run(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "qa", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_index_ask_search_articles(corpus: Path, index_dir: Path) -> None:
    (corpus / "ferry.jsonl").write_text(
        json.dumps({"title": "Ferry timetable", "text": "The winter ferry to Halden island leaves at 7:15 and 16:40."}) + "\n{broken\n"
    )
    built = run("index", str(corpus), "--index-dir", str(index_dir))
    assert built.returncode == 0, built.stderr
    assert "2 articles" in built.stdout and "ferry.jsonl:2" in built.stdout

    env = {"QA_CORPUS": str(corpus), "QA_INDEX_DIR": str(index_dir)}
    asked = run("ask", TRADE, "--json", env_extra=env)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert "$1.3 billion" in answer["text"] and not answer["abstained"]
    citation = answer["citations"][0]
    text = (corpus / "georgia-russia-relations.txt").read_text()
    assert text[citation["start"] : citation["end"]] == citation["quote"]
    assert citation["quote"].startswith("According to Georgia’s national statistics service")
    # The short answer leads, with its article offsets on the citation that holds it.
    assert answer["short_answer"] and "1.3 billion" in answer["short_answer"]
    assert text[citation["answer_start"] : citation["answer_end"]] == answer["short_answer"]

    refused = run("ask", "What is the capital of France?", "--json", env_extra=env)
    assert refused.returncode == 0 and json.loads(refused.stdout)["abstained"] is True

    plain = run("ask", "When does the winter ferry leave?", env_extra=env)
    assert plain.returncode == 0 and "7:15" in plain.stdout and "[1] Ferry timetable" in plain.stdout
    assert plain.stdout.startswith("Answer: ") and "7:15" in plain.stdout.splitlines()[0]

    found = run("search", "trade between Georgia and Russia", "-k", "2", "--json", env_extra=env)
    hits = json.loads(found.stdout)
    assert len(hits) == 2 and "bilateral trade" in hits[0]["text"]

    listed = run("articles", "--json", env_extra=env)
    assert {a["title"] for a in json.loads(listed.stdout)} >= {"Ferry timetable"}


def test_errors_a_user_can_act_on(corpus: Path, index_dir: Path, tmp_path: Path) -> None:
    missing = run("ask", "anything", "--corpus", str(tmp_path / "nowhere"), "--index-dir", str(index_dir))
    assert missing.returncode == 3 and "does not exist" in missing.stderr

    empty = run("ask", "   ", "--corpus", str(corpus), "--index-dir", str(index_dir))
    assert empty.returncode == 2 and "Please type a question" in empty.stderr

    (tmp_path / "notes.docx").write_bytes(b"PK")
    bad_add = run("add", str(tmp_path / "notes.docx"), "--corpus", str(corpus), "--index-dir", str(index_dir))
    assert bad_add.returncode == 4 and "unsupported file type" in bad_add.stderr

    usage = run("ask")
    assert usage.returncode == 2 and "usage" in usage.stderr


def run_into_closed_pipe(*args: str, env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a command whose stdout is a pipe nobody reads any more (what `| head` leaves behind)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to stdout now fails with EPIPE, whatever the output's size
    try:
        return subprocess.run(
            [sys.executable, "-m", "qa", *args], cwd=ROOT, env={**os.environ, **env_extra},
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=300,
        )
    finally:
        os.close(write_end)


def test_output_into_a_closed_pipe_ends_quietly(corpus: Path, index_dir: Path, tmp_path: Path) -> None:
    env = {"QA_CORPUS": str(corpus), "QA_INDEX_DIR": str(index_dir)}
    assert run("index", env_extra=env).returncode == 0
    (tmp_path / "ferry.txt").write_text("Ferry timetable\nThe winter ferry to Halden island leaves at 7:15.\n")
    commands = [
        ("--help",),
        ("index",),
        ("index", "--json"),
        ("ask", TRADE),
        ("ask", TRADE, "--json"),
        ("search", "trade between Georgia and Russia"),
        ("search", "trade between Georgia and Russia", "--json"),
        ("articles",),
        ("articles", "--json"),
        ("add", str(tmp_path / "ferry.txt")),
        ("remove", "FERRY"),
    ]
    for command in commands:
        if command[0] == "remove":  # the article the closed-pipe `add` still added
            listed = json.loads(run("articles", "--json", env_extra=env).stdout)
            command = ("remove", next(a["id"] for a in listed if a["title"] == "Ferry timetable"))
        result = run_into_closed_pipe(*command, env_extra=env)
        # 1: output lost; argparse ignores a failed write of --help itself, and exits 0.
        assert result.returncode == (0 if command == ("--help",) else 1), (command, result.stderr)
        assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr, (command, result.stderr)
        assert "Exception ignored" not in result.stderr, (command, result.stderr)

    # The pipeline from the bug report, as a shell runs it.
    piped = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {sys.executable} -m qa articles --json | head -c 40"],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=300,
    )
    assert piped.stdout.startswith("[") and len(piped.stdout) <= 40
    assert "Traceback" not in piped.stderr and "BrokenPipeError" not in piped.stderr
