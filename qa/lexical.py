"""Lexical search: BM25 over passages with bm25s (sparse, numpy-first, fast), English stemming.

Names, numbers and dates are what a small embedding model blurs and what users ask about,
so exact-term matching runs beside dense search. The same analyser (lower case, stop words
removed, Snowball stems) also tells the answering stage which question terms a sentence has.
"""
from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

log = logging.getLogger(__name__)

# Keep one-character tokens too ("7%", "G7", "$1.3 billion" → "1", "3"): numbers matter.
_TOKEN_PATTERN = r"(?u)\b\w+\b"
_SPLIT = re.compile(_TOKEN_PATTERN).findall
# NLTK's list as bm25s ships it: question words ("what", "does", "who") are not content.
_STOPWORDS = frozenset(STOPWORDS_EN_PLUS)
_STEMMER = Stemmer.Stemmer("english")


@lru_cache(maxsize=16384)
def _analyse_cached(text: str) -> tuple[str, ...]:
    return tuple(analyse_many([text])[0])


def analyse_many(texts: list[str]) -> list[list[str]]:
    """What `bm25s.tokenize(..., stopwords="en_plus", stemmer=...)` returns (same steps, same
    output), without its per-call progress-bar objects and per-text stop-word sets: this runs on
    every candidate sentence of every question, where bm25s's version cost more than the search."""
    stem = _STEMMER.stemWord  # PyStemmer caches stems of frequent words
    return [[stem(token) for token in _SPLIT(text.lower()) if token not in _STOPWORDS] for text in texts]


def terms(text: str) -> tuple[str, ...]:
    """Content terms of a text: lower-cased, stop words dropped, stemmed."""
    return _analyse_cached(text)


class LexicalIndex:
    """BM25 scores for every passage of the index."""

    def __init__(self, model: bm25s.BM25 | None, size: int) -> None:
        self._model = model
        self.size = size

    @classmethod
    def build(cls, texts: list[str]) -> "LexicalIndex":
        if not texts:
            return cls(None, 0)
        model = bm25s.BM25(k1=0.9, b=0.75)  # k1 0.9: short passages, fewer repeats of a term
        tokens = analyse_many(texts)
        # bm25s cannot index a document without any token; give empty ones a placeholder.
        tokens = [t if t else ["\u2205"] for t in tokens]
        model.index(tokens, show_progress=False)
        return cls(model, len(texts))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "size.txt").write_text(str(self.size))
        if self._model is not None:
            self._model.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> "LexicalIndex":
        size = int((folder / "size.txt").read_text())
        if size == 0:
            return cls(None, 0)
        model = bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
        return cls(model, size)

    def idf(self, query_terms: tuple[str, ...]) -> np.ndarray:
        """Inverse document frequency of each term over the passages (unknown terms: the highest)."""
        n = self.size
        if self._model is None:
            return np.ones(len(query_terms), dtype=np.float32)
        indptr = self._model.scores["indptr"]
        vocab = self._model.vocab_dict
        df = np.array(
            [int(indptr[vocab[t] + 1] - indptr[vocab[t]]) if t in vocab else 0 for t in query_terms], dtype=np.float64
        )
        return np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for `query` (zeros when it has no known term)."""
        if self._model is None:
            return np.zeros(self.size, dtype=np.float32)
        ids = self._model.get_tokens_ids(list(terms(query)))
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._model.get_scores_from_ids(ids), dtype=np.float32)
