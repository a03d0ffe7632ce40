"""Thumbs up/down on answers, kept in a local file: `QA.feedback.record(...)`.

Why: readers' verdicts on answers are the cheapest signal of where the engine fails, and they belong
to the index they were given on, not to one front end. So they are written by the engine, as JSON
lines in `feedback.jsonl` inside the index folder (which the store leaves alone), one object per
verdict with the question, the answer, its confidence and sources. Nothing is sent anywhere.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Iterable

_LOCK = threading.Lock()  # one writer at a time within the process; each line is one write


class FeedbackLog:
    """Append-only verdicts on answers, one JSON object a line."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def record(
        self,
        question: str,
        answer: str,
        liked: bool | None,
        *,
        confidence: float | None = None,
        abstained: bool | None = None,
        sources: Iterable[dict[str, Any]] = (),
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Append one verdict (`liked` True for up, False for down, None to withdraw one) and return it."""
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "question": str(question),
            "answer": str(answer),
            "liked": liked,
            "confidence": None if confidence is None else round(float(confidence), 4),
            "abstained": abstained,
            "sources": list(sources),
        }
        if comment:
            entry["comment"] = str(comment)
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with _LOCK:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line)
        return entry

    def record_answer(self, answer: Any, liked: bool | None, comment: str | None = None) -> dict[str, Any]:
        """`record` for an `Answer` (its question, text, confidence and cited articles)."""
        sources = [
            {"number": c.number, "article_id": c.article_id, "title": c.title, "quote": c.quote}
            for c in getattr(answer, "citations", ())
        ]
        return self.record(
            answer.question, answer.text, liked, confidence=answer.confidence, abstained=answer.abstained, sources=sources, comment=comment
        )

    def entries(self) -> list[dict[str, Any]]:
        """Every verdict so far, oldest first (lines that cannot be read are skipped)."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out
