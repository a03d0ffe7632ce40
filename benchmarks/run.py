"""Benchmarks of qa: indexing throughput, query latency at 1k–1M passages, the approximate index,
memory and load time, cold start, and embedding backends — each against a plain
sentence-transformers baseline measured in the same run on the same data.

    python benchmarks/run.py [--quick] [--out benchmarks/results/latest.json]

Prints markdown tables and writes JSON. Every figure is a median over repeated runs (latency: the
p50 / p95 of each round over the questions, then the median over rounds). `--quick` (CI) uses two
articles and the 1k and 10k sizes and takes a few minutes; the full run takes at most 30 minutes.

Data: /work/shared/data/squad2_dev_half.json (or $QA_BENCH_DATA). Beyond the real passages, indexes
of 1k–1M passages are built directly (not embedded): passage i is a copy of real passage i mod P, in
a copy of its real article (same text), with the real passage and sentence vectors plus Gaussian
noise (σ per dimension, default 0.02: cosine to the original ≈ 0.93), renormalised; copy 0 is the
real data itself. BM25 is built over the same (real) passage texts with qa's own analyser.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

DATA = Path(os.environ.get("QA_BENCH_DATA", ROOT.parent / "shared" / "data" / "squad2_dev_half.json"))
if not DATA.is_file():
    DATA = Path("/work/shared/data/squad2_dev_half.json")
QUICK_ARTICLES = ("1973_oil_crisis", "Amazon_rainforest")
SIGMA = 0.02


# ------------------------------------------------------------------------------------------ helpers
def ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def rss_bytes(kind: str = "VmRSS") -> int:
    """Resident memory: VmRSS (all), RssAnon (the process's own) or RssFile (pages of mapped files,
    here the memory-mapped index: clean, shared with the page cache, reclaimable under pressure)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(f"{kind}:"):
                return int(line.split()[1]) * 1024
    return 0


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            if math.isnan(value):
                return "—"
            return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ data
def squad(quick: bool):
    from qa.evaluation import load_squad

    records, questions = load_squad(DATA)
    if quick:
        records = [r for r in records if r["title"] in QUICK_ARTICLES]
        questions = [q for q in questions if q.title in QUICK_ARTICLES]
    return records, questions


