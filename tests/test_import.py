"""Importing dumps: idempotent, newer versions update, bad lines are named and skipped, crashes resume."""

import datetime as dt
import gzip
import json

import pytest
from sqlalchemy import func, select

from conftest import FIXTURES, corpus_lines
from paperboy.ingest.dumps import DumpError, estimated_announce_day, import_dump, parse_line
from paperboy.store import repo, versions
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
            versions.content_version(conn),
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
        (b'{"id": "2406.01234", "title": "' + b"x" * 1_100_000 + b'"}', "longer than the 1,000,000 bytes"),
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
    summary = import_dump(engine, tmp_path / "cut.jsonl.gz")  # imported as far as it goes (see below)
    assert summary.new > 0 and "cut short" in str(summary.damage)


def test_counts_match_rows(engine, slice_file):
    summary = import_dump(engine, slice_file)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(papers)).scalar() == summary.new
        # Every paper has its authors and at least one arXiv category.
        assert conn.execute(
            select(func.count()).select_from(papers).where(~papers.c.id.in_(select(paper_authors.c.paper_id)))
        ).scalar() == 0


# --- damaged files: everything that can be read is imported, and the damage is named ---------------

def imported_ids(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(papers.c.arxiv_id)).scalars())


def ids_of(lines: list[bytes]) -> list[str]:
    return sorted(json.loads(line)["id"] for line in lines)


@pytest.fixture(scope="module")
def some_lines():
    """300 real lines (Monday 29 June's 166 papers and Tuesday's first)."""
    lines = corpus_lines("2026-06-29", "2026-06-30", limit=300)
    assert len(lines) == 300
    return lines


@pytest.mark.parametrize("cut", ["in the header", "after the header", "a quarter", "three quarters", "in the trailer"])
def test_a_cut_gzip_imports_every_line_gzip_reads(engine, tmp_path, some_lines, cut):
    """What `gzip -dc` (zcat) gets out of the cut file, line for line: whole lines imported, the
    line the cut runs through named in the damage and not imported."""
    import subprocess

    path = write_jsonl(tmp_path / "day.jsonl.gz", some_lines, gz=True)  # gzip.open: the header holds the file name
    whole = path.read_bytes()
    at = {"in the header": 6, "after the header": 30, "a quarter": len(whole) // 4, "three quarters": len(whole) * 3 // 4,
          "in the trailer": len(whole) - 3}[cut]  # fmt: skip
    path.write_bytes(whole[:at])
    text = subprocess.run(["gzip", "-dc"], input=whole[:at], capture_output=True).stdout  # exits 1: unexpected end of file
    readable = text.split(b"\n")[:-1]  # the whole lines; what follows the last newline is cut short
    assert len(readable) < len(some_lines) or cut == "in the trailer"

    summary = import_dump(engine, path, batch_size=50)
    assert imported_ids(engine) == ids_of(readable)
    assert (summary.new, summary.bad) == (len(readable), [])
    assert summary.damage is not None and summary.damage.line == len(readable) + 1 and summary.damage.offset == at
    assert "cut short" in summary.damage.reason
    in_a_line = text != b"" and not text.endswith(b"\n")
    assert (f"line {len(readable) + 1:,} is cut short there" in summary.damage.reason) == in_a_line

    path.write_bytes(whole)  # the whole file, imported again: the rest arrives, nothing twice
    again = import_dump(engine, path, batch_size=50)
    assert (again.new, again.unchanged, again.damage) == (len(some_lines) - len(readable), len(readable), None)
    assert imported_ids(engine) == ids_of(some_lines)


def test_a_plain_file_cut_in_the_middle_of_a_line(engine, tmp_path, some_lines):
    whole = b"".join(some_lines)
    at = len(b"".join(some_lines[:120])) + len(some_lines[120]) // 2
    path = tmp_path / "day.jsonl"
    path.write_bytes(whole[:at])
    summary = import_dump(engine, path, batch_size=50)
    assert imported_ids(engine) == ids_of(some_lines[:120])
    assert (summary.new, summary.bad) == (120, [])
    assert (summary.damage.line, summary.damage.offset) == (121, at) and "ends in the middle of line 121" in summary.damage.reason


def test_a_last_line_without_its_newline_is_whole_not_damage(engine, tmp_path, some_lines):
    path = tmp_path / "day.jsonl"
    path.write_bytes(b"".join(some_lines[:30]).rstrip(b"\n"))
    summary = import_dump(engine, path)
    assert (summary.new, summary.bad, summary.damage) == (30, [], None)


def deflate_in_two_blocks(first: bytes, second: bytes) -> tuple[bytes, int]:
    """A gzip file of ``first + second`` with the deflate block of ``second`` starting on a byte
    boundary; returns the file and the offset of that block's first byte."""
    import zlib

    packer = zlib.compressobj(wbits=31)
    head = packer.compress(first) + packer.flush(zlib.Z_FULL_FLUSH)  # ends on a byte boundary
    return head + packer.compress(second) + packer.flush(), len(head)


