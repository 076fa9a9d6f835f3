"""The page cache: never serves a page rendered at other versions, keeps compressed pages only,
stays within its bytes."""

import gzip

from paperboy.http.cache import PageCache
from paperboy.http.site import site_of


def test_entries_are_valid_only_for_their_version():
    cache = PageCache()
    cache.put("/a?", 1, 200, b"one", "text/html")
    assert cache.body(cache.get("/a?", 1)) == b"one"
    assert cache.get("/a?", 2) is None
    assert cache.get("/a?", 1) is None  # the stale entry was dropped, not kept for later


def test_bounded_by_bytes_least_recently_used_first():
    import os

    pages = {key: os.urandom(100) for key in "abcd"}  # incompressible: ~120 bytes gzipped each
    size = PageCache().put("probe", 1, 200, pages["a"], "text/html").size
    cache = PageCache(max_bytes=int(2.5 * size))
    for key in "abc":
        cache.put(key, 1, 200, pages[key], "text/html")
    assert cache.get("a", 1) is None and cache.get("c", 1) is not None
    cache.get("b", 1)
    cache.put("d", 1, 200, pages["d"], "text/html")
    assert cache.get("b", 1) is not None and cache.get("c", 1) is None
    assert cache.bytes <= cache.max_bytes


def test_only_compressed_copies_are_stored_and_the_hot_area_is_bounded():
    cache = PageCache(max_bytes=64 * 1024)
    text = b"<p>feed card</p> " * 5000  # 85 KB of HTML
    page = cache.put("k", 1, 200, text, "text/html")
    assert page.size < len(text) / 20  # the store counts the gzip copy
    assert gzip.decompress(cache.gzipped(page)) == text and cache.body(page) == text
    assert cache.hot_bytes <= cache.hot_limit or len(cache._hot) <= 1


def test_etag_differs_with_content_and_version():
    cache = PageCache()
    a = cache.put("k", 1, 200, b"one", "text/html").etag
    b = cache.put("k", 2, 200, b"one", "text/html").etag
    c = cache.put("k", 2, 200, b"two", "text/html").etag
    assert len({a, b, c}) == 3


def test_a_zero_byte_cache_is_off():
    cache = PageCache(max_bytes=0)
    page = cache.put("k", 1, 200, b"x" * 5000, "text/html")
    assert cache.get("k", 1) is None and len(cache) == 0
    assert gzip.decompress(cache.gzipped(page)) == b"x" * 5000 and cache.body(page) == b"x" * 5000 and cache.bytes == 0


def test_count_changes_may_lag_briefly_but_content_changes_never(monkeypatch):
    import paperboy.http.cache as cache_module

    clock = [1000.0]
    monkeypatch.setattr(cache_module.time, "monotonic", lambda: clock[0])
    cache = PageCache()
    cache.put("k", 5, 200, b"page", "text/html", votes=1, comments=3)
    assert cache.get("k", 5, votes=2, comments=3) is not None  # a vote landed 0 s later: still served
    assert cache.get("k", 5, votes=1, comments=4) is not None  # likewise a comment count
    clock[0] += cache_module.COUNT_LAG + 1
    assert cache.get("k", 5, votes=2, comments=3) is None  # too old for the new vote count
    cache.put("k", 5, 200, b"page", "text/html", votes=2)
    assert cache.get("k", 6, votes=2) is None  # content changed: never served


# --- what a cache key is made of (issue #22.8) -----------------------------------------------------

JUNK = ["junk=1", "junk=2", "utm_source=x&junk=3", "_=4", "page_=5", "cat_=cs.CL"]
# Every cached route, each with the parameters it does read (in a shuffled order, and with a
# repeated one: the route reads the last value, and so does the key).
CACHED = [
    "/papers/month/2026-06", "/papers/date/2026-06-30?cat=cs.CL&page=2", "/papers/trending", "/search?q=diffusion&sort=date",
    "/papers/2606.30212?cpage=1", "/papers/month/2026-06.ris", "/papers/month/2026-06.bib?cat=cs.LG", "/papers/2606.30212.bib",
    "/papers/month/2026-06/feed.atom", "/papers/trending/feed.atom", "/papers/2606.30212.md", "/api/daily_papers?month=2026-06&limit=5",
    "/api/papers/2606.30212", "/api/v1/trending?page=1", "/api/v1/papers/2606.30212",
]  # fmt: skip


def _with(url: str, extra: str) -> str:
    return url + ("&" if "?" in url else "?") + extra


def test_unknown_parameters_are_served_from_the_same_entry(client):
    """A loop of ?junk=N used to render the month page (0.7 s) for every N, one new entry each."""
    cache = site_of(client.app).page_cache
    site_of(client.app).search.refresh()  # the first load names the snapshot search pages are kept under
    for url in CACHED:
        first = client.get(url)
        assert first.status_code == 200, url
        entries, misses = len(cache), cache.misses
        for extra in JUNK:
            again = client.get(_with(url, extra))
            assert again.status_code == 200 and again.content == first.content, (url, extra)
        assert len(cache) == entries and cache.misses == misses, url  # no new entry, nothing rendered again


def test_parameters_a_page_reads_still_make_their_own_entry(client):
    cache = site_of(client.app).page_cache
    client.get("/papers/date/2026-06-30?cat=cs.CL&page=1")
    entries = len(cache)
    assert client.get("/papers/date/2026-06-30?page=1&cat=cs.CL").status_code == 200  # the same page, spelt in another order
    assert len(cache) == entries
    for url in ("/papers/date/2026-06-30?cat=cs.CL&page=2", "/papers/date/2026-06-30.ris?cat=cs.LG", "/api/daily_papers?date=2026-06-30&p=1"):
        client.get(url)
        assert len(cache) == entries + 1, url
        entries += 1


def test_a_shared_page_is_rendered_for_its_canonical_url(client):
    """The first visitor's junk must not end up in everyone's copy (its layout and log-in links)."""
    page = client.get("/papers/month/2026-06?utm_source=newsletter&junk=%3Cx%3E").text
    assert "utm_source" not in page and "junk" not in page
    assert 'href="/layout/compact?next=/papers/month/2026-06"' in page and 'href="/login?next=/papers/month/2026-06"' in page


def test_a_client_without_gzip_gets_the_built_bytes_and_the_entry_is_stored_after(client):
    """A cold export for a client that takes no gzip is answered before it is compressed for the
    cache; the entry is stored all the same, so the next request, in either encoding, is a hit."""
    cache = site_of(client.app).page_cache
    url = "/papers/date/2026-06-30.ris"
    misses = cache.misses
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "content-encoding" not in plain.headers and plain.text.startswith("TY  - ")
    assert cache.misses == misses + 1 and len(cache) >= 1
    hits = cache.hits
    again = client.get(url, headers={"Accept-Encoding": "identity"})
    zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert cache.hits == hits + 2 and cache.misses == misses + 1
    assert again.content == plain.content and zipped.content == plain.content  # httpx undoes the gzip
    assert zipped.headers["content-encoding"] == "gzip"
    assert again.headers["etag"] == plain.headers["etag"] == zipped.headers["etag"]
    assert client.get(url, headers={"Accept-Encoding": "identity", "If-None-Match": plain.headers["etag"]}).status_code == 304
