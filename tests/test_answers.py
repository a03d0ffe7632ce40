"""Answer invariants (property-tested), the answer model's file, and the evaluation command."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa import QA, Settings
from qa.answering import CONFIDENCE_FEATURES, SENTENCE_FEATURES, AnswerModel
from qa.evaluation import contains_answer, evaluate, expected_calibration_error, normalize

from conftest import SEED

WORDS = (
    "Georgia Russia trade wine gas Kobakhidze prime minister Abkhazia Ossetia 2008 war NATO Izvestia "
    "billion exports imports relations tourism agriculture ministry Moscow Tbilisi recognition Dream"
).split()
STARTS = ["What", "Who", "When", "How much", "Why", "Which", "Where", "Did"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(start=st.sampled_from(STARTS), words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=8))
def test_citation_invariants_hold_for_any_question(seed_qa: QA, start: str, words: list[str]) -> None:
    answer = seed_qa.ask(f"{start} {' '.join(words)}?")
    markers = [int(n) for n in re.findall(r"\[(\d+)\]", answer.text)]
    numbers = [c.number for c in answer.citations]
    if answer.abstained:
        assert markers == [] and numbers == []
        return
    # Numbered 1..n in order of first appearance; every marker has a citation and vice versa.
    assert numbers == list(range(1, len(numbers) + 1))
    assert list(dict.fromkeys(markers)) == numbers
    assert 1 <= len(markers) <= 3
    for citation in answer.citations:
        article = seed_qa.article(citation.article_id)
        assert article.text[citation.start : citation.end] == citation.quote
        assert citation.quote in citation.passage
    # Each answer sentence is quoted by the citation its marker names (after the short answer, which leads).
    text = answer.text
    if answer.short_answer:
        assert text.startswith(f"{answer.short_answer} — ")
        text = text[len(answer.short_answer) + 3 :]
    for sentence, number in re.findall(r"\s*(.+?) \[(\d+)\]", text):
        assert sentence in answer.citations[int(number) - 1].quote
    assert 0.0 <= answer.confidence <= 1.0


def test_answer_sentences_are_not_redundant(seed_qa: QA) -> None:
    answer = seed_qa.ask("What does Georgia export to Russia and import from it?")
    sentences = [s for s in re.split(r" \[\d+\] ?", answer.text) if s]
    assert len(sentences) == len(set(sentences))


def test_committed_answer_model_matches_the_features() -> None:
    model = AnswerModel.load()
    assert len(model.ranker) == len(SENTENCE_FEATURES)
    assert len(model.confidence) == len(CONFIDENCE_FEATURES)
    assert 0.0 < model.threshold < 1.0
    cross_validation = model.notes["cross_validation"]
    assert cross_validation["held_out"] == "whole articles" and cross_validation["ece"] < 0.05


def test_squad_normalisation() -> None:
    assert normalize("The  Normans, (in) France!") == "normans in france"
    assert contains_answer("It was about $1.3 billion.", ["1.3 billion"])
    assert not contains_answer("It was 11.3 billion.", ["1.3 billion"])
    assert not contains_answer("anything", [])


def test_calibration_error_of_a_calibrated_and_an_overconfident_model() -> None:
    confidence = [0.2] * 10 + [0.8] * 10
    calibrated = [1, 1] + [0] * 8 + [1] * 8 + [0, 0]
    ece, table = expected_calibration_error(np.array(confidence), np.array(calibrated, dtype=float))
    assert ece < 1e-9 and [row["count"] for row in table] == [10, 10]
    ece, _ = expected_calibration_error(np.full(10, 0.9), np.zeros(10))
    assert abs(ece - 0.9) < 1e-9


def test_evaluation_on_a_small_squad_file(tmp_path: Path, embedder) -> None:
    paragraphs = [p.strip() for p in SEED.read_text(encoding="utf-8").split("\n\n")]
    qas = [
        (7, "What does Georgia import from Russia?", ["natural gas"]),
        (8, "How large was bilateral trade between Georgia and Russia in the first half of 2025?", ["$1.3 billion", "nearly $1.3 billion"]),
        (2, "When was the war after which Tbilisi cut ties with Moscow?", ["2008"]),
        (8, "How large was bilateral trade between Georgia and Turkey in 2019?", []),
    ]
    data = {
        "articles": [
            {
                "title": "Georgia and Russia",
                "paragraphs": [
                    {
                        "context": text,
                        "qas": [
                            {"id": f"q{n}", "question": q, "answers": a, "is_impossible": not a}
                            for n, (index, q, a) in enumerate(qas)
                            if index == i
                        ],
                    }
                    for i, text in enumerate(paragraphs)
                ],
            }
        ]
    }
    path = tmp_path / "mini.json"
    path.write_text(json.dumps(data))
    results = evaluate(path, embedder=embedder)
    assert results["data"]["questions"] == 4 and results["data"]["unanswerable"] == 1
    assert results["retrieval"]["recall@5"] == 1.0
    assert results["answers"]["top_sentence_accuracy"] >= 2 / 3
    # the passage the answer cites first is the question's own paragraph (the reader's re-ranking)
    assert results["retrieval"]["recall@1_cited"] >= 2 / 3
    # latency is measured and reported; how fast is the benchmarks' business (a bound here fails on a busy machine)
    assert results["latency_ms"]["ask_p50"] > 0
    assert {"ece", "squad2_accuracy", "reliability"} <= set(results["abstention"])


SUPER_BOWL = (
    "Super Bowl 50\n\n"
    "Super Bowl 50 was an American football game to determine the champion of the National Football League "
    "for the 2015 season. The Denver Broncos defeated the Carolina Panthers 24–10 to earn their third Super Bowl title.\n\n"
    "Rail reopening\n\n"
    "The reopening of the Ashby rail line will cost 48 million pounds, the council said on Monday."
)


@pytest.mark.parametrize("answerer", ["reader", "features"])
def test_headlines_and_headings_never_stand_as_the_answer_sentence(tmp_path: Path, embedder, answerer: str) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "super-bowl.txt").write_text(SUPER_BOWL)
    settings = Settings(corpus=corpus, index_dir=tmp_path / "index", answerer=answerer)
    qa = QA.from_folder(corpus, settings=settings, embedder=embedder)
    for question in ("Who won Super Bowl 50?", "How much does the rail reopening cost?"):
        answer = qa.ask_with_ranking(question, abstain_below=0.0)[0]  # whatever the confidence
        first = answer.citations[0].quote
        assert first not in ("Super Bowl 50", "Rail reopening"), answer.text
        assert first.endswith("."), answer.text
