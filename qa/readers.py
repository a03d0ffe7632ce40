"""Reading articles: turn a folder of mixed files into plain-text `Article`s.

Everything downstream (passages, retrieval, citations) works on plain text and
character offsets, so this module is the one place that knows about file formats,
text encodings and broken inputs. A corpus is whatever people dropped into a folder,
so one bad file must never stop the rest from loading: every failure becomes a
`SkippedFile` with a short reason a person can act on, and is logged.

Markup is read, not indexed: an article's text is what answers quote and citations point
into, so Markdown is parsed (markdown-it-py, CommonMark) into plain text and HTML reduced to
its main text; no '#', '**' or link syntax reaches an answer or a source.

Ids are derived from the file's path inside the corpus (plus the record key for
JSON feeds), so they are stable across runs and machines.
"""
from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import io
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Collection, Any

from qa.types import Article, SkippedFile

logger = logging.getLogger(__name__)

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(
    {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".json", ".jsonl"}
)

TITLE_MAX_CHARS = 120
# A bigger file is almost always a dump or a mistake: embedding it would take hours on a CPU.
MAX_FILE_BYTES = 20_000_000
REASON_MAX_CHARS = 200
# Text decoded as Windows-1252 is accepted when at most this share of its letters is non-ASCII
# (French or German stay far below; Cyrillic or Greek misread as Windows-1252 are near 1.0).
_MAX_NON_ASCII_LETTERS = 0.75
# Keys under which a .json object may hold its list of records.
_RECORD_LIST_KEYS = ("articles", "items", "data", "records")
_TEXT_KEYS = ("text", "content", "body")
_URL_KEYS = ("url", "link")
_DATE_KEYS = ("date", "published", "published_at")
# Longest BOMs first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class Unreadable(Exception):
    """A file (or record) cannot become an article; the message is the human reason."""


@dataclass(frozen=True)
class _Located:
    """An article plus where it came from ("feed.jsonl:3" for a record), for skip reports."""

    location: str
    article: Article


# --------------------------------------------------------------------------- public API


def read_folder(root: Path, prefer: Collection[str] = (), max_bytes: int = MAX_FILE_BYTES) -> tuple[list[Article], list[SkippedFile]]:
    """Read every supported file under `root` (recursively, sorted, hidden entries ignored).

    Never raises for a bad file: problems come back as `SkippedFile`s. Articles whose text
    repeats another are kept once (see `drop_duplicates`; ids in `prefer` win, e.g. those
    already indexed). Files over `max_bytes` are skipped.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    located: list[_Located] = []
    skipped: list[SkippedFile] = []
    files = list(_visible_files(root))
    for path in files:
        items, skips = _read_located(path, root, max_bytes)
        located.extend(items)
        skipped.extend(skips)
    articles, duplicates = _drop_duplicates(located, prefer)
    skipped.extend(duplicates)
    logger.info("Read %d articles from %d files (%d skipped)", len(articles), len(files), len(skipped))
    return articles, skipped


def drop_duplicates(articles: list[Article], prefer: Collection[str] = ()) -> tuple[list[Article], list[SkippedFile]]:
    """Keep one article per text: a preferred id if the group has one, else the first."""
    return _drop_duplicates([_Located(a.path, a) for a in articles], prefer)


def _drop_duplicates(located: list[_Located], prefer: Collection[str]) -> tuple[list[Article], list[SkippedFile]]:
    keeper: dict[str, _Located] = {}
    for item in located:
        key = item.article.text.strip()
        if key not in keeper or (item.article.id in prefer and keeper[key].article.id not in prefer):
            keeper[key] = item
    articles, skipped = [], []
    for item in located:
        kept = keeper[item.article.text.strip()]
        if kept is item:
            articles.append(item.article)
        else:
            skipped.append(_skip(item.location, f"duplicate of {kept.location}"))
    return articles, skipped


def read_file(path: Path, root: Path, max_bytes: int = MAX_FILE_BYTES) -> tuple[list[Article], list[SkippedFile]]:
    """Read one file (a feed may hold many articles); never raises for bad content."""
    located, skipped = _read_located(Path(path), Path(root), max_bytes)
    return [item.article for item in located], skipped


def content_hash(article: Article) -> str:
    """SHA-256 over everything an article says (not its id or path), to detect changes."""
    payload = {
        "title": article.title,
        "text": article.text,
        "date": article.date,
        "author": article.author,
        "url": article.url,
        "source": article.source,
        "page_starts": list(article.page_starts),
    }
    encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def article_id(key: str) -> str:
    """Stable short id for a relative path or "path#record" key."""
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]


# --------------------------------------------------------------------------- scanning


def _visible_files(root: Path) -> Iterator[Path]:
    """Regular files under `root` in sorted relative-path order, hidden ones left out."""
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [name for name in dirnames if not name.startswith(".")]
        for name in filenames:
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if path.is_file():
                found.append((_relative(path, root), path))
    for _, path in sorted(found):
        yield path


def _relative(path: Path, root: Path) -> str:
    """POSIX path of `path` inside `root` (just the name if it lies elsewhere)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _skip(location: str, reason: str) -> SkippedFile:
    reason = _shorten(reason, REASON_MAX_CHARS)
    logger.warning("Skipped %s: %s", location, reason)
    return SkippedFile(location, reason)


