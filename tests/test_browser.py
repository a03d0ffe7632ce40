"""The web app in a real browser: `python app.py` in a subprocess, driven by Debian's Chromium
through Playwright. Asking, streaming, citation badges, sources with the quote highlighted, copying,
abstaining, uploading an article and asking about it at once, and articles that try to inject script.

Set QA_SCREENSHOT_DIR to keep the screenshot of an answer (docs/screenshot.png comes from it)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from running_app import serve

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = Path(os.environ.get("QA_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)

pytestmark = pytest.mark.slow

TRADE = "How large was bilateral trade between Georgia and Russia in the first half of 2025?"
TIMEOUT = 20_000  # ms, for anything that waits on the server

METRO = """Tbilisi approves metro expansion

The Tbilisi city council approved a 420 million lari extension of the metro's third line on Tuesday.
The extension adds six stations between Didube and the new Gldani depot and is due to open in 2029.
Construction will be financed by a loan from the Asian Development Bank, the mayor's office said.
"""

EVIL_TITLE = """Zorbland <script>window.__xss=1</script> <img src=x onerror="window.__xss=2"> report"""
EVIL_TXT = EVIL_TITLE + """

The Zorbland parliament elected Mira Quell as its speaker on Friday <script>window.__xss=1</script> after a long debate.
Observers said the vote <img src=x onerror="window.__xss=2"> was the closest in a decade.
"""
EVIL_MD = """---
title: Quell profile <img src=x onerror="window.__xss=5">
url: https://evil.example/"><img/src=x/onerror=window.__xss=3>
date: <script>window.__xss=6</script>
---
Mira Quell <svg onload="window.__xss=7"> grew up in the northern town of Varnholt and trained as a marine engineer.
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """`python app.py` on a copy of the default corpus; its url."""
    yield from (served.url for served in serve(tmp_path_factory.mktemp("browser")))


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(server: str, browser):
    """A fresh page of the app (1280×900) that records any dialog (alert, confirm) it opens."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.rstrip("/"))
    page = context.new_page()
    page.dialogs = []

    def on_dialog(dialog):
        page.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        yield opened(page, server)
    finally:
        context.close()


def opened(page, server: str):
    """`page` at the app, once the chat and the page script are ready."""
    page.set_default_timeout(TIMEOUT)
    page.goto(server)
    page.locator("#qa-question textarea").wait_for()
    page.wait_for_function("window.__qaUiInstalled === true")
    return page


def ask(page, question: str):
    """Type `question`, send it, and return the finished reply (it has a footer once complete)."""
    done = page.locator("#qa-chat .qa-foot, #qa-chat .qa-error").count()
    page.locator("#qa-question textarea").fill(question)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('#qa-chat .qa-foot, #qa-chat .qa-error').length > n", arg=done
    )
    replies = page.locator("#qa-chat .qa-answer")
    return replies.nth(replies.count() - 1)  # this reply, even after more are asked


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def upload(page, *paths: Path) -> None:
    open_tab(page, "Corpus")
    page.locator("#qa-upload input[type=file]").set_input_files([str(p) for p in paths])
    expect(page.locator("#qa-report")).to_contain_text(paths[-1].name)


# ------------------------------------------------------------------ chat
def test_answer_streams_with_badge_and_highlighted_source(page, tmp_path: Path) -> None:
    # Record every partial reply the page shows while the answer is composed.
    page.evaluate(
        """() => {
            window.__partials = new Set();
            new MutationObserver(() => {
                document.querySelectorAll('#qa-chat .qa-streaming').forEach(e => window.__partials.add(e.textContent));
            }).observe(document.body, {childList: true, subtree: true, characterData: true});
        }"""
    )
    reply = ask(page, TRADE)
    expect(reply.locator(".qa-text")).to_contain_text("$1.3 billion")
    badge = reply.locator("a.qa-ref").first
    expect(badge).to_have_text("1")
    source = reply.locator(".qa-src").first
    expect(source.locator("mark").first).to_contain_text("$1.3 billion")
    expect(source.locator(".qa-title")).to_contain_text("Georgia Sets Firm Stance")
    expect(source.locator(".qa-meta")).to_contain_text("georgia-russia-relations.txt")
    expect(source.locator(".qa-relevance")).to_be_visible()
    expect(reply.locator(".qa-conf")).to_contain_text("Confidence")
    expect(page.locator("#qa-chat [data-testid=user]").last).to_contain_text(TRADE)
    partials = page.evaluate("Array.from(window.__partials)")
    assert len(partials) >= 2, partials  # the text grew in steps before the sources arrived
    final = reply.locator(".qa-text").inner_text()
    assert min(len(p) for p in partials) < len(final)

    shots = Path(os.environ.get("QA_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "screenshot.png"))


def test_badge_jumps_to_its_source_and_copy_includes_sources(page) -> None:
    reply = ask(page, TRADE)
    follow = ask(page, "What does Georgia export to Russia?")  # the first reply scrolls away
    expect(follow.locator(".qa-text")).to_contain_text("wine")

    badge = reply.locator("a.qa-ref").first
    target = badge.get_attribute("href").lstrip("#")
    source = page.locator(f"[id='{target}']")
    badge.click()
    expect(source.locator("xpath=..")).to_have_class(re.compile(r"\bqa-focus\b"))  # its excerpt is highlighted
    expect(source.locator("xpath=..")).to_be_in_viewport()
    assert page.evaluate("document.activeElement && document.activeElement.id") == target
    assert reply.locator(".qa-anchor").first.get_attribute("id") == target  # the source of *that* answer

    reply.locator("button.qa-copy").click()
    expect(reply.locator("button.qa-copy")).to_have_text("Copied ✓")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(f"Q: {TRADE}")
    assert "$1.3 billion" in copied and "[1]" in copied
    assert "Sources:" in copied and "georgia-russia-relations.txt" in copied
    assert "<" not in copied  # plain text, no markup


def test_unanswerable_question_says_not_found(page) -> None:
    reply = ask(page, "What is the capital of France?")
    expect(reply.locator(".qa-not-found")).to_have_text("Not found in the articles.")
    expect(reply).to_contain_text("Related")
    assert reply.locator(".qa-related").count() >= 1
    assert reply.locator("a.qa-ref").count() == 0 and reply.locator("mark").count() == 0


def test_example_retry_and_clear(page) -> None:
    examples = page.locator("#qa-chat button.example")
    expect(examples).to_have_count(3)
    examples.first.click()  # made from the loaded article, and answered
    page.wait_for_function("document.querySelector('#qa-chat .qa-foot')")
    expect(page.locator("#qa-chat .qa-text")).to_be_visible()
    expect(page.locator("#qa-chat .qa-not-found")).to_have_count(0)

    page.evaluate("document.querySelector('#qa-chat .qa-foot').classList.add('qa-old')")
    page.locator("#qa-retry").click()  # asked again: the reply is replaced, not added
    page.wait_for_function("document.querySelector('#qa-chat .qa-foot') && !document.querySelector('#qa-chat .qa-foot.qa-old')")
    expect(page.locator("#qa-chat [data-testid=user]")).to_have_count(1)
    expect(page.locator("#qa-chat .qa-text")).to_be_visible()
    # Gradio's own retry and trash icons would duplicate "Ask again" and "Clear chat".
    assert page.locator("#qa-chat button[aria-label=Retry]:visible, #qa-chat button[aria-label=Clear]:visible").count() == 0

    page.locator("#qa-clear").click()
    expect(page.locator("#qa-chat [data-testid=user]")).to_have_count(0)
    expect(page.locator("#qa-chat button.example")).to_have_count(3)  # back to the empty chat


# ------------------------------------------------------------------ corpus
def test_uploaded_article_is_answerable_at_once(page, tmp_path: Path) -> None:
    article = tmp_path / "tbilisi-metro.txt"
    article.write_text(METRO, encoding="utf-8")
    upload(page, article)
    expect(page.locator("#qa-report")).to_contain_text("Added tbilisi-metro.txt")
    expect(page.locator("#qa-articles")).to_contain_text("Tbilisi approves metro expansion")
    expect(page.locator("#qa-corpus-status")).to_contain_text("2 articles")

    open_tab(page, "Chat")
    reply = ask(page, "How much will the extension of the Tbilisi metro's third line cost?")
    expect(reply.locator(".qa-text")).to_contain_text("420 million lari")
    expect(reply.locator(".qa-src .qa-title").first).to_have_text("Tbilisi approves metro expansion")


def test_refused_uploads_say_why(page, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n", encoding="utf-8")
    upload(page, empty)
    expect(page.locator("#qa-report")).to_contain_text("Not added: empty.txt")
    expect(page.locator("#qa-report")).to_contain_text("empty")

    other = tmp_path / "notes.docx"
    other.write_bytes(b"PK\x03\x04 not really a document")
    page.locator("#qa-upload input[type=file]").set_input_files(str(other))
    expect(page.get_by_text("Invalid file type").first).to_be_visible()
    expect(page.locator("#qa-articles")).not_to_contain_text("notes.docx")


def test_articles_cannot_run_script(page, tmp_path: Path) -> None:
    txt = tmp_path / "zorbland.txt"
    txt.write_text(EVIL_TXT, encoding="utf-8")
    md = tmp_path / "quell.md"
    md.write_text(EVIL_MD, encoding="utf-8")
    upload(page, txt, md)
    expect(page.locator("#qa-report")).to_contain_text("Added zorbland.txt")
    expect(page.locator("#qa-report")).to_contain_text("Added quell.md")
    expect(page.locator("#qa-articles")).to_contain_text("<script>window.__xss=1</script>")

    open_tab(page, "Chat")
    reply = ask(page, "Whom did the Zorbland parliament elect as its speaker?")
    expect(reply.locator(".qa-text")).to_contain_text("Mira Quell")
    expect(reply).to_contain_text("<script>window.__xss=1</script>")  # shown as text
    expect(reply).to_contain_text('<img src=x onerror="window.__xss=2">')
    profile = ask(page, "Where did Mira Quell grow up?")
    expect(profile).to_contain_text("Varnholt")
    ask(page, 'Is <img src=x onerror="window.__xss=8"> <script>window.__xss=9</script> in the news?')
    expect(page.locator("#qa-chat [data-testid=user]").last).to_contain_text("<script>window.__xss=9</script>")

    page.wait_for_timeout(500)  # give any injected handler the chance to run
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.dialogs == []
    assert page.locator("#qa-chat script, #qa-chat img[src=x], #qa-chat svg[onload], #qa-articles script").count() == 0
    for href in page.locator("#qa-chat a[href]").evaluate_all("links => links.map(a => a.getAttribute('href'))"):
        assert href.startswith(("#", "http://", "https://")), href


def test_remove_an_article_by_clicking_its_row(page) -> None:
    open_tab(page, "Corpus")
    page.locator("#qa-articles").get_by_text("Tbilisi approves metro expansion").click()  # uploaded above
    expect(page.locator("#qa-remove-choice input")).to_have_value("Tbilisi approves metro expansion — tbilisi-metro.txt")
    page.locator("#qa-remove").click()  # asks first
    expect(page.locator("#qa-confirm-text")).to_contain_text("Remove “Tbilisi approves metro expansion” from the index?")
    expect(page.locator("#qa-articles")).to_contain_text("Tbilisi approves metro expansion")
    page.locator("#qa-remove-yes").click()
    expect(page.locator("#qa-report")).to_contain_text("Removed “Tbilisi approves metro expansion”")
    expect(page.locator("#qa-articles")).not_to_contain_text("Tbilisi approves metro expansion")
    expect(page.locator("#qa-removed")).to_contain_text("tbilisi-metro.txt")  # still in the folder, and shown

    open_tab(page, "Chat")
    reply = ask(page, "How much will the extension of the Tbilisi metro's third line cost?")
    expect(reply).not_to_contain_text("420 million lari")


# ------------------------------------------------------------------ issue 13: at desktop and phone widths
WIDTHS = [1280, 390]


@pytest.fixture(params=WIDTHS, ids=["desktop", "phone"])
def sized(request, server: str, browser):
    context = browser.new_context(viewport={"width": request.param, "height": 860})
    try:
        yield opened(context.new_page(), server)
    finally:
        context.close()


QUESTIONS = ["Who is the prime minister of Georgia?", "What does Georgia export to Russia?", TRADE]
EXPECTED = ["Kobakhidze", "wine", "$1.3 billion"]


def test_questions_typed_while_answering_are_all_answered_in_order(sized) -> None:
    box = sized.locator("#qa-question textarea")
    box.fill(QUESTIONS[0])
    sized.keyboard.press("Enter")
    sized.wait_for_selector("#qa-chat .qa-streaming, #qa-chat .qa-thinking")  # while it is answered ...
    box.fill(QUESTIONS[1])
    sized.keyboard.press("Enter")
    expect(box).to_have_value("")  # taken at once, although the first answer is still running
    box.type(QUESTIONS[2][:20])  # ... typing is not wiped by the streamed answer
    sized.wait_for_timeout(300)
    expect(box).to_have_value(QUESTIONS[2][:20])
    box.fill(QUESTIONS[2])
    sized.keyboard.press("Enter")
    sized.wait_for_function("document.querySelectorAll('#qa-chat .qa-foot').length >= 3")
    expect(sized.locator("#qa-chat [data-testid=user]")).to_have_count(3)
    assert sized.locator("#qa-chat [data-testid=user]").all_inner_texts() == QUESTIONS
    texts = sized.locator("#qa-chat .qa-text").all_inner_texts()
    for text, expected in zip(texts, EXPECTED):
        assert expected in text
    expect(box).to_have_value("")
    # Typed in the instant an answer finishes: still sent.
    box.fill("And what does it import?")
    sized.keyboard.press("Enter")
    sized.wait_for_function("document.querySelectorAll('#qa-chat .qa-foot').length >= 4")
    assert "natural gas" in sized.locator("#qa-chat .qa-text").last.inner_text()


def test_labels_are_plain_text_and_line_breaks_kept(sized) -> None:
    reply = ask(sized, "Who is the prime minister of Georgia?")
    expect(reply.locator(".qa-text")).to_contain_text("Kobakhidze")
    sized.wait_for_timeout(300)
    labels = sized.locator("#qa-chat [data-testid=bot], #qa-chat [data-testid=user]").evaluate_all(
        "els => els.map(e => e.getAttribute('aria-label') || '')"
    )
    assert labels and all("<" not in label and "class=" not in label for label in labels), labels
    assert any(label.startswith("Answer: Irakli Kobakhidze — Georgia will not resume") for label in labels)  # short answer first
    reply.locator("details.qa-whole summary").first.click()
    paragraphs = reply.locator(".qa-article-text p").all_inner_texts()
    assert paragraphs[0].startswith("Georgia Sets Firm Stance") and paragraphs[0].endswith("Reversal")  # the title alone
    assert paragraphs[1].startswith("Georgia will not resume") and "Wednesday." in paragraphs[1] and "Tbilisi" not in paragraphs[1]
    assert paragraphs[2].startswith("Tbilisi cut its ties")


def test_nothing_overflows_or_stacks_and_one_font_per_heading(sized) -> None:
    ask(sized, TRADE)
    width = sized.viewport_size["width"]
    assert sized.evaluate("document.documentElement.scrollWidth") <= width
    hint = sized.locator(".block.qa-hint").bounding_box()
    assert hint["height"] < 60 and hint["width"] > width * 0.6  # not one word per line
    for button in ("#qa-retry", "#qa-clear", "#qa-export"):
        box = sized.locator(button).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width and box["height"] < 50
    cdp = sized.context.new_cdp_session(sized)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    for selector in (".qa-header h1", "#qa-chat .qa-title", "#qa-ask"):
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        assert len({f["familyName"] for f in fonts}) == 1, (selector, fonts)
    shots = Path(os.environ.get("QA_SCREENSHOT_DIR") or "/tmp")
    sized.screenshot(path=str(shots / f"chat-{width}.png"), full_page=True)


def test_features_follow_ups_feedback_export_scope_search(page, server: str) -> None:
    reply = ask(page, "What does Georgia export to Russia?")
    options = page.locator("#qa-chat .option")
    expect(options.first).to_be_visible()
    suggestion = options.first.inner_text()
    options.first.click()  # a suggested follow-up is asked and answered
    page.wait_for_function("document.querySelectorAll('#qa-chat .qa-foot').length >= 2")
    assert suggestion.strip() in page.locator("#qa-chat [data-testid=user]").last.inner_text()
    expect(page.locator("#qa-chat .qa-not-found")).to_have_count(0)

    page.locator("#qa-chat [data-testid=bot]").first.hover()
    page.locator("#qa-chat button[aria-label=Like]").first.click()  # kept by the engine beside the index
    expect(page.get_by_text("your feedback is kept").first).to_be_visible()

    with page.expect_download() as download:
        page.locator("#qa-export").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "## 1. What does Georgia export to Russia?" in text and "Sources:" in text and "wine" in text

    page.locator("#qa-scope-box").get_by_text("Ask within chosen articles").click()
    page.locator("#qa-scope input").click()
    page.get_by_role("option").first.click()
    page.keyboard.press("Escape")
    restricted = ask(page, "What is the capital of France?")
    expect(restricted.locator(".qa-not-found")).to_be_visible()

    open_tab(page, "Corpus")
    page.locator("#qa-search textarea, #qa-search input").first.fill("natural gas imports")
    page.keyboard.press("Enter")
    expect(page.locator("#qa-search-results")).to_contain_text("Georgia Sets Firm Stance")
