"""Lexical search: BM25 over passages with bm25s (sparse, numpy-first, fast), English stemming.

Names, numbers and dates are what a small embedding model blurs and what users ask about,
so exact-term matching runs beside dense search. The same analyser (lower case, stop words
removed, Snowball stems) also tells the answering stage which question terms a sentence has.
"""
from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

log = logging.getLogger(__name__)

# Keep one-character tokens too ("7%", "G7", "$1.3 billion" → "1", "3"): numbers matter.
_TOKEN_PATTERN = r"(?u)\b\w+\b"
_STEMMER = Stemmer.Stemmer("english")


@lru_cache(maxsize=4096)
def _analyse_cached(text: str) -> tuple[str, ...]:
    return tuple(_analyse_many([text])[0])


def _analyse_many(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(
        texts,
        token_pattern=_TOKEN_PATTERN,
        stopwords="en_plus",  # NLTK's list: question words ("what", "does", "who") are not content
        stemmer=_STEMMER,
        return_ids=False,
        show_progress=False,
    )


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
        tokens = _analyse_many(texts)
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
