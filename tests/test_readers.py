"""Tests for qa.readers: every format from real sample files, and bad files skipped, not fatal."""
from __future__ import annotations

import json
import logging
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.readers import SUPPORTED_EXTENSIONS, content_hash, join_pages, markdown_to_text, read_file, read_folder
from qa.types import Article, SkippedFile

from fpdf import FPDF
from samples import NEWS_HTML, PDF_SENTENCES, SOLAR_MD, write_pdf


def only(result: tuple[list[Article], list[SkippedFile]]) -> Article:
    articles, skipped = result
    assert skipped == []
    assert len(articles) == 1
    return articles[0]


# ------------------------------------------------------------------ plain text


def test_txt_title_and_text(tmp_path: Path) -> None:
    path = tmp_path / "notes" / "harvest.txt"
    path.parent.mkdir()
    path.write_bytes(b"\n\n  Harvest Report  \r\nApples were plentiful.\r\nPears were not.\n\n")
    article = only(read_file(path, tmp_path))
    assert article.title == "Harvest Report"
    assert article.text == "Harvest Report  \nApples were plentiful.\nPears were not."
    assert article.path == "notes/harvest.txt"
    assert article.source == "notes/harvest.txt"
    assert article.page_at(0) is None


def test_latin1_and_utf16_decoded(tmp_path: Path) -> None:
    (tmp_path / "latin.txt").write_bytes("Le café était fermé ce matin.".encode("latin-1"))
    (tmp_path / "short.txt").write_bytes("café".encode("latin-1"))
    (tmp_path / "wide.txt").write_bytes("Naïve résumé in UTF-16.\r\nSecond line.".encode("utf-16"))
    (tmp_path / "bom.txt").write_bytes("\ufeffBOM title\nbody".encode("utf-8"))
    assert only(read_file(tmp_path / "latin.txt", tmp_path)).text == "Le café était fermé ce matin."
    assert only(read_file(tmp_path / "short.txt", tmp_path)).text == "café"
    assert only(read_file(tmp_path / "wide.txt", tmp_path)).text == "Naïve résumé in UTF-16.\nSecond line."
    assert only(read_file(tmp_path / "bom.txt", tmp_path)).title == "BOM title"


# ------------------------------------------------------------------ markdown


def test_markdown_with_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "post.md"
    path.write_text(
        "---\n"
        "title: Solar Panels on Every Roof\n"
        "date: 2024-02-29\n"
        "author: [Ana Silva, Tom Berg]\n"
        "url: https://blog.example.org/solar\n"
        "---\n"
        "# A different heading\n\nThe town installed 300 solar panels.\n",
        encoding="utf-8",
    )
    article = only(read_file(path, tmp_path))
    assert article.title == "Solar Panels on Every Roof"
    assert article.date == "2024-02-29"
    assert article.author == "Ana Silva, Tom Berg"
    assert article.url == article.source == "https://blog.example.org/solar"
    assert article.text == "A different heading\n\nThe town installed 300 solar panels."
    assert "title:" not in article.text


def test_markdown_without_front_matter_uses_heading(tmp_path: Path) -> None:
    path = tmp_path / "guide.markdown"
    path.write_text("Intro line without hash\n\n## Composting Basics ##\n\nMix greens and browns.\n", encoding="utf-8")
    article = only(read_file(path, tmp_path))
    assert article.title == "Composting Basics"
    assert article.date is None and article.url is None
    assert article.source == "guide.markdown"


def test_markdown_datetime_and_non_url_source(tmp_path: Path) -> None:
    path = tmp_path / "dt.md"
    path.write_text("---\ndate: 2023-05-01 10:30:00\nsource: Local Gazette\n---\nPlain first line.\n", encoding="utf-8")
    article = only(read_file(path, tmp_path))
    assert article.date == "2023-05-01T10:30:00"
    assert article.title == "Plain first line."
    assert article.source == "dt.md" and article.url is None


