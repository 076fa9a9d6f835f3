"""Search inside PostgreSQL (search/pg.py, search/pg_index.py): what only the PostgreSQL backend has.

Everything in test_search.py also runs against this backend (its fixtures take both databases);
here: the indexes live in the database and nowhere else, BM25 is the embedded BM25, pgvector's
HNSW index is made and used, broad filters still fill pages, and operations hooks.
"""

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import func, select, text

from conftest import make_app, make_client
from fake_embedder import FakeEmbedder
from paperboy.http.site import site_of
from paperboy.papers.model import PaperRecord
from paperboy.search import pg
from paperboy.search.factory import open_search
from paperboy.search.indexer import embed_pending, rebuild_ann, rebuild_keyword_index
from paperboy.search.pg_index import hnsw_index_name, search_generations, search_postings
from paperboy.search.text import analyze
from paperboy.store import repo, versions
from paperboy.store.db import make_engine
from paperboy.store.schema import paper_embeddings, papers


@pytest.fixture(scope="module")
def indexed_template(postgres, slice_pg_template, tmp_path_factory) -> str:
    """The slice as the worker's index step leaves it in the database — a keyword generation,
    vectors, the HNSW index — made once, copied for each test (CREATE DATABASE … TEMPLATE)."""
    engine = make_engine(postgres.create_database("slice_indexed_template", template=slice_pg_template))
    worker_dir = tmp_path_factory.mktemp("worker")
    embedder = FakeEmbedder()
    rebuild_keyword_index(engine, worker_dir)
    embed_pending(engine, embedder, batch_size=500)
    assert rebuild_ann(engine, worker_dir, embedder.name) > 1000  # the HNSW index is made at any size on PostgreSQL
    assert list(worker_dir.iterdir()) == []  # nothing was written beside the database
    engine.dispose()
    return "slice_indexed_template"


_copies = iter(range(1, 1_000_000))


@pytest.fixture
def worker_indexed(postgres, indexed_template):
    engine = make_engine(postgres.create_database(f"indexed_{next(_copies)}", template=indexed_template))
    yield engine, FakeEmbedder()
    engine.dispose()


def ids(result):
    return [p.arxiv_id for p in result.papers]


def test_a_web_node_with_an_empty_data_directory_serves_hybrid_search_and_stays_current(worker_indexed, tmp_path):
    engine, embedder = worker_indexed
    empty = tmp_path / "web-node"
    empty.mkdir()
    with make_client(str(engine.url), empty, search=lambda e: open_search(e, empty, embedder_loader=lambda: embedder)) as client:
        r = client.get("/search", params={"q": "symbol pair distance constacyclic codes"})
        assert r.status_code == 200 and "2606.30212" in r.text
        service = site_of(client.app).search
        assert isinstance(service, pg.PgSearch) and service.ready()
        status = service.status()
        assert status["keyword_generation"] is not None and status["delta_papers"] == 0 and status["vectors"]
        # A paper arrives (an import on another machine): found at once, by keyword, without a restart ...
        with engine.begin() as conn:
            repo.upsert_papers(conn, [PaperRecord(arxiv_id="2607.00001", title="Zyxwvut quasicrystal lattices", abstract="Aperiodic tilings.",
                                                  authors=["Q. Uasi"], categories=["cs.CG"], announced=dt.date(2026, 7, 2))])  # fmt: skip
        assert "2607.00001" in client.get("/search", params={"q": "zyxwvut quasicrystal"}).text
        assert service.status()["delta_papers"] == 1
        # ... and by meaning once the worker embedded it (pgvector's index takes the new row itself).
        embed_pending(engine, embedder)
        assert ids(service.search("aperiodic tilings quasicrystal lattices", keyword=False))[0] == "2607.00001"
        # The worker's next rebuild takes it into the database's index; the node drops its delta.
        rebuild_keyword_index(engine, tmp_path / "worker")
        assert ids(service.search("zyxwvut", semantic=False)) == ["2607.00001"] and service.status()["delta_papers"] == 0
    assert list(empty.iterdir()) == []


