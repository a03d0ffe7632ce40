"""`python -m qa migrate --to postgresql://...`: the local index copied into a database store.

A local index already holds everything a database store needs (article texts and metadata, the
passage and sentence tables, vectors), so moving to PostgreSQL re-embeds nothing: the snapshot is
loaded from its folder and written with `PgStore.save`, one transaction per article (with its
BM25 statistics, computed from the texts as they are written). qa tables of
another schema version in that database are dropped first (the local index is the source); the
database's articles that the local index lacks are removed, so the database holds exactly it.
"""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

from .embedding import Embedder
from .indexer import Indexer
from .pgstore import SCHEMA_VERSION, PgSettings, PgStore
from .settings import Settings
from .store import IndexStore

log = logging.getLogger(__name__)


def migrate(corpus: Path, url: str, index_dir: str | Path | None = None, model: str | None = None) -> str:
    """Copy the local index of `corpus` into the database at `url`; returns a one-line summary."""
    settings = Settings.from_env(corpus=corpus, index_dir=index_dir, model=model)
    settings = replace(settings, store=None)
    local = IndexStore(settings.resolved_index_dir, ann_above=settings.ann_above)
    snapshot = local.load()
    if snapshot is None:
        raise FileNotFoundError(f"No index in {local.name}: build it first (python -m qa index {corpus}).")
    started = time.perf_counter()
    # The indexer's title rule (the title as put before each passage, for BM25) needs the model's tokenizer.
    indexer = Indexer(settings, Embedder(snapshot.model, backend=settings.backend), store=local)
    database = PgStore(url, PgSettings.from_settings(settings), indexer.index_title, check_schema=False)
    try:
        version = database.schema_version()
        if version is not None and version != SCHEMA_VERSION:
            log.warning("Replacing qa schema version %s in %s with version %s", version, database.name, SCHEMA_VERSION)
            database.clear()
        database.save(replace(snapshot, ann=None))
        copied = database.counts()
    finally:
        database.close()
    return (
        f"Copied {copied['articles']} articles, {copied['passages']} passages and {copied['sentences']} sentences "
        f"from {local.name} to {database.name} in {time.perf_counter() - started:.1f} s (no re-embedding)."
    )
