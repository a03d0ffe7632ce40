"""How the approximate index was chosen: HNSW (usearch, faiss) vs IVF (faiss) on derived vectors.

    pip install usearch faiss-cpu   # usearch only for this comparison
    python benchmarks/ann_choice.py [--passages 100000] [--index-dir DIR]

Embeds the shared data with qa (or reuses a saved qa index given with --index-dir), derives
`--passages` vectors from the real passage vectors exactly as benchmarks/run.py does (plus N(0, 0.02²)
per dimension, renormalised), and reports build time, per-question search time (one thread) and
Recall@10 against exact search for 200 real SQuAD questions. Not run in CI.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--index-dir", type=Path, default=None, help="a saved qa index of the shared data")
    args = parser.parse_args()
    from qa import QA
    from qa.embedding import Embedder
    from qa.settings import Settings
    from qa.store import IndexStore

    embedder = Embedder()
    records, questions = run.squad(False)
    with tempfile.TemporaryDirectory() as work:
        if args.index_dir:
            base = IndexStore(args.index_dir).load()
        else:
            run.write_corpus(Path(work) / "corpus", records)
            base = QA.from_folder(Path(work) / "corpus", index_dir=Path(work) / "index", settings=Settings(), embedder=embedder).current()[0]
        real = np.asarray(base.passage_vectors)
    n, rng = args.passages, np.random.default_rng(0)
    vectors = real[np.arange(n) % len(real)] + run.SIGMA * rng.standard_normal((n, real.shape[1]), dtype=np.float32)
    vectors[: len(real)] = real
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = embedder.encode([q.text for q in run.question_sample(questions, 200)])
    exact = [np.argsort(-(vectors @ q))[:10] for q in queries]

    def measure(label: str, build, search) -> None:
        t = time.perf_counter()
        index = build()
        built = time.perf_counter() - t
        for setting, run_search in search(index):
            times, found = [], []
            for q in queries:
                t = time.perf_counter()
                found.append(run_search(q))
                times.append(time.perf_counter() - t)
            recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, found)])
            print(f"| {label} | {setting} | {built:.1f} | {np.median(times) * 1000:.2f} | {recall:.3f} |", flush=True)

    print(f"{n:,} derived vectors, {len(queries)} questions\n")
    print("| index | search setting | build s | search p50 ms | Recall@10 |\n| --- | --- | --- | --- | --- |")
    try:
        import usearch.index as us

        for connectivity in (16, 32):
            def build(c=connectivity):
                index = us.Index(ndim=vectors.shape[1], metric="ip", dtype="f32", connectivity=c, expansion_add=128)
                index.add(np.arange(n), vectors, threads=2)
                return index

            def settings(index):
                for ef in (64, 256):
                    def go(q, ef=ef):
                        index.expansion_search = ef
                        return index.search(q, 10, threads=1).keys
                    yield f"ef={ef}", go

            measure(f"usearch HNSW M={connectivity}", build, settings)
    except ImportError:
        print("| usearch | not installed | | | |")
    import faiss

    for m in (16, 32):
        def build_hnsw(m=m):
            faiss.omp_set_num_threads(2)
            index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 128
            index.add(vectors)
            faiss.omp_set_num_threads(1)
            return index

        def hnsw_settings(index):
            for ef in (64, 256):
                def go(q, ef=ef):
                    index.hnsw.efSearch = ef
                    return index.search(q[None], 10)[1][0]
                yield f"ef={ef}", go

        measure(f"faiss HNSW M={m}", build_hnsw, hnsw_settings)
    from qa.ann import AnnIndex

    def ivf_settings(index):
        for probes in (8, 16, 32):
            def go(q, probes=probes):
                index.index.nprobe = probes
                return index.search(q, 10)[0]
            yield f"nprobe={probes}", go

    measure("faiss IVF, 8-bit, exact re-scoring (qa.ann)", lambda: AnnIndex.build(vectors), ivf_settings)


if __name__ == "__main__":
    main()
