"""`paperboy migrate-data`: SQLite -> PostgreSQL (and back) with every table, resumable, verified;
the site works on the target afterwards; a pg_dump/pg_restore drill of the migrated database."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from sqlalchemy import func, insert, select, text

from community_helpers import login, make_user
from conftest import run_cli
from paperboy.http.site import site_of
from paperboy.store import migrate as migrate_module
from paperboy.store.db import make_engine
from paperboy.store.migrate import MigrationError, copy_order, migrate_data
from paperboy.store.schema import (
    api_tokens,
    authorship_claims,
    backfill_state,
    comments,
    digest_deliveries,
    harvest_checkpoints,
    job_runs,
    papers,
    request_slots,
    sessions,
    site_state,
    subscribers,
    users,
    votes,
)

NOW = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.timezone.utc)


def populate(engine) -> None:
    """Community, mail, digest, search and job rows on top of the corpus slice: every table has some."""
    from paperboy.community.comments import post_comment
    from paperboy.community.audit import record
    from paperboy.community.votes import vote
    from paperboy.mail.outbox import enqueue
    from paperboy.search.vectors import store_embeddings

    people = [make_user(engine, name, admin=(name == "ada")) for name in ("ada", "bob", "chloe", "dmitri")]
    with engine.begin() as conn:
        ids = [a for (a,) in conn.execute(select(papers.c.arxiv_id).order_by(papers.c.id).limit(12))]
        pids = [p for (p,) in conn.execute(select(papers.c.id).order_by(papers.c.id).limit(300))]
        for i, person in enumerate(people):
            for arxiv_id in ids[i : i + 6]:
                vote(conn, person.id, arxiv_id, True)
            post_comment(conn, person.id, ids[i], f"Comment {i} by {person.username}: see https://example.org/{i}")
        record(conn, people[0].id, "hide_paper", ids[0], "test")
        conn.execute(insert(authorship_claims).values(paper_id=pids[0], user_id=people[1].id, author_position=0, status="pending", created_at=NOW))
        conn.execute(insert(api_tokens).values(user_id=people[1].id, name="laptop", prefix="pb_abc", token_hash="f" * 64, scope="read", created_at=NOW))
        conn.execute(insert(sessions).values(token_hash="e" * 64, user_id=people[2].id, created_at=NOW, expires_at=NOW + dt.timedelta(days=30)))
        for n, email in enumerate(["reader@example.org", "Other.Reader@example.org", "zoë@example.org"]):
            sid = conn.execute(
                insert(subscribers).values(email=email, email_key=email.lower(), status="active", frequency="daily", trending_count=10,
                                           personal_count=5, keywords="transformers", created_at=NOW, user_id=people[n].id if n == 0 else None)
            ).inserted_primary_key[0]  # fmt: skip
            conn.execute(insert(digest_deliveries).values(subscriber_id=sid, paper_id=pids[n], edition="2026-06-30", created_at=NOW))
            enqueue(conn, key=f"digest:2026-06-30:sub:{sid}", to=email, subject="Your digest", text="Papers…", html="<p>Papers…</p>",
                    headers={"List-Unsubscribe": "<https://example.org/u>"})  # fmt: skip
        conn.execute(insert(harvest_checkpoints).values(key="oai:arXivRaw:cs:2026-06-01:", resumption_token="tok|1001", pages=3, records=2000, updated_at=NOW))
        conn.execute(insert(request_slots).values(service="arxiv-api", next_at=NOW))
        conn.execute(insert(job_runs).values(run_key="daily-ingest:2026-06-30", holder="w1", lease_until=NOW, status="done", started_at=NOW))
        conn.execute(insert(backfill_state).values(key="first-run", status="done", first_day=dt.date(2026, 6, 22), last_day=dt.date(2026, 6, 30),
                                                   from_date=dt.date(2026, 6, 21), days=7, categories="cs.CL,cs.LG", days_done=7,
                                                   papers=1900, pages=4, started_at=NOW, updated_at=NOW))  # fmt: skip
        rng = np.random.default_rng(7)
        vectors = rng.standard_normal((len(pids), 16)).astype("<f4")
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store_embeddings(conn, "test-model", [(pid, f"h{pid}", v) for pid, v in zip(pids, vectors)])
        conn.execute(site_state.update().where(site_state.c.key == "content").values(value=41))


@pytest.fixture
def source_url(tmp_path, slice_db):
    path = tmp_path / "source.db"
    path.write_bytes(slice_db.read_bytes())
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    populate(engine)
    engine.dispose()
    return url


def contents(url: str) -> dict[str, list[tuple]]:
    """Every table's rows, sorted in Python (the databases' own text orders may differ)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {t.name: sorted((tuple(r) for r in conn.execute(select(t))), key=repr) for t in copy_order()}
    finally:
        engine.dispose()


