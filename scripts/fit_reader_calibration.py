"""Fit the reader answerer's choice model (which sentence) and confidence model, and report them held out.

    python scripts/fit_reader_calibration.py ../shared/data/squad2_dev_half.json [--write]

The reader (qa/models/reader/) is trained on SQuAD 1.1 only; what it never saw is SQuAD 2.0's
unanswerable questions. This script indexes the file's articles as a corpus (as `python -m qa eval`
does), asks every question, and records each candidate sentence's reader outputs and features once.
Then, with 6-fold article-wise cross-validation (each fold's models are fitted without its
articles), it fits: the feature ranker (as scripts/fit_answer_model.py does), the choice model that
picks the sentence (a conditional logit: softmax over one question's sentences, fitted on which of
them holds the answer), and the logistic confidence over the chosen sentence's evidence (the
probability that the answer holds a gold answer). The numbers it prints are out-of-fold:
held-out articles. With --write, the models fitted on all articles go to
qa/models/reader/calibration.json. The abstention threshold stays 1/3 (README: a wrong refusal
counts twice a wrong answer); the SQuAD2-best threshold is printed for reference.
"""
from __future__ import annotations

import argparse
import collections
import json
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from fit_answer_model import best_threshold, fit_logistic  # noqa: E402

from qa import QA, Settings  # noqa: E402
from qa.answering import AnswerModel, AnswerSettings, candidates, is_heading, sentence_title  # noqa: E402
from qa.evaluation import contains_answer, expected_calibration_error, load_squad, normalize, paragraph_spans  # noqa: E402
from qa.reader import MODEL_DIR, Reader  # noqa: E402
from qa.reader_answerer import (  # noqa: E402
    CALIBRATION_FILE,
    ReaderAnswerer,
    ReaderCalibration,
    Reading,
    confidence_feature_names,
)

FOLDS = 6
THRESHOLD = 1 / 3
CHOICE_L2 = 1e-3  # ridge on the standardised choice-model weights
CONFIDENCE_C = 0.3  # inverse regularisation of the confidence model
# Confidence features whose weight may not be negative (--non-negative; none by default). Tried on
# the question-word coverage features: SQuAD 2.0's unanswerable questions were written against their
# paragraph in its words, its answerable ones in other words, so a free fit learns "the passage holds
# every word of the question: less likely answered", which refuses a question that quotes the article.
# Bounding them moved the weight to the others or cost held-out accuracy (README, "Tried and not shipped").
NON_NEGATIVE: tuple[str, ...] = ()
PASSAGE_CHOICE = 2  # passages read whole to choose the sentence, with a reader trained on passages


