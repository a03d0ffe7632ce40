"""The facade: `QA` ties the stages together behind the API that the CLI, the web app and users share.

articles → passages → vectors → index → hits → answer. Builds are incremental (only new or changed
articles are embedded) and every change is saved atomically. Queries read an immutable snapshot, so
they keep answering from the old index while a new one is being built.
"""
from __future__ import annotations

import logging
import numbers
import os
import re
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from .answerers import create_answerer
from .answering import NOT_FOUND, hit_for
from .embedding import Embedder
from .lexical import LexicalIndex, terms
from .passages import split_article
from .readers import MAX_FILE_BYTES, SUPPORTED_EXTENSIONS, content_hash, drop_duplicates, read_file, read_folder
from .retrieval import RankedPassage, Retriever
from .settings import Settings
from .store import PROBE_TEXT, SENTENCE_VECTOR_TYPES, IndexDamaged, IndexStore, Snapshot
from .types import Answer, Article, Hit, SkippedFile

if TYPE_CHECKING:
    from .feedback import FeedbackLog

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


@dataclass(frozen=True)
class Retrieval:
    """What retrieval gives the answer stage: ranked passages of one snapshot for one question."""

    snapshot: Snapshot
    question: str  # cleaned
    question_vector: np.ndarray
    ranked: list[RankedPassage]


class IndexNotSaved(RuntimeError):
    """A change that could not be written to the index folder, so it was not made: a removal that
    lived only in memory would come back at the next start."""


class QuestionError(ValueError):
    """A question that cannot be asked (empty, too long); the message says what to change."""


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


_FOLLOW_UP = re.compile(
    r"^\s*(and|but|also|what about|how about)\b|\b(he|she|it|they|him|her|them|his|its|their|this|that|these|those|there)\b",
    re.IGNORECASE,
)
_MARKER = re.compile(r"\[\d+\]")
_FOLLOW_UP_ANSWER_WORDS = 40
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Unpaired UTF-16 surrogates ("\\ud800" in JSON) are not text: the tokenizer and UTF-8 cannot encode them.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
MAX_TOP_K = 100  # passages one ask() or search() may return
MAX_HISTORY_TURNS = 100  # earlier turns in `history`
MAX_HISTORY_ANSWER_CHARS = 100_000  # one earlier answer in `history` (answers are not read, only bounded)


