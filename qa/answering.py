"""Answering: pick the sentences of the best passages that answer the question, and cite them.

Sentence vectors are computed at index time, so choosing sentences costs dot products. Each candidate
sentence gets features — its similarity to the question, how much of the question's content (weighted
by rarity) it and its passage contain, the passage's retrieval score and rank, whether it is a real
sentence, whether it has a number when the question asks for one — and a small logistic model learned
on SQuAD 2.0 (`scripts/fit_answer_model.py`, weights in `answer_model.json`) ranks them. A second
logistic model turns the evidence for the best sentence into a calibrated confidence; below the
threshold the answer says the articles do not answer the question and lists the closest passages.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .lexical import terms
from .retrieval import RankedPassage
from .store import Snapshot
from .types import Answer, Citation, Hit

NOT_FOUND = "The articles do not answer this question."
MODEL_FILE = Path(__file__).with_name("answer_model.json")

# A sentence ends like one; headlines, captions and list items usually do not.
_TERMINAL = re.compile(r"[.!?…][\"'”’)\]]*$")
_NUMBER_QUESTION = re.compile(
    r"\b(how (many|much|long|old|far|large|big|tall|high|often)|when|what (year|decade|century|date|percentage|percent|number|amount)|which (year|decade|century))\b",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")

SENTENCE_FEATURES = (
    "cosine",
    "cosine_minus_best",
    "sentence_coverage",
    "sentence_term_share",
    "sentence_bigram_share",
    "previous_sentence_coverage",
    "novel_term_share",
    "passage_coverage",
    "passage_score_minus_best",
    "passage_rank_reciprocal",
    "first_in_passage",
    "fragment",
    "log_words",
    "number_asked_and_present",
    "number_asked_and_absent",
    "name_asked_and_new_name",
    "question_names_in_sentence",
)
CONFIDENCE_FEATURES = (
    "ranker_logit",
    "ranker_margin",
    "cosine",
    "sentence_coverage",
    "sentence_bigram_share",
    "passage_coverage",
    "passage_bigram_share",
    "best_passage_coverage",
    "covered_anywhere",
    "rarest_missing_term",
    "question_names_missing",
    "question_numbers_missing",
    "negation_mismatch",
    "number_asked_and_present",
    "number_asked_and_absent",
    "name_asked_and_new_name",
    "novel_term_share",
    "passage_dense",
    "passage_sentence",
    "passage_lexical",
)
_NAME_QUESTION = re.compile(r"^\s*(who|whom|whose|where)\b|\b(which|what) (person|people|man|woman|city|country|company|team|group|organi[sz]ation)\b", re.IGNORECASE)
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’-]+")
_NUMBERS = re.compile(r"\d+(?:[.,]\d+)*")
_NEGATION = re.compile(r"\b(not|never|no|n't|without|none|neither|nor|fail(?:ed|s)?)\b|n't\b", re.IGNORECASE)


_SMALL_WORDS = frozenset("a an and as at by for in of on or the to vs with from".split())


def is_heading(text: str, title: str | None = None) -> bool:
    """A headline or heading: a line that does not end like a sentence and is the article's title,
    or is in Title Case, or is a few words without a number ("Rail reopening", "What was built").
    It may give context, but it never stands as an answer sentence. A list item that states a fact
    ("300 panels on the old mill roof") is not a heading."""
    text = " ".join(text.split())
    if _TERMINAL.search(text) or len(text.split()) > 15:
        return False
    if title and text.casefold() == " ".join(title.split()).casefold():
        return True
    words = [w for w in re.findall(r"[^\W\d_][\w'’-]*", text) if w.lower() not in _SMALL_WORDS]
    if len(words) > 1 and sum(w[0].isupper() for w in words) / len(words) >= 0.75:
        return True
    return len(text.split()) <= 4 and not _DIGIT.search(text)


@dataclass(frozen=True)
class AnswerModel:
    """Weights of the sentence ranker and the confidence model (logistic, on raw features)."""

    ranker: tuple[float, ...]
    ranker_bias: float
    confidence: tuple[float, ...]
    confidence_bias: float
    threshold: float = 0.5
    extra_min_probability: float = 0.5  # a second or third sentence must be at least this likely
    notes: dict = field(default_factory=dict, compare=False)

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> "AnswerModel":
        data = json.loads(Path(path).read_text())
        if tuple(data["sentence_features"]) != SENTENCE_FEATURES or tuple(data["confidence_features"]) != CONFIDENCE_FEATURES:
            raise ValueError(f"{path} was fitted for other features; run scripts/fit_answer_model.py")
        return cls(
            ranker=tuple(data["ranker"]),
            ranker_bias=data["ranker_bias"],
            confidence=tuple(data["confidence"]),
            confidence_bias=data["confidence_bias"],
            threshold=data["threshold"],
            extra_min_probability=data["extra_min_probability"],
            notes=data.get("notes", {}),
        )

    def save(self, path: Path = MODEL_FILE) -> None:
        data = {
            "sentence_features": list(SENTENCE_FEATURES),
            "ranker": [round(float(w), 6) for w in self.ranker],
            "ranker_bias": round(float(self.ranker_bias), 6),
            "confidence_features": list(CONFIDENCE_FEATURES),
            "confidence": [round(float(w), 6) for w in self.confidence],
            "confidence_bias": round(float(self.confidence_bias), 6),
            "threshold": round(float(self.threshold), 4),
            "extra_min_probability": self.extra_min_probability,
            "notes": self.notes,
        }
        Path(path).write_text(json.dumps(data, indent=1) + "\n")


@dataclass(frozen=True)
class AnswerSettings:
    answer_passages: int = 5
    max_sentences: int = 3
    related: int = 3
    abstain_below: float | None = None  # None: the model's threshold
    max_words: int = 70


@dataclass
class Candidates:
    """Every sentence of the top passages, with features; and what the question's evidence looks like."""

    sentence_ids: np.ndarray
    passage_ranks: np.ndarray  # index into the ranked passages
    features: np.ndarray  # rows: sentences, columns: SENTENCE_FEATURES
    passage_coverage: np.ndarray  # per ranked passage
    passage_bigrams: np.ndarray  # per ranked passage
    passage_details: list[dict]  # per ranked passage: what of the question it lacks
    covered_anywhere: float


