"""Retrieval: dense and lexical candidates, fused into one ranking of passages.

Dense search finds paraphrases; BM25 finds the exact names and numbers. Reciprocal rank fusion
combines the two rankings without having to put cosine and BM25 scores on one scale.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .index import VectorIndex, top_k
from .store import Snapshot


@dataclass(frozen=True)
class RankedPassage:
    passage_id: int
    score: float  # fused score: higher is better
    dense: float  # cosine similarity of passage and query


class Retriever:
    """Hybrid search over one snapshot."""

    def __init__(self, snapshot: Snapshot, candidates: int = 50, rrf_k: int = 60) -> None:
        self.snapshot = snapshot
        self.dense = VectorIndex(snapshot.passage_vectors)
        self.candidates = candidates
        self.rrf_k = rrf_k

    def retrieve(self, query_vector: np.ndarray, query_text: str, k: int) -> list[RankedPassage]:
        if len(self.dense) == 0 or k <= 0:
            return []
        dense_scores = self.dense.scores(query_vector)
        lexical_scores = self.snapshot.lexical.scores(query_text)
        fused: dict[int, float] = {}
        for ranking in (top_k(dense_scores, self.candidates), _positive_top(lexical_scores, self.candidates)):
            for rank, passage_id in enumerate(ranking):
                fused[int(passage_id)] = fused.get(int(passage_id), 0.0) + 1.0 / (self.rrf_k + rank + 1)
        best = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [RankedPassage(pid, score, float(dense_scores[pid])) for pid, score in best]


def _positive_top(scores: np.ndarray, k: int) -> np.ndarray:
    ids = top_k(scores, k)
    return ids[scores[ids] > 0]
