"""E-mail digests end to end against a real SMTP server on loopback (aiosmtpd) that records every
message: double opt-in, one-click unsubscribe, the messages' headers and parts, personal picks,
no repeats across editions, bounces and retries, concurrent senders, and a kill -9 in mid-run."""

from __future__ import annotations

import email
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from email import policy
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from sqlalchemy import func, select, update

from community_helpers import add_active
from conftest import ROOT, run_concurrently, site_settings, slice_database_url
from fake_embedder import FakeEmbedder
from paperboy.digest import subscriptions as subs
from paperboy.digest.delivery import deliver
from paperboy.digest.editions import is_edition_day, parse_edition
from paperboy.digest.send import send_edition
from paperboy.http.site import site_of
from paperboy.search.factory import open_search
from paperboy.store.db import make_engine, write_transaction
from paperboy.store.schema import digest_deliveries, outbox, papers, subscribers
from smtp_server import Recorder, start_smtp

DAY = parse_edition("2026-06-30")


MAIL = {"smtp_host": "127.0.0.1", "base_url": "https://papers.example.org", "mail_from": "Paperboy <digest@papers.example.org>",
        "mail_retry_seconds": 0, "mail_lease_seconds": 5}  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def site(request, tmp_path, smtp):
    """The corpus slice on SQLite and PostgreSQL, settings pointing at the loopback SMTP server."""
    url = slice_database_url(request.param, tmp_path, request)
    engine = make_engine(url)
    yield engine, site_settings(url, tmp_path, smtp_port=smtp.port, **MAIL), smtp.handler
    engine.dispose()


@pytest.fixture
def sqlite_site(request, tmp_path, smtp):
    url = slice_database_url("sqlite", tmp_path, request)
    engine = make_engine(url)
    yield engine, site_settings(url, tmp_path, smtp_port=smtp.port, **MAIL), smtp.handler
    engine.dispose()


def messages(handler, to=None):
    out = [email.message_from_bytes(e.content, policy=policy.default) for e in handler.envelopes]
    return [m for m in out if to is None or m["To"] == to]


def search_for(engine, tmp_path):
    embedder = FakeEmbedder()
    return open_search(engine, str(tmp_path), embedder_loader=lambda: embedder)


def test_edition_days_skip_weekends_and_days_after_holidays():
    import datetime as dt

    assert [is_edition_day(dt.date(2026, 6, d)) for d in range(26, 31)] == [True, False, False, True, True]  # Fri … Tue
    assert not is_edition_day(dt.date(2026, 7, 3), holidays=[dt.date(2026, 7, 2)])
    assert parse_edition("2026-W27").start == dt.date(2026, 6, 29) and parse_edition("2026-W27").end == dt.date(2026, 7, 5)


def test_double_opt_in_sends_nothing_but_the_link_until_it_is_clicked(site, tmp_path):
    engine, settings, handler = site
    with write_transaction(engine) as conn:
        key = subs.subscribe(conn, settings, email="Ada@Example.org", ip="1.2.3.4")
    assert deliver(engine, settings).sent == 1
    send_edition(engine, settings, DAY, search=search_for(engine, tmp_path))
    [mail] = messages(handler)
    assert key.startswith("digest-confirm:") and mail["Subject"] == "Confirm your Paperboy digest subscription"
    link = re.search(r"https://papers\.example\.org(/digest/confirm/\S+)", mail.get_content())[1]

    with write_transaction(engine) as conn:  # clicked
        sub = subs.confirm(conn, settings, unquote(link.rsplit("/", 1)[1]))
    assert sub.status == "active"
    report = send_edition(engine, settings, DAY, search=search_for(engine, tmp_path))
    assert report.delivery.sent == 1 and len(messages(handler, "Ada@example.org")) == 2  # the domain goes out lower-cased (mail/addresses.py)
    # Asking again answers the same, and sends the already-subscribed address its preferences link.
    with write_transaction(engine) as conn:
        subs.subscribe(conn, settings, email="ada@example.org", ip="1.2.3.4")
    deliver(engine, settings)
    assert "/digest/preferences/" in messages(handler)[-1].get_content()


