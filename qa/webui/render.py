"""HTML renderers of the web chat: answers, sources, related passages, the corpus listing and reports.

Pure functions from the engine's types (`Answer`, `Citation`, `Hit`, `Article`) to HTML strings, kept
apart from Gradio so they can be tested without a server and reused by any front end.

Safety: every string that comes from an article or a user (text, titles, dates, sources, urls, file
names, error messages) goes through `html.escape`; only absolute http(s) urls become links; no
event-handler attribute or script is ever emitted (and Gradio's sanitizer runs on chat messages too).
"""
from __future__ import annotations

import html
import re
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

from ..types import Answer, Article, Citation, Hit

TAGLINE = "Answers come only from your articles, and every answer cites them."
NOT_FOUND = "Not found in the articles."
THINKING = "Searching the articles…"
RELATED_CHARS = 240  # characters of a related passage shown
MAX_SCORE = 1.3  # the retrieval score's ceiling: 0.5 passage cosine + 0.5 sentence cosine + 0.3 BM25
STREAM_WORDS = 4  # words added per streamed update

_MARKER = re.compile(r"\[(\d+)\]")
_NEWLINES = re.compile(r"\s*\n\s*")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_LINE_BREAK = re.compile(r"[ \t]*\n\s*")
_KEY = re.compile(r"[^A-Za-z0-9_-]")


# ------------------------------------------------------------------ pure formatting
def escape(text: Any) -> str:
    """`text` as HTML-safe text on one line: blank lines become a paragraph gap, other newlines a
    <br>, so a reply stays one HTML block (Markdown never reaches article text)."""
    if text is None:
        return ""
    text = html.escape(str(text).strip("\n"), quote=True)
    parts = _PARAGRAPH_BREAK.split(text)
    return "<br><br>".join(_NEWLINES.sub("<br>", part) for part in parts)