def write_corpus(folder: Path, records: list[dict], tile: int = 1) -> None:
    """The SQuAD articles as a JSON Lines feed; copy c > 0 of an article gets its own id and title."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "articles.jsonl", "w", encoding="utf-8") as handle:
        for copy in range(tile):
            for record in records:
                if copy:
                    record = {**record, "id": f"{record['id']}~{copy}", "title": f"{record['title']} ({copy + 1})"}
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def question_sample(questions, count: int):
    from qa.evaluation import pick

    return pick(questions, count)


# ------------------------------------------------------------------------------------------ indexing
def bench_indexing(embedder, plain, records, tile: int, repeats: int) -> dict[str, Any]:
    """QA.from_folder on a fresh folder vs SentenceTransformer.encode of the same passage texts."""
    from qa import QA
    from qa.settings import Settings

    runs, baseline_runs = [], []
    snapshot_info: dict[str, Any] = {}
    for repeat in range(repeats):
        with tempfile.TemporaryDirectory(prefix="qa-bench-index-") as work:
            corpus = Path(work) / "corpus"
            write_corpus(corpus, records, tile)
            embedder.clear_query_cache()
            gc.collect()
            started = time.perf_counter()
            qa = QA.from_folder(corpus, index_dir=Path(work) / "index", settings=Settings(), embedder=embedder)
            total = time.perf_counter() - started
            status = qa.status()
            snapshot, _ = qa.current()
            texts = [
                qa.indexer.vector_text(snapshot.articles[int(a)], snapshot.articles[int(a)].text[int(s) : int(e)])
                for a, s, e in np.asarray(snapshot.passage_spans())
            ]
            # The indexer's own stage timings (IndexReport.stages): nothing is patched.
            measured = qa.last_report.stages
            model = measured.get("model: encode (passages, sentences, probe)", 0.0)
            stages = {k: round(v, 3) for k, v in sorted(measured.items(), key=lambda kv: -kv[1])}
            stages["other (not timed)"] = round(total - sum(measured.values()), 3)
            runs.append({"total_s": total, "model_s": model, "rest_s": total - model, "stages_s": stages})
            snapshot_info = {"articles": status["articles"], "passages": status["passages"], "sentences": status["sentences"]}
            del qa, snapshot
            # Baseline: plain sentence-transformers, the same passage texts, the same batch size.
            gc.collect()
            started = time.perf_counter()
            plain.encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True, convert_to_numpy=True)
            baseline_runs.append(time.perf_counter() - started)
        log(f"indexing run {repeat + 1}/{repeats}: qa {runs[-1]['total_s']:.1f} s (model {runs[-1]['model_s']:.1f} s), plain encode {baseline_runs[-1]:.1f} s")
    passages = snapshot_info["passages"]
    total = median([r["total_s"] for r in runs])
    model = median([r["model_s"] for r in runs])
    rest = median([r["rest_s"] for r in runs])
    baseline = median(baseline_runs)
    stage_names = runs[0]["stages_s"].keys()
    return {
        "corpus": {**snapshot_info, "tile": tile, "repeats": repeats},
        "qa_passages_per_s": passages / total,
        "qa_total_s": total,
        "qa_model_s": model,
        "qa_rest_s": rest,
        "rest_share": rest / total,
        "plain_encode_passages_per_s": passages / baseline,
        "plain_encode_s": baseline,
        "stages_s": {name: median([r["stages_s"].get(name, 0.0) for r in runs]) for name in stage_names},
        "runs": runs,
        "plain_encode_runs_s": baseline_runs,
    }


# ------------------------------------------------------------------------------------------ synthetic snapshots
def tokens_of(texts: list[str]):
    from qa.lexical import analyse_many

    return [t if t else ["\u2205"] for t in analyse_many(texts)]


def lexical_for(base_tokens: list[list[str]], origin: np.ndarray):
    """BM25 over passages whose texts are base texts[origin] — what LexicalIndex.build(texts) makes,
    without tokenising the same texts a thousand times."""
    import bm25s
    from bm25s.tokenization import Tokenized

    from qa.lexical import LexicalIndex

    vocab: dict[str, int] = {}
    base_ids = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in base_tokens]
    model = bm25s.BM25(k1=0.9, b=0.75)
    model.index(Tokenized(ids=[base_ids[o] for o in origin], vocab=vocab), show_progress=False)
    return LexicalIndex(model, len(origin))


def synthetic_snapshot(base, base_tokens, n: int, sigma: float = SIGMA, seed: int = 0):
    """n passages: copy c of real passage p is passage c·P + p, in copy c of its article (same text),
    with the real vectors plus N(0, σ²) per dimension, renormalised (copy 0: the real vectors)."""
    from qa.settings import Settings
    from qa.store import SENTENCE_VECTOR_TYPES, Snapshot

    rng = np.random.default_rng(seed)
    P, S, A = base.passage_count, int(base.sentences.shape[0]), len(base.articles)
    copies = math.ceil(n / P)
    base_passages = np.asarray(base.passages, dtype=np.int64)
    base_sentences = np.asarray(base.sentences, dtype=np.int64)
    last_passages = n - (copies - 1) * P
    last_sentences = int(base_passages[last_passages - 1, 4])
    n_sentences = (copies - 1) * S + last_sentences
    passages = np.empty((n, 5), dtype=np.int64)
    sentences = np.empty((n_sentences, 3), dtype=np.int64)
    dim = base.dimension
    passage_vectors = np.empty((n, dim), dtype=np.float32)
    sentence_vectors = np.empty((n_sentences, dim), dtype=SENTENCE_VECTOR_TYPES[Settings().sentence_vectors])  # as qa stores them
    articles = []
    for c in range(copies):
        np_, ns = (P, S) if c < copies - 1 else (last_passages, last_sentences)
        p0, s0 = c * P, c * S
        rows = base_passages[:np_].copy()
        rows[:, 0] += c * A
        rows[:, 3:5] += s0
        passages[p0 : p0 + np_] = rows
        s_rows = base_sentences[:ns].copy()
        s_rows[:, 0] += c * A
        sentences[s0 : s0 + ns] = s_rows
        for source, target, count, start in (
            (base.passage_vectors, passage_vectors, np_, p0),
            (base.sentence_vectors, sentence_vectors, ns, s0),
        ):
            block = np.asarray(source[:count], dtype=np.float32)
            if c:
                block = block + rng.standard_normal(block.shape, dtype=np.float32) * np.float32(sigma)
                block /= np.linalg.norm(block, axis=1, keepdims=True)
            target[start : start + count] = block
        articles.extend(
            a if c == 0 else replace(a, id=f"{a.id}~{c}", path=f"{a.path}~{c}", source=f"{a.source}~{c}") for a in base.articles
        )
    origin = np.arange(n) % P
    return Snapshot(
        articles=tuple(articles),
        hashes=tuple(base.hashes) * copies,
        passages=passages,
        sentences=sentences,
        passage_vectors=passage_vectors,
        sentence_vectors=sentence_vectors,
        lexical=lexical_for(base_tokens, origin),
        model=base.model,
        dimension=dim,
        passage_settings=base.passage_settings,
        probe=base.probe,
        excluded=frozenset(),
    )


# ------------------------------------------------------------------------------------------ latency
def qa_over(snapshot, embedder, work: Path, ann_above: int | None):
    from qa import QA
    from qa.settings import Settings

    settings = Settings(corpus=work / "corpus", index_dir=work / "index", ann_above=ann_above)
    qa = QA(settings, embedder)
    qa.indexer.install(snapshot)
    return qa


def time_queries(qa, embedder, plain, questions, question_vectors, corpus_tensor, rounds: int) -> dict[str, Any]:
    """p50/p95 per round of: embedding the question alone, ask(), search(), qa's dense search alone and
    sentence-transformers' semantic_search alone; then the median over rounds. semantic_search is given
    dot_score, which equals its default cos_sim on these normalised vectors and skips re-normalising the
    whole corpus on every call (with cos_sim it takes about 1.2 s per question at a million passages).
    `plain` is sentence-transformers on torch: embedding the question with it is the denominator the
    peers' ratios were measured against; `embed` is qa's own embedder (ONNX Runtime by default)."""
    import torch
    from sentence_transformers import util

    _, retriever = qa.current()
    names = ("embed", "st_embed", "ask", "search", "dense_search", "semantic_search")
    per_round: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    clear = embedder.clear_query_cache
    for _ in range(rounds):
        times: dict[str, list[float]] = {n: [] for n in names}
        for question, vector in zip(questions, question_vectors):
            text = question.text
            clear()
            t = time.perf_counter()
            embedder.encode([text])
            times["embed"].append(time.perf_counter() - t)
            t = time.perf_counter()
            plain.encode([text], normalize_embeddings=True, convert_to_numpy=True)
            times["st_embed"].append(time.perf_counter() - t)
            clear()
            t = time.perf_counter()
            qa.ask(text)
            times["ask"].append(time.perf_counter() - t)
            clear()
            t = time.perf_counter()
            qa.search(text, k=5)
            times["search"].append(time.perf_counter() - t)
            t = time.perf_counter()
            retriever.dense.search(vector, 10)
            times["dense_search"].append(time.perf_counter() - t)
            query = torch.from_numpy(vector[None, :])
            t = time.perf_counter()
            util.semantic_search(query, corpus_tensor, top_k=10, score_function=util.dot_score)
            times["semantic_search"].append(time.perf_counter() - t)
        times["embed_semantic_search"] = [a + b for a, b in zip(times["st_embed"], times["semantic_search"])]
        for n in times:
            per_round.setdefault(n, []).append((percentile(times[n], 50), percentile(times[n], 95)))
    out = {}
    for n in per_round:
        out[f"{n}_p50_ms"] = ms(median([p50 for p50, _ in per_round[n]]))
        out[f"{n}_p95_ms"] = ms(median([p95 for _, p95 in per_round[n]]))
    out["rounds"] = rounds
    out["questions"] = len(questions)
    return out


def profile_ask(qa, embedder, questions) -> dict[str, float]:
    """Median milliseconds per ask() spent in each stage: each question goes through the stages of
    `QA.retrieve` and the answerer one by one, through their public methods, each timed (nothing is
    patched); "total ask()" is `qa.ask` itself, timed separately."""
    from qa.answering import hit_for
    from qa.facade import reranked_by_answer
    from qa.retrieval import positive_top

    snapshot, retriever = qa.current()
    k = max(qa.settings.answer_passages, qa.settings.related)
    per_question: dict[str, list[float]] = {}

    def stage(label: str, run):
        t = time.perf_counter()
        value = run()
        per_question.setdefault(label, []).append(time.perf_counter() - t)
        return value

    for question in questions:
        text = question.text
        embedder.clear_query_cache()
        vector = stage("embed question", lambda: embedder.encode_query(text))
        dense_ids, _ = stage(f"dense search ({retriever.dense.kind})", lambda: retriever.dense.search(vector, retriever.candidates))
        lexical = stage("BM25 scores (all passages)", lambda: snapshot.lexical.scores(text))
        lexical_ids = stage("BM25 top 50", lambda: positive_top(lexical, retriever.candidates))
        ids = np.union1d(dense_ids, lexical_ids)
        stage("dense cosines of candidates", lambda: retriever.dense.scores_for(vector, ids))
        stage("best-sentence cosines", lambda: retriever.best_sentence_scores(ids, vector))
        ranked = stage("fusion (all three signals again)", lambda: retriever.fuse(ids, vector, lexical, k))
        answer = stage(
            f"answer ({qa.answerer.name}): sentences, reader, confidence, citations",
            lambda: qa.answerer.answer(snapshot, text, vector, ranked),
        )
        stage("hits (re-ranked by the answer)", lambda: reranked_by_answer([hit_for(snapshot, r) for r in ranked], answer))
        embedder.clear_query_cache()
        t = time.perf_counter()
        qa.ask(text)
        per_question.setdefault("total ask()", []).append(time.perf_counter() - t)
    return {label: ms(median(values)) for label, values in per_question.items()}


def ann_quality(index_exact, ann, question_vectors, repeats: int = 3) -> dict[str, Any]:
    exact = [index_exact.search(v, 10)[0] for v in question_vectors]
    found = [ann.search(v, 10)[0] for v in question_vectors]
    recall = float(np.mean([len(set(a.tolist()) & set(b.tolist())) / 10 for a, b in zip(exact, found)]))
    return {"recall_at_10": recall, "ann_search_p50_ms": search_p50_ms(ann, question_vectors, repeats)}


def search_p50_ms(index, question_vectors, repeats: int = 3) -> float:
    """Median over `repeats` rounds of the p50 time of a top-10 search, in ms."""
    p50s = []
    for _ in range(repeats):
        times = []
        for v in question_vectors:
            t = time.perf_counter()
            index.search(v, 10)
            times.append(time.perf_counter() - t)
        p50s.append(percentile(times, 50))
    return ms(median(p50s))


# ------------------------------------------------------------------------------------------ load and memory (subprocess)
def probe_load(index_dir: str, vectors_file: str, texts_file: str, ann_above: str) -> None:
    """Run in a fresh process: time IndexStore.load, and resident memory after loading and after queries."""
    import qa.store  # noqa: F401 - imported before the baseline reading
    from qa.retrieval import Retriever
    from qa.store import IndexStore

    vectors = np.load(vectors_file)
    texts = json.loads(Path(texts_file).read_text())
    gc.collect()
    before = rss_bytes()
    anon_before, file_before = rss_bytes("RssAnon"), rss_bytes("RssFile")
    t = time.perf_counter()
    snapshot = IndexStore(Path(index_dir), ann_above=None if ann_above == "none" else int(ann_above)).load()
    retriever = Retriever(snapshot, ann_above=None if ann_above == "none" else int(ann_above))
    load_s = time.perf_counter() - t
    after_load = rss_bytes()
    for vector, text in zip(vectors, texts):
        retriever.retrieve(vector, text, 10)
    after_queries = rss_bytes()
    anon, file = rss_bytes("RssAnon") - anon_before, rss_bytes("RssFile") - file_before
    print(json.dumps({"load_s": load_s, "rss_before": before, "rss_after_load": after_load, "rss_after_queries": after_queries, "anon_after_queries": anon, "file_after_queries": file,
                      "dense": retriever.dense.kind}))


def bench_load(index_dir: Path, question_vectors: np.ndarray, texts: list[str], ann_above: int | None, repeats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="qa-bench-probe-") as work:
        vectors_file, texts_file = Path(work) / "q.npy", Path(work) / "q.json"
        np.save(vectors_file, question_vectors)
        texts_file.write_text(json.dumps(texts))
        results = []
        for _ in range(repeats):
            out = subprocess.run(
                [sys.executable, __file__, "--probe-load", str(index_dir), str(vectors_file), str(texts_file), str(ann_above or "none")],
                capture_output=True, text=True, timeout=600,
            )
            if out.returncode != 0:
                return {"error": out.stderr[-2000:]}
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "load_s": median([r["load_s"] for r in results]),
        "rss_after_load_bytes": median([r["rss_after_load"] - r["rss_before"] for r in results]),
        "rss_after_queries_bytes": median([r["rss_after_queries"] - r["rss_before"] for r in results]),
        "anon_after_queries_bytes": median([r["anon_after_queries"] for r in results]),
        "file_after_queries_bytes": median([r["file_after_queries"] for r in results]),
        "dense": results[0]["dense"],
        "repeats": repeats,
    }


def dir_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------------ sizes
def bench_sizes(embedder, plain, base_qa, questions, sizes: list[int], rounds: int, load_repeats: int, profile_count: int, include_real: bool = True) -> dict[str, Any]:
    import torch

    from qa.ann import AnnIndex
    from qa.index import VectorIndex
    from qa.settings import Settings
    from qa.store import IndexStore

    base, _ = base_qa.current()
    base_texts = [
        base_qa.indexer.vector_text(base.articles[int(a)], base.articles[int(a)].text[int(s) : int(e)])
        for a, s, e in np.asarray(base.passage_spans())
    ]
    base_tokens = tokens_of(base_texts)
    question_vectors = embedder.encode([q.text for q in questions])
    texts = [q.text for q in questions]
    ann_above = Settings().ann_above
    latency_rows, ann_rows, memory_rows, profiles = [], [], [], {}

    if include_real:  # the real index as built by QA (no synthetic rows)
        log(f"latency on the real index ({base.passage_count} passages)")
        corpus_tensor = torch.from_numpy(np.array(base.passage_vectors))
        row = time_queries(base_qa, embedder, plain, questions, question_vectors, corpus_tensor, rounds)
        latency_rows.append({"passages": base.passage_count, "data": "real", "dense": "exact", **row})
        profiles[f"{base.passage_count} (real)"] = profile_ask(base_qa, embedder, questions[:profile_count])

    for n in sizes:
        with tempfile.TemporaryDirectory(prefix=f"qa-bench-{n}-") as work:
            work = Path(work)
            log(f"{n:,} passages: building the synthetic snapshot")
            t = time.perf_counter()
            snapshot = synthetic_snapshot(base, base_tokens, n)
            build_s = time.perf_counter() - t
            uses_ann = ann_above is not None and n >= ann_above
            ann_build_s = None
            if uses_ann or n >= 10_000:
                t = time.perf_counter()
                ann = AnnIndex.build(snapshot.passage_vectors)
                ann_build_s = time.perf_counter() - t
                log(f"{n:,} passages: IVF built in {ann_build_s:.1f} s")
                if uses_ann:
                    snapshot = replace(snapshot, ann=ann)
            else:
                ann = None
            store = IndexStore(work / "index", ann_above=ann_above)
            t = time.perf_counter()
            store.save(snapshot)
            save_s = time.perf_counter() - t
            raw_vector_bytes = int((snapshot.passage_vectors.shape[0] + snapshot.sentence_vectors.shape[0]) * snapshot.dimension * 4)
            passage_vector_bytes = int(snapshot.passage_vectors.nbytes)
            n_sentences = int(snapshot.sentences.shape[0])
            del snapshot
            gc.collect()
            loaded = store.load()
            qa = qa_over(loaded, embedder, work, ann_above)
            log(f"{n:,} passages: timing {len(questions)} questions × {rounds} rounds (dense: {qa.current()[1].dense.kind})")
            corpus_tensor = torch.from_numpy(np.array(loaded.passage_vectors))
            row = time_queries(qa, embedder, plain, questions, question_vectors, corpus_tensor, rounds)
            del corpus_tensor
            latency_rows.append({"passages": n, "data": "real + derived", "dense": qa.current()[1].dense.kind, **row})
            profiles[f"{n:,}"] = profile_ask(qa, embedder, questions[:profile_count])
            if ann is not None:
                exact = VectorIndex(loaded.passage_vectors)
                ann_loaded = loaded.ann if loaded.ann is not None else AnnIndex(loaded.passage_vectors, ann.index)
                quality = ann_quality(exact, ann_loaded, question_vectors)
                ann_rows.append(
                    {
                        "passages": n,
                        "nlist": int(ann.index.nlist),
                        "nprobe": ann.nprobe,
                        "build_s": ann_build_s,
                        **quality,
                        "exact_search_p50_ms": search_p50_ms(exact, question_vectors),
                        "semantic_search_p50_ms": row["semantic_search_p50_ms"],
                        "speedup_vs_semantic_search": row["semantic_search_p50_ms"] / max(quality["ann_search_p50_ms"], 1e-9),
                    }
                )
            del qa, loaded, ann
            gc.collect()
            log(f"{n:,} passages: load time and memory in a fresh process")
            memory = bench_load(work / "index", question_vectors, texts, ann_above, load_repeats)
            index_bytes = dir_bytes(work / "index")
            memory_rows.append(
                {
                    "passages": n,
                    "sentences": n_sentences,
                    "synthetic_build_s": build_s,
                    "save_s": save_s,
                    "index_bytes_on_disk": index_bytes,
                    "raw_float32_vector_bytes": raw_vector_bytes,
                    "passage_vector_bytes": passage_vector_bytes,
                    **memory,
                    "rss_per_passage_after_queries": memory.get("rss_after_queries_bytes", float("nan")) / n,
                    "rss_vs_raw_vectors": memory.get("rss_after_queries_bytes", float("nan")) / raw_vector_bytes,
                }
            )
    return {"latency": latency_rows, "ann": ann_rows, "memory": memory_rows, "ask_profile_ms": profiles}


# ------------------------------------------------------------------------------------------ cold start
@contextmanager
def started(command: list[str], **kwargs):
    """A process whose output goes to a file (a pipe nobody reads would block it); `.log()` reads it."""
    output = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, text=True, **kwargs)
    process.log = lambda: (output.seek(0), output.read())[1]
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        output.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def import_profile(module: str, top: int = 12) -> list[dict[str, Any]]:
    """`python -X importtime -c "import module"`: the slowest imports by cumulative time."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], capture_output=True, text=True, timeout=300)
    rows = []
    for line in out.stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or "self [us]" in line:
            continue
        name = parts[2].rstrip()
        rows.append({"module": name.strip(), "self_ms": int(parts[0].split(":")[1]) / 1000, "cumulative_ms": int(parts[1]) / 1000})
    rows.sort(key=lambda r: -r["cumulative_ms"])
    return rows[:top]


