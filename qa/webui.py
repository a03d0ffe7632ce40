"""The web app: a Gradio chat and a corpus manager over `QA`. It only formats and calls `QA`;
every decision (what to answer, what to cite, when to abstain, what a file may be) is taken there.

    from qa import QA
    from qa.webui import CSS, build_app
    build_app(QA.from_folder("corpus")).launch(css=CSS)

Chat: answers stream in as they are composed; citation markers [1] are badges that jump to their
source; the sources (title, date, origin, page, the passage with the cited sentence highlighted, a
relevance bar) are part of the reply, so they stay with it as the conversation goes on. Abstentions
read "Not found in the articles" and list the closest passages as related reading. Follow-ups use
the conversation. Retry, clear, example questions, and a per-answer "Copy" (answer and sources as
plain text).

Corpus: the indexed articles, the index's status, uploads of any supported format (indexed at once,
with progress and a summary naming skipped files and why), removing an article and re-indexing.

Safety: replies are HTML built here. Every string that comes from an article or a user (text,
titles, dates, sources, urls, file names, error messages) goes through `html.escape`; only absolute
http(s) urls become links; no event-handler attribute or script is ever emitted (and Gradio's
sanitizer runs on chat messages as well). The small script of the page (badge jumps, copy) is
static and reads nothing from articles but plain text.

The app also exposes one API endpoint, `/ask`: a question in, `Answer.to_dict()` out:

    from gradio_client import Client
    Client("http://127.0.0.1:7860").predict("Who is the prime minister of Georgia?", api_name="/ask")
"""
from __future__ import annotations

import html
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence
from urllib.parse import urlsplit

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from .facade import QA, QuestionError  # noqa: E402
from .readers import SUPPORTED_EXTENSIONS  # noqa: E402
from .types import Answer, Article, Citation, Hit  # noqa: E402
from .web_policy import received_uploads  # noqa: E402

log = logging.getLogger(__name__)

TITLE = "Ask the articles"
TAGLINE = "Answers come only from your articles, and every answer cites them."
EXAMPLES = [
    "How large was bilateral trade between Georgia and Russia in the first half of 2025?",
    "What does Georgia export to Russia?",
    "Who is the prime minister of Georgia?",
]
NOT_FOUND = "Not found in the articles."
THINKING = "Searching the articles…"
RELATED_CHARS = 240  # characters of a related passage shown
ERROR_MESSAGE = "Something went wrong while answering; the server log has the details."
MAX_SCORE = 1.3  # the retrieval score's ceiling: 0.5 passage cosine + 0.5 sentence cosine + 0.3 BM25
STREAM_WORDS = 4  # words added per streamed update
STREAM_DELAY = 0.035  # seconds between streamed updates
ACCEPTED = sorted(SUPPORTED_EXTENSIONS)
TABLE_HEADERS = ["Title", "Date", "Origin", "Passages", "ID"]