def test_every_table_is_copied_and_none_is_forgotten(source_url, postgres):
    target = postgres.create_database("migrate_all")
    result = migrate_data(source_url, target, batch=500)
    expected = contents(source_url)
    assert all(expected[t] for t in expected), f"the fixture leaves tables empty: {[t for t in expected if not expected[t]]}"
    assert contents(target) == expected
    assert result.ok and {t.table for t in result.tables} == set(expected)
    assert result.copied == sum(len(rows) for name, rows in expected.items() if name != "site_state")
    assert result.vectors_filled == 0  # written with the rows
    eng = make_engine(target)
    with eng.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM paper_embeddings WHERE embedding IS NOT NULL")).scalar() == 300
        # pgvector's copy is the same vector as the bytes
        blob, emb = conn.execute(text("SELECT vector, embedding::text FROM paper_embeddings ORDER BY seq LIMIT 1")).one()
        assert np.allclose(np.frombuffer(blob, "<f4"), json.loads(emb))
    eng.dispose()


def test_the_site_works_on_the_target_votes_count_and_new_ids_follow_the_copied_ones(source_url, postgres, tmp_path):
    from fastapi.testclient import TestClient

    from conftest import make_app
    from fake_embedder import FakeEmbedder
    from paperboy.search.indexer import rebuild_keyword_index
    from paperboy.search.factory import open_search

    target = postgres.create_database("migrate_site")
    migrate_data(source_url, target)
    worker = make_engine(target)
    rebuild_keyword_index(worker, tmp_path / "worker")  # `paperboy index` after the move (search indexes are not copied)
    worker.dispose()
    app = make_app(target, tmp_path, search=lambda e: open_search(e, tmp_path, embedder_loader=FakeEmbedder))
    with TestClient(app) as c:
        engine = site_of(app).engine
        assert "2606.30212" in c.get("/search", params={"q": "symbol pair distance constacyclic codes"}).text
        with engine.connect() as conn:
            arxiv_id, before = conn.execute(select(papers.c.arxiv_id, papers.c.upvotes).order_by(papers.c.id).offset(20).limit(1)).one()
            max_comment = conn.execute(select(func.max(comments.c.id))).scalar()
            max_user = conn.execute(select(func.max(users.c.id))).scalar()
        assert login(c, "bob").status_code == 303  # the password hash came along
        page = c.get(f"/papers/{arxiv_id}")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        r = c.post(f"/papers/{arxiv_id}/vote", data={"up": "1", "csrf_token": token}, follow_redirects=False)
        assert r.status_code in (200, 303), r.text
        r = c.post(f"/papers/{arxiv_id}/comments", data={"body": "Written after the move", "csrf_token": token}, follow_redirects=False)
        assert r.status_code in (200, 303), r.text
        newcomer = make_user(engine, "newcomer")
        with engine.connect() as conn:
            assert conn.execute(select(papers.c.upvotes).where(papers.c.arxiv_id == arxiv_id)).scalar() == before + 1
            assert conn.execute(select(func.max(comments.c.id))).scalar() == max_comment + 1
            assert conn.execute(select(func.count()).select_from(votes).where(votes.c.user_id == newcomer.id)).scalar() == 0
        assert newcomer.id == max_user + 1