def _read_located(path: Path, root: Path, max_bytes: int = MAX_FILE_BYTES) -> tuple[list[_Located], list[SkippedFile]]:
    """Dispatch on extension; turn every failure into a SkippedFile."""
    relpath = _relative(path, root)
    extension = path.suffix.lower()
    reader = _READERS.get(extension)
    if reader is None:
        kind = f"'{extension}'" if extension else "(no extension)"
        return [], [_skip(relpath, f"unsupported file type {kind}")]
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return [], [_skip(relpath, f"too large ({size / 1e6:.0f} MB; the limit is {max_bytes / 1e6:.0f} MB a file)")]
        located, skipped = reader(path, relpath)
    except Unreadable as error:
        return [], [_skip(relpath, str(error))]
    except OSError as error:
        return [], [_skip(relpath, f"cannot read file: {error.strerror or error}")]
    except RecursionError:
        return [], [_skip(relpath, "too deeply nested to read")]
    except Exception as error:  # noqa: BLE001 - one bad file must not stop the corpus
        logger.debug("Unexpected error reading %s", relpath, exc_info=True)
        return [], [_skip(relpath, f"unexpected error: {type(error).__name__}: {error}")]
    kept = []
    for item in located:
        article = _valid_unicode(item.article)
        try:
            content_hash(article)  # everything downstream encodes the article as UTF-8
        except Exception as error:  # noqa: BLE001 - skipped, never a build that cannot start
            skipped.append(_skip(item.location, f"cannot be encoded as text: {type(error).__name__}"))
            continue
        kept.append(_Located(item.location, article))
    return kept, skipped


# Unpaired UTF-16 surrogates: JSON escapes such as "\\ud800", or YAML's, decode to them, and no
# UTF-8 encoder (hashing, the tokenizer, saving) accepts them.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _valid_unicode(article: Article) -> Article:
    """The article with each unpaired surrogate replaced by U+FFFD (one character for one, so
    offsets do not move)."""
    changes = {}
    for key, value in vars(article).items():
        if isinstance(value, str) and _SURROGATE.search(value):
            changes[key] = _SURROGATE.sub("\ufffd", value)
    return replace(article, **changes) if changes else article


# --------------------------------------------------------------------------- text helpers


def decode_text(data: bytes) -> str:
    """Bytes to text with "\\n" newlines; raises Unreadable for empty or binary content."""
    if not data:
        raise Unreadable("empty file")
    text = _decode(data)
    if "\x00" in text:
        raise Unreadable("binary content")
    text = normalise_newlines(text)
    if not text.strip():
        raise Unreadable("empty file")
    return text


def _decode(data: bytes) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(encoding)
            except UnicodeDecodeError as error:
                raise Unreadable(f"not valid {encoding.upper()} despite its byte order mark") from error
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if b"\x00" in data:
        raise Unreadable("binary content")
    return _guess_encoding(data)


