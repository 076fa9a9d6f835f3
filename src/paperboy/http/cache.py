"""A page cache that is never stale, holds compressed pages only, and serves logged-in visitors too.

Rendering a feed page costs milliseconds of SQL and templating (and MathML for abstracts); serving
it from memory costs microseconds. An entry is valid only for the versions it was rendered at
(``store.versions.Versions``: counters in the database that writes bump in their own transaction), so
every web process, on any machine, drops its copy the moment anything changes — no messages
between processes. Vote and comment counts may lag by :data:`COUNT_LAG` seconds on the copy shown
to logged-out visitors; content never lags.

Each entry keeps its page gzip-compressed and nothing else (feed pages are ~150 KB of HTML and
~25 KB compressed, so six times as many fit). The pages being requested right now are also kept
decompressed in a small "hot" area, so the common case neither decompresses nor compresses.

Shared pages (see ``web/personal.py``) also keep their marked rendering and its personal marks:
logged-in visitors get that rendering filled in for them, with a per-entry memo of fragments. The
cache keeps that rendering as text and hands it back cut by the page's own splitter, so it holds
both doors' answers without knowing what a page's marks are.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from paperboy.metrics import CACHE_HIT, CACHE_MISS

__all__ = ["CachedPage", "PageCache", "COUNT_LAG", "canonical_query", "etag_of"]

COUNT_LAG = 10.0  # seconds a page may show vote or comment counts that have since moved
HOT_SHARE = 8  # the hot area is at most 1/HOT_SHARE of the cache's bytes …
HOT_MAX = 8 * 1024 * 1024  # … and at most this: the pages requested right now, not a second cache


@dataclass(slots=True, eq=False)
class CachedPage:
    key: str
    version: int  # content version rendered at
    votes: int
    comments: int
    activity_version: int  # site_state.activity when rendered (a paper page: see paper_id)
    created: float
    status: int
    media_type: str
    etag: str
    gz: bytes  # the page as a logged-out visitor sees it, gzip-compressed: the only full copy kept
    raw_size: int
    # A shared page only: its marked rendering (compressed), the marks, what the counts depend on.
    marked_gz: bytes | None = None
    specs: list | None = None
    paper_ids: tuple[int, ...] = ()
    paper_id: int | None = None  # a paper's own page: valid while that paper's activity is `activity`
    activity: int | None = None
    by_votes: bool = False  # papers shown in the feed's order (feeds.FEED_RANK); ``arxiv_ids`` then holds
    arxiv_ids: tuple = ()  # (arXiv id, HF upvotes, announced) per paper, in page order — the rank's tie-breaks
    memo: dict = field(default_factory=dict, repr=False)  # fragments (web.personal.assemble)
    fresh_counts: tuple[int, dict] | None = field(default=None, repr=False)  # (votes version, counts)

    @property
    def size(self) -> int:
        return len(self.gz) + (len(self.marked_gz) if self.marked_gz else 0) + 64 * len(self.specs or ())

    @property
    def shared(self) -> bool:
        return self.marked_gz is not None


def canonical_query(request, params: Iterable[str] = ()) -> str:
    """The query an answer is cached under (``path?query``), and a shared page rendered for: only the
    parameters the answer depends on — ``params`` and those its FastAPI route declares — sorted by
    name, the last value of each (the one the route reads).

    Anything else (``?junk=1``, ``utm_source=…``, a cache-buster) is ignored: each new spelling of a
    URL used to be its own entry, so a loop of ``?junk=N`` rendered the month page every time (0.7 s)
    and pushed real pages out of the cache. Refusing unknown parameters instead would break links
    that carry trackers; ignoring them serves the same answer, from one entry.
    """
    names = set(params)
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is not None:
        names.update(field.alias for field in dependant.query_params)
    query = request.query_params
    return urlencode(sorted((name, query[name]) for name in names if name in query))


#: Bodies above this are compressed at level 1, not 6: a month's RIS file (3.7 MB) took 126 ms at
#: level 6 and 34 ms at level 1 (1.24 MB against 1.48 MB), on the request that builds it. Pages are
#: far smaller (~150 KB) and keep level 6, where it costs a millisecond or two.
FAST_GZIP_ABOVE = 1024 * 1024


def etag_of(version: int, votes: int, comments: int, body: bytes) -> str:
    """A cached answer's ETag: the versions it was built at and a hash of its bytes."""
    return f'W/"{version}.{votes}.{comments}-{hashlib.blake2b(body, digest_size=8).hexdigest()}"'


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6 if len(data) <= FAST_GZIP_ABOVE else 1, mtime=0)


