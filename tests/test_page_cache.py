"""The page cache: never serves a page rendered at another content version, stays within its bytes."""

import gzip

from paperboy.web.cache import PageCache


def test_entries_are_valid_only_for_their_version():
    cache = PageCache()
    cache.put("/a?", 1, 200, b"one", "text/html")
    assert cache.get("/a?", 1).body == b"one"
    assert cache.get("/a?", 2) is None
    assert cache.get("/a?", 1) is None  # the stale entry was dropped, not kept for later


def test_bounded_by_bytes_least_recently_used_first():
    cache = PageCache(max_bytes=250)
    for key in "abc":
        cache.put(key, 1, 200, b"x" * 100, "text/html")
    assert cache.get("a", 1) is None and cache.get("c", 1) is not None
    cache.get("b", 1)
    cache.put("d", 1, 200, b"x" * 100, "text/html")
    assert cache.get("b", 1) is not None and cache.get("c", 1) is None
    assert cache.bytes <= 250


def test_gzip_copy_is_made_once_and_counted():
    cache = PageCache()
    page = cache.put("k", 1, 200, b"hello " * 1000, "text/html")
    before = cache.bytes
    data = cache.gzipped(page)
    assert gzip.decompress(data) == b"hello " * 1000
    assert cache.gzipped(page) is data and cache.bytes == before + len(data)


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
    assert gzip.decompress(cache.gzipped(page)) == b"x" * 5000 and cache.bytes == 0


def test_vote_changes_may_lag_briefly_but_content_changes_never(monkeypatch):
    import paperboy.web.cache as cache_module

    clock = [1000.0]
    monkeypatch.setattr(cache_module.time, "monotonic", lambda: clock[0])
    cache = PageCache()
    cache.put("k", 5, 200, b"page", "text/html", votes=1)
    assert cache.get("k", 5, votes=2) is not None  # a vote landed 0 s later: still served
    clock[0] += cache_module.VOTE_LAG + 1
    assert cache.get("k", 5, votes=2) is None  # too old for the new vote count
    cache.put("k", 5, 200, b"page", "text/html", votes=2)
    assert cache.get("k", 6, votes=2) is None  # content changed: never served
