"""The Python API over the default corpus, and adding articles of every format."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa import QA, QuestionError, UploadTooLarge
from samples import NEWS_HTML, SOLAR_MD, write_pdf

TRADE = "How large was bilateral trade between Georgia and Russia in the first half of 2025?"
TRADE_SENTENCE = (
    "According to Georgia’s national statistics service, bilateral trade amounted to nearly $1.3 billion "
    "in the first half of 2025, reflecting a 7% increase from the previous year."
)


def check_citations(qa: QA, answer) -> None:
    """Every marker has a citation, every citation a marker, and quotes point into their article."""
    for citation in answer.citations:
        assert f"[{citation.number}]" in answer.text
        article = qa.article(citation.article_id)
        assert article.text[citation.start : citation.end] == citation.quote
        assert article.text[citation.passage_start : citation.passage_start + len(citation.passage)] == citation.passage
        assert citation.quote in citation.passage
    assert [c.number for c in answer.citations] == list(range(1, len(answer.citations) + 1))


def test_trade_question_cites_the_trade_sentence(seed_qa: QA) -> None:
    answer = seed_qa.ask(TRADE)
    assert not answer.abstained
    assert "$1.3 billion" in answer.text
    assert answer.text == f"{answer.short_answer} — {TRADE_SENTENCE} [1]"
    first = answer.citations[0]
    assert first.quote == TRADE_SENTENCE
    assert first.title.startswith("Georgia Sets Firm Stance")
    assert first.source == "georgia-russia-relations.txt"
    check_citations(seed_qa, answer)
    assert 0.5 < answer.confidence <= 1.0


@pytest.mark.parametrize(
    "question, expected",
    [
        ("Who is Petre Mamradze?", "former head of Georgia’s presidential administration"),
        ("What does Georgia import from Russia?", "natural gas"),
        ("What does Georgia export to Russia?", "wine, mineral water, fruits, and nuts"),
        ("When did Georgia cut its ties with Moscow?", "following the 2008 war"),
        ("What is the name of Georgia's ruling party?", "Georgian Dream"),
        ("How much of Georgia's land do the separatist territories represent?", "around 20%"),
    ],
)
def test_factual_questions_about_the_seed(seed_qa: QA, question: str, expected: str) -> None:
    answer = seed_qa.ask(question)
    assert not answer.abstained
    assert expected in answer.citations[0].quote
    check_citations(seed_qa, answer)


def test_prime_minister_question_finds_his_sentence(seed_qa: QA) -> None:
    """Its best sentence is about relations and mentions him in passing, so confidence is moderate
    (SQuAD-calibrated, it may abstain); either way the sentence leads what is shown."""
    answer = seed_qa.ask("Who is the prime minister of Georgia?")
    shown = answer.citations[0].quote if not answer.abstained else answer.related[0].text
    assert "Prime Minister Irakli Kobakhidze" in shown


@pytest.mark.parametrize(
    "question",
    ["What is the capital of France?", "Who won the 2018 FIFA World Cup?", "How do I bake sourdough bread?"],
)
def test_off_topic_questions_are_refused(seed_qa: QA, question: str) -> None:
    answer = seed_qa.ask(question)
    assert answer.abstained
    assert answer.citations == []
    assert "do not answer" in answer.text
    assert answer.related, "closest passages are still listed"
    assert answer.confidence < 0.1


def test_follow_up_questions_use_the_conversation(seed_qa: QA) -> None:
    first = seed_qa.ask("What does Georgia export to Russia?")
    follow = seed_qa.ask("And what does it import?", history=[("What does Georgia export to Russia?", first.text)])
    assert "natural gas" in follow.text
    messages = [{"role": "user", "content": "Who is Georgia's prime minister?"}, {"role": "assistant", "content": "…"}]
    # "he" is resolved by the conversation: the sentence chosen (whatever the confidence) is his.
    said, _ = seed_qa.ask_with_ranking("What did he say about de-occupation?", history=messages, abstain_below=0.0)
    assert any("red lines" in c.quote for c in said.citations)


def test_answer_to_dict_is_json(seed_qa: QA) -> None:
    data = json.loads(json.dumps(seed_qa.ask(TRADE).to_dict()))
    assert data["citations"][0]["quote"] == TRADE_SENTENCE
    assert set(data) == {"question", "text", "short_answer", "abstained", "confidence", "citations", "related"}
    assert {"number", "article_id", "title", "source", "date", "passage", "quote", "start", "end", "score"} <= set(data["citations"][0])


def test_search_ranks_passages(seed_qa: QA) -> None:
    hits = seed_qa.search("trade between Georgia and Russia", k=2)
    assert len(hits) == 2
    assert hits[0].score >= hits[1].score
    assert "bilateral trade" in hits[0].text
    assert hits[0].article.text[hits[0].start : hits[0].end] == hits[0].text


@pytest.mark.parametrize("bad", ["", "   \n\t ", "x" * 5000, None])
def test_bad_questions_get_a_clear_error(seed_qa: QA, bad) -> None:
    with pytest.raises(QuestionError) as error:
        seed_qa.ask(bad)
    assert str(error.value)


def test_add_html_pdf_and_jsonl_articles(qa: QA, tmp_path: Path, corpus: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "bridge.html").write_text(NEWS_HTML, encoding="utf-8")
    write_pdf(
        incoming / "orchard.pdf",
        (
            "Orchard Annual Report.",
            "The orchard harvested 340 tonnes of apples in 2024, mostly of the Gala variety.",
            "Cherry trees were planted along the northern slope to reduce frost damage.",
        ),
        title="Orchard Annual Report",
    )
    feed = [
        {"title": "Lighthouse restored", "text": "The old lighthouse at Cape Mira was restored by volunteers in 2023 and now runs on solar power.", "url": "https://news.example.org/lighthouse", "date": "2023-08-01"},
        {"title": "Ferry timetable", "text": "The winter ferry to Halden island leaves twice a day, at 7:15 and at 16:40.", "date": "2024-01-10"},
    ]
    (incoming / "feed.jsonl").write_text("\n".join(json.dumps(r) for r in feed) + "\n")

    for name in ("bridge.html", "orchard.pdf", "feed.jsonl"):
        report = qa.add(incoming / name)
        assert report.added and (corpus / name).is_file()
    assert len(qa.articles()) == 5

    bridge = qa.ask("How much will the Alder River bridge cost?")
    assert "42 million" in bridge.text
    assert bridge.citations[0].source == "https://news.example.com/2024/03/05/river-bridge"
    assert bridge.citations[0].date == "2024-03-05"

    apples = qa.ask("How many tonnes of apples did the orchard harvest?")
    assert "340 tonnes" in apples.text
    assert apples.citations[0].page == 2
    assert apples.citations[0].title == "Orchard Annual Report"

    ferry = qa.ask("When does the winter ferry to Halden island leave?")
    assert "7:15" in ferry.text and ferry.citations[0].title == "Ferry timetable"
    lighthouse = qa.ask("Who restored the lighthouse at Cape Mira?")
    assert "volunteers" in lighthouse.text and lighthouse.citations[0].url == "https://news.example.org/lighthouse"
    for answer in (bridge, apples, ferry, lighthouse):
        check_citations(qa, answer)

    # Everything added is in the saved index: a new process answers without re-embedding.
    reopened = QA.from_folder(corpus, index_dir=qa.store.folder, embedder=qa.embedder)
    assert reopened.last_report.added == [] and len(reopened.articles()) == 5


def test_markdown_answers_and_sources_carry_no_markdown(qa: QA, tmp_path: Path) -> None:
    post = tmp_path / "ashby-solar.md"
    post.write_text(SOLAR_MD, encoding="utf-8")
    assert qa.add(post).added
    answer = qa.ask("How many panels does the Ashby solar cooperative have on the mill roof?")
    assert "300 panels" in answer.text and not answer.abstained
    homes = qa.ask("How many homes does the Ashby solar cooperative power?")
    assert "140 homes" in homes.text
    for reply in (answer, homes):
        check_citations(qa, reply)
        cited = [reply.text] + [part for c in reply.citations for part in (c.title, c.quote, c.passage)]
        for text in cited:
            for mark in ("#", "**", "__", "`", "](", "~~", "| ---"):
                assert mark not in text, (mark, text)
        assert reply.citations[0].title == "Ashby solar cooperative goes live"


def test_add_rejects_unreadable_files(qa: QA, tmp_path: Path, corpus: Path) -> None:
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
    (tmp_path / "empty.txt").write_text("   ")
    with pytest.raises(ValueError, match="unsupported"):
        qa.add(tmp_path / "notes.docx")
    with pytest.raises(ValueError, match="empty"):
        qa.add(tmp_path / "empty.txt")
    with pytest.raises(FileNotFoundError):
        qa.add(tmp_path / "missing.txt")
    (tmp_path / "again.txt").write_text((corpus / "georgia-russia-relations.txt").read_text())
    with pytest.raises(ValueError, match="duplicate of georgia-russia-relations.txt"):
        qa.add(tmp_path / "again.txt")
    assert sorted(p.name for p in corpus.iterdir()) == ["georgia-russia-relations.txt"]


def test_remove_drops_an_article_for_good(qa: QA, corpus: Path) -> None:
    (corpus / "ferry.txt").write_text("Ferry news\n\nThe winter ferry to Halden island leaves at 7:15 every morning.\n")
    qa.refresh()
    ferry = next(a for a in qa.articles() if a.path == "ferry.txt")
    removed = qa.remove(ferry.id)
    assert removed.id == ferry.id
    assert ferry.id not in {a.id for a in qa.articles()}
    assert qa.ask("When does the winter ferry to Halden island leave?").abstained
    # Still removed after a restart, although its file is still in the corpus.
    reopened = QA.from_folder(corpus, index_dir=qa.store.folder, embedder=qa.embedder)
    assert ferry.id not in {a.id for a in reopened.articles()}
    with pytest.raises(KeyError):
        qa.remove("no-such-id")
    # Adding the file again brings it back.
    qa.add(corpus / "ferry.txt")
    assert ferry.id in {a.id for a in qa.articles()}


def test_bad_files_are_skipped_and_duplicates_indexed_once(qa: QA, corpus: Path) -> None:
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (corpus / "copy.txt").write_text((corpus / "georgia-russia-relations.txt").read_text())
    (corpus / "image.png").write_bytes(b"\x89PNG")
    report = qa.refresh()
    assert report.articles == 1
    reasons = {s.path: s.reason for s in report.skipped}
    assert set(reasons) == {"broken.pdf", "copy.txt", "image.png"}  # the indexed copy is kept
    assert "duplicate" in reasons["copy.txt"]
    assert "broken.pdf" in report.summary()


def test_uploads_are_sanitised_size_limited_and_kept_inside_the_corpus(qa: QA, corpus: Path) -> None:
    body = b"Harbour news\n\nThe new harbour crane at Port Elin lifts 80 tonnes and was installed in May.\n"
    report = qa.add_upload("../../etc/evil name<script>.txt", body)
    assert report.added
    stored = sorted(p.name for p in corpus.iterdir())
    assert stored == ["evil-name-script.txt", "georgia-russia-relations.txt"]
    assert all(p.resolve().parent == corpus.resolve() for p in corpus.iterdir())
    assert "80 tonnes" in qa.ask("How much can the Port Elin harbour crane lift?").text
    with pytest.raises(UploadTooLarge):
        qa.add_upload("big.txt", b"x" * (qa.settings.max_upload_bytes + 1))
    with pytest.raises(ValueError, match="unsupported"):
        qa.add_upload("run.sh", b"echo hi")