def test_an_expired_or_foreign_confirmation_link_does_nothing(site, monkeypatch):
    import datetime as dt

    from paperboy import clock

    engine, settings, _ = site
    with write_transaction(engine) as conn:
        subs.subscribe(conn, settings, email="late@example.org", ip="1.2.3.4")
        sub = subs._get(conn, subscribers.c.email_key == "late@example.org")
    from paperboy.digest.tokens import make_confirm_token, make_manage_token

    token = make_confirm_token(settings.secret_key, sub)
    later = clock.now() + dt.timedelta(hours=settings.digest_confirm_hours + 1)
    monkeypatch.setattr("itsdangerous.timed.TimestampSigner.get_timestamp", lambda self: int(later.timestamp()))
    with pytest.raises(subs.TokenInvalid, match="expired"), write_transaction(engine) as conn:
        subs.confirm(conn, settings, token)
    monkeypatch.undo()
    with pytest.raises(subs.TokenInvalid), write_transaction(engine) as conn:
        subs.confirm(conn, settings, make_manage_token(settings.secret_key, sub))  # a manage token is not a confirm token
    with write_transaction(engine) as conn:  # the address changes: every earlier link stops working
        conn.execute(update(subscribers).where(subscribers.c.id == sub.id).values(email="new@example.org", email_key="new@example.org"))
    with pytest.raises(subs.TokenInvalid), write_transaction(engine) as conn:
        subs.confirm(conn, settings, token)
    with engine.connect() as conn:
        assert subs.get_subscriber(conn, sub.id).status == "pending"


def test_headers_and_both_parts_of_a_digest(sqlite_site, tmp_path):
    engine, settings, handler = sqlite_site
    with write_transaction(engine) as conn:  # a paper with TeX in its title, voted to the top
        pid, title = conn.execute(select(papers.c.id, papers.c.title).where(papers.c.announced == DAY.start, papers.c.title.like("%$%"))).first()
        conn.execute(update(papers).where(papers.c.id == pid).values(upvotes=50))
    add_active(engine, settings, ["reader@example.org"])
    send_edition(engine, settings, DAY, search=search_for(engine, tmp_path))
    [mail] = messages(handler)
    raw = handler.envelopes[0].content
    assert b"\r\nMIME-Version: 1.0\r\n" in raw and re.search(rb"\r\nDate: \w{3}, \d\d \w{3} 2\d{3} ", raw)
    assert mail["From"] == "Paperboy <digest@papers.example.org>" and mail["To"] == "reader@example.org"
    assert mail["Subject"] == "Trending papers, Tuesday 30 June 2026 — Paperboy"
    unsub = mail["List-Unsubscribe"]
    assert re.fullmatch(r"<https://papers\.example\.org/digest/unsubscribe/\S+>", unsub)
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(r"<digest\.2026-06-30\.\d+\.[0-9a-f]{16}@papers\.example\.org>", mail["Message-ID"])
    assert mail.get_content_type() == "multipart/alternative"
    text, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text.get_content_charset() == html.get_content_charset() == "utf-8"
    text, html = text.get_content().replace("\r\n", "\n"), html.get_content()
    assert "Ranked by the upvotes of this site's readers" in text and "https://papers.example.org/papers/" in text
    assert unsub[1:-1] in text and unsub[1:-1] in html  # a visible unsubscribe link too
    assert 'style="' in html and "<math" not in html
    from paperboy.digest.compose import tex_to_text

    readable = tex_to_text(title)
    assert "$" in title and "$" not in readable  # the TeX title reads as text, in both parts
    first = text.split("The whole day: ")[1].split("\n\n", 1)[1]
    assert " ".join(first.split("▲ 50")[0].split()) == readable
    assert str(__import__("markupsafe").escape(readable)) in html
    assert "prefers-color-scheme: dark" in html and 'name="color-scheme"' in html
    # The same subscriber and edition always get the same Message-ID (a resend is recognisable).
    from paperboy.digest.send import preview

    again, _ = preview(engine, settings, DAY, email="reader@example.org")
    assert again.headers["Message-ID"] == mail["Message-ID"]


