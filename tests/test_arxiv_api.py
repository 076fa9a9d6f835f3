"""The arXiv API client: real recorded responses (2026 and 2016), hostile XML, and a loopback server.

The loopback server (tests/fake_arxiv.py) answers with the recorded bodies and statuses, chosen by
matching each request's query parameters against the request URLs recorded in ``atom/INDEX.tsv``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import threading
import time

import httpx
import pytest

from conftest import free_port
from fake_arxiv import API, ATOM, LEGACY, Fault, recorded, serve_fake_arxiv
from paperboy import __version__
from paperboy.config import Settings
from paperboy.ingest.arxiv_api import ApiPage, ArxivApiClient, ArxivErrorFeed, parse_feed
from paperboy.ingest.clients import client_for
from paperboy.ingest.http import RateLimiter, ServiceError, ServiceUnavailable, user_agent
from paperboy.papers.ids import parse_arxiv_id

if not (ATOM / "INDEX.tsv").exists():
    message = f"arXiv API fixtures not found under {API} (set PAPERBOY_SHARED)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


RECORDED = recorded()
OK_FILES = [ATOM / name for name, status, _ in RECORDED if status == 200] + sorted(LEGACY.glob("*.xml"))


def fixture(prefix: str) -> bytes:
    """The body of the one recorded 2026 response whose file name starts with ``prefix``."""
    (match,) = [name for name, _, _ in RECORDED if name.startswith(prefix)]
    return (ATOM / match).read_bytes()


def page(prefix: str) -> ApiPage:
    return parse_feed(fixture(prefix))


# --- parsing the real responses ----------------------------------------------------------------

@pytest.mark.parametrize("path", OK_FILES, ids=lambda p: f"{p.parent.name}/{p.name[:30]}")
def test_every_recorded_response_parses_into_sound_records(path):
    raw = path.read_bytes()
    result = parse_feed(raw)
    assert result.skipped == 0
    assert len(result.records) == min(result.items_per_page, max(0, result.total_results - result.start_index))
    assert len(result.records) == raw.count(b"<entry>")
    for r in result.records:
        assert parse_arxiv_id(r.arxiv_id).id == r.arxiv_id and r.version >= 1
        assert r.title and r.title == " ".join(r.title.split())
        assert r.abstract and r.abstract == " ".join(r.abstract.split())
        assert r.authors and all(a == " ".join(a.split()) for a in r.authors)
        assert r.categories and r.primary_category
        assert r.published and r.updated and r.published <= r.updated
        assert r.announced is None and r.source == "arxiv-api"
        text = " ".join([r.title, r.abstract, *r.authors, r.comment or "", r.journal_ref or ""])
        assert "Ã" not in text and not any("\x80" <= c <= "\x9f" for c in text)  # no mojibake left


def test_single_paper_2026():
    result = page("id_1605.08386")
    assert (result.total_results, result.start_index, result.items_per_page) == (1, 0, 100)
    (r,) = result.records
    assert (r.arxiv_id, r.version) == ("1605.08386", 1)
    assert r.title == "Heat-bath random walks with Markov bases"
    assert r.authors == ["Caprice Stanley", "Tobias Windisch"]
    assert r.categories == ["math.CO", "math.ST"] and r.primary_category == "math.CO"
    assert r.published == r.updated == dt.date(2016, 5, 26)
    assert r.comment == "20 pages, 3 figures"
    assert r.journal_ref is None and r.doi is None and r.license is None
    assert r.abstract.startswith("Graphs on lattice points are studied whose edges come from a finite set")


def test_multi_id_response_leaves_out_the_id_arxiv_does_not_know():
    # 0808.05394 has a five-digit number in 2008, so no such paper: arXiv answers 200 with nothing
    # for it, alone or in a list, instead of its error feed.
    assert page("id_0808.05394_s0").records == []
    both = page("id_0808.05394_1707.08567")
    assert both.total_results == 1
    assert [r.arxiv_id for r in both.records] == ["1707.08567"]
    (r,) = both.records
    assert r == page("id_1707.08567").records[0]
    assert len(r.authors) == 34
    assert r.authors[:3] == ["Kees A. Schouhamer Immink", "Stan Baggen", "Ferdaous Chaabane"]
    assert r.authors[-2:] == ["Dirk Wübben", "Hirosuke Yamamoto"]  # recorded as "WÃ¼bben"


def test_old_style_ids():
    (r,) = page("id_astro-ph_0601001").records
    assert (r.arxiv_id, r.version) == ("astro-ph/0601001", 1)
    assert r.categories == ["astro-ph"]
    assert r.journal_ref == "ActaAstron.56:1-50,2006"
    assert r.comment.startswith("62 pages including 16 figures and 9 tables.")
    assert r.authors == ["Andrew Gould", "Susan Dorsher", "B. Scott Gaudi", "Andrzej Udalski"]  # affiliations not mixed in
    assert r.abstract.startswith("We derive the frequencies of hot Jupiters (HJs)")  # leading blanks gone
    assert "(1/310)(1^{+1.39}_{-0.59})" in r.abstract and "V_max<17.5" in r.abstract  # TeX and entities kept

    (q,) = page("id_quant-ph_0201082v1").records
    assert (q.arxiv_id, q.version) == ("quant-ph/0201082", 1)
    assert q.categories == ["quant-ph", "cs.PL"]
    assert q.published == dt.date(2002, 1, 18)


def test_versioned_id_and_a_title_that_is_just_zero():
    (r,) = page("id_2104.12255v1").records
    assert (r.arxiv_id, r.version, r.title) == ("2104.12255", 1, "0")  # "0" is falsy but a real title
    assert r.categories == ["cs.CR"] and r.comment is None


def test_error_feed_carries_arxivs_explanation():
    with pytest.raises(ArxivErrorFeed) as info:
        parse_feed(fixture("id_abc"))
    assert info.value.explanation == "incorrect id format for abc"
    assert "incorrect id format for abc" in str(info.value)


def test_empty_result():
    result = page("id_0000.0000")
    assert result.records == [] and result.total_results == 0 and result.skipped == 0


@pytest.mark.parametrize("name, status, query", [r for r in RECORDED if r[0].startswith("q_testing")], ids=lambda v: str(v)[:24])
def test_paging_fields_echo_the_request(name, status, query):
    result = parse_feed((ATOM / name).read_bytes())
    assert result.total_results == 214881
    assert result.start_index == int(query["start"])
    assert result.items_per_page == int(query["max_results"]) == len(result.records)


def test_pages_of_a_query_line_up():
    everything = [r.arxiv_id for r in page("q_testing_s0_m100_").records]
    for start, size in [(0, 10), (10, 10), (20, 10), (5, 15), (9, 15), (50, 10)]:
        got = [r.arxiv_id for r in page(f"q_testing_s{start}_m{size}_").records]
        assert got == everything[start : start + size]


def test_search_results_with_doi_journal_ref_and_repaired_greek():
    r = page("q_testing_s0_m10_").records[0]
    assert (r.arxiv_id, r.version) == ("2202.12139", 1)
    assert r.doi == "10.1109/ICSTW55395.2022.00035"
    assert r.journal_ref.startswith("Artificial Intelligence in Software Testing @ 2022 IEEE")
    assert r.categories == ["cs.SE", "cs.LG"]
    titles = {r.arxiv_id: r for r in page("q_testing_s20_m10_").records}
    assert titles["2306.03845"].title == "$ω$Test: WebView-Oriented Testing for Android Applications"
    assert "Oliver Weißl" in [a for r in titles.values() for a in r.authors]
    old = {r.arxiv_id: r for r in page("q_testing_s50_m10_").records}["cs/0503050"]
    assert old.title == "Systematic Method for Path-Complete White Box Testing"


def test_legacy_2016_format():
    result = parse_feed((LEGACY / "legacy-1.xml").read_bytes())
    assert (result.total_results, result.start_index, result.items_per_page) == (1, 0, 10)
    (r,) = result.records
    assert (r.arxiv_id, r.version) == ("1111.2011", 2)
    assert r.title == "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit"
    assert r.abstract.startswith("Theoretical description of anisotropic systems, such as layered superconductors")
    assert r.authors == ["James M. Murray", "Adrian Del Maestro", "Zlatko Tesanovic"]
    assert r.categories == ["cond-mat.str-el", "cond-mat.stat-mech"]
    assert r.doi == "10.1103/PhysRevB.85.115117"
    assert r.journal_ref == "Phys. Rev. B 85, 115117 (2012)"
    assert r.comment == "8 pages, 3 figures. Published version"
    assert (r.published, r.updated) == (dt.date(2011, 11, 8), dt.date(2012, 4, 2))

    five = parse_feed((LEGACY / "legacy-5.xml").read_bytes())
    assert (five.total_results, five.start_index, five.items_per_page, len(five.records)) == (31, 0, 10, 10)
    old = five.records[1]
    assert (old.arxiv_id, old.version) == ("cond-mat/0412498", 1)
    assert old.authors == ["Adrian Del Maestro", "Subir Sachdev"]
    assert old.doi == "10.1103/PhysRevB.71.184511" and old.journal_ref == "Physical Review B 71, 184511 (2005)"


FEED = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">{}</feed>"""


