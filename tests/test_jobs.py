"""Jobs: the daily schedule (time zones, DST, days without announcements), leases that make each
run happen once across workers, and the worker loop."""

from __future__ import annotations

import datetime as dt
import json
import threading
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from paperboy.jobs.leases import claim_run, finish, get_run, renew, run_once
from paperboy.jobs.scheduler import daily_run_key, latest_due_run, next_daily_run, run_worker
from paperboy.papers.calendar import is_announcement_day, is_listing_day
from paperboy.store.db import make_engine

ET = ZoneInfo("America/New_York")
UTC = dt.timezone.utc


def et(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ET)


# --- scheduling math ------------------------------------------------------------------------------

def test_next_run_is_2030_new_york_time_strictly_after_now():
    assert next_daily_run(et(2026, 6, 30, 12, 0)) == et(2026, 6, 30, 20, 30)
    assert next_daily_run(et(2026, 6, 30, 20, 30)) == et(2026, 7, 1, 20, 30)  # not the instant itself
    assert next_daily_run(et(2026, 6, 30, 20, 29, 59)) == et(2026, 6, 30, 20, 30)
    # Given in UTC: 00:15 UTC on 1 July is 20:15 on 30 June in New York (EDT, UTC-4).
    assert next_daily_run(dt.datetime(2026, 7, 1, 0, 15, tzinfo=UTC)) == et(2026, 6, 30, 20, 30)
    assert next_daily_run(dt.datetime(2026, 7, 1, 0, 45, tzinfo=UTC)) == et(2026, 7, 1, 20, 30)
    assert next_daily_run(dt.datetime(2026, 7, 1, 0, 15, tzinfo=UTC)).utcoffset() == dt.timedelta(hours=-4)
    assert next_daily_run(et(2026, 6, 30, 0, 0), at=dt.time(7, 15), tz="Europe/Berlin") == dt.datetime(
        2026, 6, 30, 7, 15, tzinfo=ZoneInfo("Europe/Berlin"))
    with pytest.raises(ValueError):
        next_daily_run(dt.datetime(2026, 6, 30, 12, 0))  # naive: ambiguous


def test_dst_change_days_keep_the_local_time():
    # Spring forward (Sunday 8 March 2026): 20:30 EST on Saturday, then 20:30 EDT — 23 hours later.
    saturday = next_daily_run(et(2026, 3, 7, 12, 0))
    sunday = next_daily_run(saturday)
    assert saturday.astimezone(UTC) == dt.datetime(2026, 3, 8, 1, 30, tzinfo=UTC)
    assert sunday.astimezone(UTC) == dt.datetime(2026, 3, 9, 0, 30, tzinfo=UTC)
    assert sunday.astimezone(UTC) - saturday.astimezone(UTC) == dt.timedelta(hours=23)
    # Fall back (Sunday 1 November 2026): 25 hours between the two evenings.
    saturday = next_daily_run(et(2026, 10, 31, 12, 0))
    sunday = next_daily_run(saturday)
    assert (saturday.hour, saturday.minute, sunday.hour, sunday.minute) == (20, 30, 20, 30)
    assert sunday.astimezone(UTC) - saturday.astimezone(UTC) == dt.timedelta(hours=25)
    # A time the spring change skips runs an hour later; one the autumn change repeats, the first time.
    skipped = next_daily_run(et(2026, 3, 8, 0, 0), at=dt.time(2, 30))
    assert skipped.astimezone(UTC) == dt.datetime(2026, 3, 8, 7, 30, tzinfo=UTC) and skipped.hour == 3
    twice = next_daily_run(et(2026, 11, 1, 0, 0), at=dt.time(1, 30))
    assert twice.astimezone(UTC) == dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_announcement_days_are_sunday_to_thursday_minus_holidays():
    week = [dt.date(2026, 6, 28) + dt.timedelta(days=n) for n in range(7)]  # Sunday 28 June … Saturday 4 July
    assert [is_announcement_day(d) for d in week] == [True, True, True, True, True, False, False]
    assert not is_announcement_day(dt.date(2026, 7, 2), holidays={dt.date(2026, 7, 2)})
    # Thursday evening's run is followed by Sunday's: no run on Friday or Saturday evenings.
    assert next_daily_run(et(2026, 7, 2, 21, 0), announcement_days_only=True) == et(2026, 7, 5, 20, 30)
    assert next_daily_run(et(2026, 7, 1, 21, 0), announcement_days_only=True,
                          holidays=[dt.date(2026, 7, 2)]) == et(2026, 7, 5, 20, 30)  # fmt: skip