def test_personal_picks_and_no_repeats_across_editions(site, tmp_path):
    engine, settings, handler = site
    add_active(engine, settings, ["daily@example.org"], trending_count=3, personal_count=4, keywords="diffusion", categories="cs.RO")
    add_active(engine, settings, ["weekly@example.org"], frequency="weekly", trending_count=5, personal_count=3, keywords="diffusion")
    search = search_for(engine, tmp_path)
    send_edition(engine, settings, parse_edition("2026-06-29"), search=search)
    send_edition(engine, settings, DAY, search=search)
    daily = messages(handler, "daily@example.org")
    assert len(daily) == 2
    text = daily[1].get_body(("plain",)).get_content()
    assert "Picked for you" in text and "[matches “diffusion”]" in text and "[in cs.RO]" in text
    with engine.connect() as conn:
        got = Counter(conn.execute(select(digest_deliveries.c.paper_id).join(subscribers)
                                   .where(subscribers.c.email_key == "daily@example.org")).scalars())  # fmt: skip
        assert len(got) == 2 * (3 + 4) and max(got.values()) == 1
        daily_papers = set(got)
    # The weekly edition has its own reader's picks; a rerun of a daily edition sends nothing new.
    send_edition(engine, settings, parse_edition("2026-W27"), search=search)
    [weekly] = messages(handler, "weekly@example.org")
    assert "Picked for you" in weekly.get_body(("plain",)).get_content()
    assert send_edition(engine, settings, DAY, search=search).queued == 0
    # A daily reader who switches to weekly never gets a paper twice.
    with write_transaction(engine) as conn:
        conn.execute(update(subscribers).where(subscribers.c.email_key == "daily@example.org").values(frequency="weekly"))
    send_edition(engine, settings, parse_edition("2026-W27"), search=search)
    [switched] = messages(handler, "daily@example.org")[2:]
    ids = set(re.findall(r"/papers/(\d{4}\.\d{5})", switched.get_body(("plain",)).get_content()))
    with engine.connect() as conn:
        before = set(conn.execute(select(papers.c.arxiv_id).where(papers.c.id.in_(daily_papers))).scalars())
    assert ids and not ids & before


def test_unsubscribed_bounced_and_unconfirmed_addresses_are_never_mailed(site, tmp_path):
    engine, settings, handler = site
    add_active(engine, settings, ["stays@example.org", "leaves@example.org", "bounces@example.org"])
    with write_transaction(engine) as conn:
        subs.subscribe(conn, settings, email="never-confirmed@example.org", ip="9.9.9.9")
        conn.execute(update(outbox).where(outbox.c.to_addr == "never-confirmed@example.org").values(status="cancelled"))
    handler.refuse = {"bounces@example.org": ["550 5.1.1 mailbox unavailable"]}
    from paperboy.digest.send import enqueue_edition

    enqueue_edition(engine, settings, DAY, search=search_for(engine, tmp_path))
    with write_transaction(engine) as conn:  # unsubscribes after the edition was queued
        subs.unsubscribe(conn, subs._get(conn, subscribers.c.email_key == "leaves@example.org"))
    report = send_edition(engine, settings, DAY, search=search_for(engine, tmp_path))
    assert (report.delivery.sent, report.delivery.bounced, report.delivery.cancelled) == (1, 1, 1)
    assert [m["To"] for m in messages(handler)] == ["stays@example.org"]
    with engine.connect() as conn:
        bounced = subs._get(conn, subscribers.c.email_key == "bounces@example.org")
    assert bounced.bounces == 1 and bounced.status == "active" and "550" in bounced.last_error
    # Refusals in a row up to the limit disable the address; it is then no longer queued.
    import dataclasses

    strict = dataclasses.replace(settings, mail_bounce_limit=2)
    handler.refuse = {"bounces@example.org": ["550 5.1.1 mailbox unavailable"]}
    send_edition(engine, strict, parse_edition("2026-07-01"), search=search_for(engine, tmp_path))
    with engine.connect() as conn:
        assert subs._get(conn, subscribers.c.email_key == "bounces@example.org").status == "bounced"
    report = send_edition(engine, strict, parse_edition("2026-06-29"), search=search_for(engine, tmp_path))
    assert report.queued == 1 and [m["To"] for m in messages(handler)] == ["stays@example.org"] * 3