def sentence_title(snapshot: Snapshot, sentence_id: int) -> str:
    """The title of the article a sentence belongs to."""
    return snapshot.articles[int(snapshot.sentence_row(sentence_id)[0])].title


def hit_for(snapshot: Snapshot, ranked: RankedPassage) -> Hit:
    article_index, start, end = snapshot.passage_row(ranked.passage_id)[:3]
    article = snapshot.articles[article_index]
    return Hit(
        passage_id=ranked.passage_id,
        text=article.text[start:end],
        article=article,
        score=ranked.score,
        start=start,
        end=end,
    )


def _bigrams(items: tuple[str, ...]) -> set[tuple[str, str]]:
    return set(zip(items, items[1:]))


def _names(text: str) -> set[str]:
    """Stems of capitalised words that do not start a sentence: names, places, organisations."""
    found: set[str] = set()
    for word in _CAPITALISED.findall(text):
        found.update(terms(word))
    return found


class _Question:
    """What a question asks for, in the terms the features compare."""

    def __init__(self, question: str, snapshot: Snapshot) -> None:
        self.terms = tuple(dict.fromkeys(terms(question)))
        # 1 + idf: rare terms weigh more, but in a small corpus common ones still count.
        self.idf = snapshot.lexical.idf(self.terms)
        self.weights = 1.0 + self.idf
        self.total = float(self.weights.sum()) or 1.0
        self._weight_of = dict(zip(self.terms, self.weights.tolist()))  # plain floats: called per sentence
        self.bigrams = _bigrams(terms(question))
        self.names = _names(question)
        self.numbers = set(_NUMBERS.findall(question))
        self.negated = bool(_NEGATION.search(question))
        self.wants_number = bool(_NUMBER_QUESTION.search(question))
        self.wants_name = bool(_NAME_QUESTION.search(question))

    def coverage(self, found: set[str]) -> tuple[float, float]:
        """(rarity-weighted, plain) share of the question's terms in `found`."""
        if not self.terms:
            return 0.0, 0.0
        hits = [t for t in self.terms if t in found]
        return sum(self._weight_of[t] for t in hits) / self.total, len(hits) / len(self.terms)

    def bigram_share(self, items: tuple[str, ...]) -> float:
        return len(self.bigrams & _bigrams(items)) / len(self.bigrams) if self.bigrams else 0.0

    def rarest_missing(self, found: set[str]) -> float:
        """idf of the rarest question term missing from `found`, relative to the question's rarest."""
        if not self.terms:
            return 0.0
        missing = [w for t, w in zip(self.terms, self.idf) if t not in found]
        return float(max(missing) / max(self.idf.max(), 1e-6)) if missing else 0.0