def test_markdown_is_read_as_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "solar.md"
    path.write_text(SOLAR_MD, encoding="utf-8")
    article = only(read_file(path, tmp_path))
    assert article.title == "Ashby solar cooperative goes live"
    assert article.date == "2025-06-02" and article.author == "Lena Ashby"
    assert article.text == (
        "Ashby solar cooperative goes live\n\n"
        "The Ashby solar cooperative switched on its first array on Monday, powering\n"
        "the village hall and 140 homes.\n\n"
        "What was built\n\n"
        "300 panels on the old mill roof\n\n"
        "A battery bank of 12 units\n\n"
        "installed by Northfield Electrical\n\n"
        "Members paid £250 each.\n\n"
        "A grant covered the rest.\n\n"
        "Year | Output\n"
        "2025 | 1.2 GWh\n\n"
        "\"It is the village's first biggest project since the bridge,\" said chair Tom Reyes.\n\n"
        "Panels on the mill roof\n\n"
        "output_kwh = 1200000"
    )
    for mark in ("#", "*", "__", "_mill_", "`", "[", "](", "---", "~~", ">", "!"):
        assert mark not in article.text


def test_markdown_setext_heading_html_and_escapes(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text(
        "Harbour notes\n=============\n\n<div class=\"box\">Tide at <b>6:40</b><script>x()</script></div>\n\n"
        "Prices rose 5\\*2 &amp; fell<br>later.  \nNext line.\n",
        encoding="utf-8",
    )
    article = only(read_file(path, tmp_path))
    assert article.title == "Harbour notes"
    assert article.text == "Harbour notes\n\nTide at 6:40\n\nPrices rose 5*2 & fell\nlater.\nNext line."


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéßж", min_size=1, max_size=8)
lines = st.lists(words, min_size=1, max_size=6).map(" ".join)
paragraphs = st.lists(st.lists(lines, min_size=1, max_size=3).map("\n".join), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(paragraphs)
def test_markdown_plain_prose_reads_unchanged(paras: list[str]) -> None:
    """Prose without Markdown syntax comes out as it went in: lines and paragraph breaks kept."""
    text = "\n\n".join(paras)
    assert markdown_to_text(text).text == text


# ------------------------------------------------------------------ HTML


def test_news_html_keeps_article_drops_boilerplate(tmp_path: Path) -> None:
    path = tmp_path / "news" / "bridge.html"
    path.parent.mkdir()
    path.write_text(NEWS_HTML, encoding="utf-8")
    article = only(read_file(path, tmp_path))
    for sentence in (
        "voted seven to two on Tuesday evening",
        "estimated to cost 42 million dollars",
        "Janet Okafor said the project would cut commuting times",
        "final design is due to be presented to the council in the autumn",
    ):
        assert sentence in " ".join(article.text.split())
    for junk in ("World Affairs Section", "Politics Menu Link", "SCRIPTMARKER", "STYLEMARKER",
                 "WidgetMart", "font-family", "Subscribe Now", "Footer contact"):
        assert junk not in article.text
    assert article.title == "City Council Approves New River Bridge"
    assert article.url == article.source == "https://news.example.com/2024/03/05/river-bridge"
    assert article.author == "Maria Gonzalez"
    assert article.date == "2024-03-05"
    assert article.path == "news/bridge.html"


def test_html_without_content_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "empty.htm"
    path.write_text("<html><head><script>var x = 1;</script></head><body><nav></nav></body></html>", encoding="utf-8")
    articles, skipped = read_file(path, tmp_path)
    assert articles == []
    assert skipped == [SkippedFile("empty.htm", "no article text found in HTML")]


# ------------------------------------------------------------------ PDF


def test_pdf_pages_and_offsets(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    write_pdf(path, PDF_SENTENCES, title="Fruit Report", author="Ann Lee")
    article = only(read_file(path, tmp_path))
    assert article.title == "Fruit Report"
    assert article.author == "Ann Lee"
    assert article.date is not None and len(article.date) == 10  # ISO date from creation date
    assert len(article.page_starts) == 3
    for page, sentence in enumerate(PDF_SENTENCES, start=1):
        offset = article.text.index(sentence)
        assert article.page_at(offset) == page
        assert article.page_at(offset + len(sentence) - 1) == page
        assert article.text[article.page_starts[page - 1]:].startswith(sentence)


def test_pdf_title_falls_back_to_first_line(tmp_path: Path) -> None:
    path = tmp_path / "untitled.pdf"
    write_pdf(path, ("Only page text.",))
    assert only(read_file(path, tmp_path)).title == "Only page text."


def test_pdf_with_empty_page_keeps_page_numbers(tmp_path: Path) -> None:
    path = tmp_path / "gap.pdf"
    write_pdf(path, ("Page one words.", "", "Page three words."))
    article = only(read_file(path, tmp_path))
    assert article.text == "Page one words.\n\nPage three words."
    assert article.page_at(article.text.index("Page three")) == 3
    assert article.page_at(0) == 1


def test_join_pages_offsets() -> None:
    text, starts = join_pages(["", "ab", "", "cd", ""])
    assert text == "ab\n\ncd"
    assert starts == (0, 0, 4, 4, 8)
    assert text[starts[1]:starts[1] + 2] == "ab" and text[starts[3]:] == "cd"


def test_bad_pdfs_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "corrupt.pdf").write_bytes(random.Random(7).randbytes(3000))
    write_pdf(tmp_path / "scanned.pdf", ("",))
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 10, "Top secret.")
    pdf.set_encryption(owner_password="owner", user_password="user")
    pdf.output(str(tmp_path / "locked.pdf"))
    reasons = {s.path: s.reason for s in read_folder(tmp_path)[1]}
    assert reasons["corrupt.pdf"].startswith("corrupt PDF")
    assert reasons["scanned.pdf"] == "PDF has no text layer (scanned?)"
    assert reasons["locked.pdf"] == "encrypted PDF"


# ------------------------------------------------------------------ JSON feeds


def test_jsonl_good_broken_and_textless_records(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "a1", "title": "Wind Farm Opens", "text": "The wind farm opened.", "url": "https://e.com/wind",
                    "published": "2024-01-02", "author": ["Kim", "Lee"]}),
        json.dumps({"content": "Rain is expected all week.\nBring umbrellas.", "author": "Weather Desk"}),
        '{"title": "broken", "text": ',
        json.dumps({"title": "No body", "text": "  ", "body": ""}),
        "",
    ]
    (tmp_path / "feed.jsonl").write_text("\n".join(lines), encoding="utf-8")
    articles, skipped = read_file(tmp_path / "feed.jsonl", tmp_path)
    assert [a.title for a in articles] == ["Wind Farm Opens", "Rain is expected all week."]
    first, second = articles
    assert first.url == first.source == "https://e.com/wind"
    assert first.date == "2024-01-02" and first.author == "Kim, Lee"
    assert second.source == "feed.jsonl#2" and second.author == "Weather Desk"
    assert {a.path for a in articles} == {"feed.jsonl"}
    assert [s.path for s in skipped] == ["feed.jsonl:3", "feed.jsonl:4"]
    assert skipped[0].reason.startswith("invalid JSON")
    assert skipped[1].reason == "record has no text"