def safe_url(url: Any) -> str | None:
    """`url` if it is an absolute http(s) url, else None (no javascript:, data:, relative, ...)."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def link(text: Any, url: Any) -> str:
    """Escaped `text`, as a link to `url` when that is a safe http(s) url."""
    target = safe_url(url)
    if target is None:
        return escape(text)
    return f'<a href="{html.escape(target, quote=True)}" target="_blank" rel="noopener noreferrer nofollow">{escape(text)}</a>'


def dom_key(key: Any) -> str:
    """`key` reduced to characters safe in an element id."""
    return _KEY.sub("", str(key)) or "qa"


def source_id(key: str, number: int) -> str:
    """The element id of source `number` of the reply `key` (what its badge links to)."""
    return f"{dom_key(key)}-src{int(number)}"


def format_text(text: str, key: str = "qa") -> str:
    """Answer text, escaped, with each citation marker [n] as a badge linking to source n."""
    def badge(match: re.Match) -> str:
        n = int(match.group(1))
        return f'<a class="qa-ref" href="#{source_id(key, n)}" title="Show source {n}">{n}</a>'

    return _MARKER.sub(badge, escape(text))


def stream_prefixes(text: str, words: int = STREAM_WORDS) -> list[str]:
    """Ever longer prefixes of `text`, a few words at a time, each ending at a word; the last is
    `text`. A marker [n] always arrives with the word before it."""
    tokens = re.findall(r"\S+\s*", text or "")
    prefixes: list[str] = []
    taken = ""
    pending = 0
    for i, token in enumerate(tokens):
        taken += token
        pending += 0 if _MARKER.fullmatch(token.strip()) else 1
        next_is_marker = i + 1 < len(tokens) and _MARKER.fullmatch(tokens[i + 1].strip())
        if pending >= words and not next_is_marker:
            prefixes.append(taken.rstrip())
            pending = 0
    if not prefixes or prefixes[-1] != (text or "").rstrip():
        prefixes.append((text or "").rstrip())
    return prefixes


def _quote_span(passage: str, quote: str, offset: int | None) -> tuple[int, int] | None:
    """Where `quote` sits in `passage` (trusting `offset` when it matches), or None."""
    if not quote:
        return None
    if offset is not None and 0 <= offset and passage[offset : offset + len(quote)] == quote:
        return offset, offset + len(quote)
    found = passage.find(quote)
    return (found, found + len(quote)) if found >= 0 else None


def _paragraphs(text: str) -> str:
    """Escaped text whose paragraphs (split at any line break: HTML and feed articles separate
    paragraphs with one newline) are <p> elements, so breaks survive any sanitizer or white-space rule."""
    return "".join(f"<p>{escape(part)}</p>" for part in _LINE_BREAK.split(text) if part.strip()) or ""


def mark_spans(
    text: str, spans: Sequence[tuple[int, int, int | None]], strong: Sequence[tuple[int, int]] = ()
) -> str:
    """`text` as paragraphs (<p>), each span (start, end, number) in <mark> (split at paragraph breaks,
    so a quote across two paragraphs is marked in both), with its number after it when given; the
    `strong` spans (the short answer inside a quote) in <strong>."""
    spans = sorted((max(a, 0), min(b, len(text)), n) for a, b, n in spans if b > a)
    strong = [(max(a, 0), min(b, len(text))) for a, b in strong if b > a]
    cuts = sorted({0, len(text), *(a for a, _, _ in spans), *(b for _, b, _ in spans), *(x for span in strong for x in span)})
    out: list[str] = ["<p>"]
    for a, b in zip(cuts, cuts[1:]):
        inside = [n for x, y, n in spans if x <= a and b <= y]
        bold = any(x <= a and b <= y for x, y in strong)
        pieces = _LINE_BREAK.split(text[a:b])
        for i, piece in enumerate(pieces):
            if i:
                out.append("</p><p>")
            if piece:
                shown = f"<strong>{escape(piece)}</strong>" if bold else escape(piece)
                out.append(f"<mark>{shown}</mark>" if inside else shown)
        ends = [n for x, y, n in spans if y == b and n is not None]
        out += [f'<sup class="qa-mark-num">{int(n)}</sup>' for n in ends]
    out.append("</p>")
    return "".join(out).replace("<p></p>", "")


def highlight(passage: str, quote: str, offset: int | None) -> str:
    """The passage as paragraphs, with `quote` (expected at `offset` in it) wrapped in <mark>."""
    passage = passage or ""
    quote = quote or ""
    span = _quote_span(passage, quote, offset)
    if span is None:
        # The quote is not in the passage (should not happen): show both rather than lose the quote.
        if not quote:
            return _paragraphs(passage)
        return f"<p><mark>{escape(quote)}</mark></p>" + _paragraphs(passage)
    return mark_spans(passage, [(span[0], span[1], None)])


def excerpt_bounds(passage: str, start: int, end: int) -> tuple[int, int]:
    """The paragraphs of `passage` that hold passage[start:end], as (first char, end char). A
    paragraph ends at any line break."""
    first = max([0] + [m.end() for m in _LINE_BREAK.finditer(passage) if m.end() <= start])
    after = [m.start() for m in _LINE_BREAK.finditer(passage) if m.start() >= end]
    return first, (min(after) if after else len(passage))


def format_passage(passage: str, quote: str, offset: int | None) -> str:
    """The paragraph(s) of the passage around the quote, the quote marked, with "…" where the
    passage goes on."""
    passage = passage or ""
    span = _quote_span(passage, quote or "", offset)
    if span is None:
        return f'<blockquote class="qa-passage">{highlight(passage, quote, offset)}</blockquote>'
    return _excerpt(passage, [(span[0], span[1], None)])


def _excerpt(text: str, spans: Sequence[tuple[int, int, int | None]], strong: Sequence[tuple[int, int]] = ()) -> str:
    first = min(excerpt_bounds(text, a, b)[0] for a, b, _ in spans)
    last = max(excerpt_bounds(text, a, b)[1] for a, b, _ in spans)
    body = mark_spans(text[first:last], [(a - first, b - first, n) for a, b, n in spans], [(a - first, b - first) for a, b in strong])
    lead = '<p class="qa-more">…</p>' if text[:first].strip() else ""
    tail = '<p class="qa-more">…</p>' if text[last:].strip() else ""
    return f'<blockquote class="qa-passage">{lead}{body}{tail}</blockquote>'


def relevance(score: float) -> float:
    """A retrieval score as a share of its ceiling, in [0, 1]."""
    try:
        value = float(score) / MAX_SCORE
    except (TypeError, ValueError):
        return 0.0
    return min(max(value, 0.0), 1.0) if value == value else 0.0


def format_relevance(score: float) -> str:
    """A small bar showing how well the passage matches the question."""
    share = relevance(score)
    return (
        f'<span class="qa-relevance" title="Relevance {share:.0%} (match score {float(score):.2f})">relevance'
        f'<span class="qa-bar"><span style="width:{share * 100:.0f}%"></span></span></span>'
    )


def confidence_level(confidence: float) -> str:
    """"high", "medium" or "low" for a calibrated confidence (the chance the answer is right)."""
    if confidence >= 0.7:
        return "high"
    if confidence >= 0.5:
        return "medium"
    return "low"


def origin_html(source: str | None, url: str | None) -> str:
    """Where an article came from: a link when it has an http(s) url, else its file name."""
    target = safe_url(url) or safe_url(source)
    if target is not None:
        parts = urlsplit(target)
        shown = (parts.netloc + parts.path).rstrip("/")
        if len(shown) > 60:
            shown = shown[:57] + "…"
        return link(shown, target)
    return escape(source) if source else ""


def _meta(date: str | None, source: str | None, url: str | None, page: int | None, score: float | None) -> str:
    parts = []
    if date:
        parts.append(escape(date))
    origin = origin_html(source, url)
    if origin:
        parts.append(origin)
    if page is not None:
        parts.append(f"p. {int(page)}")
    if score is not None:
        parts.append(format_relevance(score))
    return " · ".join(parts)


ARTICLE_CHARS = 60_000  # an article longer than this opens as a window of it around the quotes


def _group(citations: Sequence[Citation]) -> list[list[Citation]]:
    """Citations grouped by article, in order of first citation: one card per article."""
    groups: dict[str, list[Citation]] = {}
    for c in citations:
        groups.setdefault(c.article_id, []).append(c)
    return list(groups.values())


def _merged_excerpts(group: Sequence[Citation]) -> list[tuple[int, str, list[Citation]]]:
    """The group's passages, overlapping ones merged: (article offset, text, citations in it)."""
    pieces: list[tuple[int, str, list[Citation]]] = []
    for c in sorted(group, key=lambda c: c.passage_start):
        if pieces:
            start, text, cited = pieces[-1]
            end = start + len(text)
            if c.passage_start <= end:  # overlapping or touching: one excerpt
                extra = c.passage[end - c.passage_start :] if c.passage_start + len(c.passage) > end else ""
                pieces[-1] = (start, text + extra, cited + [c])
                continue
        pieces.append((c.passage_start, c.passage, [c]))
    return pieces