def candidates(snapshot: Snapshot, question: str, query_vector: np.ndarray, ranked: list[RankedPassage]) -> Candidates:
    asked = _Question(question, snapshot)
    sentence_ids, ranks, rows = [], [], []
    passage_coverage, passage_bigrams, details = [], [], []
    covered: set[str] = set()
    best_score = ranked[0].score if ranked else 0.0
    seen: set[int] = set()
    for rank, passage in enumerate(ranked):
        article_index, _, _, first, last = snapshot.passage_row(passage.passage_id)
        passage_text = snapshot.passage_text(passage.passage_id)
        title = snapshot.articles[article_index].title
        passage_terms = set(terms(passage_text)) | set(terms(title))
        covered |= passage_terms
        p_cov, _ = asked.coverage(passage_terms)
        passage_coverage.append(p_cov)
        passage_bigrams.append(asked.bigram_share(terms(title) + terms(passage_text)))
        negated_here = bool(_NEGATION.search(passage_text))
        details.append(
            {
                "rarest_missing": asked.rarest_missing(passage_terms),
                "names_missing": len(asked.names - passage_terms) / len(asked.names) if asked.names else 0.0,
                "numbers_missing": len({n for n in asked.numbers if n not in passage_text}) / len(asked.numbers) if asked.numbers else 0.0,
                "negation_mismatch": float(asked.negated != negated_here),
            }
        )
        previous_terms: set[str] = set()
        article_text = snapshot.articles[article_index].text
        spans = snapshot.sentence_spans(first, last)  # one read of the memory map
        for sentence_id, (start, end) in zip(range(first, last), spans):
            text = article_text[start:end]
            sentence_terms_ordered = terms(text)
            sentence_terms = set(sentence_terms_ordered)
            if sentence_id not in seen:
                seen.add(sentence_id)
                s_cov, s_share = asked.coverage(sentence_terms)
                prev_cov, _ = asked.coverage(previous_terms)
                novel = len(sentence_terms - set(asked.terms)) / len(sentence_terms) if sentence_terms else 0.0
                has_number = bool(_DIGIT.search(text))
                new_names = bool(_names(text) - asked.names)
                sentence_ids.append(sentence_id)
                ranks.append(rank)
                rows.append(
                    [
                        0.0,  # cosine and cosine_minus_best, filled below in one product
                        0.0,
                        s_cov,
                        s_share,
                        asked.bigram_share(sentence_terms_ordered),
                        prev_cov,
                        novel,
                        p_cov,
                        passage.score - best_score,
                        1.0 / (rank + 1),
                        float(sentence_id == first),
                        0.0 if _TERMINAL.search(text) else 1.0,
                        float(np.log1p(len(text.split()))),
                        float(asked.wants_number and has_number),
                        float(asked.wants_number and not has_number),
                        float(asked.wants_name and new_names),
                        len(asked.names & sentence_terms) / len(asked.names) if asked.names else 1.0,
                    ]
                )
            previous_terms = sentence_terms
    features = np.array(rows, dtype=np.float32).reshape(-1, len(SENTENCE_FEATURES))
    if len(sentence_ids):
        cosines = np.asarray(snapshot.sentence_vectors[np.array(sentence_ids)]) @ query_vector
        features[:, 0] = cosines
        features[:, 1] = cosines - cosines.max()
    covered_anywhere, _ = asked.coverage(covered)
    return Candidates(
        np.array(sentence_ids, dtype=np.int64),
        np.array(ranks, dtype=np.int64),
        features,
        np.array(passage_coverage),
        np.array(passage_bigrams),
        details,
        covered_anywhere,
    )


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def ranker_logits(model: AnswerModel, found: Candidates) -> np.ndarray:
    return found.features @ np.asarray(model.ranker, dtype=np.float32) + model.ranker_bias


