"""The exact vector index and BM25: top-k order equals a full sort."""
from __future__ import annotations

import numpy as np

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
