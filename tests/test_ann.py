"""Updating the approximate (IVF) index in place of training it again, and its use by incremental saves."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

faiss = pytest.importorskip("faiss")

from qa.ann import AnnIndex  # noqa: E402
from qa.index import VectorIndex  # noqa: E402

DIM, LISTS = 384, 100  # 100 lists is within [0.5, 2]× of the default for ~5,000 vectors (128)


def _clustered(n: int, seed: int, centres: np.ndarray | None = None) -> np.ndarray:
    """Normalised vectors around shared cluster centres, like passages on a few hundred topics."""
    rng = np.random.default_rng(seed)
    if centres is None:
        centres = _centres()
    vectors = centres[rng.integers(len(centres), size=n)] + 0.5 / np.sqrt(DIM) * rng.normal(size=(n, DIM)).astype(np.float32)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _centres() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(200, DIM)).astype(np.float32) / np.sqrt(DIM)


def _lists(index) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per inverted list: ids sorted, and the 8-bit code of each, in that order."""
    invlists, out = index.invlists, {}
    for listno in range(index.nlist):
        size = invlists.list_size(listno)
        ids = faiss.rev_swig_ptr(invlists.get_ids(listno), size).copy()
        codes = faiss.rev_swig_ptr(invlists.get_codes(listno), size * index.code_size).reshape(size, -1).copy()
        order = np.argsort(ids)
        out[listno] = (ids[order], codes[order])
    return out


@pytest.fixture(scope="module")
def built() -> tuple[np.ndarray, AnnIndex]:
    vectors = _clustered(5000, seed=2)
    return vectors, AnnIndex.build(vectors, nlist=LISTS)


