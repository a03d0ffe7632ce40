"""The engine's side of the attack round (issue 12): inputs validated with one exception type,
uploads that never break a start or leave files behind, deletes never silently lost, damaged
index files detected. The HTTP and browser side is in test_attack_round.py."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from qa import QA, Settings
from qa.facade import IndexNotSaved, QuestionError, UploadTooLarge
from qa.store import IndexStore

QUESTION = "How large was bilateral trade between Georgia and Russia in the first half of 2025?"


# ------------------------------------------------------------------ inputs (item 8)
@pytest.mark.parametrize(
    "call",
    [
        lambda qa: qa.ask(QUESTION, history=5),
        lambda qa: qa.ask(QUESTION, history="What does Georgia export?"),
        lambda qa: qa.ask(QUESTION, history=[5]),
        lambda qa: qa.ask(QUESTION, top_k="5"),
        lambda qa: qa.ask(QUESTION, top_k=2.5),
        lambda qa: qa.ask(QUESTION, top_k=-1),
        lambda qa: qa.ask(QUESTION, top_k=10**5000),
        lambda qa: qa.search(QUESTION, k="5"),
        lambda qa: qa.search(QUESTION, k=0),
        lambda qa: qa.ask("Who is the prime minister \ud800 of Georgia?"),
        lambda qa: qa.ask("And what does it import?", history=[("What does Georgia \udc00 export?", "Wine.")]),
        lambda qa: qa.ask("And what does it import?", history=[{"role": "user", "content": "x\ud800"}]),
    ],
)
def test_bad_inputs_raise_question_error(seed_qa: QA, call) -> None:
    with pytest.raises(QuestionError) as raised:
        call(seed_qa)
    assert "must" in str(raised.value) or "invalid" in str(raised.value)


def test_history_is_bounded_like_the_question(seed_qa: QA) -> None:
    huge = "What does Georgia export to Russia? " * 25_000  # 0.9 MB
    started = time.process_time()
    with pytest.raises(QuestionError, match="too long"):
        seed_qa.ask("And what does it import?", history=[(huge, "Wine.")])
    with pytest.raises(QuestionError, match="at most the last"):
        seed_qa.ask("And what does it import?", history=[("q", "a")] * 101)
    assert time.process_time() - started < 0.5
    # Within the bounds a follow-up still works.
    assert seed_qa.ask("And what does it import?", history=[("What does Georgia export to Russia?", "Wine.")]).text


def test_add_upload_wants_bytes(qa: QA) -> None:
    with pytest.raises(ValueError, match="bytes"):
        qa.add_upload("notes.txt", "Notes\n\nSome text.")


def test_size_messages_never_read_zero_megabytes(corpus: Path, index_dir: Path, embedder) -> None:
    settings = Settings(corpus=corpus, index_dir=index_dir, max_upload_bytes=40)
    qa = QA.from_folder(corpus, settings=settings, embedder=embedder)
    with pytest.raises(UploadTooLarge) as raised:
        qa.add_upload("notes.txt", b"x" * 60)
    assert "60 bytes is over the 40 bytes limit" in str(raised.value)


def test_from_folder_names_what_is_wrong(tmp_path: Path, embedder) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("Notes")
    with pytest.raises(FileNotFoundError, match="is a file, not a folder"):
        QA.from_folder(file, index_dir=tmp_path / "index", embedder=embedder)
    with pytest.raises(ValueError, match="No corpus folder given"):
        QA.from_folder("", index_dir=tmp_path / "index", embedder=embedder)


# ------------------------------------------------------------------ uploads that break a start (item 2, 9)
def test_a_lone_surrogate_in_a_feed_never_stops_a_start(qa: QA, corpus: Path, index_dir: Path, embedder) -> None:
    feed = '{"title": "Harbour news \\ud800", "text": "The new ferry to Halden island leaves at 7:15 \\udc00 every morning."}\n'
    report = qa.add_upload("feed.jsonl", feed.encode("utf-8"))
    assert report.added
    again = QA.from_folder(corpus, index_dir=index_dir, embedder=embedder)  # crashed in content_hash before
    assert any(a.title == "Harbour news \ufffd" for a in again.articles())
    # A fresh build (no index) reads it too.
    fresh = QA.from_folder(corpus, index_dir=index_dir.parent / "fresh-index", embedder=embedder)
    assert len(fresh.articles()) == len(again.articles())


def test_uploads_are_staged_inside_the_corpus_and_leftovers_removed(qa: QA, corpus: Path, index_dir: Path, embedder) -> None:
    before = set(Path(tempfile.gettempdir()).glob("qa-upload-*"))
    qa.add_upload("ferry.txt", b"Ferry news\n\nThe winter ferry to Halden island leaves at 7:15 every morning.\n")
    assert set(Path(tempfile.gettempdir()).glob("qa-upload-*")) == before
    assert sorted(p.name for p in corpus.iterdir()) == ["ferry.txt", "georgia-russia-relations.txt"]
    # What a server killed mid-upload leaves: a staging folder of a process that is gone.
    leftover = corpus / ".qa-upload-999999999-0123"
    leftover.mkdir()
    (leftover / "half.txt").write_text("half an upload")
    QA.from_folder(corpus, index_dir=index_dir, embedder=embedder)
    assert not leftover.exists()


def test_the_file_limit_follows_max_upload_bytes(corpus: Path, index_dir: Path, embedder) -> None:
    settings = Settings(corpus=corpus, index_dir=index_dir, max_upload_bytes=50_000_000)
    qa = QA.from_folder(corpus, settings=settings, embedder=embedder)
    records = json.dumps([{"title": "x" * 1000, "note": "y" * 21_000}] * 1000)  # 22 MB, records without text
    with pytest.raises(ValueError) as raised:
        qa.add_upload("big.json", records.encode())
    assert "record has no text" in str(raised.value) and "too large" not in str(raised.value)


# ------------------------------------------------------------------ deletes (item 4)
def test_a_delete_that_cannot_be_saved_is_refused_not_lost(qa: QA, corpus: Path, index_dir: Path, embedder) -> None:
    article = qa.articles()[0]
    qa.store = IndexStore(index_dir.parent / "not-a-folder" / "index")  # saving fails, as on a full disk
    (index_dir.parent / "not-a-folder").write_text("a file where the index folder should be")
    with pytest.raises(IndexNotSaved, match="Nothing was removed") as raised:
        qa.remove(article.id)
    assert str(index_dir.parent) not in str(raised.value)
    assert article.id in {a.id for a in qa.articles()}
    assert article.id in {a.id for a in QA.from_folder(corpus, index_dir=index_dir, embedder=embedder).articles()}


# ------------------------------------------------------------------ damaged index files (item 3)
def _generation(index_dir: Path) -> Path:
    return index_dir / (index_dir / "CURRENT").read_text().strip()


def _drop_checksums(generation: Path) -> None:
    """As an index written before checksums were recorded: only the value checks can tell."""
    manifest = json.loads((generation / "manifest.json").read_text())
    manifest.pop("files", None)
    (generation / "manifest.json").write_text(json.dumps(manifest))


def _overwrite_rows(path: Path, change) -> None:
    array = np.load(path)
    change(array)
    np.save(path, array)


DAMAGE = {
    "truncated sentence vectors": lambda g: os.truncate(g / "sentence_vectors.npy", (g / "sentence_vectors.npy").stat().st_size // 2),
    "NaN passage vectors": lambda g: _overwrite_rows(g / "passage_vectors.npy", lambda a: a.__setitem__(0, np.nan)),
    "out-of-range sentence rows": lambda g: _overwrite_rows(g / "sentences.npy", lambda a: a.__setitem__((0, 2), 10**9)),
}


@pytest.mark.parametrize("checksums", [True, False], ids=["checksum", "values"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_files_are_detected_at_load_and_rebuilt(qa: QA, corpus: Path, index_dir: Path, embedder, damage: str, checksums: bool, caplog) -> None:
    generation = _generation(index_dir)
    if not checksums:
        _drop_checksums(generation)
    DAMAGE[damage](generation)
    with pytest.raises(Exception) as raised:
        IndexStore(index_dir).load()
    assert type(raised.value).__name__ == "IndexDamaged"
    again = QA.from_folder(corpus, index_dir=index_dir, embedder=embedder)
    assert "damaged" in caplog.text
    answer = again.ask(QUESTION)
    assert "$1.3 billion" in answer.text and answer.confidence is not None


@pytest.mark.slow
def test_a_file_truncated_under_a_running_engine_is_rebuilt_not_sigbus(tmp_path: Path) -> None:
    """Memory-mapped vectors (as above 256 MB) truncated while the engine runs: the next question
    is answered from a rebuilt index, and the process lives (it died of SIGBUS, exit 135)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "corpus" / "georgia-russia-relations.txt", corpus)
    script = f"""
import os, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
import qa.store
qa.store.MAP_ABOVE_BYTES = 0  # every array memory-mapped
from qa import QA
engine = QA.from_folder({str(corpus)!r}, index_dir={str(tmp_path / "index")!r})
engine.ask({QUESTION!r})
generation = engine.store.current_generation()
for name in ("sentence_vectors.npy", "passage_vectors.npy"):
    os.truncate(generation / name, 128)
print(engine.ask({QUESTION!r}).text)
"""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "$1.3 billion" in done.stdout
    assert "changed on disk while in use" in done.stderr and "rebuilding the index" in done.stderr


