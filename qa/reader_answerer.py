"""The reader answerer (the default, `QA_ANSWERER=reader`): the reader model chooses the sentence,
finds the short answer inside it, and its evidence decides whether the articles answer at all.

Candidates are the sentences of the best passages (headlines and headings excluded: they can name
a topic but never answer). The feature ranker of `answering.py` orders them cheaply and the reader
reads the best `max_read` of them together with the question. The sentence is chosen by a
conditional-logit (softmax) model over the sentences read: a linear score of the reader's relevance
logit and span score, its relevance for the sentences beside it and for its passage, the feature
ranker's logit and the ranker's own sentence features. Fitted listwise (which sentence of this
question answers it) rather than per sentence, it picks the right one more often (held out on SQuAD 2.0
dev: 0.860 -> 0.876, README "Answer quality"). A reader trained on passages also reads the best few
passages whole (one run each): how well a sentence answers inside its passage is a choice feature too,
since a sentence that needs its neighbours ("He said ...") reads better there than alone. The confidence is a logistic model over the chosen
sentence's evidence (choice score, margin and probability, reader relevance, span score, coverage of
the question's terms, retrieval scores). Both are fitted by
`scripts/fit_reader_calibration.py` on SQuAD 2.0 dev articles with article-wise cross-validation
(so the reported numbers come from articles the models were not fitted on) and stored beside the
model in `qa/models/reader/calibration.json`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .answering import (
    CONFIDENCE_FEATURES,
    SENTENCE_FEATURES,
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
from .reader import MODEL_DIR, PassageReading, Reader
from .retrieval import RankedPassage
from .store import Snapshot
from .types import Answer

CALIBRATION_FILE = MODEL_DIR / "calibration.json"

# What the sentence choice and the confidence model read, in order. Reader features of a sentence,
# then the feature ranker's sentence features (answering.SENTENCE_FEATURES) as they are.
READER_SELECTION_FEATURES = (
    "reader_relevance",
    "span_score",
    "ranker_logit",
    "previous_relevance",  # the reader's relevance of the sentence before it in its passage (-10 if none or unread)
    "next_relevance",
    "passage_best_relevance",
    "relevance_rank_reciprocal",
)
SELECTION_FEATURES = READER_SELECTION_FEATURES + SENTENCE_FEATURES
READER_CONFIDENCE_FEATURES = (
    "choice_score",
    "choice_margin",
    "choice_probability",
    "relevance_best",
    "relevance_margin",
    "span_score",
    "span_words",
)
# With a reader trained on passages too: the chosen sentence's passage read as a whole with the question
# (qa.reader.PassageReading): its relevance, and the best answer span's margin over "no answer" ([CLS])
# in the passage and inside the chosen sentence.
PASSAGE_CONFIDENCE_FEATURES = ("passage_relevance", "passage_answer_margin", "sentence_answer_margin")
# And the best few passages read whole help choose the sentence: per candidate, the margin of the best
# span inside it over "no answer" in its passage's read, that passage's relevance, and whether it was
# read (the defaults below where not).
PASSAGE_SELECTION_FEATURES = ("passage_sentence_margin", "passage_read_relevance", "passage_read")
UNREAD_RELEVANCE = -10.0
UNREAD_MARGIN = -20.0
# A short answer is only worth showing when it is shorter than this share of its sentence.
MAX_SHORT_SHARE = 0.8


@dataclass(frozen=True)
class ReaderCalibration:
    """Fitted numbers of the reader answerer: the choice model's weights (conditional logit) and the
    confidence model's (logistic), both on raw features."""

    selection: tuple[float, ...] = (1.0,) + (0.0,) * (len(SELECTION_FEATURES) - 1)  # choice-model weights, on selection_feature_names()
    confidence: tuple[float, ...] = ()  # on confidence_feature_names()
    confidence_bias: float = 0.0
    threshold: float = 1 / 3
    extra_min_probability: float = 0.25  # a runner-up pads the answer if its choice probability reaches this
    notes: dict = field(default_factory=dict, compare=False)
    passages: bool = False  # the confidence reads the chosen sentence's passage (PASSAGE_CONFIDENCE_FEATURES)
    passage_choice: int = 0  # this many passages are read whole to choose the sentence (PASSAGE_SELECTION_FEATURES)

    @classmethod
    def load(cls, path: Path = CALIBRATION_FILE) -> "ReaderCalibration":
        data = json.loads(Path(path).read_text())
        names = tuple(data["confidence_features"])
        passage_choice = int(data.get("passage_choice", 0))
        if tuple(data["selection_features"]) != selection_feature_names(passage_choice > 0) or names not in (confidence_feature_names(False), confidence_feature_names(True)):
            raise ValueError(f"{path} was fitted for other features; run scripts/fit_reader_calibration.py")
        return cls(
            tuple(data["selection"]),
            tuple(data["confidence"]),
            data["confidence_bias"],
            data["threshold"],
            data["extra_min_probability"],
            data.get("notes", {}),
            names == confidence_feature_names(True),
            passage_choice,
        )

    def save(self, path: Path = CALIBRATION_FILE) -> None:
        data = {
            "selection_features": list(selection_feature_names(self.passage_choice > 0)),
            "passage_choice": self.passage_choice,
            "selection": [round(float(w), 6) for w in self.selection],
            "confidence_features": list(confidence_feature_names(self.passages)),
            "confidence": [round(float(w), 6) for w in self.confidence],
            "confidence_bias": round(float(self.confidence_bias), 6),
            "threshold": round(float(self.threshold), 4),
            "extra_min_probability": self.extra_min_probability,
            "notes": self.notes,
        }
        Path(path).write_text(json.dumps(data, indent=1) + "\n")


