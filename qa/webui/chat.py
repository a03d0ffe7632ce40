"""The chat controller: one chat turn against the real engine, as a stream of updates for the page.

Kept apart from the page layout (app.py) and from the HTML (render.py) so the turn logic — history for
follow-ups, streaming, errors — is tested with the real engine and no browser.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Iterator, Sequence

import gradio as gr

from ..facade import QA, QuestionError
from .render import format_answer, format_error, format_partial, format_question, format_thinking, shorten, stream_prefixes

log = logging.getLogger(__name__)

ERROR_MESSAGE = "Something went wrong while answering; the server log has the details."
STREAM_DELAY = 0.035  # seconds between streamed updates


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
