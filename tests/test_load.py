"""Load: 32 clients asking over the HTTP API for a minute, while a batch of articles is uploaded
and indexed. No question may fail, and every answer comes from the old or the new index, never a
half-built one. Prints p50/p95 latency (QA_LOAD_SECONDS shortens the run)."""
from __future__ import annotations

import os
import statistics
import threading
import time

import pytest
import requests

from running_app import serve

pytestmark = pytest.mark.slow

CLIENTS = 32
SECONDS = float(os.environ.get("QA_LOAD_SECONDS", "60"))
QUESTIONS = [
    "How large was bilateral trade between Georgia and Russia in the first half of 2025?",
    "What does Georgia export to Russia?",
    "When did Georgia cut its ties with Moscow?",
    "What is the capital of France?",
    "Which company built the tidal power station at Kerrow Bay?",
]
NEW_ARTICLES = {
    f"tidal-{i}.txt": f"Tidal power report {i}\n\nThe tidal power station at Kerrow Bay unit {i} was built by Marlin Energy and produces {40 + i} megawatts.\n"
    for i in range(5)
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    yield from (served.url.rstrip("/") for served in serve(tmp_path_factory.mktemp("load")))


def test_concurrent_clients_while_indexing(server: str) -> None:
    old_ids = {a["id"] for a in requests.get(f"{server}/api/articles", timeout=10).json()}
    latencies: list[float] = []
    failures: list[str] = []
    answers: list[tuple[float, dict]] = []
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS

    def client(number: int) -> None:
        session = requests.Session()
        i = number
        while time.monotonic() < stop:
            question = QUESTIONS[i % len(QUESTIONS)]
            i += 1
            started = time.perf_counter()
            try:
                response = session.post(f"{server}/api/ask", json={"question": question}, timeout=60)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
                with lock:
                    latencies.append(elapsed)
                    answers.append((time.monotonic(), response.json()))
            except Exception as error:  # noqa: BLE001 - every failure is counted and shown
                with lock:
                    failures.append(f"{question}: {error}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(min(15.0, SECONDS / 4))
    files = [("files", (name, body.encode(), "text/plain")) for name, body in NEW_ARTICLES.items()]
    upload_started = time.monotonic()
    upload = requests.post(f"{server}/api/articles", files=files, timeout=300)
    indexed_at = time.monotonic()
    for thread in threads:
        thread.join()

    assert upload.status_code == 200, upload.text
    new_ids = {a["id"] for a in requests.get(f"{server}/api/articles", timeout=10).json()}
    assert len(new_ids - old_ids) == len(NEW_ARTICLES)
    assert failures == [], failures[:5]
    for at, answer in answers:
        cited = {c["article_id"] for c in answer["citations"]}
        assert cited <= new_ids, "an answer cited an article that is in neither index"
        for citation in answer["citations"]:
            assert citation["quote"] in citation["passage"]
    before = [a for at, a in answers if at < upload_started and a["question"].startswith("Which company")]
    assert before and all(a["abstained"] for a in before)
    after = [a for at, a in answers if at > indexed_at + 1 and a["question"].startswith("Which company")]
    assert after and all(not a["abstained"] and "Marlin Energy" in a["text"] for a in after)
    ms = sorted(1000 * t for t in latencies)
    p50, p95 = statistics.median(ms), ms[int(0.95 * (len(ms) - 1))]
    print(f"\n{len(ms)} questions from {CLIENTS} clients in {SECONDS:.0f} s, 0 errors: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