CSS = """
.qa-header h1 { margin: 0 !important; font-size: 1.45rem !important; }
.qa-header p { margin: 0.15rem 0 0 0 !important; color: var(--body-text-color-subdued); }
#qa-chat .qa-answer { line-height: 1.55; }
#qa-chat .qa-answer p { margin: 0 0 0.4em 0; }
#qa-chat .qa-question { white-space: pre-wrap; }
#qa-chat a.qa-ref { display: inline-block; min-width: 1.5em; padding: 0 0.4em; margin: 0 0.1em;
  border-radius: 999px; background: var(--color-accent-soft, #e0e7ff); color: var(--color-accent, #4338ca) !important;
  font-size: 0.75em; font-weight: 700; line-height: 1.5; text-align: center; text-decoration: none !important;
  vertical-align: 0.35em; cursor: pointer; border: 1px solid var(--color-accent, #6366f1); }
#qa-chat a.qa-ref:hover, #qa-chat a.qa-ref:focus-visible { background: var(--color-accent, #4f46e5); color: #fff !important; }
#qa-chat .qa-caret { display: inline-block; width: 0.5em; height: 1em; margin-left: 0.15em; vertical-align: -0.1em;
  background: var(--body-text-color-subdued); animation: qa-blink 1s steps(2) infinite; }
@keyframes qa-blink { 50% { opacity: 0; } }
#qa-chat .qa-thinking { color: var(--body-text-color-subdued); font-style: italic; }
#qa-chat .qa-heading { font-size: 0.72em; font-weight: 700; letter-spacing: 0.06em; text-transform: uppercase;
  color: var(--body-text-color-subdued); margin: 0.9em 0 0.35em 0; }
#qa-chat .qa-src { border: 1px solid var(--border-color-primary, #e4e4e7); border-radius: 8px; padding: 0.5em 0.75em;
  margin: 0 0 0.5em 0; background: var(--background-fill-secondary, #fafafa); scroll-margin: 1.5em;
  transition: box-shadow 0.3s, border-color 0.3s; outline: none; }
#qa-chat .qa-src:target, #qa-chat .qa-src.qa-focus { border-color: var(--color-accent, #4f46e5);
  box-shadow: 0 0 0 3px var(--color-accent-soft, #c7d2fe); }
#qa-chat .qa-src-head { display: flex; gap: 0.5em; align-items: baseline; }
#qa-chat .qa-num { flex: none; display: inline-block; min-width: 1.5em; padding: 0 0.3em; border-radius: 999px;
  background: var(--color-accent, #4f46e5); color: #fff; font-size: 0.75em; font-weight: 700; text-align: center; }
#qa-chat .qa-title { font-weight: 600; font-size: 0.95em; }
#qa-chat .qa-plain { display: none !important; }
#qa-chat .qa-meta { font-size: 0.82em; color: var(--body-text-color-subdued); margin: 0.1em 0 0.3em 0; }
#qa-chat .qa-meta a { color: inherit; text-decoration: underline; }
#qa-chat .qa-passage { margin: 0.3em 0 0 0 !important; padding: 0.1em 0 0.1em 0.8em !important;
  border-left: 3px solid var(--border-color-primary, #d4d4d8) !important; font-size: 0.92em; font-style: normal !important; }
#qa-chat .qa-passage::before, #qa-chat .qa-passage::after { content: none !important; }
#qa-chat mark { background: #fde68a; color: #1c1917; padding: 0.05em 0.15em; border-radius: 3px; }
#qa-chat details.qa-whole { margin-top: 0.3em; font-size: 0.85em; }
#qa-chat details.qa-whole summary { cursor: pointer; color: var(--body-text-color-subdued); }
#qa-chat .qa-bar { display: inline-block; width: 3.2em; height: 0.45em; margin-left: 0.3em; border-radius: 999px;
  background: var(--border-color-primary, #e4e4e7); vertical-align: 0.05em; overflow: hidden; }
#qa-chat .qa-bar > span { display: block; height: 100%; background: var(--color-accent, #4f46e5); border-radius: 999px; }
#qa-chat .qa-foot { display: flex; flex-wrap: wrap; gap: 0.6em; align-items: center; margin-top: 0.6em; font-size: 0.82em; }
#qa-chat .qa-conf { padding: 0.1em 0.6em; border-radius: 999px; font-weight: 600; border: 1px solid transparent; }
#qa-chat .qa-conf-high { background: #dcfce7; color: #166534; }
#qa-chat .qa-conf-medium { background: #fef3c7; color: #92400e; }
#qa-chat .qa-conf-low { background: #fee2e2; color: #991b1b; }
#qa-chat .qa-conf-none { background: var(--background-fill-secondary, #f4f4f5); color: var(--body-text-color-subdued); }
#qa-chat button.qa-copy { padding: 0.15em 0.7em; border-radius: 6px; border: 1px solid var(--border-color-primary, #d4d4d8);
  background: var(--background-fill-primary, #fff); color: var(--body-text-color); cursor: pointer; font-size: 1em; }
#qa-chat button.qa-copy:hover { border-color: var(--color-accent, #4f46e5); }
#qa-chat .qa-abstained .qa-not-found { display: flex; gap: 0.5em; align-items: center; font-weight: 700;
  padding: 0.45em 0.75em; border-radius: 8px; background: var(--background-fill-secondary, #f4f4f5);
  border-left: 4px solid #a1a1aa; }
#qa-chat .qa-abstained .qa-not-found::before { content: "∅"; font-weight: 700; color: #71717a; }
#qa-chat .qa-abstained .qa-note { font-size: 0.85em; color: var(--body-text-color-subdued); margin: 0.3em 0 0 0; }
#qa-chat .qa-abstained .qa-src { background: transparent; border-style: dashed; }
#qa-chat .qa-error p { color: #b91c1c; }
#qa-corpus-status { font-size: 0.95em; }
.qa-report .qa-report-title { font-weight: 600; }
.qa-report ul { margin: 0.3em 0 0 0; padding: 0; list-style: none; }
.qa-report li { margin: 0.15em 0; }
.qa-report .qa-ok { color: #15803d; font-weight: 600; }
.qa-report .qa-fail { color: #b91c1c; font-weight: 600; }
.qa-report .qa-detail { color: var(--body-text-color-subdued); }
"""

