"""A replay of the attack round of issue 12 against `python app.py` over real HTTP: no file outside
the corpus read through a Gradio event, a start after any upload, no 500 for the inputs listed,
damaged files detected while running, deletes never silently lost, history bounded, DNS
rebinding refused on every loopback name, Gradio's upload route under the API's limits."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import requests

from conftest import ROOT
from running_app import Served, serve

pytestmark = pytest.mark.slow

TRADE = "How large was bilateral trade between Georgia and Russia in the first half of 2025?"
EVIL = {"Origin": "http://evil.example"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve(tmp_path_factory.mktemp("attack"), "--max-upload-mb", "2")


def texts_of_all_articles(app: Served) -> str:
    articles = requests.get(app.api("articles"), timeout=30).json()
    return "\n".join(requests.get(app.api(f"articles/{a['id']}"), timeout=30).text for a in articles)


def upload_event(app: Served) -> tuple[int, int]:
    """(fn_index, trigger id) of the Corpus tab's upload event, from Gradio's /config."""
    config = requests.get(app.url + "config", timeout=30).json()
    for index, dependency in enumerate(config["dependencies"]):
        for target, event in dependency.get("targets", []):
            if event == "upload":
                return dependency.get("id", index), target
    raise AssertionError("no upload event in /config")


def run_event(app: Served, fn_index: int, trigger: int, data: list) -> str:
    """Join Gradio's queue with `data` and return the whole event stream as text."""
    session = uuid.uuid4().hex[:10]
    joined = requests.post(
        app.url + "gradio_api/queue/join",
        json={"data": data, "fn_index": fn_index, "trigger_id": trigger, "session_hash": session, "event_data": None},
        timeout=30,
    )
    if joined.status_code != 200:
        return f"refused {joined.status_code}: {joined.text}"
    stream = requests.get(app.url + "gradio_api/queue/data", params={"session_hash": session}, timeout=120, stream=True)
    lines = []
    for line in stream.iter_lines(decode_unicode=True):
        lines.append(line or "")
        if "process_completed" in (line or ""):
            break
    return "\n".join(lines)


# ------------------------------------------------------------------ 1. local file read through a Gradio event
def test_a_gradio_event_cannot_read_a_file_outside_the_corpus(app: Served, tmp_path: Path) -> None:
    secret = tmp_path / "private-notes.md"
    secret.write_text("# Private notes\n\nThe safe combination is 31-17-42 and nobody else knows it.\n")
    fn_index, trigger = upload_event(app)
    for path in (str(secret), str(ROOT / "README.md")):
        outcome = run_event(app, fn_index, trigger, [[{"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": Path(path).name}]])
        assert "31-17-42" not in outcome
    assert "31-17-42" not in texts_of_all_articles(app)
    assert not (app.corpus / "private-notes.md").exists() and not (app.corpus / "README.md").exists()


def test_a_file_uploaded_through_gradio_is_still_indexed(app: Served) -> None:
    """The guard lets the real flow through: Gradio's upload route, then the event with its path."""
    text = b"Lighthouse news\n\nThe Varna lighthouse keeper rings the fog bell 19 times at dusk.\n"
    stored = requests.post(app.url + "gradio_api/upload", files=[("files", ("lighthouse.txt", text))], timeout=60)
    assert stored.status_code == 200, stored.text
    fn_index, trigger = upload_event(app)
    path = stored.json()[0]
    outcome = run_event(app, fn_index, trigger, [[{"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": "lighthouse.txt"}]])
    assert "process_completed" in outcome
    assert "19 times" in texts_of_all_articles(app)