def bench_cold_start(repeats: int, with_app: bool, import_profile_too: bool = True) -> dict[str, Any]:

    question = "Who is the prime minister of Georgia?"
    out: dict[str, Any] = {"question": question}
    with tempfile.TemporaryDirectory(prefix="qa-bench-cold-") as work:
        corpus, index = Path(work) / "corpus", Path(work) / "index"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
               "QA_CACHE": str(Path(work) / "cache")}
        env.pop("QA_BACKEND", None)  # the default backend (ONNX), exported into the empty cache below
        shutil.copytree(ROOT / "corpus", corpus)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "qa", "index", "--corpus", str(corpus), "--index-dir", str(index)],
                       cwd=ROOT, env=env, capture_output=True, timeout=600, check=True)
        out["first_index_with_onnx_export_s"] = time.perf_counter() - t
        ask = [sys.executable, "-m", "qa", "ask", question, "--corpus", str(corpus), "--index-dir", str(index)]
        torch_env = {**env, "QA_BACKEND": "torch"}
        commands: dict[str, tuple[list[str], dict]] = {
            "python -c 'import numpy'": ([sys.executable, "-c", "import numpy"], env),
            "python -c 'import torch'": ([sys.executable, "-c", "import torch"], env),
            "python -c 'import sentence_transformers'": ([sys.executable, "-c", "import sentence_transformers"], env),
            "python -c 'import qa'": ([sys.executable, "-c", "import qa"], env),
            "python -m qa ask (index saved; ONNX backend, the default, model exported before)": (ask, env),
            "QA_BACKEND=torch python -m qa ask (index saved)": (ask, torch_env),
        }
        rows = []
        for label, (command, command_env) in commands.items():
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                done = subprocess.run(command, cwd=ROOT, env=command_env, capture_output=True, text=True, timeout=300)
                times.append(time.perf_counter() - t)
                if done.returncode != 0:
                    rows.append({"what": label, "error": done.stderr[-500:]})
                    break
            else:
                rows.append({"what": label, "seconds": median(times), "runs": times})
        if with_app:
            rows.append(app_first_answer(corpus, index, question, env, repeats, "ONNX backend, the default"))
            rows.append(app_first_answer(corpus, index, question, torch_env, repeats, "QA_BACKEND=torch"))
        out["rows"] = rows
    if import_profile_too:
        out["import_profile_sentence_transformers"] = import_profile("sentence_transformers")
    return out