def test_json_list_and_articles_object(tmp_path: Path) -> None:
    (tmp_path / "list.json").write_text(json.dumps([
        {"title": "One", "body": "First body."},
        {"title": "Two", "text": "Second body.", "link": "https://e.com/two", "date": "2024-06-01"},
    ]), encoding="utf-8")
    (tmp_path / "wrapped.json").write_text(json.dumps({"articles": [{"id": 9, "text": "Wrapped body."}]}), encoding="utf-8")
    (tmp_path / "single.json").write_text(json.dumps({"title": "Solo", "content": "Solo body."}), encoding="utf-8")
    articles, skipped = read_folder(tmp_path)
    assert skipped == []
    by_title = {a.title: a for a in articles}
    assert set(by_title) == {"One", "Two", "Wrapped body.", "Solo"}
    assert by_title["Two"].url == "https://e.com/two" and by_title["Two"].date == "2024-06-01"
    assert by_title["One"].source == "list.json#1"


def test_invalid_json_file_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('[\n{"text": "ok"},\n{"text": }\n]', encoding="utf-8")
    assert read_file(tmp_path / "broken.json", tmp_path)[1][0].reason.startswith("invalid JSON on line 3")


# ------------------------------------------------------------------ folder behaviour


def test_bad_files_skipped_good_files_read(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "good.txt").write_text("Good title\nGood body.", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("   \n\n", encoding="utf-8")
    (tmp_path / "zero.txt").write_bytes(b"")
    (tmp_path / "binary.txt").write_bytes(b"abc\x00\x01\x02def" * 10)
    (tmp_path / "random.pdf").write_bytes(random.Random(1).randbytes(2048))
    (tmp_path / "letter.docx").write_bytes(b"PK\x03\x04 not really a docx")
    (tmp_path / "README").write_text("no extension", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="qa.readers"):
        articles, skipped = read_folder(tmp_path)
    assert [a.path for a in articles] == ["good.txt"]
    reasons = {s.path: s.reason for s in skipped}
    assert reasons["empty.txt"] == "empty file"
    assert reasons["zero.txt"] == "empty file"
    assert reasons["binary.txt"] == "binary content"
    assert reasons["random.pdf"].startswith("corrupt PDF")
    assert reasons["letter.docx"] == "unsupported file type '.docx'"
    assert "README" in reasons
    assert "Skipped binary.txt: binary content" in caplog.text
    assert "Read 1 articles from 7 files (6 skipped)" in caplog.text


def test_duplicates_kept_once(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Same story.\nSame words.", encoding="utf-8")
    (tmp_path / "b.md").write_text("\n  Same story.\nSame words.  \n", encoding="utf-8")
    (tmp_path / "c.jsonl").write_text(json.dumps({"text": "Same story.\nSame words."}) + "\n", encoding="utf-8")
    articles, skipped = read_folder(tmp_path)
    assert [a.path for a in articles] == ["a.txt"]
    assert skipped == [SkippedFile("b.md", "duplicate of a.txt"), SkippedFile("c.jsonl:1", "duplicate of a.txt")]


def test_hidden_files_and_folders_ignored(tmp_path: Path) -> None:
    (tmp_path / ".secret.txt").write_text("Hidden text.", encoding="utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "notes.txt").write_text("Git text.", encoding="utf-8")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x01")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "visible.txt").write_text("Visible text.", encoding="utf-8")
    articles, skipped = read_folder(tmp_path)
    assert [a.path for a in articles] == ["sub/visible.txt"]
    assert skipped == []


def test_ids_stable_and_distinct(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "one.txt").write_text("First text.", encoding="utf-8")
    (tmp_path / "two.md").write_text("# Second\ntext", encoding="utf-8")
    (tmp_path / "feed.jsonl").write_text(
        "\n".join(json.dumps(r) for r in [{"id": "k", "text": "A"}, {"text": "B"}, {"id": "k", "text": "C"}]),
        encoding="utf-8",
    )
    first, _ = read_folder(tmp_path)
    second, _ = read_folder(tmp_path)
    assert [a.id for a in first] == [a.id for a in second]
    assert len({a.id for a in first}) == len(first) == 5
    assert all(len(a.id) == 12 for a in first)
    assert [a.path for a in first] == ["feed.jsonl"] * 3 + ["two.md", "x/one.txt"]  # sorted path order
    assert [content_hash(a) for a in first] == [content_hash(a) for a in second]


def test_content_hash_tracks_content_not_identity() -> None:
    base = Article(id="1", title="T", text="Body", source="a.txt", path="a.txt", page_starts=(0,))
    moved = Article(id="2", title="T", text="Body", source="a.txt", path="b/a.txt", page_starts=(0,))
    edited = Article(id="1", title="T", text="Body!", source="a.txt", path="a.txt", page_starts=(0,))
    assert content_hash(base) == content_hash(moved)
    assert content_hash(base) != content_hash(edited)
    assert len(content_hash(base)) == 64


def test_supported_extensions() -> None:
    assert SUPPORTED_EXTENSIONS == {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".json", ".jsonl"}


def test_missing_root_raises(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        read_folder(tmp_path / "nope")


# ------------------------------------------------------------------ property


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_txt_never_raises_and_normalises(content: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        path = root / "doc.txt"
        path.write_bytes(content.encode("utf-8"))
        articles, skipped = read_file(path, root)
    assert len(articles) + len(skipped) == 1
    expected = content.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").strip()
    if articles:
        article = articles[0]
        assert article.text == expected
        assert article.title and article.title.rstrip("…") in article.text
    else:
        assert skipped[0].path == "doc.txt"
        assert "\x00" in content or not expected


unicode_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=unicode_text, kind=st.sampled_from([".md", ".html", ".jsonl", ".json", ".txt"]))
def test_no_reader_throws_on_arbitrary_unicode(tmp_path: Path, text: str, kind: str) -> None:
    path = tmp_path / f"sample{kind}"
    if kind == ".jsonl":
        path.write_text(json.dumps({"title": text[:20], "text": text}) + "\n" + text + "\n", encoding="utf-8")
    elif kind == ".html":
        path.write_text(f"<html><head><title>{text[:30]}</title></head><body><article><p>{text}</p></article></body></html>", encoding="utf-8")
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    articles, skipped = read_file(path, tmp_path)
    assert articles or skipped
    for article in articles:
        assert article.text.strip() and article.title is not None and "\r" not in article.text
