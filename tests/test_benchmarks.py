"""CI smoke test of the benchmark suite: `benchmarks/run.py --quick` completes and writes its JSON.

No timing is asserted (CI machines differ); the numbers are for people, the keys for this test.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "squad2_dev_half.json"


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(not DATA.is_file() and not Path("/work/shared/data/squad2_dev_half.json").is_file(), reason="needs ../shared/data")
def test_quick_benchmark_writes_its_results(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=880,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert {"meta", "indexing", "latency", "ann", "memory", "ask_profile_ms", "cold_start", "embedding_backends", "vector_types"} <= set(results)
    assert results["meta"]["quick"] is True
    indexing = results["indexing"]
    for key in ("qa_passages_per_s", "plain_encode_passages_per_s", "qa_model_s", "qa_rest_s", "rest_share", "stages_s"):
        assert key in indexing
    assert [row["passages"] for row in results["latency"]] == [1000, 10000]
    for row in results["latency"]:
        for key in ("embed_p50_ms", "st_embed_p50_ms", "ask_p50_ms", "ask_p95_ms", "search_p50_ms", "search_p95_ms", "semantic_search_p50_ms", "dense_search_p50_ms"):
            assert row[key] > 0
        assert row["questions"] >= 200
    assert results["ann"] and 0.0 <= results["ann"][0]["recall_at_10"] <= 1.0
    assert [row["sentence vectors"] for row in results["vector_types"]["rows"]] == ["float16", "float32"]
    assert all(0.0 < row["Recall@5"] <= 1.0 for row in results["vector_types"]["rows"])
    assert [row["passages"] for row in results["memory"]] == [1000, 10000]
    assert all("load_s" in row and "rss_after_queries_bytes" in row for row in results["memory"])
    assert any("python -m qa ask" in row["what"] for row in results["cold_start"]["rows"])
    assert "| passages |" in out.with_suffix(".md").read_text()
    assert "## Query latency" in done.stdout