# ------------------------------------------------------------------ 2. one upload never bricks a start
def test_a_feed_with_a_lone_surrogate_never_stops_the_next_start(app: Served) -> None:
    feed = b'{"title": "Harbour news", "text": "The Halden ferry \\ud800 leaves at 7:15 every morning."}\n'
    response = requests.post(app.api("articles"), files=[("files", ("feed.jsonl", feed))], timeout=120)
    assert response.status_code == 200, response.text
    restart = app.base / "restart"  # a copy, so the running server's own index stays as it is
    shutil.copytree(app.corpus, restart / "corpus")
    shutil.copytree(app.base / "index", restart / "index", ignore=shutil.ignore_patterns(".lock"))
    started = subprocess.run(
        [sys.executable, "-m", "qa", "articles", "--corpus", str(restart / "corpus"), "--index-dir", str(restart / "index")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert started.returncode == 0, started.stderr[-2000:]
    assert "Harbour news" in started.stdout


# ------------------------------------------------------------------ 3. damaged vectors under a running server
def test_vectors_truncated_under_the_running_server_are_rebuilt(app: Served) -> None:
    index = app.base / "index"
    generation = index / (index / "CURRENT").read_text().strip()
    os.truncate(generation / "sentence_vectors.npy", 100)
    response = requests.post(app.api("ask"), json={"question": TRADE}, timeout=300)
    assert response.status_code == 200, response.text
    assert "$1.3 billion" in response.json()["text"] and response.json()["confidence"] is not None
    assert "changed on disk while in use" in app.log.read_text()
    assert requests.get(app.api("health"), timeout=30).status_code == 200


# ------------------------------------------------------------------ 4. a delete that cannot be saved
def test_a_delete_that_cannot_be_saved_says_so_and_is_not_lost(app: Served) -> None:
    article = requests.get(app.api("articles"), timeout=30).json()[0]
    index = app.base / "index"
    moved = app.base / "index-moved"
    index.rename(moved)
    index.write_text("a file where the index folder was: nothing can be saved")
    try:
        response = requests.delete(app.api(f"articles/{article['id']}"), timeout=120)
        assert response.status_code == 503, response.text
        assert "Nothing was removed" in response.json()["error"] and str(app.base) not in response.text
        assert article["id"] in {a["id"] for a in requests.get(app.api("articles"), timeout=30).json()}
    finally:
        index.unlink()
        moved.rename(index)


# ------------------------------------------------------------------ 5. history bounded like the question
def test_a_huge_earlier_question_is_400_at_once(app: Served) -> None:
    huge = "What does Georgia export to Russia? " * 25_000
    started = time.monotonic()
    response = requests.post(app.api("ask"), json={"question": "And what does it import?", "history": [[huge, "Wine."]]}, timeout=60)
    assert response.status_code == 400 and "too long" in response.json()["error"]
    assert time.monotonic() - started < 5


# ------------------------------------------------------------------ 7. Gradio's upload route under the same limits
def test_gradio_upload_refuses_other_sites_and_too_many_or_too_large_files(app: Served) -> None:
    many = [("files", (f"n{i}.txt", b"note")) for i in range(21)]
    cross = requests.post(app.url + "gradio_api/upload", files=many[:1], headers=EVIL, timeout=60)
    assert cross.status_code == 403
    assert requests.post(app.url + "gradio_api/upload", files=many, timeout=60).status_code == 400
    big = requests.post(app.url + "gradio_api/upload", files=[("files", ("big.txt", b"x" * 3_000_000))], timeout=60)
    assert big.status_code == 413
    queue = requests.post(app.url + "gradio_api/queue/join", json={"data": [], "fn_index": 0, "session_hash": "x"}, headers=EVIL, timeout=30)
    assert queue.status_code == 403


def test_a_huge_single_line_upload_is_refused_at_once(app: Served) -> None:
    started = time.monotonic()
    response = requests.post(app.api("articles"), files=[("files", ("line.txt", b"word " * 200_000))], timeout=120)
    assert response.status_code == 413 and "characters" in response.json()["error"]
    assert time.monotonic() - started < 30


# ------------------------------------------------------------------ 8. 400, not 500
def multipart(count: int, name: str = "a.txt") -> tuple[bytes, str]:
    body = b"".join(
        b'--B\r\nContent-Disposition: form-data; name="files"; filename="' + name.encode() + b'"\r\nContent-Type: text/plain\r\n\r\nhello\r\n'
        for _ in range(count)
    )
    return body + b"--B--\r\n", "multipart/form-data; boundary=B"


@pytest.mark.parametrize(
    "kind",
    ["21 files", "500 files", "no boundary", "5,000-character name", "surrogate question", "surrogate history", "5,000-digit top_k"],
)
def test_bad_inputs_are_400_not_500(app: Served, kind: str) -> None:
    if kind.endswith("files") or kind == "5,000-character name":
        count = int(kind.split()[0]) if kind.endswith("files") else 1
        body, content_type = multipart(count, "a" * 5000 + ".txt" if kind.startswith("5,000") else "a.txt")
        response = requests.post(app.api("articles"), data=body, headers={"Content-Type": content_type}, timeout=60)
    elif kind == "no boundary":
        body, _ = multipart(1)
        response = requests.post(app.api("articles"), data=body, headers={"Content-Type": "multipart/form-data"}, timeout=60)
    else:
        raw = {
            "surrogate question": '{"question": "Who is the prime minister \\ud800 of Georgia?"}',
            "surrogate history": '{"question": "And what does it import?", "history": [["What does Georgia \\ud800 export?", "Wine."]]}',
            "5,000-digit top_k": '{"question": "Who is the prime minister of Georgia?", "top_k": ' + "9" * 5000 + "}",
        }[kind]
        response = requests.post(app.api("ask"), data=raw.encode(), headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code == 400, response.text
    assert response.json()["error"]


# ------------------------------------------------------------------ 6. Host names and exposure
def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def start(base: Path, *args: str) -> tuple[subprocess.Popen, Path, int]:
    corpus = base / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = base / "app.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("QA_AUTH", None)
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port), "--corpus", str(corpus), "--index-dir", str(base / "index"), *args],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    return process, log, port


def wait_until_served(process: subprocess.Popen, log: Path, url: str, headers: dict | None = None) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if requests.get(url, headers=headers, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    pytest.fail(log.read_text())


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_dns_rebinding_is_refused_on_the_ipv6_loopback(tmp_path: Path) -> None:
    process, log, port = start(tmp_path, "--host", "::1")
    try:
        url = f"http://[::1]:{port}/"
        wait_until_served(process, log, url + "api/health")
        article = requests.get(url + "api/articles", timeout=30).json()[0]
        rebound = {"Host": f"attacker.example:{port}"}
        assert requests.get(url + "api/health", headers=rebound, timeout=30).status_code == 400
        assert requests.delete(url + f"api/articles/{article['id']}", headers=rebound, timeout=30).status_code == 400
        assert requests.get(url + "api/health", headers={"Host": f"localhost:{port}"}, timeout=30).status_code == 200
        assert article["id"] in {a["id"] for a in requests.get(url + "api/articles", timeout=30).json()}
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_bind_to_every_address_without_auth_prints_a_warning(tmp_path: Path) -> None:
    process, log, port = start(tmp_path, "--host", "0.0.0.0")
    try:
        wait_until_served(process, log, f"http://127.0.0.1:{port}/api/health")
        assert "without --auth" in log.read_text()
    finally:
        process.terminate()
        process.wait(timeout=30)