# Installed once per page: badge clicks jump to (and focus) their source; "Copy" buttons copy the
# answer's plain text. Static code; it reads only element ids and textContent. Also adds CSS when
# the host did not pass it to launch()/mount_gradio_app().
LOAD_JS = """
() => {
  if (window.__qaUiInstalled) return;
  window.__qaUiInstalled = true;
  if (!document.getElementById("qa-style")) {
    const style = document.createElement("style");
    style.id = "qa-style";
    style.textContent = %s;
    document.head.appendChild(style);
  }
  const copyText = async (text) => {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (error) {
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      let done = false;
      try { done = document.execCommand("copy"); } catch (e) { done = false; }
      area.remove();
      return done;
    }
  };
  // A new question is scrolled to the top of the chat and kept there while its answer streams in
  // (until the reader scrolls or clicks), so answers are read from their start.
  let questions = 0;
  let pinned = null;
  const scroller = (el, chat) => {
    let box = el.parentElement;
    while (box && box !== chat && !/(auto|scroll)/.test(getComputedStyle(box).overflowY)) box = box.parentElement;
    return box && box !== chat ? box : null;
  };
  const follow = () => {
    const chat = document.getElementById("qa-chat");
    if (!chat) return;
    const asked = chat.querySelectorAll('[data-testid="user"]');
    if (asked.length > questions) pinned = asked[asked.length - 1];
    questions = asked.length;
    if (!pinned || !pinned.isConnected) return;
    const box = scroller(pinned, chat);
    if (box) box.scrollTop += pinned.getBoundingClientRect().top - box.getBoundingClientRect().top - 8;
  };
  new MutationObserver(follow).observe(document.body, { childList: true, subtree: true, characterData: true });
  for (const kind of ["wheel", "touchstart", "mousedown", "keydown"]) {
    window.addEventListener(kind, () => { pinned = null; }, { capture: true, passive: true });
  }
  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    const ref = target.closest("a.qa-ref");
    if (ref) {
      const id = (ref.getAttribute("href") || "").replace(/^#/, "");
      const source = id ? document.getElementById(id) : null;
      if (!source) return;
      event.preventDefault();
      event.stopPropagation();
      const details = source.closest("details");
      if (details) details.open = true;
      document.querySelectorAll(".qa-src.qa-focus").forEach((el) => el.classList.remove("qa-focus"));
      source.classList.add("qa-focus");
      source.scrollIntoView({ behavior: "smooth", block: "nearest" });
      source.focus({ preventScroll: true });
      return;
    }
    const button = target.closest("button.qa-copy");
    if (button) {
      event.preventDefault();
      event.stopPropagation();
      const answer = button.closest(".qa-answer");
      const plain = answer ? answer.querySelector(".qa-plain") : null;
      if (!plain) return;
      copyText(plain.textContent).then((done) => {
        button.textContent = done ? "Copied ✓" : "Copy failed";
        setTimeout(() => { button.textContent = "Copy answer + sources"; }, 1600);
      });
    }
  }, true);
}
""" % json.dumps(CSS)