def app_first_answer(corpus: Path, index: Path, question: str, env: dict, repeats: int, label: str) -> dict[str, Any]:
    """`python app.py` started → /api/health (or the page) answers → gradio_client /ask answered."""
    import urllib.request

    from gradio_client import Client

    times, ready_times = [], []
    for _ in range(repeats):
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        t = time.perf_counter()
        with started([sys.executable, "app.py", "--corpus", str(corpus), "--index-dir", str(index), "--port", str(port)], cwd=ROOT, env=env) as process:
            ready = None
            while time.perf_counter() - t < 180 and process.poll() is None:
                for path in ("api/health", ""):
                    try:
                        with urllib.request.urlopen(url + path, timeout=2) as response:
                            if response.status == 200:
                                ready = time.perf_counter() - t
                    except Exception:  # noqa: BLE001 - not up yet
                        continue
                    break
                if ready is not None:
                    break
                time.sleep(0.1)
            if ready is None:
                return {"what": f"python app.py → first answer via gradio_client /ask ({label})", "error": (process.log() if process.poll() is not None else "not ready in 180 s")[-800:]}
            try:
                Client(url, verbose=False).predict(question, api_name="/ask")
            except Exception as error:  # noqa: BLE001
                return {"what": f"python app.py → first answer via gradio_client /ask ({label})", "error": repr(error)[-800:]}
            times.append(time.perf_counter() - t)
            ready_times.append(ready)
    return {"what": f"python app.py → first answer via gradio_client /ask ({label})", "seconds": median(times), "runs": times,
            "server_ready_s": median(ready_times)}


