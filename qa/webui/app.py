"""The page: a Chat tab and a Corpus tab laid out with Gradio's components, wired to the chat
controller (chat.py), the corpus actions (corpus.py) and the renderers (render.py); plus the `/ask` API.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from ..facade import QA  # noqa: E402
from ..readers import SUPPORTED_EXTENSIONS  # noqa: E402
from .chat import Turn, ask_json, chat_stream, retry_stream  # noqa: E402
from .corpus import add_files, reindex, remove_article  # noqa: E402
from .render import TAGLINE, article_choices, article_rows, format_corpus_status, format_report, format_status, upload_title  # noqa: E402

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
TITLE = "Ask the articles"
EXAMPLES = [
    "How large was bilateral trade between Georgia and Russia in the first half of 2025?",
    "What does Georgia export to Russia?",
    "Who is the prime minister of Georgia?",
]
ACCEPTED = sorted(SUPPORTED_EXTENSIONS)
TABLE_HEADERS = ["Title", "Date", "Origin", "Passages", "ID"]
CSS = (STATIC / "qa.css").read_text(encoding="utf-8")
# Installed once per page (badge jumps, copy, keeping a new question in view); it also adds CSS when
# the host did not pass it to launch()/mount_gradio_app().
LOAD_JS = (STATIC / "qa.js").read_text(encoding="utf-8").replace("__QA_CSS__", json.dumps(CSS))


def build_app(qa: QA, examples: Iterable[str] = EXAMPLES) -> gr.Blocks:
    """The app over `qa`: a Chat tab and a Corpus tab, plus the `/ask` API. Serve it with
    `css=CSS` (launch or mount_gradio_app); the page also adds the styles itself if they are missing."""
    examples = list(examples)

    def status_line() -> str:
        try:
            return format_status(qa.status())
        except Exception:
            log.exception("Reading the index status failed")
            return TAGLINE

    def corpus_view(selected: str | None = None) -> tuple[Any, ...]:
        """(chat header, corpus status, table, article dropdown) as they are now."""
        try:
            articles, counts, status = qa.articles(), qa.passage_counts(), qa.status()
        except Exception:
            log.exception("Reading the corpus failed")
            return TAGLINE, '<div id="qa-corpus-status">The index cannot be read; see the server log.</div>', [], gr.update()
        choices = article_choices(articles)
        ids = {value for _, value in choices}
        return (
            format_status(status),
            format_corpus_status(status),
            article_rows(articles, counts),
            gr.update(choices=choices, value=selected if selected in ids else None),
        )

    def respond(question: str, messages: list[Any], turns: list[Turn]):
        yield from chat_stream(qa, question, messages, turns)

    def respond_example(event: gr.SelectData, messages: list[Any], turns: list[Turn]):
        value = event.value
        text = value.get("text", "") if isinstance(value, dict) else str(value or "")
        yield from chat_stream(qa, text, messages, turns)

    def retry(messages: list[Any], turns: list[Turn]):
        yield from retry_stream(qa, messages, turns)

    def upload(files: list[str] | None, progress=gr.Progress()):
        lines = add_files(qa, files, lambda fraction, description: progress(fraction, desc=description))
        try:
            title = upload_title(lines, qa.status())
        except Exception:
            title = ""
        return (format_report(lines, title), None, *corpus_view())

    def refresh(progress=gr.Progress()):
        lines = reindex(qa, lambda fraction, description: progress(fraction, desc=description))
        return (format_report(lines), *corpus_view())

    def remove(article_id: str | None):
        lines = remove_article(qa, article_id)
        return (format_report(lines), *corpus_view())

    def choose_row(event: gr.SelectData):
        row = getattr(event, "row_value", None) or []
        return gr.update(value=row[-1]) if row else gr.update()

    def ask(question: str) -> dict:
        return ask_json(qa, question)

    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        with gr.Column(elem_classes="qa-header"):
            gr.Markdown(f"# {TITLE}")
            header = gr.Markdown(status_line(), elem_id="qa-status")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat", elem_id="qa-chat-tab"):
                chatbot = gr.Chatbot(
                    value=[],
                    label="Chat",
                    show_label=False,
                    elem_id="qa-chat",
                    height="62vh",
                    min_height=360,
                    latex_delimiters=[],
                    render_markdown=False,
                    buttons=[],  # Gradio's copy buttons would copy the HTML; each answer has its own
                    feedback_options=None,
                    sanitize_html=True,
                    allow_tags=False,
                    layout="panel",
                    autoscroll=False,  # the page script scrolls each new question to the top instead
                    placeholder="**Ask a question about your articles.** Every answer quotes them and cites its sources; "
                    "when they do not answer, it says so.",
                    examples=[{"text": q} for q in examples] or None,
                )
                turns = gr.State([])
                with gr.Row(equal_height=True):
                    box = gr.Textbox(
                        placeholder="Ask a question — Enter to send",
                        elem_id="qa-question",
                        show_label=False,
                        container=False,
                        lines=1,
                        max_lines=5,
                        autofocus=True,
                        scale=8,
                    )
                    ask_button = gr.Button("Ask", variant="primary", scale=1, min_width=90, elem_id="qa-ask")
                with gr.Row():
                    retry_button = gr.Button("↻ Ask again", size="sm", variant="secondary", elem_id="qa-retry", scale=0, min_width=120)
                    clear_button = gr.Button("Clear chat", size="sm", variant="secondary", elem_id="qa-clear", scale=0, min_width=120)
                    gr.HTML(
                        '<span class="qa-hint">Follow-up questions use the conversation. Click a number to see its source.</span>',
                        padding=False,
                    )

            with gr.Tab("Corpus", id="corpus", elem_id="qa-corpus-tab"):
                corpus_status = gr.HTML(elem_id="qa-corpus-status-box")
                with gr.Row():
                    with gr.Column(scale=2):
                        files = gr.File(
                            label="Add articles (" + " ".join(ACCEPTED) + ")",
                            file_count="multiple",
                            file_types=ACCEPTED,
                            elem_id="qa-upload",
                            height=140,
                        )
                    with gr.Column(scale=1):
                        chosen = gr.Dropdown(
                            choices=[], value=None, label="Article to remove", elem_id="qa-remove-choice", filterable=True,
                            info="Or click its row in the table.",
                        )
                        with gr.Row():
                            remove_button = gr.Button("Remove from index", variant="stop", size="sm", elem_id="qa-remove")
                            reindex_button = gr.Button("Re-index folder", variant="secondary", size="sm", elem_id="qa-reindex")
                report = gr.HTML(elem_id="qa-report")
                table = gr.Dataframe(
                    headers=TABLE_HEADERS,
                    datatype=["str", "str", "str", "number", "str"],
                    value=[],
                    interactive=False,
                    wrap=True,
                    max_height=480,
                    show_search="filter",
                    column_widths=["44%", "12%", "26%", "8%", "10%"],
                    label="Indexed articles",
                    elem_id="qa-articles",
                )

        hidden = dict(api_visibility="private")
        turn_io = dict(inputs=[box, chatbot, turns], outputs=[box, chatbot, turns], show_progress="hidden", **hidden)
        box.submit(respond, **turn_io)
        ask_button.click(respond, **turn_io)
        chatbot.example_select(respond_example, inputs=[chatbot, turns], outputs=[box, chatbot, turns], show_progress="hidden", **hidden)
        retry_io = dict(inputs=[chatbot, turns], outputs=[box, chatbot, turns], show_progress="hidden", **hidden)
        retry_button.click(retry, **retry_io)
        chatbot.retry(retry, **retry_io)
        clear_button.click(lambda: ("", [], []), outputs=[box, chatbot, turns], queue=False, **hidden)
        chatbot.clear(lambda: [], outputs=[turns], queue=False, **hidden)

        view = [header, corpus_status, table, chosen]
        files.upload(upload, inputs=[files], outputs=[report, files, *view], show_progress_on=[report], **hidden)
        reindex_button.click(refresh, outputs=[report, *view], show_progress_on=[report], **hidden)
        remove_button.click(remove, inputs=[chosen], outputs=[report, *view], **hidden)
        table.select(choose_row, outputs=[chosen], queue=False, **hidden)

        app.load(lambda: corpus_view(), outputs=view, queue=False, **hidden)
        app.load(None, js=LOAD_JS, **hidden)

        gr.api(ask, api_name="ask", api_description="Answer a question from the articles; returns the answer with its citations as JSON.")
    return app