def test_a_listing_is_dated_the_day_after_its_announcement_evening():
    week = [dt.date(2026, 6, 29) + dt.timedelta(days=n) for n in range(7)]  # Monday 29 June … Sunday 5 July
    assert [is_listing_day(d) for d in week] == [True, True, True, True, True, False, False]
    # No announcement on Thursday 2 July's evening: no listing on Friday 3 July, Thursday's stands.
    assert not is_listing_day(dt.date(2026, 7, 3), holidays={dt.date(2026, 7, 2)})
    assert is_listing_day(dt.date(2026, 7, 2), holidays={dt.date(2026, 7, 2)})


def test_latest_due_run():
    assert latest_due_run(et(2026, 7, 4, 10, 0)) == (dt.date(2026, 7, 2), et(2026, 7, 2, 20, 30))  # Saturday → Thursday
    assert latest_due_run(et(2026, 6, 29, 20, 29)) == (dt.date(2026, 6, 28), et(2026, 6, 28, 20, 30))
    assert latest_due_run(et(2026, 6, 29, 20, 30))[0] == dt.date(2026, 6, 29)
    assert latest_due_run(et(2026, 7, 3, 23, 0), holidays={dt.date(2026, 7, 2)})[0] == dt.date(2026, 7, 1)
    assert daily_run_key(dt.date(2026, 6, 30)) == "daily-ingest:2026-06-30"


# --- leases ---------------------------------------------------------------------------------------

def test_a_lease_belongs_to_one_holder_and_done_is_final(engine):
    assert claim_run(engine, "k", "a", 60)
    assert not claim_run(engine, "k", "b", 60)
    assert claim_run(engine, "k", "a", 60)  # the holder itself: extends
    assert renew(engine, "k", "a", 60) and not renew(engine, "k", "b", 60)
    assert not finish(engine, "k", "b", "done")
    assert finish(engine, "k", "a", "done", "all good")
    run = get_run(engine, "k")
    assert (run.status, run.holder, run.detail) == ("done", "a", "all good") and run.finished_at is not None
    later = dt.datetime.now(UTC) + dt.timedelta(days=30)
    assert not claim_run(engine, "k", "a", 60, now=later) and not claim_run(engine, "k", "b", 60, now=later)
    with pytest.raises(ValueError):
        finish(engine, "k", "a", "running")


def test_failed_runs_may_be_claimed_again(engine):
    assert claim_run(engine, "k", "a", 60) and finish(engine, "k", "a", "failed", "boom")
    assert claim_run(engine, "k", "b", 60)
    assert get_run(engine, "k").detail == "taken over from a (failed)"


def test_an_expired_lease_is_taken_over_and_the_old_holder_loses(engine):
    long_ago = dt.datetime.now(UTC) - dt.timedelta(minutes=10)
    assert claim_run(engine, "k", "crashed", 60, now=long_ago)  # its lease ran out 9 minutes ago
    assert claim_run(engine, "k", "rescuer", 60)
    run = get_run(engine, "k")
    assert run.holder == "rescuer" and run.status == "running" and "expired lease" in run.detail
    assert not renew(engine, "k", "crashed", 60) and not finish(engine, "k", "crashed", "done")
    assert finish(engine, "k", "rescuer", "done")


