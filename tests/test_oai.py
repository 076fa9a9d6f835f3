"""OAI-PMH: parsers on arXiv's real recordings, harvesting end to end against the loopback fake
(tests/fake_arxiv.py: multi-page sequences cut from the recorded ListRecords, injected faults, a real
kill -9), the shared rate limiter seen from the server's side, and the `paperboy ingest` commands."""

from __future__ import annotations

import datetime as dt
import email.utils
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import func, select

from conftest import run_cli
from fake_arxiv import ATOM, OAI, Fault, serve_fake_arxiv
from paperboy.ingest.arxiv_api import ApiPage
from paperboy.ingest.dumps import estimated_announce_day, parse_kaggle
from paperboy.ingest.http import RetryPolicy, ServiceError, ServiceUnavailable, SharedRateLimiter
from paperboy.ingest.oai import OaiClient, OaiError, checkpoint_key, harvest, parse_get_record, parse_list_records
from paperboy.ingest.pages import get_checkpoint
from paperboy.store import repo, versions
from paperboy.store.db import make_engine, write_transaction
from paperboy.store.schema import paper_authors, papers, request_slots

LIST = (OAI / "ListRecordsResponse.xml").read_bytes()
IDS = ["0704.0471", "0704.0716", "0704.0874", "0704.1109", "0704.1114", "0704.1586"]


# --- parsers on the real recordings -------------------------------------------------------------

def test_list_records_recording():
    page = parse_list_records(LIST)
    assert [r.arxiv_id for r in page.records] == IDS
    assert page.resumption_token == "726959|1001"
    assert page.complete_list_size == 58011 and page.cursor == 0
    assert page.skipped == 0 and page.deleted == []
    assert page.datestamps["0704.0716"] == dt.date(2014, 12, 22)

    by_id = {r.arxiv_id: r for r in page.records}
    shetty = by_id["0704.0471"]
    assert shetty.title == ("Density dependence of the symmetry energy and the nuclear equation of state: "
                            "A Dynamical and Statistical model perspective")  # fmt: skip
    assert shetty.authors == ["D.V. Shetty", "S.J. Yennello", "G.A. Souliotis"]  # "…, and G.A. Souliotis"
    assert shetty.categories == ["nucl-ex", "nucl-th"]
    assert shetty.version == 1 and shetty.published == shetty.updated == dt.date(2007, 4, 3)
    assert 'an extremely " stiff " and " soft " form' in shetty.abstract  # &quot; decoded, line breaks folded
    assert shetty.abstract.startswith("The density dependence") and "\n" not in shetty.abstract
    assert shetty.journal_ref == "Phys.Rev.C76:024606,2007; Erratum-ibid.C76:039902,2007"
    assert shetty.doi == "10.1103/PhysRevC.76.024606 10.1103/PhysRevC.76.039902"
    assert shetty.license is None and shetty.source == "oai"

    richard = by_id["0704.0716"]
    assert richard.version == 4
    assert richard.published == dt.date(2007, 4, 5) and richard.updated == dt.date(2008, 11, 14)
    assert richard.categories == ["math-ph", "math.MP"] and richard.msc_classes == ["05A15", "05A16"]
    assert richard.comment.startswith("54 pages, 2 figures; v2 updated") and "  " not in richard.comment
    assert richard.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert by_id["0704.1109"].authors == ["Valeria M. Rosa", "Patricio S. letelier"]
    assert by_id["0704.0874"].version == 3 and by_id["0704.0874"].updated == dt.date(2014, 11, 20)


def test_announced_day_is_the_kaggle_estimate_from_v1():
    """The announced day is estimated exactly as the Kaggle import does, from v1's submission time."""
    record = parse_list_records(LIST).records[0]  # v1: Tue, 3 Apr 2007 22:04:11 GMT, after the 14:00 ET cutoff
    assert record.announced == dt.date(2007, 4, 5)
    kaggle = parse_kaggle({
        "id": "0704.0471", "title": record.title, "abstract": record.abstract, "authors": "D.V. Shetty",
        "categories": "nucl-ex nucl-th", "versions": [{"version": "v1", "created": "Tue, 3 Apr 2007 22:04:11 GMT"}],
    })  # fmt: skip
    assert (kaggle.announced, kaggle.published, kaggle.updated) == (record.announced, record.published, record.updated)


