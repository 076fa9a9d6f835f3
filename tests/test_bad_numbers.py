"""One bad number never costs the rest of an import or an ingest (issue #10.2).

Each value here raised a traceback before (an integer column overflowed at the upsert, or a date
beyond 9999 in the announcement-day estimate), and the papers after it in the file were lost —
reruns stopped at the same line. Now every record is range-checked when it is parsed
(PaperRecord), reported with its line number or id and reason, and the rest is kept, on every source.
"""

import json
import re

import pytest
from sqlalchemy import func, select

from conftest import FIXTURES, SHARED, corpus_lines
from paperboy.ingest.dumps import import_dump, parse_line
from paperboy.store.schema import papers

BAD_PAPERBOY = [
    ({"version": 1e19}, "version"),
    ({"version": 9223372036854775808}, "version"),
    ({"version": 1e30}, "version"),
    ({"announced": "9999-12-31"}, "announced 9999-12-31"),
    ({"published": "0001-01-01"}, "published 0001-01-01"),
    ({"id": "2501.00001v99999999999999999999"}, "v1 to v10,000"),
    ({"title": "x" * 3000}, "title is 3,000 characters"),
]


def bad_line(template: dict, change: dict, n: int) -> bytes:
    record = {**template, "id": f"2501.{90000 + n:05d}", **change}
    return json.dumps(record).encode()


def count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(papers)).scalar()


def test_bad_numbers_among_good_lines_cost_only_their_lines(engine, tmp_path):
    good = corpus_lines(limit=3000)
    template = json.loads(good[0])
    bad = [bad_line(template, change, n) for n, (change, _) in enumerate(BAD_PAPERBOY)]
    lines = good[:2500] + bad + good[2500:]  # in the second batch of 2,000: before, the first batch was all that survived
    path = tmp_path / "dump.jsonl"
    path.write_bytes(b"".join(line.rstrip(b"\n") + b"\n" for line in lines))

    summary = import_dump(engine, path)
    assert summary.new == 3000 and count(engine) == 3000
    assert [b.line for b in summary.bad] == list(range(2501, 2501 + len(BAD_PAPERBOY)))
    for bad_report, (_, reason) in zip(summary.bad, BAD_PAPERBOY):
        assert reason in bad_report.reason, bad_report
    again = import_dump(engine, path)  # a rerun passes the same lines and changes nothing
    assert again.new == 0 and again.unchanged == 3000 and len(again.bad) == len(BAD_PAPERBOY)


@pytest.mark.parametrize("change, reason", [
    ({"versions": [{"version": "v" + "9" * 30, "created": "Mon, 2 Apr 2007 19:18:42 GMT"}]}, "too large"),
    ({"versions": [{"version": "v1", "created": "Fri, 31 Dec 9999 19:18:42 GMT"}]}, "not a day between"),
    ({"versions": [{"version": "v20000", "created": "Mon, 2 Apr 2007 19:18:42 GMT"}]}, "version 20000"),
])  # fmt: skip
def test_kaggle_versions_and_dates_out_of_range_are_reported(change, reason):
    from paperboy.papers.model import InvalidRecord

    template = json.loads((FIXTURES / "kaggle-sample.jsonl").read_text().splitlines()[0])
    with pytest.raises(InvalidRecord, match=reason):
        parse_line(json.dumps({**template, **change}), "kaggle")


def _with_version(xml: bytes, old: bytes, new: bytes) -> bytes:
    assert old in xml
    return xml.replace(old, new, 1)


def test_an_oai_record_with_an_absurd_version_or_date_is_skipped_and_the_page_kept():
    from paperboy.ingest.oai import parse_list_records

    xml = (SHARED / "fixtures" / "arxiv-oai" / "ListRecordsResponse.xml").read_bytes()
    whole = parse_list_records(xml)
    broken = _with_version(xml, b'version="v1"', b'version="v99999999999999999999999"')
    page = parse_list_records(broken)
    assert len(page.records) == len(whole.records)  # an unreadable version is no version: the record stays

    first_date = re.search(rb"<date>[^<]*</date>", xml).group(0)
    far = parse_list_records(xml.replace(first_date, b"<date>Fri, 31 Dec 9999 23:00:00 GMT</date>", 1))
    assert len(far.records) == len(whole.records) - 1 and far.skipped == whole.skipped + 1