def _spans(offset: int, text: str, cited: Sequence[Citation]) -> list[tuple[int, int, int | None]]:
    spans = []
    for c in cited:
        span = _quote_span(text, c.quote, c.start - offset)
        if span is not None:
            spans.append((span[0], span[1], c.number))
    return spans


def short_answer_spans(cited: Sequence[Citation], offset: int = 0) -> list[tuple[int, int]]:
    """The short answer's offsets (relative to `offset`) on the citations that hold one."""
    return [
        (c.answer_start - offset, c.answer_end - offset)
        for c in cited
        if getattr(c, "answer_start", None) is not None and getattr(c, "answer_end", None) is not None
    ]


def format_whole_article(
    text: str, spans: Sequence[tuple[int, int, int | None]], strong: Sequence[tuple[int, int]] = ()
) -> str:
    """The article (or, when very long, the part of it around the quotes) with the quotes marked,
    behind a "Whole article" disclosure."""
    if not text:
        return ""
    first, last = 0, len(text)
    if len(text) > ARTICLE_CHARS and spans:
        middle = (min(a for a, _, _ in spans) + max(b for _, b, _ in spans)) // 2
        first = max(0, middle - ARTICLE_CHARS // 2)
        last = min(len(text), first + ARTICLE_CHARS)
        spans = [(max(a, first), min(b, last), n) for a, b, n in spans if b > first and a < last]
    body = mark_spans(text[first:last], [(a - first, b - first, n) for a, b, n in spans], [(a - first, b - first) for a, b in strong])
    lead = '<p class="qa-more">…</p>' if first else ""
    tail = '<p class="qa-more">…</p>' if last < len(text) else ""
    return (
        '<details class="qa-whole"><summary>Whole article</summary>'
        f'<div class="qa-article-text">{lead}{body}{tail}</div></details>'
    )


def format_source_card(group: Sequence[Citation], key: str = "qa", article_text: str | None = None) -> str:
    """One article's card: its title once, date, origin (a link for http(s) urls), then each cited
    excerpt (overlapping passages merged) with its quotes marked and numbered, and the whole article
    one click away when its text is given. Each citation number has an element with its id, which
    the badges [n] link to."""
    head = group[0]
    title = escape(head.title or head.source or head.article_id)
    numbers = "".join(f'<span class="qa-num">{int(c.number)}</span>' for c in group)
    pages = sorted({c.page for c in group if c.page is not None})
    meta = _meta(head.date, head.source, head.url, None, max(c.score for c in group))
    if pages:
        meta += " · " + ", ".join(f"p. {int(p)}" for p in pages)
    parts = [
        '<div class="qa-src">',
        f'<div class="qa-src-head">{numbers}<span class="qa-title">{title}</span></div>',
        f'<div class="qa-meta">{meta}</div>',
    ]
    for offset, text, cited in _merged_excerpts(group):
        ids = "".join(f'<span class="qa-anchor" id="{source_id(key, c.number)}" tabindex="-1"></span>' for c in cited)
        spans = _spans(offset, text, cited)
        excerpt = _excerpt(text, spans, short_answer_spans(cited, offset)) if spans else f'<blockquote class="qa-passage">{highlight(text, cited[0].quote, None)}</blockquote>'
        parts.append(f'<div class="qa-cite">{ids}{excerpt}</div>')
    if article_text:
        spans = [(c.start, c.end, c.number) for c in group if article_text[c.start : c.end] == c.quote]
        parts.append(format_whole_article(article_text, spans, short_answer_spans(group)))
    parts.append("</div>")
    return "".join(parts)


def format_citation(citation: Citation, key: str = "qa", article_text: str | None = None) -> str:
    """A single numbered source (a card of one citation)."""
    return format_source_card([citation], key, article_text)


def shorten(text: str, limit: int = RELATED_CHARS) -> str:
    """`text` on one line, cut at a word boundary to at most about `limit` characters."""
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return cut.rstrip(" ,;:.") + " …"


def format_related(hits: Sequence[Hit] | Hit) -> str:
    """Related passages, one card per article: its title, date and origin once, then a short excerpt
    of each passage with its relevance."""
    hits = [hits] if isinstance(hits, Hit) else list(hits)
    groups: dict[str, list[Hit]] = {}
    for hit in hits:
        groups.setdefault(hit.article.id, []).append(hit)
    cards = []
    for group in groups.values():
        article = group[0].article
        title = escape(article.title or article.source or article.id)
        meta = _meta(article.date, article.source, article.url, None, None)
        items = "".join(
            f'<blockquote class="qa-passage"><p>{escape(shorten(h.text))}</p>'
            f'<p class="qa-meta">{" · ".join(x for x in ((f"p. {h.page}" if h.page is not None else ""), format_relevance(h.score)) if x)}</p></blockquote>'
            for h in group
        )
        cards.append(
            f'<div class="qa-src qa-related"><div class="qa-src-head"><span class="qa-title">{title}</span></div>'
            f'<div class="qa-meta">{meta}</div>{items}</div>'
        )
    return "".join(cards)


def _origin_text(source: str | None, url: str | None, page: int | None) -> str:
    origin = safe_url(url) or source or ""
    return origin + (f", p. {int(page)}" if page is not None else "")


def plain_text(answer: Answer) -> str:
    """The question, the answer and its sources (or the related passages) as plain text, to copy."""
    lines = [f"Q: {answer.question}", ""]
    if answer.abstained:
        lines.append(NOT_FOUND)
        if answer.related:
            lines += ["", "Related:"]
            for hit in answer.related:
                a = hit.article
                meta = " — ".join(x for x in (a.date, _origin_text(a.source, a.url, hit.page)) if x)
                lines.append(f"- {a.title or a.source}" + (f" — {meta}" if meta else ""))
                lines.append(f"  “{shorten(hit.text)}”")
        return "\n".join(lines)
    lines.append(" ".join(answer.text.split()))
    if answer.citations:
        lines += ["", "Sources:"]
        for c in answer.citations:
            meta = " — ".join(x for x in (c.date, _origin_text(c.source, c.url, c.page)) if x)
            lines.append(f"[{c.number}] {c.title or c.source}" + (f" — {meta}" if meta else ""))
            lines.append(f"    “{' '.join(c.quote.split())}”")
    lines += ["", f"Confidence: {answer.confidence:.0%} ({confidence_level(answer.confidence)})"]
    return "\n".join(lines)


def _plain_block(text: str) -> str:
    # Hidden text for the Copy button; newlines as character references keep the reply one HTML block.
    return '<pre class="qa-plain" hidden>' + html.escape(text, quote=True).replace("\n", "&#10;") + "</pre>"


def _foot(answer: Answer) -> str:
    if answer.abstained:
        # No percentage: a refusal at "33%" next to answers shown at 40% reads as a contradiction.
        conf = '<span class="qa-conf qa-conf-none" title="The evidence was too weak to answer">Not answered</span>'
    else:
        level = confidence_level(answer.confidence)
        conf = (
            f'<span class="qa-conf qa-conf-{level}" title="Calibrated: the chance that this answer is right">'
            f"Confidence {answer.confidence:.0%} · {level}</span>"
        )
    button = '<button class="qa-copy" type="button" title="Copy the answer and its sources as plain text">Copy answer + sources</button>'
    return f'<div class="qa-foot">{conf}{button}</div>{_plain_block(plain_text(answer))}'


def format_answer(answer: Answer, key: str = "qa", articles: Callable[[str], str | None] | None = None) -> str:
    """An answer as the HTML of a chat reply: the text with badges and one card per cited article,
    or "not found" and the related passages; then confidence and a copy button. `key` makes the
    sources' ids unique in the page; `articles` (article id → text) adds each article's whole text."""
    if answer.abstained:
        parts = ['<div class="qa-answer qa-abstained">', f'<p class="qa-not-found">{escape(NOT_FOUND)}</p>']
        if answer.related:
            parts.append('<p class="qa-note">The closest passages, in case they help:</p>')
            parts.append('<div class="qa-heading">Related</div>')
            parts.append(format_related(answer.related))
        parts.append(_foot(answer))
        parts.append("</div>")
        return "".join(parts)
    text = format_text(answer.text, key)
    short = getattr(answer, "short_answer", None)
    if short and escape(short) in text:
        text = text.replace(escape(short), f"<strong>{escape(short)}</strong>", 1)
    parts = ['<div class="qa-answer">', f'<p class="qa-text">{text}</p>']
    if answer.citations:
        parts.append('<div class="qa-heading">Sources</div>')
        for group in _group(answer.citations):
            article_text = None
            if articles is not None:
                try:
                    article_text = articles(group[0].article_id)
                except KeyError:
                    article_text = None
            parts.append(format_source_card(group, key, article_text))
    parts.append(_foot(answer))
    parts.append("</div>")
    return "".join(parts)


def format_partial(text: str, key: str = "qa") -> str:
    """A reply being composed: the text so far, with a caret."""
    return f'<div class="qa-answer qa-streaming"><p class="qa-text">{format_text(text, key)}<span class="qa-caret"></span></p></div>'


def format_thinking() -> str:
    return f'<div class="qa-answer"><p class="qa-thinking">{escape(THINKING)}</p></div>'


def format_error(message: str) -> str:
    """A message to the user (a question that cannot be asked, or a failure) as a chat reply."""
    return f'<div class="qa-answer qa-error"><p>{escape(message)}</p></div>'


def format_question(question: str) -> str:
    """The user's question as shown in the chat."""
    return f'<div class="qa-question">{escape(question)}</div>'


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def format_status(status: dict[str, Any]) -> str:
    """One line about the index, under the page title (Markdown; only numbers from the index)."""
    articles, passages = int(status.get("articles", 0)), int(status.get("passages", 0))
    return f"{TAGLINE} Index: {plural(articles, 'article')}, {plural(passages, 'passage')}."


def format_corpus_status(status: dict[str, Any]) -> str:
    """The Corpus tab's status line (HTML): articles, passages, model, index size."""
    parts = [
        f"<strong>{plural(int(status.get('articles', 0)), 'article')}</strong>",
        plural(int(status.get("passages", 0)), "passage"),
        plural(int(status.get("sentences", 0)), "sentence"),
        f"model <code>{escape(status.get('model', '?'))}</code>",
        f"index {human_bytes(int(status.get('index_bytes', 0)))}",
    ]
    if status.get("corpus"):
        parts.append(f"folder <code>{escape(status['corpus'])}</code>")
    return '<div id="qa-corpus-status">' + " · ".join(parts) + "</div>"


def article_rows(articles: Sequence[Article], counts: dict[str, int]) -> list[list[Any]]:
    """The Corpus table: title, date, origin (url, else file), passages, id. Plain strings:
    the table shows them as text."""
    rows = []
    for a in articles:
        origin = safe_url(a.url) or a.source or a.path
        rows.append([a.title or a.path, a.date or "", origin, int(counts.get(a.id, 0)), a.id])
    return rows


def article_choices(articles: Sequence[Article]) -> list[tuple[str, str]]:
    """Dropdown choices (label, article id) to pick an article to remove."""
    choices = []
    for a in articles:
        title = shorten(a.title or a.path, 90)
        choices.append((f"{title} — {a.path}", a.id))
    return choices


def format_report(lines: Sequence[tuple[bool, str, str]], title: str = "") -> str:
    """Outcome of uploads, a re-index or a removal as HTML: an optional title, then
    (succeeded, what, details) per line."""
    if not lines and not title:
        return ""
    items = []
    for ok, what, detail in lines:
        mark = '<span class="qa-ok">✓</span>' if ok else '<span class="qa-fail">✗</span>'
        items.append(f"<li>{mark} {escape(what)}" + (f' <span class="qa-detail">— {escape(detail)}</span>' if detail else "") + "</li>")
    head = f'<div class="qa-report-title">{escape(title)}</div>' if title else ""
    return f'<div class="qa-report">{head}<ul>' + "".join(items) + "</ul></div>"


def upload_title(lines: Sequence[tuple[bool, str, str]], status: dict[str, Any]) -> str:
    """"2 of 3 files added · index: 5 articles, 31 passages"."""
    added = sum(1 for ok, _, _ in lines if ok)
    files = plural(len(lines), "file")
    index = f"{plural(int(status.get('articles', 0)), 'article')}, {plural(int(status.get('passages', 0)), 'passage')}"
    return f"{added} of {files} added · index: {index}"


WAITING = "Waiting for the question before it…"


def format_waiting() -> str:
    """The reply of a question sent while another is being answered: it is next in line."""
    return f'<div class="qa-answer qa-waiting"><p class="qa-thinking">{escape(WAITING)}</p></div>'


def _md(text: str) -> str:
    """Text safe inside Markdown prose: characters Markdown or HTML would act on are escaped."""
    text = " ".join(str(text or "").split())
    return "".join("\\" + ch if ch in "\\`*_{}[]<>#|" else ch for ch in text)


def conversation_markdown(turns: Sequence[tuple[str, Answer | None, str | None]]) -> str:
    """A conversation as Markdown: each question, its answer (or why there is none), the sources
    with their quotes, dates and origins, and the confidence."""
    lines = ["# Conversation with the articles", ""]
    for i, (question, answer, error) in enumerate(turns, start=1):
        lines += [f"## {i}. {_md(question)}", ""]
        if answer is None:
            lines += [f"*{_md(error or 'Not answered.')}*", ""]
            continue
        if answer.abstained:
            lines += [f"*{NOT_FOUND}*", ""]
            if answer.related:
                lines += ["Related:", ""]
                for hit in answer.related:
                    a = hit.article
                    meta = " — ".join(_md(x) for x in (a.date, _origin_text(a.source, a.url, hit.page)) if x)
                    lines.append(f"- **{_md(a.title or a.source)}**" + (f" — {meta}" if meta else "") + f": “{_md(shorten(hit.text))}”")
                lines.append("")
            continue
        text = _md(answer.text).replace("\\[", "[").replace("\\]", "]")  # keep the markers [n] readable
        lines += [text, ""]
        if answer.citations:
            lines += ["Sources:", ""]
            for c in answer.citations:
                meta = " — ".join(_md(x) for x in (c.date, _origin_text(c.source, c.url, c.page)) if x)
                lines.append(f"{c.number}. **{_md(c.title or c.source)}**" + (f" — {meta}" if meta else ""))
                lines.append(f"   > {_md(c.quote)}")
            lines.append("")
        lines += [f"Confidence: {answer.confidence:.0%} ({confidence_level(answer.confidence)})", ""]
    return "\n".join(lines).rstrip() + "\n"


def format_search_results(query: str, hits: Sequence[Hit]) -> str:
    """Passages found by the Corpus tab's search: article title, date, origin and the passage."""
    if not query.strip():
        return ""
    if not hits:
        return f'<div class="qa-search"><p>No passage matches “{escape(query)}”.</p></div>'
    return f'<div class="qa-search"><div class="qa-heading">Passages matching “{escape(query)}”</div>{format_related(hits)}</div>'


def format_removed(articles: Sequence[Article]) -> str:
    """The articles removed from the index whose files are still in the corpus folder."""
    if not articles:
        return ""
    items = "".join(f"<li>{escape(a.title or a.path)} <span class=\"qa-detail\">— {escape(a.path)}</span></li>" for a in articles)
    return (
        '<div class="qa-report qa-removed"><div class="qa-report-title">Removed from the index, file still in the folder '
        f"({len(articles)})</div><ul>{items}</ul></div>"
    )
