"""The answerer seam: which component turns ranked passages into an answer, chosen by one setting.

An answerer takes a snapshot, the question, its vector and the ranked passages, and returns an
`Answer`; it also says below which confidence it abstains. Two ship:

- `reader` (default): the reader model trained for qa (`qa/reader.py`, `qa/reader_answerer.py`):
  the sentence, the short answer inside it and the abstention come from a model that reads the
  question and the sentence together.
- `features`: the logistic sentence ranker and confidence model over similarity and word-overlap
  features (`qa/answering.py`); no short answer, ~3 ms instead of ~60 ms a question.

`Settings.answerer` (env `QA_ANSWERER`) picks one; adding another is one module plus one entry here.
"""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from .answering import AnswerModel, AnswerSettings, FeatureAnswerer
from .retrieval import RankedPassage
from .settings import Settings
from .store import Snapshot
from .types import Answer


class Answerer(Protocol):
    name: str

    @property
    def threshold(self) -> float:
        """Confidence below which the answer says the articles do not answer."""

    def answer(
        self,
        snapshot: Snapshot,
        question: str,
        query_vector: np.ndarray,
        ranked: list[RankedPassage],
        abstain_below: float | None = None,
    ) -> Answer: ...


def _features(settings: Settings, answer_settings: AnswerSettings, model: AnswerModel) -> Answerer:
    return FeatureAnswerer(model, answer_settings)


def _reader(settings: Settings, answer_settings: AnswerSettings, model: AnswerModel) -> Answerer:
    from .reader_answerer import ReaderAnswerer

    return ReaderAnswerer(model, answer_settings)


ANSWERERS: dict[str, Callable[[Settings, AnswerSettings, AnswerModel], Answerer]] = {
    "reader": _reader,
    "features": _features,
}


def create_answerer(settings: Settings) -> Answerer:
    """The answerer named by `settings.answerer`."""
    if settings.answerer not in ANSWERERS:
        raise ValueError(f"Unknown answerer {settings.answerer!r}: use one of {', '.join(ANSWERERS)}")
    answer_settings = AnswerSettings(
        answer_passages=settings.answer_passages,
        max_sentences=settings.max_answer_sentences,
        related=settings.related,
        abstain_below=settings.abstain_below,
    )
    model = AnswerModel.load(settings.answer_model) if settings.answer_model else AnswerModel.load()
    return ANSWERERS[settings.answerer](settings, answer_settings, model)
