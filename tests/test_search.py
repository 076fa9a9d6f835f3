"""Search over a real slice of the corpus: syntax, filters, sorts, fusion, related, indexing, bad input."""

import datetime as dt
import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from conftest import make_app, make_client, slice_database_url
from fake_embedder import FakeEmbedder
from paperboy.http.site import site_of
from paperboy.search.factory import open_search
from paperboy.search.indexer import embed_pending
from paperboy.search.query import parse_query
from paperboy.search.snippets import snippet
from paperboy.store import repo, versions
from paperboy.store.schema import paper_embeddings


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """A private copy of the slice on each database: search reads the same way from both."""
    from paperboy.store.db import make_engine

    engine = make_engine(slice_database_url(request.param, tmp_path, request))
    yield engine, tmp_path
    engine.dispose()


@pytest.fixture
def indexed(db):
    """The slice with fake embeddings for every paper, and a service over it."""
    engine, data_dir = db
    embedder = FakeEmbedder()
    embed_pending(engine, embedder, batch_size=500)
    return open_search(engine, data_dir, embedder_loader=lambda: embedder), engine


def ids(result):
    return [p.arxiv_id for p in result.papers]


def test_query_syntax():
    q = parse_query('diffusion "image editing" author:"Ada Lovelace" cat:cs.CV after:2026-06 before:2026-07-01')
    assert (q.text, q.phrases, q.authors, q.categories) == ("diffusion", ["image editing"], ["Ada Lovelace"], ["cs.CV"])
    assert (q.after, q.before) == (dt.date(2026, 6, 1), dt.date(2026, 7, 1))
    assert parse_query("https://arxiv.org/abs/2606.30212v2").arxiv_id == "2606.30212"
    assert parse_query("hep-th/9711200").arxiv_id == "hep-th/9711200"
    assert parse_query('unbalanced "quote').text == "unbalanced quote"
    assert "not a date" in parse_query("after:yesterday").notes[0]
    assert "not an arXiv category" in parse_query("cat:'; DROP TABLE papers;--").notes[0]


def test_keyword_search_finds_the_paper_by_its_title_words(indexed):
    service, engine = indexed
    result = service.search("symbol-pair distance repeated-root constacyclic codes")
    assert ids(result)[0] == "2606.30212"
    assert "<mark>" in str(snippet(result.papers[0].abstract, result.query.searchable))


def test_phrases_must_appear_as_written(indexed):
    service, _ = indexed
    result = service.search('"constacyclic codes"')
    assert result.total >= 1
    for p in result.papers:
        assert "constacyclic codes" in (p.title + " " + p.abstract).lower()
    assert service.search('"codes constacyclic"').total == 0


def test_filters_category_author_dates_and_selective_filters_still_fill_pages(indexed):
    service, engine = indexed
    r = service.search("learning cat:cs.IT")
    assert r.total > 0 and all("cs.IT" in p.categories for p in r.papers)
    r = service.search('codes author:"Payel Chandra"')
    assert ids(r) == ["2606.30212"]
    r = service.search("learning after:2026-07-01")
    assert r.total > 0 and all(p.announced >= dt.date(2026, 7, 1) for p in r.papers)
    r = service.search("learning before:2026-06-29")
    assert all(p.announced < dt.date(2026, 6, 29) for p in r.papers)
    # A very selective filter: the dense side searches within it, so the page is not empty.
    r = service.search("neural networks cat:math.CO")
    with engine.connect() as conn:
        n = conn.exec_driver_sql("SELECT count(*) FROM paper_categories WHERE code='math.CO'").scalar()
    assert 0 < n < 20 and r.total == n and len(r.papers) == n


def test_sorts_and_pages(indexed):
    service, engine = indexed
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE papers SET upvotes = 5 WHERE arxiv_id = '2606.30212'")
        versions.bump_vote_version(conn)
    by_votes = service.search("codes", sort="upvotes")
    assert ids(by_votes)[0] == "2606.30212"
    by_date = service.search("learning", sort="date", per_page=50)
    days = [p.announced for p in by_date.papers]
    assert days == sorted(days, reverse=True)
    first, second = service.search("learning", page=1), service.search("learning", page=2)
    assert first.total == second.total and not set(ids(first)) & set(ids(second))


