"""The index in PostgreSQL with pgvector: one database that several app servers share.

With a database store the database is the source of truth: article texts and metadata, passages,
sentences and their vectors (passages as `vector`, sentences as `halfvec`, as the local store keeps
them in float16) live in tables, so app servers keep no files. Each server loads a snapshot from
the tables (the same immutable `Snapshot` the local store gives, with BM25 built from the stored
texts), and notices other servers' changes through a generation number that every write
increments: before a query it reads that number (one indexed row, at most every
`CHECK_EVERY_SECONDS`) and loads the new snapshot when it moved.

Writes take a session advisory lock (one writer at a time, across servers), and every article is
written in its own transaction together with the generation bump: a server killed mid-ingest leaves
each article wholly present or wholly absent. Dense search above `Settings.pg_ann_above` passages
uses pgvector's index in the database (cosine), its candidates re-scored exactly; below it the
exact numpy scan of the loaded vectors is faster. The index is IVFFlat (about √n lists, 20 probed)
by default: on the benchmark's near-duplicate passages it reached Recall@10 1.000 at 4 ms per query
at 100k passages, where HNSW (m 16, ef_construction 64) reached 0.44 at ef_search 100 and 0.63 at
1000 (benchmarks/README.md), as faiss's HNSW did for the local store (qa/ann.py). `pg_index="hnsw"`
chooses HNSW, with `hnsw_ef_search`.

The schema carries a version (`SCHEMA_VERSION`, in `qa_meta`); a database written by another
version is refused with a message naming `python -m qa migrate`.
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable
from urllib.parse import urlsplit

import numpy as np

from .lexical import LexicalIndex
from .passages import PassageSettings
from .store import Snapshot
from .types import Article

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
LOCK_KEY = 0x5141_494E_4458  # "QAINDX": the advisory lock every writer takes
CHECK_EVERY_SECONDS = 0.5  # how often a reader looks at the generation number (changes show within 2 s)


class StoreUnavailable(RuntimeError):
    """The database cannot be used: unreachable, refused the login, lacks pgvector, or holds
    another schema version. The message says which, and what to do; it never shows a password."""


def is_database_url(value: str | None) -> bool:
    return bool(value) and str(value).startswith(("postgresql://", "postgres://"))


def display_url(url: str) -> str:
    """The URL without its password: safe for logs and messages."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{parts.path}"


def _explain(url: str, error: Exception) -> StoreUnavailable:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    where = display_url(url)
    lowered = text.lower()
    if "password" in lowered or "authentication" in lowered:
        return StoreUnavailable(f"The database at {where} refused the login ({text}): check the user and password in the store URL.")
    if "does not exist" in lowered and "database" in lowered:
        return StoreUnavailable(f"The database named in {where} does not exist ({text}): create it, or fix the store URL.")
    return StoreUnavailable(f"Cannot reach the database at {where} ({text}); qa will retry on the next request.")


@dataclass(frozen=True)
class PgSettings:
    ann_above: int = 20_000  # passages: from here on dense search uses the database's index
    index: str = "ivfflat"  # or "hnsw"
    probes: int = 20  # IVFFlat lists scanned per query
    ef_search: int = 100  # HNSW candidates per query
    pool_size: int = 4

    @classmethod
    def from_settings(cls, settings) -> "PgSettings":
        return cls(ann_above=settings.pg_ann_above, index=settings.pg_index, probes=settings.pg_probes, ef_search=settings.hnsw_ef_search)

    @property
    def width(self) -> int:
        """How wide a query searches: IVFFlat probes, or HNSW ef_search."""
        return self.probes if self.index == "ivfflat" else self.ef_search