def test_run_once_renews_the_lease_while_working(engine, monkeypatch):
    import paperboy.jobs.leases as leases_module

    leases, renewed = [], threading.Event()

    def renew_and_tell(*args, **kwargs):
        ok = renew(*args, **kwargs)
        if ok:
            renewed.set()
        return ok

    monkeypatch.setattr(leases_module, "renew", renew_and_tell)

    def body():
        leases.append(get_run(engine, "k").lease_until)
        assert renewed.wait(10), "the lease was never renewed"
        leases.append(get_run(engine, "k").lease_until)
        return 42

    result = run_once(engine, "k", body, holder="w", lease_seconds=3, renew_every=0.1)
    assert (result.claimed, result.status, result.value) == (True, "done", 42)
    assert leases[1] > leases[0]  # renewed in the background
    failed = run_once(engine, "k2", lambda: 1 / 0, holder="w", lease_seconds=60)
    assert failed.status == "failed" and "ZeroDivisionError" in failed.error
    assert get_run(engine, "k2").status == "failed"


# --- the worker -----------------------------------------------------------------------------------

TUESDAY_EVENING = et(2026, 6, 30, 21, 0)


def test_racing_workers_run_the_job_once(engine):
    """Four workers in four threads, each with its own engine (connection pool), race for the run."""
    ran, barrier = [], threading.Barrier(4)
    results = {}
    lock, others_gave_up = threading.Lock(), threading.Event()

    def ingest(day):
        ran.append(day)
        # The job runs until every other worker has tried to claim the run and given up.
        if not others_gave_up.wait(30):
            raise RuntimeError("the other workers never gave up")
        return "ingested"

    def worker(n):
        own = make_engine(str(engine.url))
        barrier.wait()
        results[n] = run_worker(own, once=True, now=lambda: TUESDAY_EVENING, jobs=[ingest], index=lambda: None,
                                holder=f"worker-{n}")  # fmt: skip
        own.dispose()
        with lock:
            if sum(1 for rs in results.values() if not any(r.claimed for r in rs)) == 3:
                others_gave_up.set()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert ran == [dt.date(2026, 6, 30)]
    outcomes = [r for rs in results.values() for r in rs]
    assert len(outcomes) == 4 and sum(r.claimed for r in outcomes) == 1
    assert [r.status for r in outcomes if r.claimed] == ["done"]
    run = get_run(engine, "daily-ingest:2026-06-30")
    step = json.loads(run.detail)["steps"][0]
    assert run.status == "done" and (step["step"], step["ok"], step["result"]) == ("ingest", True, "ingested")


def test_a_crashed_workers_run_is_taken_over(engine):
    key = "daily-ingest:2026-06-30"
    assert claim_run(engine, key, "crashed-worker", 60, now=dt.datetime.now(UTC) - dt.timedelta(minutes=5))
    ran = []
    [result] = run_worker(engine, once=True, now=lambda: TUESDAY_EVENING, jobs=[ran.append], holder="healthy")
    assert ran == [dt.date(2026, 6, 30)] and result.claimed and result.status == "done"
    run = get_run(engine, key)
    assert run.holder == "healthy" and run.status == "done"


def test_a_live_lease_is_respected_and_looked_at_again_when_it_would_expire(engine):
    key = "daily-ingest:2026-06-30"
    assert claim_run(engine, key, "busy-worker", 3600)
    ran = []
    [result] = run_worker(engine, once=True, now=lambda: TUESDAY_EVENING, jobs=[ran.append], holder="other")
    assert not result.claimed and ran == []


