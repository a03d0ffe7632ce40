"""Dense indexes behind one interface, and the one place that decides which one a snapshot gets.

`DenseIndex` is what the retriever asks of any dense index: its size, `search` (ids and cosines of
the nearest passages, best first) and `scores_for` (cosines of given passages, for fusing the
lexical candidates). The retriever never asks which kind it holds.

Kinds, chosen by `dense_kind` from `Settings` and the number of passages (the size policy lives
here and nowhere else, the way txtai's ANN factory keys its backends by configuration):

- "exact": a numpy scan of normalised float32 vectors (this module's `ExactIndex`); vectors may be
  a read-only memory map of the saved index, so a large index is paged in by the operating system.
  Selection uses argpartition (linear time) and sorts only the k winners.
- "ivf": faiss IVF with 8-bit codes and exact re-scoring (`qa.ann.AnnIndex`), from
  `Settings.ann_above` passages on, saved with a local index.

A PostgreSQL store has no in-process dense index: pgvector's index is queried in SQL per question
(`qa.pgsearch`).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .store import Snapshot

log = logging.getLogger(__name__)


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


@runtime_checkable
class DenseIndex(Protocol):
    """Nearest passages by cosine (inner product of normalised vectors)."""

    kind: str

    def __len__(self) -> int: ...

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, cosines) of the k nearest passages, best first."""
        ...

    def scores_for(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Exact cosines of `query` to the passages `ids`."""
        ...


class ExactIndex:
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


VectorIndex = ExactIndex  # the earlier name


def approximate(passages: int, ann_above: int | None) -> bool:
    """Whether a local index of `passages` uses the approximate IVF index (`Settings.ann_above`):
    below it an exact scan takes under 5 ms; at 100k it takes 10 ms where IVF takes 0.7 ms."""
    return ann_above is not None and passages >= max(ann_above, 1)


def dense_kind(passages: int, ann_above: int | None) -> str:
    """Which dense index a local snapshot of `passages` gets: "ivf" from `ann_above` passages on, else "exact"."""
    return "ivf" if approximate(passages, ann_above) else "exact"


def create_dense_index(snapshot: "Snapshot", ann_above: int | None) -> DenseIndex:
    """The dense index for `snapshot`: the one it carries (the IVF index saved with a local index,
    or the database's), else the exact index below `ann_above` passages, else an IVF index built
    now (in memory; the next save persists it), else exact search when faiss is missing."""
    carried = snapshot.dense
    if carried is not None and (carried.kind != "ivf" or approximate(snapshot.passage_count, ann_above)):
        return carried
    if dense_kind(snapshot.passage_count, ann_above) == "exact":
        return ExactIndex(snapshot.passage_vectors)
    from .ann import AnnIndex

    try:
        return AnnIndex.build(snapshot.passage_vectors)
    except RuntimeError as error:  # faiss-cpu missing: exact search still answers, only slower
        log.warning("Using exact search over %d passages: %s", snapshot.passage_count, error)
        return ExactIndex(snapshot.passage_vectors)
