"""The facade: `QA` ties the stages together behind the API that the CLI, the web app and users share.

articles → passages → vectors → index → hits → answer. `QA` is thin: the `Indexer` (qa/indexer.py)
builds, updates and saves the index (incrementally: only new or changed articles are embedded), the
`Retriever` ranks passages, the answerer composes answers. Queries read an immutable snapshot, so
they keep answering from the old index while a new one is being built. What it reads goes through
a `qa.catalog.Catalog`: the local store's snapshot, or a PostgreSQL store queried per question
(`qa.pgsearch`), so both stores share this one code path.
"""
from __future__ import annotations

import logging
import numbers
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from .answerers import create_answerer
from .answering import NOT_FOUND
from .catalog import Catalog, Found, SnapshotCatalog
from .embedding import Embedder
from .indexer import IndexNotSaved, IndexReport, UploadTooLarge, human_size, open_indexer, safe_file_name
from .lexical import terms
from .retrieval import RankedPassage, Retriever
from .settings import Settings
from .store import IndexStore, Snapshot
from .types import Answer, Article, Hit

if TYPE_CHECKING:
    from .feedback import FeedbackLog

log = logging.getLogger(__name__)

__all__ = [
    "QA", "IndexNotSaved", "IndexReport", "QuestionError", "Retrieval", "UploadTooLarge", "human_size", "safe_file_name",
    "contextual_query", "conversation_turns", "reranked_by_answer", "MAX_HISTORY_TURNS", "MAX_TOP_K",
]


@dataclass(frozen=True)
class Retrieval:
    """What retrieval gives the answer stage: ranked passages of one snapshot for one question
    (on a database store, a small snapshot of the ranked passages' articles: `qa.pgsearch`)."""

    snapshot: Snapshot
    question: str  # cleaned
    question_vector: np.ndarray
    ranked: list[RankedPassage]
    found: Found | None = None

    def hits(self) -> list[Hit]:
        """The ranked passages as hits, with the store's passage ids."""
        return (self.found or Found(self.snapshot, self.ranked)).hits()

    def store_ids(self, hits: list[Hit]) -> list[Hit]:
        """`hits` of this retrieval's snapshot (an answerer's related passages) with the store's passage ids."""
        if self.found is None or self.found.passage_ids is None:
            return hits
        return [replace(h, passage_id=self.found.passage_ids[h.passage_id]) for h in hits]