def test_no_run_on_friday_or_saturday_evenings(engine):
    ran = []
    thursday = "daily-ingest:2026-07-02"
    assert claim_run(engine, thursday, "x", 60) and finish(engine, thursday, "x", "done")
    for evening in (et(2026, 7, 3, 21, 0), et(2026, 7, 4, 21, 0)):
        results = run_worker(engine, once=True, now=lambda evening=evening: evening, jobs=[ran.append])
        assert [(r.run_key, r.claimed) for r in results] == [(thursday, False)]  # only Thursday's is due: done
    assert ran == []
    # Sunday evening runs again.
    run_worker(engine, once=True, now=lambda: et(2026, 7, 5, 20, 45), jobs=[ran.append])
    assert ran == [dt.date(2026, 7, 5)]


def fast_clock(start: dt.datetime, step: dt.timedelta, *, until: dt.datetime):
    """(now, stop, clock) for a worker on a fast clock: time flies, every look at ``now()`` is
    ``step`` later (``clock[0]``), and ``stop`` is set once it is past ``until``."""
    clock, stop = [start], threading.Event()

    def now():
        clock[0] += step
        if clock[0] > until:
            stop.set()
        return clock[0]

    return now, stop, clock


def test_worker_loop_runs_each_announcement_evening_then_indexes(engine):
    """The loop on a fast clock: Tuesday to the next Monday, every scheduled evening but Friday and Saturday."""
    now, stop, _ = fast_clock(et(2026, 6, 30, 19, 0), dt.timedelta(hours=3), until=et(2026, 7, 6, 23, 0))
    steps = []

    def ingest(day):
        steps.append(("ingest", day))

    def index():
        steps.append(("index", None))

    results = run_worker(engine, now=now, jobs=[ingest], index=index, stop=stop, sleep_step=0.001, holder="w")
    days = [day for step, day in steps if step == "ingest"]
    assert days == [dt.date(2026, 6, d) for d in (30,)] + [dt.date(2026, 7, d) for d in (1, 2, 5, 6)]
    assert [s for s, _ in steps] == ["ingest", "index"] * 5  # indexing follows each ingest
    assert all(r.status == "done" for r in results)


def test_a_failing_job_fails_the_run_but_the_rest_still_runs_and_it_is_retried(engine):
    calls = []

    def flaky(day):
        calls.append("flaky")
        if len(calls) == 1:
            raise RuntimeError("arXiv was down")
        return "ok"

    def steady(day):
        calls.append("steady")

    clock = [TUESDAY_EVENING]

    def now():
        return clock[0]

    [first] = run_worker(engine, once=True, now=now, jobs=[flaky, steady], index=lambda: calls.append("index"))
    assert first.status == "failed" and calls == ["flaky", "steady", "index"]
    detail = json.loads(get_run(engine, "daily-ingest:2026-06-30").detail)
    assert detail["failed"] == ["flaky"] and "arXiv was down" in detail["steps"][0]["error"]
    [second] = run_worker(engine, once=True, now=now, jobs=[flaky, steady])  # a later pass (or another worker)
    assert second.status == "done" and get_run(engine, "daily-ingest:2026-06-30").status == "done"