def test_synthetic_entries_license_classifications_and_skips():
    body = FEED.format("""
      <entry><id>http://arxiv.org/abs/2406.01234v3</id><title>Kept</title><summary>x</summary>
        <published>2024-06-03T23:30:00-04:00</published><updated>2024-06-05T10:00:00Z</updated>
        <author><name>Paul Erdős</name></author><author><name>Ana Wübben</name></author><author><name> </name></author>
        <link rel="license" href="http://creativecommons.org/licenses/by/4.0/"/>
        <arxiv:primary_category term="cs.LG"/>
        <category term="cs.LG"/><category term="I.2.7"/><category term="68T05"/><category term="stat.ML"/></entry>
      <entry><title>No id</title></entry>
      <entry><id>http://arxiv.org/abs/2406.01235v1</id><title>  </title></entry>
      <entry><id>http://arxiv.org/abs/not-an-id</id><title>Bad id</title></entry>
    """).encode()
    result = parse_feed(body)
    assert result.skipped == 3
    (r,) = result.records
    assert (r.arxiv_id, r.version) == ("2406.01234", 3)
    assert r.authors == ["Paul Erdős", "Ana Wübben"]  # correct UTF-8 is left alone
    assert (r.categories, r.acm_classes, r.msc_classes) == (["cs.LG", "stat.ML"], ["I.2.7"], ["68T05"])
    assert r.license == "http://creativecommons.org/licenses/by/4.0/"
    assert r.published == dt.date(2024, 6, 4)  # the UTC day
    # Without opensearch elements the page describes itself.
    assert (result.total_results, result.start_index, result.items_per_page) == (1, 0, 1)