def fit_choice_model(groups: list[tuple[np.ndarray, np.ndarray]], l2: float = CHOICE_L2) -> np.ndarray:
    """Conditional logit: weights w such that softmax(x @ w) over one question's sentences puts its
    mass on those holding the answer (loss: -log of their summed probability, plus a ridge on the
    standardised weights). `groups`: per question, (features, labels) with at least one label true.
    Returns weights on the raw features (no bias: a softmax ignores one)."""
    from scipy.optimize import minimize

    x = np.concatenate([g[0] for g in groups]).astype(np.float64)
    y = np.concatenate([g[1] for g in groups]).astype(bool)
    mean, scale = x.mean(0), x.std(0)
    scale = np.where(scale > 0, scale, 1.0)
    z = (x - mean) / scale
    starts = np.cumsum([0] + [len(g[1]) for g in groups[:-1]])
    group_of = np.repeat(np.arange(len(groups)), [len(g[1]) for g in groups])

    def loss_and_gradient(w):
        s = z @ w
        s = s - np.maximum.reduceat(s, starts)[group_of]
        e = np.exp(s)
        total = np.add.reduceat(e, starts)
        right = np.add.reduceat(np.where(y, e, 0.0), starts)
        loss = -(np.log(right) - np.log(total)).mean() + l2 * (w @ w)
        # d/ds of -log(right/total): p_i - r_i, with r the probability renormalised over the right ones
        g = e / total[group_of] - np.where(y, e, 0.0) / right[group_of]
        return loss, z.T @ g / len(groups) + 2 * l2 * w

    result = minimize(loss_and_gradient, np.zeros(z.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return result.x / scale


def fit_confidence(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], c: float = CONFIDENCE_C,
                   non_negative: tuple[str, ...] = NON_NEGATIVE) -> tuple[np.ndarray, float]:
    """Logistic regression on standardised features (sklearn's objective: half the squared weights plus
    c times the summed log loss) with the weights of `non_negative` features bounded at 0. Returns
    weights on the raw features and the bias. With none bounded it is sklearn's fit, as shipped."""
    if not non_negative:
        return fit_logistic(x, y, c=c)
    from scipy.optimize import minimize

    mean, scale = x.mean(0), x.std(0)
    scale = np.where(scale > 0, scale, 1.0)
    z, target = (x - mean) / scale, y.astype(np.float64)

    def loss_and_gradient(p):
        w, b = p[:-1], p[-1]
        s = z @ w + b
        residual = 1 / (1 + np.exp(-s)) - target
        loss = 0.5 * w @ w + c * (np.logaddexp(0, s) - target * s).sum()
        return loss, np.append(w + c * z.T @ residual, c * residual.sum())

    bounds = [(0.0, None) if n in non_negative else (None, None) for n in names] + [(None, None)]
    result = minimize(loss_and_gradient, np.zeros(z.shape[1] + 1), jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 5000})
    w = result.x[:-1] / scale
    return w, float(result.x[-1] - (result.x[:-1] * mean / scale).sum())


def f1(prediction: str, gold: str) -> float:
    p, g = normalize(prediction).split(), normalize(gold).split()
    same = sum((collections.Counter(p) & collections.Counter(g)).values())
    if not p or not g or same == 0:
        return float(p == g)
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def collect(qa: QA, answerer: ReaderAnswerer, questions) -> list[dict]:
    """Per question: candidates, labels and the reader's outputs on every candidate that is not a heading."""
    rows = []
    started = time.monotonic()
    for n, question in enumerate(questions):
        retrieval = qa.retrieve(question.text, k=qa.settings.answer_passages)
        snapshot, ranked = retrieval.snapshot, retrieval.ranked[: qa.settings.answer_passages]
        found = candidates(snapshot, retrieval.question, retrieval.question_vector, ranked)
        texts = [snapshot.sentence_text(int(s)) for s in found.sentence_ids]
        eligible = np.array([not is_heading(t, sentence_title(snapshot, int(i))) for t, i in zip(texts, found.sentence_ids)], dtype=bool)
        relevance = np.full(len(texts), -np.inf, np.float32)
        span = np.zeros((len(texts), 2), np.int64)
        span_score = np.full(len(texts), -np.inf, np.float32)
        which = np.flatnonzero(eligible)
        if len(which):
            titles = [snapshot.articles[snapshot.passage_row(ranked[int(found.passage_ranks[i])].passage_id)[0]].title for i in which]
            for i, r in zip(which, answerer.reader.read(retrieval.question, [texts[i] for i in which], titles)):
                relevance[i], span[i], span_score[i] = r.relevance, (r.span_start, r.span_end), r.span_score
        labels = np.array([(not question.impossible) and contains_answer(t, question.answers) for t in texts], dtype=bool)
        rows.append(
            {"question": question, "asked": retrieval.question, "ranked": ranked, "found": found, "texts": texts, "eligible": eligible,
             "labels": labels, "relevance": relevance, "span": span, "span_score": span_score}
        )
        if (n + 1) % 500 == 0:
            print(f"  {n + 1}/{len(questions)} questions read ({time.monotonic() - started:.0f} s)", flush=True)
    return rows


def reading_of(row: dict, ranker: np.ndarray, max_read: int) -> Reading:
    """The answerer's Reading of a collected row; passage readings (if the reader reads passages) are
    cached in the row, so every fold reads a passage once."""
    order = [i for i in np.argsort(-ranker, kind="stable") if row["eligible"][i]][:max_read]
    read = np.zeros(len(ranker), bool)
    read[order] = True
    return Reading(row["found"], ranker, read, np.where(read, row["relevance"], -np.inf).astype(np.float32),
                   row["span"][:, 0], row["span"][:, 1], np.where(read, row["span_score"], -np.inf).astype(np.float32),
                   row.get("asked", " ".join(row["question"].text.split())), row.setdefault("passage_reads", {}))