def test_dense_results_are_fused_with_keyword_results(indexed):
    service, _ = indexed
    keyword_only = service.search("symbol pair distance constacyclic", semantic=False)
    hybrid = service.search("symbol pair distance constacyclic")
    assert hybrid.semantic and not keyword_only.semantic
    assert ids(keyword_only)[0] == "2606.30212" and ids(hybrid)[0] == "2606.30212"
    assert hybrid.total > keyword_only.total  # the dense side brings candidates BM25 cannot see


def test_fusion_keeps_a_far_ahead_keyword_match_first_and_adds_dense_only_papers():
    """The rule in search/fusion.py on hand-made lists (columns are paper positions)."""
    import numpy as np

    from paperboy.search.fusion import fuse, rrf

    sims = {1: 0.50, 2: 0.80, 3: 0.78, 4: 0.20, 7: 0.79, 8: 0.60}  # cosine of each candidate
    kw_cols, kw_scores = np.array([1, 2, 3, 4]), np.array([30.0, 12.0, 11.0, 2.0])  # paper 1: every word typed
    dense_cols, dense_sims = np.array([2, 7, 3, 8]), np.array([0.80, 0.79, 0.78, 0.60])  # paper 1 not among them

    def cos(cols):
        return np.array([sims[c] for c in cols])

    cols, scores = fuse(kw_cols, kw_scores, cos, dense_cols, dense_sims, keyword_weight=0.7)
    assert cols[0] == 1  # 0.7·1 + 0.3·0 beats 0.7·0.4 + 0.3·1
    assert set(cols) == {1, 2, 3, 4, 7, 8} and list(scores) == sorted(scores, reverse=True)
    assert cols.tolist().index(7) < cols.tolist().index(4)  # a close dense-only paper beats a weak keyword one
    assert rrf(kw_cols, kw_scores, cos, dense_cols, dense_sims)[0][0] == 2  # what reciprocal rank fusion did: the typed-for paper lost
    # one side empty: the other side's order, unchanged
    assert fuse(kw_cols, kw_scores, cos, np.array([], int), np.array([]))[0].tolist() == [1, 2, 3, 4]
    assert fuse(np.array([], int), np.array([]), cos, dense_cols, dense_sims)[0].tolist() == [2, 7, 3, 8]
    # all weight on one side reproduces that side's ranking
    assert fuse(kw_cols, kw_scores, cos, dense_cols, dense_sims, keyword_weight=1.0)[0][:4].tolist() == [1, 2, 3, 4]
    assert fuse(kw_cols, kw_scores, cos, dense_cols, dense_sims, keyword_weight=0.0)[0][:3].tolist() == [2, 7, 3]


def test_hidden_papers_never_appear(indexed):
    service, engine = indexed
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE papers SET hidden_at = '2026-07-01 00:00:00' WHERE arxiv_id = '2606.30212'")
        versions.bump_content_version(conn)
    assert "2606.30212" not in ids(service.search("constacyclic codes symbol-pair"))


def test_new_papers_are_searchable_at_once(indexed):
    from paperboy.papers.model import PaperRecord

    service, engine = indexed
    assert service.search("zyxwvut quasicrystal", semantic=False).total == 0
    with engine.begin() as conn:
        repo.upsert_papers(conn, [PaperRecord(arxiv_id="2607.00001", title="Zyxwvut quasicrystal lattices", abstract="New.",
                                              authors=["Q. Uasi"], categories=["cs.CG"], announced=dt.date(2026, 7, 2))])  # fmt: skip
    assert ids(service.search("zyxwvut quasicrystal", semantic=False)) == ["2607.00001"]
    assert ids(service.search("zyxwvut quasicrystal"))[0] == "2607.00001"


