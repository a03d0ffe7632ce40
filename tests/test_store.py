"""The saved index: reloads without re-embedding, updates incrementally, survives interruptions."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from qa import QA, Settings
from qa.passages import PassageSettings
from qa.store import IndexStore

TRADE = "How large was bilateral trade between Georgia and Russia in the first half of 2025?"
BRIDGE = "Title: River Bridge Approved\n\nThe council approved a 42 million dollar pedestrian bridge over the Alder River on Tuesday.\n"


def test_reload_uses_saved_vectors(qa: QA, corpus: Path, index_dir: Path, embedder) -> None:
    first = qa.last_report
    assert first.rebuilt and len(first.added) == 1 and first.passages > 0
    again = QA.from_folder(corpus, index_dir=index_dir, embedder=embedder)
    report = again.last_report
    assert (report.added, report.updated, report.removed, report.rebuilt) == ([], [], [], False)
    snapshot = again.current()[0]
    # Small arrays are read into memory (damage on disk cannot fault a query); above MAP_ABOVE_BYTES they are mapped.
    assert isinstance(snapshot.passage_vectors, np.ndarray) and not isinstance(snapshot.passage_vectors, np.memmap)
    manifest = json.loads((IndexStore(index_dir).current_generation() / "manifest.json").read_text())
    assert {"bytes", "crc32"} <= set(manifest["files"]["passage_vectors.npy"])
    assert manifest["model"] == "all-MiniLM-L6-v2" and manifest["dimension"] == 384
    assert manifest["passage_settings"] == {"max_tokens": 200, "overlap_sentences": 1, "with_title": True}
    assert len(manifest["articles"][0]["hash"]) == 64
    assert "$1.3 billion" in again.ask(TRADE).text


def test_incremental_add_change_remove(qa: QA, corpus: Path, embedder) -> None:
    seed_vectors = np.array(qa.current()[0].passage_vectors)
    (corpus / "bridge.txt").write_text(BRIDGE)
    report = qa.refresh()
    assert len(report.added) == 1 and report.updated == [] and report.articles == 2
    # The unchanged article's vectors were copied, not recomputed.
    snapshot = qa.current()[0]
    seed_index = next(i for i, a in enumerate(snapshot.articles) if a.path.startswith("georgia"))
    rows = np.asarray(snapshot.passages[:, 0]) == seed_index
    assert np.array_equal(np.asarray(snapshot.passage_vectors)[rows], seed_vectors)
    assert "42 million" in qa.ask("How much will the Alder River bridge cost?").text

    (corpus / "bridge.txt").write_text(BRIDGE.replace("42 million", "57 million"))
    report = qa.refresh()
    assert len(report.updated) == 1 and report.added == []
    assert "57 million" in qa.ask("How much will the Alder River bridge cost?").text

    (corpus / "bridge.txt").unlink()
    report = qa.refresh()
    assert len(report.removed) == 1 and report.articles == 1
    assert all(a.path != "bridge.txt" for a in qa.articles())


def test_changed_passage_settings_rebuild(qa: QA, corpus: Path, index_dir: Path, embedder) -> None:
    settings = Settings(corpus=corpus, index_dir=index_dir, passages=PassageSettings(max_tokens=64))
    smaller = QA.from_folder(corpus, index_dir=index_dir, settings=settings, embedder=embedder)
    assert smaller.last_report.rebuilt
    assert smaller.status()["passages"] > qa.status()["passages"]


def test_interrupted_save_keeps_the_previous_index(qa: QA, corpus: Path, index_dir: Path, embedder, monkeypatch) -> None:
    before = IndexStore(index_dir).current_generation()
    (corpus / "bridge.txt").write_text(BRIDGE)

    def crash(self, folder, snapshot):
        (folder / "passage_vectors.npy").write_bytes(b"partial")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(IndexStore, "write_files", crash)
    with pytest.raises(KeyboardInterrupt):
        qa.refresh()
    monkeypatch.undo()
    assert IndexStore(index_dir).current_generation() == before
    assert not any(p.name.startswith("tmp-") for p in index_dir.iterdir())
    # A fresh process loads the last good index, answers, and then completes the update.
    reopened = QA(Settings(corpus=corpus, index_dir=index_dir), embedder)
    assert reopened.store.load().passage_count == qa.current()[0].passage_count
    reopened.refresh()
    assert reopened.status()["articles"] == 2


def test_leftovers_of_a_killed_build_are_ignored_and_cleaned(qa: QA, corpus: Path, index_dir: Path, embedder) -> None:
    (index_dir / "tmp-deadbeef").mkdir()
    (index_dir / "tmp-deadbeef" / "passages.npy").write_bytes(b"junk")
    (index_dir / "gen-1").mkdir()  # a generation without a manifest is incomplete
    reopened = QA.from_folder(corpus, index_dir=index_dir, embedder=embedder)
    assert not reopened.last_report.rebuilt
    (corpus / "bridge.txt").write_text(BRIDGE)
    reopened.refresh()
    names = {p.name for p in index_dir.iterdir()}
    assert "tmp-deadbeef" not in names and "gen-1" not in names


@pytest.mark.parametrize("damage", ["truncate_vectors", "edit_manifest", "delete_file", "other_model"])
def test_damaged_index_is_rebuilt(qa: QA, corpus: Path, index_dir: Path, embedder, damage: str, caplog) -> None:
    generation = IndexStore(index_dir).current_generation()
    if damage == "truncate_vectors":
        path = generation / "passage_vectors.npy"
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "edit_manifest":
        manifest = json.loads((generation / "manifest.json").read_text())
        manifest["counts"]["passages"] += 3
        (generation / "manifest.json").write_text(json.dumps(manifest))
    elif damage == "delete_file":
        (generation / "sentences.npy").unlink()
    else:  # vectors of another model, under the same model name
        manifest = json.loads((generation / "manifest.json").read_text())
        manifest["probe"] = list(np.roll(np.array(manifest["probe"]), 7))
        (generation / "manifest.json").write_text(json.dumps(manifest))
    with caplog.at_level(logging.INFO, logger="qa"):
        reopened = QA.from_folder(corpus, index_dir=index_dir, embedder=embedder)
    assert reopened.last_report.rebuilt
    assert "damaged" in caplog.text or "different model" in caplog.text
    assert "$1.3 billion" in reopened.ask(TRADE).text


def test_sentence_vectors_are_stored_half_precision_by_default(qa: QA, corpus: Path, index_dir: Path, embedder) -> None:
    generation = IndexStore(index_dir).current_generation()
    assert np.load(generation / "sentence_vectors.npy", mmap_mode="r").dtype == np.float16
    assert np.load(generation / "passage_vectors.npy", mmap_mode="r").dtype == np.float32
    snapshot = qa.current()[0]
    texts = [snapshot.sentence_text(i) for i in range(3)]
    assert np.allclose(np.asarray(snapshot.sentence_vectors[:3], dtype=np.float32), embedder.encode(texts), atol=2e-3)

    # Full precision on request: an index saved in half precision is converted on its next update
    # (copied rows included), without re-embedding or rebuilding it.
    full = QA.from_folder(corpus, index_dir=index_dir, embedder=embedder, settings=Settings(sentence_vectors="float32"))
    assert not full.last_report.rebuilt
    (corpus / "bridge.txt").write_text(BRIDGE)
    report = full.refresh()
    assert report.added and not report.rebuilt
    assert np.load(IndexStore(index_dir).current_generation() / "sentence_vectors.npy", mmap_mode="r").dtype == np.float32
    assert "42 million" in full.ask("How much will the Alder River bridge cost?").text
    with pytest.raises(ValueError, match="sentence_vectors"):
        Settings(sentence_vectors="int4")