def test_a_running_worker_embeds_newly_imported_papers_between_daily_runs(engine):
    """Papers from an import (or a manual ingest, or a submission) get their vectors from the
    running workers within a polling step — once, whichever of two workers gets there first."""
    from fake_embedder import FakeEmbedder
    from paperboy.papers.model import PaperRecord
    from paperboy.search.indexer import embed_pending
    from paperboy.store import repo
    from paperboy.store.db import write_transaction
    from paperboy.store.schema import paper_embeddings

    embedder, calls = FakeEmbedder(), []
    looked = threading.Condition()  # notified at each look at the clock and each embedding run

    def embed_new():
        report = embed_pending(engine, embedder)
        with looked:
            calls.append(report.embedded)
            looked.notify_all()
        return {"embedded": report.embedded}

    def embedded() -> int:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(paper_embeddings)).scalar()

    stop = threading.Event()
    looks: dict[str, int] = {}  # worker thread → times it looked at the clock (once a polling step)

    def far_from_any_run():  # Wednesday noon: the last run is done, the next is hours away
        with looked:
            name = threading.current_thread().name
            looks[name] = looks.get(name, 0) + 1
            looked.notify_all()
        return et(2026, 7, 1, 12, 0)

    def wait_for_steps(n: int) -> None:
        """Until each worker has looked at the clock ``n`` more times: ``n - 1`` whole polling steps."""
        with looked:
            target = {w.name: looks.get(w.name, 0) + n for w in workers}
            assert looked.wait_for(lambda: all(looks.get(k, 0) >= v for k, v in target.items()), timeout=20), looks

    def wait_for_embedding() -> None:
        with looked:
            assert looked.wait_for(lambda: calls, timeout=20), "nobody embedded the new papers"

    assert claim_run(engine, "daily-ingest:2026-06-30", "earlier", 60) and finish(engine, "daily-ingest:2026-06-30", "earlier", "done")
    workers = [
        threading.Thread(target=run_worker, args=(make_engine(str(engine.url)),), name=f"worker-{n}",
                         kwargs=dict(now=far_from_any_run, jobs=[], index=None, stop=stop, sleep_step=0.05,
                                     holder=f"w{n}", embed_new=embed_new))  # fmt: skip
        for n in range(2)
    ]
    for w in workers:
        w.start()
    try:
        wait_for_steps(10)  # both workers past their first pass, waiting between runs
        assert embedded() == 0
        with write_transaction(engine) as conn:
            repo.upsert_papers(conn, [PaperRecord(arxiv_id=f"2607.0000{i}", title=f"Paper {i}", abstract="Graph networks.",
                                                  authors=["A. Author"], categories=["cs.LG"], announced=dt.date(2026, 7, 2))
                                      for i in range(1, 4)])  # fmt: skip
        wait_for_embedding()
        assert embedded() == 3
        wait_for_steps(3)  # two more polling steps each: nothing new, nothing run again
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=20)
    assert calls == [3]  # one run, by one of the two workers
    run = get_run(engine, f"embed-new:{max_paper_id(engine)}")
    assert run is not None and run.status == "done"


def max_paper_id(engine) -> int:
    from paperboy.store.repo import newest_paper_id

    with engine.connect() as conn:
        return newest_paper_id(conn)


def test_first_runs_come_before_the_daily_run_and_without_daily_there_is_none(engine):
    """``first`` (the first run's backfill) runs before the daily run of the same pass, once; with
    ``daily=False`` (PAPERBOY_INGEST off) there is no daily run at all."""
    from paperboy.jobs.scheduler import Scheduled

    order = []
    first = Scheduled(due=lambda now: [("first-run-backfill", lambda: order.append("backfill"))],
                      next_at=lambda now: now + dt.timedelta(days=1))  # fmt: skip
    results = run_worker(engine, once=True, now=lambda: TUESDAY_EVENING, jobs=[lambda day: order.append("daily")],
                         index=lambda: None, first=[first])  # fmt: skip
    assert order == ["backfill", "daily"] and [r.run_key for r in results] == ["first-run-backfill", "daily-ingest:2026-06-30"]
    run_worker(engine, once=True, now=lambda: TUESDAY_EVENING, jobs=[lambda day: order.append("daily")], first=[first])
    assert order == ["backfill", "daily"]  # both done: neither again
    off = []
    assert run_worker(engine, once=True, now=lambda: et(2026, 7, 1, 21, 0), jobs=[off.append], daily=False) == []
    assert off == [] and get_run(engine, "daily-ingest:2026-07-01") is None