def _guess_encoding(data: bytes) -> str:
    """Decode non-UTF-8 bytes: Windows-1252 when the result reads as Latin script, else a guess.

    Legacy files in a corpus are most often Windows-1252/Latin-1, and charset_normalizer
    alone tends to pick an exotic code page for short Western text ("café" as mac_latin2).
    """
    try:
        western = data.decode("cp1252")
    except UnicodeDecodeError:
        western = None
    if western is not None and _reads_as_latin(western):
        return western
    import charset_normalizer

    matches = [m for m in charset_normalizer.from_bytes(data) if not m.encoding.startswith("utf_")]
    if not matches:
        raise Unreadable("not valid UTF-8 or known encoding")
    best = min(matches, key=lambda m: m.percent_chaos)
    logger.debug("Guessed encoding %s", best.encoding)
    return str(best)


def _reads_as_latin(text: str) -> bool:
    """No control characters, and most letters are ASCII (true of any Latin-script language)."""
    if any(ord(c) < 32 and c not in "\t\n\r\f" for c in text):
        return False
    letters = [c for c in text if c.isalpha()]
    non_ascii = sum(1 for c in letters if not c.isascii())
    return non_ascii <= _MAX_NON_ASCII_LETTERS * len(letters)


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def first_line(text: str, limit: int = TITLE_MAX_CHARS) -> str:
    """First non-empty line of `text`, stripped and shortened to about `limit` characters."""
    for line in text.split("\n"):
        if line.strip():
            return _shorten(line.strip(), limit)
    return ""


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip()
    return (cut or text[:limit]) + "…"


def _is_url(value: str | None) -> bool:
    return bool(value) and value.lower().startswith(("http://", "https://"))  # type: ignore[union-attr]


def _clean_string(value: Any) -> str | None:
    """A non-empty stripped string, or None (numbers are converted, other types ignored)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        value = str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _date_string(value: Any) -> str | None:
    """ISO form of a date/datetime; other values as a non-empty string."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return _clean_string(value)


def _author_string(value: Any) -> str | None:
    """An author name, or a list of names joined by ", "."""
    if isinstance(value, (list, tuple)):
        names = [name for name in (_clean_string(item) for item in value) if name]
        return ", ".join(names) or None
    return _clean_string(value)


def _first_value(record: dict[str, Any], keys: tuple[str, ...], convert: Callable[[Any], str | None]) -> str | None:
    for key in keys:
        value = convert(record.get(key))
        if value:
            return value
    return None


# --------------------------------------------------------------------------- plain text


def _read_txt(path: Path, relpath: str) -> tuple[list[_Located], list[SkippedFile]]:
    text = decode_text(path.read_bytes()).strip()
    article = Article(id=article_id(relpath), title=first_line(text), text=text, source=relpath, path=relpath)
    return [_Located(relpath, article)], []


# --------------------------------------------------------------------------- markdown


def _read_markdown(path: Path, relpath: str) -> tuple[list[_Located], list[SkippedFile]]:
    import frontmatter

    raw = decode_text(path.read_bytes())
    try:
        post = frontmatter.loads(raw)
    except Exception as error:  # yaml errors have several types
        raise Unreadable(f"invalid front matter: {_one_line(error)}") from error
    meta = post.metadata if isinstance(post.metadata, dict) else {}
    document = markdown_to_text(post.content)
    text = document.text
    if not text:
        raise Unreadable("no text after front matter")
    url = _first_value(meta, ("url", "source"), _clean_string)
    url = url if _is_url(url) else None
    heading = _shorten(document.heading, TITLE_MAX_CHARS) if document.heading else None
    title = _clean_string(meta.get("title")) or heading or first_line(text)
    article = Article(
        id=article_id(relpath),
        title=title,
        text=text,
        source=url or relpath,
        path=relpath,
        date=_date_string(meta.get("date")),
        author=_author_string(meta.get("author")),
        url=url,
    )
    return [_Located(relpath, article)], []


@dataclass(frozen=True)
class MarkdownText:
    """A Markdown document read as plain text, and the text of its first heading (if any)."""

    text: str
    heading: str | None