def test_keyword_ranking_is_the_embedded_bm25(worker_indexed, slice_db, tmp_path):
    """Same slice, same queries: PostgreSQL's postings give the embedded index's ranking and scores."""
    engine, _ = worker_indexed
    copy = tmp_path / "copy.db"
    copy.write_bytes(slice_db.read_bytes())
    sqlite = make_engine(f"sqlite:///{copy}")
    embedded = open_search(sqlite, tmp_path, embedder_loader=lambda: None)
    on_pg = open_search(engine, tmp_path, embedder_loader=lambda: None)
    assert isinstance(on_pg, pg.PgSearch) and not isinstance(embedded, pg.PgSearch)
    for q in ("error correcting codes", "graph neural networks for molecules", "learning learning theory", "diffusion cat:cs.CV",
              "robot after:2026-06-30", 'language models author:"Li"'):  # fmt: skip
        a, b = embedded.search(q, semantic=False, per_page=30), on_pg.search(q, semantic=False, per_page=30)
        assert a.total == b.total and a.total > 0, q
        assert ids(a) == ids(b), q
    with engine.connect() as conn:
        pid = repo.get_paper(conn, "2606.30212").id
        summed = on_pg._keyword_scores(conn, "constacyclic codes")
        got = {int(i): float(summed[i]) for i in np.flatnonzero(summed)}
    with sqlite.connect() as conn:
        embedded.refresh()
        cols, scores = embedded._keyword("constacyclic codes", np.ones(len(embedded.catalog), bool))
    want = dict(zip(embedded.catalog.ids[cols].tolist(), scores.tolist()))
    assert pid in want and set(want) <= set(got)  # (the embedded list is cut at CANDIDATES)
    assert [got[p] for p in want] == pytest.approx(list(want.values()), rel=1e-6)
    sqlite.dispose()


def test_each_rebuild_is_one_new_generation_and_the_old_one_goes(worker_indexed, tmp_path):
    engine, embedder = worker_indexed
    service = open_search(engine, tmp_path, embedder_loader=lambda: embedder)
    before = service.search("codes", semantic=False)
    first = service.generation
    rebuild_keyword_index(engine, tmp_path)
    with engine.connect() as conn:
        assert conn.execute(select(search_generations.c.generation)).scalars().all() == [first + 1]
        assert conn.execute(select(func.count()).select_from(search_postings).where(search_postings.c.generation == first)).scalar() == 0
    after = service.search("codes", semantic=False)
    assert service.generation == first + 1 and ids(after) == ids(before)


def test_a_query_that_meets_a_newer_generation_than_it_refreshed_to_catches_up(worker_indexed, tmp_path):
    engine, embedder = worker_indexed
    service = open_search(engine, tmp_path, embedder_loader=lambda: embedder)
    service.refresh()
    rebuild_keyword_index(engine, tmp_path)
    with engine.connect() as conn:  # the versions it read are stale, the postings it reads are new
        scores = service._keyword_scores(conn, "codes")
    assert service.generation > 1 and np.count_nonzero(scores) > 0


def test_long_postings_are_served_from_memory_and_never_across_generations(worker_indexed, tmp_path, monkeypatch):
    engine, _ = worker_indexed
    monkeypatch.setattr(pg, "POSTINGS_CACHE_MIN", 0)  # every term's postings count as long
    service = open_search(engine, tmp_path, embedder_loader=lambda: None)
    first = service.search("constacyclic codes", semantic=False)
    cached = list(service.postings._items)
    assert len(first.papers) > 0 and sorted(cached) == sorted(set(analyze("constacyclic codes")))
    assert service.status()["postings_cached_terms"] == 2 and service.status()["postings_cached_bytes"] > 0
    with engine.begin() as conn:  # the database's copy goes: only the one in memory can answer
        conn.execute(search_postings.delete().where(search_postings.c.term.in_(cached)))
    assert ids(service.search("constacyclic codes", semantic=False)) == ids(first)
    with engine.begin() as conn:  # a paper without the words gets them, and a new generation is built
        newcomer = conn.execute(select(papers.c.arxiv_id).where(~papers.c.title.ilike("%constacyclic%"), ~papers.c.abstract.ilike("%constacyclic%"))).scalars().first()
        conn.execute(papers.update().where(papers.c.arxiv_id == newcomer).values(title=papers.c.title + " constacyclic codes"))
    rebuild_keyword_index(engine, tmp_path)
    assert newcomer in ids(service.search("constacyclic codes", semantic=False, per_page=100))