def test_each_poll_steps_run_at_every_pass_and_wake_up_and_their_errors_do_not_stop_the_worker(engine):
    """The outbox step: called each pass and each polling step; a failing one is logged, the loop goes on."""
    calls = []
    woken = threading.Condition()
    stop = threading.Event()

    def mail():
        with woken:
            calls.append("mail")
            woken.notify_all()
        if len(calls) == 2:
            raise ConnectionError("SMTP server away")

    assert claim_run(engine, "daily-ingest:2026-06-30", "earlier", 60) and finish(engine, "daily-ingest:2026-06-30", "earlier", "done")
    worker = threading.Thread(target=run_worker, args=(engine,), kwargs=dict(now=lambda: et(2026, 7, 1, 12, 0), jobs=[], stop=stop,
                                                                             sleep_step=0.01, each_poll=[mail]))  # fmt: skip
    worker.start()
    try:
        with woken:
            assert woken.wait_for(lambda: len(calls) >= 5, timeout=20), calls  # past the failing second call
    finally:
        stop.set()
        worker.join(timeout=20)
    assert not worker.is_alive()


def test_a_failed_first_run_is_tried_again_at_its_retry_time_even_when_the_worker_woke_before_it(engine):
    """The first run's backfill fails at 20:01 (retry half an hour later); the daily run wakes the
    worker at 20:30, before that retry is due. The retry must still be woken for at its own time,
    not forgotten until the next day's run (as it is for the daily run's own retries)."""
    from paperboy.jobs.scheduler import Scheduled

    now, stop, clock = fast_clock(et(2026, 6, 30, 20, 0), dt.timedelta(minutes=1), until=et(2026, 6, 30, 23, 0))
    tries = []

    def backfill():
        tries.append(clock[0])
        if len(tries) == 1:
            raise RuntimeError("arXiv was down")

    first = Scheduled(due=lambda now: [("first-run-backfill", backfill)], next_at=lambda now: now + dt.timedelta(days=1))
    run_worker(engine, now=now, jobs=[], index=lambda: None, stop=stop, sleep_step=0.001, holder="w", first=[first])
    assert len(tries) == 2, tries
    assert et(2026, 6, 30, 20, 30) < tries[1] < et(2026, 6, 30, 20, 40)  # half an hour after the failure
    assert get_run(engine, "first-run-backfill").status == "done"


def test_retries_look_again_when_anothers_lease_ends_and_give_up_after_max_attempts_of_their_own(engine):
    """The worker's bookkeeping per run key: a run another worker holds is looked at again one
    second after its lease ends and costs no try; a failed run is tried again ``retry_delay`` later,
    at most ``max_attempts`` times; a done run is not run again here."""
    from paperboy.jobs.scheduler import Retries

    current = dt.datetime.now(UTC)  # the leases' own clock
    retries = Retries(engine, max_attempts=2, retry_delay=60, clock=lambda: current)
    later = current + dt.timedelta(days=1)

    assert claim_run(engine, "held", "busy-worker", 3600)
    lease_until = get_run(engine, "held").lease_until
    looking = current
    for _ in range(3):  # more than max_attempts: a held run costs no try
        result = retries.run("held", lambda: run_once(engine, "held", lambda: None, holder="w", lease_seconds=60), looking)
        assert result is not None and not result.claimed
        looking = retries.wake("held", later)
        assert looking == lease_until + dt.timedelta(seconds=1)
        assert retries.run("held", lambda: pytest.fail("not before the lease ends"), looking - dt.timedelta(seconds=1)) is None

    failing = lambda: run_once(engine, "flaky", lambda: 1 / 0, holder="w", lease_seconds=60)  # noqa: E731
    assert retries.run("flaky", failing, current).status == "failed"
    assert retries.wake("flaky", later) == current + dt.timedelta(seconds=60)
    assert retries.run("flaky", lambda: pytest.fail("not before the retry time"), current) is None
    assert retries.run("flaky", failing, later).status == "failed"
    assert retries.run("flaky", lambda: pytest.fail("two tries were the most"), later + dt.timedelta(days=1)) is None
    assert retries.wake("flaky", later) == later  # given up: nothing to wake for

    assert retries.run("once", lambda: run_once(engine, "once", lambda: "ok", holder="w", lease_seconds=60), current).claimed
    assert retries.run("once", lambda: pytest.fail("done: not again"), later) is None