class PageCache:
    """A least-recently-used map of pages keyed by path + query string, at most ``max_bytes`` in all
    (the compressed store and the hot area together)."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024):
        self.max_bytes = max_bytes
        self.hot_limit = min(max_bytes // HOT_SHARE, HOT_MAX)
        self.store_limit = max_bytes - self.hot_limit
        self._entries: OrderedDict[str, CachedPage] = OrderedDict()
        self._bytes = 0
        self._hot: OrderedDict[tuple, object] = OrderedDict()
        self._hot_bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    # -- entries --------------------------------------------------------------------------------

    def get(self, key: str, version: int, votes: int = 0, comments: int = 0, *, lag: float = COUNT_LAG) -> CachedPage | None:
        """The page if it was rendered at this content version — and either at these counts or less
        than ``lag`` seconds ago (votes and comments change counts, not content, and come often)."""
        if not self.max_bytes:
            return None
        with self._lock:
            page = self._entries.get(key)
            if page is not None and page.version == version and (
                (page.votes == votes and page.comments == comments) or time.monotonic() - page.created <= lag
            ):
                self._entries.move_to_end(key)
                self.hits += 1
                CACHE_HIT.inc()
                return page
            if page is not None:
                self._drop(key)
            self.misses += 1
            CACHE_MISS.inc()
            return None

    def put(self, key: str, version: int, status: int, body: bytes, media_type: str, votes: int = 0, comments: int = 0,
            *, activity_version: int = 0, marked: str | None = None, specs: list | None = None, paper_ids=(), paper_id: int | None = None,
            activity: int | None = None, by_votes: bool = False, arxiv_ids=()) -> CachedPage:  # fmt: skip
        """Store a page (``marked`` and ``specs``: a shared page's marked rendering and its marks)."""
        etag = etag_of(version, votes, comments, body)
        page = CachedPage(
            key, version, votes, comments, activity_version, time.monotonic(), status, media_type, etag, _gzip(body), len(body),
            marked_gz=zlib.compress(marked.encode(), 6) if marked is not None else None, specs=specs,
            paper_ids=tuple(paper_ids), paper_id=paper_id, activity=activity, by_votes=by_votes, arxiv_ids=tuple(arxiv_ids),
        )  # fmt: skip
        if not self.max_bytes:  # caching switched off: the page is still served, just not kept
            return page
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = page
            self._bytes += page.size
            self._keep_hot((key, "body"), body)
            while self._bytes > self.store_limit and len(self._entries) > 1:
                self._drop(next(iter(self._entries)))
        return page

    def invalidate(self, key: str) -> None:
        with self._lock:
            if key in self._entries:
                self._drop(key)

    def _drop(self, key: str) -> None:
        page = self._entries.pop(key)
        self._bytes -= page.size
        for kind in ("body", "parts"):
            hot = self._hot.pop((key, kind), None)
            if hot is not None:
                self._hot_bytes -= _hot_size(hot)

    # -- what a response is made of ---------------------------------------------------------------

    def gzipped(self, page: CachedPage) -> bytes:
        """The page (logged-out copy) gzip-compressed: what most clients get, sent as it is stored."""
        return page.gz

    def body(self, page: CachedPage) -> bytes:
        """The page (logged-out copy) uncompressed, for the rare client that does not take gzip."""
        return self._hot_or(page, "body", lambda: gzip.decompress(page.gz))

    def parts(self, page: CachedPage, split: Callable[[str], list]) -> list:
        """A shared page's marked rendering, cut at its marks by ``split`` (``web.personal.split``)."""
        return self._hot_or(page, "parts", lambda: split(zlib.decompress(page.marked_gz).decode()))

    def _hot_or(self, page: CachedPage, kind: str, make):
        hot_key = (page.key, kind)
        with self._lock:
            value = self._hot.get(hot_key)
            if value is not None and self._entries.get(page.key) is page:
                self._hot.move_to_end(hot_key)
                return value
        value = make()
        with self._lock:
            if self._entries.get(page.key) is page:  # still the entry in the cache: worth keeping hot
                self._keep_hot(hot_key, value)
        return value

    def _keep_hot(self, hot_key: tuple, value) -> None:
        old = self._hot.pop(hot_key, None)
        if old is not None:
            self._hot_bytes -= _hot_size(old)
        self._hot[hot_key] = value
        self._hot_bytes += _hot_size(value)
        while self._hot_bytes > self.hot_limit and len(self._hot) > 1:
            _, dropped = self._hot.popitem(last=False)
            self._hot_bytes -= _hot_size(dropped)

    # -- figures ----------------------------------------------------------------------------------

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._hot.clear()
            self._bytes = self._hot_bytes = 0

    @property
    def bytes(self) -> int:
        """Bytes of the compressed store (at most ``store_limit``; the hot area has ``hot_limit``)."""
        return self._bytes

    @property
    def hot_bytes(self) -> int:
        return self._hot_bytes

    def __len__(self) -> int:
        return len(self._entries)


def _hot_size(value) -> int:
    return len(value) if isinstance(value, bytes) else sum(len(p) for p in value)
