"""Importing dumps: idempotent, newer versions update, bad lines are named and skipped, crashes resume."""

import datetime as dt
import gzip
import json

import pytest
from sqlalchemy import func, select

from conftest import FIXTURES, corpus_lines
from paperboy.ingest.dumps import DumpError, estimated_announce_day, import_dump, parse_line
from paperboy.store import repo
from paperboy.store.schema import paper_authors, paper_categories, papers


def write_jsonl(path, lines, gz=False):
    opener = gzip.open if gz else open
    with opener(path, "wb") as f:
        for line in lines:
            f.write(line if line.endswith(b"\n") else line + b"\n")
    return path


def snapshot(engine):
    """Everything stored, to compare before and after."""
    with engine.connect() as conn:
        return (
            conn.execute(select(papers).order_by(papers.c.id)).all(),
            conn.execute(select(paper_authors).order_by(paper_authors.c.paper_id, paper_authors.c.position)).all(),
            conn.execute(select(paper_categories).order_by(*paper_categories.primary_key.columns)).all(),
            repo.content_version(conn),
        )


def test_import_of_real_corpus_slice_stores_every_paper(engine, tmp_path):
    lines = corpus_lines("2026-06-30", "2026-06-30")
    summary = import_dump(engine, write_jsonl(tmp_path / "day.jsonl.gz", lines, gz=True))
    assert summary.format == "paperboy"
    assert (summary.new, summary.updated, summary.bad) == (530, 0, [])
    with engine.connect() as conn:
        assert repo.stats(conn)["papers"] == 530
        first = json.loads(lines[0])
        paper = repo.get_paper(conn, first["id"])
    assert paper.title == " ".join(first["title"].split())
    assert paper.authors == [" ".join(a.split()) for a in first["authors"]]  # order kept
    assert paper.categories[0] == first["categories"][0] == paper.primary_category
    assert paper.announced == dt.date(2026, 6, 30)
    assert paper.source == "jsonl"


def test_importing_twice_changes_nothing(engine, slice_file):
    first = import_dump(engine, slice_file)
    before = snapshot(engine)
    second = import_dump(engine, slice_file)
    assert first.new > 1200
    assert (second.new, second.updated, second.unchanged) == (0, 0, first.new)
    assert snapshot(engine) == before  # not a single row or the content version moved


def test_newer_version_updates_the_record_and_older_does_not(engine, tmp_path):
    record = json.loads((FIXTURES / "kaggle-sample.jsonl").read_text().splitlines()[0])
    v1 = dict(record, versions=record["versions"][:1], title="Old title", doi=None)
    write_jsonl(tmp_path / "v1.jsonl", [json.dumps(v1).encode()])
    write_jsonl(tmp_path / "v2.jsonl", [json.dumps(record).encode()])

    assert import_dump(engine, tmp_path / "v1.jsonl").new == 1
    summary = import_dump(engine, tmp_path / "v2.jsonl")
    assert (summary.new, summary.updated) == (0, 1)
    with engine.connect() as conn:
        paper = repo.get_paper(conn, "0704.0001")
    assert paper.version == 2 and paper.title.startswith("Calculation of prompt diphoton")
    assert paper.updated == dt.date(2007, 7, 24) and paper.published == dt.date(2007, 4, 2)
    assert paper.doi == "10.1103/PhysRevD.76.013009"

    # Seeing v1 again (an older dump) must not roll the paper back.
    summary = import_dump(engine, tmp_path / "v1.jsonl")
    assert (summary.updated, summary.unchanged) == (0, 1)
    with engine.connect() as conn:
        assert repo.get_paper(conn, "0704.0001").version == 2


def test_a_source_without_a_field_does_not_erase_it_and_the_day_never_moves(engine, tmp_path):
    base = {"id": "2606.99999", "title": "T", "authors": ["A B"], "categories": ["cs.CL"], "comment": None,
            "abstract": "Abstract.", "announced": "2026-06-30", "doi": "10.1/x", "version": 1}  # fmt: skip
    later = dict(base, doi=None, version=2, title="T v2", announced="2026-07-07")
    write_jsonl(tmp_path / "a.jsonl", [json.dumps(base).encode()])
    write_jsonl(tmp_path / "b.jsonl", [json.dumps(later).encode()])
    import_dump(engine, tmp_path / "a.jsonl")
    assert import_dump(engine, tmp_path / "b.jsonl").updated == 1
    with engine.connect() as conn:
        paper = repo.get_paper(conn, "2606.99999")
    assert (paper.title, paper.version, paper.doi, paper.announced) == ("T v2", 2, "10.1/x", dt.date(2026, 6, 30))


