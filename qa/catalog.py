"""What the facade reads from an index, whichever store holds it: ranked passages for a question,
and listings (articles, one article, counts, an article's sentences).

Two implementations, so `QA` has one code path for both stores:

- `SnapshotCatalog` (here): the local store. The indexer holds the whole index as an in-memory
  (partly memory-mapped) `Snapshot`; retrieval is `qa.retrieval.Retriever` over it.
- `qa.pgsearch.PgCatalog`: a PostgreSQL store. Nothing of the index is held in the process; each
  question and listing is answered by queries.

Retrieval gives a `Found`: a `Snapshot` the answer stage reads (the whole one locally, a small
one holding only the ranked passages' articles on a database) and the ranked passages, with the
store's own passage ids for hits.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .answering import hit_for
from .retrieval import RankedPassage
from .store import Snapshot
from .types import Article, Hit

if TYPE_CHECKING:  # pragma: no cover
    from .indexer import Indexer


@dataclass(frozen=True)
class Found:
    """Ranked passages of one question, and the snapshot their ids refer to."""

    snapshot: Snapshot
    ranked: list[RankedPassage]
    # The store's id of each passage of `snapshot` (None: the snapshot's rows are the store's ids).
    passage_ids: tuple[int, ...] | None = None

    def hits(self, ranked: list[RankedPassage] | None = None) -> list[Hit]:
        """Hits of `ranked` (default: all of them), carrying the store's passage ids."""
        hits = [hit_for(self.snapshot, r) for r in (self.ranked if ranked is None else ranked)]
        if self.passage_ids is None:
            return hits
        return [replace(h, passage_id=self.passage_ids[h.passage_id]) for h in hits]


class Catalog(Protocol):
    """What `QA` asks of an index."""

    def find(self, query_vector: np.ndarray, query_text: str, question: str, k: int, articles: list[str] | None = None) -> Found:
        """The k best passages for `query_text` (fused dense and lexical), only of `articles` if
        given (KeyError for an unknown id); `question` is what the answer stage will weigh terms of."""
        ...

    def version(self) -> object:
        """Changes whenever the index does (for caches)."""
        ...

    def articles(self) -> list[Article]: ...

    def article(self, article_id: str) -> Article:
        """The whole article, with its text; KeyError when there is none with that id."""
        ...

    def article_ids(self, limit: int) -> list[str]:
        """The first `limit` articles' ids, in the index's order."""
        ...

    def passage_counts(self) -> dict[str, int]: ...

    def counts(self) -> dict[str, int]:
        """"articles", "passages", "sentences" and the vectors' "dimension"."""
        ...

    def sentence_spans(self, article_id: str) -> list[tuple[int, int]]:
        """(start, end) of each sentence of an article, in order; KeyError for an unknown id."""
        ...


class SnapshotCatalog:
    """The local store's catalog: reads the indexer's current snapshot."""

    def __init__(self, indexer: "Indexer") -> None:
        self.indexer = indexer

    def find(self, query_vector: np.ndarray, query_text: str, question: str, k: int, articles: list[str] | None = None) -> Found:
        snapshot, retriever = self.indexer.current()
        rows = None
        if articles:
            unknown = [a for a in articles if a not in snapshot.article_index]
            if unknown:
                raise KeyError(unknown[0])
            rows = np.array([snapshot.article_index[a] for a in articles], dtype=np.int64)
        return Found(snapshot, retriever.retrieve(query_vector, query_text, k, articles=rows))

    def version(self) -> object:
        return id(self.indexer.current()[0])

    def articles(self) -> list[Article]:
        return list(self.indexer.current()[0].articles)

    def article(self, article_id: str) -> Article:
        snapshot = self.indexer.current()[0]
        if article_id not in snapshot.article_index:
            raise KeyError(f"No article with id {article_id!r}")
        return snapshot.articles[snapshot.article_index[article_id]]

    def article_ids(self, limit: int) -> list[str]:
        return [a.id for a in self.indexer.current()[0].articles[:limit]]

    def passage_counts(self) -> dict[str, int]:
        snapshot = self.indexer.current()[0]
        return {a.id: int(n) for a, n in zip(snapshot.articles, snapshot.article_passage_counts())}

    def counts(self) -> dict[str, int]:
        snapshot = self.indexer.current()[0]
        return {"articles": len(snapshot.articles), "passages": snapshot.passage_count,
                "sentences": snapshot.sentence_count, "dimension": snapshot.dimension}

    def sentence_spans(self, article_id: str) -> list[tuple[int, int]]:
        snapshot = self.indexer.current()[0]
        row = snapshot.article_index[article_id]
        first, last = snapshot.article_sentence_range(row)
        return [(int(a), int(b)) for a, b in snapshot.sentence_spans(first, last)]
