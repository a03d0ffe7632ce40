"""Command line: `python -m qa index|ask|search|articles|add|remove|migrate|eval ...`, a thin shell over `QA`.

Exit codes: 0 success (an answer that says "not in the articles" is a success), 1 stdout closed
early (piped into `head`; no traceback), 2 bad usage or a bad question, 3 missing corpus, file or
model, 4 an article that cannot be added or removed.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
from pathlib import Path

EXIT_OK, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_BAD_ARTICLE = 0, 2, 3, 4
EXIT_BROKEN_PIPE = 1  # the reader of stdout went away (`python -m qa articles | head`)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--corpus", default=None, help="articles folder (env QA_CORPUS; default: corpus)")
    common.add_argument("--index-dir", default=None, help="index folder (env QA_INDEX_DIR; default: beside the corpus)")
    common.add_argument("--model", default=None, help="sentence-transformers model path or name (env QA_MODEL)")
    common.add_argument(
        "--store", default=None, metavar="URL",
        help="keep the index in PostgreSQL (postgresql://user:password@host/db; env QA_STORE); --corpus is then optional",
    )
    common.add_argument("-v", "--verbose", action="store_true", help="log progress and details")

    parser = argparse.ArgumentParser(prog="python -m qa", description="Answer questions from a folder of articles, with citations.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    index = commands.add_parser("index", parents=[common], help="build or update the index of a corpus")
    index.add_argument("corpus_arg", nargs="?", metavar="CORPUS", help="articles folder (same as --corpus)")
    index.add_argument("--json", action="store_true", help="print the report as JSON")

    ask = commands.add_parser("ask", parents=[common], help="answer a question, with citations")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.add_argument("--top-k", type=int, default=None, help="how many related passages to list")

    search = commands.add_parser("search", parents=[common], help="list the passages that best match a query")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    search.add_argument("--json", action="store_true")

    articles = commands.add_parser("articles", parents=[common], help="list the indexed articles")
    articles.add_argument("--json", action="store_true")

    add = commands.add_parser("add", parents=[common], help="copy article files into the corpus and index them")
    add.add_argument("paths", nargs="+", metavar="PATH")

    remove = commands.add_parser("remove", parents=[common], help="drop an article from the index by id")
    remove.add_argument("article_id")

    migrate = commands.add_parser("migrate", parents=[common], help="copy the local index into a PostgreSQL store (no re-embedding)")
    migrate.add_argument("--to", required=True, metavar="URL", help="postgresql://user:password@host/db")

    evaluate = commands.add_parser("eval", parents=[common], help="measure retrieval, answers and abstention on SQuAD-format data")
    evaluate.add_argument("file", type=Path, help="e.g. ../shared/data/squad2_dev_half.json")
    evaluate.add_argument("--limit", type=int, default=None, help="ask at most N questions (spread over the file)")
    evaluate.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; output piped into a reader that stops early (`| head`) ends quietly."""
    try:
        try:
            return _main(argv)
        finally:  # also after --help's SystemExit: a closed pipe shows here, not at interpreter exit
            sys.stdout.flush()
    except BrokenPipeError:
        # As the Python docs recommend (library/signal.html, "Note on SIGPIPE"): point stdout at
        # devnull so the flush at exit does not raise again, and exit with an error status.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose or args.command == "index" else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        for noisy in ("sentence_transformers", "transformers", "bm25s", "trafilatura", "httpx"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
    store = args.store or os.environ.get("QA_STORE") or None
    corpus = getattr(args, "corpus_arg", None) or args.corpus or os.environ.get("QA_CORPUS") or (None if store else "corpus")

    from .facade import QA, QuestionError  # heavy imports only after the arguments are valid

    if args.command == "eval":
        return _evaluate(args, store)
    if args.command == "migrate":
        return _migrate(args, corpus or "corpus")
    try:
        qa = QA.from_folder(corpus, index_dir=args.index_dir, model=args.model, store=store)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NOT_FOUND
    try:
        return _run(qa, args)
    except QuestionError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except (ValueError, KeyError) as error:
        message = error.args[0] if error.args else str(error)
        print(f"error: {message}", file=sys.stderr)
        return EXIT_BAD_ARTICLE


