"""Fit the answer model (sentence ranker + confidence) on SQuAD-format data, with article-wise CV.

    python scripts/fit_answer_model.py ../shared/data/squad2_dev_half.json [--index-dir DIR] [--write]

Every question of the file is asked against the whole corpus of its articles. The sentence ranker
learns which candidate sentence contains a gold answer; the confidence model learns, from the best
sentence's evidence, how likely the composed answer is right (an unanswerable question's answer
never is). Folds hold out whole articles, so the reported numbers are for articles never seen in
fitting. With --write, models fitted on all the data go to qa/answer_model.json (a few numbers).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa import QA, Settings  # noqa: E402
from qa.answering import (  # noqa: E402
    CONFIDENCE_FEATURES,
    SENTENCE_FEATURES,
    AnswerModel,
    AnswerSettings,
    choose_by_features,
    candidates,
    confidence_features,
)
from qa.evaluation import contains_answer, expected_calibration_error, load_squad  # noqa: E402

FOLDS = 6
# Abstaining on a question the articles answer costs this many times a wrong answer: a wrong answer
# is shown with its sources and can be checked; a wrong refusal hides what was there. With a
# calibrated confidence p, answering is worth it when (1 - p) < MISS_COST * p, i.e. p > 1/(1 + MISS_COST).
MISS_COST = 2.0


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> tuple[np.ndarray, float]:
    """Logistic regression on standardised features, returned as weights on the raw features."""
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=c, max_iter=2000).fit(scaler.transform(x), y)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    weights = model.coef_[0] / scale
    bias = float(model.intercept_[0] - (model.coef_[0] * scaler.mean_ / scale).sum())
    return weights, bias


def collect(qa: QA, questions) -> list[dict]:
    """Candidates and labels for every question (the expensive part, done once)."""
    snapshot, retriever = qa.current()
    vectors = qa.embedder.encode([q.text for q in questions], show_progress=True)
    rows = []
    for question, vector in zip(questions, vectors):
        ranked = retriever.retrieve(vector, question.text, qa.settings.answer_passages)
        found = candidates(snapshot, question.text, vector, ranked)
        texts = [snapshot.sentence_text(int(s)) for s in found.sentence_ids]
        labels = np.array([(not question.impossible) and contains_answer(t, question.answers) for t in texts], dtype=bool)
        rows.append({"question": question, "ranked": ranked, "found": found, "labels": labels})
    return rows


def out_of_fold_logits(rows: list[dict], folds: np.ndarray) -> tuple[list[np.ndarray], list]:
    logits: list[np.ndarray] = [None] * len(rows)  # type: ignore[list-item]
    fitted = []
    for fold in range(FOLDS):
        train = [r for r, f in zip(rows, folds) if f != fold and not r["question"].impossible and len(r["labels"])]
        x = np.concatenate([r["found"].features for r in train])
        y = np.concatenate([r["labels"] for r in train])
        weights, bias = fit_logistic(x, y)
        fitted.append((weights, bias))
        for i, (r, f) in enumerate(zip(rows, folds)):
            if f == fold:
                logits[i] = r["found"].features @ weights + bias
    return logits, fitted


def compose_rows(qa: QA, rows, logits, extra_min_probability: float):
    """The answer each question would get (no abstention): right or not, and its confidence features."""
    snapshot, _ = qa.current()
    model = AnswerModel((), 0.0, (), 0.0, extra_min_probability=extra_min_probability)
    settings = AnswerSettings()
    out = []
    for r, z in zip(rows, logits):
        found = r["found"]
        if not len(found.sentence_ids):
            out.append({"right": False, "features": None, "top_right": False, "words": 0})
            continue
        best = int(np.argmax(z))
        chosen = choose_by_features(snapshot, found, z, settings, model)
        text = " ".join(snapshot.sentence_text(s) for s, _ in chosen)
        question = r["question"]
        out.append(
            {
                "right": (not question.impossible) and contains_answer(text, question.answers),
                "top_right": bool(r["labels"][best]),
                "features": confidence_features(found, z, best, r["ranked"][: settings.answer_passages]),
                "words": len(text.split()),
            }
        )
    return out


def best_threshold(confidence: np.ndarray, right: np.ndarray, impossible: np.ndarray) -> tuple[float, float]:
    """For reference: the threshold maximising SQuAD2-style accuracy (right answer, or abstained on an unanswerable question)."""
    best = (0.5, -1.0)
    for t in np.linspace(0.05, 0.95, 91):
        accuracy = float(np.mean(np.where(confidence >= t, right, impossible)))
        if accuracy > best[1]:
            best = (float(t), accuracy)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--index-dir", type=Path, default=None, help="reuse an index of the file's articles")
    parser.add_argument("--write", action="store_true", help="write qa/answer_model.json")
    args = parser.parse_args()

    records, questions = load_squad(args.file)
    work = Path(tempfile.mkdtemp(prefix="qa-fit-"))
    corpus = work / "corpus"
    corpus.mkdir()
    with open(corpus / "articles.jsonl", "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    # The model being fitted is not used to collect its own training data: start from a neutral one.
    neutral = work / "neutral_model.json"
    AnswerModel((0.0,) * len(SENTENCE_FEATURES), 0.0, (0.0,) * len(CONFIDENCE_FEATURES), 0.0).save(neutral)
    settings = Settings(corpus=corpus, index_dir=args.index_dir or work / "index", answer_model=neutral)
    qa = QA.from_folder(corpus, settings=settings)
    rows = collect(qa, questions)

    titles = sorted({q.title for q in questions})
    folds = np.array([titles.index(q.title) % FOLDS for q in questions])
    impossible = np.array([q.impossible for q in questions])
    logits, _ = out_of_fold_logits(rows, folds)

    report = {}
    for extra in (0.3, 0.5, 0.7, 1.01):
        composed = compose_rows(qa, rows, logits, extra)
        answerable = ~impossible
        report[extra] = {
            "answer_accuracy": float(np.mean([c["right"] for c, a in zip(composed, answerable) if a])),
            "mean_words": float(np.mean([c["words"] for c in composed])),
        }
    print("extra-sentence probability → answer accuracy / mean words:", json.dumps(report, indent=1))
    extra = max((e for e in report if report[e]["mean_words"] <= 40), key=lambda e: report[e]["answer_accuracy"])
    composed = compose_rows(qa, rows, logits, extra)
    top = np.array([c["top_right"] for c in composed])
    right = np.array([c["right"] for c in composed])
    usable = np.array([c["features"] is not None for c in composed])
    features = np.stack([c["features"] if c["features"] is not None else np.zeros(len(CONFIDENCE_FEATURES), np.float32) for c in composed])

    # Confidence: out-of-fold again, with the threshold chosen on the training folds only.
    confidence = np.zeros(len(rows))
    chosen_thresholds = []
    for fold in range(FOLDS):
        train, test = (folds != fold) & usable, (folds == fold) & usable
        weights, bias = fit_logistic(features[train], right[train])
        confidence[test] = 1 / (1 + np.exp(-(features[test] @ weights + bias)))
        train_conf = 1 / (1 + np.exp(-(features[train] @ weights + bias)))
        threshold, _ = best_threshold(train_conf, right[train], impossible[train])
        chosen_thresholds.append(threshold)
    fold_accuracy = [
        float(np.mean(np.where(confidence[folds == f] >= chosen_thresholds[f], right[folds == f], impossible[folds == f])))
        for f in range(FOLDS)
    ]
    squad2 = float(np.mean(np.where(confidence >= np.array(chosen_thresholds)[folds], right, impossible)))
    print("threshold → SQuAD2-style accuracy (out of fold):")
    for t in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6):
        print(f"  {t:.2f}: {np.mean(np.where(confidence >= t, right, impossible)):.4f}  answered {np.mean(confidence >= t):.3f}")
    product_threshold = 1.0 / (1.0 + MISS_COST)
    squad2_product = float(np.mean(np.where(confidence >= product_threshold, right, impossible)))
    ece, reliability = expected_calibration_error(confidence, right.astype(float))
    answerable = ~impossible
    cv = {
        "folds": FOLDS,
        "held_out": "whole articles",
        "top_sentence_accuracy": float(top[answerable].mean()),
        "answer_accuracy": float(right[answerable].mean()),
        "squad2_accuracy_at_fitted_threshold": squad2,
        "squad2_accuracy_at_product_threshold": squad2_product,
        "product_threshold": product_threshold,
        "squad2_accuracy_by_fold": [round(a, 4) for a in fold_accuracy],
        "thresholds_by_fold": chosen_thresholds,
        "ece": ece,
        "extra_min_probability": extra,
        "questions": len(rows),
    }
    print(json.dumps(cv, indent=1))
    print("reliability (out of fold):")
    for row in reliability:
        print(f"  {row['bin']}: n={row['count']:5d}  confidence={row['confidence']:.3f}  right={row['accuracy']:.3f}")

    if args.write:
        answerable_rows = [r for r in rows if not r["question"].impossible and len(r["labels"])]
        ranker, ranker_bias = fit_logistic(
            np.concatenate([r["found"].features for r in answerable_rows]), np.concatenate([r["labels"] for r in answerable_rows])
        )
        # The confidence model is fitted on out-of-fold ranker outputs, as it will meet unseen articles.
        conf_weights, conf_bias = fit_logistic(features[usable], right[usable])
        threshold = 1.0 / (1.0 + MISS_COST)
        AnswerModel(
            ranker=tuple(ranker),
            ranker_bias=ranker_bias,
            confidence=tuple(conf_weights),
            confidence_bias=conf_bias,
            threshold=threshold,
            extra_min_probability=extra,
            notes={"fitted_on": args.file.name, "cross_validation": {k: v for k, v in cv.items() if k != "thresholds_by_fold"}},
        ).save()
        print(f"wrote qa/answer_model.json (threshold {threshold:.2f})")


if __name__ == "__main__":
    main()
