"""Mail against a real SMTP server on loopback (aiosmtpd): composing, sending, and the outbox's
once-per-key / once-per-row guarantees, including crashed and concurrent deliverers."""

from __future__ import annotations

import datetime as dt

import pytest
from aiosmtpd.smtp import AuthResult
from sqlalchemy import func, select, update

from conftest import free_port, run_concurrently
from paperboy.mail import DeliveryReport, MailError, compose, deliver_pending, enqueue, send_message
from paperboy.store.schema import outbox
from smtp_server import smtp_settings, start_smtp


@pytest.fixture
def down():
    """Settings pointing at a loopback port nobody listens on."""
    return smtp_settings(free_port())


def rows(engine):
    with engine.connect() as conn:
        return conn.execute(select(outbox).order_by(outbox.c.id)).all()


def queue(engine, n=1, prefix="t"):
    with engine.begin() as conn:
        for i in range(n):
            assert enqueue(conn, key=f"{prefix}:{i}", to=f"user{i}@example.org", subject=f"Mail {i}", text=f"Body {i}")


def set_row(engine, **values):
    with engine.begin() as conn:
        conn.execute(update(outbox).values(**values))


def now():
    return dt.datetime.now(dt.timezone.utc)


# --- composing and sending ---------------------------------------------------------------------


def test_a_composed_message_arrives_with_text_and_html_parts(smtp):
    unsubscribe = {"List-Unsubscribe": "<https://example.org/u/1>"}
    msg = compose(smtp.settings, "Alice <alice@example.org>", "Réinitialiser — reset", "Hello in text\n",
                  html="<p>Hello in <b>HTML</b></p>", headers=unsubscribe)  # fmt: skip
    send_message(smtp.settings, msg)

    [envelope] = smtp.handler.envelopes
    assert envelope.mail_from == "paperboy@example.org" and envelope.rcpt_tos == ["alice@example.org"]
    [got] = smtp.handler.messages
    assert got["Subject"] == "Réinitialiser — reset"
    assert got["From"] == "Paperboy <paperboy@example.org>" and got["To"] == "Alice <alice@example.org>"
    assert got["Message-ID"].endswith("@example.org>") and got["Date"]
    assert got["List-Unsubscribe"] == "<https://example.org/u/1>"
    assert got.get_content_type() == "multipart/alternative"
    assert got.get_body(("plain",)).get_content().splitlines() == ["Hello in text"]
    assert "Hello in <b>HTML</b>" in got.get_body(("html",)).get_content()


def test_text_only_mail_is_not_multipart(smtp):
    send_message(smtp.settings, compose(smtp.settings, "bob@example.org", "Hi", "Just text"))
    [got] = smtp.handler.messages
    assert got.get_content_type() == "text/plain" and got.get_content().strip() == "Just text"


@pytest.mark.parametrize(
    "to, subject, headers",
    [
        ("victim@example.org\r\nBcc: all@example.org", "Hi", None),
        ("victim@example.org", "Hi\nBcc: all@example.org", None),
        ("victim@example.org", "Hi", {"X-Note": "ok\r\nBcc: all@example.org"}),
        ("victim@example.org", "Hi", {"Bcc: all@example.org\r\nX": "v"}),
        ("a@example.org, b@example.org", "Hi", None),  # one mail, one recipient
        ("not an address", "Hi", None),
    ],
)
def test_header_injection_is_refused(smtp, engine, to, subject, headers):
    with pytest.raises(ValueError):
        compose(smtp.settings, to, subject, "text", headers=headers)
    with engine.begin() as conn, pytest.raises(ValueError):
        enqueue(conn, key="k", to=to, subject=subject, text="text", headers=headers)
    assert rows(engine) == [] and smtp.handler.envelopes == []


def test_login_is_used_when_a_username_is_set():
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login, auth_data.password) == (b"mailer", b"s3cret")
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    controller = start_smtp(authenticator=authenticator, auth_require_tls=False)
    try:
        good = smtp_settings(controller.port, smtp_username="mailer", smtp_password="s3cret")
        send_message(good, compose(good, "a@example.org", "Hi", "text"))
        assert controller.handler.logins == [b"mailer"]
        bad = smtp_settings(controller.port, smtp_username="mailer", smtp_password="wrong")
        with pytest.raises(MailError, match="refused the login") as e:
            send_message(bad, compose(bad, "a@example.org", "Hi", "text"))
        assert e.value.connection_failed
    finally:
        controller.stop()


