"""One server for the web chat and the JSON API: `create_server(qa)` is a FastAPI app with
`/api/*` (qa.http_api) and the Gradio chat mounted at "/" (with Gradio's own `/gradio_api/*`).

    import uvicorn
    from qa import QA
    from qa.server import create_server
    uvicorn.run(create_server(QA.from_folder("corpus"), auth=("alice", "secret")), host="127.0.0.1", port=7860)

With `auth`, every request (the page, its assets, Gradio's API and files, `/api/*`) needs HTTP Basic
credentials: browsers ask for them, `curl -u alice:secret` and
`gradio_client.Client(url, headers={"Authorization": "Basic ..."})` send them.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import secrets
from typing import Any, Iterable

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from starlette.middleware.trustedhost import TrustedHostMiddleware  # noqa: E402
from starlette.types import ASGIApp, Receive, Scope, Send  # noqa: E402

from .facade import QA  # noqa: E402
from .http_api import build_router  # noqa: E402
from .web_policy import WebPolicyMiddleware, enforce_gradio_file_checks  # noqa: E402
from .webui import CSS, build_app  # noqa: E402

log = logging.getLogger(__name__)

REALM = "qa"


def basic_auth_header(user: str, password: str) -> str:
    """The value of an `Authorization` header for HTTP Basic credentials."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")


class BasicAuthMiddleware:
    """Pure ASGI middleware: every HTTP request and websocket needs the HTTP Basic credentials;
    anything else gets 401 with `WWW-Authenticate: Basic realm="qa"` (so browsers ask)."""

    def __init__(self, app: ASGIApp, user: str, password: str, realm: str = REALM) -> None:
        self.app = app
        self.user = user.encode("utf-8")
        self.password = password.encode("utf-8")
        self.realm = realm

    def authorised(self, scope: Scope) -> bool:
        header = b""
        for name, value in scope.get("headers") or ():
            if name.lower() == b"authorization":
                header = value
                break
        scheme, _, encoded = header.strip().partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, colon, password = decoded.partition(b":")
        # Both compared, in constant time, whatever the first one gives.
        user_ok = secrets.compare_digest(user, self.user)
        password_ok = secrets.compare_digest(password, self.password)
        return bool(colon) and user_ok and password_ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.authorised(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"error": "This server needs a user name and password (HTTP Basic authentication)."}).encode("utf-8")
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode("ascii")),
                    (b"www-authenticate", f'Basic realm="{self.realm}", charset="UTF-8"'.encode("ascii")),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def create_server(
    qa: QA,
    auth: tuple[str, str] | None = None,
    *,
    allowed_hosts: Iterable[str] | None = None,
    gradio_options: dict[str, Any] | None = None,
) -> FastAPI:
    """The FastAPI app: `/api/*` and the chat at "/". `auth` = (user, password) protects every route;
    `allowed_hosts` (Host header names, `qa.web_policy.allowed_hosts`) guards against DNS rebinding
    when serving on this machine only."""
    app = FastAPI(title="qa", description="Answers from your articles, with citations.", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.include_router(build_router(qa))  # before the mount at "/", which takes every other path
    options = dict(css=CSS, max_file_size=qa.settings.max_upload_bytes, show_error=True)
    options.update(gradio_options or {})
    blocks = build_app(qa)
    app = gr.mount_gradio_app(app, blocks, path="/", **options)
    enforce_gradio_file_checks(blocks)
    # One Origin policy and one set of upload limits for every route, ours and Gradio's (qa.web_policy).
    app.add_middleware(WebPolicyMiddleware, max_upload_bytes=qa.settings.max_upload_bytes)
    if auth is not None:
        user, password = auth
        if not user or not password:
            raise ValueError("auth needs a non-empty user name and password")
        app.add_middleware(BasicAuthMiddleware, user=user, password=password)
    if allowed_hosts:
        # Outermost: a page of another site, re-pointed at 127.0.0.1 by DNS, is refused before anything else.
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    return app