def confidence_features(found: Candidates, logits: np.ndarray, best: int, ranked: list[RankedPassage]) -> np.ndarray:
    runner_up = np.partition(logits, -2)[-2] if len(logits) > 1 else logits[best] - 5.0
    rank = int(found.passage_ranks[best])
    passage = ranked[rank]
    row = found.features[best]
    detail = found.passage_details[rank]
    column = SENTENCE_FEATURES.index
    return np.array(
        [
            logits[best],
            logits[best] - runner_up,
            row[column("cosine")],
            row[column("sentence_coverage")],
            row[column("sentence_bigram_share")],
            row[column("passage_coverage")],
            found.passage_bigrams[rank],
            float(found.passage_coverage.max()),
            found.covered_anywhere,
            detail["rarest_missing"],
            detail["names_missing"],
            detail["numbers_missing"],
            detail["negation_mismatch"],
            row[column("number_asked_and_present")],
            row[column("number_asked_and_absent")],
            row[column("name_asked_and_new_name")],
            row[column("novel_term_share")],
            passage.dense,
            passage.sentence,
            passage.lexical,
        ],
        dtype=np.float32,
    )


def confidence_of(model: AnswerModel, features: np.ndarray) -> float:
    return float(_sigmoid(features @ np.asarray(model.confidence, dtype=np.float32) + model.confidence_bias))


def compose(
    snapshot: Snapshot,
    question: str,
    query_vector: np.ndarray,
    ranked: list[RankedPassage],
    settings: AnswerSettings,
    model: AnswerModel,
) -> Answer:
    related = [hit_for(snapshot, r) for r in ranked[: settings.related]]
    top = ranked[: settings.answer_passages]
    found = candidates(snapshot, question, query_vector, top)
    if not len(found.sentence_ids):
        return Answer(question, NOT_FOUND, True, 0.0, [], related)
    logits = ranker_logits(model, found)
    headings = np.array([is_heading(snapshot.sentence_text(int(i)), sentence_title(snapshot, int(i))) for i in found.sentence_ids])
    if not headings.all():
        logits = np.where(headings, logits.min() - 10.0, logits)  # a heading never leads an answer
    best = int(np.argmax(logits))
    confidence = confidence_of(model, confidence_features(found, logits, best, top))
    threshold = model.threshold if settings.abstain_below is None else settings.abstain_below
    if confidence < threshold:
        return Answer(question, NOT_FOUND, True, confidence, [], related)
    chosen = choose_by_features(snapshot, found, logits, settings, model)
    return cite(snapshot, question, chosen, top, confidence, related)


def choose_sentences(
    snapshot: Snapshot,
    found: Candidates,
    probabilities: np.ndarray,
    best: int,
    settings: AnswerSettings,
    min_probability: float,
    can_pad: np.ndarray,
) -> list[tuple[int, int]]:
    """(sentence id, passage rank) of the `best` candidate, then likely runners-up by their
    `probabilities` (of holding the answer) that may pad an answer (`can_pad`), reach
    `min_probability`, fit the word budget and add something new."""
    chosen = [best]
    words = len(snapshot.sentence_text(int(found.sentence_ids[best])).split())
    for i in np.argsort(-probabilities, kind="stable"):
        i = int(i)
        if i == best or not can_pad[i]:
            continue
        if len(chosen) >= settings.max_sentences or probabilities[i] < min_probability:
            break
        sentence_id = int(found.sentence_ids[i])
        text_words = len(snapshot.sentence_text(sentence_id).split())
        if words + text_words > settings.max_words:
            continue
        vector = snapshot.sentence_vectors[sentence_id]
        if any(float(vector @ snapshot.sentence_vectors[int(found.sentence_ids[c])]) > 0.85 for c in chosen):
            continue
        chosen.append(i)
        words += text_words
    return [(int(found.sentence_ids[i]), int(found.passage_ranks[i])) for i in chosen]


