"""The HTTP/JSON API: the same engine as the web chat, for scripts. `build_router(qa)` gives a
FastAPI router; `qa.server.create_server` serves it beside the chat.

    POST   /api/ask              {"question": str, "history": [...]?, "top_k": 1..20?} → Answer.to_dict()
    GET    /api/articles         [article summary + "passages"]
    GET    /api/articles/{id}    the summary + "passages" + "text"
    POST   /api/articles         multipart, field "files" (one or more) → [IndexReport + "file" + "articles"]
    DELETE /api/articles/{id}    the removed article's summary
    GET    /api/health           {"status": "ok", articles, passages, ...}

Every error is JSON `{"error": "<what to change>"}` with its status code: 400 (bad question or
body), 403 (a cross-site write; qa.web_policy applies the same rule to Gradio's routes), 404, 413
(too large), 415 (unsupported file type), 503 (a removal that could not be saved, so was not made),
500 (the details are only in the server log). Messages never carry absolute paths or tracebacks.
The engine's blocking calls run in a thread pool, so the server keeps serving while one runs.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException  # FastAPI's is a subclass: this catches both
from starlette.formparsers import MultiPartException
from starlette.routing import Match

from .pgstore import StoreUnavailable
from .facade import MAX_HISTORY_TURNS, QA, IndexNotSaved, QuestionError, UploadTooLarge, human_size, safe_file_name
from .readers import SUPPORTED_EXTENSIONS
from .web_policy import MAX_FILES, MULTIPART_OVERHEAD, same_origin

log = logging.getLogger(__name__)

MAX_TOP_K = 20
MAX_HISTORY = MAX_HISTORY_TURNS  # turns in "history"
MAX_ASK_BYTES = 1_000_000  # a JSON body of /api/ask
DRAIN_BYTES = 64 * 1024 * 1024  # an over-limit body up to this size is read (and dropped) before the 413
ERROR_MESSAGE = "Something went wrong on the server; its log has the details."
ASK_FIELDS = {"question", "history", "top_k"}
ASK_EXAMPLE = '{"question": "Who is the prime minister of Georgia?"}'


class ApiError(Exception):
    """An error answered as `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": scrub(message), **extra}, status_code=status)


# Absolute paths under the usual system roots, or with a Windows drive: only the file name is kept.
_ABSOLUTE_PATH = re.compile(
    r"(?<![\w.:/\\])(?:[A-Za-z]:[/\\]|/(?:tmp|var|home|root|usr|opt|srv|mnt|media|etc|run|private|Users|Volumes|nix|data|work|workspace|app|proc|dev)/)"
    r"(?:[^\s'\"/\\]+[/\\])*"
)


def scrub(message: str) -> str:
    """`message` without the directories of absolute paths (file names stay), for error replies;
    API paths such as /api/articles are not touched."""
    return _ABSOLUTE_PATH.sub("", str(message))


class JSONErrorRoute(APIRoute):
    """An API route whose every failure is `{"error": ...}`: validation errors become 400s,
    unexpected exceptions a logged 500, and cross-site writes (CSRF) a 403."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            if request.method not in ("GET", "HEAD", "OPTIONS") and not same_origin(request.headers):
                return error_response(403, "Cross-site requests cannot change or query the articles; call the API from this server's own page or a script.")
            try:
                return await handler(request)
            except ApiError as error:
                return error_response(error.status, error.message)
            except RequestValidationError as error:
                return error_response(400, validation_message(error))
            except HTTPException as error:
                return error_response(error.status_code, str(error.detail))
            except StoreUnavailable as error:  # the database store is down: say so (no password in it), retry later
                log.error("%s %s: %s", request.method, request.url.path, error)
                return error_response(503, str(error))
            except Exception:
                log.exception("%s %s failed", request.method, request.url.path)
                return error_response(500, ERROR_MESSAGE)

        return route


def validation_message(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "path", "query"))
        parts.append(f"{where}: {item.get('msg', 'invalid')}" if where else str(item.get("msg", "invalid")))
    return "Invalid request: " + "; ".join(parts) if parts else "Invalid request."


# ------------------------------------------------------------------ request bodies
def _megabytes(n: int) -> str:
    return human_size(n)


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        raise ApiError(400, "The Content-Length header is not a number.") from None
    if length < 0:
        raise ApiError(400, "The Content-Length header is negative.")
    return length


class _BodyTooLarge(Exception):
    pass


class LimitedReceive:
    """An ASGI `receive` that counts the body and fails with `_BodyTooLarge` past `limit` bytes
    (a chunked body declares no length)."""

    def __init__(self, receive: Callable[[], Awaitable[dict]], limit: int) -> None:
        self.receive = receive
        self.limit = limit
        self.read = 0
        self.done = False  # the whole body has come in, or the client left

    async def __call__(self) -> dict:
        message = await self.receive()
        if message.get("type") == "http.request":
            self.read += len(message.get("body", b""))
            self.done = not message.get("more_body", False)
            if self.read > self.limit:
                raise _BodyTooLarge()
        else:
            self.done = True
        return message

    async def drain(self, request: Request, budget: int = DRAIN_BYTES) -> None:
        """Read and drop the rest of a body we refuse, so the client gets to read the answer
        (closing a connection with unread data resets it). Not when the client waits for
        `100 Continue` before sending (curl does for large bodies) or the body is huge."""
        if request.headers.get("expect", "").lower() == "100-continue" and self.read == 0:
            return
        declared = _content_length(request)
        if declared is not None and declared > budget:
            return
        while not self.done and self.read <= budget:
            message = await self.receive()
            if message.get("type") != "http.request":
                return
            self.read += len(message.get("body", b""))
            self.done = not message.get("more_body", False)


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The request body, or a 413 when it is over `limit` bytes (declared or actual)."""
    receive = LimitedReceive(request.receive, limit)
    declared = _content_length(request)
    if declared is not None and declared > limit:
        await receive.drain(request)
        raise ApiError(413, f"The {what} is {_megabytes(declared)}, over the {_megabytes(limit)} limit.")
    chunks = []
    try:
        while not receive.done:
            message = await receive()
            chunks.append(message.get("body", b""))
    except _BodyTooLarge:
        await receive.drain(request)
        raise ApiError(413, f"The {what} is over the {_megabytes(limit)} limit.") from None
    return b"".join(chunks)


def parse_ask(body: bytes) -> tuple[str, list[Any] | None, int | None]:
    """(question, history, top_k) from a /api/ask body, or a 400 saying what is wrong."""
    if not body.strip():
        raise ApiError(400, f"Send a JSON object such as {ASK_EXAMPLE}.")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or a number of thousands of digits
        raise ApiError(400, f"The body is not valid JSON; send an object such as {ASK_EXAMPLE}.") from None
    if not isinstance(payload, dict):
        raise ApiError(400, f"The body must be a JSON object such as {ASK_EXAMPLE}.")
    unknown = sorted(set(payload) - ASK_FIELDS)
    if unknown:
        raise ApiError(400, f"Unknown field {unknown[0]!r}; the fields are \"question\", \"history\" and \"top_k\".")
    if "question" not in payload:
        raise ApiError(400, f"The body needs a \"question\", such as {ASK_EXAMPLE}.")
    question = payload["question"]
    if not isinstance(question, str):
        raise ApiError(400, "\"question\" must be a string.")
    return question, parse_history(payload.get("history")), parse_top_k(payload.get("top_k"))


def parse_top_k(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOP_K:
        raise ApiError(400, f"\"top_k\" must be a whole number from 1 to {MAX_TOP_K}.")
    return value


def parse_history(value: Any) -> list[Any] | None:
    """The conversation so far: [question, answer] pairs, {"role", "content"} messages, or earlier questions."""
    if value is None:
        return None
    shape = '"history" must be a list of [question, answer] pairs or {"role": ..., "content": ...} messages.'
    if not isinstance(value, list):
        raise ApiError(400, shape)
    if len(value) > MAX_HISTORY:
        raise ApiError(400, f"\"history\" has {len(value)} turns; send at most the last {MAX_HISTORY}.")
    for item in value:
        if isinstance(item, str):
            continue
        if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and (item[1] is None or isinstance(item[1], str)):
            continue
        if (
            isinstance(item, dict)
            and set(item) <= {"role", "content"}
            and isinstance(item.get("role"), str)
            and isinstance(item.get("content"), str)
        ):
            continue
        raise ApiError(400, shape)
    return value


# ------------------------------------------------------------------ uploads
async def read_uploads(request: Request, max_bytes: int) -> list[tuple[str, bytes]]:
    """(file name as sent, bytes) of each file in the multipart field "files"."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(400, 'Send the articles as multipart/form-data in the field "files" (curl -F "files=@article.txt").')
    limit = max_bytes + MULTIPART_OVERHEAD
    receive = LimitedReceive(request.receive, limit)
    declared = _content_length(request)
    if declared is not None and declared > limit:
        await receive.drain(request)
        raise ApiError(413, f"The upload is {_megabytes(declared)}, over the {_megabytes(max_bytes)} limit of one request; send large files one at a time.")
    try:
        form = await Request(request.scope, receive).form(max_files=MAX_FILES, max_fields=MAX_FILES)
    except _BodyTooLarge:
        await receive.drain(request)
        raise ApiError(413, f"The upload is over the {_megabytes(max_bytes)} limit of one request; send large files one at a time.") from None
    except HTTPException as error:  # a malformed body or too many parts
        raise ApiError(400, f"The upload could not be read ({error.detail}); send up to {MAX_FILES} files in the field \"files\".") from None
    except MultiPartException as error:  # no boundary, too many files, a header too long (a 5,000-character name)
        raise ApiError(400, f"The upload could not be read ({error.message}); send up to {MAX_FILES} files in the field \"files\", with names under 255 characters.") from None
    try:
        values = form.getlist("files")
        if not values:
            raise ApiError(400, 'No file in the field "files"; send one or more files, e.g. curl -F "files=@article.txt".')
        uploads = []
        for value in values:
            if not isinstance(value, UploadFile):
                raise ApiError(400, 'The field "files" must hold files, not text.')
            uploads.append((value.filename or "", await value.read()))
        return uploads
    finally:
        await form.close()


def check_upload(name: str, data: bytes, max_bytes: int) -> str:
    """The stored name of an upload, or a 415 / 413 before anything is indexed."""
    stored = safe_file_name(name)
    if Path(stored).suffix.lower() not in SUPPORTED_EXTENSIONS:
        allowed = ", ".join(sorted(SUPPORTED_EXTENSIONS))
        raise ApiError(415, f"Cannot add {stored}: unsupported file type (supported: {allowed}).")
    if len(data) > max_bytes:
        raise ApiError(413, f"Cannot add {stored}: {_megabytes(len(data))} is over the {_megabytes(max_bytes)} limit.")
    return stored


# ------------------------------------------------------------------ the router
def build_router(qa: QA) -> APIRouter:
    """The JSON API over `qa` (see the module docstring)."""
    router = APIRouter(prefix="/api", route_class=JSONErrorRoute, tags=["qa"])

    def described(article_id: str, with_text: bool = False) -> dict[str, Any]:
        try:
            article = qa.article(article_id)
        except KeyError:
            raise ApiError(404, f"No article with id {article_id!r}; GET /api/articles lists them.") from None
        data = article.summary()
        data["passages"] = qa.passage_counts().get(article.id, 0)
        if with_text:
            data["text"] = article.text
        return data

    @router.post("/ask")
    async def ask(request: Request) -> Any:
        """Answer a question from the articles, with citations (abstained: true when they do not answer it)."""
        question, history, top_k = parse_ask(await read_body(request, MAX_ASK_BYTES, "request"))
        try:
            answer = await run_in_threadpool(qa.ask, question, history=history, top_k=top_k)
        except QuestionError as error:
            raise ApiError(400, str(error)) from None
        return answer.to_dict()

    @router.get("/articles")
    def articles() -> Any:
        """Every indexed article: metadata (no text) and its number of passages."""
        counts = qa.passage_counts()
        return [{**a.summary(), "passages": counts.get(a.id, 0)} for a in qa.articles()]

    @router.get("/articles/{article_id}")
    def article(article_id: str) -> Any:
        """One article: metadata, number of passages, and its text (citation offsets point into it)."""
        return described(article_id, with_text=True)

    @router.post("/articles")
    async def upload(request: Request) -> Any:
        """Add articles: multipart form data, one or more files in the field "files"."""
        max_bytes = qa.settings.max_upload_bytes
        uploads = await read_uploads(request, max_bytes)
        names = [check_upload(name, data, max_bytes) for name, data in uploads]  # all checked before any is indexed
        results: list[dict[str, Any]] = []
        for name, (original, data) in zip(names, uploads):
            try:
                report = await run_in_threadpool(qa.add_upload, original, data)
            except UploadTooLarge as error:
                return error_response(413, str(error), uploaded=results)
            except ValueError as error:  # unreadable, empty, a duplicate
                return error_response(400, str(error), uploaded=results)
            changed = report.added + report.updated
            results.append({"file": name, **report.to_dict(), "articles": [described(i) for i in changed]})
        return results

    @router.delete("/articles/{article_id}")
    def remove(article_id: str) -> Any:
        """Drop an article from the index (its file stays in the corpus folder, not indexed again)."""
        passages = qa.passage_counts().get(article_id, 0)
        try:
            article = qa.remove(article_id)
        except KeyError:
            raise ApiError(404, f"No article with id {article_id!r}; GET /api/articles lists them.") from None
        except IndexNotSaved as error:  # not removed: it would come back at the next start
            raise ApiError(503, str(error)) from None
        return {**article.summary(), "passages": passages}

    @router.get("/health")
    def health() -> Any:
        """"ok" and the index's size; folders are named, not located."""
        status = qa.status()
        for key in ("corpus", "index_dir"):
            if status.get(key):
                status[key] = Path(status[key]).name
        return {"status": "ok", **status}

    @router.api_route("/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def unknown(rest: str, request: Request) -> Any:
        allowed = sorted({m for r in router.routes if r is not unknown_route and r.matches(request.scope)[0] == Match.PARTIAL for m in r.methods})
        if allowed:
            response = error_response(405, f"{request.method} is not allowed here; use {' or '.join(allowed)}.")
            response.headers["Allow"] = ", ".join(allowed)
            return response
        return error_response(404, f"No API at {request.url.path}; the API is /api/ask, /api/articles and /api/health.")

    unknown_route = router.routes[-1]
    return router
