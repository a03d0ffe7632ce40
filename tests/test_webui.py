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
    build_app,
    chat_stream,
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
    retry_stream,
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
    assert f'<div class="qa-src" id="{source_id("qa-t3", 1)}"' in out
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
    assert "Intro sentence. <mark>Trade reached $1.3 billion.</mark> Outro." in out
    assert out.count("<mark>") == 1


def test_highlight_uses_offsets_and_falls_back_to_search() -> None:
    assert highlight("a b a", "a", 4) == "a b <mark>a</mark>"
    assert highlight("a b a", "a", 0) == "<mark>a</mark> b a"
    assert highlight("x quote y", "quote", 99) == "x <mark>quote</mark> y"  # wrong offset: found by search
    assert highlight("passage", "missing", 0).startswith("<mark>missing</mark>")  # never loses the quote
    assert highlight("a <b> c", "<b>", 2) == "a <mark>&lt;b&gt;</mark> c"


def test_long_passages_show_the_quoted_paragraph_and_keep_the_rest_one_click_away() -> None:
    passage = "First paragraph.\n\nSecond one. The quote is here.\n\nThird paragraph."
    start = passage.index("The quote")
    assert excerpt_bounds(passage, start, start + 18) == (passage.index("Second"), passage.index("\n\nThird"))
    out = format_passage(passage, "The quote is here.", start)
    excerpt, whole = out.split("<details", 1)
    assert "… Second one. <mark>The quote is here.</mark> …" in excerpt
    assert "First paragraph" not in excerpt and "Third" not in excerpt
    assert "Whole passage" in whole and "First paragraph.<br><br>Second one. <mark>" in whole
    single = format_passage("Only one paragraph. Quote.", "Quote.", 20)
    assert "<details" not in single and "<mark>Quote.</mark>" in single
    spanning = "A.\n\nB starts. B ends.\n\nC."  # a quote across a paragraph break stays one <mark>
    both = format_passage(spanning, "A.\n\nB starts.", 0)
    assert "<mark>A.<br><br>B starts.</mark>" in both


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
    assert tags(out) <= {"div", "p", "a", "span", "mark", "blockquote", "br", "button", "pre", "details", "summary"}
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
        abstained(related=[hit("Related text one."), hit(long_text, title="Second article", url="https://example.com/2")])
    )
    assert NOT_FOUND in out and "qa-abstained" in out
    assert ">Related<" in out and out.count('class="qa-src qa-related"') == 2
    assert "Sources" not in out and "<mark>" not in out and "qa-ref" not in out
    assert "Related text one." in out and "Trade news" in out
    assert '<a href="https://example.com/2"' in out and "Second article" in out
    assert "…" in out and long_text.strip() not in out  # excerpts are short
    assert "Not answered" in out
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
def run(stream) -> list[tuple]:
    with warnings.catch_warnings():  # outside a request, gr.Warning is a Python warning
        warnings.simplefilter("ignore")
        return list(stream)


def test_chat_stream_shows_the_question_then_grows_the_answer_then_adds_sources(seed_qa) -> None:
    updates = run(chat_stream(seed_qa, TRADE, [], [], delay=0))
    box, messages, turns = updates[0]
    assert box == "" and messages[0] == {"role": "user", "content": format_question(TRADE)}
    assert "qa-thinking" in messages[1]["content"] and turns == []
    partial = [u[1][-1]["content"] for u in updates[1:-1]]
    assert partial and all("qa-streaming" in p and "qa-src" not in p for p in partial)
    assert all(len(a) < len(b) for a, b in zip(partial, partial[1:]))
    box, messages, turns = updates[-1]
    final = messages[-1]["content"]
    assert len(messages) == 2 and "$1.3 billion" in final and "<mark>" in final
    assert 'href="#qa-t1-src1"' in final and 'id="qa-t1-src1"' in final
    assert turns == [{"question": TRADE, "answer": seed_qa.ask(TRADE).text}]


def test_follow_up_uses_the_conversation(seed_qa) -> None:
    first = run(chat_stream(seed_qa, "What does Georgia export to Russia?", [], [], delay=0))[-1]
    box, messages, turns = run(chat_stream(seed_qa, "And what does it import?", first[1], first[2], delay=0))[-1]
    assert messages[:2] == first[1]
    assert messages[2] == {"role": "user", "content": format_question("And what does it import?")}
    assert "natural gas" in messages[3]["content"] and "<mark>" in messages[3]["content"]
    assert 'id="qa-t2-src1"' in messages[3]["content"]  # its own source ids
    assert [t["question"] for t in turns] == ["What does Georgia export to Russia?", "And what does it import?"]


def test_unanswerable_question_is_not_streamed(seed_qa) -> None:
    updates = run(chat_stream(seed_qa, "What is the capital of France?", [], [], delay=0))
    assert len(updates) == 2  # the question, then the reply
    reply = updates[-1][1][-1]["content"]
    assert NOT_FOUND in reply and "qa-related" in reply


def test_chat_stream_shows_why_a_question_cannot_be_asked(seed_qa) -> None:
    box, messages, turns = run(chat_stream(seed_qa, "x" * 3000, [], [], delay=0))[-1]
    assert box == "x" * 3000  # kept, to be shortened
    assert "too long" in messages[-1]["content"] and messages[-1]["role"] == "assistant"
    assert turns == [{"question": "x" * 3000, "answer": None}]  # not history for later questions


def test_chat_stream_ignores_an_empty_question(seed_qa) -> None:
    earlier = [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"}]
    updates = run(chat_stream(seed_qa, "  ", earlier, [{"question": "Q1", "answer": "A1"}], delay=0))
    assert updates == [("  ", earlier, [{"question": "Q1", "answer": "A1"}])]


def test_chat_stream_reports_failures_without_crashing(seed_qa, monkeypatch) -> None:
    def disk_error(*args, **kwargs):
        raise OSError("disk read error")

    monkeypatch.setattr(seed_qa, "ask", disk_error)  # a fault injected into the real engine
    box, messages, turns = run(chat_stream(seed_qa, "Who?", [], [], delay=0))[-1]
    assert messages[-1]["role"] == "assistant" and "went wrong" in messages[-1]["content"]
    assert "disk read error" not in messages[-1]["content"]
    assert turns[-1]["answer"] is None


def test_retry_asks_the_last_question_again_in_place(seed_qa) -> None:
    first = run(chat_stream(seed_qa, "What does Georgia export to Russia?", [], [], delay=0))[-1]
    second = run(chat_stream(seed_qa, TRADE, first[1], first[2], delay=0))[-1]
    box, messages, turns = run(retry_stream(seed_qa, second[1], second[2], delay=0))[-1]
    assert len(messages) == 4 and messages[:2] == first[1]
    assert messages[2]["content"] == format_question(TRADE) and "$1.3 billion" in messages[3]["content"]
    assert [t["question"] for t in turns] == ["What does Georgia export to Russia?", TRADE]
    assert run(retry_stream(seed_qa, [], [], delay=0))[-1] == ("", [], [])  # nothing to retry


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

    reply = run(chat_stream(qa, "How much will the extension of the Tbilisi metro's third line cost?", [], [], delay=0))[-1][1][-1]
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
    assert any("__qaUiInstalled" in (d.get("js") or "") for d in config["dependencies"])