def choose_by_features(
    snapshot: Snapshot, found: Candidates, logits: np.ndarray, settings: AnswerSettings, model: AnswerModel
) -> list[tuple[int, int]]:
    """The feature answerer's choice: the best-ranked sentence, padded by runners-up that are real
    sentences (a heading or caption never pads an answer)."""
    not_fragment = found.features[:, SENTENCE_FEATURES.index("fragment")] == 0
    best = int(np.argsort(-logits, kind="stable")[0])
    return choose_sentences(snapshot, found, _sigmoid(logits), best, settings, model.extra_min_probability, not_fragment)


def _adjacent(group: list[tuple[int, int]], sentence: tuple[int, int]) -> bool:
    ids = [s for s, _ in group]
    return group[0][1] == sentence[1] and min(ids) - 1 <= sentence[0] <= max(ids) + 1


def cite(
    snapshot: Snapshot,
    question: str,
    chosen: list[tuple[int, int]],
    ranked: list[RankedPassage],
    confidence: float,
    related: list[Hit],
    short: tuple[int, int] | None = None,
) -> Answer:
    """Answer text with markers [n], numbered by first appearance. Sentences of one passage that
    are next to each other share a citation (its quote spans them); others get their own.
    `short`: the short answer as article offsets inside the first chosen sentence; it leads the text."""
    groups: list[list[tuple[int, int]]] = []
    parts = []
    for sentence in chosen:
        group = next((g for g in groups if _adjacent(g, sentence)), None)
        if group is None:
            group = []
            groups.append(group)
        group.append(sentence)
        parts.append(f"{snapshot.sentence_text(sentence[0])} [{groups.index(group) + 1}]")
    citations = []
    for number, group in enumerate(groups, start=1):
        passage = ranked[group[0][1]]
        article_index, p_start, p_end = snapshot.passage_row(passage.passage_id)[:3]
        article = snapshot.articles[article_index]
        spans = [tuple(snapshot.sentence_row(s)[1:3]) for s, _ in group]
        q_start, q_end = min(a for a, _ in spans), max(b for _, b in spans)
        holds_short = short is not None and number == 1
        citations.append(
            Citation(
                number=number,
                article_id=article.id,
                title=article.title,
                source=article.source,
                date=article.date,
                passage=article.text[p_start:p_end],
                quote=article.text[q_start:q_end],
                start=q_start,
                end=q_end,
                score=passage.score,
                passage_start=p_start,
                page=article.page_at(q_start),
                url=article.url,
                answer_start=short[0] if holds_short else None,
                answer_end=short[1] if holds_short else None,
            )
        )
    text = " ".join(parts)
    short_answer = None
    if short is not None:
        first = citations[0]
        short_answer = snapshot.articles[snapshot.article_index[first.article_id]].text[short[0] : short[1]]
        text = f"{short_answer} — {text}"
    return Answer(question, text, False, confidence, citations, related, short_answer=short_answer)


class FeatureAnswerer:
    """Today's answerer without a reader: the logistic sentence ranker and confidence model above
    (`QA_ANSWERER=features`). Gives no short answer."""

    name = "features"

    def __init__(self, model: AnswerModel, settings: AnswerSettings) -> None:
        self.model = model
        self.settings = settings

    @property
    def threshold(self) -> float:
        return self.model.threshold if self.settings.abstain_below is None else self.settings.abstain_below

    def answer(
        self,
        snapshot: Snapshot,
        question: str,
        query_vector: np.ndarray,
        ranked: list[RankedPassage],
        abstain_below: float | None = None,
    ) -> Answer:
        settings = self.settings if abstain_below is None else replace(self.settings, abstain_below=abstain_below)
        return compose(snapshot, question, query_vector, ranked, settings, self.model)