def test_a_recipient_refused_with_451_gets_the_edition_once_it_is_accepted(site, tmp_path):
    engine, settings, handler = site
    add_active(engine, settings, ["greylisted@example.org", "plain@example.org"])
    handler.refuse = {"greylisted@example.org": ["451 4.7.1 greylisted, try again later"]}
    report = send_edition(engine, settings, DAY, search=search_for(engine, tmp_path))
    assert (report.delivery.sent, report.delivery.failed, report.delivery.bounced, report.still_pending) == (2, 1, 0, 0)
    assert sorted(m["To"] for m in messages(handler)) == ["greylisted@example.org", "plain@example.org"]
    with engine.connect() as conn:
        assert conn.execute(select(outbox.c.attempts).where(outbox.c.to_addr == "greylisted@example.org",
                                                            outbox.c.idempotency_key.startswith("digest:"))).scalar() == 2
        assert subs._get(conn, subscribers.c.email_key == "greylisted@example.org").bounces == 0


def test_two_concurrent_senders_send_each_reader_once(sqlite_site, tmp_path):
    engine, settings, handler = sqlite_site
    emails = [f"r{i}@example.org" for i in range(60)]
    add_active(engine, settings, emails)
    handler.delay = 0.002
    reports = run_concurrently(lambda: send_edition(engine, settings, DAY, search=search_for(engine, tmp_path), connections=2))
    assert Counter(m["To"] for m in messages(handler)) == Counter(emails)
    assert sum(r.queued for r in reports) == 60 and sum(r.delivery.sent for r in reports) == 60


