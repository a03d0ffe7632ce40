"""The web app: pure formatting of answers (escaping, badges, highlighting, abstentions, plain text to
copy, the corpus table), chat turns and corpus actions with the real engine, and the app itself,
served by `python app.py` and asked over its API. The browser tests are in test_browser.py."""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import pytest


os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from qa.types import Answer, Article, Citation, Hit  # noqa: E402
from qa.webui import (  # noqa: E402
    NOT_FOUND,
    add_files,
    article_choices,
    article_rows,
    Conversation,
    build_app,
    conversation_markdown,
    drain,
    confidence_level,
    escape,
    excerpt_bounds,
    format_answer,
    format_corpus_status,
    format_partial,
    format_passage,
    format_question,
    format_report,
    format_status,
    highlight,
    human_bytes,
    plain_text,
    reindex,
    relevance,
    remove_article,
    safe_url,
    shorten,
    source_id,
    stream_prefixes,
    upload_title,
)

TRADE = "How large was bilateral trade between Georgia and Russia in the first half of 2025?"
EVIL = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'


def article(**overrides) -> Article:
    fields = dict(
        id="a1",
        title="Trade news",
        text="Intro sentence. Trade reached $1.3 billion. Outro.",
        source="news/trade.txt",
        path="news/trade.txt",
        date="2025-07-01",
    )
    fields.update(overrides)
    return Article(**fields)


def citation(**overrides) -> Citation:
    # The passage starts at article offset 100; the quote sits at passage[16:43].
    passage = "Intro sentence. Trade reached $1.3 billion. Outro."
    fields = dict(
        number=1,
        article_id="a1",
        title="Trade news",
        source="news/trade.txt",
        date="2025-07-01",
        passage=passage,
        quote="Trade reached $1.3 billion.",
        start=116,
        end=143,
        score=0.9,
        passage_start=100,
    )
    fields.update(overrides)
    return Citation(**fields)


def answer(**overrides) -> Answer:
    fields = dict(
        question="How large was trade?",
        text="Trade reached $1.3 billion. [1]",
        abstained=False,
        confidence=0.93,
        citations=[citation()],
    )
    fields.update(overrides)
    return Answer(**fields)


def hit(text: str = "Some nearby passage about trade.", score: float = 0.4, **article_overrides) -> Hit:
    return Hit(passage_id=3, text=text, article=article(**article_overrides), score=score, start=0, end=len(text))


def abstained(**overrides) -> Answer:
    fields = dict(text="The articles do not answer this question.", abstained=True, confidence=0.05, citations=[])
    fields.update(overrides)
    return answer(**fields)


