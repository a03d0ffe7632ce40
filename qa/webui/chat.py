"""The chat controller: a per-session `Conversation` and the steps the page runs on it.

Why it is built this way: a question typed while an answer streams used to be lost, because the
streaming handler wrote the (empty) textbox with every chunk and Gradio ignored a submit while the
previous event ran. Now sending is split in two steps. `enqueue` runs at once (outside the queue): it
takes the question from the textbox, clears it, and appends the question to the conversation's
waiting list. `drain` then answers waiting questions one after the other, in order, streaming each;
it never writes the textbox, so typing goes on undisturbed. A drain triggered while another runs is
deferred by Gradio (trigger_mode="always_last") and finds whatever the running one left. The
conversation lives in a `gr.State`, one object per browser session, shared by both steps.

Everything here works on the real engine and is tested without a browser.
"""
from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..facade import QA, QuestionError
from ..types import Answer
from .render import (
    conversation_markdown,
    format_answer,
    format_error,
    format_partial,
    format_question,
    format_thinking,
    format_waiting,
    shorten,
    stream_prefixes,
)

log = logging.getLogger(__name__)

ERROR_MESSAGE = "Something went wrong while answering; the server log has the details."
STREAM_DELAY = 0.035  # seconds between streamed updates
FOLLOW_UPS = 3  # suggested follow-up questions under the latest answer


@dataclass
class Turn:
    """One question and what became of it."""

    question: str
    number: int  # 1, 2, ... in the session: makes the reply's element ids unique
    articles: tuple[str, ...] = ()  # the question was asked within these articles (none: all)
    answer: Answer | None = None
    error: str | None = None
    follow_ups: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"qa-t{self.number}"