def _an_update(old: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(new vectors, origin, removed old rows): rows dropped from the middle, the rest renumbered
    and partly reordered (as when an article is re-read), new vectors appended."""
    removed = np.r_[np.arange(1000, 1300), np.arange(7, 5000, 50)]
    kept = np.setdiff1d(np.arange(len(old)), removed)
    kept = np.r_[kept[2000:2500], kept[:2000], kept[2500:]]  # a block moves to the front
    fresh = _clustered(400, seed=5)
    vectors = np.concatenate([old[kept], fresh])
    origin = np.r_[kept, np.full(len(fresh), -1)].astype(np.int64)
    return vectors, origin, removed


def _queries(vectors: np.ndarray, count: int = 60) -> np.ndarray:
    rng = np.random.default_rng(9)
    queries = vectors[rng.choice(len(vectors), count, replace=False)] + 0.2 / np.sqrt(DIM) * rng.normal(size=(count, DIM)).astype(np.float32)
    return queries / np.linalg.norm(queries, axis=1, keepdims=True)


def test_update_keeps_the_training_and_equals_adding_everything(built) -> None:
    old_vectors, ann = built
    vectors, origin, removed = _an_update(old_vectors)
    assert ann.rebuild_reason(origin) is None
    updated = ann.updated(vectors, origin)

    assert len(updated) == updated.index.ntotal == len(vectors)
    assert updated.vectors is vectors
    assert np.array_equal(updated.centroids, ann.centroids)  # not trained again
    assert np.array_equal(faiss.vector_to_array(updated.index.sq.trained), faiss.vector_to_array(ann.index.sq.trained))
    assert updated.nprobe == ann.nprobe and updated.rerank == ann.rerank

    # The same lists, ids and codes as adding every new vector to the trained (emptied) index.
    reference = faiss.clone_index(ann.index)
    reference.reset()
    reference.add(vectors)
    got, want = _lists(updated.index), _lists(reference)
    for listno in range(LISTS):
        assert np.array_equal(got[listno][0], want[listno][0])
        assert np.array_equal(got[listno][1], want[listno][1])

    exact = VectorIndex(vectors)
    recall = []
    for query in _queries(vectors):
        ids, scores = updated.search(query, 10)
        assert np.allclose(scores, vectors[ids] @ query, atol=1e-5)  # each id is the row of its vector
        recall.append(len(set(exact.search(query, 10)[0]) & set(ids)) / 10)
    assert np.mean(recall) >= 0.98

    # A removed vector is gone: asked for it, the index does not find it (its own cosine would be 1).
    for query in old_vectors[removed[::40]]:
        ids, scores = updated.search(query, 5)
        assert ids.max() < len(vectors) and scores.max() < 0.999


def test_update_of_a_memory_mapped_index_and_its_reload(built, tmp_path: Path) -> None:
    old_vectors, ann = built
    ann.save(tmp_path / "old.ivf")
    mapped = AnnIndex.load(tmp_path / "old.ivf", old_vectors)
    vectors, origin, _ = _an_update(old_vectors)
    updated = mapped.updated(vectors, origin)
    assert np.array_equal(updated.centroids, ann.centroids)
    updated.save(tmp_path / "new.ivf")
    np.save(tmp_path / "new.npy", vectors)
    reloaded = AnnIndex.load(tmp_path / "new.ivf", np.load(tmp_path / "new.npy", mmap_mode="r"))
    assert len(reloaded) == len(vectors)
    for query in _queries(vectors, 10):
        ids, scores = reloaded.search(query, 10)
        assert list(ids) == list(updated.search(query, 10)[0])
        assert np.allclose(scores, vectors[ids] @ query, atol=1e-5)
    # The mapped source is untouched and still answers.
    assert len(mapped) == len(old_vectors) and mapped.search(old_vectors[3], 1)[0][0] == 3


def test_a_large_change_trains_a_new_index(built) -> None:
    old_vectors, ann = built
    n = len(old_vectors)
    shrunk = np.arange(0, n, 5)  # to a fifth: 25 lists would be chosen, not 100
    assert "lists" in ann.rebuild_reason(shrunk)
    grown = np.r_[np.arange(n), np.full(4 * n, -1)]  # five times as many
    assert ann.rebuild_reason(grown) is not None
    replaced = np.r_[np.arange(2000), np.full(3000, -1)]  # same size, most of it new
    assert "new" in ann.rebuild_reason(replaced)

    vectors = old_vectors[shrunk]
    rebuilt = ann.updated(vectors, shrunk)
    assert rebuilt.index.nlist == AnnIndex.default_lists(len(vectors))
    assert len(rebuilt) == len(vectors)
    query = _queries(vectors, 1)[0]
    assert list(rebuilt.search(query, 5)[0]) == list(VectorIndex(vectors).search(query, 5)[0])


def test_update_checks_its_input_and_copies_a_repeated_row(built) -> None:
    old_vectors, ann = built
    with pytest.raises(ValueError):
        ann.updated(old_vectors[:10], np.arange(11))
    with pytest.raises(ValueError):
        ann.updated(old_vectors[:2], np.array([0, len(old_vectors)]))
    origin = np.r_[np.arange(len(old_vectors)), 42]  # row 42 twice: the second copy is encoded anew
    updated = ann.updated(np.concatenate([old_vectors, old_vectors[42:43]]), origin)
    assert len(updated) == len(old_vectors) + 1
    assert set(updated.search(old_vectors[42], 2)[0]) == {42, len(old_vectors)}


HARBOUR = """Harbour works in Tallinn

The old cargo harbour of Tallinn will be rebuilt over the next three years, the city council decided on Tuesday.

The plan moves the container terminal east of the city and turns the quays into a park with housing.

Dock workers asked the council to keep the repair yards, which employ four hundred people.
"""
ORCHARD = """Apple harvest in Latvia

Latvian orchards picked a record apple harvest this autumn after a warm spring and a wet summer.

Growers said the price of juice apples fell by a third, so many fruits were left on the trees.

Exports to Finland and Sweden rose, while the cold stores near Riga were full by October.
"""
FERRY = "Ferry news\n\nThe winter ferry to Halden island leaves at 7:15 every morning, and returns at six.\n"


def test_adding_an_article_updates_the_saved_index_without_training(corpus, index_dir, embedder, tmp_path, monkeypatch) -> None:
    from qa import QA
    from qa.settings import Settings
    from qa.store import IndexStore

    (corpus / "harbour.txt").write_text(HARBOUR)
    (corpus / "orchard.txt").write_text(ORCHARD)
    qa = QA.from_folder(corpus, index_dir=index_dir, settings=Settings(ann_above=5), embedder=embedder)
    before = qa.current()[0].ann
    assert before is not None and len(before) >= 5
    centroids = before.centroids

    def no_training(*args, **kwargs):
        raise AssertionError("the approximate index was trained again")

    monkeypatch.setattr(AnnIndex, "build", classmethod(no_training))
    (tmp_path / "ferry.txt").write_text(FERRY)
    report = qa.add(tmp_path / "ferry.txt")
    assert report.added and not report.rebuilt

    snapshot, retriever = qa.current()
    assert retriever.dense is snapshot.ann and snapshot.ann.kind == "ivf"
    assert len(snapshot.ann) == snapshot.passage_count == len(before) + 1
    assert np.array_equal(snapshot.ann.centroids, centroids)
    # Loaded from the new generation: the index and the vectors it re-scores with are the saved ones.
    assert snapshot.ann.vectors is snapshot.passage_vectors  # shared, not copied (in memory below MAP_ABOVE_BYTES)
    assert (IndexStore(index_dir).current_generation() / "passage_vectors.ivf").is_file()

    hits = qa.search("When does the winter ferry to Halden leave?", 3)
    assert "Halden" in hits[0].text and hits[0].article.title == "Ferry news"
    answer = qa.ask("When does the winter ferry to Halden island leave?")
    assert not answer.abstained and "7:15" in answer.citations[0].quote

    qa.remove(hits[0].article.id)
    after = qa.current()[0]
    assert len(after.ann) == after.passage_count == len(before)
    assert np.array_equal(after.ann.centroids, centroids)
    assert all("Halden" not in h.text for h in qa.search("winter ferry to Halden island", 5))