def test_the_postings_kept_in_memory_stay_within_their_budget(worker_indexed, tmp_path, monkeypatch):
    engine, _ = worker_indexed
    query = "neural network learning"
    with engine.connect() as conn:
        size = func.length(search_postings.c.paper_ids) + func.length(search_postings.c.impacts)
        sizes = conn.execute(select(size).where(search_postings.c.term.in_(analyze(query)))).scalars().all()
    assert len(sizes) == 3
    monkeypatch.setattr(pg, "POSTINGS_CACHE_MIN", 0)
    service = open_search(engine, tmp_path, embedder_loader=lambda: None, postings_cache_bytes=sum(sizes) - 1)  # not all three fit
    service.search(query, semantic=False)
    assert 1 <= len(service.postings) < 3 and 0 < service.postings.bytes <= sum(sizes) - 1
    service = open_search(engine, tmp_path, embedder_loader=lambda: None, postings_cache_bytes=0)  # PAPERBOY_SEARCH_POSTINGS_CACHE_MB=0
    service.search(query, semantic=False)
    assert len(service.postings) == 0
    monkeypatch.setattr(pg, "POSTINGS_CACHE_MIN", max(sizes) + 1)  # none long enough
    service = open_search(engine, tmp_path, embedder_loader=lambda: None)
    service.search(query, semantic=False)
    assert len(service.postings) == 0


def test_the_web_app_gives_its_search_the_postings_budget_of_its_settings(worker_indexed, tmp_path):
    engine, _ = worker_indexed
    assert site_of(make_app(str(engine.url), tmp_path, search_postings_cache_mb=3)).search.postings.budget == 3 << 20


def test_the_hnsw_index_serves_dense_queries_and_agrees_with_exact_search(worker_indexed, tmp_path):
    engine, embedder = worker_indexed
    service = open_search(engine, tmp_path, embedder_loader=lambda: embedder)
    query = "error correcting codes distance"
    graph = service.search(query, keyword=False, per_page=10)
    with engine.connect() as conn:
        dist, model = service._distance(conn, embedder.embed_query(query))
        stmt = select(paper_embeddings.c.paper_id).where(model).order_by(dist).limit(10)
        plan = "\n".join(conn.execute(text("EXPLAIN " + str(stmt.compile(conn, compile_kwargs={"literal_binds": True})))).scalars())
        assert hnsw_index_name(embedder.name) in plan
        conn.execute(text(f"DROP INDEX {hnsw_index_name(embedder.name)}"))
        conn.commit()
    exact = service.search(query, keyword=False, per_page=10)  # no index: a sequential scan, exact
    assert len(set(ids(graph)) & set(ids(exact))) >= 8
    assert rebuild_ann(engine, tmp_path, embedder.name) > 0  # made again when missing


def test_broad_filters_over_the_hnsw_index_fill_the_page_exactly(worker_indexed, tmp_path, monkeypatch):
    """With the selective path off (EXACT_LIMIT 0), every filter goes through the index and the
    over-fetch/exact fallback: a page is full, and the top of what the filter allows."""
    engine, embedder = worker_indexed
    service = open_search(engine, tmp_path, embedder_loader=lambda: embedder)
    query = "neural networks cat:math.CO"  # a handful of papers, far from most neighbours of the query
    selective = service.search(query, keyword=False)
    monkeypatch.setattr(pg, "EXACT_LIMIT", 0)
    broad = service.search(query, keyword=False)
    assert broad.total == selective.total > 0 and ids(broad) == ids(selective)
    day = service.search("learning after:2026-07-01", keyword=False, per_page=100)
    assert len(day.papers) == 100 and all(p.announced >= dt.date(2026, 7, 1) for p in day.papers)
    monkeypatch.setattr(pg, "EXACT_LIMIT", 20_000)
    exact = service.search("learning after:2026-07-01", keyword=False, per_page=100)
    assert len(set(ids(exact)) & set(ids(day))) >= 90  # the index is approximate (and the fake model makes many ties)


