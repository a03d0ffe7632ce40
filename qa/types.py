"""The domain: what flows from articles to answers.

Articles are read from files; passages and sentences are spans of an article's text
(character offsets, so a citation can always point back into the original text);
hits are scored passages; an answer quotes sentences and cites them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Article:
    """One article as read from the corpus (a file, or one record of a JSON feed)."""

    id: str
    title: str
    text: str = field(repr=False)
    source: str  # where it came from: a URL when known, else the file's path inside the corpus
    path: str  # file path relative to the corpus folder ("feed.jsonl" for every record of a feed)
    date: str | None = None
    author: str | None = None
    url: str | None = None
    # For PDFs: character offset at which each page starts, in page order (page 1 first).
    page_starts: tuple[int, ...] = ()

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding character `offset`, for PDFs; None otherwise."""
        if not self.page_starts:
            return None
        page = 1
        for number, start in enumerate(self.page_starts, start=1):
            if start <= offset:
                page = number
            else:
                break
        return page

    def summary(self) -> dict[str, Any]:
        """Metadata without the text, for listings."""
        data = asdict(self)
        data.pop("text")
        data["page_starts"] = list(self.page_starts)
        data["characters"] = len(self.text)
        return data


@dataclass(frozen=True)
class ListedArticle(Article):
    """An article as a database store lists it: metadata and length, without the text (`text` is
    ""), so listing a large corpus never reads every text; `QA.article(id)` gives the whole article."""

    characters: int = 0

    def summary(self) -> dict[str, Any]:
        data = super().summary()
        data["characters"] = self.characters
        return data


@dataclass(frozen=True)
class Passage:
    """A window of an article's text: `article.text[start:end] == text`."""

    article_id: str
    start: int
    end: int
    text: str
    # (start, end) of each sentence in the passage, as offsets into the article text.
    sentences: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its score (higher is better)."""

    passage_id: int
    text: str
    article: Article
    score: float
    start: int
    end: int

    @property
    def page(self) -> int | None:
        return self.article.page_at(self.start)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passage_id": self.passage_id,
            "text": self.text,
            "score": round(float(self.score), 6),
            "start": self.start,
            "end": self.end,
            "page": self.page,
            "article": {
                "id": self.article.id,
                "title": self.article.title,
                "source": self.article.source,
                "date": self.article.date,
                "url": self.article.url,
            },
        }


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer: the quoted sentence(s) and the passage around them.

    `quote == article.text[start:end]`; `passage_start` locates `passage` the same way,
    so a viewer can highlight the quote inside the passage.
    """

    number: int
    article_id: str
    title: str
    source: str
    date: str | None
    passage: str
    quote: str
    start: int
    end: int
    score: float
    passage_start: int = 0
    page: int | None = None
    url: str | None = None
    # The short answer inside the quote, as article offsets (`article.text[answer_start:answer_end]
    # == Answer.short_answer`), on the citation that holds it; None elsewhere.
    answer_start: int | None = None
    answer_end: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["score"] = round(float(self.score), 6)
        return data


@dataclass
class Answer:
    """What `QA.ask` returns. `text` carries markers [n] matching `citations`; when the reader found
    a short answer (a name, a number, a phrase) it leads `text` and is `short_answer`."""

    question: str
    text: str
    abstained: bool
    confidence: float
    citations: list[Citation] = field(default_factory=list)
    related: list[Hit] = field(default_factory=list)
    short_answer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "text": self.text,
            "short_answer": self.short_answer,
            "abstained": self.abstained,
            "confidence": round(float(self.confidence), 4),
            "citations": [c.to_dict() for c in self.citations],
            "related": [h.to_dict() for h in self.related],
        }


@dataclass(frozen=True)
class SkippedFile:
    """A file (or a record of one) that could not be read, and why."""

    path: str
    reason: str
