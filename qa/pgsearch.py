"""Query-time search in PostgreSQL: what keeps app servers on a database store stateless.

Why: an app server that loaded the whole index from the tables (all texts, all passage and
sentence vectors, BM25 rebuilt from the texts) held 1.2 GB at 100k passages and reloaded all of
it, about 27 s, after every change another server made. Here a question is a handful of queries
in one REPEATABLE READ transaction (one state of the database even while another server writes),
and the process holds nothing of the index but a listing cache keyed by the generation number.
So a server's memory does not grow with the corpus, and another server's change is seen at the
next question. This is the only mode of a database store: its rankings equal the local store's
(same candidates, same fusion; `tests/test_pgstore.py`), so a second, snapshot-loading mode
would only be a second code path to keep right.

1. Dense candidates: pgvector's index (`qa_passages_ann`, IVFFlat or HNSW as `Settings` says;
   PostgreSQL's exact scan below `pg_ann_above` passages), `Settings.candidates` of them.
2. Lexical candidates: BM25 computed in PostgreSQL from the statistics the store keeps (the
   `qa_postings` inverted index of term counts and passage lengths, `qa_terms` document
   frequencies, totals in `qa_meta`), with `qa.lexical`'s analyser, k1 and b: the scores of the
   local bm25s index.
   BM25 rather than PostgreSQL's full text search because `ts_rank` has no IDF and the fusion's
   weights were fitted on BM25; kept this way, lexical quality is the local store's by
   construction. Only passages holding one of the query's rarer terms are scored: terms are
   taken rarest first while their passages add up to `LEXICAL_BUDGET`; a term too common to fit
   is added to the scores of the best 4×k passages so found. Below the budget that is every
   passage holding a query term, exactly what bm25s scores. (An inverted index table rather than
   per-passage term arrays under a GIN index: scoring 6,500 passages took 93 ms from postings,
   450 ms with `array_position` lookups, both measured on a loaded machine.)
3. Fusion: the candidates' passage and sentence vectors (only theirs) are fetched and re-scored
   with `qa.retrieval.fuse`, the local store's weights and normalisation.
4. The answer stage reads a `Snapshot`: `Found.snapshot` holds only the articles of the ranked
   passages (their texts and metadata, the ranked passages, their sentences and vectors), with
   passage ids remapped (`Found.passage_ids` gives the database's), and a `CorpusIdf` whose
   `idf()` uses the corpus-wide document frequencies of `qa_terms`, not the small snapshot's.
"""
from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .catalog import Found
from .index import top_k
from .lexical import terms
from .passages import PassageSettings
from .pgstore import PgStore, decode_vectors
from .retrieval import RankedPassage, best_per_passage, fuse, normalised
from .store import Snapshot
from .types import Article, ListedArticle

log = logging.getLogger(__name__)

K1, B = 0.9, 0.75  # qa.lexical's BM25 parameters
# Postings (the sum of the chosen terms' document frequencies) one question's BM25 may read. At
# 100k synthetic passages (every text repeated ~1,600 times: the budget's worst case), top-10
# agreement with bm25s / query p50 was 0.88 / 8 ms at 20,000, 0.96 / 17 ms at 60,000 and
# 1.00 / 19 ms (p95 61 ms) at 200,000 (README, "Scaling out").
LEXICAL_BUDGET = 60_000


@dataclass(frozen=True)
class CorpusIdf:
    """`qa.lexical.LexicalIndex.idf` over the whole database (what the answer stage weighs question
    terms by), for the terms one question asked about."""

    size: int  # passages in the database
    df: dict[str, int]  # term → passages holding it (0: none), for every term of the question

    def idf(self, query_terms: tuple[str, ...]) -> np.ndarray:
        """As `LexicalIndex.idf`; KeyError for a term that was not looked up (not of the question)."""
        if self.size == 0:
            return np.ones(len(query_terms), dtype=np.float32)
        df = np.array([self.df[t] for t in query_terms], dtype=np.float64)
        return np.log1p((self.size - df + 0.5) / (df + 0.5)).astype(np.float32)


@dataclass(frozen=True)
class _Meta:
    generation: int
    model: str
    dimension: int
    passage_settings: PassageSettings
    passages: int  # BM25's N
    tokens: int  # BM25's total length

    @property
    def average_length(self) -> float:
        return self.tokens / self.passages if self.passages else 1.0