def test_corrupted_line_is_named_and_the_rest_imported(engine, tmp_path):
    lines = corpus_lines("2026-06-29", "2026-06-29", limit=50)
    damaged = lines[:20] + [lines[20][: len(lines[20]) // 2] + b"\n"] + lines[21:]
    path = write_jsonl(tmp_path / "damaged.jsonl.gz", damaged, gz=True)
    summary = import_dump(engine, path)
    assert summary.new == 49
    assert [b.line for b in summary.bad] == [21]
    assert "not valid JSON" in summary.bad[0].reason


@pytest.mark.parametrize(
    "line, reason",
    [
        (b'[1, 2, 3]', "not a JSON object"),
        (b'{"id": "not-an-id", "title": "t", "abstract": "a"}', "not an arXiv id"),
        (b'{"id": "2406.01234", "abstract": "a"}', "missing title"),
        (b'{"id": "2406.01234", "title": "t", "abstract": "a", "announced": "yesterday"}', "not a YYYY-MM-DD"),
        (b'{"id": "2406.01234", "title": "t", "abstract": "a", "authors": "x", "categories": [1]}', "list of strings"),
        (json.dumps({"id": "2406.01234", "title": "t", "abstract": "a" * 50_000}).encode(), "abstract is 50,000"),
        (b'{"id": "2406.01234", "title": "' + b"x" * 1_100_000 + b'"}', "more than the 1,000,000"),
    ],
)
def test_hostile_or_malformed_records_get_a_clear_reason(line, reason):
    from paperboy.papers.model import InvalidRecord  # BadRecord (the line), or a field out of range

    with pytest.raises(InvalidRecord, match=reason):
        parse_line(line, "paperboy")


def test_limit_and_date_range(engine, slice_file):
    summary = import_dump(engine, slice_file, since=dt.date(2026, 6, 30), until=dt.date(2026, 6, 30))
    assert summary.new == 530 and summary.skipped > 500
    with engine.connect() as conn:
        assert repo.stats(conn)["days"] == 1
    assert import_dump(engine, slice_file, limit=10).read == 10


def test_crash_midway_keeps_finished_batches_and_a_rerun_resumes(engine, slice_file):
    calls = []

    def crash_after_two_batches(done, total):
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt  # what Ctrl-C or a kill looks like from inside

    with pytest.raises(KeyboardInterrupt):
        import_dump(engine, slice_file, progress=crash_after_two_batches, batch_size=500)
    with engine.connect() as conn:
        assert repo.count_papers(conn) == 1000  # two committed batches survive
    summary = import_dump(engine, slice_file, batch_size=500)
    assert summary.unchanged == 1000 and summary.new == summary.read - 1000 > 0 and summary.bad == []


def test_kaggle_snapshot_format_is_detected_and_mapped(engine):
    summary = import_dump(engine, FIXTURES / "kaggle-sample.jsonl")
    assert summary.format == "kaggle" and summary.new == 4 and summary.bad == []
    with engine.connect() as conn:
        maldacena = repo.get_paper(conn, "hep-th/9711200")
        first = repo.get_paper(conn, "0704.0001")
        perelman = repo.get_paper(conn, "math/0211159")
    assert maldacena.version == 3 and maldacena.journal_ref == "Adv.Theor.Math.Phys.2:231-252,1998"
    assert maldacena.published == dt.date(1997, 11, 27) and maldacena.updated == dt.date(1998, 1, 22)
    assert first.authors == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C.-P. Yuan"]
    assert first.abstract.startswith("A fully differential calculation in perturbative quantum chromodynamics is presented")
    assert perelman.categories == ["math.DG", "math.GT"] and perelman.source == "kaggle"


def test_announce_day_estimate_follows_arxivs_schedule():
    utc = dt.timezone.utc
    # Monday before the 14:00 ET cutoff (EDT, UTC-4) -> announced Monday evening, listed Tuesday.
    assert estimated_announce_day(dt.datetime(2026, 6, 29, 17, 0, tzinfo=utc)) == dt.date(2026, 6, 30)
    # Monday after the cutoff -> Tuesday's batch, listed Wednesday.
    assert estimated_announce_day(dt.datetime(2026, 6, 29, 19, 0, tzinfo=utc)) == dt.date(2026, 7, 1)
    # Friday before the cutoff -> announced Sunday evening, listed Monday.
    assert estimated_announce_day(dt.datetime(2026, 6, 26, 12, 0, tzinfo=utc)) == dt.date(2026, 6, 29)
    # Saturday -> Monday's batch, listed Tuesday.
    assert estimated_announce_day(dt.datetime(2026, 6, 27, 12, 0, tzinfo=utc)) == dt.date(2026, 6, 30)
    # Winter time (EST, UTC-5): 18:30 UTC is 13:30 ET, still before the cutoff.
    assert estimated_announce_day(dt.datetime(2026, 1, 12, 18, 30, tzinfo=utc)) == dt.date(2026, 1, 13)


def test_missing_or_damaged_files_are_clear_errors(engine, tmp_path):
    with pytest.raises(DumpError, match="no such file"):
        import_dump(engine, tmp_path / "nope.jsonl")
    good = b"".join(corpus_lines("2026-06-30", "2026-06-30", limit=3000))
    truncated = gzip.compress(good)[:-2000]
    (tmp_path / "cut.jsonl.gz").write_bytes(truncated)
    with pytest.raises(DumpError, match="damaged"):
        import_dump(engine, tmp_path / "cut.jsonl.gz")


def test_counts_match_rows(engine, slice_file):
    summary = import_dump(engine, slice_file)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(papers)).scalar() == summary.new
        # Every paper has its authors and at least one arXiv category.
        assert conn.execute(
            select(func.count()).select_from(papers).where(~papers.c.id.in_(select(paper_authors.c.paper_id)))
        ).scalar() == 0