def ranker_weights(rows: list[dict], mask: np.ndarray) -> tuple[np.ndarray, float]:
    train = [r for r, m in zip(rows, mask) if m and not r["question"].impossible and len(r["labels"])]
    return fit_logistic(np.concatenate([r["found"].features for r in train]), np.concatenate([r["labels"] for r in train]))


def selection_weights(answerer: ReaderAnswerer, snapshot, readings: list[Reading], rows: list[dict], mask: np.ndarray) -> tuple[float, ...]:
    """The choice model, fitted on the answerable questions (of `mask`) whose answer sentence was read
    (on the features the answerer's calibration asks for: with `passage_choice`, the passages read too)."""
    groups = []
    for reading, row, m in zip(readings, rows, mask):
        if m and not row["question"].impossible and (row["labels"] & reading.read).any():
            groups.append((answerer.selection_features(snapshot, reading, row["ranked"])[reading.read], row["labels"][reading.read]))
    return tuple(fit_choice_model(groups))


def passage_hit(snapshot, passage_id: int, question) -> bool:
    article, start, end = snapshot.passage_row(passage_id)[:3]
    record = snapshot.articles[article]
    if record.title != question.title:
        return False
    a, b = paragraph_spans(record.text, record.text.count("\n\n") + 1)[question.paragraph]
    return start < b and end > a


def outcome(answerer: ReaderAnswerer, snapshot, row: dict, reading: Reading) -> dict:
    """The answer this question would get at confidence 0: its text, short answer and confidence features."""
    if not reading.read.any():
        return {"features": None, "right": False, "top_right": False, "short": "", "text": "", "words": 0}
    scores = answerer.choice_scores(snapshot, reading, row["ranked"])
    best, features = answerer.confidence_row(snapshot, reading, scores, row["ranked"])
    chosen = answerer.choose(snapshot, reading, scores, best, AnswerSettings())
    text = " ".join(snapshot.sentence_text(s) for s, _ in chosen)
    sentence = row["texts"][best]
    s, e = row["span"][best]
    short = sentence[s:e] if 0 <= s < e <= len(sentence) else ""
    question = row["question"]
    return {
        "features": features,
        "right": (not question.impossible) and contains_answer(text, question.answers),
        "top_right": bool(row["labels"][best]),
        # the passage of the chosen sentence (the reader re-ranks the retrieved passages) overlaps the
        # question's own paragraph, as `python -m qa eval` counts passage hits
        "passage_right": (not question.impossible) and passage_hit(snapshot, row["ranked"][int(row["found"].passage_ranks[best])].passage_id, question),
        "short": short,
        "text": text,
        "words": len(text.split()),
    }



