"""The web chat: `python app.py [--corpus corpus] [--port 7860]`, then open http://127.0.0.1:7860.

Builds (or loads) the index of the corpus, then serves the chat and the `/ask` API locally.
Nothing is sent anywhere: Gradio's analytics and Hugging Face telemetry are off, and there is no share link.
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
    parser.add_argument("--corpus", default=os.environ.get("QA_CORPUS") or "corpus", help="folder of articles (default: $QA_CORPUS or ./corpus)")
    parser.add_argument("--index-dir", default=None, help="where the index is kept (default: $QA_INDEX_DIR, or beside the corpus)")
    parser.add_argument("--model", default=None, help="embedding model (default: $QA_MODEL, or the bundled all-MiniLM-L6-v2)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (default: 7860)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from qa import QA
    from qa.webui import CSS, build_app

    logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio polls its own local url
    log.info("Loading the index of %s", args.corpus)
    try:
        qa = QA.from_folder(args.corpus, index_dir=args.index_dir, model=args.model)
    except FileNotFoundError as error:
        log.error("%s", error)
        return 2
    log.info("Index: %s", qa.status())
    log.info("Serving on http://%s:%d", args.host, args.port)
    build_app(qa).launch(server_name=args.host, server_port=args.port, share=False, css=CSS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
