"""One policy for every route of the server, ours (`/api/*`) and Gradio's (`/gradio_api/*`).

Why a module of its own: the attack round (issue 12) found the JSON API guarded while Gradio's
routes beside it were not — its upload route took 300 files from another site, its events took
any file path on the disk, and the DNS-rebinding guard covered only two of the loopback names.
So the rules live here once and `qa.server` applies them to the whole app:

- Host: when serving on a loopback address, only loopback host names are answered (a page of
  another site that re-points its DNS name at 127.0.0.1 or ::1 is refused). `allowed_hosts`.
- Origin: a browser request from another site may not change anything (POST, PUT, PATCH,
  DELETE) on any route: no cross-site uploads, removals or Gradio events. `same_origin`.
- Uploads: Gradio's own upload route gets the JSON API's limits — at most `MAX_FILES` files and
  `max_upload_bytes` (plus multipart overhead) in one request. `WebPolicyMiddleware`.
- Files in Gradio events: only files that Gradio received through its upload route in this
  server run are accepted (`received_uploads`), on top of Gradio's own check that such files lie
  in its upload folder, which a mounted (not launched) app skips: `enforce_gradio_file_checks`.
"""
from __future__ import annotations

import ipaddress
import json
import logging
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

MAX_FILES = 20  # files in one upload request, on every upload route
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers on top of the files' bytes
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
GRADIO_UPLOAD_PATH = "/gradio_api/upload"


def is_loopback(host: str) -> bool:
    """True for names and addresses of this machine only: localhost, 127.0.0.0/8, ::1."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind_host: str) -> list[str] | None:
    """The Host names to answer when listening on `bind_host`: every loopback name for a loopback
    address (the DNS-rebinding guard), None (any) otherwise — there the names are not known, and
    `--auth` is what protects the server."""
    if not is_loopback(bind_host):
        return None
    names = ["127.0.0.1", "localhost", "[::1]"]
    bound = bind_host.strip().lower()
    if ":" in bound and not bound.startswith("["):
        bound = f"[{bound}]"  # how an IPv6 address appears in a Host header
    if bound not in names:
        names.append(bound)
    return names


def exposure_warning(bind_host: str, auth: Any) -> str | None:
    """The warning to print when the server is reachable from other machines without a password."""
    if auth is not None or is_loopback(bind_host):
        return None
    return (
        f"Listening on {bind_host} without --auth: anyone who can reach this machine can ask, upload and remove "
        "articles, and no Host check protects it. Set QA_AUTH=user:password, or serve on 127.0.0.1."
    )


def same_origin(headers: Headers) -> bool:
    """False for a browser request sent by another site (its Origin is not this server)."""
    origin = headers.get("origin")
    if origin is None:
        return True  # not a cross-site browser request (curl, scripts, same-origin GET)
    # Behind a proxy the page's host may arrive as X-Forwarded-Host (a browser cannot set that header cross-site).
    hosts = {h.strip().lower() for h in (headers.get("host", ""), headers.get("x-forwarded-host", "")) if h.strip()}
    try:
        return urlsplit(origin).netloc.lower() in hosts
    except ValueError:
        return False


def received_uploads(upload_file_set: set[str], paths: Iterable[Any] | None) -> tuple[list[str], list[str]]:
    """(paths Gradio received through its upload route, names of the others). `upload_file_set`
    is the Blocks' record of what its upload route stored in this server run."""
    accepted, refused = [], []
    for item in paths or ():
        if not item:
            continue
        path = str(getattr(item, "path", None) or getattr(item, "name", None) or item)
        if path in upload_file_set:
            accepted.append(path)
        else:
            log.warning("Refused a Gradio event naming a file that was not uploaded: %r", path[:300])
            refused.append(Path(path).name)
    return accepted, refused


def enforce_gradio_file_checks(blocks: Any) -> None:
    """Make Gradio check file paths in events as it does for a launched app: `mount_gradio_app`
    leaves `has_launched` False, and Gradio's check that an event's file lies in its upload folder
    (processing_utils._check_allowed) returns early for an app that has not launched."""
    blocks.has_launched = True


async def _send_json(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode("ascii"))],
        }
    )
    await send({"type": "http.response.body", "body": body})


class WebPolicyMiddleware:
    """Pure ASGI middleware: cross-site writes get 403 on every route, and Gradio's upload route
    gets the same limits as `POST /api/articles` (the body is read, bounded, counted, then passed on)."""

    def __init__(self, app: ASGIApp, max_upload_bytes: int, max_files: int = MAX_FILES) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.max_files = max_files

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["method"] not in SAFE_METHODS and not same_origin(headers):
            await _send_json(send, 403, "Cross-site requests cannot change or query the articles; use this server's own page, or a script.")
            return
        if scope["method"] == "POST" and scope["path"].rstrip("/").endswith(GRADIO_UPLOAD_PATH):
            await self.gradio_upload(scope, receive, send, headers)
            return
        await self.app(scope, receive, send)

    async def gradio_upload(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        from .facade import human_size

        limit = self.max_upload_bytes + MULTIPART_OVERHEAD
        too_large = f"The upload is over the {human_size(self.max_upload_bytes)} limit of one request; send large files one at a time."
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_json(send, 413, too_large)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await _send_json(send, 413, too_large)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        boundary = _boundary(headers.get("content-type", ""))
        if boundary is None:
            await _send_json(send, 400, "Send the files as multipart/form-data with a boundary.")
            return
        parts = body.count(b"--" + boundary) - 1
        if parts > self.max_files:
            await _send_json(send, 400, f"{parts} files in one upload; send at most {self.max_files} at a time.")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _boundary(content_type: str) -> bytes | None:
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"').encode("latin-1", "replace")
    return None
