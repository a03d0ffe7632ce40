"""Evaluation on SQuAD-format data: retrieval, answers, citations, abstention and calibration.

The file's articles become a fresh corpus (paragraphs joined by blank lines) in a temporary index,
and every question is asked against the whole corpus, as a user would. With a database store
(`store=`, `python -m qa eval FILE --store URL` or QA_STORE) the articles are indexed into that
database instead and asked through the same API, so the figures are the database store's; the
database must hold no other articles (they would join the results, and the evaluation's articles
would join theirs). A retrieval hit is a passage that overlaps the question's own paragraph; an
answer is right when its text contains a gold answer under SQuAD normalisation (lower case, no
punctuation, no articles).
"""
from __future__ import annotations

import json
from collections import Counter
import re
import statistics
import string
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .facade import QA
from .pgstore import PgStore, display_url
from .readers import read_folder
from .settings import Settings

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize(text: str) -> str:
    """SQuAD's answer normalisation."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD's token F1 between a predicted and a gold answer (after normalisation)."""
    predicted, wanted = normalize(prediction).split(), normalize(gold).split()
    same = sum((Counter(predicted) & Counter(wanted)).values())
    if not predicted or not wanted or same == 0:
        return float(predicted == wanted)
    precision, recall = same / len(predicted), same / len(wanted)
    return 2 * precision * recall / (precision + recall)


def contains_answer(text: str, answers: list[str]) -> bool:
    haystack = f" {normalize(text)} "
    return any(f" {normalize(a)} " in haystack for a in answers if normalize(a))


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    answers: list[str]
    impossible: bool
    title: str
    paragraph: int  # index of the paragraph within its article


def load_squad(path: Path) -> tuple[list[dict[str, Any]], list[Question]]:
    """Articles as feed records ({"id", "title", "text"}) and their questions."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    records, questions = [], []
    for number, article in enumerate(data["articles"]):
        contexts = [p["context"].strip() for p in article["paragraphs"]]
        records.append({"id": f"squad-{number}", "title": article["title"], "text": "\n\n".join(contexts)})
        for index, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                questions.append(
                    Question(qa["id"], qa["question"], list(qa["answers"]), bool(qa["is_impossible"]), article["title"], index)
                )
    return records, questions


def paragraph_spans(text: str, count: int) -> list[tuple[int, int]]:
    """Offsets of the blank-line separated paragraphs of an evaluation article."""
    spans, start = [], 0
    for part in text.split("\n\n"):
        spans.append((start, start + len(part)))
        start += len(part) + 2
    if len(spans) != count:
        raise ValueError(f"expected {count} paragraphs, found {len(spans)}")
    return spans


def pick(questions: list[Question], limit: int | None) -> list[Question]:
    """At most `limit` questions, spread evenly over the file (so every article is represented)."""
    if not limit or limit >= len(questions):
        return questions
    positions = np.linspace(0, len(questions) - 1, limit).round().astype(int)
    return [questions[i] for i in sorted(set(positions))]


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> tuple[float, list[dict]]:
    """ECE over equal-width confidence bins, and the reliability table behind it."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    table, ece = [], 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence >= low) & ((confidence < high) if high < 1.0 else (confidence <= high))
        if not inside.any():
            continue
        mean_conf, accuracy = float(confidence[inside].mean()), float(correct[inside].mean())
        ece += inside.mean() * abs(mean_conf - accuracy)
        table.append({"bin": f"{low:.1f}-{high:.1f}", "count": int(inside.sum()), "confidence": mean_conf, "accuracy": accuracy})
    return float(ece), table