def test_a_crash_mid_copy_is_resumed_to_the_same_result(source_url, postgres, monkeypatch):
    target = postgres.create_database("migrate_crash")
    real = migrate_module._insert_batch
    calls = {"n": 0}

    def crashing(conn, table, rows):
        real(conn, table, rows)  # written, then the process "dies" before the commit
        calls["n"] += table.name == "paper_authors"
        if calls["n"] == 3:  # the third batch of authors
            raise KeyboardInterrupt

    monkeypatch.setattr(migrate_module, "_insert_batch", crashing)
    with pytest.raises(KeyboardInterrupt):
        migrate_data(source_url, target, batch=700)
    monkeypatch.setattr(migrate_module, "_insert_batch", real)

    eng = make_engine(target)
    with eng.connect() as conn:
        authors_done = conn.execute(text("SELECT count(*) FROM paper_authors")).scalar()
        assert conn.execute(text("SELECT count(*) FROM votes")).scalar() == 0  # not reached
    eng.dispose()
    expected = contents(source_url)
    assert 0 < authors_done < len(expected["paper_authors"]) and authors_done % 700 == 0  # whole batches only

    with pytest.raises(MigrationError, match="already holds data .*--resume"):
        migrate_data(source_url, target)
    result = migrate_data(source_url, target, resume=True, batch=700)
    assert result.ok
    by_name = {t.table: t for t in result.tables}
    assert by_name["papers"].copied == 0 and by_name["paper_authors"].copied == len(expected["paper_authors"]) - authors_done
    assert contents(target) == expected
    with pytest.raises(MigrationError, match="no unfinished copy"):  # a finished copy is not resumed: the site may use the target by now
        migrate_data(source_url, target, resume=True)
    assert contents(target) == expected


