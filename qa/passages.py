"""Passages: split an article into sentence-aware windows that fit the embedding model.

Sentences come from Bling Fire's sentence breaker (a maintained, fast finite-state splitter);
windows follow paragraph breaks, merge short paragraphs, split long ones with a one-sentence
overlap, and are measured with the model's own tokenizer so nothing is silently truncated.
Every span is a pair of character offsets into the article text, so citations point back exactly.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

import blingfire

from .types import Article, Passage

log = logging.getLogger(__name__)

Span = tuple[int, int]
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")


class Tokenizer(Protocol):
    def count_tokens(self, texts: list[str]) -> list[int]: ...

    def token_spans(self, text: str) -> list[Span]: ...


@dataclass(frozen=True)
class PassageSettings:
    """How articles are cut. Part of the index manifest: changing it rebuilds the index."""

    max_tokens: int = 200  # word pieces per passage (all-MiniLM-L6-v2 reads at most 254)
    overlap_sentences: int = 1  # sentences repeated between windows of one long paragraph
    with_title: bool = True  # embed and BM25-index each passage with its article's title


@dataclass(frozen=True)
class ArticleSplit:
    """An article's sentences, and its passages as ranges over those sentences."""

    sentences: list[Span]
    passages: list[Passage]
    passage_sentences: list[Span]  # [first, last) sentence index of each passage


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def paragraphs(text: str) -> list[Span]:
    """Paragraph spans: blank-line separated if the text has blank lines, else one per line."""
    splitter = _BLANK_LINE if _BLANK_LINE.search(text) else re.compile(r"\n")
    spans, start = [], 0
    for match in splitter.finditer(text):
        spans.append(_trim(text, start, match.start()))
        start = match.end()
    spans.append(_trim(text, start, len(text)))
    return [(a, b) for a, b in spans if b > a]


def sentences(text: str, start: int, end: int) -> list[Span]:
    """Sentence spans of text[start:end] that together cover it (nothing between them is lost)."""
    chunk = text[start:end]
    try:
        _, offsets = blingfire.text_to_sentences_and_offsets(chunk)
        starts = sorted({a for a, _ in offsets if 0 <= a < len(chunk)})
    except Exception:  # noqa: BLE001 - the splitter rejects some inputs; keep the text whole
        starts = []
    if not starts or starts[0] != 0:
        starts = [0] + starts
    bounds = starts + [len(chunk)]
    spans = [_trim(text, start + a, start + b) for a, b in zip(bounds, bounds[1:])]
    return [(a, b) for a, b in spans if b > a]


def _cut_long_sentence(text: str, span: Span, tokenizer: Tokenizer, max_tokens: int) -> list[Span]:
    """Cut a sentence longer than the model's window at word starts, each piece within the window."""
    start, end = span
    pieces = tokenizer.token_spans(text[start:end])
    bounds, i = [start], max_tokens
    while i < len(pieces):
        cut = i
        # Step back to a word start (a word piece that follows a gap), so no word is split.
        while cut > i - max_tokens // 2 and pieces[cut][0] == pieces[cut - 1][1]:
            cut -= 1
        if cut <= i - max_tokens // 2:
            cut = i
        bounds.append(start + pieces[cut][0])
        i = cut + max_tokens
    bounds.append(end)
    spans = [_trim(text, a, b) for a, b in zip(bounds, bounds[1:])]
    spans = [(a, b) for a, b in spans if b > a]
    counts = tokenizer.count_tokens([text[a:b] for a, b in spans])
    out: list[Span] = []
    for piece, count in zip(spans, counts):
        if count > max_tokens and max_tokens > 8:  # re-tokenised pieces can grow slightly
            out.extend(_cut_long_sentence(text, piece, tokenizer, max_tokens - 8))
        else:
            out.append(piece)
    return out


def _windows(tokens: list[int], first: int, last: int, settings: PassageSettings) -> list[Span]:
    """Sentence ranges of at most max_tokens over sentences [first, last), overlapping a little."""
    out, i = [], first
    while i < last:
        j, total = i, 0
        while j < last and (j == i or total + tokens[j] <= settings.max_tokens):
            total += tokens[j]
            j += 1
        out.append((i, j))
        if j >= last:
            break
        back = j - settings.overlap_sentences
        fits = back > i and sum(tokens[back:j]) + tokens[j] <= settings.max_tokens
        i = back if fits else j
    return out


def split_article(article: Article, tokenizer: Tokenizer, settings: PassageSettings) -> ArticleSplit:
    text = article.text
    sentence_spans: list[Span] = []
    paragraph_ranges: list[Span] = []
    for para_start, para_end in paragraphs(text):
        first = len(sentence_spans)
        for span in sentences(text, para_start, para_end):
            sentence_spans.append(span)
        paragraph_ranges.append((first, len(sentence_spans)))

    tokens = tokenizer.count_tokens([text[a:b] for a, b in sentence_spans])
    if any(t > settings.max_tokens for t in tokens):
        sentence_spans, tokens, paragraph_ranges = _cut_oversized(
            text, sentence_spans, tokens, paragraph_ranges, tokenizer, settings.max_tokens
        )

    ranges: list[Span] = []
    current: Span | None = None
    current_tokens = 0
    for first, last in paragraph_ranges:
        para_tokens = sum(tokens[first:last])
        if para_tokens > settings.max_tokens:
            if current:
                ranges.append(current)
                current = None
            ranges.extend(_windows(tokens, first, last, settings))
            continue
        # Short paragraphs join the window until it is half full; a window never overflows.
        full = current_tokens + para_tokens > settings.max_tokens or current_tokens >= settings.max_tokens // 2
        if current and full:
            ranges.append(current)
            current = None
        if current is None:
            current, current_tokens = (first, last), para_tokens
        else:
            current, current_tokens = (current[0], last), current_tokens + para_tokens
    if current:
        ranges.append(current)

    passages = []
    for first, last in ranges:
        start, end = sentence_spans[first][0], sentence_spans[last - 1][1]
        passages.append(
            Passage(
                article_id=article.id,
                start=start,
                end=end,
                text=text[start:end],
                sentences=tuple(sentence_spans[first:last]),
            )
        )
    return ArticleSplit(sentence_spans, passages, ranges)


def _cut_oversized(text, spans, tokens, paragraph_ranges, tokenizer, max_tokens):
    """Replace each sentence over the limit by word-piece chunks; keep paragraph ranges in step."""
    new_spans: list[Span] = []
    new_ranges: list[Span] = []
    for first, last in paragraph_ranges:
        begin = len(new_spans)
        for k in range(first, last):
            if tokens[k] > max_tokens:
                new_spans.extend(_cut_long_sentence(text, spans[k], tokenizer, max_tokens))
            else:
                new_spans.append(spans[k])
        new_ranges.append((begin, len(new_spans)))
    new_tokens = tokenizer.count_tokens([text[a:b] for a, b in new_spans])
    return new_spans, new_tokens, new_ranges