def evaluate_fold_outcomes(outcomes: list[dict], confidence: np.ndarray, questions, threshold: float) -> dict:
    impossible = np.array([q.impossible for q in questions])
    right = np.array([o["right"] for o in outcomes])
    answered = confidence >= threshold
    correct = np.where(answered, right, impossible)
    short_em, short_f1, squad2_f1 = [], [], []
    for o, q, a in zip(outcomes, questions, answered):
        predicted = o["short"] or o["text"]
        if not q.impossible:
            short_em.append(max(float(normalize(o["short"]) == normalize(g)) for g in q.answers))
            short_f1.append(max(f1(o["short"], g) for g in q.answers))
        if q.impossible:
            squad2_f1.append(0.0 if a else 1.0)
        else:
            squad2_f1.append(max(f1(predicted if a else "", g) for g in q.answers) if a else 0.0)
    ece, table = expected_calibration_error(confidence, right.astype(float))
    return {
        "top_sentence_accuracy": float(np.mean([o["top_right"] for o, q in zip(outcomes, questions) if not q.impossible])),
        "answer_accuracy": float(np.mean(right[~impossible])),
        "passage_recall_at_1_after_reading": float(np.mean([o.get("passage_right", False) for o, q in zip(outcomes, questions) if not q.impossible])),
        "short_answer_em": float(np.mean(short_em)),
        "short_answer_f1": float(np.mean(short_f1)),
        "squad2_accuracy": float(np.mean(correct)),
        "squad2_f1": float(np.mean(squad2_f1)),
        "abstain_rate_unanswerable": float(np.mean(~answered[impossible])),
        "answer_rate_answerable": float(np.mean(answered[~impossible])),
        "ece": ece,
        "mean_words": float(np.mean([o["words"] for o, a in zip(outcomes, answered) if a] or [0])),
        # Where SQuAD2-style accuracy is lost (shares of all questions), and what refusing exactly the
        # wrong answers would score with the same answers: how much is the answer, how much the refusal.
        "lost_unanswerable_answered": float(np.mean(impossible & answered)),
        "lost_answerable_refused_though_right": float(np.mean(~impossible & ~answered & right)),
        "lost_answerable_wrong": float(np.mean(~impossible & ~right)),
        "accuracy_with_perfect_refusal": float(np.mean(impossible | right)),
        "reliability": table,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR)
    parser.add_argument("--index-dir", type=Path, default=None, help="reuse an index of the file's articles")
    parser.add_argument("--limit", type=int, default=None, help="at most this many questions (a quick run)")
    parser.add_argument("--max-read", type=int, default=16)
    parser.add_argument("--extra-min-probability", type=float, default=ReaderCalibration.extra_min_probability,
                        help="choice probability a runner-up sentence needs to pad an answer")
    parser.add_argument("--write", action="store_true", help="write calibration.json beside the model")
    parser.add_argument("--without-passages", action="store_true", help="with a reader trained on passages, leave the passage features out of the choice and the confidence (to measure what they add)")
    parser.add_argument("--passage-choice", type=int, default=PASSAGE_CHOICE, help="with a reader trained on passages, read this many passages whole to choose the sentence (0: none)")
    parser.add_argument("--readings", type=Path, default=None, help="keep what the reader read in this file (pickle) and reuse it when it exists: refitting then takes seconds")
    parser.add_argument("--non-negative", nargs="*", default=list(NON_NEGATIVE), metavar="FEATURE",
                        help="confidence features whose weight may not be negative (none: a free fit)")
    args = parser.parse_args()

    records, questions = load_squad(args.file)
    if args.limit:
        step = max(1, len(questions) // args.limit)
        questions = questions[::step][: args.limit]
    work = Path(tempfile.mkdtemp(prefix="qa-fit-reader-"))
    # With --index-dir the corpus sits beside it, so a second run finds the same files and reuses the index.
    corpus = args.index_dir.with_name(args.index_dir.name + "-corpus") if args.index_dir else work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    with open(corpus / "articles.jsonl", "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    settings = Settings(corpus=corpus, index_dir=args.index_dir or work / "index", answerer="features")
    qa = QA.from_folder(corpus, settings=settings)
    answerer = ReaderAnswerer(AnswerModel.load(), AnswerSettings(), ReaderCalibration(), Reader(args.model_dir), max_read=args.max_read)
    snapshot = qa.retrieve("snapshot", k=1).snapshot
    if args.readings and args.readings.exists():
        with open(args.readings, "rb") as handle:
            rows = pickle.load(handle)
        print(f"reusing what the reader read for {len(rows)} questions ({args.readings})", flush=True)
    else:
        print(f"reading {len(questions)} questions with {args.model_dir}", flush=True)
        rows = collect(qa, answerer, questions)
        if args.readings:
            with open(args.readings, "wb") as handle:
                pickle.dump(rows, handle)

    titles = sorted({q.title for q in questions})
    folds = np.array([titles.index(q.title) % FOLDS for q in questions])
    confidence = np.zeros(len(rows))
    outcomes: list[dict] = [None] * len(rows)  # type: ignore[list-item]
    passages = answerer.reader.reads_passages and not args.without_passages
    passage_choice = args.passage_choice if passages else 0
    names = confidence_feature_names(passages)
    n_conf = len(names)
    non_negative = tuple(args.non_negative)
    for fold in range(FOLDS):
        train_mask = folds != fold
        weights, bias = ranker_weights(rows, train_mask)
        readings = [reading_of(r, r["found"].features @ weights + bias, args.max_read) for r in rows]
        answerer.calibration = ReaderCalibration(passage_choice=passage_choice)
        selection = selection_weights(answerer, snapshot, readings, rows, train_mask)
        answerer.calibration = ReaderCalibration(selection, threshold=THRESHOLD, extra_min_probability=args.extra_min_probability, passages=passages, passage_choice=passage_choice)
        fold_outcomes = [outcome(answerer, snapshot, r, rd) if (f == fold or train_mask[i]) else None for i, (r, rd, f) in enumerate(zip(rows, readings, folds))]
        usable = np.array([o is not None and o["features"] is not None for o in fold_outcomes])
        features = np.stack([o["features"] if o is not None and o["features"] is not None else np.zeros(n_conf, np.float32) for o in fold_outcomes])
        right = np.array([bool(o and o["right"]) for o in fold_outcomes])
        conf_w, conf_b = fit_confidence(features[train_mask & usable], right[train_mask & usable], names, non_negative=non_negative)
        test = folds == fold
        confidence[test] = np.where(usable[test], 1 / (1 + np.exp(-(features[test] @ conf_w + conf_b))), 0.0)
        for i in np.flatnonzero(test):
            outcomes[i] = fold_outcomes[i] or {"features": None, "right": False, "top_right": False, "short": "", "text": "", "words": 0}
        print(f"fold {fold}: {test.sum()} questions", flush=True)

    if args.readings and passages:
        with open(args.readings, "wb") as handle:  # now with the passages read: the next run reads none
            pickle.dump(rows, handle)
    impossible = np.array([q.impossible for q in questions])
    right = np.array([o["right"] for o in outcomes])
    held_out = evaluate_fold_outcomes(outcomes, confidence, questions, THRESHOLD)
    best_t, best_acc = best_threshold(confidence, right, impossible)
    report = {"held_out_at_threshold": {k: v for k, v in held_out.items() if k != "reliability"},
              "reliability": held_out["reliability"], "threshold": THRESHOLD,
              "best_threshold_in_hindsight": {"threshold": best_t, "squad2_accuracy": best_acc}}
    print(json.dumps(report, indent=1))

    if args.write:
        weights, bias = ranker_weights(rows, np.ones(len(rows), bool))
        readings = [reading_of(r, r["found"].features @ weights + bias, args.max_read) for r in rows]
        answerer.calibration = ReaderCalibration(passage_choice=passage_choice)
        selection = selection_weights(answerer, snapshot, readings, rows, np.ones(len(rows), bool))
        answerer.calibration = ReaderCalibration(selection, threshold=THRESHOLD, extra_min_probability=args.extra_min_probability, passages=passages, passage_choice=passage_choice)
        all_outcomes = [outcome(answerer, snapshot, r, rd) for r, rd in zip(rows, readings)]
        usable = np.array([o["features"] is not None for o in all_outcomes])
        features = np.stack([o["features"] if o["features"] is not None else np.zeros(n_conf, np.float32) for o in all_outcomes])
        conf_w, conf_b = fit_confidence(features[usable], np.array([o["right"] for o in all_outcomes])[usable], names, non_negative=non_negative)
        notes = {
            "data": str(args.file.name),
            "questions": len(questions),
            "folds": f"{FOLDS}-fold, article-wise",
            "held_out": {k: round(v, 4) if isinstance(v, float) else v for k, v in report["held_out_at_threshold"].items()},
            "best_threshold_in_hindsight": report["best_threshold_in_hindsight"],
            "non_negative_confidence_features": list(non_negative),
        }
        out = args.model_dir / CALIBRATION_FILE.name
        ReaderCalibration(selection, confidence=tuple(conf_w), confidence_bias=conf_b, threshold=THRESHOLD,
                          extra_min_probability=args.extra_min_probability, notes=notes, passages=passages, passage_choice=passage_choice).save(out)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