# --- hostile and broken input --------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE feed [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/abs/2406.01234v1</id>
<title>&lol9;</title><summary>boom</summary></entry></feed>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/abs/2406.01234v1</id>
<title>&xxe;</title><summary>leak</summary></entry></feed>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE feed SYSTEM "http://127.0.0.1:9/evil.dtd">
<feed xmlns="http://www.w3.org/2005/Atom"></feed>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD], ids=["billion-laughs", "xxe", "external-dtd"])
def test_hostile_xml_is_refused_not_expanded(body):
    started = time.monotonic()
    with pytest.raises(ServiceError) as info:
        parse_feed(body)
    assert not isinstance(info.value, (ServiceUnavailable, ArxivErrorFeed))
    assert "DTD or entities" in str(info.value)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("prefix", ["id_1605.08386", "q_testing_s0_m10_", "id_abc"])
def test_truncated_response_is_unavailable_not_a_crash(prefix):
    raw = fixture(prefix)
    with pytest.raises(ServiceUnavailable, match="not well-formed XML"):
        parse_feed(raw[: len(raw) // 2])


@pytest.mark.parametrize("body", [b"", b"<html><body>Bad gateway</body></html>", b"\xff\xfe not xml"])
def test_non_feed_bodies_are_unavailable(body):
    with pytest.raises(ServiceUnavailable):
        parse_feed(body)


# --- a loopback arXiv --------------------------------------------------------------------------

@pytest.fixture
def arxiv():
    with serve_fake_arxiv() as fake:
        yield fake


UA = user_agent("tests@example.org")


def make_client(url: str, **kwargs) -> ArxivApiClient:
    options = {"user_agent": UA, "timeout": 5.0, "retries": 2, "min_interval": 0, "backoff": 0.01}
    return ArxivApiClient(url, **{**options, **kwargs})


def test_fetch_ids_end_to_end(arxiv):
    with make_client(arxiv.api_url) as client:
        (r,) = client.fetch_ids(["1605.08386"])
        assert r == page("id_1605.08386").records[0]
        assert [x.arxiv_id for x in client.fetch_ids(["0808.05394", "1707.08567"])] == ["1707.08567"]
        assert [(x.arxiv_id, x.version) for x in client.fetch_ids(["quant-ph/0201082v1"])] == [("quant-ph/0201082", 1)]
        assert client.fetch_ids(["0000.0000"]) == []
        assert client.fetch_ids([]) == []
    first = arxiv.requests[0]
    assert first["headers"]["User-Agent"] == UA == f"Paperboy/{__version__} (mailto:tests@example.org)"
    assert first["params"] == {"search_query": "", "id_list": "1605.08386", "sortBy": "relevance",
                               "sortOrder": "descending", "start": "0", "max_results": "1"}  # fmt: skip
    assert arxiv.requests[1]["params"]["id_list"] == "0808.05394,1707.08567"
    assert len(arxiv.requests) == 4  # the empty list asked nothing


def test_query_pages_end_to_end(arxiv):
    with make_client(arxiv.api_url) as client:
        result = client.query("testing", start=10, max_results=10)
    assert (result.total_results, result.start_index, result.items_per_page) == (214881, 10, 10)
    assert [r.arxiv_id for r in result.records] == [r.arxiv_id for r in page("q_testing_s10_m10_").records]


def test_error_feed_end_to_end_is_not_retried(arxiv):
    with make_client(arxiv.api_url) as client, pytest.raises(ArxivErrorFeed) as info:
        client.fetch_ids(["abc"])
    assert info.value.status == 400
    assert info.value.explanation == "incorrect id format for abc"
    assert len(arxiv.requests) == 1


def test_other_client_errors_are_not_retried(arxiv):
    with make_client(arxiv.api_url) as client, pytest.raises(ServiceError) as info:
        client.query("no-such-recording")
    assert info.value.status == 404 and not isinstance(info.value, (ServiceUnavailable, ArxivErrorFeed))
    assert len(arxiv.requests) == 1


def test_503_with_retry_after_is_retried_after_waiting(arxiv):
    arxiv.script = [Fault(503, {"Retry-After": "1"}, b"busy")]
    with make_client(arxiv.api_url) as client:
        (r,) = client.fetch_ids(["1605.08386"])
    assert r.title == "Heat-bath random walks with Markov bases"
    assert len(arxiv.requests) == 2
    assert arxiv.requests[1]["start"] - arxiv.requests[0]["start"] >= 1.0


def test_persistent_500_gives_up_after_the_retries(arxiv):
    arxiv.always = Fault(500, {}, b"oops")
    with make_client(arxiv.api_url, retries=2) as client, pytest.raises(ServiceUnavailable) as info:
        client.fetch_ids(["1605.08386"])
    assert info.value.status == 500 and "after 3 tries" in str(info.value)
    assert len(arxiv.requests) == 3


def test_truncated_body_is_retried_then_unavailable(arxiv):
    raw = fixture("id_1605.08386")
    arxiv.always = Fault(200, {}, raw[: len(raw) // 2])
    with make_client(arxiv.api_url, retries=1) as client, pytest.raises(ServiceUnavailable, match="not well-formed"):
        client.fetch_ids(["1605.08386"])
    assert len(arxiv.requests) == 2


def test_slow_server_times_out(arxiv):
    arxiv.always = Fault(hang=True)  # answers only when the fake shuts down
    started = time.monotonic()
    with make_client(arxiv.api_url, timeout=0.2, retries=1) as client, pytest.raises(ServiceUnavailable, match="in time"):
        client.fetch_ids(["1605.08386"])
    assert time.monotonic() - started < 1.5
    assert len(arxiv.requests) == 2


def test_connection_refused_is_unavailable():
    url = f"http://127.0.0.1:{free_port()}/api/query"  # nothing listens there
    with make_client(url, retries=1) as client, pytest.raises(ServiceUnavailable, match="could not reach arXiv"):
        client.fetch_ids(["1605.08386"])


def test_requests_start_at_least_min_interval_apart(arxiv):
    with make_client(arxiv.api_url, min_interval=0.5) as client:
        client.fetch_ids(["1605.08386"])
        client.fetch_ids(["1707.08567"])
    first, second = (r["start"] for r in arxiv.requests)
    # The client spaces request *starts* by 0.5 s; the server stamps arrival, which may lag the start
    # of the first request by a few milliseconds more than the second's.
    assert second - first >= 0.49


def test_one_request_at_a_time_across_threads(arxiv):
    arxiv.always = Fault(delay=0.2)  # a slow server: overlapping requests would show
    with make_client(arxiv.api_url) as client:
        threads = [threading.Thread(target=client.fetch_ids, args=(["1605.08386"],)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    stamps = sorted(r["start"] for r in arxiv.requests)
    assert len(stamps) == 3 and all(b - a >= 0.19 for a, b in zip(stamps, stamps[1:]))
    spans = sorted((r["start"], r["end"]) for r in arxiv.requests)
    assert all(later >= end for (_, end), (later, _) in itertools.pairwise(spans))  # never two in flight


# --- retry policy and limiter, without waiting ---------------------------------------------------

def test_retry_after_is_capped_and_backoff_grows_with_jitter():
    body = fixture("id_1605.08386")
    answers = iter([httpx.Response(429, headers={"Retry-After": "3600"}),
                    httpx.Response(503), httpx.Response(502), httpx.Response(200, content=body)])  # fmt: skip
    waits: list[float] = []
    client = ArxivApiClient("https://export.arxiv.org/api/query", user_agent=UA, retries=3, min_interval=0,
                            backoff=1.0, max_retry_after=5.0, sleep=waits.append,
                            transport=httpx.MockTransport(lambda request: next(answers)))  # fmt: skip
    with client:
        assert [r.arxiv_id for r in client.fetch_ids(["1605.08386"])] == ["1605.08386"]
    assert waits[0] == 5.0  # Retry-After honoured, up to the cap
    assert 1.0 <= waits[1] <= 2.0 and 2.0 <= waits[2] <= 4.0  # 2**n seconds, jittered down to half


def test_rate_limiter_spaces_starts_on_its_clock():
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(3.0, clock=lambda: now[0], sleep=sleep)
    with limiter.slot():
        now[0] += 1.0  # the request takes a second
    with limiter.slot():
        pass
    now[0] += 10
    with limiter.slot():
        pass
    assert slept == [2.0]


def test_query_arguments_are_checked():
    client = make_client("http://127.0.0.1:9/api/query")
    with client:
        for kwargs in [{}, {"search_query": "x", "sort_by": "date"}, {"search_query": "x", "sort_order": "up"},
                       {"search_query": "x", "max_results": 0}, {"search_query": "x", "start": -1}]:  # fmt: skip
            with pytest.raises(ValueError):
                client.query(**kwargs)


def test_user_agent_and_settings():
    assert user_agent("") == f"Paperboy/{__version__}"
    assert user_agent(" a@b.org ", project_url="https://example.org/pb") == f"Paperboy/{__version__} (+https://example.org/pb; mailto:a@b.org)"
    settings = Settings(arxiv_api_url="https://export.arxiv.org/api/query", contact_email="ops@example.org")
    with client_for(settings, "arxiv-api") as client:
        assert client.base_url == "https://export.arxiv.org/api/query"
        assert client.limiter.min_interval == 3.0
        assert client._http.headers["User-Agent"] == f"Paperboy/{__version__} (mailto:ops@example.org)"