def test_indexing_is_incremental_durable_and_resumes_after_a_kill(db):
    engine, data_dir = db
    with pytest.raises(KeyboardInterrupt):
        embed_pending(engine, FakeEmbedder(fail_after=2), batch_size=100)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(paper_embeddings)).scalar() == 200  # two batches kept
    report = embed_pending(engine, FakeEmbedder(), batch_size=100)
    with engine.connect() as conn:
        total = repo.count_papers(conn)
        assert conn.execute(select(func.count()).select_from(paper_embeddings)).scalar() == total
    assert report.up_to_date == 200 and report.embedded == total - 200
    assert embed_pending(engine, FakeEmbedder()).embedded == 0  # nothing left to do
    with engine.begin() as conn:  # a changed abstract is embedded again
        conn.exec_driver_sql("UPDATE papers SET abstract = 'Rewritten.' WHERE arxiv_id = '2606.30212'")
    assert embed_pending(engine, FakeEmbedder()).embedded == 1


def test_related_papers(indexed):
    service, engine = indexed
    with engine.connect() as conn:
        paper = repo.get_paper(conn, "2606.30212")
    related = service.related(paper.id, k=5)
    assert len(related) == 5 and paper.id not in [pid for pid, _ in related]
    assert related.by_keyword is False  # found by the papers' vectors: close in topic
    scores = [s for _, s in related]
    assert scores == sorted(scores, reverse=True)



def test_related_papers_without_a_model_come_from_the_title_words(db):
    engine, data_dir = db

    def no_model():
        raise RuntimeError("no embedding model installed")

    service = open_search(engine, data_dir, embedder_loader=no_model)
    with engine.connect() as conn:
        paper = repo.get_paper(conn, "2606.30212")
    related = service.related(paper.id, k=5)
    assert not service.status()["semantic"] and len(related) == 5 and paper.id not in [pid for pid, _ in related]
    assert related.by_keyword is True  # only title words in common: pages must not show these as close matches
    scores = [s for _, s in related]
    assert scores == sorted(scores, reverse=True) and scores[0] <= 1 + 3 * 0.03  # BM25 scaled to the best, plus authors

def test_snippet_escapes_and_marks():
    s = str(snippet("We <b>propose</b> transformers for graphs. " * 20, "transformer graphs"))
    assert "<b>" not in s and "&lt;b&gt;" in s and "<mark>transformers</mark>" in s


# --- over HTTP -------------------------------------------------------------------------------------

@pytest.fixture
def web(db):
    engine, data_dir = db
    embedder = FakeEmbedder()
    embed_pending(engine, embedder, batch_size=500)
    with make_client(str(engine.url), data_dir, search=lambda e: open_search(e, data_dir, embedder_loader=lambda: embedder)) as c:
        yield c


BAD_QUERIES = [
    "", " ", "x" * 10_000, '"unbalanced quote', '""', '"a" "b', "NEAR(foo bar) OR baz* AND -qux ^title:x",
    "'; DROP TABLE papers; --", "1' OR '1'='1", "%_%", "\\", "🚀🔥 transformers", "量子计算 神经网络", "нейронные сети",
    "author:", "cat:", "after:2026-13-45", "before:abc", "cat:cs.CL cat:math.AG after:2027", "<script>alert(1)</script>",
    "a" * 300 + " b" * 300, "\x00\x01\x02",
]  # fmt: skip


@pytest.mark.parametrize("q", BAD_QUERIES)
def test_bad_queries_get_results_or_a_clear_message_never_an_error(web, q):
    r = web.get("/search", params={"q": q})
    assert r.status_code == 200, r.text[:500]
    assert "<script>alert(1)</script>" not in r.text
    assert re.search(r'class="summary"|class="notice"|class="empty-state"|data-paper-link', r.text) or q.strip() == ""


