"""The web chat: a Gradio app over `QA`. It only formats; every decision is taken by `QA`.

    from qa import QA
    from qa.webui import CSS, build_app
    build_app(QA.from_folder("corpus")).launch(css=CSS)

Replies are HTML built here: every string that comes from an article (text, titles, dates,
sources, urls) goes through `html.escape`, and only http(s) urls become links, so an article
cannot inject markup or scripts into the page. The formatting functions are pure, to be tested
without a server.

Besides the chat, the app exposes one API endpoint, `/ask`: a question in, `Answer.to_dict()` out:

    from gradio_client import Client
    Client("http://127.0.0.1:7860").predict("Who is the prime minister of Georgia?", api_name="/ask")
"""
from __future__ import annotations

import html
import logging
import os
import re
from typing import Any, Iterable
from urllib.parse import urlsplit

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from .facade import QA, QuestionError  # noqa: E402
from .types import Answer, Citation, Hit  # noqa: E402

log = logging.getLogger(__name__)

TITLE = "Ask the articles"
EXAMPLES = [
    "Who is the prime minister of Georgia?",
    "How large was bilateral trade between Georgia and Russia in the first half of 2025?",
    "What does Georgia export to Russia?",
]
NOT_FOUND = "Not found in the articles."
RELATED_CHARS = 240  # characters of a related passage shown
ERROR_MESSAGE = "Something went wrong while answering; the server log has the details."

CSS = """
#qa-chat .qa-answer p { margin: 0 0 0.5em 0; }
#qa-chat .qa-answer .qa-ref { font-size: 0.75em; }
#qa-chat .qa-answer .qa-heading { font-weight: 600; margin: 0.8em 0 0.3em 0; }
#qa-chat .qa-answer .qa-item { margin: 0 0 0.7em 0; }
#qa-chat .qa-answer .qa-muted { opacity: 0.7; font-size: 0.85em; }
#qa-chat .qa-answer blockquote { margin: 0.2em 0 0 0 !important; padding: 0.1em 0 0.1em 0.8em; border-left: 3px solid #d4d4d8; font-size: 0.92em; }
#qa-chat .qa-answer mark { background: #fde68a; color: inherit; padding: 0 0.1em; border-radius: 2px; }
#qa-chat .qa-answer.qa-abstained .qa-not-found { font-weight: 600; }
#qa-chat .qa-answer.qa-error { color: #b91c1c; }
"""

_MARKER = re.compile(r"\[(\d+)\]")
_NEWLINES = re.compile(r"\s*\n\s*")


# ------------------------------------------------------------------ pure formatting
def escape(text: Any) -> str:
    """`text` as HTML-safe text on one line (newlines become <br>, so the reply stays one HTML block)."""
    if text is None:
        return ""
    return _NEWLINES.sub("<br>", html.escape(str(text), quote=True))


def safe_url(url: Any) -> str | None:
    """`url` if it is an absolute http(s) url, else None (no javascript:, data:, relative, ...)."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url or any(ch.isspace() or ord(ch) < 32 for ch in url):
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


def format_text(text: str) -> str:
    """Answer text, escaped, with its citation markers [n] set as superscripts."""
    return _MARKER.sub(r'<sup class="qa-ref">[\1]</sup>', escape(text))


def highlight(passage: str, quote: str, offset: int | None) -> str:
    """The passage, escaped, with `quote` (expected at `offset` in it) wrapped in <mark>."""
    passage = passage or ""
    quote = quote or ""
    start = offset if offset is not None else -1
    if not (quote and 0 <= start and passage[start : start + len(quote)] == quote):
        start = passage.find(quote) if quote else -1
    if start < 0:
        # The quote is not in the passage (should not happen): show both rather than lose the quote.
        if not quote:
            return escape(passage)
        return f"<mark>{escape(quote)}</mark>" + (f" … {escape(passage)}" if passage else "")
    end = start + len(quote)
    return f"{escape(passage[:start])}<mark>{escape(passage[start:end])}</mark>{escape(passage[end:])}"


def _source_meta(date: str | None, source: str | None, url: str | None, page: int | None) -> str:
    parts = []
    if date:
        parts.append(escape(date))
    if source and source != url:
        parts.append(link(source, source))
    if page is not None:
        parts.append(f"p. {int(page)}")
    return " · ".join(parts)


def format_citation(citation: Citation) -> str:
    """One numbered source: title (linked when it has a url), date, source, page, and the passage with the quote marked."""
    url = safe_url(citation.url) or safe_url(citation.source)
    title = link(citation.title or citation.source or citation.article_id, url)
    meta = _source_meta(citation.date, citation.source, url, citation.page)
    meta_html = f' <span class="qa-muted">{meta}</span>' if meta else ""
    offset = citation.start - citation.passage_start
    passage = highlight(citation.passage, citation.quote, offset)
    return (
        f'<div class="qa-item"><div class="qa-meta"><strong>[{int(citation.number)}]</strong> {title}{meta_html}</div>'
        f"<blockquote>{passage}</blockquote></div>"
    )


def shorten(text: str, limit: int = RELATED_CHARS) -> str:
    """`text` on one line, cut at a word boundary to at most about `limit` characters."""
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return cut.rstrip(" ,;:.") + " …"


def format_related(hit: Hit) -> str:
    """A related passage: its article's title (linked when it has a url), date, page, and a short excerpt."""
    article = hit.article
    url = safe_url(article.url) or safe_url(article.source)
    title = link(article.title or article.source or article.id, url)
    meta = _source_meta(article.date, None, url, hit.page)
    meta_html = f' <span class="qa-muted">{meta}</span>' if meta else ""
    return (
        f'<div class="qa-item"><div class="qa-meta">{title}{meta_html}</div>'
        f"<blockquote>{escape(shorten(hit.text))}</blockquote></div>"
    )