_MARKER = re.compile(r"\[(\d+)\]")
_NEWLINES = re.compile(r"\s*\n\s*")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
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


def highlight(passage: str, quote: str, offset: int | None) -> str:
    """The passage, escaped, with `quote` (expected at `offset` in it) wrapped in <mark>."""
    passage = passage or ""
    quote = quote or ""
    span = _quote_span(passage, quote, offset)
    if span is None:
        # The quote is not in the passage (should not happen): show both rather than lose the quote.
        if not quote:
            return escape(passage)
        return f"<mark>{escape(quote)}</mark>" + (f" … {escape(passage)}" if passage else "")
    start, end = span
    return f"{escape(passage[:start])}<mark>{escape(passage[start:end])}</mark>{escape(passage[end:])}"


def excerpt_bounds(passage: str, start: int, end: int) -> tuple[int, int]:
    """The paragraphs of `passage` that hold passage[start:end], as (first char, end char)."""
    bounds = [0]
    for match in _PARAGRAPH_BREAK.finditer(passage):
        bounds.append(match.end())
    first = max(b for b in bounds if b <= start)
    after = [m.start() for m in _PARAGRAPH_BREAK.finditer(passage) if m.start() >= end]
    last = min(after) if after else len(passage)
    return first, last


def format_passage(passage: str, quote: str, offset: int | None) -> str:
    """The paragraph(s) of the passage around the quote, the quote marked; the whole passage, when
    it is longer, one click away."""
    passage = passage or ""
    span = _quote_span(passage, quote or "", offset)
    if span is None:
        return f'<blockquote class="qa-passage">{highlight(passage, quote, offset)}</blockquote>'
    first, last = excerpt_bounds(passage, *span)
    piece = passage[first:last]
    body = highlight(piece, quote, span[0] - first)
    lead = "… " if passage[:first].strip() else ""
    tail = " …" if passage[last:].strip() else ""
    out = f'<blockquote class="qa-passage">{lead}{body}{tail}</blockquote>'
    if lead or tail:
        whole = highlight(passage, quote, span[0])
        out += f'<details class="qa-whole"><summary>Whole passage</summary><blockquote class="qa-passage">{whole}</blockquote></details>'
    return out


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


def format_citation(citation: Citation, key: str = "qa") -> str:
    """One numbered source: title, date, origin (a link for http(s) urls), page, relevance, and the
    passage with the cited sentence marked. Its id is what the badges [n] link to."""
    title = escape(citation.title or citation.source or citation.article_id)
    meta = _meta(citation.date, citation.source, citation.url, citation.page, citation.score)
    offset = citation.start - citation.passage_start
    return (
        f'<div class="qa-src" id="{source_id(key, citation.number)}" tabindex="-1">'
        f'<div class="qa-src-head"><span class="qa-num">{int(citation.number)}</span><span class="qa-title">{title}</span></div>'
        f'<div class="qa-meta">{meta}</div>'
        f"{format_passage(citation.passage, citation.quote, offset)}</div>"
    )


def shorten(text: str, limit: int = RELATED_CHARS) -> str:
    """`text` on one line, cut at a word boundary to at most about `limit` characters."""
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return cut.rstrip(" ,;:.") + " …"