def test_an_upload_with_a_huge_text_is_refused_before_embedding(qa: QA, corpus: Path) -> None:
    """A 1 MB single line took 173 s of CPU under the write lock; now it is refused at once."""
    started = time.process_time()
    with pytest.raises(UploadTooLarge, match="characters"):
        qa.add_upload("line.txt", ("word " * 200_000).encode())
    assert time.process_time() - started < 5
    assert not (corpus / "line.txt").exists()


# ------------------------------------------------------------------ messages that say what happened (item 9)
def test_deeply_nested_html_and_pdf_bombs_are_named(tmp_path: Path) -> None:
    import zlib

    from pypdf.filters import ZLIB_MAX_OUTPUT_LENGTH

    from qa.readers import read_file

    nested = tmp_path / "nested.html"
    nested.write_text("<html><body>" + "<div>" * 100_000 + "<p>The ferry leaves at 7:15 from the northern pier.</p>" + "</div>" * 100_000 + "</body></html>")
    assert "nested too deeply" in read_file(nested, tmp_path)[1][0].reason

    content = zlib.compress(b"0 0 m " * (ZLIB_MAX_OUTPUT_LENGTH // 3), 9)  # inflates to twice pypdf's limit
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
        f"<< /Length {len(content)} /Filter /FlateDecode >>\nstream\n".encode() + content + b"\nendstream",
    ]
    data, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(data))
        data += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(data)
    data += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    data += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    data += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    bomb = tmp_path / "bomb.pdf"
    bomb.write_bytes(data)
    reason = read_file(bomb, tmp_path)[1][0].reason
    assert "decompression" in reason and "scanned" not in reason


def test_status_names_folders_without_their_location(seed_qa: QA) -> None:
    status = seed_qa.status()
    assert status["corpus"] == "corpus" and "/" not in status["index_dir"]
