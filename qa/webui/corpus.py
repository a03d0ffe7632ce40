"""The corpus tab's actions against the real engine: uploads, re-indexing, removing an article.

Each returns report lines (succeeded, what, details) that render.format_report shows, so the actions
are tested with the real engine and no browser.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Iterable

from ..facade import QA
from .render import shorten

log = logging.getLogger(__name__)


Progress = Callable[[float, str], None]


def _no_progress(fraction: float, description: str) -> None:
    return None


def add_files(qa: QA, paths: Iterable[Any] | None, progress: Progress = _no_progress) -> list[tuple[bool, str, str]]:
    """Index uploaded files through `qa.add_upload`; one report line per file, with QA's message
    when a file is refused (type, size, duplicate, unreadable) and the files it skipped."""
    files = [Path(getattr(p, "name", p)) for p in (paths or []) if p]
    lines: list[tuple[bool, str, str]] = []
    for i, path in enumerate(files):
        name = path.name
        progress(i / max(len(files), 1), f"Indexing {name} ({i + 1} of {len(files)})")
        try:
            report = qa.add_upload(name, path.read_bytes())
        except (ValueError, OSError, KeyError) as error:
            lines.append((False, f"Not added: {name}", str(error)))
            continue
        except Exception:
            log.exception("Adding %s failed", name)
            lines.append((False, f"Not added: {name}", "unexpected error; the server log has the details"))
            continue
        lines.append((True, f"Added {name}", report.summary()))
    progress(1.0, "Done")
    return lines


def reindex(qa: QA, progress: Progress = _no_progress) -> list[tuple[bool, str, str]]:
    """Re-scan the corpus folder (`qa.refresh`); the summary names skipped files and why."""
    progress(0.0, "Re-scanning the corpus folder")
    try:
        report = qa.refresh()
    except Exception as error:  # a missing folder, a disk error: say it, keep serving the old index
        log.exception("Re-indexing failed")
        return [(False, "Re-index failed", str(error) if isinstance(error, (OSError, ValueError)) else "see the server log")]
    progress(1.0, "Done")
    return [(True, "Re-indexed", report.summary())]


def remove_article(qa: QA, article_id: str | None) -> list[tuple[bool, str, str]]:
    """Drop the chosen article from the index (`qa.remove`)."""
    if not article_id:
        return [(False, "Nothing removed", "choose an article first")]
    try:
        article = qa.remove(article_id)
    except KeyError:
        return [(False, "Nothing removed", "that article is no longer in the index")]
    except Exception:
        log.exception("Removing %s failed", article_id)
        return [(False, "Nothing removed", "unexpected error; the server log has the details")]
    return [
        (
            True,
            f"Removed “{shorten(article.title or article.path, 120)}”",
            f"its file {article.path} stays in the corpus folder but is no longer indexed; upload it again to restore it",
        )
    ]


def restore_article(qa: QA, article_id: str | None) -> list[tuple[bool, str, str]]:
    """Index again an article removed earlier whose file is still in the corpus (`qa.restore`)."""
    if not article_id:
        return [(False, "Nothing restored", "choose a removed article first")]
    try:
        report = qa.restore(article_id)
    except KeyError as error:
        return [(False, "Nothing restored", str(error.args[0]) if error.args else "not a removed article")]
    except Exception:
        log.exception("Restoring %s failed", article_id)
        return [(False, "Nothing restored", "unexpected error; the server log has the details")]
    article = qa.article(article_id)
    return [(True, f"Restored “{shorten(article.title or article.path, 120)}”", report.summary())]
