"""The web chat: `python app.py [--corpus corpus] [--port 7860]`, then open http://127.0.0.1:7860.

Builds (or loads) the index of the corpus, then serves the chat, Gradio's `/ask` API and the JSON
API (`/api/...`, see qa/http_api.py) locally. `--auth user:password` (or $QA_AUTH) puts every page
and API behind HTTP Basic authentication. Nothing is sent anywhere: Gradio's analytics and Hugging
Face telemetry are off, and there is no share link.
"""
from __future__ import annotations

import os

# Before gradio (or anything that imports it, or huggingface_hub) is imported.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.pop("GRADIO_SHARE", None)

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402

log = logging.getLogger("app")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve a web chat that answers questions from a folder of articles, with citations.")
    parser.add_argument("--corpus", default=os.environ.get("QA_CORPUS") or None, help="folder of articles (default: $QA_CORPUS or ./corpus; optional with --store)")
    parser.add_argument(
        "--store", default=os.environ.get("QA_STORE") or None, metavar="URL",
        help="keep the index in PostgreSQL with pgvector, shared by several app servers (postgresql://user:password@host/db; default: $QA_STORE)",
    )
    parser.add_argument("--index-dir", default=None, help="where the index is kept (default: $QA_INDEX_DIR, or beside the corpus)")
    parser.add_argument("--model", default=None, help="embedding model (default: $QA_MODEL, or the bundled all-MiniLM-L6-v2)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (default: 7860)")
    parser.add_argument(
        "--auth",
        default=None,
        metavar="USER:PASSWORD",
        help="require this user name and password (HTTP Basic) for every page and API (default: $QA_AUTH; "
        "prefer the variable: a command line is visible to other users of the machine)",
    )
    parser.add_argument(
        "--max-upload-mb",
        type=float,
        default=20,
        metavar="MB",
        help="largest article that can be uploaded, in megabytes (default: 20)",
    )
    args = parser.parse_args(argv)
    if args.auth is None:
        args.auth = os.environ.get("QA_AUTH") or None
    if args.auth is not None:
        try:
            args.auth = parse_auth(args.auth)
        except ValueError as error:
            parser.error(str(error))
    if not args.max_upload_mb > 0:
        parser.error("--max-upload-mb must be a positive number of megabytes")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be from 0 to 65535")
    return args


def parse_auth(value: str) -> tuple[str, str]:
    """"user:password" → (user, password); the password may contain ":"."""
    user, colon, password = value.partition(":")
    if not colon or not user.strip() or not password:
        raise ValueError("--auth (or QA_AUTH) must look like USER:PASSWORD, with a non-empty user name and password")
    if user != user.strip():
        raise ValueError("--auth (or QA_AUTH): the user name must not start or end with spaces")
    return user, password


def url_for(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown:  # IPv6
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import uvicorn

    from qa import QA
    from qa.server import create_server
    from qa.settings import Settings
    from qa.web_policy import allowed_hosts, exposure_warning

    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.corpus is None and not args.store:
        args.corpus = "corpus"
    log.info("Loading the index of %s", args.corpus or "the database")
    settings = Settings.from_env(
        corpus=args.corpus,
        index_dir=args.index_dir,
        model=args.model,
        max_upload_bytes=int(args.max_upload_mb * 1_000_000),
    )
    try:
        qa = QA.from_folder(args.corpus, settings=settings, store=args.store)
    except (FileNotFoundError, ValueError, RuntimeError) as error:  # RuntimeError: qa.pgstore.StoreUnavailable
        log.error("%s", error)
        return 2
    log.info("Index: %s", qa.status())
    warning = exposure_warning(args.host, args.auth)
    if warning:
        log.warning("%s", warning)
        print(f"WARNING: {warning}", file=sys.stderr, flush=True)
    # On this machine only, refuse other Host names (every loopback name: 127.0.0.1, localhost, [::1]):
    # a web page cannot reach the API by re-pointing its DNS name here.
    app = create_server(qa, auth=args.auth, allowed_hosts=allowed_hosts(args.host))
    log.info(
        "Serving the chat on %s (JSON API under %sapi/, %s)",
        url_for(args.host, args.port),
        url_for(args.host, args.port),
        "HTTP Basic authentication required" if args.auth else "no authentication",
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", timeout_graceful_shutdown=5, server_header=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
