"""The indexer over a database store: every change goes straight to the tables, and the process
keeps no snapshot.

Why apart from `qa.indexer.Indexer`: the local indexer assembles a whole new snapshot per change
(unchanged articles' rows and vectors copied), which needs the whole index in memory. Over a
database that would bring back what `qa.pgsearch` removes (every server holding every vector),
so here a change is computed against what the database holds without texts or vectors
(`PgStore.stored`: metadata and each article's content hash), only new or changed articles are
split and embedded (`Indexer.assemble` over them alone), and `PgStore.apply` writes them, one
article per transaction. Reading files, uploads, staging and the title rule are the local
indexer's (inherited).

The database is shared with other servers: articles this server's folder lacks are theirs and
stay; a refresh adds or updates the folder's articles; a removal is recorded in the database's
excluded set, so no server's refresh brings the article back.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from .indexer import IndexReport, Indexer, timed
from .pgsearch import PgCatalog
from .pgstore import Change, PgStore, StoredIndex, text_digest
from .readers import content_hash, drop_duplicates, read_file, read_folder
from .store import Snapshot
from .types import Article, SkippedFile

log = logging.getLogger(__name__)


class SharedIndexer(Indexer):
    """`Indexer`'s operations over a `PgStore` (see the module's docstring)."""

    store: PgStore

    def refresh(self) -> IndexReport:
        """Add or update the corpus folder's articles (others' stay); without a folder, check
        that the database's index fits this model and report its size."""
        with self.write_lock:
            started = time.perf_counter()
            stored = self._stored()
            # The database holds vectors of another model or passage settings: they are replaced.
            incompatible = stored is None and self.store.stored() is not None
            if self.corpus is None:
                if incompatible:
                    return self._write([], [], stored, started, replace_all=True)
                return self._report(IndexReport(rebuilt=stored is None), started)
            self.check_corpus()
            stages: dict[str, float] = {}
            with timed(stages, "reading articles"):
                articles, skipped = read_folder(self.corpus, prefer=stored.hashes if stored else (), max_bytes=self.max_file_bytes)
            excluded = stored.excluded if stored else frozenset()
            articles = [a for a in articles if a.id not in excluded]
            return self._write(articles, skipped, stored, started, stages=stages, replace_all=incompatible)

    def _add(self, source: Path, max_chars: int | None) -> IndexReport:
        articles = self.read_addition(source, max_chars)
        with self.write_lock:
            started = time.perf_counter()
            stored = self._stored()
            same_file = set(self.store.ids_with_path(source.name))
            held = {d: a for d, a in self.store.duplicates_of([a.text for a in articles]).items() if a[0] not in same_file}
            copies = [held.get(_digest(a)) for a in articles]
            if all(copies):
                article_id, path, title = copies[0]
                raise ValueError(f"Cannot add {source.name}: duplicate of {path} ({title})")
            target, created = self.place_in_corpus(source)
            try:
                root = self.corpus.resolve() if self.corpus is not None else target.parent
                relative = target.relative_to(root).as_posix()
                new_articles, skipped = read_file(target, root, self.max_file_bytes)
                replaced = set(self.store.ids_with_path(relative))
                held = {d: a for d, a in self.store.duplicates_of([a.text for a in new_articles]).items() if a[0] not in replaced}
                fresh, duplicates = drop_duplicates(new_articles)
                for article in list(fresh):
                    copy = held.get(_digest(article))
                    if copy is not None:
                        fresh.remove(article)
                        duplicates.append(SkippedFile(article.path, f"duplicate of {copy[1]}"))
                ids = {a.id for a in new_articles}
                return self._write(fresh, skipped + duplicates, stored, started, remove=sorted(replaced - {a.id for a in fresh}),
                                   include=frozenset(ids))
            except BaseException:
                if created:
                    target.unlink(missing_ok=True)  # a file that could not be indexed must not stay to break the next start
                raise

    def remove(self, article_id: str) -> Article:
        """Delete an article from the database and record it as removed (its file stays)."""
        with self.write_lock:
            started = time.perf_counter()
            stored = self._stored()
            if stored is None or article_id not in stored.hashes:
                raise KeyError(f"No article with id {article_id!r}")
            article = PgCatalog(self.store).article(article_id)
            self._write([], [], stored, started, remove=[article_id], exclude=frozenset({article_id}))
            return article

    def removed_articles(self) -> list[Article]:
        """Removed articles whose files are still in this server's corpus folder."""
        stored = self._stored()
        if stored is None or not stored.excluded or self.corpus is None or not self.corpus.is_dir():
            return []
        articles, _ = read_folder(self.corpus, max_bytes=self.max_file_bytes)
        return [a for a in articles if a.id in stored.excluded]

    def restore(self, article_id: str) -> IndexReport:
        """Index again a removed article whose file is in this server's corpus folder."""
        with self.write_lock:
            started = time.perf_counter()
            stored = self._stored()
            if stored is None or article_id not in stored.excluded:
                raise KeyError(f"No removed article with id {article_id!r}")
            if self.corpus is None or not self.corpus.is_dir():
                raise KeyError(f"The file of article {article_id!r} is no longer in the corpus folder")
            articles, skipped = read_folder(self.corpus, max_bytes=self.max_file_bytes)
            chosen = [a for a in articles if a.id == article_id]
            if not chosen:
                raise KeyError(f"The file of article {article_id!r} is no longer in the corpus folder")
            return self._write(chosen, [], stored, started, include=frozenset({article_id}))

    def current(self) -> Any:
        raise RuntimeError(
            "A database store keeps no snapshot in the process: ask through QA.retrieve(), QA.search() or QA.ask() "
            "(qa/pgsearch.py answers each question with queries)."
        )

    def install(self, snapshot: Snapshot) -> None:
        raise RuntimeError("A database store keeps no snapshot in the process; write changes with PgStore.apply().")

    # ------------------------------------------------------------ internals
    def _stored(self) -> StoredIndex | None:
        """What the database holds, if its vectors fit this model and these settings."""
        stored = self.store.stored()
        if stored is None:
            return None
        reason = self.incompatibility(stored.model, stored.dimension, stored.passage_settings, stored.probe)
        if reason:
            log.info("Rebuilding the index in %s: %s.", self.store.name, reason)
            return None
        return stored

    def _write(
        self,
        articles: list[Article],
        skipped: list[SkippedFile],
        stored: StoredIndex | None,
        started: float,
        stages: dict[str, float] | None = None,
        remove: list[str] = (),
        exclude: frozenset[str] = frozenset(),
        include: frozenset[str] = frozenset(),
        replace_all: bool = False,
    ) -> IndexReport:
        """Embed the `articles` that are new or changed against `stored`, and write them with the
        removals and the excluded set's changes."""
        stages = stages if stages is not None else {}
        known = stored.hashes if stored is not None else {}
        hashes = [content_hash(a) for a in articles]
        report = IndexReport(skipped=list(skipped), rebuilt=stored is None, stages=stages)
        changed = [(a, h) for a, h in zip(articles, hashes) if known.get(a.id) != h]
        for article, _ in changed:
            (report.updated if article.id in known else report.added).append(article.id)
        report.removed = [i for i in remove if i in known]
        excluded = stored.excluded if stored is not None else frozenset()
        if changed or report.removed or replace_all or (excluded | exclude) - include != excluded:
            delta = self.assemble(None, [a for a, _ in changed], [h for _, h in changed], [None] * len(changed), frozenset(), stages)
            with timed(stages, "writing the index"):
                self.store.apply(Change(delta, remove=tuple(report.removed), exclude=exclude, include=include,
                                        excluded=frozenset() if replace_all else None, replace_all=replace_all))
        return self._report(report, started)

    def _report(self, report: IndexReport, started: float) -> IndexReport:
        counts = self.store.counts()
        report.articles, report.passages = counts["articles"], counts["passages"]
        report.seconds = time.perf_counter() - started
        self.last_report = report
        log.info("Index ready: %s", report.summary())
        return report


def _digest(article: Article) -> str:
    return text_digest(article.text)
