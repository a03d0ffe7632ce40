"""The web app: a Gradio chat and a corpus manager over `QA`. It only formats and calls `QA`; every
decision (what to answer, what to cite, when to abstain, what a file may be) is taken there.

    from qa import QA
    from qa.webui import CSS, build_app
    build_app(QA.from_folder("corpus")).launch(css=CSS)

Split by concern so each part is small and tested on its own:

- `render.py`  HTML renderers (pure functions of the engine's types; all escaping happens here)
- `chat.py`    the chat controller: turns against the real engine, streamed to the page
- `corpus.py`  the corpus tab's actions (uploads, re-index, remove)
- `app.py`     the page layout and its events, plus the `/ask` API
- `static/`    the page's CSS and its one small script

The app exposes one API endpoint, `/ask`: a question in, `Answer.to_dict()` out:

    from gradio_client import Client
    Client("http://127.0.0.1:7860").predict("Who is the prime minister of Georgia?", api_name="/ask")
"""
from .app import ACCEPTED, CSS, LOAD_JS, TABLE_HEADERS, TITLE, build_app
from .chat import ERROR_MESSAGE, FOLLOW_UPS, STREAM_DELAY, Conversation, Turn, answer_turn, ask_json, drain
from .corpus import add_files, reindex, remove_article, restore_article
from .render import (
    MAX_SCORE,
    NOT_FOUND,
    RELATED_CHARS,
    STREAM_WORDS,
    TAGLINE,
    THINKING,
    article_choices,
    article_rows,
    conversation_markdown,
    format_removed,
    format_search_results,
    format_source_card,
    format_waiting,
    format_whole_article,
    mark_spans,
    confidence_level,
    dom_key,
    escape,
    excerpt_bounds,
    format_answer,
    format_citation,
    format_corpus_status,
    format_error,
    format_partial,
    format_passage,
    format_question,
    format_related,
    format_relevance,
    format_report,
    format_status,
    format_text,
    format_thinking,
    highlight,
    human_bytes,
    link,
    origin_html,
    plain_text,
    plural,
    relevance,
    safe_url,
    shorten,
    source_id,
    stream_prefixes,
    upload_title,
)

__all__ = [name for name in dir() if not name.startswith("_")]