def test_a_corrupt_gzip_block_keeps_every_line_before_it(engine, tmp_path, some_lines):
    data, block = deflate_in_two_blocks(b"".join(some_lines[:170]), b"".join(some_lines[170:]))
    damaged = bytearray(data)
    damaged[block] |= 0b110  # the block type bits flipped to 11, which deflate does not have
    path = tmp_path / "flipped.jsonl.gz"
    path.write_bytes(bytes(damaged))
    summary = import_dump(engine, path, batch_size=50)
    assert imported_ids(engine) == ids_of(some_lines[:170])  # the corrupt byte lies in the same read as them
    assert (summary.new, summary.bad) == (170, [])
    assert (summary.damage.line, summary.damage.offset) == (171, block) and "corrupt (invalid block type)" in summary.damage.reason


def test_a_gzip_checksum_mismatch_is_named_after_the_lines_are_read(engine, tmp_path, some_lines):
    data = bytearray(gzip.compress(b"".join(some_lines[:40])))
    data[-8] ^= 0xFF  # the CRC-32 of the trailer
    path = tmp_path / "crc.jsonl.gz"
    path.write_bytes(bytes(data))
    summary = import_dump(engine, path)
    assert summary.new == 40 and "checksum does not match" in summary.damage.reason and summary.damage.line == 41


def test_concatenated_gzip_members_are_one_file(engine, tmp_path, some_lines):
    path = tmp_path / "two.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(some_lines[:100])) + gzip.compress(b"".join(some_lines[100:])))  # `cat a.gz b.gz`
    summary = import_dump(engine, path, batch_size=50)
    assert (summary.new, summary.bad, summary.damage) == (len(some_lines), [], None)


def test_a_line_without_end_is_not_held_whole(tmp_path):
    """Damaged data can decompress to megabytes without a newline: the reader keeps the first
    MAX_LINE_BYTES + 1 bytes of a line (enough to reject it), never the rest."""
    from paperboy.ingest.dumpfile import DumpReader

    path = tmp_path / "long.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n' + b"x" * 3_000_000 + b"\n" + b'{"b": 2}\n'))
    reader = DumpReader(path, max_line=1000)
    assert [(n, len(line)) for n, line, _ in reader] == [(1, 8), (2, 1001), (3, 8)] and reader.damage is None


# --- a crash keeps the committed batches; the rerun finishes the import ----------------------------

def test_an_error_inside_a_batch_keeps_the_batches_before_it_and_a_rerun_finishes(engine, tmp_path, some_lines, monkeypatch):
    from paperboy.ingest import dumps

    path = write_jsonl(tmp_path / "some.jsonl.gz", some_lines, gz=True)
    real, calls = dumps.upsert_papers, []

    def failing_third_batch(conn, batch):
        calls.append(len(batch))
        counts = real(conn, batch)  # written inside the batch's transaction…
        if len(calls) == 3:
            raise RuntimeError("the database went away")  # …which then fails before its commit
        return counts

    monkeypatch.setattr(dumps, "upsert_papers", failing_third_batch)
    with pytest.raises(RuntimeError, match="went away"):
        import_dump(engine, path, batch_size=50)
    assert imported_ids(engine) == ids_of(some_lines[:100])  # two whole batches, nothing of the third
    monkeypatch.setattr(dumps, "upsert_papers", real)

    rerun = import_dump(engine, path, batch_size=50)
    assert (rerun.new, rerun.unchanged, rerun.updated, rerun.damage) == (200, 100, 0, None)
    assert imported_ids(engine) == ids_of(some_lines)
    with engine.connect() as conn:  # the papers of the failed batch are whole: their authors in order
        assert [repo.get_paper(conn, json.loads(line)["id"]).authors for line in some_lines[100:150]] == [
            parse_line(line, "paperboy").authors for line in some_lines[100:150]
        ]
    assert import_dump(engine, path).unchanged == 300  # and a third run changes nothing


def test_a_killed_import_keeps_its_committed_batches_and_a_rerun_finishes(engine, tmp_path, some_lines):
    """A real crash: the importing process is SIGKILLed in the middle of its third batch's
    transaction (rows written, no commit), then the import runs again."""
    import os
    import subprocess
    import sys

    path = write_jsonl(tmp_path / "some.jsonl.gz", some_lines, gz=True)
    script = """if True:
        import os, signal, sys
        from paperboy.ingest import dumps
        from paperboy.store.db import make_engine
        real, calls = dumps.upsert_papers, []
        def upsert(conn, batch):
            calls.append(1)
            counts = real(conn, batch)
            if len(calls) == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return counts
        dumps.upsert_papers = upsert
        dumps.import_dump(make_engine(sys.argv[1]), sys.argv[2], batch_size=50, parallel=False)
    """
    url = engine.url.render_as_string(hide_password=False)
    killed = subprocess.run([sys.executable, "-c", script, url, str(path)], env=dict(os.environ), capture_output=True, timeout=120)
    assert killed.returncode == -9, killed.stderr.decode()
    assert imported_ids(engine) == ids_of(some_lines[:100])
    rerun = import_dump(engine, path, batch_size=50)
    assert (rerun.new, rerun.unchanged) == (200, 100) and imported_ids(engine) == ids_of(some_lines)