def test_an_unreachable_server_raises_a_clear_mail_error(down):
    with pytest.raises(MailError, match=f"cannot connect to the SMTP server 127.0.0.1:{down.smtp_port}") as e:
        send_message(down, compose(down, "a@example.org", "Hi", "text"))
    assert e.value.connection_failed


# --- the outbox --------------------------------------------------------------------------------


def test_enqueue_twice_with_the_same_key_gives_one_row_and_one_mail(engine, smtp):
    for _ in range(2):
        with engine.begin() as conn:
            added = enqueue(conn, key="reset:42:abc", to="alice@example.org", subject="Reset", text="link")
    assert added is False
    with engine.begin() as conn:  # in one transaction too, and the duplicate does not spoil it
        assert enqueue(conn, key="reset:43:abc", to="bob@example.org", subject="Reset", text="link")
        assert not enqueue(conn, key="reset:43:abc", to="bob@example.org", subject="Reset", text="link")
    assert [r.idempotency_key for r in rows(engine)] == ["reset:42:abc", "reset:43:abc"]
    assert deliver_pending(engine, smtp.settings) == DeliveryReport(sent=2)
    assert sorted(e.rcpt_tos[0] for e in smtp.handler.envelopes) == ["alice@example.org", "bob@example.org"]


def test_enqueue_belongs_to_the_callers_transaction(engine):
    with pytest.raises(RuntimeError), engine.begin() as conn:
        enqueue(conn, key="reset:1:x", to="alice@example.org", subject="Reset", text="link")
        raise RuntimeError("the caller fails after queueing")
    assert rows(engine) == []


def test_deliver_pending_sends_each_queued_mail_exactly_once(engine, smtp):
    with engine.begin() as conn:
        enqueue(conn, key="notice:2026-06-30:user:7", to="u7@example.org", subject="Your papers", text="t",
                html="<p>h</p>", headers={"List-Unsubscribe": "<https://example.org/unsub/7>"})  # fmt: skip
    queue(engine, 2)
    assert deliver_pending(engine, smtp.settings) == DeliveryReport(sent=3)
    assert deliver_pending(engine, smtp.settings) == DeliveryReport()
    assert len(smtp.handler.envelopes) == 3
    assert all(r.status == "sent" and r.sent_at and r.attempts == 1 and r.lease_until is None for r in rows(engine))
    digest = smtp.handler.messages[0]
    assert digest["List-Unsubscribe"] == "<https://example.org/unsub/7>" and digest.get_body(("html",))


def test_limit_caps_one_run(engine, smtp):
    queue(engine, 3)
    assert deliver_pending(engine, smtp.settings, limit=2).sent == 2
    assert deliver_pending(engine, smtp.settings, limit=2).sent == 1
    assert [m["Subject"] for m in smtp.handler.messages] == ["Mail 0", "Mail 1", "Mail 2"]  # oldest first


def test_a_down_server_leaves_the_mail_queued_until_it_is_up(engine, smtp, down):
    queue(engine, 3)
    report = deliver_pending(engine, down)
    assert report == DeliveryReport(failed=1)  # the run stops: the next mails would fail the same way
    first, *others = rows(engine)
    assert first.status == "queued" and first.attempts == 1 and "cannot connect" in first.last_error
    assert all(r.status == "queued" and r.attempts == 0 for r in others)

    # The failed mail waits out its back-off (60 s after the first attempt) ...
    assert deliver_pending(engine, smtp.settings) == DeliveryReport(sent=2)
    assert rows(engine)[0].status == "queued"
    # ... and goes once that time has come.
    with engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.id == first.id).values(lease_until=now() - dt.timedelta(seconds=1)))
    assert deliver_pending(engine, smtp.settings) == DeliveryReport(sent=1)
    assert rows(engine)[0].status == "sent" and rows(engine)[0].attempts == 2
    assert len(smtp.handler.envelopes) == 3