@dataclass(frozen=True)
class _Candidates:
    """Candidate passages (ids ascending) with what fusion needs, fetched in two queries."""

    ids: np.ndarray
    rows: dict[int, tuple[str, int, int, int, int]]  # id → (article id, start, end, first, last sentence ordinal)
    vectors: np.ndarray  # float32, one per id
    sentences: dict[int, list[tuple[int, int, int, bytes]]]  # id → (ordinal, start, end, halfvec bytes) of its sentences


class PgCatalog:
    """`qa.catalog.Catalog` over a PostgreSQL store: every call is a query, nothing is loaded."""

    def __init__(self, store: PgStore, candidates: int = 50) -> None:
        self.store = store
        self.candidates = candidates
        self.index = store.settings.index
        self.width = store.settings.width  # IVFFlat probes or HNSW ef_search (benchmarks vary it)
        self._listing: tuple[int, list[Article], dict[str, int]] | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ searching
    def find(self, query_vector: np.ndarray, query_text: str, question: str, k: int, articles: list[str] | None = None) -> Found:
        import psycopg

        query = np.asarray(query_vector, dtype=np.float32)
        query_terms = list(terms(query_text))
        asked = set(terms(question))
        with self.store.connection() as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            try:
                with conn.transaction():
                    meta = self._meta(conn)
                    if meta is None or meta.passages == 0 or k <= 0:
                        return Found(_empty_snapshot(meta), [])
                    words = self._terms(conn, set(query_terms) | asked)
                    if articles:
                        ids, lexical = self._within(conn, query, query_terms, words, meta, list(articles))
                    else:
                        dense_ids = self.nearest(conn, query, self.candidates)
                        lexical_ids, lexical_scores = self._bm25(conn, query_terms, words, meta, limit=self.candidates)
                        best = float(lexical_scores.max()) if lexical_scores.size else 0.0
                        ids = np.union1d(dense_ids, lexical_ids[lexical_scores > 0])
                        lexical = normalised(_scores_of(ids, lexical_ids, lexical_scores), best)
                    found = self._candidates(conn, ids, meta.dimension)
                    lexical = _scores_of(found.ids, ids, lexical)
                    dense = found.vectors @ query
                    ranked = fuse(found.ids, dense, _best_sentences(found, query, meta.dimension), lexical, k)
                    records = self._records(conn, [found.rows[r.passage_id][0] for r in ranked])
            finally:
                conn.isolation_level = None
        df = {t: words[t][1] if t in words else 0 for t in asked}
        return _small_snapshot(meta, ranked, found, records, CorpusIdf(meta.passages, df))

    def nearest(self, conn, query: np.ndarray, k: int) -> np.ndarray:
        """Ids of the k passages nearest `query` by cosine, from the database's vector index (inside
        a transaction: the search width is set for it alone)."""
        if self.index == "hnsw":
            conn.execute(f"SET LOCAL hnsw.ef_search = {max(int(self.width), k)}")
        else:
            conn.execute(f"SET LOCAL ivfflat.probes = {int(self.width)}")
        rows = conn.execute("SELECT id FROM qa_passages ORDER BY embedding <=> %s LIMIT %s", (query, k)).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def dense_search(self, query: np.ndarray, k: int) -> np.ndarray:
        """`nearest` in a transaction of its own (for the benchmark's recall against exact search)."""
        with self.store.connection() as conn:
            with conn.transaction():
                return self.nearest(conn, np.asarray(query, dtype=np.float32), k)

    def lexical_search(self, query_text: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, BM25 scores) of the k passages best for `query_text` by BM25 alone, as retrieval
        computes them (for tests and the benchmark's comparison with bm25s)."""
        query_terms = list(terms(query_text))
        with self.store.connection() as conn:
            with conn.transaction():
                meta = self._meta(conn)
                if meta is None or meta.passages == 0:
                    return np.zeros(0, np.int64), np.zeros(0, np.float32)
                return self._bm25(conn, query_terms, self._terms(conn, set(query_terms)), meta, limit=k)

    def _within(self, conn, query, query_terms, words, meta, articles: list[str]):
        """Candidates among the passages of `articles` alone, as `Retriever` draws them: every
        passage of theirs scored, the best by each signal kept, BM25 normalised by their best.
        Returns the candidates' ids and normalised BM25 scores."""
        known = {r[0] for r in conn.execute("SELECT id FROM qa_articles WHERE id = ANY(%s)", (articles,)).fetchall()}
        unknown = [a for a in articles if a not in known]
        if unknown:
            raise KeyError(unknown[0])
        with conn.cursor(binary=True) as cursor:
            rows = cursor.execute(
                "SELECT id, vector_send(embedding) FROM qa_passages WHERE article_id = ANY(%s) ORDER BY id", (articles,)
            ).fetchall()
        pool = np.array([r[0] for r in rows], dtype=np.int64)
        if pool.size == 0:
            return pool, np.zeros(0, np.float32)
        pool_dense = decode_vectors([bytes(r[1]) for r in rows], meta.dimension, "float32") @ query
        lexical_ids, lexical_scores = self._bm25(conn, query_terms, words, meta, within=articles)
        pool_lexical = _scores_of(pool, lexical_ids, lexical_scores)
        best = float(pool_lexical.max()) if pool_lexical.size else 0.0
        lexical_top = top_k(pool_lexical, self.candidates)
        chosen = np.union1d(top_k(pool_dense, self.candidates), lexical_top[pool_lexical[lexical_top] > 0])
        return pool[chosen], normalised(pool_lexical[chosen], best)

    def _meta(self, conn) -> _Meta | None:
        if not conn.execute("SELECT to_regclass('qa_meta') IS NOT NULL").fetchone()[0]:
            return None
        meta = dict(conn.execute(
            "SELECT key, value FROM qa_meta WHERE key IN "
            "('generation', 'model', 'dimension', 'passage_settings', 'lexicon_passages', 'lexicon_tokens')"
        ).fetchall())
        if "model" not in meta:
            return None
        return _Meta(int(meta["generation"]), meta["model"], int(meta["dimension"]), PassageSettings(**meta["passage_settings"]),
                     int(meta.get("lexicon_passages", 0)), int(meta.get("lexicon_tokens", 0)))

    @staticmethod
    def _terms(conn, words: set[str]) -> dict[str, tuple[int, int]]:
        """term → (id, document frequency) of the `words` the database knows."""
        if not words:
            return {}
        rows = conn.execute("SELECT term, id, df FROM qa_terms WHERE term = ANY(%s) AND df > 0", (sorted(words),)).fetchall()
        return {term: (int(i), int(df)) for term, i, df in rows}

    def _bm25(self, conn, query_terms: list[str], words, meta: _Meta, limit: int | None = None, within: list[str] | None = None):
        """(ids, BM25 scores) of passages holding query terms, best first (at most `limit`), scored
        in PostgreSQL from `qa_postings`: all passages of the articles `within`; else the passages
        of the rarer terms (`LEXICAL_BUDGET`), the best 4×`limit` of them by those terms, then the
        common terms' share added to theirs (exact whenever every term fits the budget). A
        repeated query term counts again, as in bm25s."""
        weights: dict[int, float] = {}
        dfs: dict[int, int] = {}
        for term in query_terms:
            if term in words:
                term_id, df = words[term]
                idf = math.log(1 + (meta.passages - df + 0.5) / (df + 0.5))
                weights[term_id] = weights.get(term_id, 0.0) + idf
                dfs[term_id] = df
        if not weights:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        score = (f"sum(w.c * o.tf / (o.tf + {K1!r}::float8 * ({1 - B!r}::float8 + {B!r}::float8 * o.length / {meta.average_length!r}::float8)))")
        every = sorted(weights)
        if within is not None:
            sql = (f"SELECT o.passage_id, {score} AS score FROM qa_postings o JOIN unnest(%s::int4[], %s::float8[]) AS w(term, c) "
                   "ON o.term_id = w.term WHERE o.passage_id IN (SELECT id FROM qa_passages WHERE article_id = ANY(%s)) "
                   "GROUP BY o.passage_id ORDER BY score DESC, o.passage_id")
            params: list[Any] = [every, [weights[t] for t in every], within]
        else:
            chosen, total = [], 0
            for term_id in sorted(dfs, key=lambda t: (dfs[t], t)):
                if chosen and total + dfs[term_id] > LEXICAL_BUDGET:
                    break
                chosen.append(term_id)
                total += dfs[term_id]
            common = [t for t in every if t not in chosen]
            sql = (
                f"WITH partial AS (SELECT o.passage_id, {score} AS score FROM qa_postings o "
                "JOIN unnest(%s::int4[], %s::float8[]) AS w(term, c) ON o.term_id = w.term "
                f"GROUP BY o.passage_id ORDER BY score DESC, o.passage_id LIMIT {4 * int(limit or 50)}), "
                f"extra AS (SELECT o.passage_id, {score} AS score FROM qa_postings o "
                "JOIN unnest(%s::int4[], %s::float8[]) AS w(term, c) ON o.term_id = w.term "
                "WHERE o.passage_id IN (SELECT passage_id FROM partial) GROUP BY o.passage_id) "
                "SELECT passage_id, partial.score + coalesce(extra.score, 0) AS score FROM partial LEFT JOIN extra USING (passage_id) "
                "ORDER BY score DESC, passage_id"
            )
            params = [chosen, [weights[t] for t in chosen], common, [weights[t] for t in common]]
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = conn.execute(sql, params).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=np.float32)

    @staticmethod
    def _candidates(conn, ids: np.ndarray, dimension: int) -> _Candidates:
        id_list = [int(i) for i in ids]
        with conn.cursor(binary=True) as cursor:
            rows = cursor.execute(
                "SELECT id, article_id, start_char, end_char, first_sentence, last_sentence, vector_send(embedding) "
                "FROM qa_passages WHERE id = ANY(%s) ORDER BY id", (id_list,)
            ).fetchall()
            sentence_rows = cursor.execute(
                "SELECT p.id, s.ordinal, s.start_char, s.end_char, halfvec_send(s.embedding) FROM qa_passages p "
                "JOIN qa_sentences s ON s.article_id = p.article_id AND s.ordinal >= p.first_sentence AND s.ordinal < p.last_sentence "
                "WHERE p.id = ANY(%s) ORDER BY p.id, s.ordinal", (id_list,)
            ).fetchall()
        sentences: dict[int, list] = {}
        for passage_id, ordinal, start, end, vector in sentence_rows:
            sentences.setdefault(passage_id, []).append((ordinal, start, end, bytes(vector)))
        return _Candidates(
            ids=np.array([r[0] for r in rows], dtype=np.int64),  # a passage deleted meanwhile is not among them
            rows={r[0]: (r[1], r[2], r[3], r[4], r[5]) for r in rows},
            vectors=decode_vectors([bytes(r[6]) for r in rows], dimension, "float32"),
            sentences=sentences,
        )

    @staticmethod
    def _records(conn, article_ids: list[str]) -> dict[str, Article]:
        if not article_ids:
            return {}
        rows = conn.execute("SELECT id, record, text FROM qa_articles WHERE id = ANY(%s)", (sorted(set(article_ids)),)).fetchall()
        return {article_id: _article(article_id, record, text) for article_id, record, text in rows}

    # ------------------------------------------------------------ listings
    def version(self) -> object:
        return self.store.generation()

    def _listed(self) -> tuple[list[Article], dict[str, int]]:
        """Articles without their texts, and passage counts: cached until the generation moves
        (only when asked for: the Corpus tab, the HTTP API's listing; questions never fill it)."""
        generation = self.store.generation()
        with self._lock:
            if self._listing is not None and self._listing[0] == generation:
                return self._listing[1], self._listing[2]
        with self.store.connection() as conn:
            if not conn.execute("SELECT to_regclass('qa_articles') IS NOT NULL").fetchone()[0]:
                rows = []
            else:
                rows = conn.execute("SELECT id, record, characters, passages FROM qa_articles ORDER BY position, id").fetchall()
        articles = [_article(article_id, record, "", characters) for article_id, record, characters, _ in rows]
        counts = {r[0]: int(r[3]) for r in rows}
        with self._lock:
            self._listing = (generation, articles, counts)
        return articles, counts

    def articles(self) -> list[Article]:
        return list(self._listed()[0])

    def passage_counts(self) -> dict[str, int]:
        return dict(self._listed()[1])

    def article(self, article_id: str) -> Article:
        with self.store.connection() as conn:
            row = None
            if conn.execute("SELECT to_regclass('qa_articles') IS NOT NULL").fetchone()[0]:
                row = conn.execute("SELECT record, text FROM qa_articles WHERE id = %s", (article_id,)).fetchone()
        if row is None:
            raise KeyError(f"No article with id {article_id!r}")
        return _article(article_id, row[0], row[1])

    def article_ids(self, limit: int) -> list[str]:
        with self.store.connection() as conn:
            if not conn.execute("SELECT to_regclass('qa_articles') IS NOT NULL").fetchone()[0]:
                return []
            return [r[0] for r in conn.execute("SELECT id FROM qa_articles ORDER BY position, id LIMIT %s", (int(limit),)).fetchall()]

    def counts(self) -> dict[str, int]:
        return self.store.counts()

    def sentence_spans(self, article_id: str) -> list[tuple[int, int]]:
        with self.store.connection() as conn:
            exists = conn.execute("SELECT 1 FROM qa_articles WHERE id = %s", (article_id,)).fetchone()
            if exists is None:
                raise KeyError(f"No article with id {article_id!r}")
            rows = conn.execute("SELECT start_char, end_char FROM qa_sentences WHERE article_id = %s ORDER BY ordinal", (article_id,)).fetchall()
        return [(int(a), int(b)) for a, b in rows]