def format_related(hit: Hit) -> str:
    """A related passage: its article's title, date, origin, page, relevance, and a short excerpt."""
    article = hit.article
    title = escape(article.title or article.source or article.id)
    meta = _meta(article.date, article.source, article.url, hit.page, hit.score)
    return (
        f'<div class="qa-src qa-related"><div class="qa-src-head"><span class="qa-title">{title}</span></div>'
        f'<div class="qa-meta">{meta}</div>'
        f'<blockquote class="qa-passage">{escape(shorten(hit.text))}</blockquote></div>'
    )


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
        conf = f'<span class="qa-conf qa-conf-none" title="Too low to answer">Not answered · confidence {answer.confidence:.0%}</span>'
    else:
        level = confidence_level(answer.confidence)
        conf = (
            f'<span class="qa-conf qa-conf-{level}" title="Calibrated: the chance that this answer is right">'
            f"Confidence {answer.confidence:.0%} · {level}</span>"
        )
    button = '<button class="qa-copy" type="button" title="Copy the answer and its sources as plain text">Copy answer + sources</button>'
    return f'<div class="qa-foot">{conf}{button}</div>{_plain_block(plain_text(answer))}'


def format_answer(answer: Answer, key: str = "qa") -> str:
    """An answer as the HTML of a chat reply: the text with badges and the numbered sources, or
    "not found" and the related passages; then confidence and a copy button. `key` makes the
    sources' ids unique in the page."""
    if answer.abstained:
        parts = ['<div class="qa-answer qa-abstained">', f'<p class="qa-not-found">{escape(NOT_FOUND)}</p>']
        if answer.related:
            parts.append('<p class="qa-note">The closest passages, in case they help:</p>')
            parts.append('<div class="qa-heading">Related</div>')
            parts.extend(format_related(hit) for hit in answer.related)
        parts.append(_foot(answer))
        parts.append("</div>")
        return "".join(parts)
    parts = ['<div class="qa-answer">', f'<p class="qa-text">{format_text(answer.text, key)}</p>']
    if answer.citations:
        parts.append('<div class="qa-heading">Sources</div>')
        parts.extend(format_citation(c, key) for c in answer.citations)
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


# ------------------------------------------------------------------ chat turns (real engine)
Turn = dict  # {"question": str, "answer": str | None}: one per (user, assistant) message pair


def _history(turns: Sequence[Turn]) -> list[tuple[str, str]]:
    return [(t["question"], t["answer"]) for t in turns if t.get("answer") is not None]


def _reply(messages: list[Any], content: str) -> list[Any]:
    """A new list of messages whose last one (the reply) is `content`."""
    return messages[:-1] + [{"role": "assistant", "content": content}]


def chat_stream(
    qa: QA,
    question: str,
    messages: list[Any] | None,
    turns: list[Turn] | None,
    delay: float = STREAM_DELAY,
) -> Iterator[tuple[str, list[Any], list[Turn]]]:
    """One chat turn as a stream of (textbox value, messages, turns).

    The question shows at once with a "searching" reply; the answer text then grows a few words at a
    time, and the last update adds the sources. Earlier answered turns are the history given to
    `qa.ask`, so follow-ups work. An empty question changes nothing but warns; a question that
    cannot be asked gets its reason as the reply."""
    messages = list(messages or [])
    turns = list(turns or [])
    question = question or ""
    if not question.strip():
        gr.Warning("Please type a question.")
        yield question, messages, turns
        return
    key = f"qa-t{len(turns) + 1}"
    shown = shorten(question, 300)
    messages = messages + [{"role": "user", "content": format_question(shown)}, {"role": "assistant", "content": format_thinking()}]
    yield "", messages, turns
    try:
        answer = qa.ask(question, history=_history(turns))
    except QuestionError as error:
        yield question, _reply(messages, format_error(str(error))), turns + [{"question": question, "answer": None}]
        return
    except Exception:
        log.exception("Answering %r failed", question)
        yield question, _reply(messages, format_error(ERROR_MESSAGE)), turns + [{"question": question, "answer": None}]
        return
    messages = messages[:-2] + [{"role": "user", "content": format_question(answer.question)}, messages[-1]]
    if not answer.abstained:
        for prefix in stream_prefixes(answer.text)[:-1]:
            yield "", _reply(messages, format_partial(prefix, key)), turns
            if delay:
                time.sleep(delay)
    yield "", _reply(messages, format_answer(answer, key)), turns + [{"question": answer.question, "answer": answer.text}]