def confidence_feature_names(passages: bool = False) -> tuple[str, ...]:
    return READER_CONFIDENCE_FEATURES + CONFIDENCE_FEATURES + (PASSAGE_CONFIDENCE_FEATURES if passages else ())


def selection_feature_names(passages: bool = False) -> tuple[str, ...]:
    return SELECTION_FEATURES + (PASSAGE_SELECTION_FEATURES if passages else ())


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
    question: str = ""  # as the reader read it
    # What the reader said of whole passages, by passage rank, with a span score for each candidate of the
    # passage (in candidate order): each read once, when needed.
    passages: dict[int, PassageReading] = field(default_factory=dict)

    def passage_members(self, rank: int) -> np.ndarray:
        """The candidates (indices) of the passage of this rank, in order."""
        return np.flatnonzero(self.found.passage_ranks == rank)

    def passage_features(self, ranks: list[int]) -> np.ndarray:
        """Rows: candidates; columns: PASSAGE_SELECTION_FEATURES, from the reads of these passages only."""
        out = np.tile(np.array([UNREAD_MARGIN, UNREAD_RELEVANCE, 0.0], np.float32), (len(self.found.sentence_ids), 1))
        for rank in ranks:
            passage = self.passages[rank]
            for i, score in zip(self.passage_members(rank), passage.sentence_span_scores):
                out[i] = (score - passage.null_score if np.isfinite(score) else UNREAD_MARGIN, passage.relevance, 1.0)
        return out

    def selection_features(self) -> np.ndarray:
        """Rows: candidates; columns: SELECTION_FEATURES."""
        relevance = np.where(self.read, self.relevance, UNREAD_RELEVANCE).astype(np.float32)
        span = np.where(self.read & np.isfinite(self.span_score), self.span_score, 0.0)
        ids, ranks = self.found.sentence_ids, self.found.passage_ranks
        where = {int(s): i for i, s in enumerate(ids)}

        def beside(step: int) -> np.ndarray:
            out = np.full(len(ids), UNREAD_RELEVANCE, np.float32)
            for i, s in enumerate(ids):
                j = where.get(int(s) + step)
                if j is not None and ranks[j] == ranks[i]:
                    out[i] = relevance[j]
            return out

        passage_best = np.array([relevance[ranks == r].max() for r in ranks], np.float32)
        relevance_rank = np.argsort(np.argsort(-relevance, kind="stable"), kind="stable").astype(np.float32)
        reader = np.stack(
            [relevance, span, self.ranker, beside(-1), beside(1), passage_best, 1.0 / (relevance_rank + 1.0)], axis=1
        )
        return np.concatenate([reader, self.found.features], axis=1).astype(np.float32)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def choice_probabilities(scores: np.ndarray) -> np.ndarray:
    """Softmax of the choice scores over the sentences read (0 where a score is -inf)."""
    finite = np.isfinite(scores)
    out = np.zeros(len(scores))
    if finite.any():
        z = scores[finite] - scores[finite].max()
        out[finite] = np.exp(z) / np.exp(z).sum()
    return out


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
        if (self.calibration.passages or self.calibration.passage_choice) and not self.reader.reads_passages:
            raise ValueError(f"the calibration reads passages, but the reader in {self.reader.model_dir} was not trained on them")

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
        return Reading(found, ranker, read, relevance, span_start, span_end, span_score, question)

    def choice_passages(self, reading: Reading) -> list[int]:
        """The ranks of the passages read whole to choose the sentence: the calibration's `passage_choice`
        best, by the reader's relevance of their best sentence."""
        best: dict[int, float] = {}
        for i in np.flatnonzero(reading.read):
            rank = int(reading.found.passage_ranks[i])
            best[rank] = max(best.get(rank, -np.inf), float(reading.relevance[i]))
        return sorted(best, key=lambda rank: (-best[rank], rank))[: self.calibration.passage_choice]

    def selection_features(self, snapshot: Snapshot, reading: Reading, ranked: list[RankedPassage]) -> np.ndarray:
        """Rows: candidates; columns: selection_feature_names() of the calibration (reading the choice passages if it uses them)."""
        features = reading.selection_features()
        if not self.calibration.passage_choice:
            return features
        ranks = self.choice_passages(reading)
        for rank in ranks:
            self.passage_reading(snapshot, reading, rank, ranked)
        return np.concatenate([features, reading.passage_features(ranks)], axis=1)

    def choice_scores(self, snapshot: Snapshot, reading: Reading, ranked: list[RankedPassage]) -> np.ndarray:
        """Per candidate, the choice model's score (a softmax over them gives each sentence's
        probability of being the one that answers); -inf for sentences the reader did not read."""
        scores = self.selection_features(snapshot, reading, ranked) @ np.asarray(self.calibration.selection, np.float32)
        return np.where(reading.read, scores, -np.inf)

    def confidence_row(self, snapshot: Snapshot, reading: Reading, scores: np.ndarray, ranked: list[RankedPassage]) -> tuple[int, np.ndarray]:
        """The chosen candidate (best choice score) and its confidence features (confidence_feature_names())."""
        best = int(np.argmax(scores))
        finite = scores[np.isfinite(scores)]
        runner_up = np.partition(finite, -2)[-2] if len(finite) > 1 else scores[best] - 5.0
        relevance = reading.relevance[reading.read]
        rel_runner_up = np.partition(relevance, -2)[-2] if len(relevance) > 1 else reading.relevance[best] - 5.0
        sentence = snapshot.sentence_text(int(reading.found.sentence_ids[best]))
        span_words = len(sentence[reading.span_start[best] : reading.span_end[best]].split())
        own = np.array(
            [
                scores[best],
                scores[best] - runner_up,
                choice_probabilities(scores)[best],
                reading.relevance[best],
                reading.relevance[best] - rel_runner_up,
                reading.span_score[best],
                np.log1p(span_words),
            ],
            dtype=np.float32,
        )
        row = np.concatenate([own, confidence_features(reading.found, reading.ranker, best, ranked)])
        if self.calibration.passages:
            rank = int(reading.found.passage_ranks[best])
            passage = self.passage_reading(snapshot, reading, rank, ranked)
            focus = passage.sentence_span_scores[int(np.searchsorted(reading.passage_members(rank), best))]
            margins = [passage.best_span_score - passage.null_score, focus - passage.null_score]
            row = np.concatenate([row, np.array([passage.relevance, *(m if np.isfinite(m) else UNREAD_MARGIN for m in margins)], np.float32)])
        return best, row

    def passage_reading(self, snapshot: Snapshot, reading: Reading, rank: int, ranked: list[RankedPassage]) -> PassageReading:
        """The reader on the whole passage of this rank, scoring each of its candidate sentences (cached on `reading`)."""
        if rank not in reading.passages:
            passage_id = ranked[rank].passage_id
            article, p_start = snapshot.passage_row(passage_id)[:2]
            spans = []
            for i in reading.passage_members(rank):
                s_start, s_end = snapshot.sentence_row(int(reading.found.sentence_ids[i]))[1:3]
                spans.append((int(s_start) - int(p_start), int(s_end) - int(p_start)))
            reading.passages[rank] = self.reader.read_passage(reading.question, snapshot.passage_text(passage_id), snapshot.articles[article].title, spans)
        return reading.passages[rank]

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
        scores = self.choice_scores(snapshot, reading, top)
        best, row = self.confidence_row(snapshot, reading, scores, top)
        confidence = self.confidence_of(row)
        threshold = self.calibration.threshold if settings.abstain_below is None else settings.abstain_below
        if confidence < threshold:
            return Answer(question, NOT_FOUND, True, confidence, [], related)
        chosen = self.choose(snapshot, reading, scores, best, settings)
        sentence_id = int(reading.found.sentence_ids[best])
        start, end = (int(x) for x in snapshot.sentence_row(sentence_id)[1:3])
        s, e = int(reading.span_start[best]), int(reading.span_end[best])
        short = None
        if 0 <= s < e <= end - start and (e - s) < MAX_SHORT_SHARE * (end - start):
            short = (start + s, start + e)
        return cite(snapshot, question, chosen, top, confidence, related, short=short)

    def choose(self, snapshot: Snapshot, reading: Reading, scores: np.ndarray, best: int, settings: AnswerSettings) -> list[tuple[int, int]]:
        """The best sentence, then likely runners-up (by choice probability) among those the reader read."""
        return choose_sentences(
            snapshot, reading.found, choice_probabilities(scores), best, settings, self.calibration.extra_min_probability, reading.read
        )
