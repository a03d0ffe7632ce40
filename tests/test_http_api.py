"""The JSON API and authentication. Mostly over real HTTP against `python app.py` in a subprocess
(marked slow): answers with citations that point into the article text, abstentions, 400s for bad
requests, uploads (several files, path traversal, size limit, unsupported type), removal, Gradio's
`/ask` alongside, and HTTP Basic authentication on every route. A few in-process checks of error
replies (no paths, no tracebacks) and of the authentication middleware run without a server."""
from __future__ import annotations

import base64
import os
from typing import Iterator

import pytest
import requests

from conftest import ROOT
from running_app import Served, serve

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # gradio_client's telemetry
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
from samples import NEWS_HTML

TRADE = "How large was bilateral trade between Georgia and Russia in the first half of 2025?"
OFF_TOPIC = "What is the capital of France?"
USER, PASSWORD = "alice", "secret"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app without authentication, with a 1 MB upload limit."""
    yield from serve(tmp_path_factory.mktemp("http-api"), "--max-upload-mb", "1")


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app behind `--auth alice:secret`."""
    yield from serve(tmp_path_factory.mktemp("http-auth"), "--auth", f"{USER}:{PASSWORD}", auth=(USER, PASSWORD))


def ask(app: Served, question: str, **fields) -> dict:
    response = requests.post(app.api("ask"), json={"question": question, **fields}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def upload(app: Served, *files: tuple[str, bytes]) -> requests.Response:
    return requests.post(app.api("articles"), files=[("files", f) for f in files], timeout=60)


def article_ids(app: Served) -> set[str]:
    response = requests.get(app.api("articles"), timeout=10)
    assert response.status_code == 200, response.text
    return {a["id"] for a in response.json()}


def assert_error(response: requests.Response, status: int, app: Served | None = None) -> str:
    """The response is `{"error": message}` with `status`, and the message leaks no path or traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert "Traceback" not in response.text
    if app is not None:
        assert str(app.base) not in response.text and str(ROOT) not in response.text
    return body["error"]


# ------------------------------------------------------------------ asking
@pytest.mark.slow
def test_health(app: Served) -> None:
    body = requests.get(app.api("health"), timeout=10).json()
    assert body["status"] == "ok"
    assert body["articles"] >= 1 and body["passages"] >= 1
    assert body["corpus"] == "corpus"  # the folder's name, not where it is
    assert str(app.base) not in str(body)


@pytest.mark.slow
def test_answer_cites_sentences_that_are_in_the_article(app: Served) -> None:
    answer = ask(app, TRADE, top_k=2)
    assert not answer["abstained"], answer
    assert "$1.3 billion" in answer["text"]
    assert 0 < answer["confidence"] <= 1
    assert answer["citations"] and "[1]" in answer["text"]
    assert 1 <= len(answer["related"]) <= 2
    listed = {a["id"]: a for a in requests.get(app.api("articles"), timeout=10).json()}
    for citation in answer["citations"]:
        assert citation["quote"] and citation["quote"] in citation["passage"]
        offset = citation["start"] - citation["passage_start"]
        assert citation["passage"][offset : offset + len(citation["quote"])] == citation["quote"]
        assert citation["end"] - citation["start"] == len(citation["quote"])
        article = requests.get(app.api(f"articles/{citation['article_id']}"), timeout=10).json()
        assert article["text"][citation["start"] : citation["end"]] == citation["quote"]
        start = citation["passage_start"]
        assert article["text"][start : start + len(citation["passage"])] == citation["passage"]
        assert article["title"] == citation["title"]
        summary = listed[citation["article_id"]]
        assert "text" not in summary and summary["passages"] >= 1 and summary["characters"] == len(article["text"])


@pytest.mark.slow
def test_off_topic_question_is_not_answered(app: Served) -> None:
    answer = ask(app, OFF_TOPIC)
    assert answer["abstained"], answer
    assert answer["citations"] == []


@pytest.mark.slow
def test_history_as_pairs_or_messages(app: Served) -> None:
    pairs = ask(app, "And what does it import?", history=[["What does Georgia export to Russia?", "Wine, mineral water."]])
    messages = ask(
        app,
        "And what does it import?",
        history=[{"role": "user", "content": "What does Georgia export to Russia?"}, {"role": "assistant", "content": "Wine."}],
    )
    assert pairs["text"] == messages["text"]
    assert "natural gas" in pairs["text"], pairs


BAD_ASKS = {
    "empty question": {"json": {"question": ""}},
    "blank question": {"json": {"question": " \n\t "}},
    "100,000-character question": {"json": {"question": "trade " * 16_667}},
    "question not text": {"json": {"question": 42}},
    "no question": {"json": {"history": []}},
    "unknown field": {"json": {"question": "Trade?", "questoin": "x"}},
    "not an object": {"json": ["How large was trade?"]},
    "bad JSON": {"data": b'{"question": "How large', "headers": {"Content-Type": "application/json"}},
    "empty body": {"data": b"", "headers": {"Content-Type": "application/json"}},
    "top_k 0": {"json": {"question": "Trade?", "top_k": 0}},
    "top_k 1000": {"json": {"question": "Trade?", "top_k": 1000}},
    "top_k text": {"json": {"question": "Trade?", "top_k": "5"}},
    "top_k boolean": {"json": {"question": "Trade?", "top_k": True}},
    "history not a list": {"json": {"question": "Trade?", "history": "earlier"}},
    "history of numbers": {"json": {"question": "Trade?", "history": [[1, 2]]}},
}


@pytest.mark.slow
@pytest.mark.parametrize("request_kwargs", BAD_ASKS.values(), ids=BAD_ASKS.keys())
def test_bad_questions_are_400_with_a_message(app: Served, request_kwargs: dict) -> None:
    response = requests.post(app.api("ask"), timeout=30, **request_kwargs)
    assert_error(response, 400, app)


@pytest.mark.slow
def test_error_messages_say_what_to_change(app: Served) -> None:
    long = requests.post(app.api("ask"), json={"question": "x" * 100_000}, timeout=30)
    assert "too long" in assert_error(long, 400)
    top_k = requests.post(app.api("ask"), json={"question": "Trade?", "top_k": 0}, timeout=30)
    assert "1 to 20" in assert_error(top_k, 400)
    wrong_method = requests.get(app.api("ask"), timeout=10)
    assert "POST" in assert_error(wrong_method, 405)
    assert_error(requests.get(app.api("nothing-here"), timeout=10), 404)


@pytest.mark.slow
def test_cross_site_writes_are_refused(app: Served) -> None:
    response = requests.post(app.api("ask"), json={"question": TRADE}, headers={"Origin": "https://evil.example"}, timeout=30)
    assert_error(response, 403)
    same = requests.post(app.api("ask"), json={"question": TRADE}, headers={"Origin": app.url.rstrip("/")}, timeout=30)
    assert same.status_code == 200, same.text


# ------------------------------------------------------------------ uploads and removal
LAKE_TXT = (
    b"Lake Zoranth festival report\n\n"
    b"The Lake Zoranth lantern festival drew 42,000 visitors in August 2025, the organisers said. "
    b"Boats decorated with paper lanterns crossed the lake at midnight.\n"
)


@pytest.mark.slow
def test_upload_txt_and_html_then_ask_about_them(app: Served) -> None:
    response = upload(app, ("lake.txt", LAKE_TXT), ("bridge.html", NEWS_HTML.encode("utf-8")))
    assert response.status_code == 200, response.text
    reports = response.json()
    assert [r["file"] for r in reports] == ["lake.txt", "bridge.html"]
    lake, bridge = (r["articles"][0] for r in reports)
    assert reports[0]["added"] == [lake["id"]] and reports[1]["added"] == [bridge["id"]]
    assert bridge["title"] == "City Council Approves New River Bridge" and bridge["date"] and bridge["passages"] >= 1
    assert {lake["id"], bridge["id"]} <= article_ids(app)
    assert (app.corpus / "lake.txt").read_bytes() == LAKE_TXT

    visitors = ask(app, "How many visitors did the Lake Zoranth lantern festival draw?")
    assert not visitors["abstained"] and "42,000" in visitors["text"], visitors
    assert visitors["citations"][0]["article_id"] == lake["id"]

    vote = ask(app, "How did the city council vote on the Alder River bridge?")
    assert not vote["abstained"] and "seven to two" in vote["text"], vote
    assert vote["citations"][0]["article_id"] == bridge["id"]
    assert vote["citations"][0]["url"] == "https://news.example.com/2024/03/05/river-bridge"


@pytest.mark.slow
def test_upload_with_a_path_in_its_name_stays_in_the_corpus(app: Served) -> None:
    text = b"Evil traversal note\n\nThe Brackenridge orchard harvested 900 tonnes of quinces in 2024.\n"
    response = upload(app, ("../../evil.txt", text))
    assert response.status_code == 200, response.text
    [report] = response.json()
    assert report["file"] == "evil.txt" and report["articles"][0]["path"] == "evil.txt"
    assert (app.corpus / "evil.txt").read_bytes() == text
    for outside in (app.corpus.parent, app.corpus.parent.parent, ROOT):
        assert not (outside / "evil.txt").exists()


@pytest.mark.slow
def test_upload_over_the_limit_is_413(app: Served) -> None:
    before = article_ids(app)
    big = b"Big article\n\n" + b"A sentence about nothing in particular. " * 40_000  # 1.6 MB, limit 1 MB
    message = assert_error(upload(app, ("big.txt", big)), 413, app)
    assert "limit" in message
    # Just over the limit, within one request's allowance: refused by the per-file check.
    near = b"Near article\n\n" + b"x" * 1_010_000
    assert_error(upload(app, ("near.txt", near)), 413, app)
    assert not (app.corpus / "big.txt").exists() and not (app.corpus / "near.txt").exists()
    assert article_ids(app) == before


@pytest.mark.slow
def test_unsupported_or_missing_files_are_refused(app: Served) -> None:
    message = assert_error(upload(app, ("tool.exe", b"MZ\x90\x00binary")), 415, app)
    assert "unsupported file type" in message and ".txt" in message
    assert not list(app.corpus.glob("tool*"))
    assert_error(upload(app, ("empty.txt", b"")), 400, app)
    assert_error(requests.post(app.api("articles"), files={"other": ("a.txt", b"Text\n\nMore text.")}, timeout=30), 400, app)
    assert_error(requests.post(app.api("articles"), json={"files": []}, timeout=30), 400, app)


@pytest.mark.slow
def test_removed_article_is_no_longer_used(app: Served) -> None:
    text = b"Observatory news\n\nAstronomers at the Quillfeather Observatory discovered the comet Vasquez-Ito in March 2024.\n"
    response = upload(app, ("observatory.txt", text))
    assert response.status_code == 200, response.text
    article_id = response.json()[0]["added"][0]
    question = "Which comet did astronomers at the Quillfeather Observatory discover?"
    found = ask(app, question)
    assert not found["abstained"] and "Vasquez-Ito" in found["text"], found

    removed = requests.delete(app.api(f"articles/{article_id}"), timeout=60)
    assert removed.status_code == 200, removed.text
    assert removed.json()["id"] == article_id and removed.json()["path"] == "observatory.txt"
    assert article_id not in article_ids(app)
    assert_error(requests.get(app.api(f"articles/{article_id}"), timeout=10), 404)
    after = ask(app, question)
    assert after["abstained"], after
    assert all(c["article_id"] != article_id for c in after["citations"])
    assert_error(requests.delete(app.api(f"articles/{article_id}"), timeout=10), 404)


@pytest.mark.slow
def test_unknown_article_is_404(app: Served) -> None:
    assert_error(requests.delete(app.api("articles/0123456789ab"), timeout=10), 404)
    assert_error(requests.get(app.api("articles/0123456789ab"), timeout=10), 404)


# ------------------------------------------------------------------ the chat and Gradio's API alongside
@pytest.mark.slow
def test_chat_page_and_gradio_ask_endpoint(app: Served) -> None:
    from gradio_client import Client

    page = requests.get(app.url, timeout=10)
    assert page.status_code == 200 and "<html" in page.text.lower()
    answer = Client(app.url, verbose=False).predict(TRADE, api_name="/ask")
    assert "$1.3 billion" in answer["text"] and not answer["abstained"]


# ------------------------------------------------------------------ authentication
def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


ROUTES = [
    ("GET", ""),
    ("GET", "api/health"),
    ("GET", "api/articles"),
    ("POST", "api/ask"),
    ("GET", "gradio_api/info"),
    ("GET", "config"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} /{p}" for m, p in ROUTES])
def test_every_route_needs_the_credentials(secured: Served, method: str, path: str) -> None:
    url = secured.url + path
    body = {"json": {"question": TRADE}} if method == "POST" else {}
    for headers in ({}, basic(USER, "wrong"), basic("bob", PASSWORD), {"Authorization": "Bearer secret"}, {"Authorization": "Basic !!!"}):
        refused = requests.request(method, url, headers=headers, timeout=30, **body)
        assert refused.status_code == 401, (headers, refused.text)
        assert refused.headers["WWW-Authenticate"].startswith('Basic realm="qa"')
        assert set(refused.json()) == {"error"}
    allowed = requests.request(method, url, headers=basic(USER, PASSWORD), timeout=60, **body)
    assert allowed.status_code == 200, allowed.text
    also = requests.request(method, url, auth=(USER, PASSWORD), timeout=60, **body)  # as curl -u sends it
    assert also.status_code == 200, also.text


@pytest.mark.slow
def test_uploads_and_removal_need_the_credentials(secured: Served) -> None:
    files = [("files", ("secret.txt", b"Secret note\n\nThe vault code is written nowhere.\n"))]
    assert requests.post(secured.api("articles"), files=files, timeout=30).status_code == 401
    assert not (secured.corpus / "secret.txt").exists()
    assert requests.delete(secured.api("articles/0123456789ab"), timeout=30).status_code == 401


@pytest.mark.slow
def test_gradio_client_with_the_authorization_header(secured: Served) -> None:
    from gradio_client import Client

    client = Client(secured.url, headers=basic(USER, PASSWORD), verbose=False)
    answer = client.predict(TRADE, api_name="/ask")
    assert "$1.3 billion" in answer["text"]
    with pytest.raises(Exception):
        Client(secured.url, verbose=False)


# ------------------------------------------------------------------ in process, no server
class BrokenQA:
    """A stand-in for QA whose calls fail the way a disk or a reader can."""

    class settings:
        max_upload_bytes = 1000

    def ask(self, question, history=None, top_k=None):
        raise OSError(f"[Errno 5] Input/output error: '{ROOT}/secret/index/vectors.npy'")

    def add_upload(self, filename, data):
        raise ValueError(f"Cannot add {filename}: cannot read /tmp/qa-upload-x1/{filename}")

    def status(self):
        return {"articles": 0, "passages": 0, "corpus": "/srv/private/corpus", "index_dir": "/srv/private/.corpus.qa-index"}


def test_failures_are_json_without_paths_or_tracebacks() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from qa.http_api import build_router

    app = FastAPI()
    app.include_router(build_router(BrokenQA()))
    client = TestClient(app, raise_server_exceptions=False)
    failed = client.post("/api/ask", json={"question": "Trade?"})
    assert failed.status_code == 500 and set(failed.json()) == {"error"}
    assert "log" in failed.json()["error"] and str(ROOT) not in failed.text and "Errno" not in failed.text
    refused = client.post("/api/articles", files={"files": ("a.txt", b"Text")})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "Cannot add a.txt: cannot read a.txt"
    too_big = client.post("/api/articles", files={"files": ("a.txt", b"x" * 1001)})
    assert too_big.status_code == 413, too_big.text
    health = client.get("/api/health").json()
    assert health == {"status": "ok", "articles": 0, "passages": 0, "corpus": "corpus", "index_dir": ".corpus.qa-index"}


def test_basic_auth_middleware_accepts_only_the_exact_credentials() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from qa.server import BasicAuthMiddleware, basic_auth_header

    app = FastAPI()
    app.get("/x")(lambda: {"ok": True})
    app.add_middleware(BasicAuthMiddleware, user="alice", password="pa:ss wörd")
    client = TestClient(app)
    assert client.get("/x", headers={"Authorization": basic_auth_header("alice", "pa:ss wörd")}).json() == {"ok": True}
    for header in (None, basic_auth_header("alice", "pa:ss"), basic_auth_header("alicе", "pa:ss wörd"), "Basic", "Basic ===", "Digest abc"):
        response = client.get("/x", headers={"Authorization": header} if header else {})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith('Basic realm="qa"')