class PgVectorIndex:
    """Dense search with pgvector's index (IVFFlat or HNSW, cosine), re-scored exactly with the loaded vectors:
    implements `qa.index.DenseIndex`. Rows the database holds but this snapshot does not (written
    by another server since it was loaded) are skipped."""

    kind = "pgvector"

    def __init__(self, store: "PgStore", vectors: np.ndarray, row_ids: np.ndarray, width: int, rerank: int = 4) -> None:
        self.store = store
        self.vectors = vectors
        self.width = width  # IVFFlat probes or HNSW ef_search
        self.rerank = rerank  # rows fetched per result, re-scored exactly (as qa.ann.AnnIndex does)
        order = np.argsort(row_ids)
        self.sorted_rows, self.positions = row_ids[order], order

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if k <= 0 or len(self) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        fetch = max(k * self.rerank, k)
        rows = self.store.nearest_rows(np.asarray(query, dtype=np.float32), fetch, self.width)
        where = np.searchsorted(self.sorted_rows, rows)
        where = np.minimum(where, len(self.sorted_rows) - 1)
        known = self.sorted_rows[where] == rows
        ids = self.positions[where[known]].astype(np.int64)
        scores = self.scores_for(query, ids)
        order = np.argsort(-scores, kind="stable")[:k]
        return ids[order], scores[order]

    def scores_for(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size == 0:
            return np.zeros(0, dtype=np.float32)
        return np.asarray(self.vectors[ids]) @ query.astype(np.float32, copy=False)


def _decode(chunks: list[bytes], dimension: int, dtype: str) -> np.ndarray:
    """Vectors from pgvector's binary form (`vector_send`/`halfvec_send`: a 4-byte header, then
    big-endian floats), concatenated, as one native array."""
    width = np.dtype(dtype).itemsize
    if not chunks:
        return np.zeros((0, dimension), dtype=dtype)
    raw = np.frombuffer(b"".join(chunks), dtype=np.uint8).reshape(len(chunks), 4 + width * dimension)
    return np.ascontiguousarray(raw[:, 4:]).view(f">{np.dtype(dtype).char}").astype(dtype)


def _batches(conn, name: str, query: str, size: int = 20_000):
    """The rows of `query` in lists of at most `size`, from a server-side (named) binary cursor."""
    with conn.cursor(name=name, binary=True) as cursor:
        cursor.itersize = size
        cursor.execute(query)
        while rows := cursor.fetchmany(size):
            yield rows


class PgStore:
    """Reads and writes snapshots in PostgreSQL (the local store's seam: `load`, `save`, `name`)."""

    def __init__(
        self,
        url: str,
        settings: PgSettings | None = None,
        index_title: Callable[[Article], str] | None = None,
        check_schema: bool = True,
    ) -> None:
        self.url = url
        self.settings = settings or PgSettings()
        # The title as prefixed to each passage for BM25 (the indexer's rule); stored per article so a
        # server can rebuild the same BM25 index from the tables.
        self.index_title = index_title or (lambda article: article.title)
        self._pool = None
        self._pool_lock = threading.Lock()
        self._checked_at = 0.0
        self.connect(check_schema)

    # ------------------------------------------------------------ connections
    @property
    def name(self) -> str:
        return display_url(self.url)

    def connect(self, check_schema: bool = True) -> None:
        """Check the database (reachable, pgvector, schema version) and open the pool; raises
        StoreUnavailable with one clear message otherwise."""
        import psycopg

        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()
                installed = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
                if not installed:
                    if not available:
                        raise StoreUnavailable(
                            f"The database at {self.name} has no pgvector extension: install pgvector on the server "
                            "(https://github.com/pgvector/pgvector), or use a managed PostgreSQL that offers it."
                        )
                    try:
                        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                    except psycopg.Error as error:  # e.g. not a superuser: pgvector is not a trusted extension
                        reason = str(error).strip().splitlines()[0]  # PostgreSQL's HINT follows on its own line
                        raise StoreUnavailable(
                            f"The database at {self.name} could not enable pgvector ({reason}): "
                            "ask an administrator to run CREATE EXTENSION vector in that database."
                        ) from error
                if check_schema:
                    self._check_schema(conn)
        except StoreUnavailable:
            raise
        except psycopg.Error as error:
            raise _explain(self.url, error) from error
        self._open_pool()

    def _open_pool(self) -> None:
        from pgvector.psycopg import register_vector
        from psycopg_pool import ConnectionPool

        with self._pool_lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    self.url,
                    min_size=1,
                    max_size=self.settings.pool_size,
                    kwargs={"autocommit": True, "connect_timeout": 5},
                    configure=register_vector,
                    check=ConnectionPool.check_connection,  # a connection broken by an outage is replaced
                    open=True,
                    name="qa",
                )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _connection(self):
        """A pooled connection; StoreUnavailable when the database cannot be reached."""
        import psycopg
        import psycopg_pool

        pool = self._pool
        if pool is None:
            raise StoreUnavailable(f"The store {self.name} is closed")

        class _Guard:
            def __enter__(guard):
                try:
                    guard.context = pool.connection(timeout=5)
                    return guard.context.__enter__()
                except (psycopg.Error, psycopg_pool.PoolTimeout) as error:
                    raise _explain(self.url, error) from error

            def __exit__(guard, kind, value, traceback):
                try:
                    return guard.context.__exit__(kind, value, traceback)
                except psycopg.OperationalError as error:
                    raise _explain(self.url, error) from error

        return _Guard()

    def schema_version(self) -> int | None:
        """The qa schema version the database holds (None: no qa tables yet)."""
        with self._connection() as conn:
            return self._schema_version(conn)

    @staticmethod
    def _schema_version(conn) -> int | None:
        if not conn.execute("SELECT to_regclass('qa_meta') IS NOT NULL").fetchone()[0]:
            return None
        row = conn.execute("SELECT value FROM qa_meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _check_schema(self, conn) -> None:
        version = self._schema_version(conn)
        if version is not None and version != SCHEMA_VERSION:
            raise StoreUnavailable(
                f"The database at {self.name} holds qa schema version {version}; this qa needs version {SCHEMA_VERSION}. "
                f"Run: python -m qa migrate --to {self.name} (it rebuilds the tables from a local index or the corpus)."
            )

    def _ensure_tables(self, conn, dimension: int) -> None:
        conn.execute(
            f"""
            CREATE TABLE IF NOT EXISTS qa_meta (key text PRIMARY KEY, value jsonb NOT NULL);
            CREATE TABLE IF NOT EXISTS qa_articles (
                id text PRIMARY KEY,
                position double precision NOT NULL,
                hash text NOT NULL,
                index_title text NOT NULL,
                record jsonb NOT NULL,
                text text NOT NULL
            );
            CREATE TABLE IF NOT EXISTS qa_passages (
                id bigserial PRIMARY KEY,
                article_id text NOT NULL REFERENCES qa_articles(id) ON DELETE CASCADE,
                ordinal integer NOT NULL,
                start_char integer NOT NULL,
                end_char integer NOT NULL,
                first_sentence integer NOT NULL,
                last_sentence integer NOT NULL,
                embedding vector({dimension}) NOT NULL
            );
            CREATE INDEX IF NOT EXISTS qa_passages_article ON qa_passages (article_id, ordinal);
            CREATE TABLE IF NOT EXISTS qa_sentences (
                article_id text NOT NULL REFERENCES qa_articles(id) ON DELETE CASCADE,
                ordinal integer NOT NULL,
                start_char integer NOT NULL,
                end_char integer NOT NULL,
                embedding halfvec({dimension}) NOT NULL,
                PRIMARY KEY (article_id, ordinal)
            );
            INSERT INTO qa_meta VALUES ('schema_version', '{SCHEMA_VERSION}'), ('generation', '0')
                ON CONFLICT (key) DO NOTHING;
            """
        )

    # ------------------------------------------------------------ reading
    def generation(self) -> int:
        """The database's generation number (0 when nothing was ever written)."""
        with self._connection() as conn:
            if not conn.execute("SELECT to_regclass('qa_meta') IS NOT NULL").fetchone()[0]:
                return 0
            row = conn.execute("SELECT value FROM qa_meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def stale(self, snapshot: Snapshot | None, now: bool = False) -> bool:
        """Whether the database moved past `snapshot`: checked at most every CHECK_EVERY_SECONDS,
        or at once with `now` (before a write)."""
        moment = time.monotonic()
        if snapshot is not None and not now and moment - self._checked_at < CHECK_EVERY_SECONDS:
            return False
        generation = self.generation()
        self._checked_at = moment
        return snapshot is None or generation != snapshot.generation

    def size_bytes(self) -> int:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "WHERE c.relname IN ('qa_meta', 'qa_articles', 'qa_passages', 'qa_sentences') AND c.relkind = 'r'"
            ).fetchone()
        return int(row[0])

    def load(self) -> Snapshot | None:
        """The database's snapshot, or None when it holds no index yet. One REPEATABLE READ
        transaction: a snapshot never mixes two generations."""
        import psycopg

        with self._connection() as conn:
            if not conn.execute("SELECT to_regclass('qa_meta') IS NOT NULL").fetchone()[0]:
                return None
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            try:
                with conn.transaction():
                    return self._load(conn)
            finally:
                conn.isolation_level = None

    def _load(self, conn) -> Snapshot | None:
        meta = dict(conn.execute("SELECT key, value FROM qa_meta").fetchall())
        if "model" not in meta:
            return None
        dimension = int(meta["dimension"])
        rows = conn.execute("SELECT id, hash, index_title, record, text FROM qa_articles ORDER BY position, id").fetchall()
        articles, hashes, titles = [], [], []
        for article_id, digest, title, record, text in rows:
            record = dict(record)
            record["page_starts"] = tuple(record.get("page_starts") or ())
            articles.append(Article(id=article_id, text=text, **record))
            hashes.append(digest)
            titles.append(title)
        position = {a.id: i for i, a in enumerate(articles)}
        # Rows are read in batches through a server-side cursor straight into preallocated arrays:
        # the process never holds a second copy of the vectors as Python objects.
        n_sentences = conn.execute("SELECT count(*) FROM qa_sentences").fetchone()[0]
        sentences = np.empty((n_sentences, 3), dtype=np.int64)
        sentence_vectors = np.empty((n_sentences, dimension), dtype=np.float16)
        done = 0
        for rows in _batches(
            conn, "qa_load_sentences",
            "SELECT s.article_id, s.start_char, s.end_char, halfvec_send(s.embedding) FROM qa_sentences s "
            "JOIN qa_articles a ON a.id = s.article_id ORDER BY a.position, a.id, s.ordinal",
        ):
            m = len(rows)
            sentences[done : done + m] = [(position[article_id], start, end) for article_id, start, end, _ in rows]
            sentence_vectors[done : done + m] = _decode([bytes(r[3]) for r in rows], dimension, "float16")
            done += m
        first_sentence = np.searchsorted(sentences[:, 0], np.arange(len(articles) + 1))
        n_passages = conn.execute("SELECT count(*) FROM qa_passages").fetchone()[0]
        passages = np.empty((n_passages, 5), dtype=np.int64)
        passage_vectors = np.empty((n_passages, dimension), dtype=np.float32)
        row_ids = np.empty(n_passages, dtype=np.int64)
        done = 0
        for rows in _batches(
            conn, "qa_load_passages",
            "SELECT p.id, p.article_id, p.start_char, p.end_char, p.first_sentence, p.last_sentence, vector_send(p.embedding) "
            "FROM qa_passages p JOIN qa_articles a ON a.id = p.article_id ORDER BY a.position, a.id, p.ordinal",
        ):
            m = len(rows)
            table = []
            for row_id, article_id, start, end, first, last, _ in rows:
                i = position[article_id]
                offset = int(first_sentence[i])
                table.append((i, start, end, offset + first, offset + last))
            passages[done : done + m] = table
            row_ids[done : done + m] = [r[0] for r in rows]
            passage_vectors[done : done + m] = _decode([bytes(r[6]) for r in rows], dimension, "float32")
            done += m
        texts = []
        for i, start, end in passages[:, :3].tolist():
            title = titles[i]
            body = articles[i].text[start:end]
            texts.append(f"{title}\n{body}" if title else body)
        snapshot = Snapshot(
            articles=tuple(articles),
            hashes=tuple(hashes),
            passages=passages,
            sentences=sentences,
            passage_vectors=passage_vectors,
            sentence_vectors=sentence_vectors,
            lexical=LexicalIndex.build(texts),
            model=meta["model"],
            dimension=dimension,
            passage_settings=PassageSettings(**meta["passage_settings"]),
            probe=tuple(meta["probe"]),
            excluded=frozenset(meta.get("excluded", ())),
            generation=int(meta["generation"]),
        )
        if len(passages) >= max(self.settings.ann_above, 1):
            snapshot = replace(snapshot, ann=PgVectorIndex(self, passage_vectors, row_ids, self.settings.width))
        return snapshot

    def nearest_rows(self, query: np.ndarray, k: int, width: int) -> np.ndarray:
        """Row ids of the k passages nearest `query` by cosine, from the database's index (`width`:
        IVFFlat probes, or HNSW ef_search, at least k so that k rows come back)."""
        with self._connection() as conn:
            with conn.transaction():
                if self.settings.index == "hnsw":
                    conn.execute(f"SET LOCAL hnsw.ef_search = {max(int(width), k)}")
                else:
                    conn.execute(f"SET LOCAL ivfflat.probes = {int(width)}")
                rows = conn.execute("SELECT id FROM qa_passages ORDER BY embedding <=> %s LIMIT %s", (query, k)).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    # ------------------------------------------------------------ writing
    def save(self, snapshot: Snapshot, base: Snapshot | None = None) -> str:
        """Write what changed from `base` (the snapshot the change started from) to `snapshot`:
        new and changed articles are written, articles of `base` that `snapshot` lacks deleted,
        each article in its own transaction, then the metadata. Articles neither knows (written
        by another server meanwhile) stay. Without `base`, the database is made to hold exactly
        `snapshot`. Returns the store's name."""
        with self._connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
            try:
                with conn.transaction():
                    self._ensure_tables(conn, snapshot.dimension)
                self._save(conn, snapshot, base)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        return self.name

    def _save(self, conn, snapshot: Snapshot, base: Snapshot | None) -> None:
        meta = dict(conn.execute("SELECT key, value FROM qa_meta").fetchall())
        vectors = {
            "model": snapshot.model,
            "dimension": snapshot.dimension,
            "passage_settings": asdict(snapshot.passage_settings),
            "probe": list(snapshot.probe),
        }
        # What the vectors depend on is written first, so articles written before a crash are
        # found (and kept) by the next run; vectors of another model or passage settings go.
        with conn.transaction():
            if meta.get("model") is not None and any(meta.get(k) != vectors[k] for k in ("model", "dimension", "passage_settings")):
                conn.execute("DELETE FROM qa_articles")
            self._put_meta(conn, meta, vectors)
        stored = dict(conn.execute("SELECT id, hash FROM qa_articles").fetchall())
        passage_bounds, sentence_bounds = snapshot.article_bounds()
        wanted = {a.id for a in snapshot.articles}
        for i, (article, digest) in enumerate(zip(snapshot.articles, snapshot.hashes)):
            if stored.get(article.id) == digest:
                continue
            with conn.transaction():  # the article whole, or not at all
                conn.execute("DELETE FROM qa_articles WHERE id = %s", (article.id,))
                self._insert(conn, snapshot, i, float(i), passage_bounds, sentence_bounds)
                self._bump(conn)
        gone = stored.keys() - wanted
        if base is not None:  # only what this change removed: others' new articles stay
            gone &= {a.id for a in base.articles}
        for article_id in sorted(gone):
            with conn.transaction():
                conn.execute("DELETE FROM qa_articles WHERE id = %s", (article_id,))
                self._bump(conn)
        with conn.transaction():
            ids = [a.id for a in snapshot.articles]
            moved = conn.execute(
                "UPDATE qa_articles a SET position = v.position FROM unnest(%s::text[], %s::float8[]) AS v(id, position) "
                "WHERE a.id = v.id AND a.position IS DISTINCT FROM v.position",
                (ids, [float(i) for i in range(len(ids))]),
            ).rowcount
            self._put_meta(conn, meta, {"excluded": sorted(snapshot.excluded)}, bump=bool(moved))
        self._ensure_ann(conn, snapshot.passage_count)

    def _put_meta(self, conn, meta: dict, values: dict, bump: bool = False) -> None:
        """Write the `values` that differ from `meta` (and bump the generation if any did, or `bump`)."""
        changed = {k: v for k, v in values.items() if meta.get(k) != v}
        for key, value in changed.items():
            conn.execute(
                "INSERT INTO qa_meta VALUES (%s, %s::jsonb) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )
        if changed or bump:
            self._bump(conn)

    def _bump(self, conn) -> None:
        conn.execute("UPDATE qa_meta SET value = to_jsonb((value::text)::bigint + 1) WHERE key = 'generation'")

    def _insert(self, conn, snapshot: Snapshot, i: int, position: float, passage_bounds, sentence_bounds) -> None:
        from pgvector import HalfVector

        article = snapshot.articles[i]
        record = {k: v for k, v in asdict(article).items() if k not in ("id", "text")}
        record["page_starts"] = list(article.page_starts)
        conn.execute(
            "INSERT INTO qa_articles (id, position, hash, index_title, record, text) VALUES (%s, %s, %s, %s, %s::jsonb, %s)",
            (article.id, position, snapshot.hashes[i], self.index_title(article), json.dumps(record, ensure_ascii=False), article.text),
        )
        pa, pb = int(passage_bounds[i]), int(passage_bounds[i + 1])
        sa, sb = int(sentence_bounds[i]), int(sentence_bounds[i + 1])
        passages = snapshot.passage_table(pa, pb)
        sentences = snapshot.sentence_table(sa, sb)
        passage_vectors = np.asarray(snapshot.passage_vectors[pa:pb], dtype=np.float32)
        sentence_vectors = np.asarray(snapshot.sentence_vectors[sa:sb], dtype=np.float16)
        with conn.cursor() as cursor:
            with cursor.copy(
                "COPY qa_passages (article_id, ordinal, start_char, end_char, first_sentence, last_sentence, embedding) "
                "FROM STDIN WITH (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["text", "int4", "int4", "int4", "int4", "int4", "vector"])
                for ordinal, (row, vector) in enumerate(zip(passages.tolist(), passage_vectors)):
                    copy.write_row((article.id, ordinal, row[1], row[2], row[3] - sa, row[4] - sa, vector))
            with cursor.copy(
                "COPY qa_sentences (article_id, ordinal, start_char, end_char, embedding) FROM STDIN WITH (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["text", "int4", "int4", "int4", "halfvec"])
                for ordinal, (row, vector) in enumerate(zip(sentences.tolist(), sentence_vectors)):
                    copy.write_row((article.id, ordinal, row[1], row[2], HalfVector(vector)))

    def ensure_ann_index(self, passages: int) -> None:
        """The database's vector index, from `ann_above` passages on."""
        with self._connection() as conn:
            self._ensure_ann(conn, passages)

    def _ensure_ann(self, conn, passages: int) -> None:
        """Build the vector index when the table reaches `ann_above` passages, or rebuild it when
        its IVFFlat lists no longer fit (outside [0.5, 2]× of √n, as qa.ann decides for faiss)
        or another kind is asked for; pgvector keeps it up to date between builds."""
        if passages < max(self.settings.ann_above, 1):
            return
        lists = max(1, int(math.sqrt(passages)))
        row = conn.execute("SELECT value FROM qa_meta WHERE key = 'ann'").fetchone()
        exists = conn.execute("SELECT to_regclass('qa_passages_ann') IS NOT NULL").fetchone()[0]
        if exists and row is not None:
            built = row[0]
            if built.get("index") == self.settings.index and (self.settings.index == "hnsw" or 0.5 <= built.get("lists", 0) / lists <= 2):
                return
        started = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("DROP INDEX IF EXISTS qa_passages_ann")
        if self.settings.index == "hnsw":
            conn.execute("CREATE INDEX qa_passages_ann ON qa_passages USING hnsw (embedding vector_cosine_ops)")
        else:
            conn.execute(f"CREATE INDEX qa_passages_ann ON qa_passages USING ivfflat (embedding vector_cosine_ops) WITH (lists = {lists})")
        conn.execute(
            "INSERT INTO qa_meta VALUES ('ann', %s::jsonb) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (json.dumps({"index": self.settings.index, "lists": lists, "passages": passages}),),
        )
        log.info("Built the %s index over %d passages in %.1f s", self.settings.index, passages, time.perf_counter() - started)

    def clear(self) -> None:
        """Drop qa's tables (for `migrate` onto a database of another schema version, and tests)."""
        with self._connection() as conn:
            conn.execute("DROP TABLE IF EXISTS qa_sentences, qa_passages, qa_articles, qa_meta")