def test_get_record_recording():
    record = parse_get_record((OAI / "GetRecordResponse.xml").read_bytes())
    assert record.arxiv_id == "1302.2146" and record.version == 2
    assert record.title == "The Same-Sign Dilepton Signature of RPV/MFV SUSY"
    assert record.authors == ["Joshua Berger", "Maxim Perelstein", "Michael Saelim", "Philip Tanedo"]
    assert record.categories == ["hep-ph", "hep-ex"] and record.primary_category == "hep-ph"
    assert record.comment == "18 pages, 6 figures; v2: References added"
    assert record.published == dt.date(2013, 2, 8) and record.updated == dt.date(2013, 4, 2)
    # v1 came in on a Friday after the cutoff: Monday's batch, listed on Tuesday 12 February.
    first = email.utils.parsedate_to_datetime("Fri, 8 Feb 2013 21:00:01 GMT")
    assert record.announced == estimated_announce_day(first) == dt.date(2013, 2, 12)
    assert record.abstract.startswith("The lack of observation of superpartners") and record.abstract.endswith("data set.")


@pytest.mark.parametrize(
    "name, code, words",
    [
        ("ErrorResponseBadArgument.xml", "badArgument", "illegal argument 'identifier'"),
        ("ErrorResponseBadResumptionToken.xml", "badResumptionToken", "resumptionToken supplied is illegal"),
        ("ErrorResponseBadVerb.xml", "badVerb", "Verb 'wah' not implemented"),
        ("ErrorResponseIdDoesNotExist.xml", "idDoesNotExist", "oai:arXiv.org:0813.2274"),
        ("ErrorResponseNoRecordsMatch.xml", "noRecordsMatch", "The setSpec was 'moo'"),
    ],
)
def test_every_oai_error_response_has_its_code(name, code, words):
    body = (OAI / name).read_bytes()
    for parse in (parse_list_records, parse_get_record):
        with pytest.raises(OaiError) as caught:
            parse(body)
        assert caught.value.code == code and words in caught.value.explanation
        assert code in str(caught.value) and not isinstance(caught.value, ServiceUnavailable)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><error code="badVerb">&lol3;</error></OAI-PMH>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>&xxe;</ListRecords></OAI-PMH>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL, LIST.replace(b"<OAI-PMH ", b'<!DOCTYPE OAI-PMH SYSTEM "http://127.0.0.1:9/x.dtd">\n<OAI-PMH ', 1)])
def test_hostile_xml_is_refused_not_expanded(body):
    with pytest.raises(ServiceError) as caught:
        parse_list_records(body)
    assert "refused" in str(caught.value) and not isinstance(caught.value, (ServiceUnavailable, OaiError))
    assert "root:" not in str(caught.value) and "lollol" not in str(caught.value)