class QA:
    """Question answering with citations over a folder of articles."""

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.corpus = Path(self.settings.corpus)
        self.embedder = embedder or Embedder(self.settings.model, batch_size=self.settings.batch_size, backend=self.settings.backend)
        self.model_id = self.embedder.model_name
        self.store = IndexStore(self.settings.resolved_index_dir, ann_above=self.settings.ann_above)
        self.answerer = create_answerer(self.settings)
        self._write_lock = threading.RLock()
        self._state: tuple[Snapshot, Retriever] | None = None
        self._suggestions: dict[tuple, tuple[str, ...]] = {}
        self.last_report = IndexReport()

    # ---------------------------------------------------------------- building
    @classmethod
    def from_folder(
        cls,
        corpus: str | Path = "corpus",
        index_dir: str | Path | None = None,
        model: str | None = None,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
    ) -> "QA":
        """Build, update or load the index of `corpus`, and return a ready QA."""
        if not isinstance(corpus, (str, os.PathLike)) or not str(corpus).strip():
            raise ValueError("No corpus folder given: pass the folder of articles, e.g. QA.from_folder(\"corpus\").")
        if settings is None:
            settings = Settings.from_env(corpus=corpus, index_dir=index_dir, model=model)
        else:
            settings = replace(settings, corpus=Path(corpus), index_dir=index_dir or settings.index_dir)
        qa = cls(settings, embedder)
        qa.remove_upload_leftovers()
        qa.refresh()
        return qa

    def refresh(self) -> IndexReport:
        """Re-scan the corpus folder: embed new or changed articles, drop removed ones."""
        if self.corpus.exists() and not self.corpus.is_dir():
            raise FileNotFoundError(f"{self.corpus} is a file, not a folder: pass the folder that holds the articles.")
        if not self.corpus.is_dir():
            raise FileNotFoundError(f"Corpus folder {self.corpus} does not exist: create it and put articles in it.")
        with self._write_lock:
            started = time.perf_counter()
            old = self._current_or_saved()
            articles, skipped = read_folder(self.corpus, prefer=old.article_index if old else (), max_bytes=self.max_file_bytes)
            excluded = old.excluded if old else frozenset()
            articles = [a for a in articles if a.id not in excluded]
            return self._update(old, articles, skipped, excluded, started)

    def add(self, path: str | Path) -> IndexReport:
        """Copy an article file into the corpus (if it is not there yet) and index it."""
        return self._add(Path(path), max_chars=None)

    def _add(self, source: Path, max_chars: int | None) -> IndexReport:
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
        with self._write_lock:
            started = time.perf_counter()
            old = self._current_or_saved()
            known = {a.text.strip(): a for a in (old.articles if old else ()) if a.path != source.name}
            if all(a.text.strip() in known for a in articles):
                copy_of = known[articles[0].text.strip()]
                raise ValueError(f"Cannot add {source.name}: duplicate of {copy_of.path} ({copy_of.title})")
            target, created = self._place_in_corpus(source)
            try:
                relative = target.relative_to(self.corpus.resolve()).as_posix()
                new_articles, skipped = read_file(target, self.corpus.resolve(), self.max_file_bytes)
                current = [a for a in (old.articles if old else ()) if a.path != relative]
                articles, duplicates = drop_duplicates(current + new_articles, prefer={a.id for a in current})
                excluded = (old.excluded if old else frozenset()) - {a.id for a in new_articles}
                return self._update(old, articles, skipped + duplicates, excluded, started)
            except BaseException:
                if created:
                    target.unlink(missing_ok=True)  # a file that could not be indexed must not stay to break the next start
                raise

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
        if not self.corpus.is_dir():
            raise FileNotFoundError(f"The corpus folder {self.corpus.name} does not exist")
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
        if not self.corpus.is_dir():
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
        with self._write_lock:
            started = time.perf_counter()
            old = self._current_or_saved()
            if old is None or article_id not in old.article_index:
                raise KeyError(f"No article with id {article_id!r}")
            article = old.articles[old.article_index[article_id]]
            remaining = [a for a in old.articles if a.id != article_id]
            report = self._update(old, remaining, [], old.excluded | {article_id}, started)
            if report.not_saved:
                self._install(old)  # memory and disk agree again: the article is still indexed
                raise IndexNotSaved(f"Could not remove {article.path}: {report.not_saved.replace('; it is kept in memory only', '')}. Nothing was removed; free space or fix the folder's permissions and try again.")
            return article

    @property
    def max_file_bytes(self) -> int:
        """Largest article file read: the readers' default, or more when uploads may be larger."""
        return max(MAX_FILE_BYTES, self.settings.max_upload_bytes)

    def _place_in_corpus(self, source: Path) -> tuple[Path, bool]:
        """Where `source` is in the corpus (copied there if it is not), and whether it was copied now."""
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
        if self._state is not None:
            return self._state[0]
        try:
            snapshot = self.store.load()
        except IndexDamaged as error:
            log.warning("Index at %s is damaged (%s); rebuilding it from the corpus.", self.store.folder, error)
            return None
        if snapshot is None:
            return None
        reason = self._incompatibility(snapshot)
        if reason:
            log.info("Rebuilding the index: %s.", reason)
            return None
        return snapshot

    def _incompatibility(self, snapshot: Snapshot) -> str | None:
        if snapshot.model != self.model_id:
            return f"the model changed ({snapshot.model} → {self.model_id})"
        if snapshot.dimension != self.embedder.dimension:
            return "the vector dimension changed"
        if snapshot.passage_settings != self.settings.passages:
            return "the passage settings changed"
        if float(np.dot(np.asarray(snapshot.probe, dtype=np.float32), self._probe())) < 0.99:
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
    ) -> IndexReport:
        hashes = [content_hash(a) for a in articles]
        report = IndexReport(skipped=list(skipped), rebuilt=old is None)
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
            snapshot = self._assemble(old, articles, hashes, reuse, excluded)
            try:
                self.store.save(snapshot)
                snapshot = self.store.load() or snapshot  # memory-mapped from the saved files
            except OSError as error:
                # Disk full, read-only folder: keep answering from memory, and say so.
                # Named, not located: this message reaches web pages and API replies.
                report.not_saved = f"the index could not be saved in {self.store.folder.name} ({error.strerror or type(error).__name__}); it is kept in memory only"
                log.error("Index not saved in %s: %s", self.store.folder, error)
        self._install(snapshot)
        report.articles = len(snapshot.articles)
        report.passages = snapshot.passage_count
        report.seconds = time.perf_counter() - started
        self.last_report = report
        log.info("Index ready: %s", report.summary())
        return report

    def _assemble(
        self,
        old: Snapshot | None,
        articles: list[Article],
        hashes: list[str],
        reuse: list[int | None],
        excluded: frozenset[str],
    ) -> Snapshot:
        """A new snapshot: rows of unchanged articles are copied, the rest are split and embedded.

        The old approximate index is updated rather than trained again when it still fits
        (`AnnIndex.updated`): training takes about a minute at a million passages, while one
        article more or less changes only a few of them. Otherwise `ann` stays None and the store
        trains a new one when it saves."""
        splits = {i: split_article(a, self.embedder, self.settings.passages) for i, a in enumerate(articles) if reuse[i] is None}
        passage_texts = [self._vector_text(articles[i], p.text) for i, s in splits.items() for p in s.passages]
        sentence_texts = [articles[i].text[a:b] for i, s in splits.items() for a, b in s.sentences]
        progress = len(passage_texts) > self.settings.progress_bar_above
        if passage_texts:
            log.info("Embedding %d passages and %d sentences of %d articles", len(passage_texts), len(sentence_texts), len(splits))
        new_passage_vectors = self.embedder.encode(passage_texts, show_progress=progress)
        new_sentence_vectors = self.embedder.encode(sentence_texts, show_progress=progress)

        if old is not None:
            passage_bounds = np.searchsorted(old.passages[:, 0], np.arange(len(old.articles) + 1))
            sentence_bounds = np.searchsorted(old.sentences[:, 0], np.arange(len(old.articles) + 1))
        passage_rows, sentence_rows, passage_vectors, sentence_vectors = [], [], [], []
        origins: list[np.ndarray] = []  # per passage row, its row in the old snapshot (-1: new)
        n_sentences, new_p, new_s = 0, 0, 0
        for i, article in enumerate(articles):
            j = reuse[i]
            if j is not None:
                pa, pb = passage_bounds[j], passage_bounds[j + 1]
                sa, sb = sentence_bounds[j], sentence_bounds[j + 1]
                rows = np.array(old.passages[pa:pb], dtype=np.int64)
                rows[:, 0] = i
                rows[:, 3:5] += n_sentences - sa
                s_rows = np.array(old.sentences[sa:sb], dtype=np.int64)
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
        texts = [self._vector_text(articles[int(a)], articles[int(a)].text[int(s):int(e)]) for a, s, e in passages[:, :3]]
        all_passage_vectors = np.concatenate(passage_vectors) if passage_vectors else np.zeros((0, dim), np.float32)
        ann, ann_above = None, self.settings.ann_above
        if old is not None and old.ann is not None and ann_above is not None and len(passages) >= max(ann_above, 1):
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
            lexical=LexicalIndex.build(texts),
            model=self.model_id,
            dimension=dim,
            passage_settings=self.settings.passages,
            probe=tuple(float(x) for x in self._probe()),
            excluded=excluded,
            ann=ann,
        )

    @property
    def abstain_threshold(self) -> float:
        """Confidence below which `ask` abstains."""
        return self.answerer.threshold

    def _vector_text(self, article: Article, passage: str) -> str:
        """What is embedded and BM25-indexed for a passage: the article's title gives it context
        ("Normans" for a paragraph that only says "they"), within the model's window."""
        if not self.settings.passages.with_title or not article.title:
            return passage
        room = self.embedder.max_tokens - self.settings.passages.max_tokens - 1
        title = article.title
        if self.embedder.count_tokens([title])[0] > room:
            title = " ".join(title.split()[: max(room // 2, 0)])
        return f"{title}\n{passage}" if title else passage

    def _install(self, snapshot: Snapshot) -> None:
        # One assignment: a query sees either the old pair or the new one, never a mix.
        self._state = (snapshot, Retriever(snapshot, self.settings.candidates, ann_above=self.settings.ann_above))

    # ---------------------------------------------------------------- asking
    def ask(
        self,
        question: str,
        history: Iterable[Any] | None = None,
        top_k: int | None = None,
        articles: Iterable[str] | None = None,
    ) -> Answer:
        """Answer `question` from the articles, with citations; abstain when they do not answer it.

        `history` is the conversation so far, as (question, answer) pairs or chat messages
        ({"role": "user", "content": ...}); it resolves follow-ups such as "And what does it import?".
        `articles` (ids) restricts the answer, its citations and related passages to those articles;
        None or empty means all. An unknown id is a `QuestionError`.
        """
        top_k = _count(top_k, "top_k", optional=True)
        answer, ranking = self.ask_with_ranking(question, history, k=top_k or 0, articles=articles)
        if top_k:
            answer.related = ranking[:top_k]
        return answer

    def ask_with_ranking(
        self,
        question: str,
        history: Iterable[Any] | None = None,
        k: int = 10,
        abstain_below: float | None = None,
        articles: Iterable[str] | None = None,
    ) -> tuple[Answer, list[Hit]]:
        """`ask`, plus the ranked passages it drew on (at least k); `abstain_below` overrides the
        threshold (the evaluation passes 0 to see what would be answered, then applies its own)."""
        retrieval = self.retrieve(question, history, k, articles=articles)
        answer = self.answerer.answer(
            retrieval.snapshot, retrieval.question, retrieval.question_vector, retrieval.ranked, abstain_below=abstain_below
        )
        hits = [hit_for(retrieval.snapshot, r) for r in retrieval.ranked]
        return answer, reranked_by_answer(hits, answer)

    def retrieve(
        self, question: str, history: Iterable[Any] | None = None, k: int = 10, articles: Iterable[str] | None = None
    ) -> Retrieval:
        """The retrieval stage of `ask`, for answerers, evaluation and fitting scripts: the snapshot
        it read, the question's vector and the ranked passages (at least `k`; only of `articles`, if given)."""
        question = self._clean(question)
        history = self.check_history(history)
        k = _count(k, "k", low=0)
        snapshot, retriever = self._ready()
        rows = self._article_rows(snapshot, articles)
        query = contextual_query(question, history)
        vector = self.embedder.encode_query(question)
        # A follow-up retrieves with the conversation, but its sentences are chosen for the question itself.
        query_vector = vector if query == question else self.embedder.encode_query(query)
        ranked = retriever.retrieve(query_vector, query, max(self.settings.answer_passages, self.settings.related, k), articles=rows)
        return Retrieval(snapshot, question, vector, ranked)

    def search(self, query: str, k: int = 5, articles: Iterable[str] | None = None) -> list[Hit]:
        """The k passages that best match `query` (dense and lexical, fused), best first; `articles`
        (ids) restricts them to those articles, as in `ask`."""
        query = self._clean(query)
        k = _count(k, "k")
        snapshot, retriever = self._ready()
        rows = self._article_rows(snapshot, articles)
        ranked = retriever.retrieve(self.embedder.encode_query(query), query, k, articles=rows)
        return [hit_for(snapshot, r) for r in ranked]

    @staticmethod
    def _article_rows(snapshot: Snapshot, articles: Iterable[str] | None) -> np.ndarray | None:
        """The snapshot rows of the article ids `articles`, or None (all articles) when there are none."""
        if articles is None or isinstance(articles, str):
            articles = [articles] if isinstance(articles, str) else []
        ids = list(dict.fromkeys(articles))
        if not ids:
            return None
        unknown = [a for a in ids if a not in snapshot.article_index]
        if unknown:
            raise QuestionError(f"No article with id {unknown[0]!r} in the index.")
        return np.array([snapshot.article_index[a] for a in ids], dtype=np.int64)

    # ---------------------------------------------------------------- suggesting questions
    def example_questions(self, n: int = 3, per_article: int = 1, articles: int = 12, tries: int = 4) -> list[str]:
        """Up to `n` questions that this index answers: sentences of the articles turned into
        questions (`qa.questions`), each kept only when `ask` answers it (does not abstain) and cites
        the sentence it came from. At most `per_article` from one article, from the first `articles`
        articles, `tries` sentences each, so it costs a few dozen asks at most (cached per index)."""
        snapshot, _ = self._ready()
        key = ("examples", id(snapshot), n, per_article, articles, tries)
        cached = self._suggestions.get(key)
        if cached is not None:
            return list(cached)
        found: list[str] = []
        rows = range(min(len(snapshot.articles), articles))
        each = max(per_article, -(-n // max(len(rows), 1)))  # few articles: more from each
        for row in rows:
            if len(found) >= n:
                break
            found += self._verified(snapshot, self._sentences_of(snapshot, row), each, tries * each, set(found))
        found = found[:n]
        self._suggestions = {key: tuple(found)}  # one index at a time
        return found

    def follow_up_questions(self, answer: Answer, n: int = 3, exclude: Iterable[str] = (), tries: int = 8) -> list[str]:
        """Up to `n` further questions about the articles `answer` cites (or, when it abstained,
        the articles of its related passages): their other sentences near the cited ones, turned
        into questions and kept only when `ask` answers them from that sentence."""
        snapshot, _ = self._ready()
        seen = {" ".join(q.lower().split()) for q in exclude} | {" ".join(answer.question.lower().split())}
        cited = [(c.article_id, c.start, c.end) for c in answer.citations] or [
            (h.article.id, h.start, h.end) for h in answer.related[:2]
        ]
        candidates: list[tuple[int, int, int]] = []
        for article_id, start, end in cited:
            row = snapshot.article_index.get(article_id)
            if row is None:
                continue
            spans = [s for s in self._sentences_of(snapshot, row) if not (s[1] < end and start < s[2])]
            spans.sort(key=lambda s: min(abs(s[1] - end), abs(start - s[2])))  # nearest to the citation first
            candidates += spans
        return self._verified(snapshot, candidates, n, tries, seen)

    @staticmethod
    def _sentences_of(snapshot: Snapshot, row: int) -> list[tuple[int, int, int]]:
        """(article row, start, end) of each sentence of article `row`, in order."""
        column = np.asarray(snapshot.sentences[:, 0])
        first, last = np.searchsorted(column, [row, row + 1])
        return [(row, int(a), int(b)) for _, a, b in np.asarray(snapshot.sentences[first:last]).tolist()]

    def _verified(self, snapshot: Snapshot, spans: list[tuple[int, int, int]], n: int, tries: int, seen: set[str]) -> list[str]:
        from .questions import question_from_sentence

        found: list[str] = []
        asked = 0
        for row, start, end in spans:
            if len(found) >= n or asked >= tries:
                break
            article = snapshot.articles[row]
            question = question_from_sentence(article.text[start:end])
            normal = " ".join((question or "").lower().split())
            if not question or normal in seen:
                continue
            seen.add(normal)
            asked += 1
            try:
                answer = self.ask(question)
            except ValueError:
                continue
            if not answer.abstained and any(c.article_id == article.id and c.start < end and start < c.end for c in answer.citations):
                found.append(question)
        return found

    # ---------------------------------------------------------------- removed articles, feedback
    def removed_articles(self) -> list[Article]:
        """Articles removed from the index (`remove`) whose files are still in the corpus folder."""
        snapshot, _ = self._ready()
        if not snapshot.excluded:
            return []
        articles, _ = read_folder(self.corpus)
        return [a for a in articles if a.id in snapshot.excluded]

    def restore(self, article_id: str) -> IndexReport:
        """Index again an article that `remove` dropped (its file must still be in the corpus)."""
        with self._write_lock:
            started = time.perf_counter()
            old = self._current_or_saved()
            if old is None or article_id not in old.excluded:
                raise KeyError(f"No removed article with id {article_id!r}")
            articles, skipped = read_folder(self.corpus, prefer=old.article_index)
            excluded = old.excluded - {article_id}
            if article_id not in {a.id for a in articles}:
                raise KeyError(f"The file of article {article_id!r} is no longer in the corpus folder")
            return self._update(old, [a for a in articles if a.id not in excluded], skipped, excluded, started)

    @property
    def feedback(self) -> "FeedbackLog":
        """Thumbs up/down on answers, kept as JSON lines beside the index (`qa.feedback`)."""
        from .feedback import FeedbackLog

        return FeedbackLog(self.store.folder / "feedback.jsonl")

    def articles(self) -> list[Article]:
        snapshot, _ = self._ready()
        return list(snapshot.articles)

    def article(self, article_id: str) -> Article:
        snapshot, _ = self._ready()
        if article_id not in snapshot.article_index:
            raise KeyError(f"No article with id {article_id!r}")
        return snapshot.articles[snapshot.article_index[article_id]]

    def passage_counts(self) -> dict[str, int]:
        snapshot, _ = self._ready()
        counts = np.bincount(np.asarray(snapshot.passages[:, 0], dtype=np.int64), minlength=len(snapshot.articles))
        return {a.id: int(n) for a, n in zip(snapshot.articles, counts)}

    def status(self) -> dict[str, Any]:
        snapshot, _ = self._ready()
        return {
            "articles": len(snapshot.articles),
            "passages": snapshot.passage_count,
            "sentences": int(snapshot.sentences.shape[0]),
            "model": self.model_id,
            "dimension": snapshot.dimension,
            # Names, not locations: the status reaches web pages (the Corpus tab) and API replies.
            "corpus": self.corpus.resolve().name,
            "index_dir": self.store.folder.name,
            "index_bytes": self.store.size_bytes(),
        }

    def _ready(self) -> tuple[Snapshot, Retriever]:
        state = self._state
        if state is not None and state[0].files:
            damage = state[0].damage()  # before the query touches a memory map: never a SIGBUS
            if damage:
                log.error("The index files changed under the running server (%s); rebuilding the index from the corpus.", damage)
                with self._write_lock:
                    if self._state is state:
                        self._state = None
                state = None
        if state is None:
            self.refresh()
            state = self._state
        return state

    def _clean(self, question: str) -> str:
        if not isinstance(question, str):
            raise QuestionError("The question must be text.")
        question = " ".join(_CONTROL.sub(" ", question).split())
        if not question:
            raise QuestionError("Please type a question.")
        if len(question) > self.settings.max_question_chars:
            raise QuestionError(
                f"The question is too long ({len(question)} characters); "
                f"please keep it under {self.settings.max_question_chars}."
            )
        if _SURROGATE.search(question):
            raise QuestionError("The question holds invalid characters (unpaired UTF-16 surrogates such as \\ud800); send valid Unicode text.")
        return question

    def check_history(self, history: Iterable[Any] | None) -> list[Any] | None:
        """`history` as a list, or QuestionError: a list of (question, answer) pairs, chat messages
        ({"role", "content"}) or earlier questions, at most MAX_HISTORY_TURNS turns, each earlier
        question bounded like a question (it is embedded again for a follow-up)."""
        if history is None:
            return None
        shape = 'history must be a list of (question, answer) pairs or {"role": ..., "content": ...} messages'
        if isinstance(history, (str, bytes, dict)) or not isinstance(history, Iterable):
            raise QuestionError(f"{shape}, not {type(history).__name__}.")
        turns = []
        for item in history:
            turns.append(item)
            if len(turns) > MAX_HISTORY_TURNS:
                raise QuestionError(f"history is too long; send at most the last {MAX_HISTORY_TURNS} turns.")
        limit = self.settings.max_question_chars
        for item in turns:
            if isinstance(item, str):
                texts = [(item, limit)]
            elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str) and (item[1] is None or isinstance(item[1], str)):
                texts = [(item[0], limit), (item[1] or "", MAX_HISTORY_ANSWER_CHARS)]
            elif isinstance(item, dict) and set(item) <= {"role", "content"} and isinstance(item.get("role"), str) and isinstance(item.get("content"), str):
                texts = [(item["content"], limit if item["role"] == "user" else MAX_HISTORY_ANSWER_CHARS)]
            else:
                raise QuestionError(f"{shape}; one turn is a {type(item).__name__}.")
            for text, most in texts:
                if len(text) > most:
                    raise QuestionError(f"A turn in history is too long ({len(text)} characters); keep earlier questions under {limit}.")
                if _SURROGATE.search(text):
                    raise QuestionError("history holds invalid characters (unpaired UTF-16 surrogates such as \\ud800); send valid Unicode text.")
        return turns


def _count(value: Any, name: str, *, low: int = 1, high: int = MAX_TOP_K, optional: bool = False) -> int | None:
    """A whole number from `low` to `high` (None too when `optional`), or QuestionError naming `name`."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= value <= high:
        small = isinstance(value, (int, float)) and not (isinstance(value, int) and value.bit_length() > 64)
        shown = repr(value) if small or (isinstance(value, str) and len(value) <= 20) else f"a {type(value).__name__}"
        raise QuestionError(f"{name} must be a whole number from {low} to {high}, not {shown}.")
    return int(value)


def reranked_by_answer(hits: list[Hit], answer: Answer) -> list[Hit]:
    """The ranking after reading: passages the answer cites first (in citation order), then the rest
    as retrieval ranked them. The answerer read the question with each candidate sentence, so its
    choice is a better first passage than the fused retrieval score."""
    cited = [(c.article_id, c.passage_start) for c in answer.citations]
    first = [h for key in cited for h in hits if (h.article.id, h.start) == key]
    first = list(dict.fromkeys(id(h) for h in first))
    by_id = {id(h): h for h in hits}
    return [by_id[i] for i in first] + [h for h in hits if id(h) not in set(first)]


def contextual_query(question: str, history: Iterable[Any] | None) -> str:
    """The question, preceded by the previous question and the start of its answer when it reads as
    a follow-up: "Which agency reported his remarks?" after an answer naming the prime minister
    retrieves with that name."""
    turns = [(q, a) for q, a in conversation_turns(history) if q.strip()]
    if not turns:
        return question
    is_follow_up = bool(_FOLLOW_UP.search(question)) or len(terms(question)) <= 1
    if not is_follow_up:
        return question
    previous_question, previous_answer = turns[-1]
    answer_words = _MARKER.sub(" ", previous_answer or "").split()[:_FOLLOW_UP_ANSWER_WORDS]
    if previous_answer and previous_answer.strip() == NOT_FOUND:
        answer_words = []
    return " ".join([previous_question, *answer_words, question])


def conversation_turns(history: Iterable[Any] | None) -> list[tuple[str, str]]:
    """(question, answer) pairs from (q, a) pairs, plain questions, or chat messages
    ({"role": "user"|"assistant", "content": ...}); an unanswered question has answer ""."""
    turns: list[tuple[str, str]] = []
    for item in history or ():
        if isinstance(item, dict):
            content = item.get("content")
            if not isinstance(content, str):
                continue
            if item.get("role") == "user":
                turns.append((content, ""))
            elif item.get("role") == "assistant" and turns and not turns[-1][1]:
                turns[-1] = (turns[-1][0], content)
        elif isinstance(item, (tuple, list)) and item and isinstance(item[0], str):
            answer = item[1] if len(item) > 1 and isinstance(item[1], str) else ""
            turns.append((item[0], answer))
        elif isinstance(item, str):
            turns.append((item, ""))
    return turns


def safe_file_name(name: str) -> str:
    """A file name with no directory parts or odd characters, safe to create inside the corpus."""
    base = Path(name.replace("\\", "/")).name
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    stem = re.sub(r"[^\w.-]+", "-", stem).strip(".-_") or "article"
    return f"{stem[:100]}{suffix}"