def markdown_to_text(source: str) -> MarkdownText:
    """Plain text of a Markdown document, parsed as CommonMark (+ tables, strikethrough).

    Headings lose their '#', emphasis and strikethrough their marks, links and images become
    their text, inline code its backticks; code blocks are kept verbatim, HTML blocks as their
    text. Every heading, paragraph, list item, code block and table is its own paragraph (a blank
    line between): paragraphs are where sentences end downstream, and the sentence splitter does
    not end one at a line break, so list items on lines of one paragraph would be quoted as one
    run-on sentence. List markers are dropped (the splitter reads a leading "1." as a sentence of
    its own); a table's rows are lines of one paragraph (its header stays with its rows), cells
    joined by " | ". Soft line breaks stay newlines, as in the source.
    """
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    blocks: list[list[str]] = []  # paragraphs, each a list of lines
    heading: str | None = None
    row: list[str] | None = None  # cells of the table row being read
    in_table = in_heading = False

    def add(text: str) -> None:
        text = text.strip()
        if text:
            blocks.append([text])

    for token in parser.parse(source):
        kind = token.type
        if kind == "heading_open":
            in_heading = True
        elif kind == "heading_close":
            in_heading = False
        elif kind == "table_open":
            in_table = True
            blocks.append([])
        elif kind == "table_close":
            in_table = False
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close" and row is not None:
            if any(row) and in_table:
                blocks[-1].append(" | ".join(row))
            row = None
        elif kind == "inline":
            text = _markdown_inline(token.children or [])
            if row is not None:
                row.append(" ".join(text.split()))
                continue
            if in_heading and heading is None and text.strip():
                heading = " ".join(text.split())
            add(text)
        elif kind in ("fence", "code_block"):
            add(token.content.rstrip("\n"))
        elif kind == "html_block":
            add(_html_block_text(token.content))
    text = "\n\n".join("\n".join(lines) for lines in blocks if lines)
    return MarkdownText(normalise_newlines(text).strip(), heading)


def _markdown_inline(children: list[Any]) -> str:
    """Inline tokens as text: marks (emphasis, links, raw HTML tags) dropped, breaks (and <br>) as newlines."""
    parts = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak") or (child.type == "html_inline" and _is_br(child.content)):
            parts.append("\n")
        elif child.type == "image":
            parts.append(_markdown_inline(child.children or []))
    return "".join(parts)


def _is_br(tag: str) -> bool:
    """An HTML line break tag (<br>, <br/>, <BR />)."""
    return tag[1:].lstrip().lower().rstrip("/> \t\n") == "br"


def _html_block_text(html: str) -> str:
    """Text of a raw HTML block inside Markdown (scripts, styles and comments dropped)."""
    import lxml.html

    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except Exception:  # noqa: BLE001 - an unparsable fragment has no text worth keeping
        return ""
    for element in root.xpath("//script|//style"):
        element.drop_tree()
    return root.text_content()


# --------------------------------------------------------------------------- HTML


def _read_html(path: Path, relpath: str) -> tuple[list[_Located], list[SkippedFile]]:
    html = decode_text(path.read_bytes())
    try:
        document = _extract_html(html)
    except Unreadable:
        document = {}
    text = normalise_newlines(document.get("text") or "").strip()
    if not text:
        depth = html_depth(html)
        if depth > MAX_HTML_DEPTH:
            raise Unreadable(f"HTML nested too deeply to read ({depth:,} levels; parsers stop at {MAX_HTML_DEPTH})")
        raise Unreadable("no article text found in HTML")
    url = _clean_string(document.get("url"))
    url = url if _is_url(url) else None
    article = Article(
        id=article_id(relpath),
        title=_clean_string(document.get("title")) or first_line(text),
        text=text,
        source=url or relpath,
        path=relpath,
        date=_clean_string(document.get("date")),
        author=_clean_string(document.get("author")),
        url=url,
    )
    return [_Located(relpath, article)], []


MAX_HTML_DEPTH = 255  # libxml2, under lxml and trafilatura, stops nesting elements here
_TAG = re.compile(r"<(/?)([a-zA-Z][\w:-]*)[^>]*?(/?)>")
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())


def html_depth(html: str) -> int:
    """The deepest nesting of elements (unclosed ones count), to name why no text was found."""
    depth = deepest = 0
    for closing, name, self_closing in _TAG.findall(html):
        if closing:
            depth = max(depth - 1, 0)
        elif not self_closing and name.lower() not in _VOID:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