# ------------------------------------------------------------------------------------------ embedding backends
def recall_at_5(qa, records, questions) -> float:
    """Passage Recall@5 over the answerable questions, as `python -m qa eval` counts it."""
    from qa.evaluation import paragraph_spans

    by_title = {a.title: a for a in qa.articles()}
    spans = {r["title"]: paragraph_spans(by_title[r["title"]].text, r["text"].count("\n\n") + 1) for r in records}
    found = []
    for question in questions:
        if question.impossible:
            continue
        article = by_title[question.title]
        start, end = spans[question.title][question.paragraph]
        hits = qa.search(question.text, k=5)
        found.append(any(h.article.id == article.id and h.start < end and h.end > start for h in hits))
    return float(np.mean(found))


def bench_vector_types(base_qa, records, questions) -> dict[str, Any]:
    """Passage Recall@5 on the shared data with sentence vectors kept as float32 and as float16 (the
    same vectors, converted: no re-embedding), and the bytes each takes."""
    from qa.store import SENTENCE_VECTOR_TYPES

    base, _ = base_qa.current()
    rows = []
    try:
        for name, dtype in SENTENCE_VECTOR_TYPES.items():
            sentence_vectors = np.asarray(base.sentence_vectors, dtype=dtype)
            base_qa.indexer.install(replace(base, sentence_vectors=sentence_vectors))
            vector_bytes = base.passage_vectors.nbytes + sentence_vectors.nbytes
            rows.append({"sentence vectors": name, "Recall@5": recall_at_5(base_qa, records, questions),
                         "vector MB": vector_bytes / 1e6,
                         "× float32": vector_bytes / ((base.passage_count + len(sentence_vectors)) * base.dimension * 4)})
    finally:
        base_qa.indexer.install(base)
    return {"rows": rows, "passages": base.passage_count, "sentences": int(base.sentences.shape[0])}