def test_search_page_filters_and_id_redirect(web):
    r = web.get("/search", params={"q": "codes", "cat": "cs.IT", "from": "2026-06-30", "to": "2026-06-30", "sort": "date"})
    assert r.status_code == 200 and "2606.30212" in r.text
    assert re.search(r'<p class="snippet">[^<]*(<mark>[^<]*</mark>[^<]*)+</p>', r.text)  # the query's words, marked
    r = web.get("/search", params={"q": "arXiv:2606.30212"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/papers/2606.30212"
    assert web.get("/search", params={"q": "x", "sort": "nonsense"}).status_code == 400
    assert web.get("/search", params={"q": "x", "from": "June"}).status_code == 400
    assert 'name="q"' in web.get("/").text  # a search box on every page


def test_related_api_and_fragment(web):
    r = web.get("/api/papers/2606.30212/related", params={"k": 4})
    data = r.json()
    assert r.status_code == 200 and data["id"] == "2606.30212" and len(data["related"]) == 4
    assert {"id", "title", "authors", "score"} <= set(data["related"][0])
    assert web.get("/api/papers/2101.00001/related").status_code == 404
    fragment = web.get("/papers/2606.30212/related", headers={"HX-Request": "true"}).text
    assert "<html" not in fragment and fragment.count("<li>") == 8
    assert 'data-related-basis="keyword"' not in fragment  # every paper here has a vector


def test_cli_search_json(slice_db, tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "paperboy.db").write_bytes(slice_db.read_bytes())
    env = dict(os.environ, PAPERBOY_DATA_DIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "paperboy.cli", "search", "constacyclic codes", "--json", "--keyword-only", "--limit", "3"],
                       env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["results"][0]["id"] == "2606.30212" and len(data["results"]) <= 3


# The embedded backend's usearch graph (on PostgreSQL the graph is pgvector's: test_search_pg.py).
@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_hnsw_graph_path_agrees_with_exact_search_and_respects_filters(indexed, tmp_path):
    """Force the graph on a small corpus: results match exact search; new vectors and filters are handled."""
    from paperboy.search.indexer import rebuild_ann

    service, engine = indexed
    exact = service.search("error correcting codes distance", keyword=False, per_page=10)
    assert rebuild_ann(engine, service.data_dir, service.embedder.name, min_vectors=1) > 1000
    service.refresh()
    assert service.vectors.ann is not None
    graph = service.search("error correcting codes distance", keyword=False, per_page=10)
    assert len(set(ids(graph)) & set(ids(exact))) >= 8  # approximate, but close
    filtered = service.search("error correcting codes cat:cs.IT", keyword=False, per_page=50)  # selective: exact
    assert filtered.total > 0 and all("cs.IT" in p.categories for p in filtered.papers)
    broad = service.search("error correcting codes after:2026-06-29", keyword=False, per_page=50)  # graph + filter
    assert len(broad.papers) == 50 and all(p.announced >= dt.date(2026, 6, 29) for p in broad.papers)


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_the_graph_is_rebuilt_only_when_a_tenth_of_the_vectors_are_newer_than_it(indexed):
    from paperboy.search.indexer import ann_path, rebuild_ann

    service, engine = indexed
    model = service.embedder.name
    n = rebuild_ann(engine, service.data_dir, model, min_vectors=1)
    assert n > 1000
    built_at = ann_path(service.data_dir, model).stat().st_mtime_ns
    assert rebuild_ann(engine, service.data_dir, model, min_vectors=1) == 0  # nothing new: kept
    with engine.begin() as conn:  # a few changed abstracts (< 10%): re-embedded, searched exactly beside the graph
        conn.exec_driver_sql("UPDATE papers SET abstract = abstract || ' Revised.' WHERE id IN (SELECT id FROM papers ORDER BY id LIMIT 20)")
    embed_pending(engine, service.embedder)
    assert rebuild_ann(engine, service.data_dir, model, min_vectors=1) == 0
    assert ann_path(service.data_dir, model).stat().st_mtime_ns == built_at
    with engine.begin() as conn:  # many (> 10%): rebuilt
        conn.exec_driver_sql(f"UPDATE papers SET abstract = abstract || ' Again.' WHERE id IN (SELECT id FROM papers ORDER BY id LIMIT {n // 5})")
    embed_pending(engine, service.embedder)
    assert rebuild_ann(engine, service.data_dir, model, min_vectors=1) == n
    assert rebuild_ann(engine, service.data_dir, model, min_vectors=1, force=True) == n


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_vectors_come_mapped_from_the_shared_file_and_newer_ones_from_the_table(indexed):
    """Searches answer the same with the vectors file (mapped, so every process on the machine
    shares its pages) as without it; vectors written after the file — a re-embedded paper, a new
    paper — come from the table; a deleted paper makes the next refresh rewrite the file."""
    import mmap

    from paperboy.papers.model import PaperRecord
    from paperboy.search.indexer import refresh_vector_file, vector_file_path

    service, engine = indexed
    model = service.embedder.name
    queries = ["error correcting codes distance", "graph neural networks cat:cs.LG", "quantum circuits after:2026-06-29"]
    before = [ids(service.search(q, per_page=30)) for q in queries]
    related_before = service.related(5)
    assert service.vectors.mapped == 0  # no file yet: every row read from the table

    written = refresh_vector_file(engine, service.data_dir, model)
    assert written == int(service.vectors.present.sum()) > 1000
    assert refresh_vector_file(engine, service.data_dir, model) == 0  # up to date: not rewritten
    service.refresh()
    service.wait_for_catch_up()
    vectors = service.vectors
    assert vectors.mapped == len(service.catalog) and len(vectors.tail) == 0
    buffer = vectors.base
    while not isinstance(buffer, mmap.mmap):  # the rows are the file's pages, not a copy
        buffer = buffer.base
    assert [ids(service.search(q, per_page=30)) for q in queries] == before
    assert service.related(5) == related_before

    with engine.begin() as conn:  # one paper re-embedded after the file, one new paper
        conn.exec_driver_sql("UPDATE papers SET abstract = 'Zyxwvut quasicrystal tilings.' WHERE id = 7")
    embed_pending(engine, service.embedder)
    with engine.begin() as conn:
        repo.upsert_papers(conn, [PaperRecord(arxiv_id="2607.00001", title="Quasicrystal lattices", abstract="Zyxwvut tilings.",
                                              authors=["Q. Uasi"], categories=["cs.CG"], announced=dt.date(2026, 7, 2))])  # fmt: skip
    embed_pending(engine, service.embedder)
    dense = service.search("zyxwvut quasicrystal tilings", keyword=False, per_page=5)
    assert service.vectors.mapped == len(service.catalog) - 1 and len(service.vectors.tail) == 1
    with engine.connect() as conn:
        seventh = conn.exec_driver_sql("SELECT arxiv_id FROM papers WHERE id = 7").scalar()
    assert set(ids(dense)[:2]) == {seventh, "2607.00001"}
    assert vector_file_path(service.data_dir, model).exists()

    with engine.begin() as conn:  # a deleted paper: the file's papers are no longer the catalog's first
        conn.exec_driver_sql("DELETE FROM papers WHERE id = 3")
        versions.bump_content_version(conn)
    service.refresh()  # until the file is rewritten, this process holds its own copy of the rows
    assert service.vectors.mapped == 0 and len(service.vectors.tail) == len(service.catalog)
    assert set(ids(service.search("zyxwvut quasicrystal tilings", keyword=False, per_page=5))[:2]) == {seventh, "2607.00001"}
    assert refresh_vector_file(engine, service.data_dir, model) == written  # the new paper's, less the deleted one
    service.refresh()
    service.wait_for_catch_up()
    assert service.vectors.mapped == len(service.catalog) and len(service.vectors.tail) == 0
    assert set(ids(service.search("zyxwvut quasicrystal tilings", keyword=False, per_page=5))[:2]) == {seventh, "2607.00001"}


def _count_vector_files(monkeypatch, indexer) -> list[int]:
    """Rewrite the vectors file every 300 vectors and record how many each write held (0: up to date)."""
    sizes: list[int] = []
    real_refresh = indexer.refresh_vector_file

    def counting(*args):
        written = real_refresh(*args)
        sizes.append(written)
        return written

    monkeypatch.setattr(indexer, "VECTOR_FILE_EVERY", 300)
    monkeypatch.setattr(indexer, "refresh_vector_file", counting)
    return sizes


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_the_worker_rewrites_the_vectors_file_as_a_backlog_is_embedded(db, monkeypatch):
    """Embedding a backlog, the worker's step rewrites the shared vectors file every
    VECTOR_FILE_EVERY new vectors (or a tenth of the backlog, if more) and at the end, so web
    processes never hold much of their own; the last file has every vector."""
    from paperboy.jobs.scheduler import embed_new_papers_step
    from paperboy.search import indexer
    from paperboy.search.vectors import vector_file_state

    engine, data_dir = db
    embedder = FakeEmbedder()
    sizes = _count_vector_files(monkeypatch, indexer)
    report = embed_new_papers_step(engine, lambda: embedder, data_dir)()
    assert report["embedded"] > 1000
    files = [n for n in sizes if n]  # 0: the file was already up to date
    assert len(files) >= 3 and files == sorted(files) and files[0] < report["embedded"]  # mid-run files, growing
    assert files[-1] == report["embedded"]  # the last one has them all
    with engine.connect() as conn:
        papers = conn.exec_driver_sql("SELECT count(*) FROM papers").scalar()
    assert vector_file_state(indexer.vector_file_path(data_dir, embedder.name)).papers == papers


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_paperboy_index_runs_the_same_steps_as_the_worker(db, monkeypatch):
    """``paperboy index`` and the worker's index step are one function: the command too rewrites
    the shared vectors file as a backlog is embedded (it used to write it only at the end), and
    reports the last file, which has every vector."""
    from typer.testing import CliRunner

    from paperboy.cli import app
    from paperboy.search import embed, indexer

    engine, data_dir = db
    sizes = _count_vector_files(monkeypatch, indexer)
    monkeypatch.setattr(embed, "load_embedder", lambda *a, **kw: FakeEmbedder())
    env = {"PAPERBOY_DATA_DIR": str(data_dir), "PAPERBOY_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    result = CliRunner().invoke(app, ["index", "--batch-size", "100"], env=env)
    assert result.exit_code == 0, result.output
    embedded = int(re.search(r"embeddings \(fake[^)]*\): ([\d,]+) new", result.output).group(1).replace(",", ""))
    files = [n for n in sizes if n]
    assert embedded > 1000 and len(files) >= 3 and files == sorted(files) and files[-1] == embedded
    assert f"vectors file (mapped by the web processes): {embedded:,} vectors" in result.output


# --- catching up without making queries wait (embedded backend) ------------------------------------

def _add_papers(engine, n: int, word: str, start: int = 1) -> None:
    from paperboy.papers.model import PaperRecord

    with engine.begin() as conn:
        repo.upsert_papers(conn, [PaperRecord(arxiv_id=f"2607.{start + i:05d}", title=f"{word.title()} lattices {i}", abstract="New.",
                                              authors=["Q. Uasi"], categories=["cs.CG"], announced=dt.date(2026, 7, 2))
                                  for i in range(n)])  # fmt: skip


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_big_catch_up_is_built_in_the_background_while_queries_answer_from_the_old_snapshot(db):
    """A few new papers: the query that notices them indexes them itself and finds them. Many (an
    import): a background thread builds the new snapshot — held here by a hook — while queries,
    not waiting, answer from the old one; once it is swapped in, they find the new papers."""
    import threading

    engine, data_dir = db
    embedder = FakeEmbedder()
    embed_pending(engine, embedder, batch_size=500)
    started, go = threading.Event(), threading.Event()

    def hold():
        started.set()
        assert go.wait(30)

    service = open_search(engine, data_dir, embedder_loader=lambda: embedder, small_change=3, before_background=hold)
    assert service.search("zyxwvut", semantic=False).total == 0
    _add_papers(engine, 2, "zyxwvut")  # small: inline
    assert service.search("zyxwvut", semantic=False).total == 2
    assert not started.is_set() and not service.catching_up()
    old = service.snapshot
    papers_before = len(old.catalog)
    _add_papers(engine, 10, "qwertyuiop", start=100)  # big: in the background
    try:
        first = service.search("qwertyuiop", semantic=False)
        assert started.wait(30)
        again = service.search("qwertyuiop", semantic=False)  # answered while the rebuild is held
        assert service.catching_up() and not go.is_set()
        assert first.total == again.total == 0 and service.snapshot is old
        assert service.search("zyxwvut", semantic=False).total == 2  # the old snapshot still answers in full
        assert service.status()["catching_up"]
    finally:
        go.set()
    assert service.wait_for_catch_up(30) and not service.catching_up()
    assert service.search("qwertyuiop", semantic=False).total == 10
    assert service.snapshot is not old and len(service.snapshot.catalog) == papers_before + 10
    assert len(old.catalog) == papers_before  # the old snapshot was not changed under its readers
    # Their twelve vectors, written later, are many too: read in the background, then searched.
    started.clear()
    go.clear()
    embed_pending(engine, embedder)
    try:
        before = service.search("qwertyuiop lattices")
        assert started.wait(30)
    finally:
        go.set()
    assert service.wait_for_catch_up(30)
    after = service.search("qwertyuiop lattices")
    assert before.embedded == after.searchable - 12 and after.semantic and after.embedded == after.searchable


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_votes_and_hides_are_caught_up_inline_without_touching_the_old_snapshot(db):
    engine, data_dir = db
    service = open_search(engine, data_dir, embedder_loader=FakeEmbedder, small_change=0)
    assert ids(service.search("constacyclic codes symbol-pair", semantic=False))[0] == "2606.30212"
    old = service.snapshot
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE papers SET upvotes = 7 WHERE arxiv_id = '2606.30212'")
        versions.bump_vote_version(conn)
    assert ids(service.search("codes", sort="upvotes", semantic=False))[0] == "2606.30212"
    assert service.snapshot is not old and int(old.catalog.upvotes.max()) == 0  # a new array, the old one as it was
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE papers SET hidden_at = '2026-07-01 00:00:00' WHERE arxiv_id = '2606.30212'")
        versions.bump_content_version(conn)
    assert "2606.30212" not in ids(service.search("constacyclic codes symbol-pair", semantic=False))
    assert not service.catching_up()  # no new papers: no background work, even with small_change=0


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_the_search_page_never_caches_an_old_snapshots_results_under_new_versions(db):
    """During a background catch-up the page shows the old snapshot's results; once it is swapped
    in, the same URL shows the new papers (the cached copy is per snapshot, not only per version)."""
    import threading

    engine, data_dir = db
    started, go = threading.Event(), threading.Event()

    def hold():
        started.set()
        assert go.wait(30)

    app = make_app(str(engine.url), data_dir, search=lambda e: open_search(e, data_dir, embedder_loader=FakeEmbedder, small_change=3,
                                                                               before_background=hold))  # fmt: skip
    with TestClient(app) as web:
        assert "2607.00001" not in web.get("/search", params={"q": "qwertyuiop"}).text
        _add_papers(engine, 10, "qwertyuiop")
        try:
            during = web.get("/search", params={"q": "qwertyuiop"}).text
            assert started.wait(30)
        finally:
            go.set()
        assert "2607.00001" not in during
        assert site_of(app).search.wait_for_catch_up(30)
        after = web.get("/search", params={"q": "qwertyuiop"}).text
        assert "2607.00001" in after and "2607.00010" in after