def retry_stream(
    qa: QA, messages: list[Any] | None, turns: list[Turn] | None, delay: float = STREAM_DELAY
) -> Iterator[tuple[str, list[Any], list[Turn]]]:
    """Ask the last question again (e.g. after adding articles), replacing its reply."""
    messages = list(messages or [])
    turns = list(turns or [])
    if not turns:
        gr.Warning("There is no question to ask again.")
        yield "", messages, turns
        return
    last = turns.pop()
    keep = max(len(messages) - 2, 0) if len(messages) == 2 * (len(turns) + 1) else 2 * len(turns)
    yield from chat_stream(qa, last["question"], messages[:keep], turns, delay)


def ask_json(qa: QA, question: str) -> dict[str, Any]:
    """The `/ask` API: the answer as JSON; a question that cannot be asked is an error with its reason."""
    try:
        return qa.ask(question).to_dict()
    except QuestionError as error:
        raise gr.Error(str(error)) from None
    except Exception:
        log.exception("Answering %r failed", question)
        raise gr.Error(ERROR_MESSAGE) from None


# ------------------------------------------------------------------ corpus (real engine)
Progress = Callable[[float, str], None]


def _no_progress(fraction: float, description: str) -> None:
    return None


def add_files(qa: QA, paths: Iterable[Any] | None, progress: Progress = _no_progress) -> list[tuple[bool, str, str]]:
    """Index uploaded files through `qa.add_upload`; one report line per file, with QA's message
    when a file is refused (type, size, duplicate, unreadable) and the files it skipped."""
    files = [Path(getattr(p, "name", p)) for p in (paths or []) if p]
    lines: list[tuple[bool, str, str]] = []
    for i, path in enumerate(files):
        name = path.name
        progress(i / max(len(files), 1), f"Indexing {name} ({i + 1} of {len(files)})")
        try:
            report = qa.add_upload(name, path.read_bytes())
        except (ValueError, OSError, KeyError) as error:
            lines.append((False, f"Not added: {name}", str(error)))
            continue
        except Exception:
            log.exception("Adding %s failed", name)
            lines.append((False, f"Not added: {name}", "unexpected error; the server log has the details"))
            continue
        lines.append((True, f"Added {name}", report.summary()))
    progress(1.0, "Done")
    return lines


def reindex(qa: QA, progress: Progress = _no_progress) -> list[tuple[bool, str, str]]:
    """Re-scan the corpus folder (`qa.refresh`); the summary names skipped files and why."""
    progress(0.0, "Re-scanning the corpus folder")
    try:
        report = qa.refresh()
    except Exception as error:  # a missing folder, a disk error: say it, keep serving the old index
        log.exception("Re-indexing failed")
        return [(False, "Re-index failed", str(error) if isinstance(error, (OSError, ValueError)) else "see the server log")]
    progress(1.0, "Done")
    return [(True, "Re-indexed", report.summary())]