def evaluate(
    path: Path,
    limit: int | None = None,
    settings: Settings | None = None,
    embedder=None,
    progress: bool = False,
    store: str | None = None,
) -> dict[str, Any]:
    """The metrics of the shipped pipeline on a SQuAD-format file (`limit` questions at most).

    `store` (default: `settings.store`) is a PostgreSQL URL to index into and ask through instead
    of a temporary local index; a database holding other articles is refused (ValueError) before
    anything is written to it. Running again on the same database reuses the vectors it holds."""
    records, questions = load_squad(path)
    questions = pick(questions, limit)
    base = settings or Settings()
    store = store or base.store
    with tempfile.TemporaryDirectory(prefix="qa-eval-") as work:
        corpus = Path(work) / "corpus"
        corpus.mkdir()
        with open(corpus / "articles.jsonl", "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        if store:
            refuse_other_articles(corpus, store)
        started = time.perf_counter()
        qa = QA.from_folder(corpus, index_dir=Path(work) / "index", settings=base, embedder=embedder, store=store)
        build_seconds = time.perf_counter() - started
        results = _ask_all(qa, records, questions, progress)
        results["index"] = {
            "store": qa.status()["index_dir"] if store else None,  # the database (no password), or None: a temporary local index
            "build_seconds": round(build_seconds, 2),
            "articles": qa.status()["articles"],
            "passages": qa.status()["passages"],
            "sentences": qa.status()["sentences"],
        }
    results["data"] = {"file": str(path), "questions": len(questions), "unanswerable": sum(q.impossible for q in questions)}
    return results


def refuse_other_articles(corpus: Path, store: str) -> None:
    """Raise ValueError when the database at `store` holds articles that are not the evaluation's
    (those of `corpus`); it adds and removes no article, so a database in use is left as it was."""
    wanted = {article.id for article in read_folder(corpus)[0]}
    database = PgStore(store)
    try:
        stored = database.stored()  # ids and content hashes only: nothing of the articles is loaded
    finally:
        database.close()
    others = sorted(article_id for article_id in (stored.hashes if stored else {}) if article_id not in wanted)
    if others:
        shown = ", ".join(repr(article_id) for article_id in others[:3]) + (" …" if len(others) > 3 else "")
        raise ValueError(
            f"The database at {display_url(store)} holds {len(others)} article(s) that are not the evaluation's ({shown}): "
            "evaluate in an empty database (e.g. createdb qa_eval, then --store postgresql://…/qa_eval), "
            "so they neither join the results nor receive the evaluation's articles."
        )


def _ask_all(qa: QA, records, questions: list[Question], progress: bool) -> dict[str, Any]:
    by_title = {a.title: a.id for a in qa.articles()}  # listed without texts on a database store
    spans = {
        r["title"]: paragraph_spans(qa.article(by_title[r["title"]]).text, r["text"].count("\n\n") + 1) for r in records
    }
    threshold = qa.abstain_threshold
    rows = []
    iterator = questions
    if progress:
        from tqdm import tqdm

        iterator = tqdm(questions, desc="asking", unit="q")
    for question in iterator:
        wanted = by_title[question.title]
        start, end = spans[question.title][question.paragraph]

        def overlaps(article_id: str, a: int, b: int) -> bool:
            return article_id == wanted and a < end and b > start

        answer, ranking = qa.ask_with_ranking(question.text, k=10, abstain_below=0.0)
        first_hit = next((rank for rank, h in enumerate(ranking[:10]) if overlaps(h.article.id, h.start, h.end)), None)
        first = answer.citations[0] if answer.citations else None
        top_sentence = first.quote if first else ""
        # The first sentence of the answer is the best-scored one; its citation quotes it.
        first_sentence = answer.text.split(" [1]")[0] if answer.citations else ""
        would_be_right = (not question.impossible) and contains_answer(answer.text, question.answers)
        rows.append(
            {
                "impossible": question.impossible,
                "rank": first_hit,
                # The passage the answer cites first: the reader's re-ranking of the retrieved passages.
                "cited_passage_hit": first is not None and overlaps(first.article_id, first.passage_start, first.passage_start + len(first.passage)),
                "top_sentence_right": (not question.impossible) and contains_answer(first_sentence or top_sentence, question.answers),
                "would_be_right": would_be_right,
                "confidence": answer.confidence,
                "abstained": answer.abstained or answer.confidence < threshold,
                "citations": [overlaps(c.article_id, c.passage_start, c.passage_start + len(c.passage)) for c in answer.citations],
                "words": len(re.sub(r"\[\d+\]", "", answer.text).split()),
                "short_em": 0.0 if question.impossible else max(float(normalize(answer.short_answer or "") == normalize(g)) for g in question.answers),
                "short_f1": 0.0 if question.impossible else max(token_f1(answer.short_answer or "", g) for g in question.answers),
                "answer_f1": 0.0 if question.impossible else max(token_f1(answer.short_answer or first_sentence, g) for g in question.answers),
            }
        )
    latencies = _latencies(qa, questions[:300])
    return _metrics(rows, latencies, threshold)


def _latencies(qa: QA, questions: list[Question]) -> list[float]:
    """Wall time of ask() as users call it (query embedding included; the cache is cleared)."""
    qa.embedder.clear_query_cache()
    times = []
    for question in questions:
        started = time.perf_counter()
        qa.ask(question.text)
        times.append(time.perf_counter() - started)
    return times


def _metrics(rows: list[dict], latencies: list[float], threshold: float) -> dict[str, Any]:
    answerable = [r for r in rows if not r["impossible"]]
    unanswerable = [r for r in rows if r["impossible"]]
    answered = [r for r in rows if not r["abstained"]]
    ranks = [r["rank"] for r in answerable]

    def share(values) -> float:
        values = list(values)
        return float(np.mean(values)) if values else float("nan")

    citations = [c for r in answered if not r["impossible"] for c in r["citations"]]
    correct = [
        (r["would_be_right"] and not r["abstained"]) or (r["impossible"] and r["abstained"]) for r in rows
    ]
    confidence = np.array([r["confidence"] for r in rows])
    ece, reliability = expected_calibration_error(confidence, np.array([r["would_be_right"] for r in rows], dtype=float))
    auc = _roc_auc(confidence, np.array([r["would_be_right"] for r in rows]))
    ms = sorted(t * 1000 for t in latencies)
    return {
        "retrieval": {
            "recall@1": share(r is not None and r < 1 for r in ranks),
            "recall@5": share(r is not None and r < 5 for r in ranks),
            "mrr@10": share(1.0 / (r + 1) if r is not None else 0.0 for r in ranks),
            "recall@1_cited": share(r["cited_passage_hit"] for r in answerable),
        },
        "answers": {
            "top_sentence_accuracy": share(r["top_sentence_right"] for r in answerable),
            "answer_accuracy": share(r["would_be_right"] for r in answerable),
            "answer_accuracy_when_answered": share(r["would_be_right"] for r in answerable if not r["abstained"]),
            "citation_precision": share(citations),
            # The short answer (or, without one, the first sentence) against the gold answers.
            "short_answer_em": share(r["short_em"] for r in answerable),
            "short_answer_f1": share(r["short_f1"] for r in answerable),
            "mean_words": share(r["words"] for r in answered),
        },
        "abstention": {
            "threshold": threshold,
            "abstain_rate_unanswerable": share(r["abstained"] for r in unanswerable),
            "answer_rate_answerable": share(not r["abstained"] for r in answerable),
            "squad2_accuracy": share(correct),
            # A refusal scores 1 on an unanswerable question and 0 on an answerable one; an answer
            # scores its F1 on an answerable one and 0 on an unanswerable one.
            "squad2_f1": share(
                (1.0 if r["abstained"] else 0.0) if r["impossible"] else (0.0 if r["abstained"] else r["answer_f1"]) for r in rows
            ),
            "never_abstain_accuracy": share(r["would_be_right"] for r in rows),
            "always_abstain_accuracy": share(r["impossible"] for r in rows),
            "ece": ece,
            "roc_auc": auc,
            "reliability": reliability,
        },
        "latency_ms": {
            "ask_p50": statistics.median(ms) if ms else float("nan"),
            "ask_p95": ms[int(0.95 * (len(ms) - 1))] if ms else float("nan"),
            "questions_timed": len(ms),
        },
    }


def _roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that a right answer gets a higher confidence than a wrong one (ties count half)."""
    positive, negative = scores[labels], scores[~labels]
    if not len(positive) or not len(negative):
        return float("nan")
    order = np.argsort(np.concatenate([positive, negative]), kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    # Average ranks of ties.
    values = np.concatenate([positive, negative])
    for value in np.unique(values):
        tie = values == value
        ranks[tie] = ranks[tie].mean()
    return float((ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2) / (len(positive) * len(negative)))


def format_report(results: dict[str, Any]) -> str:
    r, a, s, t, i = (results[k] for k in ("retrieval", "answers", "abstention", "latency_ms", "index"))
    lines = [
        f"Data: {results['data']['file']} — {results['data']['questions']} questions "
        f"({results['data']['unanswerable']} unanswerable); {i['articles']} articles, {i['passages']} passages, "
        f"{i['sentences']} sentences; index built in {i['build_seconds']:.1f} s"
        + (f" in the database {i['store']}" if i.get("store") else ""),
        "",
        "| metric | value |",
        "| --- | --- |",
        f"| passage Recall@1 | {r['recall@1']:.3f} |",
        f"| passage Recall@5 | {r['recall@5']:.3f} |",
        f"| passage MRR@10 | {r['mrr@10']:.3f} |",
        f"| passage Recall@1 after reading (the passage cited first) | {r['recall@1_cited']:.3f} |",
        f"| top-sentence accuracy (answerable) | {a['top_sentence_accuracy']:.3f} |",
        f"| answer accuracy (answerable; the answer as composed, before abstention) | {a['answer_accuracy']:.3f} |",
        f"| answer accuracy of the answers given (answerable) | {a['answer_accuracy_when_answered']:.3f} |",
        f"| citation precision | {a['citation_precision']:.3f} |",
        f"| short answer EM / F1 (answerable) | {a['short_answer_em']:.3f} / {a['short_answer_f1']:.3f} |",
        f"| abstain rate on unanswerable | {s['abstain_rate_unanswerable']:.3f} |",
        f"| answer rate on answerable | {s['answer_rate_answerable']:.3f} |",
        f"| SQuAD2-style accuracy (threshold {s['threshold']:.2f}) | {s['squad2_accuracy']:.3f} |",
        f"| SQuAD2-style F1 (threshold {s['threshold']:.2f}) | {s['squad2_f1']:.3f} |",
        f"| … never abstaining / always abstaining | {s['never_abstain_accuracy']:.3f} / {s['always_abstain_accuracy']:.3f} |",
        f"| expected calibration error | {s['ece']:.3f} |",
        f"| confidence ROC AUC | {s['roc_auc']:.3f} |",
        f"| mean words per answer | {a['mean_words']:.1f} |",
        f"| ask() latency p50 / p95 | {t['ask_p50']:.1f} ms / {t['ask_p95']:.1f} ms |",
        "",
        "Reliability (confidence bin → share of right answers):",
        "",
        "| confidence | questions | mean confidence | right |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {b['bin']} | {b['count']} | {b['confidence']:.3f} | {b['accuracy']:.3f} |" for b in s["reliability"]]
    return "\n".join(lines)