def _extract_html(html: str) -> dict[str, Any]:
    """Main text and metadata of a page via trafilatura (boilerplate, scripts, menus dropped)."""
    import trafilatura

    document = trafilatura.bare_extraction(
        html,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        favor_precision=True,
    )
    if document is None:
        raise Unreadable("no article text found in HTML")
    if isinstance(document, dict):
        return document
    return {key: getattr(document, key, None) for key in ("text", "title", "date", "url", "author")}


# --------------------------------------------------------------------------- PDF


def _read_pdf(path: Path, relpath: str) -> tuple[list[_Located], list[SkippedFile]]:
    reader = _open_pdf(path)
    pages = _pdf_page_texts(reader, relpath)
    text, page_starts = join_pages(pages)
    if not text:
        raise Unreadable("PDF has no text layer (scanned?)")
    meta = _pdf_metadata(reader, relpath)
    article = Article(
        id=article_id(relpath),
        title=meta.get("title") or first_line(text),
        text=text,
        source=relpath,
        path=relpath,
        date=meta.get("date"),
        author=meta.get("author"),
        page_starts=page_starts,
    )
    return [_Located(relpath, article)], []


def _open_pdf(path: Path) -> Any:
    import pypdf
    from pypdf.errors import PyPdfError

    data = path.read_bytes()
    if not data.strip():
        raise Unreadable("empty file")
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as error:
        raise Unreadable(f"corrupt PDF: {_one_line(error) or type(error).__name__}") from error
    if reader.is_encrypted:
        try:
            decrypted = reader.decrypt("")
        except Exception as error:  # missing crypto backend, unknown handler, ...
            raise Unreadable("encrypted PDF") from error
        if not decrypted:  # PasswordType.NOT_DECRYPTED == 0
            raise Unreadable("encrypted PDF")
    return reader


def _pdf_page_texts(reader: Any, relpath: str) -> list[str]:
    """Each page's text (newlines normalised, stripped); a page that fails counts as empty."""
    try:
        pages = list(reader.pages)
    except Exception as error:
        raise Unreadable(f"corrupt PDF: {_one_line(error) or type(error).__name__}") from error
    if not pages:
        raise Unreadable("corrupt PDF: no pages")
    from pypdf.errors import LimitReachedError

    texts, over_limit = [], 0
    for number, page in enumerate(pages, start=1):
        try:
            raw = page.extract_text() or ""
        except LimitReachedError as error:  # a page that inflates past pypdf's limits: a decompression bomb
            logger.warning("Page %d of %s is over pypdf's decompression limits: %s", number, relpath, _one_line(error))
            over_limit += 1
            raw = ""
        except Exception as error:  # noqa: BLE001 - keep the other pages
            logger.warning("Could not extract page %d of %s: %s", number, relpath, _one_line(error))
            raw = ""
        texts.append(normalise_newlines(raw.replace("\x00", "")).strip())
    if not any(texts) and not over_limit:
        # pypdf's extract_text logs a decompression limit and returns "": ask the content itself.
        for page in pages[:5]:
            try:
                contents = page.get_contents()
                if contents is not None:
                    contents.get_data()
            except LimitReachedError:
                over_limit += 1
            except Exception:  # noqa: BLE001 - other damage: "no text layer" is still the best guess
                pass
    if over_limit and not any(texts):
        raise Unreadable(f"PDF content inflates past the decompression limit ({over_limit} of {len(texts)} pages; a decompression bomb?)")
    return texts


def join_pages(pages: list[str]) -> tuple[str, tuple[int, ...]]:
    """Join page texts with blank lines; return the text and each page's start offset.

    An empty page adds no separator: its start is where the next page's text begins,
    so `Article.page_at` attributes every character to the page it came from.
    """
    chunks: list[str] = []
    starts: list[int] = []
    position = 0
    for page in pages:
        separator = 2 if chunks else 0
        starts.append(position + separator)
        if page:
            chunks.append(page)
            position += separator + len(page)
    return "\n\n".join(chunks), tuple(starts)