def test_a_broad_filter_fills_the_keyword_candidates_from_the_next_best_as_the_exact_path_does(worker_indexed, tmp_path, monkeypatch):
    """Few candidates (5), so the first slice checked (the best 10) leaves most of them to the growing
    slices after it; they must find what the selective path (the allowed ids first) finds, in its order."""
    engine, _ = worker_indexed
    service = open_search(engine, tmp_path, embedder_loader=lambda: None)
    monkeypatch.setattr(pg, "CANDIDATES", 5)
    checks = []
    passing = pg.PgSearch._passing
    monkeypatch.setattr(pg.PgSearch, "_passing", staticmethod(lambda conn, ids_, conds: checks.append(len(ids_)) or passing(conn, ids_, conds)))
    # "language cat:cs.IT" has fewer matches than candidates: the slices run out of matching papers
    for query, found in (("learning cat:cs.IT", 5), ("model cat:cs.IT", 5), ("language cat:cs.IT", 2)):
        exact = service.search(query, semantic=False, per_page=5)
        monkeypatch.setattr(pg, "EXACT_LIMIT", 0)
        checks.clear()
        broad = service.search(query, semantic=False, per_page=5)
        monkeypatch.setattr(pg, "EXACT_LIMIT", 20_000)
        assert len(exact.papers) == found and ids(broad) == ids(exact), query
        assert len(checks) > 1, query  # the first slice was not enough


def test_hidden_papers_never_come_back_through_any_path(worker_indexed, tmp_path, monkeypatch):
    engine, embedder = worker_indexed
    service = open_search(engine, tmp_path, embedder_loader=lambda: embedder)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE papers SET hidden_at = now() WHERE arxiv_id = '2606.30212'")
        versions.bump_content_version(conn)
        hidden = repo.get_paper(conn, "2606.30212").id
    for limit in (0, 20_000):  # broad and selective paths
        monkeypatch.setattr(pg, "EXACT_LIMIT", limit)
        for kw in (True, False):
            assert "2606.30212" not in ids(service.search("constacyclic codes symbol-pair cat:cs.IT", keyword=kw, per_page=100))
    for cache in (0, 10_000):  # no filter: hidden ids known here, or checked by the database
        monkeypatch.setattr(pg, "HIDDEN_CACHE", cache)
        service.refresh(force=True)
        assert (service.hidden is None) == (cache == 0)
        found = service.search("constacyclic codes symbol-pair", per_page=100)
        assert found.total > 0 and "2606.30212" not in ids(found)
    assert hidden not in [pid for pid, _ in service.related(hidden + 1, k=50)]


def test_ready_status_and_the_timing_hook(worker_indexed, tmp_path):
    engine, embedder = worker_indexed
    service = open_search(engine, tmp_path, embedder_loader=lambda: embedder)
    seen = []
    service.observer = lambda op, seconds: seen.append((op, seconds))
    assert not service.ready()
    service.search("codes")
    with engine.connect() as conn:
        pid = repo.get_paper(conn, "2606.30212").id
    assert len(service.related(pid, k=3)) == 3
    assert service.ready() and [op for op, _ in seen] == ["search", "related"] and all(s > 0 for _, s in seen)
    service.observer = lambda *_: 1 / 0  # a broken hook never breaks a search
    assert service.search("codes").total > 0


def test_concurrent_searches_never_starve_their_dense_sides_of_connections(worker_indexed, tmp_path):
    """A hybrid search holds a connection while its dense side (on another thread) runs: with the
    main pool exhausted by searches in flight, the dense sides still get connections (their own
    pool), so every search finishes — and with the same results as one at a time."""
    from concurrent.futures import ThreadPoolExecutor

    engine, embedder = worker_indexed
    tight = make_engine(engine.url.render_as_string(hide_password=False), pool_size=2, max_overflow=0, pool_timeout=10)
    service = open_search(tight, tmp_path, embedder_loader=lambda: embedder)
    queries = ["error correcting codes distance", "graph neural networks", "quantum circuits", "language models reasoning"] * 4
    alone = {q: ids(service.search(q)) for q in set(queries)}
    try:
        with ThreadPoolExecutor(len(queries)) as pool:
            together = list(pool.map(lambda q: ids(service.search(q)), queries))
    finally:
        service.close()
        tight.dispose()
    assert together == [alone[q] for q in queries] and all(together)
