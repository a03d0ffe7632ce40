"""`python app.py` in a subprocess on a copy of the default corpus, for end-to-end tests."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import requests

from conftest import ROOT


@dataclass
class Served:
    url: str  # ends with "/"
    corpus: Path
    base: Path  # the temporary folder holding the corpus, the index and the log
    log: Path

    def api(self, path: str) -> str:
        return self.url + "api/" + path.lstrip("/")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(base: Path, *args: str, auth: tuple[str, str] | None = None) -> Iterator[Served]:
    """Run app.py on a copy of the default corpus until the generator is closed."""
    corpus = base / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    port = free_port()
    log = base / "app.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("QA_AUTH", None)
    command = [sys.executable, "app.py", "--port", str(port), "--corpus", str(corpus), "--index-dir", str(base / "index"), *args]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        served = Served(f"http://127.0.0.1:{port}/", corpus, base, log)
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"app.py exited with {process.returncode}:\n{log.read_text()}")
            try:
                if requests.get(served.api("health"), auth=auth, timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"app.py did not answer within 180 s:\n{log.read_text()}")
            time.sleep(0.3)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