def bench_backends(records, questions, rounds: int) -> dict[str, Any]:
    """sentence-transformers on torch vs the same model on ONNX Runtime (fp32, int8): speed on this
    CPU (interleaved rounds) and passage Recall@5 on the shared data with each."""
    import blingfire

    from qa import QA
    from qa.embedding import BACKENDS, Embedder
    from qa.settings import Settings

    notes = []
    try:
        from sentence_transformers import SentenceTransformer

        from qa.embedding import resolve_model_path

        SentenceTransformer(resolve_model_path("all-MiniLM-L6-v2"), backend="onnx", device="cpu")
        notes.append("sentence-transformers' own ONNX backend loaded.")
    except Exception as error:  # noqa: BLE001
        notes.append(f"sentence-transformers' own ONNX backend: {str(error).splitlines()[0]} — its package "
                     "(optimum-onnx 0.1.0) pins transformers<4.58, which sentence-transformers 6.2 does not accept, and "
                     "optimum-intel (OpenVINO) pulls torch 2.14.1 with CUDA libraries (several GB); so qa exports the "
                     "model itself (torch.onnx) and runs it with onnxruntime.")
    embedders, setup = {}, {}
    for backend in BACKENDS:
        t = time.perf_counter()
        try:
            embedders[backend] = Embedder(backend=backend)
        except Exception as error:  # noqa: BLE001
            notes.append(f"{backend}: {error}")
            continue
        setup[backend] = time.perf_counter() - t
    paragraphs = [p for r in records for p in r["text"].split("\n\n")]
    passages = paragraphs[:: max(1, len(paragraphs) // 128)][:128]
    sentences = [x for p in paragraphs[:80] for x in blingfire.text_to_sentences(p).split("\n")][:512]
    queries = [q.text for q in questions[:: max(1, len(questions) // 100)][:100]]
    reference = embedders["torch"].encode(passages)
    speed: dict[str, dict[str, list[float]]] = {b: {"passages": [], "sentences": [], "query": []} for b in embedders}
    for embedder in embedders.values():
        embedder.encode(passages[:8])
    for _ in range(rounds):
        for backend, embedder in embedders.items():
            t = time.perf_counter()
            embedder.encode(passages)
            speed[backend]["passages"].append(len(passages) / (time.perf_counter() - t))
            t = time.perf_counter()
            embedder.encode(sentences)
            speed[backend]["sentences"].append(len(sentences) / (time.perf_counter() - t))
            times = []
            for query in queries:
                t = time.perf_counter()
                embedder.encode([query])
                times.append(time.perf_counter() - t)
            speed[backend]["query"].append(percentile(times, 50))
    rows = []
    for backend, embedder in embedders.items():
        log(f"Recall@5 with the {backend} backend")
        with tempfile.TemporaryDirectory(prefix="qa-bench-backend-") as work:
            corpus = Path(work) / "corpus"
            write_corpus(corpus, records)
            t = time.perf_counter()
            qa = QA.from_folder(corpus, index_dir=Path(work) / "index", settings=Settings(backend=backend), embedder=embedder)
            build = time.perf_counter() - t
            recall = recall_at_5(qa, records, questions)
        cosine = float(np.mean(np.sum(embedder.encode(passages) * reference, axis=1)))
        rows.append({
            "backend": backend,
            "passages/s": median(speed[backend]["passages"]),
            "sentences/s": median(speed[backend]["sentences"]),
            "question p50 ms": ms(median(speed[backend]["query"])),
            "index build s (shared data)": build,
            "Recall@5": recall,
            "mean cosine to torch": cosine,
            "setup s (export on first use)": setup[backend],
        })
    torch_row = rows[0]
    for row in rows:
        row["passages × torch"] = row["passages/s"] / torch_row["passages/s"]
        row["question × torch"] = torch_row["question p50 ms"] / row["question p50 ms"]
        row["ΔRecall@5"] = row["Recall@5"] - torch_row["Recall@5"]
    return {"rows": rows, "notes": notes, "rounds": rounds, "texts": {"passages": len(passages), "sentences": len(sentences), "questions": len(queries)}}


# ------------------------------------------------------------------------------------------ report
def machine() -> dict[str, Any]:
    import sentence_transformers
    import torch

    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        import faiss

        faiss_version = faiss.__version__
    except ImportError:
        faiss_version = None
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "sentence_transformers": sentence_transformers.__version__,
        "faiss": faiss_version,
        "load_average_start": load_average(),
    }


def report(results: dict[str, Any]) -> str:
    m = results["meta"]
    parts = [
        f"# qa benchmarks ({'quick' if m['quick'] else 'full'})",
        "",
        f"{m['date']} · {m['cpu']} · {m['cores']} cores · {m['memory_gib']} GiB · Python {m['python']} · torch {m['torch']} "
        f"({m['torch_threads']} threads) · sentence-transformers {m['sentence_transformers']} · numpy {m['numpy']} · faiss {m['faiss']} · "
        f"load average {m['load_average_start']} → {m.get('load_average_end')}",
        "",
        f"Command: `{m['command']}` · {m['seconds']:.0f} s in all",
        "",
        f"Derived vectors: {results['meta']['derived_vectors']}",
    ]
    ix = results.get("indexing")
    if ix:
        c = ix["corpus"]
        parts += [
            "",
            f"## Indexing ({c['articles']} articles, {c['passages']} passages, {c['sentences']} sentences; median of {c['repeats']})",
            "",
            table(
                ["", "passages/s", "seconds", "model (encode) s", "everything else s", "everything else"],
                [
                    ["QA.from_folder (passages + sentence vectors, BM25, save)", ix["qa_passages_per_s"], ix["qa_total_s"], ix["qa_model_s"], ix["qa_rest_s"], f"{ix['rest_share']:.1%}"],
                    ["SentenceTransformer.encode (same passage texts, batch 64)", ix["plain_encode_passages_per_s"], ix["plain_encode_s"], ix["plain_encode_s"], 0.0, "—"],
                ],
            ),
            "",
            "Where the indexing time goes (seconds, median):",
            "",
            table(["stage", "seconds"], [[k, v] for k, v in ix["stages_s"].items()]),
        ]
    lat = results.get("latency")
    if lat:
        parts += [
            "",
            f"## Query latency (ms; p50 / p95 over {lat[0]['questions']} SQuAD questions, median of {lat[0]['rounds']} rounds; query embedding included where named)",
            "",
            table(
                ["passages", "data", "dense index", "embed question (qa, ONNX)", "embed question (sentence-transformers)", "ask()", "ask() / qa embed", "ask() / ST embed", "search()", "ST embed + semantic_search", "qa dense search", "semantic_search (dot_score)"],
                [
                    [r["passages"], r["data"], r["dense"], f"{r['embed_p50_ms']:.1f} / {r['embed_p95_ms']:.1f}",
                     f"{r['st_embed_p50_ms']:.1f} / {r['st_embed_p95_ms']:.1f}",
                     f"{r['ask_p50_ms']:.1f} / {r['ask_p95_ms']:.1f}", f"{r['ask_p50_ms'] / r['embed_p50_ms']:.2f}×",
                     f"{r['ask_p50_ms'] / r['st_embed_p50_ms']:.2f}×",
                     f"{r['search_p50_ms']:.1f} / {r['search_p95_ms']:.1f}",
                     f"{r['embed_semantic_search_p50_ms']:.1f} / {r['embed_semantic_search_p95_ms']:.1f}",
                     f"{r['dense_search_p50_ms']:.2f} / {r['dense_search_p95_ms']:.2f}",
                     f"{r['semantic_search_p50_ms']:.2f} / {r['semantic_search_p95_ms']:.2f}"]
                    for r in lat
                ],
            ),
        ]
    ann = results.get("ann")
    if ann:
        parts += [
            "",
            "## Approximate index (faiss IVF, 8-bit codes, exact re-scoring) vs exact",
            "",
            table(
                ["passages", "lists", "probes", "build s", "Recall@10 vs exact", "IVF search p50 ms", "exact numpy p50 ms", "semantic_search p50 ms", "IVF vs semantic_search"],
                [[r["passages"], r["nlist"], r["nprobe"], r["build_s"], r["recall_at_10"], r["ann_search_p50_ms"], r["exact_search_p50_ms"], r["semantic_search_p50_ms"], f"{r['speedup_vs_semantic_search']:.1f}×"] for r in ann],
            ),
        ]
    mem = results.get("memory")
    if mem:
        parts += [
            "",
            "## Memory and load time of a saved index (fresh process; resident memory after 200 queries)",
            "",
            table(
                ["passages", "sentences", "on disk MB", "raw float32 vectors MB", "load s", "RSS after load MB", "RSS after queries MB",
                 "… of it own (anon) MB", "… of it mapped index files MB", "RSS / raw vectors", "RSS per passage B", "dense"],
                [[r["passages"], r["sentences"], r["index_bytes_on_disk"] / 1e6, r["raw_float32_vector_bytes"] / 1e6, r.get("load_s", float("nan")),
                  r.get("rss_after_load_bytes", float("nan")) / 1e6, r.get("rss_after_queries_bytes", float("nan")) / 1e6,
                  r.get("anon_after_queries_bytes", float("nan")) / 1e6, r.get("file_after_queries_bytes", float("nan")) / 1e6,
                  r["rss_vs_raw_vectors"], r["rss_per_passage_after_queries"], r.get("dense", r.get("error", "?"))] for r in mem],
            ),
        ]
    types = results.get("vector_types")
    if types:
        parts += ["", f"## Vector types (shared data: {types['passages']} passages, {types['sentences']} sentences; passage vectors are float32)", ""]
        parts.append(table(list(types["rows"][0].keys()), [list(r.values()) for r in types["rows"]]))
    prof = results.get("ask_profile_ms")
    if prof:
        labels = list(dict.fromkeys(label for p in prof.values() for label in p))
        parts += [
            "",
            "## Where the time goes in ask() (median ms per question, instrumented pass)",
            "",
            table(["stage"] + list(prof.keys()), [[label] + [p.get(label, float("nan")) for p in prof.values()] for label in labels]),
        ]
    cold = results.get("cold_start")
    if cold:
        parts += ["", "## Cold start (seconds, median)", ""]
        parts.append(table(["what", "seconds"], [[r["what"], r.get("seconds", r.get("error", "?"))] for r in cold["rows"]]))
        if "first_index_with_onnx_export_s" in cold:
            parts += ["", f"First run on a machine (`python -m qa index` of the default corpus, exporting the model to ONNX once): {cold['first_index_with_onnx_export_s']:.1f} s"]
        if cold.get("import_profile_sentence_transformers"):
            parts += ["", "Slowest imports under `import sentence_transformers` (python -X importtime, cumulative ms):", ""]
            parts.append(table(["module", "cumulative ms", "self ms"], [[r["module"], r["cumulative_ms"], r["self_ms"]] for r in cold["import_profile_sentence_transformers"]]))
    back = results.get("embedding_backends")
    if back:
        parts += ["", "## Embedding backends", ""]
        if "skipped" in back:
            parts.append(f"Skipped: {back['skipped']}")
        else:
            parts.append(table(list(back["rows"][0].keys()), [list(r.values()) for r in back["rows"]]))
            for note in back.get("notes", []):
                parts += ["", note]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="two articles, 1k and 10k passages (CI)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "latest.json")
    parser.add_argument("--sizes", type=str, default=None, help="comma-separated passage counts")
    parser.add_argument("--only", type=str, default=None, help="comma-separated sections: indexing,sizes,cold,backends")
    parser.add_argument("--probe-load", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe_load:
        probe_load(*args.probe_load)
        return 0

    quick = args.quick
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([1000, 10_000] if quick else [1000, 10_000, 100_000, 1_000_000])
    only = set(args.only.split(",")) if args.only else {"indexing", "sizes", "cold", "backends"}
    begun = time.perf_counter()
    results: dict[str, Any] = {"meta": {**machine(), "quick": quick, "sizes": sizes, "data": str(DATA),
                                        "command": "python benchmarks/run.py" + (" --quick" if quick else ""),
                                        "derived_vectors": f"copies of the real passage and sentence vectors plus N(0, {SIGMA}²) noise per dimension, renormalised (cosine to the original ≈ 0.93); copy 0 is the real data; passages and sentences of copies point into copies of the real articles"}}
    from qa.embedding import Embedder
    from qa import QA
    from qa.settings import Settings

    from sentence_transformers import SentenceTransformer

    from qa.embedding import resolve_model_path

    embedder = Embedder()
    embedder.encode(["warm-up"] * 4)
    plain = SentenceTransformer(resolve_model_path(embedder.model_name), device="cpu")  # the baseline
    plain.encode(["warm-up"] * 4)
    records, questions = squad(quick)
    sample = question_sample(questions, 200)
    repeats = 2 if quick else 3

    def save() -> None:
        """Written after every section, so a run stopped part-way still leaves what it measured."""
        results["meta"]["load_average_end"] = load_average()
        results["meta"]["seconds"] = time.perf_counter() - begun
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, default=float) + "\n")
        args.out.with_suffix(".md").write_text(report(results))

    if "indexing" in only:
        log("indexing")
        results["indexing"] = bench_indexing(embedder, plain, records, tile=1, repeats=repeats)
        save()
    if "sizes" in only:
        with tempfile.TemporaryDirectory(prefix="qa-bench-real-") as work:
            corpus = Path(work) / "corpus"
            write_corpus(corpus, records)
            log("building the real index")
            base_qa = QA.from_folder(corpus, index_dir=Path(work) / "index", settings=Settings(), embedder=embedder)
            sized = bench_sizes(embedder, plain, base_qa, sample, sizes, rounds=1 if quick else 3, load_repeats=1 if quick else 3,
                                profile_count=50 if quick else 100, include_real=not quick)
            results.update(sized)
            log("vector types")
            results["vector_types"] = bench_vector_types(base_qa, records, questions)
        save()
    if "cold" in only:
        log("cold start")
        results["cold_start"] = bench_cold_start(repeats=1 if quick else 3, with_app=True, import_profile_too=not quick)
        save()
    if "backends" in only:
        if quick:
            results["embedding_backends"] = {"skipped": "full run only (re-embeds the shared data once per backend)"}
        else:
            log("embedding backends")
            all_records, all_questions = squad(False)
            results["embedding_backends"] = bench_backends(all_records, all_questions, rounds=3)
    save()
    print(report(results))
    log(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