def test_a_mail_fails_for_good_after_max_attempts(engine, smtp, down):
    queue(engine)
    for attempt, status in [(1, "queued"), (2, "queued"), (3, "failed")]:
        assert deliver_pending(engine, down, max_attempts=3, retry_seconds=0).failed == 1
        [row] = rows(engine)
        assert (row.attempts, row.status) == (attempt, status) and row.last_error
    assert deliver_pending(engine, smtp.settings, max_attempts=3) == DeliveryReport()
    assert smtp.handler.envelopes == []


def test_a_refused_recipient_does_not_stop_the_others_and_is_never_retried(engine, smtp):
    queue(engine, 4)
    smtp.handler.refuse = {"user1@example.org": ["550 5.1.1 no such user"], "user2@example.org": ["451 4.3.0 try later"]}
    report = deliver_pending(engine, smtp.settings, retry_seconds=60)
    assert report == DeliveryReport(sent=2, failed=1, bounced=1)
    assert [r.status for r in rows(engine)] == ["sent", "bounced", "queued", "sent"]
    assert "550 5.1.1 no such user" in rows(engine)[1].last_error and "451" in rows(engine)[2].last_error
    assert rows(engine)[2].lease_until > now() + dt.timedelta(seconds=50)  # backing off
    assert deliver_pending(engine, smtp.settings) == DeliveryReport()
    # Once the back-off is over the 451 is tried again (and now accepted); the 550 never is.
    with engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.status == "queued").values(lease_until=now() - dt.timedelta(seconds=1)))
    assert deliver_pending(engine, smtp.settings) == DeliveryReport(sent=1)
    assert sorted(e.rcpt_tos[0] for e in smtp.handler.envelopes) == ["user0@example.org", "user2@example.org", "user3@example.org"]
    assert len(smtp.handler.sessions) == 2  # one SMTP connection per run, reused for every mail


def test_parallel_connections_each_send_many_mails(engine, smtp):
    queue(engine, 30)
    report = deliver_pending(engine, smtp.settings, connections=3, batch=4)
    assert report == DeliveryReport(sent=30)
    assert sorted(e.rcpt_tos[0] for e in smtp.handler.envelopes) == sorted(f"user{i}@example.org" for i in range(30))
    assert 1 < len(smtp.handler.sessions) <= 3


def test_a_leased_row_is_left_alone_until_its_lease_expires(engine, smtp):
    queue(engine)
    # Another deliverer claimed it (attempt 1) and is sending, or crashed while sending.
    set_row(engine, status="sending", attempts=1, lease_until=now() + dt.timedelta(seconds=300))
    assert deliver_pending(engine, smtp.settings) == DeliveryReport()
    assert smtp.handler.envelopes == []

    set_row(engine, lease_until=now() - dt.timedelta(seconds=1))  # it crashed: the lease ran out
    assert deliver_pending(engine, smtp.settings) == DeliveryReport(sent=1)
    [row] = rows(engine)
    assert row.status == "sent" and row.attempts == 2 and len(smtp.handler.envelopes) == 1


def test_a_crash_during_the_last_attempt_marks_the_mail_failed(engine, smtp):
    queue(engine)
    set_row(engine, status="sending", attempts=5, lease_until=now() - dt.timedelta(seconds=1))
    assert deliver_pending(engine, smtp.settings, max_attempts=5) == DeliveryReport()
    [row] = rows(engine)
    assert row.status == "failed" and "lease expired" in row.last_error and smtp.handler.envelopes == []


def test_a_resent_mail_keeps_its_message_id(engine, smtp):
    queue(engine)
    deliver_pending(engine, smtp.settings)
    set_row(engine, status="queued", lease_until=None)  # as if the 'sent' UPDATE had been lost
    deliver_pending(engine, smtp.settings)
    first, second = smtp.handler.messages
    assert first["Message-ID"] == second["Message-ID"]


def test_two_concurrent_deliverers_send_each_mail_once(engine, smtp):
    n = 40
    queue(engine, n)
    smtp.handler.delay = 0.002  # keep both deliverers busy at the same time
    reports = run_concurrently(lambda: deliver_pending(engine, smtp.settings), timeout=30)
    assert len(smtp.handler.envelopes) == n
    assert sorted(e.rcpt_tos[0] for e in smtp.handler.envelopes) == sorted(f"user{i}@example.org" for i in range(n))
    assert sum(r.sent for r in reports) == n and sum(r.failed for r in reports) == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(outbox.c.status == "sent", outbox.c.attempts == 1)).scalar() == n