class QuestionError(ValueError):
    """A question that cannot be asked (empty, too long); the message says what to change."""


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
        self.embedder = embedder or Embedder(self.settings.model, batch_size=self.settings.batch_size, backend=self.settings.backend)
        self.indexer = open_indexer(self.settings, self.embedder)
        self.catalog: Catalog = open_catalog(self.indexer, self.settings)
        self.answerer = create_answerer(self.settings)
        self._suggestions: dict[tuple, tuple[str, ...]] = {}

    # The index's parts, for callers that had them on QA.
    @property
    def corpus(self) -> Path | None:
        return self.indexer.corpus

    @property
    def store(self) -> IndexStore:
        return self.indexer.store

    @store.setter
    def store(self, store: IndexStore) -> None:
        self.indexer.store = store

    @property
    def model_id(self) -> str:
        return self.indexer.model_id

    @property
    def last_report(self) -> IndexReport:
        return self.indexer.last_report

    @property
    def max_file_bytes(self) -> int:
        return self.indexer.max_file_bytes

    def current(self) -> tuple[Snapshot, Retriever]:
        """The snapshot queries read now and its retriever (for benchmarks and fitting scripts); built
        from the corpus when there is none yet. A database store has none (RuntimeError): use `retrieve`."""
        return self.indexer.current()

    # ---------------------------------------------------------------- building
    @classmethod
    def from_folder(
        cls,
        corpus: str | Path = "corpus",
        index_dir: str | Path | None = None,
        model: str | None = None,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        store: str | None = None,
    ) -> "QA":
        """Build, update or load the index of `corpus`, and return a ready QA.

        `store` (or QA_STORE) is a PostgreSQL URL to keep the index in a database that several app
        servers share; `corpus` may then be None (the database's articles are used as they are)."""
        if settings is not None and store is None:
            store = settings.store
        if store is None and settings is None:
            store = Settings.from_env().store
        if corpus is None and store:
            pass  # a database store needs no folder
        elif not isinstance(corpus, (str, os.PathLike)) or not str(corpus).strip():
            raise ValueError("No corpus folder given: pass the folder of articles, e.g. QA.from_folder(\"corpus\").")
        folder = Path(corpus) if corpus is not None else None
        if settings is None:
            settings = replace(Settings.from_env(corpus=corpus, index_dir=index_dir, model=model), corpus=folder, store=store)
        else:
            settings = replace(settings, corpus=folder, index_dir=index_dir or settings.index_dir, store=store)
        qa = cls(settings, embedder)
        qa.remove_upload_leftovers()
        qa.refresh()
        return qa

    def refresh(self) -> IndexReport:
        """Re-scan the corpus folder: embed new or changed articles, drop removed ones."""
        return self.indexer.refresh()

    def add(self, path: str | Path) -> IndexReport:
        """Copy an article file into the corpus (if it is not there yet) and index it."""
        return self.indexer.add(path)

    def add_upload(self, filename: str, data: bytes) -> IndexReport:
        """Index an uploaded file: its name is sanitised, its size and type checked, and it is
        stored only inside the corpus folder (whatever path the name claims)."""
        return self.indexer.add_upload(filename, data)

    def remove_upload_leftovers(self) -> list[str]:
        """Remove what processes killed during an upload left in the corpus; returns their names."""
        return self.indexer.remove_upload_leftovers()

    def remove(self, article_id: str) -> Article:
        """Drop an article from the index (its file stays; it is not indexed again)."""
        return self.indexer.remove(article_id)

    @property
    def abstain_threshold(self) -> float:
        """Confidence below which `ask` abstains."""
        return self.answerer.threshold

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
        answer.related = retrieval.store_ids(answer.related)
        return answer, reranked_by_answer(retrieval.hits(), answer)

    def retrieve(
        self, question: str, history: Iterable[Any] | None = None, k: int = 10, articles: Iterable[str] | None = None
    ) -> Retrieval:
        """The retrieval stage of `ask`, for answerers, evaluation and fitting scripts: the snapshot
        it read, the question's vector and the ranked passages (at least `k`; only of `articles`, if given)."""
        question = self._clean(question)
        history = self.check_history(history)
        k = _count(k, "k", low=0)
        ids = self._article_ids(articles)
        query = contextual_query(question, history)
        vector = self.embedder.encode_query(question)
        # A follow-up retrieves with the conversation, but its sentences are chosen for the question itself.
        query_vector = vector if query == question else self.embedder.encode_query(query)
        found = self._find(query_vector, query, question, max(self.settings.answer_passages, self.settings.related, k), ids)
        return Retrieval(found.snapshot, question, vector, found.ranked, found)

    def search(self, query: str, k: int = 5, articles: Iterable[str] | None = None) -> list[Hit]:
        """The k passages that best match `query` (dense and lexical, fused), best first; `articles`
        (ids) restricts them to those articles, as in `ask`."""
        query = self._clean(query)
        k = _count(k, "k")
        ids = self._article_ids(articles)
        return self._find(self.embedder.encode_query(query), query, query, k, ids).hits()

    def _find(self, query_vector: np.ndarray, query: str, question: str, k: int, ids: list[str] | None) -> Found:
        try:
            return self.catalog.find(query_vector, query, question, k, articles=ids)
        except KeyError as error:
            raise QuestionError(f"No article with id {error.args[0]!r} in the index.") from None

    @staticmethod
    def _article_ids(articles: Iterable[str] | None) -> list[str] | None:
        """The article ids `articles` without repeats, or None (all articles) when there are none."""
        if articles is None or isinstance(articles, str):
            articles = [articles] if isinstance(articles, str) else []
        ids = list(dict.fromkeys(articles))
        return ids or None

    # ---------------------------------------------------------------- suggesting questions
    def example_questions(self, n: int = 3, per_article: int = 1, articles: int = 12, tries: int = 4) -> list[str]:
        """Up to `n` questions that this index answers: sentences of the articles turned into
        questions (`qa.questions`), each kept only when `ask` answers it (does not abstain) and cites
        the sentence it came from. At most `per_article` from one article, from the first `articles`
        articles, `tries` sentences each, so it costs a few dozen asks at most (cached per index)."""
        key = ("examples", self.catalog.version(), n, per_article, articles, tries)
        cached = self._suggestions.get(key)
        if cached is not None:
            return list(cached)
        found: list[str] = []
        ids = self.catalog.article_ids(articles)
        each = max(per_article, -(-n // max(len(ids), 1)))  # few articles: more from each
        for article_id in ids:
            if len(found) >= n:
                break
            found += self._verified(self._sentences_of(article_id), each, tries * each, set(found))
        found = found[:n]
        self._suggestions = {key: tuple(found)}  # one index at a time
        return found

    def follow_up_questions(self, answer: Answer, n: int = 3, exclude: Iterable[str] = (), tries: int = 8) -> list[str]:
        """Up to `n` further questions about the articles `answer` cites (or, when it abstained,
        the articles of its related passages): their other sentences near the cited ones, turned
        into questions and kept only when `ask` answers them from that sentence."""
        seen = {" ".join(q.lower().split()) for q in exclude} | {" ".join(answer.question.lower().split())}
        cited = [(c.article_id, c.start, c.end) for c in answer.citations] or [
            (h.article.id, h.start, h.end) for h in answer.related[:2]
        ]
        candidates: list[tuple[Article, int, int]] = []
        for article_id, start, end in cited:
            try:
                sentences = self._sentences_of(article_id)
            except KeyError:  # removed since
                continue
            spans = [s for s in sentences if not (s[1] < end and start < s[2])]
            spans.sort(key=lambda s: min(abs(s[1] - end), abs(start - s[2])))  # nearest to the citation first
            candidates += spans
        return self._verified(candidates, n, tries, seen)

    def _sentences_of(self, article_id: str) -> list[tuple[Article, int, int]]:
        """(article, start, end) of each sentence of an article, in order (KeyError: no such article)."""
        article = self.catalog.article(article_id)
        return [(article, a, b) for a, b in self.catalog.sentence_spans(article_id)]

    def _verified(self, spans: list[tuple[Article, int, int]], n: int, tries: int, seen: set[str]) -> list[str]:
        from .questions import question_from_sentence

        found: list[str] = []
        asked = 0
        for article, start, end in spans:
            if len(found) >= n or asked >= tries:
                break
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
        return self.indexer.removed_articles()

    def restore(self, article_id: str) -> IndexReport:
        """Index again an article that `remove` dropped (its file must still be in the corpus)."""
        return self.indexer.restore(article_id)

    @property
    def feedback(self) -> "FeedbackLog":
        """Thumbs up/down on answers, kept as JSON lines beside the index (`qa.feedback`)."""
        from .feedback import FeedbackLog

        return FeedbackLog(self.indexer.feedback_path)

    def articles(self) -> list[Article]:
        """The indexed articles, in order. On a database store they come without their texts
        (`qa.types.ListedArticle`: `text` is "", `summary()` has the length); `article(id)` has it."""
        return self.catalog.articles()

    def article(self, article_id: str) -> Article:
        """One article, with its text; KeyError when there is none with that id."""
        return self.catalog.article(article_id)

    def passage_counts(self) -> dict[str, int]:
        return self.catalog.passage_counts()

    def status(self) -> dict[str, Any]:
        counts = self.catalog.counts()
        return {
            "articles": counts["articles"],
            "passages": counts["passages"],
            "sentences": counts["sentences"],
            "model": self.model_id,
            "dimension": counts["dimension"],
            # Names, not locations: the status reaches web pages (the Corpus tab) and API replies.
            "corpus": self.corpus.resolve().name if self.corpus is not None else None,
            "index_dir": self.store.name,
            "index_bytes": self.store.size_bytes(),
        }

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


def open_catalog(indexer: Any, settings: Settings) -> Catalog:
    """What `QA` reads: the database queried per question for a PostgreSQL store (`qa.pgsearch`), else the indexer's snapshot."""
    if settings.store:
        from .pgsearch import PgCatalog

        return PgCatalog(indexer.store, settings.candidates)
    return SnapshotCatalog(indexer)


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
