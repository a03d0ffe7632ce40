"""The indexer: what turns a corpus folder into the snapshot that queries read.

It owns the index's life cycle — refresh (re-scan the folder), add (a file, an upload), remove,
and assembling a new snapshot in which only new or changed articles are embedded — and hands the
current snapshot and its retriever to readers (`current()`). `QA` is a thin facade over it, the
retriever and the answerer. Every change is saved by the store before it is installed, and
installing is one assignment, so a query sees the old snapshot or the new one, never a mix.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from .embedding import Embedder
from .index import approximate
from .lexical import LexicalIndex
from .passages import split_article
from .readers import MAX_FILE_BYTES, SUPPORTED_EXTENSIONS, content_hash, drop_duplicates, read_file, read_folder
from .retrieval import Retriever
from .settings import Settings
from .store import PROBE_TEXT, SENTENCE_VECTOR_TYPES, IndexDamaged, IndexStore, Snapshot
from .types import Article, SkippedFile

log = logging.getLogger(__name__)

_STAGING_PREFIX = ".qa-upload-"


def human_size(n: int) -> str:
    """12 bytes, 3.4 kB, 20 MB: a size that never reads "0.0 MB"."""
    if n < 1000:
        return f"{n} byte{'s' if n != 1 else ''}"
    if n < 1_000_000:
        return f"{n / 1e3:.1f} kB"
    return f"{n / 1e6:.1f} MB".replace(".0 MB", " MB")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class UploadTooLarge(ValueError):
    """An uploaded file over `Settings.max_upload_bytes`."""


class IndexNotSaved(RuntimeError):
    """A change that could not be written to the index folder, so it was not made: a removal that
    lived only in memory would come back at the next start."""


@dataclass
class IndexReport:
    """What a build or update did."""

    articles: int = 0
    passages: int = 0
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    rebuilt: bool = False
    seconds: float = 0.0
    not_saved: str | None = None  # why the update lives only in memory, if it does
    # Seconds spent in each stage (reading, splitting, embedding, BM25, writing, loading back):
    # what the benchmarks report, measured where the work is done.
    stages: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        text = (
            f"{self.articles} articles, {self.passages} passages indexed "
            f"({len(self.added)} new, {len(self.updated)} changed, {len(self.removed)} removed) "
            f"in {self.seconds:.1f} s"
        )
        if self.skipped:
            reasons = "; ".join(f"{s.path}: {s.reason}" for s in self.skipped)
            text += f"; {len(self.skipped)} skipped: {reasons}"
        if self.not_saved:
            text += f". Warning: {self.not_saved}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "articles": self.articles,
            "passages": self.passages,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "rebuilt": self.rebuilt,
            "seconds": round(self.seconds, 3),
            "not_saved": self.not_saved,
        }


class Indexer:
    """Builds, updates and saves the index of one corpus folder in the local store; holds the
    current snapshot. (A database store has its own, `qa.pgindexer.SharedIndexer`, which holds none.)"""

    def __init__(self, settings: Settings, embedder: Embedder, store: Any = None) -> None:
        self.settings = settings
        # With a database store the folder is optional: the database holds the articles.
        self.corpus = Path(settings.corpus) if settings.corpus is not None else None
        self.embedder = embedder
        self.model_id = embedder.model_name
        self.store = store or open_store(settings, self.index_title)
        self.write_lock = threading.RLock()
        self._state: tuple[Snapshot, Retriever] | None = None
        self.last_report = IndexReport()

    def refresh(self) -> IndexReport:
        """Re-scan the corpus folder: embed new or changed articles, drop removed ones."""
        self.check_corpus()
        with self.write_lock:
            started = time.perf_counter()
            old = self._current_or_saved()
            stages: dict[str, float] = {}
            with timed(stages, "reading articles"):
                articles, skipped = read_folder(self.corpus, prefer=old.article_index if old else (), max_bytes=self.max_file_bytes)
            excluded = old.excluded if old else frozenset()
            articles = [a for a in articles if a.id not in excluded]
            return self._update(old, articles, skipped, excluded, started, stages)

    def check_corpus(self) -> None:
        """FileNotFoundError unless the corpus folder exists and is a folder."""
        if self.corpus is None:
            raise FileNotFoundError("No corpus folder given: pass the folder of articles.")
        if self.corpus.exists() and not self.corpus.is_dir():
            raise FileNotFoundError(f"{self.corpus} is a file, not a folder: pass the folder that holds the articles.")
        if not self.corpus.is_dir():
            raise FileNotFoundError(f"Corpus folder {self.corpus} does not exist: create it and put articles in it.")

    def add(self, path: str | Path) -> IndexReport:
        """Copy an article file into the corpus (if it is not there yet) and index it."""
        return self._add(Path(path), max_chars=None)

    def _add(self, source: Path, max_chars: int | None) -> IndexReport:
        articles = self.read_addition(source, max_chars)
        with self.write_lock:
            started = time.perf_counter()
            old = self._current_or_saved()
            known = {a.text.strip(): a for a in (old.articles if old else ()) if a.path != source.name}
            if all(a.text.strip() in known for a in articles):
                copy_of = known[articles[0].text.strip()]
                raise ValueError(f"Cannot add {source.name}: duplicate of {copy_of.path} ({copy_of.title})")
            target, created = self.place_in_corpus(source)
            try:
                root = self.corpus.resolve() if self.corpus is not None else target.parent
                relative = target.relative_to(root).as_posix()
                new_articles, skipped = read_file(target, root, self.max_file_bytes)
                current = [a for a in (old.articles if old else ()) if a.path != relative]
                articles, duplicates = drop_duplicates(current + new_articles, prefer={a.id for a in current})
                excluded = (old.excluded if old else frozenset()) - {a.id for a in new_articles}
                return self._update(old, articles, skipped + duplicates, excluded, started)
            except BaseException:
                if created:
                    target.unlink(missing_ok=True)  # a file that could not be indexed must not stay to break the next start
                raise

    def read_addition(self, source: Path, max_chars: int | None) -> list[Article]:
        """The articles of a file about to be added, or ValueError (UploadTooLarge) saying why not."""
        if not source.is_file():
            raise FileNotFoundError(f"No such file: {source}")
        if source.suffix.lower() not in SUPPORTED_EXTENSIONS:
            allowed = ", ".join(sorted(SUPPORTED_EXTENSIONS))
            raise ValueError(f"Cannot add {source.name}: unsupported file type (supported: {allowed})")
        articles, skipped = read_file(source, source.parent, self.max_file_bytes)
        if not articles:
            reason = skipped[0].reason if skipped else "no article found"
            raise ValueError(f"Cannot add {source.name}: {reason}")
        chars = sum(len(a.text) for a in articles)
        if max_chars is not None and chars > max_chars:
            raise UploadTooLarge(
                f"Cannot add {source.name}: its text is {chars:,} characters, over the {max_chars:,} one upload may index; "
                "put it in the corpus folder and re-index, or split it"
            )
        return articles

    def add_upload(self, filename: str, data: bytes) -> IndexReport:
        """Index an uploaded file: its name is sanitised, its size and type checked, and it is
        stored only inside the corpus folder (whatever path the name claims).

        The bytes are staged in a hidden folder of the corpus (never read as an article), not in
        the system's temporary folder: a server killed mid-upload leaves nothing behind in /tmp,
        and the next start removes the staging folders of processes that no longer run."""
        if not isinstance(filename, str):
            raise ValueError(f"add_upload needs the file's name as text, not {type(filename).__name__}")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValueError(f"add_upload needs the file's content as bytes, not {type(data).__name__} (open the file in binary mode)")
        name = safe_file_name(filename)
        if Path(name).suffix.lower() not in SUPPORTED_EXTENSIONS:
            allowed = ", ".join(sorted(SUPPORTED_EXTENSIONS))
            raise ValueError(f"Cannot add {name}: unsupported file type (supported: {allowed})")
        if len(data) > self.settings.max_upload_bytes:
            raise UploadTooLarge(f"Cannot add {name}: {human_size(len(data))} is over the {human_size(self.settings.max_upload_bytes)} limit")
        if self.corpus is None:  # a database store without a folder: the text goes to the database only
            folder = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX))
        elif not self.corpus.is_dir():
            raise FileNotFoundError(f"The corpus folder {self.corpus.name} does not exist")
        else:
            folder = self.corpus / f"{_STAGING_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
            folder.mkdir()
        try:
            path = folder / name
            path.write_bytes(data)
            return self._add(path, max_chars=self.settings.max_upload_chars)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def remove_upload_leftovers(self) -> list[str]:
        """Remove staging folders and partial copies left in the corpus by processes that were
        killed during an upload; returns their names."""
        removed = []
        if self.corpus is None or not self.corpus.is_dir():
            return removed
        for path in self.corpus.iterdir():
            if path.name.startswith(_STAGING_PREFIX):
                pid = path.name[len(_STAGING_PREFIX):].partition("-")[0]
                if pid.isdigit() and _process_alive(int(pid)):
                    continue
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
            elif path.name.startswith(".") and path.name.endswith(".part") and time.time() - path.stat().st_mtime > 600:
                path.unlink(missing_ok=True)
                removed.append(path.name)
        if removed:
            log.info("Removed %d leftovers of interrupted uploads from %s", len(removed), self.corpus.name)
        return removed

    def remove(self, article_id: str) -> Article:
        """Drop an article from the index (its file stays; it is not indexed again)."""
        with self.write_lock:
            started = time.perf_counter()
            old = self._current_or_saved()
            if old is None or article_id not in old.article_index:
                raise KeyError(f"No article with id {article_id!r}")
            article = old.articles[old.article_index[article_id]]
            remaining = [a for a in old.articles if a.id != article_id]
            report = self._update(old, remaining, [], old.excluded | {article_id}, started)
            if report.not_saved:
                self.install(old)  # memory and disk agree again: the article is still indexed
                raise IndexNotSaved(f"Could not remove {article.path}: {report.not_saved.replace('; it is kept in memory only', '')}. Nothing was removed; free space or fix the folder's permissions and try again.")
            return article

    def removed_articles(self) -> list[Article]:
        """Articles removed from the index (`remove`) whose files are still in the corpus folder."""
        snapshot, _ = self.current()
        if not snapshot.excluded or self.corpus is None or not self.corpus.is_dir():
            return []
        articles, _ = read_folder(self.corpus, prefer=snapshot.article_index, max_bytes=self.max_file_bytes)
        return [a for a in articles if a.id in snapshot.excluded]

    def restore(self, article_id: str) -> IndexReport:
        """Index again an article that `remove` dropped (its file must still be in the corpus)."""
        with self.write_lock:
            started = time.perf_counter()
            old = self._current_or_saved()
            if old is None or article_id not in old.excluded:
                raise KeyError(f"No removed article with id {article_id!r}")
            if self.corpus is None or not self.corpus.is_dir():
                raise KeyError(f"The file of article {article_id!r} is no longer in the corpus folder")
            articles, skipped = read_folder(self.corpus, prefer=old.article_index, max_bytes=self.max_file_bytes)
            if article_id not in {a.id for a in articles}:
                raise KeyError(f"The file of article {article_id!r} is no longer in the corpus folder")
            excluded = old.excluded - {article_id}
            articles = [a for a in articles if a.id not in excluded]
            return self._update(old, articles, skipped, excluded, started)

    @property
    def feedback_path(self) -> Path:
        """Where verdicts on answers are kept (`qa.feedback`): `feedback.jsonl` in the index folder,
        which saves leave alone; with a database store, in the index folder the settings name
        (beside the corpus unless QA_INDEX_DIR says otherwise)."""
        folder = getattr(self.store, "folder", None)
        if folder is None:
            if self.settings.index_dir is None and self.settings.corpus is None:
                raise RuntimeError("No folder to keep feedback in: a database store without a corpus folder needs QA_INDEX_DIR")
            folder = self.settings.resolved_index_dir
        return Path(folder) / "feedback.jsonl"

    @property
    def max_file_bytes(self) -> int:
        """Largest article file read: the readers' default, or more when uploads may be larger."""
        return max(MAX_FILE_BYTES, self.settings.max_upload_bytes)

    def place_in_corpus(self, source: Path) -> tuple[Path, bool]:
        """Where `source` is in the corpus (copied there if it is not), and whether it was copied now.
        Without a corpus folder (a database store) the file stays where it is."""
        if self.corpus is None:
            return source.resolve(), False
        corpus = self.corpus.resolve()
        resolved = source.resolve()
        if resolved.is_relative_to(corpus) and not resolved.relative_to(corpus).as_posix().startswith(_STAGING_PREFIX):
            return resolved, False
        name = safe_file_name(source.name)
        target = corpus / name
        if target.exists() and target.read_bytes() != source.read_bytes():
            target = corpus / f"{Path(name).stem}-{uuid.uuid4().hex[:8]}{Path(name).suffix}"
        if target.exists():
            return target, False
        staging = corpus / f".{target.name}.{uuid.uuid4().hex}.part"
        shutil.copyfile(source, staging)
        staging.replace(target)
        return target, True

    def _current_or_saved(self) -> Snapshot | None:
        """The snapshot a change starts from: the installed one, else the saved one if it fits
        this model and these settings."""
        if self._state is not None:
            return self._state[0]
        try:
            snapshot = self.store.load()
        except IndexDamaged as error:
            log.warning("Index at %s is damaged (%s); rebuilding it from the corpus.", self.store.name, error)
            return None
        if snapshot is None:
            return None
        reason = self._incompatibility(snapshot)
        if reason:
            log.info("Rebuilding the index: %s.", reason)
            return None
        return snapshot

    def _incompatibility(self, snapshot: Snapshot) -> str | None:
        return self.incompatibility(snapshot.model, snapshot.dimension, snapshot.passage_settings, snapshot.probe)

    def incompatibility(self, model: str, dimension: int, passages: Any, probe: tuple[float, ...]) -> str | None:
        """Why saved vectors (of `model`, `dimension`, passage settings `passages`, probe vector
        `probe`) cannot be used with this model and these settings, or None."""
        if model != self.model_id:
            return f"the model changed ({model} → {self.model_id})"
        if dimension != self.embedder.dimension:
            return "the vector dimension changed"
        if passages != self.settings.passages:
            return "the passage settings changed"
        if float(np.dot(np.asarray(probe, dtype=np.float32), self._probe())) < 0.99:
            return "the saved vectors come from a different model"
        return None

    def _probe(self) -> np.ndarray:
        return self.embedder.encode_query(PROBE_TEXT)

    def _update(
        self,
        old: Snapshot | None,
        articles: list[Article],
        skipped: list[SkippedFile],
        excluded: frozenset[str],
        started: float,
        stages: dict[str, float] | None = None,
    ) -> IndexReport:
        hashes = [content_hash(a) for a in articles]
        report = IndexReport(skipped=list(skipped), rebuilt=old is None, stages=stages or {})
        old_position = old.article_index if old else {}
        new_ids = {a.id for a in articles}
        report.removed = [a.id for a in (old.articles if old else ()) if a.id not in new_ids]
        reuse: list[int | None] = []
        for article, digest in zip(articles, hashes):
            j = old_position.get(article.id)
            if j is not None and old.hashes[j] == digest:
                reuse.append(j)
            else:
                reuse.append(None)
                (report.updated if j is not None else report.added).append(article.id)
        unchanged = (
            old is not None
            and not report.added
            and not report.updated
            and not report.removed
            and [a.id for a in old.articles] == [a.id for a in articles]
            and old.excluded == excluded
        )
        if unchanged:
            snapshot = old
        else:
            snapshot = self.assemble(old, articles, hashes, reuse, excluded, report.stages)
            try:
                with timed(report.stages, "writing the index"):
                    self.store.save(snapshot, base=old)
                with timed(report.stages, "loading it back"):
                    snapshot = self.store.load() or snapshot  # memory-mapped from the saved files
            except OSError as error:
                # Disk full, read-only folder: keep answering from memory, and say so.
                # Named, not located: this message reaches web pages and API replies.
                report.not_saved = f"the index could not be saved in {self.store.name} ({error.strerror or type(error).__name__}); it is kept in memory only"
                log.error("Index not saved in %s: %s", self.store.name, error)
        self.install(snapshot)
        report.articles = len(snapshot.articles)
        report.passages = snapshot.passage_count
        report.seconds = time.perf_counter() - started
        self.last_report = report
        log.info("Index ready: %s", report.summary())
        return report

    def assemble(
        self,
        old: Snapshot | None,
        articles: list[Article],
        hashes: list[str],
        reuse: list[int | None],
        excluded: frozenset[str],
        stages: dict[str, float],
    ) -> Snapshot:
        """A new snapshot: rows of unchanged articles are copied, the rest are split and embedded.

        The old approximate index is updated rather than trained again when it still fits
        (`AnnIndex.updated`): training takes about a minute at a million passages, while one
        article more or less changes only a few of them. Otherwise `ann` stays None and the store
        trains a new one when it saves."""
        with timed(stages, "splitting (sentences, token counts)"):
            splits = {i: split_article(a, self.embedder, self.settings.passages) for i, a in enumerate(articles) if reuse[i] is None}
        passage_texts = [self.vector_text(articles[i], p.text) for i, s in splits.items() for p in s.passages]
        sentence_texts = [articles[i].text[a:b] for i, s in splits.items() for a, b in s.sentences]
        progress = len(passage_texts) > self.settings.progress_bar_above
        if passage_texts:
            log.info("Embedding %d passages and %d sentences of %d articles", len(passage_texts), len(sentence_texts), len(splits))
        with timed(stages, "model: encode (passages, sentences, probe)"):
            new_passage_vectors = self.embedder.encode(passage_texts, show_progress=progress)
            new_sentence_vectors = self.embedder.encode(sentence_texts, show_progress=progress)
            probe = tuple(float(x) for x in self._probe())

        if old is not None:
            passage_bounds, sentence_bounds = old.article_bounds()
        passage_rows, sentence_rows, passage_vectors, sentence_vectors = [], [], [], []
        origins: list[np.ndarray] = []  # per passage row, its row in the old snapshot (-1: new)
        n_sentences, new_p, new_s = 0, 0, 0
        for i, article in enumerate(articles):
            j = reuse[i]
            if j is not None:
                pa, pb = passage_bounds[j], passage_bounds[j + 1]
                sa, sb = sentence_bounds[j], sentence_bounds[j + 1]
                rows = old.passage_table(pa, pb)
                rows[:, 0] = i
                rows[:, 3:5] += n_sentences - sa
                s_rows = old.sentence_table(sa, sb)
                s_rows[:, 0] = i
                passage_vectors.append(old.passage_vectors[pa:pb])
                sentence_vectors.append(old.sentence_vectors[sa:sb])
                origins.append(np.arange(pa, pb, dtype=np.int64))
            else:
                split = splits[i]
                rows = np.array(
                    [[i, p.start, p.end, n_sentences + f, n_sentences + l] for p, (f, l) in zip(split.passages, split.passage_sentences)],
                    dtype=np.int64,
                ).reshape(-1, 5)
                s_rows = np.array([[i, a, b] for a, b in split.sentences], dtype=np.int64).reshape(-1, 3)
                passage_vectors.append(new_passage_vectors[new_p : new_p + len(rows)])
                sentence_vectors.append(new_sentence_vectors[new_s : new_s + len(s_rows)])
                origins.append(np.full(len(rows), -1, dtype=np.int64))
                new_p += len(rows)
                new_s += len(s_rows)
            passage_rows.append(rows)
            sentence_rows.append(s_rows)
            n_sentences += len(s_rows)

        dim = self.embedder.dimension
        sentence_type = SENTENCE_VECTOR_TYPES[self.settings.sentence_vectors]
        passages = np.concatenate(passage_rows) if passage_rows else np.zeros((0, 5), dtype=np.int64)
        sentences = np.concatenate(sentence_rows) if sentence_rows else np.zeros((0, 3), dtype=np.int64)
        texts = [self.vector_text(articles[int(a)], articles[int(a)].text[int(s):int(e)]) for a, s, e in passages[:, :3]]
        with timed(stages, "BM25 build"):
            lexical = LexicalIndex.build(texts)
        all_passage_vectors = np.concatenate(passage_vectors) if passage_vectors else np.zeros((0, dim), np.float32)
        ann, ann_above = None, self.settings.ann_above
        if old is not None and old.ann is not None and approximate(len(passages), ann_above):
            origin = np.concatenate(origins) if origins else np.zeros(0, dtype=np.int64)
            reason = old.ann.rebuild_reason(origin)
            if reason is None:
                try:
                    ann = old.ann.updated(all_passage_vectors, origin)
                except (RuntimeError, ValueError) as error:  # the store trains a new one instead
                    log.warning("Could not update the approximate index (%s); it will be rebuilt", error)
            else:
                log.info("The approximate index will be rebuilt: %s", reason)
        return Snapshot(
            articles=tuple(articles),
            hashes=tuple(hashes),
            passages=passages,
            sentences=sentences,
            passage_vectors=all_passage_vectors,
            sentence_vectors=np.concatenate(sentence_vectors, dtype=sentence_type) if sentence_vectors else np.zeros((0, dim), sentence_type),
            lexical=lexical,
            model=self.model_id,
            dimension=dim,
            passage_settings=self.settings.passages,
            probe=probe,
            excluded=excluded,
            ann=ann,
        )

    def vector_text(self, article: Article, passage: str) -> str:
        """What is embedded and BM25-indexed for a passage: the article's title gives it context
        ("Normans" for a paragraph that only says "they"), within the model's window."""
        title = self.index_title(article)
        return f"{title}\n{passage}" if title else passage

    def index_title(self, article: Article) -> str:
        """The title as put before each of its passages ("" for none), shortened to fit the window."""
        if not self.settings.passages.with_title or not article.title:
            return ""
        room = self.embedder.max_tokens - self.settings.passages.max_tokens - 1
        title = article.title
        if self.embedder.count_tokens([title])[0] > room:
            title = " ".join(title.split()[: max(room // 2, 0)])
        return title

    def install(self, snapshot: Snapshot) -> None:
        """Make `snapshot` the one queries read (with its retriever). One assignment: a query
        sees either the old pair or the new one, never a mix."""
        self._state = (snapshot, Retriever(snapshot, self.settings.candidates, ann_above=self.settings.ann_above))

    def current(self) -> tuple[Snapshot, Retriever]:
        """The snapshot queries read and its retriever; built from the corpus when there is none
        yet, or when the files of a loaded one changed on disk under the running server."""
        state = self._state
        if state is not None and state[0].files:
            damage = state[0].damage()  # before the query touches a memory map: never a SIGBUS
            if damage:
                log.error("The index files changed under the running server (%s); rebuilding the index from the corpus.", damage)
                with self.write_lock:
                    if self._state is state:
                        self._state = None
                state = None
        if state is None:
            self.refresh()
            state = self._state
        return state


def open_indexer(settings: Settings, embedder: Embedder) -> "Indexer":
    """The indexer for the store `settings` name: `qa.pgindexer.SharedIndexer` for a database URL, else `Indexer`."""
    if settings.store:
        from .pgindexer import SharedIndexer

        return SharedIndexer(settings, embedder)
    return Indexer(settings, embedder)


def open_store(settings: Settings, index_title=None) -> Any:
    """The store `settings` name: PostgreSQL for a database URL (qa/pgstore.py), else the index folder."""
    if settings.store:
        from .pgstore import PgSettings, PgStore, is_database_url

        if not is_database_url(settings.store):
            raise ValueError(f"Unsupported store {settings.store.split(':')[0]!r}: give a postgresql:// URL, or none for files beside the corpus.")
        return PgStore(settings.store, PgSettings.from_settings(settings), index_title)
    return IndexStore(settings.resolved_index_dir, ann_above=settings.ann_above)


@contextmanager
def timed(stages: dict[str, float], name: str) -> Iterator[None]:
    """Add the time spent in the block to stages[name]."""
    started = time.perf_counter()
    try:
        yield
    finally:
        stages[name] = stages.get(name, 0.0) + time.perf_counter() - started


def safe_file_name(name: str) -> str:
    """A file name with no directory parts or odd characters, safe to create inside the corpus."""
    base = Path(name.replace("\\", "/")).name
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    stem = re.sub(r"[^\w.-]+", "-", stem).strip(".-_") or "article"
    return f"{stem[:100]}{suffix}"
