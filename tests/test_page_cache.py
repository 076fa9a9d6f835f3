"""The page cache: never serves a page rendered at other versions, keeps compressed pages only,
stays within its bytes."""

import gzip

from paperboy.web.cache import PageCache


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
    import paperboy.web.cache as cache_module

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