def remove_article(qa: QA, article_id: str | None) -> list[tuple[bool, str, str]]:
    """Drop the chosen article from the index (`qa.remove`)."""
    if not article_id:
        return [(False, "Nothing removed", "choose an article first")]
    try:
        article = qa.remove(article_id)
    except KeyError:
        return [(False, "Nothing removed", "that article is no longer in the index")]
    except Exception:
        log.exception("Removing %s failed", article_id)
        return [(False, "Nothing removed", "unexpected error; the server log has the details")]
    return [
        (
            True,
            f"Removed “{shorten(article.title or article.path, 120)}”",
            f"its file {article.path} stays in the corpus folder but is no longer indexed; upload it again to restore it",
        )
    ]


# ------------------------------------------------------------------ the app
def build_app(qa: QA, examples: Iterable[str] = EXAMPLES) -> gr.Blocks:
    """The app over `qa`: a Chat tab and a Corpus tab, plus the `/ask` API. Serve it with
    `css=CSS` (launch or mount_gradio_app); the page also adds the styles itself if they are missing."""
    examples = list(examples)

    def status_line() -> str:
        try:
            return format_status(qa.status())
        except Exception:
            log.exception("Reading the index status failed")
            return TAGLINE

    def corpus_view(selected: str | None = None) -> tuple[Any, ...]:
        """(chat header, corpus status, table, article dropdown) as they are now."""
        try:
            articles, counts, status = qa.articles(), qa.passage_counts(), qa.status()
        except Exception:
            log.exception("Reading the corpus failed")
            return TAGLINE, '<div id="qa-corpus-status">The index cannot be read; see the server log.</div>', [], gr.update()
        choices = article_choices(articles)
        ids = {value for _, value in choices}
        return (
            format_status(status),
            format_corpus_status(status),
            article_rows(articles, counts),
            gr.update(choices=choices, value=selected if selected in ids else None),
        )

    def respond(question: str, messages: list[Any], turns: list[Turn]):
        yield from chat_stream(qa, question, messages, turns)

    def respond_example(event: gr.SelectData, messages: list[Any], turns: list[Turn]):
        value = event.value
        text = value.get("text", "") if isinstance(value, dict) else str(value or "")
        yield from chat_stream(qa, text, messages, turns)

    def retry(messages: list[Any], turns: list[Turn]):
        yield from retry_stream(qa, messages, turns)

    def upload(files: list[str] | None, progress=gr.Progress()):
        files, refused = received_uploads(app.upload_file_set, files)  # never a path Gradio did not receive
        lines = [(False, f"Not added: {name}", "it was not uploaded through this page") for name in refused]
        lines += add_files(qa, files, lambda fraction, description: progress(fraction, desc=description))
        try:
            title = upload_title(lines, qa.status())
        except Exception:
            title = ""
        return (format_report(lines, title), None, *corpus_view())

    def refresh(progress=gr.Progress()):
        lines = reindex(qa, lambda fraction, description: progress(fraction, desc=description))
        return (format_report(lines), *corpus_view())

    def remove(article_id: str | None):
        lines = remove_article(qa, article_id)
        return (format_report(lines), *corpus_view())

    def choose_row(event: gr.SelectData):
        row = getattr(event, "row_value", None) or []
        return gr.update(value=row[-1]) if row else gr.update()

    def ask(question: str) -> dict:
        return ask_json(qa, question)

    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        with gr.Column(elem_classes="qa-header"):
            gr.Markdown(f"# {TITLE}")
            header = gr.Markdown(status_line(), elem_id="qa-status")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat", elem_id="qa-chat-tab"):
                chatbot = gr.Chatbot(
                    value=[],
                    label="Chat",
                    show_label=False,
                    elem_id="qa-chat",
                    height="62vh",
                    min_height=360,
                    latex_delimiters=[],
                    render_markdown=False,
                    buttons=[],  # Gradio's copy buttons would copy the HTML; each answer has its own
                    feedback_options=None,
                    sanitize_html=True,
                    allow_tags=False,
                    layout="panel",
                    autoscroll=False,  # the page script scrolls each new question to the top instead
                    placeholder="**Ask a question about your articles.** Every answer quotes them and cites its sources; "
                    "when they do not answer, it says so.",
                    examples=[{"text": q} for q in examples] or None,
                )
                turns = gr.State([])
                with gr.Row(equal_height=True):
                    box = gr.Textbox(
                        placeholder="Ask a question — Enter to send",
                        elem_id="qa-question",
                        show_label=False,
                        container=False,
                        lines=1,
                        max_lines=5,
                        autofocus=True,
                        scale=8,
                    )
                    ask_button = gr.Button("Ask", variant="primary", scale=1, min_width=90, elem_id="qa-ask")
                with gr.Row():
                    retry_button = gr.Button("↻ Ask again", size="sm", variant="secondary", elem_id="qa-retry", scale=0, min_width=120)
                    clear_button = gr.Button("Clear chat", size="sm", variant="secondary", elem_id="qa-clear", scale=0, min_width=120)
                    gr.HTML(
                        '<span class="qa-hint">Follow-up questions use the conversation. Click a number to see its source.</span>',
                        padding=False,
                    )

            with gr.Tab("Corpus", id="corpus", elem_id="qa-corpus-tab"):
                corpus_status = gr.HTML(elem_id="qa-corpus-status-box")
                with gr.Row():
                    with gr.Column(scale=2):
                        files = gr.File(
                            label="Add articles (" + " ".join(ACCEPTED) + ")",
                            file_count="multiple",
                            file_types=ACCEPTED,
                            elem_id="qa-upload",
                            height=140,
                        )
                    with gr.Column(scale=1):
                        chosen = gr.Dropdown(
                            choices=[], value=None, label="Article to remove", elem_id="qa-remove-choice", filterable=True,
                            info="Or click its row in the table.",
                        )
                        with gr.Row():
                            remove_button = gr.Button("Remove from index", variant="stop", size="sm", elem_id="qa-remove")
                            reindex_button = gr.Button("Re-index folder", variant="secondary", size="sm", elem_id="qa-reindex")
                report = gr.HTML(elem_id="qa-report")
                table = gr.Dataframe(
                    headers=TABLE_HEADERS,
                    datatype=["str", "str", "str", "number", "str"],
                    value=[],
                    interactive=False,
                    wrap=True,
                    max_height=480,
                    show_search="filter",
                    column_widths=["44%", "12%", "26%", "8%", "10%"],
                    label="Indexed articles",
                    elem_id="qa-articles",
                )

        hidden = dict(api_visibility="private")
        turn_io = dict(inputs=[box, chatbot, turns], outputs=[box, chatbot, turns], show_progress="hidden", **hidden)
        box.submit(respond, **turn_io)
        ask_button.click(respond, **turn_io)
        chatbot.example_select(respond_example, inputs=[chatbot, turns], outputs=[box, chatbot, turns], show_progress="hidden", **hidden)
        retry_io = dict(inputs=[chatbot, turns], outputs=[box, chatbot, turns], show_progress="hidden", **hidden)
        retry_button.click(retry, **retry_io)
        chatbot.retry(retry, **retry_io)
        clear_button.click(lambda: ("", [], []), outputs=[box, chatbot, turns], queue=False, **hidden)
        chatbot.clear(lambda: [], outputs=[turns], queue=False, **hidden)

        view = [header, corpus_status, table, chosen]
        files.upload(upload, inputs=[files], outputs=[report, files, *view], show_progress_on=[report], **hidden)
        reindex_button.click(refresh, outputs=[report, *view], show_progress_on=[report], **hidden)
        remove_button.click(remove, inputs=[chosen], outputs=[report, *view], **hidden)
        table.select(choose_row, outputs=[chosen], queue=False, **hidden)

        app.load(lambda: corpus_view(), outputs=view, queue=False, **hidden)
        app.load(None, js=LOAD_JS, **hidden)

        gr.api(ask, api_name="ask", api_description="Answer a question from the articles; returns the answer with its citations as JSON.")
    return app
