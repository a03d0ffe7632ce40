"""Bad input gets a clear answer, never a crash; faults lose nothing."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fpdf import FPDF

from qa import QA, QuestionError
from qa.store import IndexStore
from samples import write_pdf

from conftest import ROOT

SHARED = ROOT.parent / "shared" / "data" / "squad2_dev_half.json"

QUESTIONS = [
    "",
    "   \t\n ",
    "x" * 100_000,
    "Who\x00 is\x07 the \x1b[31mprime minister\x1b[0m?",
    "the of and to is was what",
    "Кто является премьер-министром Грузии?",
    "ジョージアの首相は誰ですか？",
    "🇬🇪 🤝 🇷🇺 💰 ❓",
    "https://example.com/georgia?trade=2025&x=<script>",
    "def f(x): return [i**2 for i in range(x)]  # what does this do?",
    "?",
    "'; DROP TABLE articles; --",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_any_question_gets_an_answer_or_a_clear_error(seed_qa: QA, question: str) -> None:
    try:
        answer = seed_qa.ask(question)
    except QuestionError as error:
        assert str(error) and len(str(error)) < 200
        return
    assert isinstance(answer.text, str) and answer.text
    assert 0.0 <= answer.confidence <= 1.0
    json.dumps(answer.to_dict())


def write_encrypted_pdf(path: Path) -> None:
    pdf = FPDF()
    pdf.set_encryption(owner_password="owner", user_password="secret")
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 10, "Secret minutes of the harbour board.")
    pdf.output(str(path))


def write_scanned_pdf(path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")  # a page with a picture and no text layer
    pdf.output(str(path))


def test_a_messy_archive_indexes_what_it_can(corpus: Path, index_dir: Path, embedder) -> None:
    good = "Harbour report\n\nThe harbour crane at Port Elin lifts 80 tonnes and was installed in May 2024.\n"
    files = {
        "empty.txt": b"",
        "binary.txt": bytes(range(256)) * 20,
        "latin1.txt": "Café news\n\nThe café in Søndre street sells crème brûlée for 6 euros.\n".encode("latin-1"),
        "utf16.txt": "Ferry news\n\nThe winter ferry to Halden island leaves at 7:15.\n".encode("utf-16"),
        "broken-utf8.txt": b"Mill news\n\nThe old mill \xff\xfe reopened in June as a museum of flour.\n",
        "malformed.html": b"<html><head><title>Bridge news</title><body><p>The council approved a pedestrian bridge over the Alder River costing 42 million dollars.<p>Work starts in spring<div><span>unclosed",
        "corrupt.pdf": b"%PDF-1.7\n" + os.urandom(2000),
        "feed.jsonl": (json.dumps({"title": "Lighthouse", "text": "The lighthouse at Cape Mira was restored by volunteers in 2023."}) + "\n{not json\n\n[1, 2]\n" + json.dumps({"title": "No text"}) + "\n").encode(),
        "copy-of-report.txt": good.encode(),
        "report.txt": good.encode(),
        "big.txt": b"word " * 5_000_000,  # 25 MB: over the per-file limit
    }
    for name, data in files.items():
        (corpus / name).write_bytes(data)
    write_encrypted_pdf(corpus / "encrypted.pdf")
    write_scanned_pdf(corpus / "scanned.pdf")
    write_pdf(corpus / "orchard.pdf", ("Orchard report.", "The orchard harvested 340 tonnes of apples in 2024."))

    qa = QA.from_folder(corpus, index_dir=index_dir, embedder=embedder)
    reasons = {s.path: s.reason for s in qa.last_report.skipped}
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "corrupt" in reasons["corrupt.pdf"].lower()
    assert "encrypted" in reasons["encrypted.pdf"].lower()
    assert "no text" in reasons["scanned.pdf"].lower()
    assert "too large" in reasons["big.txt"]
    assert "duplicate" in reasons["report.txt"] or "duplicate" in reasons["copy-of-report.txt"]
    assert {"feed.jsonl:2", "feed.jsonl:4", "feed.jsonl:5"} <= set(reasons)
    titles = {a.title for a in qa.articles()}
    assert {"Café news", "Ferry news", "Lighthouse", "Harbour report"} <= titles

    checks = {
        "What does the café in Søndre street sell?": "crème brûlée",
        "When does the winter ferry to Halden island leave?": "7:15",
        "Who restored the lighthouse at Cape Mira?": "volunteers",
        "How much does the pedestrian bridge over the Alder River cost?": "42 million",
        "How many tonnes of apples did the orchard harvest?": "340 tonnes",
        "How large was bilateral trade between Georgia and Russia in the first half of 2025?": "$1.3 billion",
        "What did the old mill reopen as?": "museum of flour",
    }
    for question, expected in checks.items():
        answer, ranking = qa.ask_with_ranking(question, abstain_below=0.0)
        assert expected in answer.text, (question, answer.text)


@pytest.mark.slow
def test_ten_thousand_tiny_paragraphs(corpus: Path, index_dir: Path, embedder) -> None:
    lines = [f"Item {i} of the ledger is a crate of {['apples', 'pears', 'plums', 'figs'][i % 4]}." for i in range(10_000)]
    lines[7321] = "Item 7321 of the ledger is a golden harp bought in Vienna."
    (corpus / "ledger.txt").write_text("Ledger\n\n" + "\n\n".join(lines))
    qa = QA.from_folder(corpus, index_dir=index_dir, embedder=embedder)
    assert any(a.title == "Ledger" for a in qa.articles())
    answer, _ = qa.ask_with_ranking("Where was the golden harp bought?", abstain_below=0.0)
    assert "Vienna" in answer.text


def test_read_only_index_folder_keeps_answering_from_memory(qa: QA, corpus: Path, index_dir: Path) -> None:
    if os.geteuid() == 0:
        # root ignores permission bits; a file where the folder should be fails the same way.
        blocked = index_dir.parent / "blocked"
        blocked.write_text("not a folder")
        qa.store = IndexStore(blocked / "index")
    else:
        for path in [index_dir, *index_dir.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
    (corpus / "ferry.txt").write_text("Ferry news\n\nThe winter ferry to Halden island leaves at 7:15 every morning.\n")
    report = qa.refresh()
    assert report.not_saved and "could not be saved" in report.summary()
    assert "7:15" in qa.ask("When does the winter ferry to Halden island leave?").text
    assert "$1.3 billion" in qa.ask("How large was bilateral trade between Georgia and Russia in the first half of 2025?").text


def squad_articles(count: int) -> list[dict]:
    data = json.loads(SHARED.read_text(encoding="utf-8"))
    return [
        {"title": a["title"], "text": "\n\n".join(p["context"] for p in a["paragraphs"][:25])}
        for a in data["articles"][:count]
    ]


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.exists(), reason="needs ../shared/data")
def test_killing_the_indexer_loses_nothing(corpus: Path, index_dir: Path, embedder) -> None:
    """SIGKILL `python -m qa index` at random moments of several updates: the saved index always
    loads (the previous or the new one, never a broken one), answers, and the update then completes."""
    rng = random.Random(7)
    articles = squad_articles(6)
    QA.from_folder(corpus, index_dir=index_dir, embedder=embedder)
    for round_number, batch in enumerate([articles[0:2], articles[2:4], articles[4:6]]):
        before = IndexStore(index_dir).load()
        feed = corpus / f"batch-{round_number}.jsonl"
        feed.write_text("\n".join(json.dumps(a) for a in batch) + "\n")
        process = subprocess.Popen(
            [sys.executable, "-m", "qa", "index", str(corpus), "--index-dir", str(index_dir)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(6, 30))
        process.send_signal(signal.SIGKILL)
        process.wait()
        after = IndexStore(index_dir).load()  # raises if the kill left it damaged
        assert after is not None
        assert len(after.articles) in (len(before.articles), len(before.articles) + 2)
        qa = QA.from_folder(corpus, index_dir=index_dir, embedder=embedder)
        assert qa.last_report.rebuilt is False
        assert len(qa.articles()) == len(before.articles) + 2
        title = batch[1]["title"]
        hits = qa.search(title, k=10)
        assert any(h.article.title == title for h in hits)
        assert "$1.3 billion" in qa.ask("How large was bilateral trade between Georgia and Russia in the first half of 2025?").text