def _pdf_metadata(reader: Any, relpath: str) -> dict[str, str | None]:
    """Title, author and ISO creation date from the PDF's info dictionary, when readable."""
    try:
        meta = reader.metadata
    except Exception as error:  # noqa: BLE001 - metadata is optional
        logger.debug("Unreadable PDF metadata in %s: %s", relpath, error)
        return {}
    if meta is None:
        return {}
    return {
        "title": _safe_pdf_field(lambda: _clean_string(meta.title)),
        "author": _safe_pdf_field(lambda: _clean_string(meta.author)),
        "date": _safe_pdf_field(lambda: _pdf_date(meta.creation_date)),
    }


def _safe_pdf_field(get: Callable[[], str | None]) -> str | None:
    try:
        return get()
    except Exception:  # noqa: BLE001 - malformed metadata is common
        return None


def _pdf_date(value: dt.datetime | None) -> str | None:
    return value.date().isoformat() if value else None


# --------------------------------------------------------------------------- JSON feeds


def _read_jsonl(path: Path, relpath: str) -> tuple[list[_Located], list[SkippedFile]]:
    text = decode_text(path.read_bytes())
    located: list[_Located] = []
    skipped: list[SkippedFile] = []
    seen_keys: set[str] = set()
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        location = f"{relpath}:{number}"
        try:
            record = json.loads(line)
            located.append(_record_article(record, relpath, number, seen_keys))
        except json.JSONDecodeError as error:
            skipped.append(_skip(location, f"invalid JSON: {error.msg} (column {error.colno})"))
        except Unreadable as error:
            skipped.append(_skip(location, str(error)))
    if not located and not skipped:
        raise Unreadable("empty file")
    return located, skipped


def _read_json(path: Path, relpath: str) -> tuple[list[_Located], list[SkippedFile]]:
    text = decode_text(path.read_bytes())
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise Unreadable(f"invalid JSON on line {error.lineno}: {error.msg}") from error
    records = _json_records(data)
    located: list[_Located] = []
    skipped: list[SkippedFile] = []
    seen_keys: set[str] = set()
    for number, record in enumerate(records, start=1):
        try:
            located.append(_record_article(record, relpath, number, seen_keys))
        except Unreadable as error:
            skipped.append(_skip(f"{relpath}:{number}", str(error)))
    if not located and not skipped:
        raise Unreadable("no records in JSON")
    return located, skipped


def _json_records(data: Any) -> list[Any]:
    """The records of a .json file: a list, a list under a known key, or one object."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in _RECORD_LIST_KEYS:
            if isinstance(data.get(key), list):
                return data[key]
        return [data]
    raise Unreadable("JSON is neither a list of records nor an object")


def _record_article(record: Any, relpath: str, number: int, seen_keys: set[str]) -> _Located:
    """One JSON record as an article; `number` is its 1-based line or list position."""
    if not isinstance(record, dict):
        raise Unreadable("record is not a JSON object")
    text = _first_value(record, _TEXT_KEYS, _record_text)
    if not text:
        raise Unreadable("record has no text")
    url = _first_value(record, _URL_KEYS, _clean_string)
    record_key = _clean_string(record.get("id")) or str(number)
    if record_key in seen_keys:  # repeated ids inside one feed must not collide
        record_key = f"{record_key}@{number}"
    seen_keys.add(record_key)
    article = Article(
        id=article_id(f"{relpath}#{record_key}"),
        title=_clean_string(record.get("title")) or first_line(text),
        text=text,
        source=url or f"{relpath}#{number}",
        path=relpath,
        date=_first_value(record, _DATE_KEYS, _date_string),
        author=_author_string(record.get("author")),
        url=url,
    )
    return _Located(f"{relpath}:{number}", article)


def _record_text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return normalise_newlines(value).strip() or None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


_READERS: dict[str, Callable[[Path, str], tuple[list[_Located], list[SkippedFile]]]] = {
    ".txt": _read_txt,
    ".md": _read_markdown,
    ".markdown": _read_markdown,
    ".html": _read_html,
    ".htm": _read_html,
    ".pdf": _read_pdf,
    ".json": _read_json,
    ".jsonl": _read_jsonl,
}
assert set(_READERS) == SUPPORTED_EXTENSIONS
