"""The index in PostgreSQL with pgvector: one database that several app servers share.

With a database store the database is the source of truth and the only place the index lives:
article texts and metadata, passages, sentences and their vectors (passages as `vector`,
sentences as `halfvec`, as the local store keeps them in float16), and BM25's statistics: an
inverted index (`qa_postings`: per term and passage, the term's count and the passage's length,
clustered in the primary key by term so a term's passages are one index range), document
frequencies (`qa_terms`), each passage's terms and counts (`qa_lexicon`: written in one row per
passage and expanded into postings by PostgreSQL; read to take an article out of both when it is
deleted), and the passage and token totals (`qa_meta`). App servers keep none of it: every question is
answered by queries (`qa/pgsearch.py`), so a server's memory does not grow with the corpus and a
change made on one server is seen by the others at their next question.

This module is the storage side: the schema, and writes. Writes take a session advisory lock
(one writer at a time, across servers); every article is written or deleted in its own
transaction together with its BM25 statistics and a bump of the generation number (which
caches key on), so a server killed mid-ingest leaves each article wholly present or wholly
absent, and the statistics always describe exactly the passages present. A change is a
`Change`: the articles to write (a snapshot holding only them, freshly embedded), ids to delete,
and the excluded (removed by a user) set; articles of other servers are never touched.

Dense search above `Settings.pg_ann_above` passages uses pgvector's index (cosine); below it,
PostgreSQL's exact scan. The index is IVFFlat (about √n lists, 20 probed) by default: on the
benchmark's near-duplicate passages it reached Recall@10 1.000 at 4 ms per query at 100k
passages (0.998 at 17 ms at 1M, 1,000 lists, on a database grown by SQL copies), where HNSW (m 16, ef_construction 64) reached 0.44 at ef_search 100 and 0.63 at 1000
(benchmarks/README.md), as faiss's HNSW did for the local store (qa/ann.py). `pg_index="hnsw"`
chooses HNSW, with `hnsw_ef_search`.

The schema carries a version (`SCHEMA_VERSION`, in `qa_meta`); a database written by another
version is refused with a message naming `python -m qa migrate`, which rebuilds the tables from
a local index (version 1 kept no BM25 statistics, so its tables cannot serve queries).
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Callable
from urllib.parse import urlsplit

import numpy as np

from .lexical import analyse_many
from .passages import PassageSettings
from .store import Snapshot
from .types import Article

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: BM25 statistics (qa_terms, qa_lexicon), article digests and counts
LOCK_KEY = 0x5141_494E_4458  # "QAINDX": the advisory lock every writer takes
TABLES = ("qa_meta", "qa_articles", "qa_passages", "qa_sentences", "qa_terms", "qa_lexicon", "qa_postings")
EMPTY_TOKEN = "\u2205"  # what bm25s indexes for a passage without any term (qa.lexical does the same)


def text_digest(text: str) -> str:
    """What duplicate texts share: SHA-1 of the stripped text (`qa.readers.drop_duplicates` compares stripped texts)."""
    return hashlib.sha1(text.strip().encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class StoredIndex:
    """What the database holds, without texts or vectors: what a change is computed against."""

    model: str
    dimension: int
    passage_settings: PassageSettings
    probe: tuple[float, ...]
    excluded: frozenset[str]
    hashes: dict[str, str]  # article id → content hash
    generation: int


@dataclass(frozen=True)
class Change:
    """One write: `snapshot` holds the articles to write (only those: nothing else of the index),
    `remove` the ids to delete; the excluded set becomes `excluded` (None: as stored) plus `exclude`
    minus `include`. `ordered` (a whole snapshot, from `migrate`): positions follow the snapshot."""

    snapshot: Snapshot
    remove: tuple[str, ...] = ()
    exclude: frozenset[str] = field(default_factory=frozenset)
    include: frozenset[str] = field(default_factory=frozenset)
    excluded: frozenset[str] | None = None
    ordered: bool = False
    replace_all: bool = False  # delete every article first (the database held vectors this index cannot use)


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


def decode_vectors(chunks: list[bytes], dimension: int, dtype: str) -> np.ndarray:
    """Vectors from pgvector's binary form (`vector_send`/`halfvec_send`: a 4-byte header, then
    big-endian floats), concatenated, as one native array."""
    width = np.dtype(dtype).itemsize
    if not chunks:
        return np.zeros((0, dimension), dtype=dtype)
    raw = np.frombuffer(b"".join(chunks), dtype=np.uint8).reshape(len(chunks), 4 + width * dimension)
    return np.ascontiguousarray(raw[:, 4:]).view(f">{np.dtype(dtype).char}").astype(dtype)


class PgStore:
    """The database: its connections, schema and writes (`apply` a `Change`; `save` a whole snapshot);
    `qa.pgsearch` reads it per question."""

    def __init__(
        self,
        url: str,
        settings: PgSettings | None = None,
        index_title: Callable[[Article], str] | None = None,
        check_schema: bool = True,
    ) -> None:
        self.url = url
        self.settings = settings or PgSettings()
        # The title as prefixed to each passage for BM25 (the indexer's rule): the lexicon's terms
        # are those of "title\npassage", as the local BM25 index's are.
        self.index_title = index_title or (lambda article: article.title)
        self._pool = None
        self._pool_lock = threading.Lock()
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

    def connection(self):
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
        with self.connection() as conn:
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
                digest text NOT NULL,
                index_title text NOT NULL,
                record jsonb NOT NULL,
                characters integer NOT NULL,
                passages integer NOT NULL,
                sentences integer NOT NULL,
                text text NOT NULL
            );
            CREATE INDEX IF NOT EXISTS qa_articles_digest ON qa_articles (digest);
            CREATE INDEX IF NOT EXISTS qa_articles_path ON qa_articles ((record->>'path'));
            CREATE INDEX IF NOT EXISTS qa_articles_position ON qa_articles (position, id);
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
            CREATE TABLE IF NOT EXISTS qa_terms (
                id serial PRIMARY KEY,
                term text NOT NULL UNIQUE,
                df integer NOT NULL
            );
            CREATE TABLE IF NOT EXISTS qa_lexicon (
                passage_id bigint PRIMARY KEY REFERENCES qa_passages(id) ON DELETE CASCADE,
                length integer NOT NULL,
                terms integer[] NOT NULL,
                tfs smallint[] NOT NULL
            );
            CREATE TABLE IF NOT EXISTS qa_postings (
                term_id integer NOT NULL,
                passage_id bigint NOT NULL,
                tf smallint NOT NULL,
                length integer NOT NULL,
                PRIMARY KEY (term_id, passage_id) INCLUDE (tf, length)
            );
            INSERT INTO qa_meta VALUES ('schema_version', '{SCHEMA_VERSION}'), ('generation', '0'),
                ('lexicon_passages', '0'), ('lexicon_tokens', '0')
                ON CONFLICT (key) DO NOTHING;
            """
        )

    # ------------------------------------------------------------ reading
    def generation(self) -> int:
        """The database's generation number (0 when nothing was ever written)."""
        with self.connection() as conn:
            if not conn.execute("SELECT to_regclass('qa_meta') IS NOT NULL").fetchone()[0]:
                return 0
            row = conn.execute("SELECT value FROM qa_meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def size_bytes(self) -> int:
        with self.connection() as conn:
            row = conn.execute(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "WHERE c.relname = ANY(%s) AND c.relkind = 'r'",
                (list(TABLES),),
            ).fetchone()
        return int(row[0])

    def stored(self) -> StoredIndex | None:
        """What a change starts from: the database's metadata and each article's content hash
        (no texts, no vectors), or None when it holds no index yet."""
        with self.connection() as conn:
            if not conn.execute("SELECT to_regclass('qa_meta') IS NOT NULL").fetchone()[0]:
                return None
            meta = dict(conn.execute("SELECT key, value FROM qa_meta").fetchall())
            if "model" not in meta:
                return None
            hashes = dict(conn.execute("SELECT id, hash FROM qa_articles").fetchall())
        return StoredIndex(
            model=meta["model"],
            dimension=int(meta["dimension"]),
            passage_settings=PassageSettings(**meta["passage_settings"]),
            probe=tuple(meta["probe"]),
            excluded=frozenset(meta.get("excluded", ())),
            hashes=hashes,
            generation=int(meta["generation"]),
        )

    def counts(self) -> dict[str, int]:
        """Articles, passages and sentences the database holds (sums over the article rows), and the
        vectors' dimension (0 before the first write)."""
        with self.connection() as conn:
            if not conn.execute("SELECT to_regclass('qa_articles') IS NOT NULL").fetchone()[0]:
                return {"articles": 0, "passages": 0, "sentences": 0, "dimension": 0}
            row = conn.execute("SELECT count(*), coalesce(sum(passages), 0), coalesce(sum(sentences), 0) FROM qa_articles").fetchone()
            dimension = conn.execute("SELECT value FROM qa_meta WHERE key = 'dimension'").fetchone()
        return {"articles": int(row[0]), "passages": int(row[1]), "sentences": int(row[2]), "dimension": int(dimension[0]) if dimension else 0}

    def duplicates_of(self, texts: list[str]) -> dict[str, tuple[str, str, str]]:
        """For each text already held (compared stripped, as `qa.readers.drop_duplicates` does):
        digest → (id, path, title) of the article holding it."""
        digests = [text_digest(t) for t in texts]
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT digest, id, record->>'path', record->>'title' FROM qa_articles WHERE digest = ANY(%s) ORDER BY position, id",
                (digests,),
            ).fetchall()
        found: dict[str, tuple[str, str, str]] = {}
        for digest, article_id, path, title in rows:
            found.setdefault(digest, (article_id, path, title))
        return found

    def ids_with_path(self, path: str) -> list[str]:
        """Ids of the articles read from the file `path` (relative to a corpus folder)."""
        with self.connection() as conn:
            return [r[0] for r in conn.execute("SELECT id FROM qa_articles WHERE record->>'path' = %s", (path,)).fetchall()]

    # ------------------------------------------------------------ writing
    def save(self, snapshot: Snapshot, base: Snapshot | None = None) -> str:
        """Write a whole snapshot (`python -m qa migrate`): new and changed articles are written,
        articles of `base` that `snapshot` lacks deleted (without `base`, every article the
        snapshot lacks), each article in its own transaction, then the metadata. Returns the store's name."""
        held = self.stored()
        gone = (set(held.hashes) if held is not None else set()) - {a.id for a in snapshot.articles}
        if base is not None:  # only what this change removed: others' new articles stay
            gone &= {a.id for a in base.articles}
        self.apply(Change(snapshot, remove=tuple(sorted(gone)), excluded=snapshot.excluded, ordered=True))
        return self.name

    def apply(self, change: "Change") -> None:
        """Write `change` under the writers' lock: its articles (each in its own transaction with a
        generation bump, skipped when the stored hash is the same), its removals, the excluded
        set; the vector index is built or rebuilt when the table's size calls for it."""
        with self.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
            try:
                with conn.transaction():
                    self._ensure_tables(conn, change.snapshot.dimension)
                self._apply(conn, change)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))

    def _apply(self, conn, change: "Change") -> None:
        snapshot = change.snapshot
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
            if change.replace_all or (meta.get("model") is not None and any(meta.get(k) != vectors[k] for k in ("model", "dimension", "passage_settings"))):
                self._delete_all(conn)
            self._put_meta(conn, meta, vectors)
        stored = dict(conn.execute("SELECT id, position FROM qa_articles").fetchall())
        hashes = dict(conn.execute("SELECT id, hash FROM qa_articles").fetchall())
        end = max(stored.values(), default=-1.0) + 1.0
        passage_bounds, sentence_bounds = snapshot.article_bounds()
        for i, (article, digest) in enumerate(zip(snapshot.articles, snapshot.hashes)):
            if hashes.get(article.id) == digest:
                continue
            if change.ordered:
                position = float(i)
            elif article.id in stored:
                position = stored[article.id]
            else:
                position, end = end, end + 1.0
            with conn.transaction():  # the article whole, or not at all
                self._delete(conn, article.id)
                self._insert(conn, snapshot, i, position, passage_bounds, sentence_bounds)
                self._bump(conn)
        for article_id in change.remove:
            if article_id in stored:
                with conn.transaction():
                    self._delete(conn, article_id)
                    self._bump(conn)
        with conn.transaction():
            moved = 0
            if change.ordered:
                ids = [a.id for a in snapshot.articles]
                moved = conn.execute(
                    "UPDATE qa_articles a SET position = v.position FROM unnest(%s::text[], %s::float8[]) AS v(id, position) "
                    "WHERE a.id = v.id AND a.position IS DISTINCT FROM v.position",
                    (ids, [float(i) for i in range(len(ids))]),
                ).rowcount
            excluded = frozenset(meta.get("excluded", ()))
            if change.excluded is not None:
                excluded = change.excluded
            excluded = (excluded | change.exclude) - change.include
            self._put_meta(conn, meta, {"excluded": sorted(excluded)}, bump=bool(moved))
        passages = conn.execute("SELECT (value::text)::bigint FROM qa_meta WHERE key = 'lexicon_passages'").fetchone()[0]
        self._ensure_ann(conn, int(passages))

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

    def _add_totals(self, conn, passages: int, tokens: int) -> None:
        """The lexicon's passage and token counts (BM25's N and average length) move with each article."""
        conn.execute(
            "UPDATE qa_meta SET value = to_jsonb((value::text)::bigint + (CASE key WHEN 'lexicon_passages' THEN %s ELSE %s END)) "
            "WHERE key IN ('lexicon_passages', 'lexicon_tokens')",
            (passages, tokens),
        )

    def _delete(self, conn, article_id: str) -> None:
        """Delete an article (its passages, sentences and lexicon rows go with it), taking its
        passages out of the document frequencies and the lexicon's totals first."""
        passages, tokens = conn.execute(
            "SELECT count(*), coalesce(sum(l.length), 0) FROM qa_lexicon l JOIN qa_passages p ON p.id = l.passage_id WHERE p.article_id = %s",
            (article_id,),
        ).fetchone()
        if passages:
            conn.execute(
                "DELETE FROM qa_postings o USING (SELECT l.passage_id, unnest(l.terms) AS term FROM qa_lexicon l "
                "JOIN qa_passages p ON p.id = l.passage_id WHERE p.article_id = %s) x WHERE o.term_id = x.term AND o.passage_id = x.passage_id",
                (article_id,),
            )
            conn.execute(
                "UPDATE qa_terms t SET df = t.df - c.n FROM ("
                "  SELECT term, count(*) AS n FROM qa_lexicon l JOIN qa_passages p ON p.id = l.passage_id, unnest(l.terms) AS term"
                "  WHERE p.article_id = %s GROUP BY term) c WHERE t.id = c.term",
                (article_id,),
            )
            self._add_totals(conn, -int(passages), -int(tokens))
        conn.execute("DELETE FROM qa_articles WHERE id = %s", (article_id,))

    def _delete_all(self, conn) -> None:
        conn.execute("DELETE FROM qa_articles")
        conn.execute("TRUNCATE qa_terms, qa_postings")
        conn.execute("UPDATE qa_meta SET value = '0' WHERE key IN ('lexicon_passages', 'lexicon_tokens')")

    def _insert(self, conn, snapshot: Snapshot, i: int, position: float, passage_bounds, sentence_bounds) -> None:
        from pgvector import HalfVector

        article = snapshot.articles[i]
        record = {k: v for k, v in asdict(article).items() if k not in ("id", "text")}
        record["page_starts"] = list(article.page_starts)
        pa, pb = int(passage_bounds[i]), int(passage_bounds[i + 1])
        sa, sb = int(sentence_bounds[i]), int(sentence_bounds[i + 1])
        title = self.index_title(article)
        conn.execute(
            "INSERT INTO qa_articles (id, position, hash, digest, index_title, record, characters, passages, sentences, text) "
            "VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s)",
            (article.id, position, snapshot.hashes[i], text_digest(article.text), title,
             json.dumps(record, ensure_ascii=False), len(article.text), pb - pa, sb - sa, article.text),
        )
        passages = snapshot.passage_table(pa, pb)
        sentences = snapshot.sentence_table(sa, sb)
        passage_vectors = np.asarray(snapshot.passage_vectors[pa:pb], dtype=np.float32)
        sentence_vectors = np.asarray(snapshot.sentence_vectors[sa:sb], dtype=np.float16)
        # BM25's statistics: each passage's terms as the local index analyses them (title line
        # and passage, `qa.lexical.analyse_many`), their counts, and document frequencies.
        bodies = [article.text[start:end] for start, end in passages[:, 1:3].tolist()]
        tokens = [t if t else [EMPTY_TOKEN] for t in analyse_many([f"{title}\n{b}" if title else b for b in bodies])]
        counted = [Counter(t) for t in tokens]
        df = Counter(term for c in counted for term in c)
        ids = {}
        if df:
            words = sorted(df)
            ids = dict(conn.execute(
                "INSERT INTO qa_terms (term, df) SELECT * FROM unnest(%s::text[], %s::int[]) "
                "ON CONFLICT (term) DO UPDATE SET df = qa_terms.df + excluded.df RETURNING term, id",
                (words, [df[w] for w in words]),
            ).fetchall())
        row_ids = [r[0] for r in conn.execute("SELECT nextval('qa_passages_id_seq') FROM generate_series(1, %s)", (pb - pa,)).fetchall()]
        with conn.cursor() as cursor:
            with cursor.copy(
                "COPY qa_passages (id, article_id, ordinal, start_char, end_char, first_sentence, last_sentence, embedding) "
                "FROM STDIN WITH (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["int8", "text", "int4", "int4", "int4", "int4", "int4", "vector"])
                for ordinal, (row_id, row, vector) in enumerate(zip(row_ids, passages.tolist(), passage_vectors)):
                    copy.write_row((row_id, article.id, ordinal, row[1], row[2], row[3] - sa, row[4] - sa, vector))
            with cursor.copy("COPY qa_lexicon (passage_id, length, terms, tfs) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "int4", "int4[]", "int2[]"])
                for row_id, terms_of, counts in zip(row_ids, tokens, counted):
                    copy.write_row((row_id, len(terms_of), [ids[t] for t in counts], list(counts.values())))
            with cursor.copy(
                "COPY qa_sentences (article_id, ordinal, start_char, end_char, embedding) FROM STDIN WITH (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["text", "int4", "int4", "int4", "halfvec"])
                for ordinal, (row, vector) in enumerate(zip(sentences.tolist(), sentence_vectors)):
                    copy.write_row((article.id, ordinal, row[1], row[2], HalfVector(vector)))
        # The inverted index from the lexicon rows, expanded by PostgreSQL (one row per term and passage).
        conn.execute(
            "INSERT INTO qa_postings (term_id, passage_id, tf, length) SELECT u.term, l.passage_id, u.tf, l.length "
            "FROM qa_lexicon l, unnest(l.terms, l.tfs) AS u(term, tf) WHERE l.passage_id = ANY(%s)",
            (row_ids,),
        )
        self._add_totals(conn, pb - pa, sum(len(t) for t in tokens))

    def ensure_ann_index(self, passages: int) -> None:
        """The database's vector index, from `ann_above` passages on."""
        with self.connection() as conn:
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
        with self.connection() as conn:
            conn.execute("DROP TABLE IF EXISTS " + ", ".join(reversed(TABLES)))
