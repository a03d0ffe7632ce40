"""The web chat: pure formatting of answers (escaping, highlighting, abstentions), one chat turn
with the real engine, and the app itself, served by `python app.py` and asked over its API."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from conftest import ROOT

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from qa import QuestionError  # noqa: E402
from qa.types import Answer, Article, Citation, Hit  # noqa: E402
from qa.webui import (  # noqa: E402
    NOT_FOUND,
    build_app,
    chat_turn,
    escape,
    format_answer,
    format_question,
    format_status,
    highlight,
    safe_url,
    shorten,
)

TRADE = "How large was bilateral trade between Georgia and Russia in the first half of 2025?"
EVIL = "<script>alert(1)</script>"


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


def hit(text: str = "Some nearby passage about trade.", **article_overrides) -> Hit:
    return Hit(passage_id=3, text=text, article=article(**article_overrides), score=0.4, start=0, end=len(text))


# ------------------------------------------------------------------ formatting
def test_answer_shows_text_marker_and_numbered_source() -> None:
    out = format_answer(answer())
    assert "Trade reached $1.3 billion." in out
    assert '<sup class="qa-ref">[1]</sup>' in out
    assert "Sources" in out and "<strong>[1]</strong>" in out
    assert "Trade news" in out and "2025-07-01" in out and "news/trade.txt" in out
    assert "<a " not in out  # no url, no link
    assert "Not found" not in out
    assert "\n" not in out  # one HTML block: markdown never reaches article text


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


def test_script_in_titles_passages_and_answer_is_escaped() -> None:
    evil_passage = f"Before {EVIL} quote {EVIL} after"
    quote = f"quote {EVIL}"
    c = citation(
        title=f"Title {EVIL}",
        source=f"src {EVIL}",
        date=f"{EVIL}",
        passage=evil_passage,
        quote=quote,
        start=100 + evil_passage.index(quote),
        end=100 + evil_passage.index(quote) + len(quote),
    )
    out = format_answer(answer(text=f"Answer {EVIL} [1]", citations=[c]))
    assert "<script" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert f"<mark>quote {escape(EVIL)}</mark>" in out
    related = format_answer(answer(abstained=True, citations=[], related=[hit(f"text {EVIL}", title=f"T {EVIL}")]))
    assert "<script" not in related and "&lt;script&gt;" in related


def test_only_http_urls_become_links_and_are_escaped() -> None:
    good = format_answer(answer(citations=[citation(url='https://example.com/a?x=1&y="2"><script>')]))
    assert '<a href="https://example.com/a?x=1&amp;y=&quot;2&quot;&gt;&lt;script&gt;"' in good
    assert 'rel="noopener noreferrer nofollow"' in good
    for bad in ("javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "//evil.example", "ftp://x.org/f", "/local"):
        out = format_answer(answer(citations=[citation(url=bad, source=bad)]))
        assert "<a " not in out and "href" not in out, bad
        assert "<script" not in out
    assert safe_url("http://example.com") == "http://example.com"
    assert safe_url("HTTPS://Example.com/x") == "HTTPS://Example.com/x"
    assert safe_url("https://exa mple.com") is None
    assert safe_url(None) is None


def test_source_url_is_linked_and_page_shown() -> None:
    out = format_answer(answer(citations=[citation(source="https://news.example/trade", page=3)]))
    assert '<a href="https://news.example/trade"' in out and ">Trade news</a>" in out
    assert "p. 3" in out


def test_abstained_answer_says_not_found_and_lists_related() -> None:
    long_text = "word " * 200
    out = format_answer(
        answer(
            text="The articles do not answer this question.",
            abstained=True,
            confidence=0.05,
            citations=[],
            related=[hit("Related text one."), hit(long_text, title="Second article", url="https://example.com/2")],
        )
    )
    assert NOT_FOUND in out
    assert "Related passages" in out
    assert "Sources" not in out and "<mark>" not in out
    assert "Related text one." in out and "Trade news" in out
    assert '<a href="https://example.com/2"' in out and "Second article" in out
    assert "…" in out and long_text.strip() not in out  # excerpts are short
    plain = format_answer(answer(abstained=True, citations=[], related=[]))
    assert NOT_FOUND in plain and "Related passages" not in plain


def test_shorten_and_status() -> None:
    assert shorten("a  b\nc") == "a b c"
    assert len(shorten("word " * 100, 50)) <= 52
    assert "1 article," in format_status({"articles": 1, "passages": 4})
    assert "2 articles, 1 passage." in format_status({"articles": 2, "passages": 1})


# ------------------------------------------------------------------ a chat turn
def test_chat_turn_appends_messages_and_passes_earlier_questions(seed_qa) -> None:
    earlier = [{"role": "user", "content": "What does Georgia export to Russia?"}, {"role": "assistant", "content": "<div>A1</div>"}]
    box, messages, questions = chat_turn(seed_qa, "And what does it import?", earlier, ["What does Georgia export to Russia?"])
    assert box == ""
    assert messages[:2] == earlier
    assert messages[2] == {"role": "user", "content": format_question("And what does it import?")}
    reply = messages[3]
    assert reply["role"] == "assistant" and "<mark>" in reply["content"] and "natural gas" in reply["content"]
    assert questions == ["What does Georgia export to Russia?", "And what does it import?"]


def test_chat_turn_shows_why_a_question_cannot_be_asked(seed_qa) -> None:
    box, messages, questions = chat_turn(seed_qa, "x" * 3000, [], [])
    assert box == "x" * 3000  # kept, to be shortened
    assert "too long" in messages[-1]["content"] and messages[-1]["role"] == "assistant"
    assert questions == []


def test_chat_turn_ignores_an_empty_question(seed_qa) -> None:
    earlier = [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"}]
    with warnings.catch_warnings():  # outside a request, gr.Warning is a Python warning
        warnings.simplefilter("ignore")
        box, messages, questions = chat_turn(seed_qa, "  ", earlier, ["Q1"])
    assert (box, messages, questions) == ("  ", earlier, ["Q1"])


def test_chat_turn_reports_failures_without_crashing(seed_qa, monkeypatch) -> None:
    def disk_error(*args, **kwargs):
        raise OSError("disk read error")

    monkeypatch.setattr(seed_qa, "ask", disk_error)  # a fault injected into the real engine
    box, messages, questions = chat_turn(seed_qa, "Who?", [], [])
    assert messages[-1]["role"] == "assistant" and "went wrong" in messages[-1]["content"]
    assert "disk read error" not in messages[-1]["content"]
    assert questions == []


def test_app_builds_with_the_ask_endpoint(seed_qa) -> None:
    app = build_app(seed_qa)
    names = [fn.api_name for fn in app.fns.values()]
    assert "ask" in names


# ------------------------------------------------------------------ the served app
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"app.py exited with {process.returncode}:\n{log.read_text()}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    pytest.fail(f"app.py did not answer at {url} within {timeout} s:\n{log.read_text()}")


@pytest.mark.slow
def test_served_app_answers_over_the_api(tmp_path: Path) -> None:
    from gradio_client import Client

    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    port = free_port()
    log = tmp_path / "app.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port), "--corpus", str(corpus), "--index-dir", str(tmp_path / "index")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_up(url, process, log)
        client = Client(url, verbose=False)

        found = client.predict(TRADE, api_name="/ask")
        assert "$1.3 billion" in found["text"], found
        assert not found["abstained"]
        assert found["citations"], found
        first = found["citations"][0]
        assert first["quote"] and first["quote"] in first["passage"]

        missing = client.predict("What is the capital of France?", api_name="/ask")
        assert missing["abstained"], missing
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