def tags(html_text: str) -> set[str]:
    return set(re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", html_text))


# ------------------------------------------------------------------ formatting an answer
def test_answer_shows_text_badge_and_numbered_source() -> None:
    out = format_answer(answer(), key="qa-t3")
    assert "Trade reached $1.3 billion." in out
    assert f'<a class="qa-ref" href="#{source_id("qa-t3", 1)}"' in out  # the badge links to its source
    assert f'<span class="qa-anchor" id="{source_id("qa-t3", 1)}"' in out
    assert ">Sources<" in out and '<span class="qa-num">1</span>' in out
    assert "Trade news" in out and "2025-07-01" in out and "news/trade.txt" in out
    assert 'class="qa-relevance"' in out and "Confidence 93% · high" in out
    assert "<a " not in out.replace('<a class="qa-ref"', "")  # no url, no other link
    assert NOT_FOUND not in out
    assert "\n" not in out  # one HTML block: Markdown never reaches article text


def test_sources_of_different_replies_have_different_ids() -> None:
    first, second = format_answer(answer(), key="qa-t1"), format_answer(answer(), key="qa-t2")
    assert source_id("qa-t1", 1) != source_id("qa-t2", 1)
    assert source_id("qa-t1", 1) in first and source_id("qa-t1", 1) not in second
    assert source_id('x" onclick="y', 2) == "xonclicky-src2"  # keys cannot break out of the attribute


def test_quote_is_marked_inside_the_passage() -> None:
    out = format_answer(answer())
    assert "<p>Intro sentence. <mark>Trade reached $1.3 billion.</mark><sup class=\"qa-mark-num\">1</sup> Outro.</p>" in out
    assert out.count("<mark>") == 1


def test_highlight_uses_offsets_and_falls_back_to_search() -> None:
    assert highlight("a b a", "a", 4) == "<p>a b <mark>a</mark></p>"
    assert highlight("a b a", "a", 0) == "<p><mark>a</mark> b a</p>"
    assert highlight("x quote y", "quote", 99) == "<p>x <mark>quote</mark> y</p>"  # wrong offset: found by search
    assert highlight("passage", "missing", 0).startswith("<p><mark>missing</mark>")  # never loses the quote
    assert highlight("a <b> c", "<b>", 2) == "<p>a <mark>&lt;b&gt;</mark> c</p>"


def test_long_passages_show_the_quoted_paragraph_and_keep_line_breaks() -> None:
    passage = "First paragraph.\n\nSecond one. The quote is here.\n\nThird paragraph."
    start = passage.index("The quote")
    assert excerpt_bounds(passage, start, start + 18) == (passage.index("Second"), passage.index("\n\nThird"))
    out = format_passage(passage, "The quote is here.", start)
    assert "<p>Second one. <mark>The quote is here.</mark></p>" in out and out.count('class="qa-more"') == 2
    assert "First paragraph" not in out and "Third" not in out
    single = format_passage("Only one paragraph. Quote.", "Quote.", 20)
    assert "qa-more" not in single and "<mark>Quote.</mark>" in single
    # A quote across a paragraph break is marked in both paragraphs, which stay separate.
    both = format_passage("A.\n\nB starts. B ends.\n\nC.", "A.\n\nB starts.", 0)
    assert "<p><mark>A.</mark></p><p><mark>B starts.</mark> B ends.</p>" in both
    # HTML articles separate paragraphs with a single newline: the excerpt is only the quoted one.
    html_passage = "Regions Reversal\nGeorgia will not resume ties. It said so on Wednesday.\nTbilisi cut its ties."
    quote = "Georgia will not resume ties."
    out = format_passage(html_passage, quote, html_passage.index(quote))
    assert "<p><mark>Georgia will not resume ties.</mark> It said so on Wednesday.</p>" in out
    assert "ReversalGeorgia" not in out and "Wednesday.Tbilisi" not in out and "Tbilisi" not in out


def test_whole_article_keeps_paragraphs_and_marks_the_quote() -> None:
    text = "Title line\n\nFirst paragraph here.\nSecond paragraph with the quote. More.\n\nLast one."
    quote = "Second paragraph with the quote."
    c = citation(passage=text, quote=quote, start=text.index(quote), end=text.index(quote) + len(quote), passage_start=0)
    out = format_answer(answer(citations=[c]), articles=lambda article_id: text)
    whole = out[out.index("<details"):out.index("</details>")]
    assert "<summary>Whole article</summary>" in whole
    assert "<p>Title line</p><p>First paragraph here.</p><p><mark>Second paragraph with the quote.</mark>" in whole
    assert "<p>Last one.</p>" in whole


def test_one_card_per_article_with_overlapping_passages_merged() -> None:
    text = "Alpha one. Beta two. Gamma three. Delta four."
    first = citation(number=1, passage=text[:33], quote="Alpha one.", start=0, end=10, passage_start=0, title="A very long title " * 5)
    second = citation(number=2, passage=text[11:], quote="Delta four.", start=34, end=45, passage_start=11, title="A very long title " * 5)
    out = format_answer(answer(text="Alpha one. [1] Delta four. [2]", citations=[first, second]), key="k")
    visible = out.split("<pre")[0]
    assert visible.count('class="qa-src"') == 1 and visible.count('class="qa-title"') == 1  # the title once
    assert out.count('class="qa-cite"') == 1  # overlapping passages: one excerpt
    assert out.count("Beta two.") == 1 and out.count("<mark>") == 2
    assert 'id="k-src1"' in out and 'id="k-src2"' in out
    related = format_answer(abstained(related=[hit("One passage."), hit("Another passage.")]))
    assert related.count('class="qa-src qa-related"') == 1 and related.split("<pre")[0].count("Trade news") == 1


def test_relevance_and_confidence_levels() -> None:
    assert relevance(1.3) == 1.0 and relevance(2.0) == 1.0 and relevance(-0.5) == 0.0
    assert relevance(0.65) == pytest.approx(0.5)
    assert relevance(float("nan")) == 0.0
    assert [confidence_level(c) for c in (0.9, 0.7, 0.6, 0.5, 0.34)] == ["high", "high", "medium", "medium", "low"]
    low = format_answer(answer(confidence=0.4))
    assert "qa-conf-low" in low and "Confidence 40% · low" in low


def test_script_in_titles_passages_answer_and_question_is_escaped() -> None:
    evil_passage = f"Before {EVIL} quote {EVIL} {IMG} after"
    quote = f"quote {EVIL}"
    c = citation(
        title=f"Title {EVIL} {IMG}",
        source=f"src {EVIL}",
        date=f"{EVIL}",
        passage=evil_passage,
        quote=quote,
        start=100 + evil_passage.index(quote),
        end=100 + evil_passage.index(quote) + len(quote),
    )
    out = format_answer(answer(question=f"Q {IMG}", text=f"Answer {EVIL} [1]", citations=[c]))
    assert "<script" not in out and "<img" not in out and "onerror=\"" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert f"<mark>quote {escape(EVIL)}</mark>" in out
    assert tags(out) <= {"div", "p", "a", "span", "mark", "blockquote", "br", "button", "pre", "details", "summary", "sup", "strong"}
    related = format_answer(abstained(related=[hit(f"text {EVIL}", title=f"T {EVIL}")]))
    assert "<script" not in related and "&lt;script&gt;" in related
    assert format_question(f"{EVIL}\n{IMG}") == f'<div class="qa-question">{escape(EVIL)}<br>{escape(IMG)}</div>'
    assert "<script" not in format_partial(f"Partial {EVIL} [1]")


def test_only_http_urls_become_links_and_are_escaped() -> None:
    good = format_answer(answer(citations=[citation(url='https://example.com/a?x=1&y="2"><script>')]))
    assert '<a href="https://example.com/a?x=1&amp;y=&quot;2&quot;&gt;&lt;script&gt;"' in good
    assert 'rel="noopener noreferrer nofollow"' in good
    for bad in ("javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "//evil.example", "ftp://x.org/f", "/local"):
        out = format_answer(answer(citations=[citation(url=bad, source=bad)]))
        assert "href" not in out.replace('<a class="qa-ref" href="#', ""), bad
        assert "<script" not in out
    assert safe_url("http://example.com") == "http://example.com"
    assert safe_url("HTTPS://Example.com/x") == "HTTPS://Example.com/x"
    assert safe_url("https://exa mple.com") is None
    assert safe_url("https://example.com/\x7f") is None
    assert safe_url(None) is None


def test_origin_url_is_linked_and_page_shown() -> None:
    out = format_answer(answer(citations=[citation(source="https://news.example/world/trade", page=3)]))
    assert '<a href="https://news.example/world/trade"' in out and ">news.example/world/trade</a>" in out
    assert "p. 3" in out


def test_abstained_answer_says_not_found_and_lists_related() -> None:
    long_text = "word " * 200
    out = format_answer(
        abstained(related=[hit("Related text one."), hit(long_text, id="b2", title="Second article", url="https://example.com/2")])
    )
    assert NOT_FOUND in out and "qa-abstained" in out
    assert ">Related<" in out and out.count('class="qa-src qa-related"') == 2  # two articles
    assert "Sources" not in out and "<mark>" not in out and "qa-ref" not in out
    assert "Related text one." in out and "Trade news" in out
    assert '<a href="https://example.com/2"' in out and "Second article" in out
    assert "…" in out and long_text.strip() not in out  # excerpts are short
    assert "Not answered" in out and "%" not in out.split("qa-conf")[1].split("</span>")[0]  # no "confidence 33%"
    plain = format_answer(abstained(related=[]))
    assert NOT_FOUND in plain and ">Related<" not in plain


def test_plain_text_to_copy_has_the_answer_and_its_sources() -> None:
    text = plain_text(answer(citations=[citation(page=2, url="https://news.example/t")]))
    assert text.splitlines()[0] == "Q: How large was trade?"
    assert "Trade reached $1.3 billion. [1]" in text
    assert "Sources:" in text and "[1] Trade news — 2025-07-01 — https://news.example/t, p. 2" in text
    assert "“Trade reached $1.3 billion.”" in text and "Confidence: 93% (high)" in text
    related = plain_text(abstained(related=[hit("Nearby text.")]))
    assert NOT_FOUND in related and "Related:" in related and "- Trade news — 2025-07-01 — news/trade.txt" in related
    # In the reply it is hidden text (newlines as references, markup escaped) for the Copy button.
    out = format_answer(answer(question=f"Why {EVIL}?"))
    block = re.search(r'<pre class="qa-plain" hidden>(.*?)</pre>', out).group(1)
    assert "&#10;" in block and "<" not in block and "&lt;script&gt;" in block
    assert '<button class="qa-copy" type="button"' in out


def test_stream_prefixes_grow_to_the_whole_text() -> None:
    text = "One two three four five. [1] Six seven eight nine ten eleven. [2]"
    prefixes = stream_prefixes(text, words=4)
    assert prefixes[-1] == text and len(prefixes) >= 3
    assert all(a != b and b.startswith(a) for a, b in zip(prefixes, prefixes[1:]))
    assert all(not p.endswith("five.") for p in prefixes)  # a marker arrives with its sentence
    assert stream_prefixes("Short. [1]") == ["Short. [1]"]
    assert stream_prefixes("") == [""]


def test_shorten_status_and_sizes() -> None:
    assert shorten("a  b\nc") == "a b c"
    assert len(shorten("word " * 100, 50)) <= 52
    assert "1 article," in format_status({"articles": 1, "passages": 4})
    assert "2 articles, 1 passage." in format_status({"articles": 2, "passages": 1})
    assert human_bytes(10) == "10 B" and human_bytes(44910) == "43.9 KB" and human_bytes(5 * 1024**2) == "5.0 MB"
    line = format_corpus_status(
        {"articles": 3, "passages": 12, "sentences": 40, "model": "m<b>", "index_bytes": 2048, "corpus": "/c/<x>"}
    )
    assert "3 articles" in line and "12 passages" in line and "m&lt;b&gt;" in line and "2.0 KB" in line
    assert "/c/&lt;x&gt;" in line


def test_corpus_table_and_choices() -> None:
    articles = [
        article(),
        article(id="b2", title=f"Feed {EVIL}", source="https://feed.example/x", path="feed.jsonl", url="https://feed.example/x", date=None),
        article(id="c3", title="", source="notes.txt", path="notes.txt", url="javascript:alert(1)", date=None),
    ]
    rows = article_rows(articles, {"a1": 4, "b2": 1})
    assert rows[0] == ["Trade news", "2025-07-01", "news/trade.txt", 4, "a1"]
    assert rows[1] == [f"Feed {EVIL}", "", "https://feed.example/x", 1, "b2"]  # the table shows text, not HTML
    assert rows[2] == ["notes.txt", "", "notes.txt", 0, "c3"]  # no javascript: origin
    choices = article_choices(articles)
    assert choices[0] == ("Trade news — news/trade.txt", "a1") and [v for _, v in choices] == ["a1", "b2", "c3"]


def test_reports_are_escaped() -> None:
    out = format_report([(True, "Added a.txt", "1 article"), (False, f"Not added: {EVIL}.txt", f"Cannot add {IMG}")], "t <i>")
    assert "<script" not in out and "<img" not in out and "&lt;script&gt;" in out and "t &lt;i&gt;" in out
    assert out.count("<li>") == 2 and "qa-ok" in out and "qa-fail" in out
    assert format_report([]) == ""
    assert upload_title([(True, "", ""), (False, "", "")], {"articles": 2, "passages": 9}) == "1 of 2 files added · index: 2 articles, 9 passages"


# ------------------------------------------------------------------ chat turns with the real engine
def run(stream) -> list:
    with warnings.catch_warnings():  # outside a request, gr.Warning is a Python warning
        warnings.simplefilter("ignore")
        return list(stream)


def contents(messages) -> list[str]:
    return [m["content"] for m in messages]


def test_drain_shows_the_question_then_grows_the_answer_then_adds_sources(seed_qa) -> None:
    chat = Conversation()
    chat.enqueue(TRADE)
    updates = run(drain(seed_qa, chat, delay=0))
    first = updates[0]
    assert first[0] == {"role": "user", "content": format_question(TRADE)} and "qa-thinking" in first[1]["content"]
    partial = [u[-1]["content"] for u in updates if "qa-streaming" in u[-1]["content"]]
    assert len(partial) >= 2 and all("qa-src" not in p for p in partial)
    assert all(len(a) < len(b) for a, b in zip(partial, partial[1:]))
    final = updates[-1]
    assert len(final) == 2 and "$1.3 billion" in final[1]["content"] and "<mark>" in final[1]["content"]
    assert 'href="#qa-t1-src1"' in final[1]["content"] and 'id="qa-t1-src1"' in final[1]["content"]
    assert "Whole article" in final[1]["content"]
    assert chat.history() == [(TRADE, seed_qa.ask(TRADE).text)]
    assert final[1].get("options") and all(o["value"] != TRADE for o in final[1]["options"])  # follow-ups


def test_questions_sent_while_answering_are_answered_in_order(seed_qa) -> None:
    chat = Conversation()
    chat.enqueue("What does Georgia export to Russia?")
    stream = drain(seed_qa, chat, delay=0)
    next(stream)  # the first answer is being composed ...
    chat.enqueue("Who is the prime minister of Georgia?")  # ... when two more questions arrive
    chat.enqueue(TRADE)
    shown = next(stream)
    assert [m["content"] for m in shown[::2]][1:] == [format_question("Who is the prime minister of Georgia?"), format_question(TRADE)]
    assert "qa-waiting" in shown[-1]["content"]
    final = run(stream)[-1]
    assert [t.question for t in chat.turns] == ["What does Georgia export to Russia?", "Who is the prime minister of Georgia?", TRADE]
    assert "wine" in final[1]["content"] and "Kobakhidze" in final[3]["content"] and "$1.3 billion" in final[5]["content"]
    assert not chat.busy and run(drain(seed_qa, chat, delay=0))[-1] == final  # a deferred drain finds nothing left


def test_follow_up_uses_the_conversation(seed_qa) -> None:
    chat = Conversation()
    chat.enqueue("What does Georgia export to Russia?")
    first = run(drain(seed_qa, chat, delay=0))[-1]
    chat.enqueue("And what does it import?")
    messages = run(drain(seed_qa, chat, delay=0))[-1]
    assert [m["content"] for m in messages[:2]] == [m["content"] for m in first[:2]]
    assert messages[2] == {"role": "user", "content": format_question("And what does it import?")}
    assert "natural gas" in messages[3]["content"] and 'id="qa-t2-src1"' in messages[3]["content"]
    assert "options" not in messages[1]  # follow-up suggestions only under the latest answer


def test_questions_within_chosen_articles(qa, corpus: Path) -> None:
    (corpus / "metro.txt").write_text("Tbilisi metro\n\nThe Tbilisi city council approved a 420 million lari metro extension on Tuesday.\n", encoding="utf-8")
    qa.refresh()
    metro = next(a.id for a in qa.articles() if a.path == "metro.txt")
    chat = Conversation()
    chat.enqueue("Who is the prime minister of Georgia?", [metro])
    reply = run(drain(qa, chat, delay=0))[-1][1]["content"]
    assert "Kobakhidze" not in reply and "Georgia Sets Firm Stance" not in reply


def test_unanswerable_question_is_not_streamed(seed_qa) -> None:
    chat = Conversation()
    chat.enqueue("What is the capital of France?")
    updates = run(drain(seed_qa, chat, delay=0))
    assert not any("qa-streaming" in u[-1]["content"] for u in updates)
    reply = updates[-1][-1]["content"]
    assert NOT_FOUND in reply and "qa-related" in reply


def test_a_question_that_cannot_be_asked_gets_its_reason(seed_qa) -> None:
    chat = Conversation()
    chat.enqueue("x" * 3000)
    messages = run(drain(seed_qa, chat, delay=0))[-1]
    assert "too long" in messages[-1]["content"] and messages[-1]["role"] == "assistant"
    assert chat.history() == []  # not history for later questions
    assert chat.enqueue("   ") is None and not chat.busy  # blank: ignored


def test_failures_are_reported_without_crashing(seed_qa, monkeypatch) -> None:
    def disk_error(*args, **kwargs):
        raise OSError("disk read error")

    monkeypatch.setattr(seed_qa, "ask", disk_error)  # a fault injected into the real engine
    chat = Conversation()
    chat.enqueue("Who?")
    messages = run(drain(seed_qa, chat, delay=0))[-1]
    assert "went wrong" in messages[-1]["content"] and "disk read error" not in messages[-1]["content"]


def test_retry_asks_the_last_question_again_in_place_and_clear_discards(seed_qa) -> None:
    chat = Conversation()
    chat.enqueue("What does Georgia export to Russia?")
    chat.enqueue(TRADE)
    run(drain(seed_qa, chat, delay=0))
    assert chat.retry() is not None
    messages = run(drain(seed_qa, chat, delay=0))[-1]
    assert len(messages) == 4 and messages[2]["content"] == format_question(TRADE) and "$1.3 billion" in messages[3]["content"]
    assert Conversation().retry() is None  # nothing to retry
    chat.enqueue("Who is the prime minister of Georgia?")
    stream = drain(seed_qa, chat, delay=0)
    next(stream)
    chat.clear()  # cleared while answering: the answer is dropped
    assert run(stream)[-1] == [] and chat.turns == []


def test_export_is_markdown_with_sources(seed_qa, tmp_path: Path) -> None:
    chat = Conversation()
    chat.enqueue(TRADE)
    chat.enqueue("What is the capital of France?")
    run(drain(seed_qa, chat, delay=0))
    text = chat.export(tmp_path).read_text(encoding="utf-8")
    assert text.startswith("# Conversation with the articles")
    assert f"## 1. {TRADE}" in text and "$1.3 billion" in text and "[1]" in text
    assert "Sources:" in text and "1. **Georgia Sets Firm Stance" in text and "georgia-russia-relations.txt" in text
    assert "## 2. What is the capital of France?" in text and NOT_FOUND in text
    evil = conversation_markdown([(f"Q {EVIL}", None, "x")])
    assert "<script>" not in evil and "\\<script\\>" in evil


# ------------------------------------------------------------------ corpus actions with the real engine
def test_uploaded_files_are_answerable_at_once_and_refusals_say_why(qa, tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    metro = uploads / "tbilisi-metro.txt"
    metro.write_text(
        "Tbilisi approves metro expansion\n\nThe Tbilisi city council approved a 420 million lari extension "
        "of the metro's third line on Tuesday.\n",
        encoding="utf-8",
    )
    empty = uploads / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    binary = uploads / "slides.pptx"
    binary.write_bytes(b"PK\x03\x04")
    copy = uploads / "again.txt"
    copy.write_text(metro.read_text(encoding="utf-8"), encoding="utf-8")
    seen = []

    lines = add_files(qa, [str(metro), str(empty), str(binary), str(copy)], lambda f, d: seen.append((f, d)))
    assert [ok for ok, _, _ in lines] == [True, False, False, False]
    assert lines[0][1] == "Added tbilisi-metro.txt" and "2 articles" in lines[0][2]
    assert "empty" in lines[1][2] and "unsupported file type" in lines[2][2] and "duplicate" in lines[3][2]
    assert seen[0] == (0.0, "Indexing tbilisi-metro.txt (1 of 4)") and seen[-1][0] == 1.0

    chat = Conversation()
    chat.enqueue("How much will the extension of the Tbilisi metro's third line cost?")
    reply = run(drain(qa, chat, delay=0))[-1][-1]
    assert "420 million lari" in reply["content"] and "Tbilisi approves metro expansion" in reply["content"]
    assert "Tbilisi approves metro expansion" in [r[0] for r in article_rows(qa.articles(), qa.passage_counts())]


def test_remove_and_reindex(qa, corpus: Path) -> None:
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    [(ok, what, detail)] = reindex(qa)
    assert ok and what == "Re-indexed" and "broken.pdf" in detail and "skipped" in detail  # says which and why

    article_id = qa.articles()[0].id
    [(ok, what, detail)] = remove_article(qa, article_id)
    assert ok and what.startswith("Removed “Georgia Sets Firm Stance") and "no longer indexed" in detail
    assert qa.articles() == []
    assert remove_article(qa, article_id)[0][0] is False
    assert remove_article(qa, None)[0] == (False, "Nothing removed", "choose an article first")


def test_app_builds_with_the_ask_endpoint(seed_qa) -> None:
    app = build_app(seed_qa)
    names = [fn.api_name for fn in app.fns.values()]
    assert "ask" in names
    config = app.get_config_file()
    chat = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "qa-chat")
    assert "copy" not in chat["props"]["buttons"]  # Gradio's copy would copy HTML; replies have their own
    assert chat["props"]["sanitize_html"] is True
    assert [e["text"] for e in chat["props"]["examples"]] == seed_qa.example_questions(3)  # from the loaded corpus
    assert tuple(chat["props"]["feedback_options"]) == ("Like", "Dislike")
    modes = {d.get("trigger_mode") for d in config["dependencies"] if d.get("trigger_after") is not None and d.get("queue") is not False}
    assert "always_last" in modes  # a drain asked for while one runs is deferred, not dropped
    assert any("__qaUiInstalled" in (d.get("js") or "") for d in config["dependencies"])