class Conversation:
    """The chat of one browser session: answered turns, the one being answered (with the text
    streamed so far), and the questions waiting, in the order they were sent."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.waiting: deque[Turn] = deque()
        self.current: Turn | None = None
        self.partial: str | None = None
        self.asked = 0
        self.generation = 0  # bumped by clear(): a drain of an older generation discards its answer
        self.lock = threading.Lock()

    def __deepcopy__(self, memo: dict) -> "Conversation":
        # Gradio copies a State's initial value for each new session: give it a fresh conversation.
        return Conversation()

    # ------------------------------------------------------------ changing it
    def enqueue(self, question: str, articles: Sequence[str] | None = None) -> Turn | None:
        """Add a question to the waiting list (blank ones are ignored)."""
        question = question or ""
        if not question.strip():
            return None
        with self.lock:
            self.asked += 1
            turn = Turn(question, self.asked, tuple(articles or ()))
            self.waiting.append(turn)
            return turn

    def take(self) -> tuple[Turn, int] | None:
        """The next waiting question, now being answered, and the generation it belongs to."""
        with self.lock:
            if not self.waiting:
                return None
            self.current = self.waiting.popleft()
            self.partial = None
            return self.current, self.generation

    def finish(self, turn: Turn, generation: int) -> bool:
        """File the answered `turn` (False when the chat was cleared meanwhile)."""
        with self.lock:
            if self.current is turn:
                self.current, self.partial = None, None
            if generation != self.generation:
                return False
            self.turns.append(turn)
            return True

    def retry(self) -> Turn | None:
        """Ask the last answered question again, replacing its reply; None when busy or empty."""
        with self.lock:
            if self.current is not None or self.waiting or not self.turns:
                return None
            last = self.turns.pop()
            self.asked += 1
            turn = Turn(last.question, self.asked, last.articles)
            self.waiting.append(turn)
            return turn

    def clear(self) -> None:
        with self.lock:
            self.turns, self.waiting = [], deque()
            self.current, self.partial = None, None
            self.generation += 1

    @property
    def busy(self) -> bool:
        return self.current is not None or bool(self.waiting)

    def history(self) -> list[tuple[str, str]]:
        """Answered (question, answer) pairs: what `QA.ask` uses for follow-ups."""
        return [(t.question, t.answer.text) for t in self.turns if t.answer is not None]

    def turn_at(self, message_index: int) -> Turn | None:
        """The answered turn whose reply is chat message `message_index` (two messages a turn)."""
        i = message_index // 2
        return self.turns[i] if 0 <= i < len(self.turns) else None

    # ------------------------------------------------------------ showing it
    def messages(self, qa: QA | None = None) -> list[dict[str, Any]]:
        """The chat as Gradio messages: each turn's question and reply, the reply being composed,
        then the waiting questions; follow-up suggestions under the latest answer."""
        with self.lock:
            turns, current, partial, waiting = list(self.turns), self.current, self.partial, list(self.waiting)
        lookup = _article_text(qa) if qa is not None else None
        out: list[dict[str, Any]] = []
        for i, turn in enumerate(turns):
            out.append(_user(turn.question))
            reply: dict[str, Any] = {"role": "assistant", "content": _reply_html(turn, lookup)}
            if i == len(turns) - 1 and turn.follow_ups and current is None and not waiting:
                reply["options"] = [{"value": q, "label": q} for q in turn.follow_ups]
            out.append(reply)
        if current is not None:
            out.append(_user(current.question))
            out.append({"role": "assistant", "content": format_partial(partial, current.key) if partial else format_thinking()})
        for turn in waiting:
            out.append(_user(turn.question))
            out.append({"role": "assistant", "content": format_waiting()})
        return out

    def export(self, folder: Path) -> Path:
        """The conversation as a Markdown file (questions, answers, sources) in `folder`."""
        with self.lock:
            turns = list(self.turns)
        path = folder / "conversation.md"
        path.write_text(conversation_markdown([(t.question, t.answer, t.error) for t in turns]), encoding="utf-8")
        return path


def _user(question: str) -> dict[str, Any]:
    return {"role": "user", "content": format_question(shorten(question, 300))}


def _reply_html(turn: Turn, lookup) -> str:
    if turn.answer is None:
        return format_error(turn.error or ERROR_MESSAGE)
    return format_answer(turn.answer, turn.key, lookup)


def _article_text(qa: QA):
    def text(article_id: str) -> str | None:
        return qa.article(article_id).text

    return text


# ------------------------------------------------------------------ the steps the page runs
def answer_turn(qa: QA, conversation: Conversation, turn: Turn) -> Iterator[str | None]:
    """Answer `turn` with the real engine: yields the text so far while it is composed (or None
    once, when there is nothing to stream), and fills in the answer, error and follow-ups."""
    try:
        answer = qa.ask(turn.question, history=conversation.history(), articles=list(turn.articles) or None)
    except QuestionError as error:
        turn.error = str(error)
        yield None
        return
    except Exception:
        log.exception("Answering %r failed", turn.question)
        turn.error = ERROR_MESSAGE
        yield None
        return
    turn.question = answer.question
    if not answer.abstained:
        yield from stream_prefixes(answer.text)[:-1]
    turn.answer = answer
    try:
        asked = [t.question for t in conversation.turns] + [turn.question]
        turn.follow_ups = qa.follow_up_questions(answer, n=FOLLOW_UPS, exclude=asked)
    except Exception:
        log.exception("Suggesting follow-ups to %r failed", turn.question)


def drain(qa: QA, conversation: Conversation, delay: float = STREAM_DELAY) -> Iterator[list[dict[str, Any]]]:
    """Answer every waiting question in order, yielding the chat's messages as each answer grows."""
    while True:
        taken = conversation.take()
        if taken is None:
            yield conversation.messages(qa)
            return
        turn, generation = taken
        yield conversation.messages(qa)
        for prefix in answer_turn(qa, conversation, turn):
            if prefix is None or generation != conversation.generation:
                continue
            conversation.partial = prefix
            yield conversation.messages(qa)
            if delay:
                time.sleep(delay)
        conversation.finish(turn, generation)
        yield conversation.messages(qa)


def ask_json(qa: QA, question: str) -> dict[str, Any]:
    """The `/ask` API: the answer as JSON; a question that cannot be asked is an error with its reason."""
    import gradio as gr

    try:
        return qa.ask(question).to_dict()
    except QuestionError as error:
        raise gr.Error(str(error)) from None
    except Exception:
        log.exception("Answering %r failed", question)
        raise gr.Error(ERROR_MESSAGE) from None


def export_folder() -> Path:
    """A private temporary folder for one session's exported conversation."""
    return Path(tempfile.mkdtemp(prefix="qa-chat-"))
