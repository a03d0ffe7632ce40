"""Approximate nearest-neighbour search for large indexes: an inverted-file index (faiss IVF, 8-bit).

Above `Settings.ann_above` passages (200,000 by default) an exact scan of every passage vector costs
more than the rest of a question (about 1.5 GB of float32 read per question at a million passages).
This index clusters the vectors around `nlist` centroids (k-means) and, per question, scans only the
`nprobe` closest clusters, with vectors compressed to 8 bits per dimension (a quarter of float32).
Its candidates (`rerank` × k of them) are then re-scored exactly against the float32 vectors, so
the scores it returns are true cosines and only the candidate list is approximate.

Why IVF and not a graph (HNSW): measured on passage vectors derived from real ones (see
benchmarks/README.md), HNSW from usearch and faiss reached Recall@10 of 0.4–0.8 at 100k, because
near-duplicate passages form tight clusters a graph walks past; IVF reached 0.99–1.0 at less than
1 ms per question, builds in seconds to a minute, and keeps a quarter of the memory.

It has the same interface as the exact `VectorIndex` (`scores`, `search`, `scores_for`), and is
saved with the index (`IndexStore` writes it beside the vectors) because building it at a million
passages takes about a minute.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np

from .index import VectorIndex, top_k

log = logging.getLogger(__name__)

FILE_NAME = "passage_vectors.ivf"


def _faiss():
    try:
        import faiss
    except ImportError as error:  # pragma: no cover - faiss-cpu is in requirements.txt
        raise RuntimeError("the approximate index needs faiss-cpu (pip install faiss-cpu)") from error
    return faiss


class AnnIndex(VectorIndex):
    """IVF (faiss, 8-bit scalar quantised) candidates, re-scored exactly with the float32 vectors."""

    kind = "ivf"

    def __init__(self, vectors: np.ndarray, index, nprobe: int = 32, rerank: int = 4) -> None:
        super().__init__(vectors)
        if index.ntotal != vectors.shape[0] or index.d != vectors.shape[1]:
            raise ValueError(f"ANN index holds {index.ntotal}×{index.d} vectors, expected {vectors.shape}")
        self.index = index
        self.nprobe = nprobe
        self.rerank = rerank
        index.nprobe = nprobe

    @staticmethod
    def default_lists(n: int) -> int:
        """Number of clusters: about 4·√n (faiss's guideline), at least 1."""
        return max(1, min(n // 39 if n >= 39 else 1, int(4 * math.sqrt(n))))

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        nlist: int | None = None,
        nprobe: int = 32,
        rerank: int = 4,
        train_size: int = 40,
        seed: int = 0,
    ) -> "AnnIndex":
        """Train the clusters on a sample (`train_size` vectors per cluster) and add every vector."""
        faiss = _faiss()
        n, dim = vectors.shape
        nlist = nlist or cls.default_lists(n)
        started = time.perf_counter()
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=min(n, train_size * nlist), replace=False))
        index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
        step = 100_000  # add in slices: a memory-mapped matrix is never copied whole
        for start in range(0, n, step):
            index.add(np.ascontiguousarray(vectors[start : start + step], dtype=np.float32))
        log.info("Built an IVF index of %d vectors (%d lists) in %.1f s", n, nlist, time.perf_counter() - started)
        return cls(vectors, index, nprobe=nprobe, rerank=rerank)

    def save(self, path: Path) -> None:
        _faiss().write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, vectors: np.ndarray, nprobe: int = 32, rerank: int = 4) -> "AnnIndex":
        faiss = _faiss()
        # Memory-mapped like the vectors: opening is instant and only the probed lists are paged in.
        return cls(vectors, faiss.read_index(str(path), faiss.IO_FLAG_MMAP), nprobe=nprobe, rerank=rerank)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, exact cosines) of k approximate nearest vectors, best first."""
        n = len(self)
        if k <= 0 or n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        _, found = self.index.search(query, min(n, max(k * self.rerank, k)))
        ids = np.unique(found[0][found[0] >= 0])
        exact = self.scores_for(query[0], ids)
        best = top_k(exact, k)
        return ids[best], exact[best]
