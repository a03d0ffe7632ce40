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
from ..web_policy import received_uploads  # noqa: E402
from .chat import Conversation, ask_json, drain, export_folder  # noqa: E402
from .corpus import add_files, reindex, remove_article, restore_article  # noqa: E402
from .render import (  # noqa: E402
    TAGLINE,
    article_choices,
    article_rows,
    escape,
    format_corpus_status,
    format_removed,
    format_report,
    format_search_results,
    format_status,
    shorten,
    upload_title,
)

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
TITLE = "Ask the articles"
EXAMPLES = 3  # example questions shown in an empty chat, made from the loaded articles
HINT = "Follow-up questions use the conversation. Click a number to see its source."
ACCEPTED = sorted(SUPPORTED_EXTENSIONS)
TABLE_HEADERS = ["Title", "Date", "Origin", "Passages", "ID"]
CSS = (STATIC / "qa.css").read_text(encoding="utf-8")
# Installed once per page (badge jumps, copy, keeping a new question in view); it also adds CSS when
# the host did not pass it to launch()/mount_gradio_app().
LOAD_JS = (STATIC / "qa.js").read_text(encoding="utf-8").replace("__QA_CSS__", json.dumps(CSS))


def build_app(qa: QA, examples: Iterable[str] | None = None) -> gr.Blocks:
    """The app over `qa`: a Chat tab and a Corpus tab, plus the `/ask` API. Serve it with
    `css=CSS` (launch or mount_gradio_app); the page also adds the styles itself if they are missing.
    `examples` defaults to questions made from the loaded articles (`QA.example_questions`)."""
    fixed = None if examples is None else list(examples)

    def example_list() -> list[dict[str, str]] | None:
        try:
            questions = fixed if fixed is not None else qa.example_questions(EXAMPLES)
        except Exception:
            log.exception("Making example questions failed")
            questions = []
        return [{"text": q} for q in questions] or None

    def status_line() -> str:
        try:
            return format_status(qa.status())
        except Exception:
            log.exception("Reading the index status failed")
            return TAGLINE

    def corpus_view(selected: str | None = None) -> tuple[Any, ...]:
        """(chat header, corpus status, table, article to remove, articles to ask within, removed
        articles, article to restore, chat examples) as they are now."""
        try:
            articles, counts, status = qa.articles(), qa.passage_counts(), qa.status()
            removed = qa.removed_articles()
        except Exception:
            log.exception("Reading the corpus failed")
            unreadable = '<div id="qa-corpus-status">The index cannot be read; see the server log.</div>'
            return (TAGLINE, unreadable, [], gr.update(), gr.update(), "", gr.update(), gr.update())
        choices = article_choices(articles)
        ids = {value for _, value in choices}
        return (
            format_status(status),
            format_corpus_status(status),
            article_rows(articles, counts),
            gr.update(choices=choices, value=selected if selected in ids else None),
            gr.update(choices=choices),
            format_removed(removed),
            gr.update(choices=article_choices(removed), value=None, visible=bool(removed)),
            gr.update(examples=example_list()),
        )

    # ------------------------------------------------------------ chat steps
    def enqueue(question: str, conversation: Conversation, scope: list[str] | None):
        if conversation.enqueue(question, scope) is None:
            gr.Warning("Please type a question.")
            return gr.update(), conversation.messages(qa)
        return "", conversation.messages(qa)

    def enqueue_example(event: gr.SelectData, conversation: Conversation, scope: list[str] | None):
        value = event.value
        conversation.enqueue(value.get("text", "") if isinstance(value, dict) else str(value or ""), scope)
        return conversation.messages(qa)

    def enqueue_option(event: gr.SelectData, conversation: Conversation, scope: list[str] | None):
        conversation.enqueue(str(event.value or ""), scope)
        return conversation.messages(qa)

    def answer_waiting(conversation: Conversation):
        for messages in drain(qa, conversation):
            yield messages, gr.update()
        if conversation.turns and not conversation.busy:
            folder = getattr(conversation, "export_dir", None) or export_folder()
            conversation.export_dir = folder
            yield conversation.messages(qa), gr.update(value=str(conversation.export(folder)), interactive=True)

    def retry(conversation: Conversation):
        if conversation.retry() is None:
            gr.Warning("Nothing to ask again yet." if not conversation.turns else "Wait for the answer in progress.")
        return conversation.messages(qa)

    def clear(conversation: Conversation):
        conversation.clear()
        return [], gr.update(value=None, interactive=False)

    def like(event: gr.LikeData, conversation: Conversation):
        index = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        turn = conversation.turn_at(int(index))
        if turn is None or turn.answer is None:
            return
        liked = event.liked if isinstance(event.liked, bool) else None
        try:
            qa.feedback.record_answer(turn.answer, liked, comment=None if liked is not None else str(event.liked or ""))
        except OSError:
            log.exception("Keeping feedback failed")
            gr.Warning("The feedback could not be saved; see the server log.")
            return
        gr.Info("Thanks: your feedback is kept with the index." if liked is not None else "Feedback withdrawn.")

    # ------------------------------------------------------------ corpus steps
    def upload(files: list[str] | None, progress=gr.Progress()):
        files, refused = received_uploads(app.upload_file_set, files)  # never a path Gradio did not receive
        lines = [(False, f"Not added: {name}", "it was not uploaded through this page") for name in refused]
        lines += add_files(qa, files, lambda fraction, description: progress(fraction, desc=description))
        try:
            title = upload_title(lines, qa.status())
        except Exception:
            title = ""
        return (format_report(lines, title), None, *corpus_view())

    def refresh(progress=gr.Progress()):
        lines = reindex(qa, lambda fraction, description: progress(fraction, desc=description))
        return (format_report(lines), *corpus_view())

    def confirm_removal(article_id: str | None):
        if not article_id:
            return format_report([(False, "Nothing removed", "choose an article first")]), gr.update(visible=False), ""
        try:
            article = qa.article(article_id)
        except KeyError:
            return format_report([(False, "Nothing removed", "that article is no longer in the index")]), gr.update(visible=False), ""
        question = (
            f"<p>Remove “{escape(shorten(article.title or article.path, 120))}” from the index? Its file "
            f"<code>{escape(article.path)}</code> stays in the corpus folder, listed below, and can be restored.</p>"
        )
        return "", gr.update(visible=True), question

    def remove(article_id: str | None):
        lines = remove_article(qa, article_id)
        return (format_report(lines), gr.update(visible=False), *corpus_view())

    def restore(article_id: str | None):
        lines = restore_article(qa, article_id)
        return (format_report(lines), *corpus_view())

    def search(query: str):
        if not (query or "").strip():
            return ""
        try:
            return format_search_results(query, qa.search(query, k=8))
        except ValueError as error:
            return format_report([(False, "Cannot search", str(error))])

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
                    feedback_options=("Like", "Dislike"),
                    sanitize_html=True,
                    allow_tags=False,
                    layout="panel",
                    autoscroll=False,  # the page script scrolls each new question to the top instead
                    placeholder="**Ask a question about your articles.** Every answer quotes them and cites its sources; "
                    "when they do not answer, it says so.",
                    examples=example_list(),
                )
                conversation = gr.State(Conversation())
                with gr.Row(equal_height=True, elem_classes="qa-ask-row"):
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
                with gr.Row(elem_classes="qa-actions"):
                    retry_button = gr.Button("↻ Ask again", size="sm", variant="secondary", elem_id="qa-retry", scale=0, min_width=110)
                    clear_button = gr.Button("Clear chat", size="sm", variant="secondary", elem_id="qa-clear", scale=0, min_width=110)
                    download = gr.DownloadButton(
                        "Export (.md)", size="sm", variant="secondary", elem_id="qa-export", scale=0, min_width=110, interactive=False
                    )
                gr.Markdown(HINT, elem_classes="qa-hint")
                with gr.Accordion("Ask within chosen articles", open=False, elem_id="qa-scope-box"):
                    scope = gr.Dropdown(
                        choices=[], value=[], multiselect=True, label="Only these articles", elem_id="qa-scope",
                        info="Leave empty to ask all articles.",
                    )

            with gr.Tab("Corpus", id="corpus", elem_id="qa-corpus-tab"):
                corpus_status = gr.HTML(elem_id="qa-corpus-status-box")
                with gr.Row():
                    with gr.Column(scale=2, min_width=280):
                        files = gr.File(
                            label="Add articles (" + " ".join(ACCEPTED) + ")",
                            file_count="multiple",
                            file_types=ACCEPTED,
                            elem_id="qa-upload",
                            height=140,
                        )
                    with gr.Column(scale=1, min_width=280):
                        chosen = gr.Dropdown(
                            choices=[], value=None, label="Article to remove", elem_id="qa-remove-choice", filterable=True,
                            info="Or click its row in the table.",
                        )
                        with gr.Row():
                            remove_button = gr.Button("Remove from index…", variant="stop", size="sm", elem_id="qa-remove")
                            reindex_button = gr.Button("Re-index folder", variant="secondary", size="sm", elem_id="qa-reindex")
                        with gr.Group(visible=False, elem_id="qa-confirm") as confirm_box:
                            confirm_text = gr.HTML()
                            with gr.Row():
                                confirm_button = gr.Button("Yes, remove it", variant="stop", size="sm", elem_id="qa-remove-yes")
                                cancel_button = gr.Button("Cancel", size="sm", elem_id="qa-remove-cancel")
                report = gr.HTML(elem_id="qa-report")
                removed_list = gr.HTML(elem_id="qa-removed")
                with gr.Row():
                    restore_choice = gr.Dropdown(choices=[], value=None, label="Removed article to restore", elem_id="qa-restore-choice", visible=False)
                    restore_button = gr.Button("Restore to index", size="sm", elem_id="qa-restore", scale=0, min_width=140)
                query = gr.Textbox(
                    label="Search the articles", placeholder="Words or a question — Enter to search", elem_id="qa-search", lines=1
                )
                results = gr.HTML(elem_id="qa-search-results")
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
        answering = dict(fn=answer_waiting, inputs=[conversation], outputs=[chatbot, download], show_progress="hidden",
                         trigger_mode="always_last", **hidden)
        sending = dict(inputs=[box, conversation, scope], outputs=[box, chatbot], queue=False, trigger_mode="multiple", **hidden)
        box.submit(enqueue, **sending).then(**answering)
        ask_button.click(enqueue, **sending).then(**answering)
        chatbot.example_select(enqueue_example, inputs=[conversation, scope], outputs=[chatbot], queue=False, **hidden).then(**answering)
        chatbot.option_select(enqueue_option, inputs=[conversation, scope], outputs=[chatbot], queue=False, **hidden).then(**answering)
        retry_button.click(retry, inputs=[conversation], outputs=[chatbot], queue=False, **hidden).then(**answering)
        clear_button.click(clear, inputs=[conversation], outputs=[chatbot, download], queue=False, **hidden)
        chatbot.like(like, inputs=[conversation], **hidden)

        view = [header, corpus_status, table, chosen, scope, removed_list, restore_choice, chatbot]
        files.upload(upload, inputs=[files], outputs=[report, files, *view], show_progress_on=[report], **hidden)
        reindex_button.click(refresh, outputs=[report, *view], show_progress_on=[report], **hidden)
        remove_button.click(confirm_removal, inputs=[chosen], outputs=[report, confirm_box, confirm_text], queue=False, **hidden)
        confirm_button.click(remove, inputs=[chosen], outputs=[report, confirm_box, *view], **hidden)
        cancel_button.click(lambda: gr.update(visible=False), outputs=[confirm_box], queue=False, **hidden)
        restore_button.click(restore, inputs=[restore_choice], outputs=[report, *view], **hidden)
        query.submit(search, inputs=[query], outputs=[results], **hidden)
        table.select(choose_row, outputs=[chosen], queue=False, **hidden)

        app.load(lambda: corpus_view(), outputs=view, **hidden)
        app.load(None, js=LOAD_JS, **hidden)

        gr.api(ask, api_name="ask", api_description="Answer a question from the articles; returns the answer with its citations as JSON.")
    return app
