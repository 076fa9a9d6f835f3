"""PostgreSQL as the database: the same schema, imports and search as on SQLite, driven through the
`paperboy` command and by several processes at once. (Most tests that take the ``engine`` or
``client`` fixtures also run on PostgreSQL; these are the ones about PostgreSQL itself.)"""

import gzip
import json
import os
import subprocess
import sys

from sqlalchemy import text

from conftest import FIXTURES, run_cli
from paperboy.ingest.dumps import import_dump
from paperboy.store.db import make_engine, upgrade

COUNTS = {
    "papers": "SELECT count(*) FROM papers",
    "authors": "SELECT count(*) FROM paper_authors",
    "categories": "SELECT count(*) FROM paper_categories",
    "days": "SELECT count(DISTINCT announced) FROM papers",
}


def counts(engine) -> dict:
    with engine.connect() as conn:
        return {k: conn.execute(text(q)).scalar() for k, q in COUNTS.items()}


def test_the_slice_imports_to_the_same_rows_as_on_sqlite(postgres, slice_db, slice_file):
    sqlite = make_engine(f"sqlite:///{slice_db}")
    pg = make_engine(postgres.create_database("import_parity"))
    assert pg.dialect.name == "postgresql"
    upgrade(pg)
    import_dump(pg, slice_file)
    import_dump(pg, FIXTURES / "kaggle-sample.jsonl")
    assert counts(pg) == counts(sqlite) and counts(pg)["papers"] > 1000
    sample = "SELECT arxiv_id, title, abstract, announced, primary_category FROM papers ORDER BY arxiv_id"
    with pg.connect() as a, sqlite.connect() as b:
        assert [tuple(map(str, r)) for r in a.execute(text(sample))] == [tuple(map(str, r)) for r in b.execute(text(sample))]
        authors = "SELECT p.arxiv_id, a.position, a.name FROM paper_authors a JOIN papers p ON p.id = a.paper_id ORDER BY 1, 2"
        assert list(a.execute(text(authors))) == list(b.execute(text(authors)))
    report = import_dump(pg, slice_file)  # a re-import changes nothing
    assert report.new == 0 and report.updated == 0
    sqlite.dispose()
    pg.dispose()


def test_the_command_runs_on_postgresql(postgres, slice_file, tmp_path):
    url = postgres.create_database("cli")
    assert run_cli(["db", "upgrade"], tmp_path, database_url=url).returncode == 0
    status = run_cli(["db", "status"], tmp_path, database_url=url)
    assert status.returncode == 0, status.stdout + status.stderr
    imported = run_cli(["import", str(slice_file)], tmp_path, database_url=url)
    assert imported.returncode == 0, imported.stderr
    stats = json.loads(run_cli(["stats", "--json"], tmp_path, database_url=url).stdout)
    assert stats["papers"] > 1000
    found = run_cli(["search", "symbol-pair constacyclic codes", "--json", "--keyword-only", "--limit", "3"], tmp_path, database_url=url)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["results"][0]["id"] == "2606.30212"


def test_imports_from_several_processes_at_once_keep_every_paper_once(postgres, slice_file, tmp_path):
    """Two `paperboy import` processes over the same file at the same time (two workers that
    picked up the same dump): PostgreSQL's row locks and our upserts leave each paper once."""
    url = postgres.create_database("racing_imports")
    assert run_cli(["db", "upgrade"], tmp_path, database_url=url).returncode == 0
    env = dict(os.environ, PAPERBOY_DATABASE_URL=url, PAPERBOY_DATA_DIR=str(tmp_path))
    procs = [
        subprocess.Popen([sys.executable, "-m", "paperboy.cli", "import", str(slice_file)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    engine = make_engine(url)
    with engine.connect() as conn:
        dupes = conn.execute(text("SELECT count(*) FROM (SELECT arxiv_id FROM papers GROUP BY arxiv_id HAVING count(*) > 1) d")).scalar()
        n = conn.execute(text("SELECT count(*) FROM papers")).scalar()
        author_dupes = conn.execute(
            text("SELECT count(*) FROM (SELECT paper_id, position FROM paper_authors GROUP BY 1, 2 HAVING count(*) > 1) d")
        ).scalar()
    engine.dispose()
    assert dupes == 0 and author_dupes == 0
    with gzip.open(slice_file) as f:
        assert n == len({json.loads(line)["id"] for line in f})