def _article(article_id: str, record: dict, text: str, characters: int | None = None) -> Article:
    record = dict(record)
    record["page_starts"] = tuple(record.get("page_starts") or ())
    if characters is None:
        return Article(id=article_id, text=text, **record)
    return ListedArticle(id=article_id, text="", characters=int(characters), **record)


def _scores_of(ids: np.ndarray, scored_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The scores of `ids` among (`scored_ids`, `scores`); 0 for ids not scored."""
    lookup = dict(zip(scored_ids.tolist(), scores.tolist()))
    return np.array([lookup.get(i, 0.0) for i in ids.tolist()], dtype=np.float32)


def _best_sentences(found: _Candidates, query: np.ndarray, dimension: int) -> np.ndarray:
    counts = np.array([len(found.sentences.get(i, ())) for i in found.ids.tolist()], dtype=np.int64)
    chunks = [s[3] for i in found.ids.tolist() for s in found.sentences.get(i, ())]
    vectors = decode_vectors(chunks, dimension, "float16").astype(np.float32)
    return best_per_passage(vectors @ query, counts)


def _empty_snapshot(meta: _Meta | None) -> Snapshot:
    dimension = meta.dimension if meta is not None else 0
    return Snapshot(
        articles=(), hashes=(), passages=np.zeros((0, 5), np.int64), sentences=np.zeros((0, 3), np.int64),
        passage_vectors=np.zeros((0, dimension), np.float32), sentence_vectors=np.zeros((0, dimension), np.float16),
        lexical=CorpusIdf(0, {}), model=meta.model if meta else "", dimension=dimension,
        passage_settings=meta.passage_settings if meta else PassageSettings(), probe=(),
        generation=meta.generation if meta else 0,
    )


def _small_snapshot(meta: _Meta, ranked: list[RankedPassage], found: _Candidates, records: dict[str, Article], idf: CorpusIdf) -> Found:
    """A `Snapshot` of the ranked passages alone (the answer stage's input): their articles, the
    passages (ids 0..n-1, in ranked order), their sentences and vectors."""
    ranked = [r for r in ranked if found.rows[r.passage_id][0] in records]  # an article deleted meanwhile: dropped
    order: dict[str, int] = {}
    for r in ranked:
        order.setdefault(found.rows[r.passage_id][0], len(order))
    # Each article's sentences that the ranked passages hold, in order (a passage's are contiguous).
    held: dict[str, dict[int, tuple[int, int, bytes]]] = {a: {} for a in order}
    for r in ranked:
        article_id = found.rows[r.passage_id][0]
        for ordinal, start, end, vector in found.sentences.get(r.passage_id, ()):
            held[article_id][ordinal] = (start, end, vector)
    sentence_rows, chunks, first_row = [], [], {}
    for article_id, index in order.items():
        first_row[article_id] = len(sentence_rows)
        for ordinal in sorted(held[article_id]):
            start, end, vector = held[article_id][ordinal]
            sentence_rows.append((index, start, end))
            chunks.append(vector)
    ordinals = {a: np.array(sorted(held[a]), dtype=np.int64) for a in order}
    passage_rows = []
    for r in ranked:
        article_id, start, end, first, last = found.rows[r.passage_id]
        base = first_row[article_id]
        a, b = np.searchsorted(ordinals[article_id], [first, last])
        passage_rows.append((order[article_id], start, end, base + int(a), base + int(b)))
    position = {int(i): n for n, i in enumerate(found.ids.tolist())}
    snapshot = Snapshot(
        articles=tuple(records[a] for a in order),
        hashes=("",) * len(order),
        passages=np.array(passage_rows, dtype=np.int64).reshape(-1, 5),
        sentences=np.array(sentence_rows, dtype=np.int64).reshape(-1, 3),
        passage_vectors=found.vectors[[position[r.passage_id] for r in ranked]].reshape(-1, meta.dimension),
        sentence_vectors=decode_vectors(chunks, meta.dimension, "float16"),
        lexical=idf,  # type: ignore[arg-type]  # the answer stage asks only idf() of it
        model=meta.model,
        dimension=meta.dimension,
        passage_settings=meta.passage_settings,
        probe=(),
        generation=meta.generation,
    )
    local = [RankedPassage(n, r.score, r.dense, r.sentence, r.lexical) for n, r in enumerate(ranked)]
    return Found(snapshot, local, tuple(r.passage_id for r in ranked))