def _run(qa, args) -> int:
    if args.command == "index":
        report = qa.last_report
        print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
    elif args.command == "ask":
        answer = qa.ask(args.question, top_k=args.top_k)
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False) if args.json else format_answer(answer))
    elif args.command == "search":
        hits = qa.search(args.query, k=args.k)
        if args.json:
            print(json.dumps([h.to_dict() for h in hits], indent=2, ensure_ascii=False))
        for rank, hit in enumerate(hits if not args.json else [], start=1):
            print(f"{rank}. {hit.article.title} ({hit.article.source}) score {hit.score:.4f}")
            print(textwrap.indent(textwrap.fill(hit.text, 100), "   "))
    elif args.command == "articles":
        counts = qa.passage_counts()
        if args.json:
            print(json.dumps([{**a.summary(), "passages": counts[a.id]} for a in qa.articles()], indent=2, ensure_ascii=False))
        for article in qa.articles() if not args.json else []:
            print(f"{article.id}  {article.title}  [{article.source}; {article.date or 'no date'}; {counts[article.id]} passages]")
    elif args.command == "add":
        for path in args.paths:
            print(qa.add(Path(path)).summary())
    elif args.command == "remove":
        article = qa.remove(args.article_id)
        print(f"Removed {article.id} ({article.title}); {qa.last_report.summary()}")
    return EXIT_OK


def _migrate(args, corpus: str) -> int:
    """Copy the local index of `corpus` (its vectors, tables and texts) into the database at --to."""
    from .migration import migrate

    try:
        report = migrate(Path(corpus), args.to, index_dir=args.index_dir, model=args.model)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except (RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NOT_FOUND
    print(report)
    return EXIT_OK


def _evaluate(args, store: str | None) -> int:
    """Evaluate on a SQuAD-format file, in a temporary local index or in the database `store`."""
    from .evaluation import evaluate, format_report
    from .settings import Settings

    if not args.file.is_file():
        print(f"error: no such file: {args.file}", file=sys.stderr)
        return EXIT_NOT_FOUND
    settings = Settings.from_env(model=args.model, store=store)
    try:
        results = evaluate(args.file, limit=args.limit, settings=settings, progress=not args.json, store=store)
    except ValueError as error:  # a database that holds other articles
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except RuntimeError as error:  # qa.pgstore.StoreUnavailable: unreachable, no pgvector, another schema
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NOT_FOUND
    print(json.dumps(results, indent=2) if args.json else format_report(results))
    return EXIT_OK


def format_answer(answer) -> str:
    """An answer and its sources as plain text."""
    text = answer.text
    lines = []
    if answer.short_answer and text.startswith(answer.short_answer):
        # The short answer on its own line, then the sentence(s) it comes from.
        lines.append(f"Answer: {answer.short_answer}")
        text = text[len(answer.short_answer) :].lstrip(" —")
    lines += [textwrap.fill(text, 100), ""]
    if answer.abstained:
        if answer.related:
            lines.append("Closest passages:")
            for hit in answer.related:
                lines.append(f"  - {hit.article.title} ({hit.article.source}): {textwrap.shorten(hit.text, 160)}")
        return "\n".join(lines).rstrip()
    lines.append(f"Confidence {answer.confidence:.2f}. Sources:")
    for c in answer.citations:
        where = c.source + (f", p. {c.page}" if c.page else "") + (f", {c.date}" if c.date else "")
        lines.append(f"[{c.number}] {c.title} ({where}), characters {c.start}-{c.end}")
        lines.append(textwrap.indent(textwrap.fill(f"“{c.quote}”", 96), "    "))
    return "\n".join(lines).rstrip()


if __name__ == "__main__":
    sys.exit(main())
