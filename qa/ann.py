"""Approximate nearest-neighbour search for large indexes: an inverted-file index (faiss IVF, 8-bit).

From `Settings.ann_above` passages on (50,000 by default) an exact scan of every passage vector costs
more than the rest of a question (10 ms at 100k; 95 ms, 1.5 GB of float32 read, at a million).
This index clusters the vectors around `nlist` centroids (k-means) and, per question, scans only the
`nprobe` closest clusters, with vectors compressed to 8 bits per dimension (a quarter of float32).
Its candidates (`rerank` × k of them) are then re-scored exactly against the float32 vectors, so
the scores it returns are true cosines and only the candidate list is approximate.

Why IVF and not a graph (HNSW): measured on passage vectors derived from real ones (see
benchmarks/README.md), HNSW from usearch and faiss reached Recall@10 of 0.4–0.8 at 100k, because
near-duplicate passages form tight clusters a graph walks past; IVF reached 0.99–1.0 at less than
1 ms per question, builds in seconds to a minute, and keeps a quarter of the memory.

It implements `qa.index.DenseIndex` like the exact `ExactIndex` (`search`, `scores_for`), and is
saved with the index (`IndexStore` writes it beside the vectors) because building it at a million
passages takes about a minute. For the same reason an incremental update does not rebuild it:
`updated` keeps the trained clusters and the codes of the vectors that stay, and encodes only the
new ones (about half a second instead of one to two minutes at a million passages).
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np

from .index import ExactIndex, top_k

log = logging.getLogger(__name__)

FILE_NAME = "passage_vectors.ivf"


def _faiss():
    try:
        import faiss
    except ImportError as error:  # pragma: no cover - faiss-cpu is in requirements.txt
        raise RuntimeError("the approximate index needs faiss-cpu (pip install faiss-cpu)") from error
    return faiss


class AnnIndex(ExactIndex):
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

    @property
    def centroids(self) -> np.ndarray:
        """The trained cluster centres (nlist × dimension), a copy."""
        return self.index.quantizer.reconstruct_n(0, self.index.nlist)

    def rebuild_reason(self, origin: np.ndarray) -> str | None:
        """Why `updated(vectors, origin)` should train a new index instead of reusing this one's
        clusters (None: reusing them is fine).

        - The number of lists is outside [0.5, 2]× of what a fresh build would choose
          (`default_lists`, about 4·√n, so the collection has grown about 4× or shrunk to about a
          quarter since training): the fixed `nprobe` then scans far too many vectors per
          question, or too small a share of the neighbourhood (recall drops). Comparing with the
          fresh choice rather than with the previous size also catches many small updates adding up.
        - More than half of the vectors are new: the clusters were trained on a sample of the old
          vectors, which the new ones need not follow (unbalanced lists, lower recall); when that
          many are new, a build that learns from them is worth its minute. (Many small updates that
          replace most vectors one by one are not detected: only the size is compared.)
        """
        n = len(origin)
        new = int(np.count_nonzero(np.asarray(origin) < 0))
        lists, fresh_lists = self.index.nlist, self.default_lists(n)
        if n and not 0.5 <= lists / fresh_lists <= 2:
            return f"{lists} lists for {n} vectors, where a new index would have {fresh_lists}"
        if 2 * new > n:
            return f"{new} of {n} vectors are new"
        return None

    def updated(self, vectors: np.ndarray, origin: np.ndarray) -> "AnnIndex":
        """This index for `vectors`, where `origin[i]` is the row in this index of vector i, or -1
        for a new vector: as if every vector had been added to this trained index.

        The clusters and quantiser ranges are kept (no training), the 8-bit codes of the rows that
        stay are copied list by list with their ids renumbered, removed rows are dropped, and only
        the new vectors are encoded. A row of `vectors` with an origin must be that old vector
        (not checked: it would read every vector). A fresh in-memory index is built because this
        one may be memory-mapped (read-only). When `rebuild_reason` gives a reason, a new index is
        trained instead.
        """
        faiss = _faiss()
        origin = np.asarray(origin, dtype=np.int64)
        if vectors.ndim != 2 or vectors.shape[1] != self.dimension or origin.shape != (vectors.shape[0],):
            raise ValueError(f"{vectors.shape} vectors with {origin.shape} origins for a {self.dimension}-d index")
        old = self.index
        if origin.size and origin.max() >= old.ntotal:
            raise ValueError(f"an origin is past the {old.ntotal} rows of the index")
        new_row = np.full(old.ntotal, -1, dtype=np.int64)  # old row → new row, -1 when removed
        kept = np.flatnonzero(origin >= 0)
        new_row[origin[kept]] = kept
        origin = origin.copy()
        origin[kept[new_row[origin[kept]] != kept]] = -1  # an old row used twice: later copies are encoded anew
        reason = self.rebuild_reason(origin)
        if reason is not None:
            log.info("Training a new IVF index: %s", reason)
            return self.build(vectors, nprobe=self.nprobe, rerank=self.rerank)

        started = time.perf_counter()
        quantizer = faiss.IndexFlatIP(old.d) if old.metric_type == faiss.METRIC_INNER_PRODUCT else faiss.IndexFlatL2(old.d)
        quantizer.add(self.centroids)
        index = faiss.IndexIVFScalarQuantizer(quantizer, old.d, old.nlist, old.sq.qtype, old.metric_type, old.by_residual)
        faiss.copy_array_to_vector(faiss.vector_to_array(old.sq.trained), index.sq.trained)
        index.is_trained = True
        source, target, code_size, copied = old.invlists, index.invlists, old.code_size, 0
        for listno in range(old.nlist):
            size = source.list_size(listno)
            if not size:
                continue
            ids_pointer, codes_pointer = source.get_ids(listno), source.get_codes(listno)
            try:
                rows = new_row[faiss.rev_swig_ptr(ids_pointer, size)]
                stays = rows >= 0
                count = int(np.count_nonzero(stays))
                if count:
                    codes = faiss.rev_swig_ptr(codes_pointer, size * code_size).reshape(size, code_size)
                    ids = np.ascontiguousarray(rows[stays])
                    kept_codes = np.ascontiguousarray(codes[stays])
                    target.add_entries(listno, count, faiss.swig_ptr(ids), faiss.swig_ptr(kept_codes))
                    copied += count
            finally:
                source.release_ids(listno, ids_pointer)
                source.release_codes(listno, codes_pointer)
        index.ntotal = copied
        added = np.flatnonzero(origin < 0)
        step = 100_000  # as in `build`: a memory-mapped matrix is never copied whole
        for start in range(0, len(added), step):
            batch = added[start : start + step]
            index.add_with_ids(np.ascontiguousarray(vectors[batch], dtype=np.float32), batch)
        log.info(
            "Updated an IVF index to %d vectors (%d kept, %d added, %d lists) in %.2f s",
            index.ntotal, copied, len(added), old.nlist, time.perf_counter() - started,
        )
        return type(self)(vectors, index, nprobe=self.nprobe, rerank=self.rerank)

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
