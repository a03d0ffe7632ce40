"""Vector index: exact top-k by inner product over normalised float32 vectors, in numpy.

Vectors may be a read-only memory map of the saved index, so a large index is paged in by the
operating system instead of copied into memory. Selection uses argpartition (linear time), and
sorts only the k winners. Above `Settings.ann_above` passages the retriever uses the approximate
`qa.ann.AnnIndex` instead, which has the same interface (`scores`, `search`, `scores_for`).
"""
from __future__ import annotations

import numpy as np


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first."""
    n = scores.shape[0]
    if k <= 0 or n == 0:
        return np.zeros(0, dtype=np.int64)
    if k < n:
        candidates = np.argpartition(-scores, k - 1)[:k]
    else:
        candidates = np.arange(n)
    return candidates[np.argsort(-scores[candidates], kind="stable")]


class VectorIndex:
    """Exact inner-product search (cosine, since vectors are normalised)."""

    kind = "exact"

    def __init__(self, vectors: np.ndarray) -> None:
        if vectors.ndim != 2:
            raise ValueError("vectors must be a 2-D array")
        self.vectors = vectors

    def __len__(self) -> int:
        return self.vectors.shape[0]

    @property
    def dimension(self) -> int:
        return self.vectors.shape[1]

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine similarity of `query` to every vector."""
        if len(self) == 0:
            return np.zeros(0, dtype=np.float32)
        return self.vectors @ query.astype(np.float32, copy=False)

    def scores_for(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Cosine similarity of `query` to the vectors `ids` only (sorted ids read a memory map in order)."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size == 0:
            return np.zeros(0, dtype=np.float32)
        return np.asarray(self.vectors[ids]) @ query.astype(np.float32, copy=False)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of the k nearest vectors, best first."""
        scores = self.scores(query)
        ids = top_k(scores, k)
        return ids, scores[ids]
