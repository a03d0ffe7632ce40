"""Engine features behind the chat: asking within chosen articles, example and follow-up questions
made from the loaded articles (and answered by them), feedback kept beside the index, and removed
articles that can be listed and restored. Real model, real files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa import QA, QuestionError
from qa.questions import question_from_sentence

METRO = """Tbilisi approves metro expansion

The Tbilisi city council approved a 420 million lari extension of the metro's third line on Tuesday.
The extension adds six stations between Didube and the new Gldani depot and is due to open in 2029.
Construction will be financed by a loan from the Asian Development Bank, the mayor's office said.
"""
BAKERY = """Village bakery wins national prize

The Marani bakery in Sighnaghi won the national bread prize for its sourdough shoti loaf.
Owner Nino Beridze founded the bakery in 2011 with two wood-fired ovens.
"""


@pytest.fixture
def two(corpus: Path, index_dir: Path, embedder) -> QA:
    (corpus / "tbilisi-metro.txt").write_text(METRO, encoding="utf-8")
    return QA.from_folder(corpus, index_dir=index_dir, embedder=embedder)


def ids(qa: QA) -> dict[str, str]:
    return {a.path: a.id for a in qa.articles()}


def test_ask_and_search_within_chosen_articles(two: QA) -> None:
    metro = ids(two)["tbilisi-metro.txt"]
    question = "Who is the prime minister of Georgia?"
    assert "Kobakhidze" in two.ask(question).text
    within = two.ask(question, articles=[metro])
    assert all(c.article_id == metro for c in within.citations)
    assert all(h.article.id == metro for h in within.related) and "Kobakhidze" not in within.text
    hits = two.search("prime minister of Georgia", k=5, articles=[metro])
    assert hits and {h.article.id for h in hits} == {metro}
    assert two.ask(question, articles=[]).text == two.ask(question).text  # empty: all articles
    with pytest.raises(QuestionError):
        two.ask(question, articles=["no-such-id"])


def test_example_questions_come_from_the_loaded_articles_and_are_answered(corpus: Path, index_dir: Path, embedder) -> None:
    for f in corpus.iterdir():
        f.unlink()
    (corpus / "tbilisi-metro.txt").write_text(METRO, encoding="utf-8")
    (corpus / "bakery.txt").write_text(BAKERY, encoding="utf-8")
    qa = QA.from_folder(corpus, index_dir=index_dir, embedder=embedder)
    examples = qa.example_questions(3)
    assert 2 <= len(examples) <= 3 and len(set(examples)) == len(examples)
    assert not any("Georgia" in q for q in examples)  # nothing about an article that is not loaded
    for question in examples:
        answer = qa.ask(question)
        assert not answer.abstained, question
    assert any("420 million lari" in q or "metro" in q for q in examples)
    assert any("bakery" in q.lower() or "prize" in q or "Beridze" in q for q in examples)


def test_follow_up_questions_are_about_the_cited_article_and_answered(seed_qa: QA) -> None:
    answer = seed_qa.ask("What does Georgia export to Russia?")
    follow = seed_qa.follow_up_questions(answer, n=3)
    assert follow and answer.question not in follow
    for question in follow:
        again = seed_qa.ask(question)
        assert not again.abstained and again.citations[0].article_id == answer.citations[0].article_id
        assert not any(c.quote in " ".join(x.quote for x in answer.citations) for c in again.citations[:1])


def test_sentences_become_subject_questions() -> None:
    assert question_from_sentence("The Tbilisi city council approved a 420 million lari extension of the metro's third line on Tuesday.") == (
        "Who approved a 420 million lari extension of the metro's third line on Tuesday?"
    )
    assert question_from_sentence("Bilateral trade amounted to nearly $1.3 billion in the first half of 2025.") == (
        "What amounted to nearly $1.3 billion in the first half of 2025?"
    )
    assert question_from_sentence("Since 2008, Russia has provided backing to the separatist territories.") == (
        "Who has provided backing to the separatist territories?"
    )
    for unsuitable in ("He said it was fine and went home early.", "Is this a question at all, really?", "Too short.", '"We will win," he said to all.'):
        assert question_from_sentence(unsuitable) is None


def test_feedback_is_kept_as_json_lines_beside_the_index(qa: QA, index_dir: Path) -> None:
    answer = qa.ask("What does Georgia export to Russia?")
    qa.feedback.record_answer(answer, True)
    qa.feedback.record_answer(answer, False, comment="missed nuts")
    lines = (index_dir / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["liked"] is True and second["liked"] is False and second["comment"] == "missed nuts"
    assert first["question"] == answer.question and first["answer"] == answer.text
    assert first["sources"][0]["article_id"] == answer.citations[0].article_id
    assert qa.feedback.entries() == [first, second]
    qa.refresh()  # a new index generation leaves the feedback alone
    assert len(qa.feedback.entries()) == 2


def test_removed_articles_are_listed_and_can_be_restored(two: QA) -> None:
    metro = ids(two)["tbilisi-metro.txt"]
    assert two.removed_articles() == []
    two.remove(metro)
    [removed] = two.removed_articles()
    assert removed.id == metro and removed.title == "Tbilisi approves metro expansion"
    two.restore(metro)
    assert metro in ids(two).values() and two.removed_articles() == []
    assert "420 million lari" in two.ask("How much will the metro's third line extension cost?").text
    with pytest.raises(KeyError):
        two.restore(metro)