def test_one_click_unsubscribe_is_a_post_with_no_cookie(client, smtp, tmp_path):
    settings = site_of(client.app).settings
    with write_transaction(client.engine) as conn:
        subs.subscribe(conn, settings, email="oneclick@example.org", ip="1.1.1.1")
        sub = subs._get(conn, subscribers.c.email_key == "oneclick@example.org")
        sub = subs.confirm(conn, settings, __import__("paperboy.digest.tokens", fromlist=["x"]).make_confirm_token(settings.secret_key, sub))
    url = urlsplit(subs.unsubscribe_url(settings, sub)).path
    client.cookies.clear()
    r = client.post(url, content=b"List-Unsubscribe=One-Click", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and "gets no more digests" in r.text and "set-cookie" not in r.headers
    with client.engine.connect() as conn:
        assert subs.get_subscriber(conn, sub.id).status == "unsubscribed"
    assert client.post(url, content=b"List-Unsubscribe=One-Click").status_code == 200  # twice: still fine
    assert client.post(url[:-3] + "abc").status_code == 400  # a tampered token is refused


def test_the_subscribe_form_answers_the_same_and_refuses_other_sites(client):
    day = "/papers/date/2026-06-30"
    assert 'action="/digest/subscribe"' in client.get(day).text
    origin = {"Origin": "http://testserver"}
    first = client.post("/digest/subscribe", data={"email": "same@example.org"}, headers=origin)
    again = client.post("/digest/subscribe", data={"email": "same@example.org"}, headers=origin)
    assert first.status_code == again.status_code == 200
    strip = lambda html: re.sub(r'name="csrf_token" value="[^"]+"', "", html)  # noqa: E731
    assert strip(first.text) == strip(again.text) and "Check your inbox" in first.text
    forged = client.post("/digest/subscribe", data={"email": "victim@example.org"}, headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403
    with client.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(subscribers)).scalar() == 1
    for _ in range(12):  # rate-limited per client address
        last = client.post("/digest/subscribe", data={"email": "x@example.org"}, headers=origin)
    assert last.status_code == 429


def test_import_export_and_stats_on_the_command_line(sqlite_site, tmp_path):
    engine, settings, handler = sqlite_site
    csv_file = tmp_path / "list.csv"
    csv_file.write_text("email,name,frequency\nann@example.org,Ann,daily\nnot-an-address,Bob,daily\nwes@example.org,,weekly\n"
                        "ann@example.org,Ann again,daily\ncat@example.org,Cat,hourly\n")  # fmt: skip
    env = _env(settings)
    r = subprocess.run([sys.executable, "-m", "paperboy.cli", "subscribers", "import", str(csv_file)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "line 3: skipped: not an e-mail address" in r.stderr and "line 5: skipped" in r.stderr and "line 6: skipped" in r.stderr
    assert "added 2" in r.stdout and sorted(m["To"] for m in messages(handler)) == ["ann@example.org", "wes@example.org"]
    assert all(m["Subject"].startswith("Confirm") for m in messages(handler))
    r = subprocess.run([sys.executable, "-m", "paperboy.cli", "subscribers", "stats", "--json"], env=env, capture_output=True, text=True)
    assert '"pending": 2' in r.stdout
    export = subprocess.run([sys.executable, "-m", "paperboy.cli", "subscribers", "export"], env=env, capture_output=True, text=True).stdout
    assert export.splitlines()[0] == "email,name,frequency,status,confirmed_at,bounces" and "wes@example.org,,weekly,pending" in export


def _env(settings) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
    env.update(PAPERBOY_DATABASE_URL=settings.database_url, PAPERBOY_DATA_DIR=settings.data_dir, PAPERBOY_SECRET_KEY=settings.secret_key,
               PAPERBOY_SMTP_HOST="127.0.0.1", PAPERBOY_SMTP_PORT=str(settings.smtp_port), PAPERBOY_BASE_URL=settings.base_url,
               PAPERBOY_MAIL_FROM=settings.mail_from, PAPERBOY_MAIL_LEASE_SECONDS="3", PAPERBOY_MAIL_RETRY_SECONDS="0",
               PYTHONPATH=str(ROOT / "src"))  # fmt: skip
    return env


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


class Gate(Recorder):
    """A recorder that lets the test act (kill the sender) when it has accepted ``at`` messages."""

    def __init__(self, at: int):
        super().__init__()
        self.at = at
        self.reached = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        if len(self.envelopes) >= self.at:
            self.reached.set()
        return answer


def test_kill_9_in_mid_run_then_a_rerun_finishes_the_edition(tmp_path, request):
    """``paperboy digest send`` as a real process, killed with SIGKILL once the server has 300 of
    1,500 mails; the rerun delivers the rest. Each reader gets the edition once, except at most one
    per SMTP connection (a mail in flight at the kill) — and a second copy has the same Message-ID."""
    url = slice_database_url("sqlite", tmp_path, request)
    gate = Gate(at=300)
    controller = start_smtp(gate)
    try:
        settings = site_settings(url, tmp_path, smtp_port=controller.port, **MAIL)
        env = _env(settings)
        n, connections = 1500, 3
        csv_file = tmp_path / "list.csv"
        csv_file.write_text("email\n" + "".join(f"reader{i}@example.org\n" for i in range(n)))
        cmd = [sys.executable, "-m", "paperboy.cli"]
        assert subprocess.run([*cmd, "subscribers", "import", "--confirmed", str(csv_file)], env=env, capture_output=True).returncode == 0
        send = [*cmd, "digest", "send", "--edition", "2026-06-30", "--connections", str(connections)]
        proc = subprocess.Popen(send, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert gate.reached.wait(timeout=120), proc.communicate(timeout=5)
        children = _children(proc.pid)  # the delivery process
        assert children
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{pid}").exists() for pid in children):  # it dies with its parent
            assert time.monotonic() < deadline, f"delivery processes {children} outlived the killed sender"
            time.sleep(0.05)
        at_kill = len(gate.envelopes)
        assert at_kill < n  # it really was killed in mid-run
        rerun = subprocess.run(send, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        copies = Counter(e.rcpt_tos[0] for e in gate.envelopes)
        assert set(copies) == {f"reader{i}@example.org" for i in range(n)}  # nobody is left without it
        twice = [a for a, c in copies.items() if c > 1]
        assert max(copies.values()) <= 2 and len(twice) <= connections, twice
        ids = {}
        for m in messages(gate):
            ids.setdefault(m["To"], set()).add(m["Message-ID"])
        assert all(len(v) == 1 for v in ids.values())  # a repeat carries the same Message-ID
        engine = make_engine(url)
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).where(outbox.c.status == "sent")).scalar() == n
        engine.dispose()
    finally:
        controller.stop()


def test_dkim_signs_the_list_unsubscribe_headers_and_verifies(sqlite_site, tmp_path):
    import base64
    import dataclasses
    import shutil

    import dkim

    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test key")
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True).stdout
    engine, settings, handler = sqlite_site
    signed = dataclasses.replace(settings, dkim_domain="papers.example.org", dkim_selector="pb1", dkim_key_file=str(key))
    add_active(engine, signed, ["signed@example.org"])
    send_edition(engine, signed, DAY, search=search_for(engine, tmp_path))
    raw = handler.envelopes[0].content
    assert raw.startswith(b"DKIM-Signature:")
    header = raw.split(b"\r\n\r\n", 1)[0].decode()
    signed_headers = re.search(r"h=([^;]+);", header.replace("\r\n", "").replace(" ", ""))[1].lower().split(":")
    assert {"from", "subject", "message-id", "list-unsubscribe", "list-unsubscribe-post"} <= set(signed_headers)
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: record if name == b"pb1._domainkey.papers.example.org." else None)
    tampered = raw.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: nothing")
    assert not dkim.verify(tampered, dnsfunc=lambda name, timeout=5: record)


def test_more_like_my_upvotes_picks_the_nearest_papers_on_both_databases(site, tmp_path):
    """An account holder's "more like the papers I upvoted": the day's papers nearest the mean of
    their upvoted papers' stored vectors (read from the database, so PostgreSQL's search works too)."""
    import numpy as np

    from community_helpers import make_user
    from paperboy.community.votes import vote
    from paperboy.search.indexer import embed_pending
    from paperboy.store.schema import paper_embeddings

    engine, settings, handler = site
    embedder = FakeEmbedder()
    embed_pending(engine, embedder, batch_size=500)
    user = make_user(engine, "reader", email="reader@example.org")
    with engine.connect() as conn:
        day_ids = conn.execute(select(papers.c.id).where(papers.c.announced == DAY.start).order_by(papers.c.id)).scalars().all()
        liked = conn.execute(select(papers.c.arxiv_id).where(papers.c.id.in_(day_ids[:2]))).scalars().all()
    with write_transaction(engine) as conn:
        for arxiv_id in liked:
            vote(conn, user.id, arxiv_id, up=True)
    add_active(engine, settings, ["reader@example.org"], user_id=user.id, trending_count=1, personal_count=2, more_like_votes=True)
    send_edition(engine, settings, DAY, search=open_search(engine, str(tmp_path), embedder_loader=lambda: embedder))

    [mail] = messages(handler, "reader@example.org")
    text = mail.get_body(("plain",)).get_content()
    assert text.count("[like papers you upvoted]") == 2
    with engine.connect() as conn:
        vectors = dict(conn.execute(select(paper_embeddings.c.paper_id, paper_embeddings.c.vector)
                                    .where(paper_embeddings.c.model == embedder.name, paper_embeddings.c.paper_id.in_(day_ids))).all())  # fmt: skip
        sent = conn.execute(select(digest_deliveries.c.paper_id).join(subscribers)
                            .where(subscribers.c.email_key == "reader@example.org")).scalars().all()  # fmt: skip
    centre = np.mean([np.frombuffer(vectors[pid], "<f4") for pid in day_ids[:2]], axis=0)
    others = sorted((pid for pid in day_ids[2:] if pid in vectors), key=lambda pid: -float(np.frombuffer(vectors[pid], "<f4") @ centre))
    personal = [pid for pid in sent if pid not in day_ids[:2]]  # the trending pick is an upvoted paper (their votes)
    assert len(sent) == 3 and set(personal) == set(others[:2])  # the nearest two, never the papers one upvoted