def test_an_api_entry_with_an_absurd_version_is_skipped_and_the_page_kept():
    from paperboy.ingest.arxiv_api import parse_feed

    path = next((SHARED / "fixtures" / "arxiv-api" / "atom").glob("q_testing_s0_m10_*.xml"))
    xml = path.read_bytes()
    whole = parse_feed(xml)
    first_id = whole.records[0].arxiv_id.encode()

    versioned = re.search(rb"http://arxiv.org/abs/" + re.escape(first_id) + rb"v\d+", xml).group(0)
    page = parse_feed(xml.replace(versioned, versioned.split(b"v")[0] + b"v" + b"9" * 25, 1))
    assert len(page.records) == len(whole.records) - 1 and page.skipped == whole.skipped + 1


def test_a_listing_item_with_an_absurd_version_keeps_its_abs_link_id_and_the_listing_is_kept():
    from paperboy.ingest.listings import parse_listing

    xml = (SHARED / "fixtures" / "arxiv-rss" / "rss-stat-2024-03-26.xml").read_bytes()
    whole = parse_listing(xml)

    item = re.search(rb"arXiv:(\d{4}\.\d{5}v\d+) Announce", xml).group(1)  # in the item's guid and description
    broken = xml.replace(item, item.split(b"v")[0] + b"v" + b"9" * 25)
    listing = parse_listing(broken)
    assert len(listing.items) == len(whole.items)  # the id still comes from the item's abs link
    [kept] = [i.record for i in listing.items if i.record.arxiv_id == item.split(b"v")[0].decode()]
    assert kept.version is None  # an unreadable version is no version, not an overflow at the upsert


def test_a_hugging_face_entry_with_an_absurd_count_is_skipped():
    from paperboy.ingest.hf import parse_daily_papers

    path = max((SHARED / "fixtures" / "hf-daily").glob("hf_daily_papers_*.json"))
    entries = json.loads(path.read_bytes())
    entries[0]["paper"]["upvotes"] = 2**40
    assert len(parse_daily_papers(json.dumps(entries))) == len(parse_daily_papers(path.read_bytes())) - 1


@pytest.mark.parametrize("parser", ["oai", "api", "listing"])
def test_xml_declaring_an_unknown_encoding_is_a_clear_error(parser):
    from paperboy.ingest.arxiv_api import parse_feed
    from paperboy.ingest.http import ServiceError, ServiceUnavailable
    from paperboy.ingest.listings import parse_listing
    from paperboy.ingest.oai import parse_list_records

    parse = {"oai": parse_list_records, "api": parse_feed, "listing": parse_listing}[parser]
    with pytest.raises(ServiceError, match="encoding that cannot be read") as caught:
        parse(b"<?xml version='1.0' encoding='x-evil'?><feed/>")
    assert not isinstance(caught.value, ServiceUnavailable)  # not retried: the same body comes back


def test_the_cli_reports_an_unknown_encoding_without_a_traceback(tmp_path):
    from typer.testing import CliRunner

    from paperboy.cli import app

    listing = tmp_path / "evil.xml"
    listing.write_bytes(b"<?xml version='1.0' encoding='x-evil'?><rss/>")
    env = {"PAPERBOY_DATA_DIR": str(tmp_path)}
    CliRunner().invoke(app, ["db", "upgrade"], env=env)
    r = CliRunner().invoke(app, ["ingest", "rss", "-c", "stat", "--file", str(listing)], env=env)
    assert r.exit_code == 1 and "encoding that cannot be read" in r.output and "Traceback" not in r.output