def test_a_killed_command_is_resumed_by_running_it_again(source_url, postgres):
    """A real crash: the command is SIGKILLed while copying (one row per transaction, so the kill
    lands mid-table), then the same command with --resume finishes the copy."""
    import signal
    import time

    target = postgres.create_database("migrate_kill")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
    proc = subprocess.Popen([sys.executable, "-m", "paperboy.cli", "migrate-data", "--from", source_url, "--to", target, "--batch", "1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    eng = make_engine(target)
    try:
        deadline = time.monotonic() + 120
        while True:  # wait for the copy to be inside paper_authors (the schema is made first, by the command)
            assert proc.poll() is None, proc.stderr.read().decode()
            with eng.connect() as conn:
                ready = conn.execute(text("SELECT to_regclass('paper_authors') IS NOT NULL")).scalar()
                if ready and conn.execute(text("SELECT count(*) FROM paper_authors")).scalar() > 0:
                    break
            assert time.monotonic() < deadline, "the copy never reached paper_authors"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        with eng.connect() as conn:
            partial = conn.execute(text("SELECT count(*) FROM paper_authors")).scalar()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
        eng.dispose()
    expected = contents(source_url)
    assert 0 < partial < len(expected["paper_authors"])
    assert run_cli(["migrate-data", "--from", source_url, "--to", target]).returncode == 1  # not without --resume
    resumed = run_cli(["migrate-data", "--from", source_url, "--to", target, "--resume", "--json"])
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)["tables"]
    assert report["papers"]["copied"] == 0 and report["paper_authors"]["copied"] == len(expected["paper_authors"]) - partial
    assert contents(target) == expected


def test_postgresql_back_to_sqlite_keeps_text_keys_in_order(source_url, postgres, tmp_path):
    """Text primary keys (sessions, rate limits, checkpoints) resume in the same byte order both ways."""
    middle = postgres.create_database("migrate_back")
    migrate_data(source_url, middle)
    back = f"sqlite:///{tmp_path / 'back.db'}"
    real = migrate_module._insert_batch

    def crash_in_rate_limits(conn, table, rows):
        real(conn, table, rows)
        if table.name == "rate_limits":
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as m:
        m.setattr(migrate_module, "_insert_batch", crash_in_rate_limits)
        with pytest.raises(KeyboardInterrupt):
            migrate_data(middle, back, batch=2)
    migrate_data(middle, back, resume=True, batch=2)
    assert contents(back) == contents(source_url)


def test_a_non_empty_target_is_refused_and_replace_starts_again(source_url, postgres):
    target = postgres.create_database("migrate_refuse")
    migrate_data(source_url, target)
    with pytest.raises(MigrationError, match="already holds data"):
        migrate_data(source_url, target)
    with pytest.raises(MigrationError, match="pass one of them"):
        migrate_data(source_url, target, resume=True, replace=True)
    result = migrate_data(source_url, target, replace=True)
    assert result.ok and contents(target) == contents(source_url)


def test_a_source_with_an_old_schema_is_refused_and_left_alone(tmp_path, postgres):
    from paperboy.store.db import upgrade

    old = f"sqlite:///{tmp_path / 'old.db'}"
    eng = make_engine(old)
    upgrade(eng, "0005")
    eng.dispose()
    with pytest.raises(MigrationError, match="older than this Paperboy"):
        migrate_data(old, postgres.create_database("migrate_old"))


def test_the_command_reports_counts_and_refuses_a_filled_target(source_url, postgres):
    target = postgres.create_database("migrate_cli")
    first = run_cli(["migrate-data", "--from", source_url, "--to", target, "--json"])
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["tables"]["papers"]["source"] == report["tables"]["papers"]["target"] > 1000
    assert report["sequences_reset"] >= 8 and report["vectors_filled"] == 0
    second = run_cli(["migrate-data", "--from", source_url, "--to", target])
    assert second.returncode == 1 and "already holds data" in second.stderr and "--resume" in second.stderr
    third = run_cli(["migrate-data", "--from", source_url, "--to", target, "--resume"])  # the copy finished: nothing to resume
    assert third.returncode == 1 and "no unfinished copy" in third.stderr and "Traceback" not in third.stderr


def test_backup_and_restore_drill_with_pg_dump(source_url, postgres, tmp_path):
    """docs/deployment.md's drill: pg_dump -Fc the migrated database, pg_restore into a new one, same rows."""
    target = postgres.create_database("migrate_dump")
    migrate_data(source_url, target)
    dump = tmp_path / "paperboy.dump"
    dump.touch()
    os.chmod(tmp_path, 0o777)
    os.chmod(dump, 0o666)  # the server may run as another user; pg_dump itself runs as us
    conn = ["-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres"]
    r = subprocess.run([str(postgres.bin / "pg_dump"), *conn, "-Fc", "-f", str(dump), "migrate_dump"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    restored = postgres.create_database("migrate_restored")
    r = subprocess.run([str(postgres.bin / "pg_restore"), *conn, "--no-owner", "--exit-on-error", "-d", "migrate_restored", str(dump)],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert contents(restored) == contents(target)
    eng = make_engine(restored)
    with eng.connect() as c:
        assert c.execute(text("SELECT count(*) FROM paper_embeddings WHERE embedding IS NOT NULL")).scalar() == 300
        assert c.execute(text("SELECT last_value FROM papers_id_seq")).scalar() == c.execute(text("SELECT max(id) FROM papers")).scalar()
    eng.dispose()


# --- the target is never the source; --resume only continues this source's unfinished copy ---------

def has_marker(url: str) -> bool:
    from sqlalchemy import inspect

    engine = make_engine(url)
    try:
        return inspect(engine).has_table(migrate_module.MARKER.name)
    finally:
        engine.dispose()


@pytest.fixture
def here(tmp_path, slice_db, monkeypatch):
    """The corpus slice at x/v.db under the working directory (tmp_path), for relative spellings."""
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "v.db").write_bytes(slice_db.read_bytes())
    monkeypatch.chdir(tmp_path)
    return tmp_path


SPELLINGS = {
    "./": "sqlite:///x/./v.db",
    "..": "sqlite:///x/../x/v.db",
    "absolute": "sqlite:///{here}/x/v.db",  # sqlite:////…
    "doubled slashes": "sqlite:///{here}//x//v.db",
    "query string": "sqlite:///x/v.db?timeout=5",
    "URI filename": "sqlite:///file:x/v.db?uri=true",
    "symlink": "sqlite:///x/link.db",
    "symlinked folder": "sqlite:///y/v.db",
    "hard link": "sqlite:///x/hard.db",
}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_the_target_is_never_the_source_by_another_spelling(here, spelling):
    (here / "x" / "link.db").symlink_to("v.db")
    (here / "y").symlink_to("x")
    os.link(here / "x" / "v.db", here / "x" / "hard.db")
    source, target = "sqlite:///x/v.db", SPELLINGS[spelling].format(here=here)
    before = contents(source)
    assert before["papers"]
    for options in ({"replace": True}, {"resume": True}, {}):
        with pytest.raises(MigrationError, match="the source and the target are the same database.*Nothing was changed"):
            migrate_data(source, target, **options)
    assert contents(source) == before and not has_marker(source)
    assert sorted(p.name for p in (here / "x").iterdir()) == ["hard.db", "link.db", "v.db"]  # not even a -wal file opened by the other name


def test_the_same_postgresql_database_under_other_host_spellings_is_refused(postgres, request, tmp_path):
    from conftest import slice_database_url

    source = slice_database_url("postgresql", tmp_path, request)
    name = source.rsplit("/", 1)[1]
    before = contents(source)
    for target in (
        f"postgresql+psycopg://postgres@localhost:{postgres.port}/{name}",
        f"postgresql+psycopg://postgres@/{name}?host={postgres.base}&port={postgres.port}",  # the Unix socket
        f"postgresql://postgres@127.0.0.1:{postgres.port}/{name}?connect_timeout=5&application_name=x",
    ):
        with pytest.raises(MigrationError, match="same database: both connect to database .* of the same PostgreSQL server"):
            migrate_data(source, target, replace=True)
    assert contents(source) == before and not has_marker(source)
    other = postgres.create_database(f"{name}_other")  # the same server, another database: a target
    assert migrate_data(source, f"postgresql+psycopg://postgres@localhost:{postgres.port}/{other.rsplit('/', 1)[1]}").ok


def test_a_mark_through_the_source_catches_what_the_spellings_miss(here, monkeypatch):
    """Where no identity check sees it (a network file system mounted twice, say), the marker
    written into the target shows in the source: refused before anything is deleted."""
    monkeypatch.setattr(migrate_module, "same_database", lambda a, b: None, raising=False)
    before = contents("sqlite:///x/v.db")
    with pytest.raises(MigrationError, match="mark written into the target shows in the source"):
        migrate_data("sqlite:///x/v.db", "sqlite:///x/./v.db", replace=True)
    assert contents("sqlite:///x/v.db") == before and not has_marker("sqlite:///x/v.db")


@pytest.fixture(params=["sqlite", "postgresql"])
def unrelated_target(request, tmp_path):
    """A database of another site: its own user 1, its own papers."""
    from conftest import FIXTURES, new_database_url
    from paperboy.ingest.dumps import import_dump
    from paperboy.store.db import upgrade

    url = new_database_url(request.param, tmp_path, request)
    engine = make_engine(url)
    upgrade(engine)
    make_user(engine, "stranger", admin=True)
    import_dump(engine, FIXTURES / "kaggle-sample.jsonl")
    engine.dispose()
    return url


def test_resume_into_an_unrelated_target_is_refused_untouched(source_url, unrelated_target):
    before = contents(unrelated_target)
    with pytest.raises(MigrationError, match="--resume: the target holds data .* but no unfinished copy"):
        migrate_data(source_url, unrelated_target, resume=True)
    assert contents(unrelated_target) == before and not has_marker(unrelated_target)
    r = run_cli(["migrate-data", "--from", source_url, "--to", unrelated_target, "--resume"])
    assert r.returncode == 1 and "no unfinished copy" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stdout == ""
    assert contents(unrelated_target) == before


def crash_in_paper_authors(monkeypatch, source: str, target: str) -> None:
    real = migrate_module._insert_batch

    def crashing(conn, table, rows):
        real(conn, table, rows)
        if table.name == "paper_authors":
            raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(migrate_module, "_insert_batch", crashing)
        with pytest.raises(KeyboardInterrupt):
            migrate_data(source, target, batch=500)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_resume_continues_only_an_unfinished_copy_of_the_same_source(source_url, tmp_path, request, monkeypatch, kind):
    """Another database with the same ids (a copy of the source whose user 1 is someone else) may
    not resume the first one's copy; the first one may, and the marker goes when it has verified."""
    from conftest import new_database_url

    other = tmp_path / "other.db"
    other.write_bytes((tmp_path / "source.db").read_bytes())  # source_url's file
    engine = make_engine(f"sqlite:///{other}")
    with engine.begin() as conn:
        conn.execute(users.update().where(users.c.id == 1).values(username="someone_else"))
    engine.dispose()
    target = new_database_url(kind, tmp_path, request)
    crash_in_paper_authors(monkeypatch, source_url, target)
    partial = contents(target)
    with pytest.raises(MigrationError, match="unfinished copy of another database .*source.db"):
        migrate_data(f"sqlite:///{other}", target, resume=True)
    assert has_marker(target)
    with pytest.raises(MigrationError, match="holds an unfinished copy of this source"):  # without --resume: says so
        migrate_data(source_url, target)
    assert contents(target) == partial
    assert migrate_data(source_url, target, resume=True).ok
    assert contents(target) == contents(source_url) and not has_marker(target)


def test_a_database_error_mid_copy_is_one_line_and_resumable(source_url, postgres, monkeypatch):
    target = postgres.create_database("migrate_conflict")
    crash_in_paper_authors(monkeypatch, source_url, target)
    src = make_engine(source_url)
    with src.connect() as conn:
        (first, _), (_, second_paper) = conn.execute(text("SELECT seq, paper_id FROM paper_embeddings ORDER BY seq LIMIT 2")).all()
    src.dispose()
    eng = make_engine(target)
    with eng.begin() as conn:  # a row the copy will collide with: the second embedding's paper and model, under the first's key
        conn.execute(text("INSERT INTO paper_embeddings (seq, paper_id, model, text_hash, vector) VALUES (:s, :p, 'test-model', 'x', '\\x00')"),
                     {"s": first, "p": second_paper})  # fmt: skip
    eng.dispose()
    with pytest.raises(MigrationError) as caught:
        migrate_data(source_url, target, resume=True)
    message = str(caught.value)
    assert message.startswith("the copy stopped:") and "--resume" in message and "\n" not in message and "INSERT" not in message


def test_bad_urls_and_a_missing_source_are_one_line_errors(tmp_path):
    for args, says in (
        (["--from", "nonsense", "--to", f"sqlite:///{tmp_path}/t.db"], "not a database URL"),
        (["--from", "mysql://u@h/db", "--to", f"sqlite:///{tmp_path}/t.db"], "Paperboy runs on SQLite and PostgreSQL"),
        (["--from", f"sqlite:///{tmp_path}/nope.db", "--to", f"sqlite:///{tmp_path}/t.db"], "does not exist"),
        (["--from", f"sqlite:///{tmp_path}/nope.db", "--to", "postgresql+psycopg://u@127.0.0.1:1/x"], "does not exist"),
    ):
        r = run_cli(["migrate-data", *args])
        assert r.returncode == 1 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "nope.db").exists()  # a typo in --from does not create an empty database