def format_answer(answer: Answer) -> str:
    """An answer as the HTML of a chat reply: the text and numbered sources, or "not found" and related passages."""
    if answer.abstained:
        parts = ['<div class="qa-answer qa-abstained">', f'<p class="qa-not-found">{escape(NOT_FOUND)}</p>']
        if answer.related:
            parts.append('<div class="qa-heading">Related passages</div>')
            parts.extend(format_related(hit) for hit in answer.related)
        parts.append("</div>")
        return "".join(parts)
    parts = ['<div class="qa-answer">', f"<p>{format_text(answer.text)}</p>"]
    if answer.citations:
        parts.append('<div class="qa-heading">Sources</div>')
        parts.extend(format_citation(c) for c in answer.citations)
    parts.append(f'<div class="qa-muted">Confidence {answer.confidence:.0%}</div>')
    parts.append("</div>")
    return "".join(parts)


def format_error(message: str) -> str:
    """A message to the user (a question that cannot be asked, or a failure) as a chat reply."""
    return f'<div class="qa-answer qa-error"><p>{escape(message)}</p></div>'


def format_question(question: str) -> str:
    """The user's question as shown in the chat."""
    return escape(question)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def format_status(status: dict[str, Any]) -> str:
    """One line about the index, for the page header."""
    articles, passages = int(status.get("articles", 0)), int(status.get("passages", 0))
    return f"Answers come only from the articles, with sources. Index: {plural(articles, 'article')}, {plural(passages, 'passage')}."


# ------------------------------------------------------------------ the app
def chat_turn(qa: QA, question: str, messages: list[Any] | None, questions: list[str] | None) -> tuple[str, list[Any], list[str]]:
    """One chat turn: (new textbox value, new messages, new list of asked questions).

    The history given to `qa.ask` is the list of earlier questions (the displayed messages are HTML).
    An empty question changes nothing but warns; a question that cannot be asked gets its reason as the reply.
    """
    messages = list(messages or [])
    questions = list(questions or [])
    question = question or ""
    try:
        answer = qa.ask(question, history=questions)
    except QuestionError as error:
        if not question.strip():
            gr.Warning(str(error))
            return question, messages, questions
        shown = shorten(question, 300)
        messages += [{"role": "user", "content": format_question(shown)}, {"role": "assistant", "content": format_error(str(error))}]
        return question, messages, questions
    except Exception:
        log.exception("Answering %r failed", question)
        messages += [{"role": "user", "content": format_question(question)}, {"role": "assistant", "content": format_error(ERROR_MESSAGE)}]
        return question, messages, questions
    messages += [{"role": "user", "content": format_question(answer.question or question)}, {"role": "assistant", "content": format_answer(answer)}]
    questions.append(answer.question or question)
    return "", messages, questions


def ask_json(qa: QA, question: str) -> dict[str, Any]:
    """The `/ask` API: the answer as JSON; a question that cannot be asked is an error with its reason."""
    try:
        return qa.ask(question).to_dict()
    except QuestionError as error:
        raise gr.Error(str(error)) from None
    except Exception:
        log.exception("Answering %r failed", question)
        raise gr.Error(ERROR_MESSAGE) from None


def build_app(qa: QA, examples: Iterable[str] = EXAMPLES) -> gr.Blocks:
    """The chat app over `qa`. Launch it with `css=CSS` for the reply styles."""

    def respond(question: str, messages: list[Any], questions: list[str]):
        return chat_turn(qa, question, messages, questions)

    def ask(question: str) -> dict:
        return ask_json(qa, question)

    def status() -> str:
        try:
            return format_status(qa.status())
        except Exception:
            log.exception("Reading the index status failed")
            return "Answers come only from the articles, with sources."

    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        gr.Markdown(f"## {TITLE}")
        header = gr.Markdown(status())
        chatbot = gr.Chatbot(
            value=[],
            label="Chat",
            elem_id="qa-chat",
            height=560,
            latex_delimiters=[],
            buttons=["copy", "copy_all"],
            feedback_options=None,
            sanitize_html=True,
            placeholder="Ask a question about the articles. Each answer cites its sources.",
        )
        questions = gr.State([])
        with gr.Row(equal_height=True):
            box = gr.Textbox(
                placeholder="Type a question and press Enter",
                elem_id="qa-question",
                show_label=False,
                container=False,
                lines=1,
                max_lines=5,
                autofocus=True,
                scale=8,
            )
            ask_button = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="qa-ask")
            clear_button = gr.Button("Clear", variant="secondary", scale=1, min_width=80, elem_id="qa-clear")
        example_list = gr.Examples(examples=[[q] for q in examples], inputs=[box], label="Example questions")

        turn = dict(fn=respond, inputs=[box, chatbot, questions], outputs=[box, chatbot, questions], api_visibility="private")
        box.submit(**turn)
        ask_button.click(**turn)
        example_list.load_input_event.then(**turn)
        clear_button.click(lambda: ("", [], []), outputs=[box, chatbot, questions], api_visibility="private", queue=False)
        chatbot.clear(lambda: [], outputs=[questions], api_visibility="private", queue=False)  # its own trash button
        app.load(status, outputs=[header], api_visibility="private", queue=False)

        gr.api(ask, api_name="ask", api_description="Answer a question from the articles; returns the answer with its citations as JSON.")
    return app