@pytest.mark.parametrize("cut", [40, len(LIST) // 2, len(LIST) - 12])
def test_truncated_or_foreign_bodies_are_unavailable(cut):
    with pytest.raises(ServiceUnavailable):
        parse_list_records(LIST[:cut])
    with pytest.raises(ServiceUnavailable):
        parse_list_records(b"<html><body>Service temporarily unavailable</body></html>")


ARXIV_FORMAT = """<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">
<responseDate>2026-06-02T10:00:00Z</responseDate>
<request verb="ListRecords" metadataPrefix="arXiv" set="cs">https://oaipmh.arxiv.org/oai</request>
<ListRecords>
<record><header><identifier>oai:arXiv.org:2606.01234</identifier><datestamp>2026-06-02</datestamp><setSpec>cs</setSpec></header>
<metadata><arXiv xmlns="http://arxiv.org/OAI/arXiv/">
 <id>2606.01234</id><created>2026-05-29</created><updated>2026-06-01</updated>
 <authors><author><keyname>Wübben</keyname><forenames>Dirk</forenames></author>
  <author><keyname>Doe</keyname><forenames>J.</forenames><suffix>Jr</suffix><affiliation>MIT</affiliation></author></authors>
 <title>A  Title
  over two lines</title><categories>cs.CL cs.LG</categories><comments>9 pages</comments>
 <msc-class>68T50</msc-class><acm-class>I.2.7; H.3.3</acm-class><journal-ref>ACL 2026</journal-ref>
 <doi>10.1000/xyz</doi><license>http://creativecommons.org/licenses/by/4.0/</license>
 <abstract>  An abstract
with a hard break. </abstract></arXiv></metadata></record>
<record><header status="deleted"><identifier>oai:arXiv.org:hep-th/9901001</identifier><datestamp>2026-06-01</datestamp></header></record>
<record><header><identifier>oai:arXiv.org:junk</identifier><datestamp>2026-06-01</datestamp></header>
<metadata><arXiv xmlns="http://arxiv.org/OAI/arXiv/"><id>not-an-id</id><title>x</title></arXiv></metadata></record>
<resumptionToken cursor="1000" completeListSize="1003"></resumptionToken>
</ListRecords></OAI-PMH>""".encode()


def test_arxiv_format_deleted_records_and_the_last_page():
    page = parse_list_records(ARXIV_FORMAT)
    assert page.resumption_token is None  # an empty token element marks the last page
    assert (page.complete_list_size, page.cursor) == (1003, 1000)
    assert page.deleted == ["hep-th/9901001"] and page.skipped == 1
    [r] = page.records
    assert r.arxiv_id == "2606.01234" and r.version is None
    assert r.title == "A Title over two lines" and r.abstract == "An abstract with a hard break."
    assert r.authors == ["Dirk Wübben", "J. Doe Jr"]
    assert r.categories == ["cs.CL", "cs.LG"] and r.acm_classes == ["I.2.7", "H.3.3"] and r.msc_classes == ["68T50"]
    assert (r.comment, r.journal_ref, r.doi) == ("9 pages", "ACL 2026", "10.1000/xyz")
    assert r.published == dt.date(2026, 5, 29) and r.updated == dt.date(2026, 6, 1)
    # Friday 29 May, time unknown: taken as the end of the day (after the cutoff), so Monday's
    # batch, listed Tuesday 2 June — the latest day it can have been listed.
    assert r.announced == dt.date(2026, 6, 2)


# --- harvesting from the loopback fake: three pages of two records, linked by tok-2 and tok-3 -------

@pytest.fixture
def oai():
    with serve_fake_arxiv() as fake:
        yield fake


class Sleeps(list):
    """Records the waits the retry loop asks for, and waits none of them."""

    def __call__(self, seconds):
        self.append(seconds)


def client_for(fake, *, limiter=None, sleep=None, timeout=5.0, retries=3) -> OaiClient:
    policy = RetryPolicy(retries=retries, backoff=0.01, max_backoff=0.05, max_retry_after=5.0)
    return OaiClient(fake.oai_url, user_agent="Paperboy-test (mailto:ops@example.org)", limiter=limiter, timeout=timeout,
                     policy=policy, sleep=Sleeps() if sleep is None else sleep)  # fmt: skip


def stored_ids(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(papers.c.arxiv_id)).scalars())


# --- harvesting end to end ------------------------------------------------------------------------

def test_multi_page_harvest_checkpoints_and_spaces_requests(engine, oai):
    limiter = SharedRateLimiter(engine, "arxiv-oai", 0.2)
    seen = []
    with client_for(oai, limiter=limiter) as client:
        summary = harvest(engine, client, set_spec="cs", from_date=dt.date(2026, 6, 1),
                          progress=lambda done, total: seen.append((done, total)))  # fmt: skip
    assert summary.complete and summary.pages == 3 and summary.records == 6
    assert (summary.new, summary.updated, summary.unchanged) == (6, 0, 0)
    assert summary.resumed_at_page is None and summary.last_datestamp == dt.date(2014, 12, 22)
    assert seen == [(2, 6), (4, 6), (6, 6)]
    assert stored_ids(engine) == IDS
    with engine.connect() as conn:
        paper = repo.get_paper(conn, "0704.0716")
    assert paper.version == 4 and paper.msc_classes == ["05A15", "05A16"] and paper.source == "oai"

    # The first request carries the harvest's arguments, the others only a token (OAI-PMH's rule).
    assert oai.requests[0]["params"] == {"verb": "ListRecords", "metadataPrefix": "arXivRaw", "set": "cs", "from": "2026-06-01"}
    assert [r["params"] for r in oai.requests[1:]] == [
        {"verb": "ListRecords", "resumptionToken": "tok-2"}, {"verb": "ListRecords", "resumptionToken": "tok-3"}]
    assert all(r["headers"]["User-Agent"] == "Paperboy-test (mailto:ops@example.org)" for r in oai.requests)
    starts = [r["start"] for r in oai.requests]
    assert all(b - a >= 0.2 for a, b in zip(starts, starts[1:])), starts

    key = checkpoint_key("cs", "arXivRaw", "2026-06-01", None)
    assert key == "oai:arXivRaw:cs:2026-06-01:"
    point = get_checkpoint(engine, key)
    assert point.complete and point.pages == 3 and point.records == 6 and point.resumption_token is None

    # A finished harvest run again starts over, and storing the same papers again changes nothing.
    with client_for(oai) as client:
        again = harvest(engine, client, set_spec="cs", from_date="2026-06-01")
    assert (again.new, again.updated, again.unchanged, again.pages) == (0, 0, 6, 3)
    assert oai.tokens()[3] is None


def test_dry_run_writes_nothing(engine, oai):
    with engine.connect() as conn:
        version = versions.content_version(conn)
    with client_for(oai) as client:
        summary = harvest(engine, client, set_spec="cs", dry_run=True)
    assert summary.dry_run and summary.complete and (summary.new, summary.updated) == (6, 0)
    assert summary.changed_ids == IDS
    assert stored_ids(engine) == [] and get_checkpoint(engine, checkpoint_key("cs")) is None
    with engine.connect() as conn:
        assert versions.content_version(conn) == version


def test_no_records_match_is_an_empty_complete_harvest(engine, oai):
    with client_for(oai) as client:
        summary = harvest(engine, client, set_spec="moo")
    assert summary.complete and summary.records == 0 and summary.pages == 1
    assert get_checkpoint(engine, checkpoint_key("moo")).complete


def test_expired_token_asks_for_restart_and_restart_starts_over(engine, oai):
    key = checkpoint_key("cs")
    with write_transaction(engine) as conn:
        from paperboy.store.schema import harvest_checkpoints

        conn.execute(harvest_checkpoints.insert().values(key=key, resumption_token="expired", pages=4, records=4000,
                                                         complete=False, updated_at=dt.datetime.now(dt.timezone.utc)))  # fmt: skip
    with client_for(oai) as client:
        with pytest.raises(ServiceError) as caught:
            harvest(engine, client, set_spec="cs")
        assert "--restart" in str(caught.value) and "page 5" in str(caught.value)
        assert oai.tokens() == ["expired"]
        summary = harvest(engine, client, set_spec="cs", restart=True)
    assert summary.complete and summary.records == 6 and summary.resumed_at_page is None
    assert oai.tokens() == ["expired", None, "tok-2", "tok-3"]
    assert get_checkpoint(engine, key).pages == 3


def test_503_with_retry_after_is_honoured_seen_from_the_server(engine, oai):
    oai.script = [Fault(503, {"Retry-After": "1"}, b"busy")]
    with client_for(oai, sleep=time.sleep) as client:
        summary = harvest(engine, client, set_spec="cs")
    assert summary.complete and summary.records == 6
    assert oai.tokens() == [None, None, "tok-2", "tok-3"]
    assert oai.requests[1]["start"] - oai.requests[0]["start"] >= 1.0


@pytest.mark.parametrize(
    "fault, what",
    [(Fault(hang=True), "timeout"), (Fault(cut=0.5), "cut-short XML"), (Fault(hangup=True), "connection closed mid-body"),
     (Fault(500, body=b"busy"), "HTTP 500"), (Fault(429, {"Retry-After": "0"}, b"busy"), "HTTP 429")],
)
def test_transient_faults_are_retried(engine, oai, fault, what):
    oai.script = [None, fault]  # page 1 clean, the first request for page 2 faulty
    sleeps = Sleeps()
    with client_for(oai, sleep=sleeps, timeout=0.5) as client:
        summary = harvest(engine, client, set_spec="cs")
    assert summary.complete and summary.records == 6 and stored_ids(engine) == IDS, what
    assert oai.tokens() == [None, "tok-2", "tok-2", "tok-3"], what
    assert len(sleeps) == 1


def test_persistent_failure_gives_up_with_a_clear_error(engine, oai):
    oai.script = [Fault(503, body=b"busy")] * 4
    sleeps = Sleeps()
    with client_for(oai, sleep=sleeps, retries=3) as client:
        with pytest.raises(ServiceUnavailable) as caught:
            harvest(engine, client, set_spec="cs")
    assert "HTTP 503" in str(caught.value) and "after 4 tries" in str(caught.value)
    assert len(oai.requests) == 4 and len(sleeps) == 3
    assert sleeps[0] < sleeps[2]  # exponential backoff
    assert get_checkpoint(engine, checkpoint_key("cs")) is None


KILLED_HARVEST = """
import sys
from paperboy.store.db import make_engine
from paperboy.ingest.oai import OaiClient, harvest
from paperboy.ingest.http import SharedRateLimiter
engine = make_engine(sys.argv[1])
limiter = SharedRateLimiter(engine, "arxiv-oai", 0.05, hold=1.0)
with OaiClient(sys.argv[2], user_agent="killed-harvest", limiter=limiter, timeout=60) as client:
    harvest(engine, client, set_spec="cs", from_date="2026-06-01")
print("finished")  # never reached: killed while page 2 is in flight
"""


def test_kill_9_mid_harvest_resumes_at_the_page_it_had_not_stored(engine, oai):
    page_2 = threading.Event()
    oai.script = [None, Fault(hold=page_2)]  # page 1 answered, page 2 held until the harvest is dead
    proc = subprocess.Popen([sys.executable, "-c", KILLED_HARVEST, str(engine.url), oai.oai_url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "tok-2" not in oai.tokens():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the harvest never asked for page 2"
            time.sleep(0.02)
        key = checkpoint_key("cs", from_date="2026-06-01")
        point = get_checkpoint(engine, key)
        assert (point.pages, point.records, point.resumption_token, point.complete) == (1, 2, "tok-2", False)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert stored_ids(engine) == IDS[:2]
    before = len(oai.requests)
    page_2.set()

    # The rerun shares the dead process's request slot: it waits out its hold (1 s), then resumes.
    limiter = SharedRateLimiter(engine, "arxiv-oai", 0.05, hold=1.0)
    with client_for(oai, limiter=limiter) as client:
        summary = harvest(engine, client, set_spec="cs", from_date="2026-06-01")
    assert summary.resumed_at_page == 2 and summary.pages == 2 and summary.records == 4 and summary.complete
    assert oai.tokens()[before:] == ["tok-2", "tok-3"]  # page 2 asked again, page 1 never
    assert stored_ids(engine) == IDS  # all there, each once
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(papers)).scalar() == 6
        assert conn.execute(select(func.count()).select_from(paper_authors)).scalar() == 3 + 1 + 1 + 2 + 1 + 2
    point = get_checkpoint(engine, checkpoint_key("cs", from_date="2026-06-01"))
    assert (point.pages, point.records, point.complete) == (3, 6, True)


# --- the shared rate limiter, from the server's side -------------------------------------------------

LIMITED_CLIENT = """
import sys, httpx
from paperboy.store.db import make_engine
from paperboy.ingest.http import SharedRateLimiter
url, db, name = sys.argv[1], sys.argv[2], sys.argv[3]
limiter = SharedRateLimiter(make_engine(db), "test-service", 0.3)
with httpx.Client() as http:
    print("ready", flush=True)
    sys.stdin.readline()  # the test says go to both processes at once
    for n in range(3):
        with limiter.slot():
            http.get(url + name + str(n)).raise_for_status()
"""


def test_two_processes_share_one_slot(engine):
    with serve_fake_arxiv() as server:
        # Every other request takes 0.4 s, longer than the interval (a slow server; what is checked
        # is that no two requests overlap and starts keep their distance, whatever the durations).
        server.script = [Fault(200, body=b"ok", delay=0.4 if n % 2 else 0.02) for n in range(6)]
        procs = [subprocess.Popen([sys.executable, "-c", LIMITED_CLIENT, server.url + "/", str(engine.url), name],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for name in ("a", "b")]  # fmt: skip
        for proc in procs:  # both set up and waiting…
            assert proc.stdout.readline() == "ready\n", proc.communicate()
        for proc in procs:  # …then both start hammering at the same moment
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            _, stderr = proc.communicate(timeout=60)
            assert proc.returncode == 0, stderr
        spans = sorted((r["start"], r["end"], r["path"]) for r in server.requests)
    assert len(spans) == 6 and {p[1] for _, _, p in spans} == {"a", "b"}
    # Turns alternate once both are waiting: the process that just had the slot queues behind the other.
    order = "".join(p[1] for _, _, p in spans)
    both = order.index("b" if order[0] == "a" else "a")
    for j in range(both, len(order) - 1):
        assert order[j] != order[j + 1] or order[j + 1 :].count(order[j]) == len(order) - j - 1, order
    for (start, end, _), (next_start, _, _) in zip(spans, spans[1:]):
        assert next_start - start >= 0.3, spans  # starts at least min_interval apart
        assert next_start >= end + 0.3 - 0.01, spans  # never overlapping, even the 0.4 s requests
    with engine.connect() as conn:
        assert conn.execute(select(request_slots.c.service)).scalars().all() == ["test-service"]


def test_a_crashed_holder_blocks_the_slot_only_for_its_hold(engine):
    dead = SharedRateLimiter(engine, "svc", 0.05, hold=0.6)
    dead._claim()  # took the slot and died without giving it back
    started = time.monotonic()
    with SharedRateLimiter(engine, "svc", 0.05, hold=0.6).slot():
        waited = time.monotonic() - started
    assert 0.45 <= waited < 3.0


# --- the CLI ----------------------------------------------------------------------------------------

def test_cli_ingest_oai_dry_run_run_and_restart(tmp_path, oai):
    base = ["ingest", "oai", "--set", "cs", "--from", "2026-06-01", "--base-url", oai.oai_url, "--min-interval", "0.05"]
    dry = run_cli([*base, "--migrate", "--dry-run"], tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "would add 6 new" in dry.stdout and "0704.0471" in dry.stdout
    engine = make_engine(f"sqlite:///{tmp_path / 'paperboy.db'}")
    assert stored_ids(engine) == []

    with write_transaction(engine) as conn:
        from paperboy.store.schema import harvest_checkpoints

        conn.execute(harvest_checkpoints.insert().values(key=checkpoint_key("cs", from_date="2026-06-01"),
                     resumption_token="gone", pages=1, records=2, complete=False,
                     updated_at=dt.datetime.now(dt.timezone.utc)))  # fmt: skip
    stale = run_cli(base, tmp_path)
    assert stale.returncode == 1 and "--restart" in stale.stderr and "Traceback" not in stale.stderr

    run = run_cli([*base, "--restart"], tmp_path)
    assert run.returncode == 0, run.stderr
    assert "6 records in 3 pages: 6 new, 0 updated, 0 unchanged" in run.stdout
    assert stored_ids(engine) == IDS
    engine.dispose()


def test_cli_refuses_to_hurry_arxiv(tmp_path):
    r = run_cli(["ingest", "oai", "--set", "cs", "--min-interval", "0.5", "--migrate"], tmp_path)
    assert r.returncode == 1 and "at least 3 seconds" in r.stderr
    bad = run_cli(["ingest", "arxiv", "--categories", "cs.CL,nonsense", "--migrate"], tmp_path)
    assert bad.returncode == 2 and "nonsense" in bad.stderr


def test_arxiv_paging_slices_and_cap():
    from paperboy.ingest.recent import query_pages, search_query

    start = dt.datetime(2026, 6, 28, 20, 30, tzinfo=dt.timezone.utc)
    end = dt.datetime(2026, 7, 1, 16, 30, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
    assert search_query(["cs.CL", "cs.LG"], start, end) == (
        "(cat:cs.CL OR cat:cs.LG) AND submittedDate:[202606282030 TO 202607012030]")
    assert search_query(["cs.CL"], start, end).startswith("cat:cs.CL AND submittedDate:[")

    class Recorder:
        def __init__(self, total):
            self.total, self.calls = total, []

        def query(self, q, *, start, max_results, sort_by, sort_order):
            self.calls.append((start, max_results, sort_by, sort_order))
            n = max(0, min(max_results, self.total - start))
            return ApiPage(self.total, start, max_results, records=[object()] * n)

    huge = Recorder(250_000)
    assert len(list(query_pages(huge, "q"))) == 15
    assert [c[0] for c in huge.calls] == list(range(0, 30_000, 2000)) and {c[1] for c in huge.calls} == {2000}
    assert huge.calls[0][2:] == ("submittedDate", "descending")
    small = Recorder(4100)
    list(query_pages(small, "q"))
    assert [c[0] for c in small.calls] == [0, 2000, 4000]


def test_arxiv_paging_against_the_recorded_api():
    from paperboy.ingest.arxiv_api import ArxivApiClient
    from paperboy.ingest.recent import query_pages

    with serve_fake_arxiv() as fake:
        # The recordings of "testing" were made with relevance order: route by the fake's key only.
        with ArxivApiClient(fake.api_url, user_agent="t", min_interval=0) as client:
            client.query = _relevance(client.query)
            pages = list(query_pages(client, "testing", page_size=10, max_total=30))
    assert [p.start_index for p in pages] == [0, 10, 20] and all(len(p.records) == 10 for p in pages)
    assert len({r.arxiv_id for p in pages for r in p.records}) == 30


def test_ingest_recent_stores_each_page_and_a_dry_run_writes_nothing(engine):
    from paperboy.ingest.arxiv_api import ArxivApiClient
    from paperboy.ingest.recent import ingest_recent

    atom = (ATOM / "q_testing_s0_m10_bc5a6c384fe9.xml").read_bytes()
    atom = atom.replace(b"<opensearch:totalResults>214881<", b"<opensearch:totalResults>10<")
    progress = []
    with serve_fake_arxiv() as fake:
        fake.always = Fault(200, {"Content-Type": "application/atom+xml"}, atom)
        with ArxivApiClient(fake.api_url, user_agent="t", min_interval=0) as client:
            dry = ingest_recent(engine, client, ["cs.SE"], 2, dry_run=True, progress=lambda done, total: progress.append((done, total)))
            assert stored_ids(engine) == []
            real = ingest_recent(engine, client, ["cs.SE"], 2)
            again = ingest_recent(engine, client, ["cs.SE"], 2)
    assert (dry.read, dry.new, dry.available, dry.dry_run) == (10, 10, 10, True) and progress == [(10, 10)]
    assert (real.new, real.updated, real.unchanged) == (10, 0, 0) and len(stored_ids(engine)) == 10
    assert (again.new, again.unchanged) == (0, 10)
    assert real.query.startswith("cat:cs.SE AND submittedDate:[") and len(fake.requests) == 3
    assert list(real.as_dict()) == ["read", "new", "updated", "unchanged", "available", "query", "dry_run", "changed_ids"]


def _relevance(query):
    def wrapped(q, **kw):
        kw.update(sort_by="relevance", sort_order="descending")
        return query(q, **kw)

    return wrapped


def test_cli_ingest_arxiv_builds_the_query_and_stores(tmp_path):
    atom = (ATOM / "q_testing_s0_m10_bc5a6c384fe9.xml").read_bytes()
    atom = atom.replace(b"<opensearch:totalResults>214881<", b"<opensearch:totalResults>10<")
    with serve_fake_arxiv() as fake:
        fake.always = Fault(200, {"Content-Type": "application/atom+xml"}, atom)
        r = run_cli(["ingest", "arxiv", "--categories", "cs.CL,cs.LG", "--days", "3", "--migrate", "--min-interval", "0"],
                    tmp_path, env={"PAPERBOY_ARXIV_API_URL": fake.api_url})  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "10 records: 10 new, 0 updated, 0 unchanged" in r.stdout
    [params] = [request["params"] for request in fake.requests]
    assert re.fullmatch(r"\(cat:cs\.CL OR cat:cs\.LG\) AND submittedDate:\[\d{12} TO \d{12}\]", params["search_query"])
    lo, hi = re.findall(r"\d{12}", params["search_query"])
    span = dt.datetime.strptime(hi, "%Y%m%d%H%M") - dt.datetime.strptime(lo, "%Y%m%d%H%M")
    assert span == dt.timedelta(days=3)
    assert (params["start"], params["max_results"], params["sortBy"]) == ("0", "2000", "submittedDate")
