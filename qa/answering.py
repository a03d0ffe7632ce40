"""Answering: pick the sentences of the best passages that answer the question, and cite them.

Sentence vectors are computed at index time, so choosing sentences costs dot products. A sentence's
score combines its similarity to the question, how many of the question's content terms it (or its
passage) contains, and its passage's rank. When the best sentence is not convincing the answer says
so instead of quoting something unrelated, and lists the closest passages as related reading.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .lexical import terms
from .retrieval import RankedPassage
from .store import Snapshot
from .types import Answer, Citation, Hit

NOT_FOUND = "The articles do not answer this question."
# A sentence ends like one; headlines, captions and list items usually do not.
_TERMINAL = re.compile(r"[.!?…][\"'”’)\]]*$")


@dataclass(frozen=True)
class AnswerSettings:
    answer_passages: int = 5
    max_sentences: int = 3
    related: int = 3
    abstain_below: float = 0.5
    max_words: int = 80


@dataclass(frozen=True)
class ScoredSentence:
    sentence_id: int
    passage_id: int
    passage_rank: int
    dense: float
    lexical: float
    score: float


def hit_for(snapshot: Snapshot, ranked: RankedPassage) -> Hit:
    article_index, start, end = (int(x) for x in snapshot.passages[ranked.passage_id][:3])
    article = snapshot.articles[article_index]
    return Hit(
        passage_id=ranked.passage_id,
        text=article.text[start:end],
        article=article,
        score=ranked.score,
        start=start,
        end=end,
    )


def _coverage(question_terms: set[str], text: str) -> float:
    if not question_terms:
        return 0.0
    return len(question_terms & set(terms(text))) / len(question_terms)


def score_sentences(
    snapshot: Snapshot, question: str, query_vector: np.ndarray, ranked: list[RankedPassage]
) -> list[ScoredSentence]:
    """Every sentence of the given passages, scored, best first (each sentence once)."""
    question_terms = set(terms(question))
    seen: set[int] = set()
    scored = []
    for rank, passage in enumerate(ranked):
        first, last = (int(x) for x in snapshot.passages[passage.passage_id][3:5])
        ids = [s for s in range(first, last) if s not in seen]
        seen.update(ids)
        if not ids:
            continue
        dense = np.asarray(snapshot.sentence_vectors[first:last] @ query_vector)[[s - first for s in ids]]
        passage_coverage = _coverage(question_terms, snapshot.passage_text(passage.passage_id))
        for sentence_id, cosine in zip(ids, dense):
            lexical = _coverage(question_terms, snapshot.sentence_text(sentence_id))
            fragment = 0.0 if _TERMINAL.search(snapshot.sentence_text(sentence_id)) else 0.05
            score = float(cosine) + 0.25 * lexical + 0.1 * passage_coverage + 0.05 / (rank + 1) - fragment
            scored.append(ScoredSentence(sentence_id, passage.passage_id, rank, float(cosine), lexical, score))
    scored.sort(key=lambda s: -s.score)
    return scored


def confidence_of(best: ScoredSentence) -> float:
    """How likely the best sentence answers the question (a logistic of its evidence)."""
    z = 14.0 * (best.dense + 0.35 * best.lexical - 0.42)
    return 1.0 / (1.0 + math.exp(-z))


def compose(
    snapshot: Snapshot,
    question: str,
    query_vector: np.ndarray,
    ranked: list[RankedPassage],
    settings: AnswerSettings,
) -> Answer:
    related = [hit_for(snapshot, r) for r in ranked[: settings.related]]
    scored = score_sentences(snapshot, question, query_vector, ranked[: settings.answer_passages])
    if not scored:
        return Answer(question, NOT_FOUND, True, 0.0, [], related)
    best = scored[0]
    confidence = confidence_of(best)
    if confidence < settings.abstain_below:
        return Answer(question, NOT_FOUND, True, confidence, [], related)
    chosen = _choose(snapshot, scored, settings)
    return _cite(snapshot, question, chosen, ranked, confidence, related)


def _choose(snapshot: Snapshot, scored: list[ScoredSentence], settings: AnswerSettings) -> list[ScoredSentence]:
    """The best sentence, plus close runners-up that add something new, within a word budget."""
    best = scored[0]
    chosen = [best]
    words = len(snapshot.sentence_text(best.sentence_id).split())
    for candidate in scored[1:]:
        if len(chosen) >= settings.max_sentences or candidate.score < best.score - 0.08:
            break
        text_words = len(snapshot.sentence_text(candidate.sentence_id).split())
        if words + text_words > settings.max_words:
            continue
        vector = snapshot.sentence_vectors[candidate.sentence_id]
        if any(float(vector @ snapshot.sentence_vectors[c.sentence_id]) > 0.85 for c in chosen):
            continue
        chosen.append(candidate)
        words += text_words
    return chosen


def _adjacent(group: list[ScoredSentence], sentence: ScoredSentence) -> bool:
    ids = [s.sentence_id for s in group]
    return group[0].passage_id == sentence.passage_id and min(ids) - 1 <= sentence.sentence_id <= max(ids) + 1


def _cite(
    snapshot: Snapshot,
    question: str,
    chosen: list[ScoredSentence],
    ranked: list[RankedPassage],
    confidence: float,
    related: list[Hit],
) -> Answer:
    """Answer text with markers [n], numbered by first appearance. Sentences of one passage that
    are next to each other share a citation (its quote spans them); others get their own."""
    groups: list[list[ScoredSentence]] = []
    parts = []
    for sentence in chosen:
        group = next((g for g in groups if _adjacent(g, sentence)), None)
        if group is None:
            group = []
            groups.append(group)
        group.append(sentence)
        parts.append(f"{snapshot.sentence_text(sentence.sentence_id)} [{groups.index(group) + 1}]")
    citations = []
    for number, group in enumerate(groups, start=1):
        passage_id = group[0].passage_id
        article_index, p_start, p_end = (int(x) for x in snapshot.passages[passage_id][:3])
        article = snapshot.articles[article_index]
        starts_ends = [tuple(int(x) for x in snapshot.sentences[s.sentence_id][1:3]) for s in group]
        q_start, q_end = min(a for a, _ in starts_ends), max(b for _, b in starts_ends)
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
                score=max(s.score for s in group),
                passage_start=p_start,
                page=article.page_at(q_start),
                url=article.url,
            )
        )
    return Answer(question, " ".join(parts), False, confidence, citations, related)
