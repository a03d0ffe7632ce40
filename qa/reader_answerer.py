"""The reader answerer (the default, `QA_ANSWERER=reader`): the reader model chooses the sentence,
finds the short answer inside it, and its evidence decides whether the articles answer at all.

Candidates are the sentences of the best passages (headlines and headings excluded: they can name
a topic but never answer). The feature ranker of `answering.py` orders them cheaply and the reader
reads the best `max_read` of them together with the question. A sentence's final score is a
logistic blend of the reader's relevance logit, the feature ranker's logit and the passage's rank;
the confidence is a second logistic model over the best sentence's evidence (reader relevance and
margin, span score, coverage of the question's terms, retrieval scores). Both are fitted by
`scripts/fit_reader_calibration.py` on SQuAD 2.0 dev articles with article-wise cross-validation
(so the reported numbers come from articles the blend was not fitted on) and stored beside the
model in `qa/models/reader/calibration.json`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .answering import (
    CONFIDENCE_FEATURES,
    NOT_FOUND,
    AnswerModel,
    AnswerSettings,
    Candidates,
    candidates,
    choose_sentences,
    cite,
    confidence_features,
    hit_for,
    is_heading,
    sentence_title,
    ranker_logits,
)
from .reader import MODEL_DIR, Reader
from .retrieval import RankedPassage
from .store import Snapshot
from .types import Answer

CALIBRATION_FILE = MODEL_DIR / "calibration.json"

# What the sentence blend and the confidence model read, in order.
# The span score (the reader's best start + end logit) joined the blend after the relevance logit
# alone: held out on SQuAD 2.0 dev it lifted top-sentence accuracy 0.853 -> 0.860 (chosen among
# three variants on the same folds; README "Answer quality").
SELECTION_FEATURES = ("reader_relevance", "ranker_logit", "passage_rank_reciprocal", "span_score")
READER_CONFIDENCE_FEATURES = (
    "blend_best",
    "blend_margin",
    "relevance_best",
    "relevance_margin",
    "span_score",
    "span_words",
)
# A short answer is only worth showing when it is shorter than this share of its sentence.
MAX_SHORT_SHARE = 0.8


@dataclass(frozen=True)
class ReaderCalibration:
    """Fitted numbers of the reader answerer (logistic weights on raw features)."""

    selection: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0)
    selection_bias: float = 0.0
    confidence: tuple[float, ...] = ()
    confidence_bias: float = 0.0
    threshold: float = 1 / 3
    extra_min_probability: float = 0.5
    notes: dict = field(default_factory=dict, compare=False)

    @classmethod
    def load(cls, path: Path = CALIBRATION_FILE) -> "ReaderCalibration":
        data = json.loads(Path(path).read_text())
        if tuple(data["selection_features"]) != SELECTION_FEATURES or tuple(data["confidence_features"]) != confidence_feature_names():
            raise ValueError(f"{path} was fitted for other features; run scripts/fit_reader_calibration.py")
        return cls(
            tuple(data["selection"]),
            data["selection_bias"],
            tuple(data["confidence"]),
            data["confidence_bias"],
            data["threshold"],
            data.get("extra_min_probability", 0.5),
            data.get("notes", {}),
        )

    def save(self, path: Path = CALIBRATION_FILE) -> None:
        data = {
            "selection_features": list(SELECTION_FEATURES),
            "selection": [round(float(w), 6) for w in self.selection],
            "selection_bias": round(float(self.selection_bias), 6),
            "confidence_features": list(confidence_feature_names()),
            "confidence": [round(float(w), 6) for w in self.confidence],
            "confidence_bias": round(float(self.confidence_bias), 6),
            "threshold": round(float(self.threshold), 4),
            "extra_min_probability": self.extra_min_probability,
            "notes": self.notes,
        }
        Path(path).write_text(json.dumps(data, indent=1) + "\n")


def confidence_feature_names() -> tuple[str, ...]:
    return READER_CONFIDENCE_FEATURES + CONFIDENCE_FEATURES


@dataclass
class Reading:
    """The evidence for one question: every candidate sentence, and what the reader said of those it read."""

    found: Candidates
    ranker: np.ndarray  # feature ranker logit per candidate
    read: np.ndarray  # bool per candidate: read by the reader (not a heading, among the best max_read)
    relevance: np.ndarray  # reader logit per candidate (-inf where not read)
    span_start: np.ndarray  # character offsets of the short answer in the sentence
    span_end: np.ndarray
    span_score: np.ndarray

    def selection_features(self) -> np.ndarray:
        ranks = self.found.passage_ranks.astype(np.float32)
        relevance = np.where(self.read, self.relevance, 0.0)
        span = np.where(self.read & np.isfinite(self.span_score), self.span_score, 0.0)
        return np.stack([relevance, self.ranker, 1.0 / (ranks + 1.0), span], axis=1).astype(np.float32)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class ReaderAnswerer:
    """Sentence choice, short answer and abstention from the reader model."""

    name = "reader"

    def __init__(
        self,
        feature_model: AnswerModel,
        settings: AnswerSettings,
        calibration: ReaderCalibration | None = None,
        reader: Reader | None = None,
        max_read: int = 16,
    ) -> None:
        self.feature_model = feature_model
        self.settings = settings
        self.reader = reader or Reader()
        self.calibration = calibration if calibration is not None else ReaderCalibration.load()
        self.max_read = max_read

    @property
    def threshold(self) -> float:
        return self.calibration.threshold if self.settings.abstain_below is None else self.settings.abstain_below

    # ------------------------------------------------------------------ evidence
    def read(self, snapshot: Snapshot, question: str, query_vector: np.ndarray, ranked: list[RankedPassage]) -> Reading | None:
        found = candidates(snapshot, question, query_vector, ranked)
        if not len(found.sentence_ids):
            return None
        ranker = ranker_logits(self.feature_model, found)
        texts = [snapshot.sentence_text(int(i)) for i in found.sentence_ids]
        eligible = np.array([not is_heading(t, sentence_title(snapshot, int(i))) for t, i in zip(texts, found.sentence_ids)])
        order = [i for i in np.argsort(-ranker, kind="stable") if eligible[i]][: self.max_read]
        n = len(texts)
        read = np.zeros(n, bool)
        relevance = np.full(n, -np.inf, np.float32)
        span_start = np.zeros(n, np.int64)
        span_end = np.zeros(n, np.int64)
        span_score = np.full(n, -np.inf, np.float32)
        if order:
            titles = [snapshot.articles[snapshot.passage_row(ranked[int(found.passage_ranks[i])].passage_id)[0]].title for i in order]
            readings = self.reader.read(question, [texts[i] for i in order], titles)
            for i, reading in zip(order, readings):
                read[i] = True
                relevance[i] = reading.relevance
                span_start[i], span_end[i], span_score[i] = reading.span_start, reading.span_end, reading.span_score
        return Reading(found, ranker, read, relevance, span_start, span_end, span_score)

    def blend(self, reading: Reading) -> np.ndarray:
        """Per candidate, the fitted selection logit; -inf for sentences the reader did not read."""
        c = self.calibration
        scores = reading.selection_features() @ np.asarray(c.selection, np.float32) + c.selection_bias
        return np.where(reading.read, scores, -np.inf)

    def confidence_row(self, snapshot: Snapshot, reading: Reading, blend: np.ndarray, ranked: list[RankedPassage]) -> tuple[int, np.ndarray]:
        best = int(np.argmax(blend))
        finite = blend[np.isfinite(blend)]
        runner_up = np.partition(finite, -2)[-2] if len(finite) > 1 else blend[best] - 5.0
        relevance = reading.relevance[reading.read]
        rel_runner_up = np.partition(relevance, -2)[-2] if len(relevance) > 1 else reading.relevance[best] - 5.0
        sentence = snapshot.sentence_text(int(reading.found.sentence_ids[best]))
        span_words = len(sentence[reading.span_start[best] : reading.span_end[best]].split())
        own = np.array(
            [
                blend[best],
                blend[best] - runner_up,
                reading.relevance[best],
                reading.relevance[best] - rel_runner_up,
                reading.span_score[best],
                np.log1p(span_words),
            ],
            dtype=np.float32,
        )
        return best, np.concatenate([own, confidence_features(reading.found, reading.ranker, best, ranked)])

    def confidence_of(self, row: np.ndarray) -> float:
        c = self.calibration
        return float(_sigmoid(row @ np.asarray(c.confidence, np.float32) + c.confidence_bias))

    # ------------------------------------------------------------------ answer
    def answer(
        self,
        snapshot: Snapshot,
        question: str,
        query_vector: np.ndarray,
        ranked: list[RankedPassage],
        abstain_below: float | None = None,
    ) -> Answer:
        settings = self.settings if abstain_below is None else replace(self.settings, abstain_below=abstain_below)
        related = [hit_for(snapshot, r) for r in ranked[: settings.related]]
        top = ranked[: settings.answer_passages]
        reading = self.read(snapshot, question, query_vector, top)
        if reading is None or not reading.read.any():
            return Answer(question, NOT_FOUND, True, 0.0, [], related)
        blend = self.blend(reading)
        best, row = self.confidence_row(snapshot, reading, blend, top)
        confidence = self.confidence_of(row)
        threshold = self.calibration.threshold if settings.abstain_below is None else settings.abstain_below
        if confidence < threshold:
            return Answer(question, NOT_FOUND, True, confidence, [], related)
        chosen = self.choose(snapshot, reading, blend, best, settings)
        sentence_id = int(reading.found.sentence_ids[best])
        start, end = (int(x) for x in snapshot.sentence_row(sentence_id)[1:3])
        s, e = int(reading.span_start[best]), int(reading.span_end[best])
        short = None
        if 0 <= s < e <= end - start and (e - s) < MAX_SHORT_SHARE * (end - start):
            short = (start + s, start + e)
        return cite(snapshot, question, chosen, top, confidence, related, short=short)

    def choose(self, snapshot: Snapshot, reading: Reading, blend: np.ndarray, best: int, settings: AnswerSettings) -> list[tuple[int, int]]:
        """The best sentence, then likely runners-up (by the blend) among those the reader read."""
        return choose_sentences(snapshot, reading.found, blend, best, settings, self.calibration.extra_min_probability, reading.read)
