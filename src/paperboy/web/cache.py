"""A page cache that is never stale.

Rendering a feed page costs a few milliseconds of SQL and templating (and MathML for abstracts);
serving it from memory costs microseconds. An entry is valid only for the *content version* it was
rendered at — a counter in the database that every write touching pages bumps in its own
transaction (see ``store.repo.bump_content_version``) — so every web process, on any machine,
drops its copy the moment anything changes, without messages between them.

The cache is bounded by bytes, not entries: a feed page is ~130 KB, a paper page ~6 KB. A gzip
copy of each page is made the first time a client that accepts gzip asks for it, and kept.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

__all__ = ["CachedPage", "PageCache"]


VOTE_LAG = 10.0  # seconds a cached page may show vote counts that have since moved


@dataclass(slots=True)
class CachedPage:
    version: int
    votes: int
    created: float
    status: int
    body: bytes
    media_type: str
    etag: str
    _gzipped: bytes | None = field(default=None, repr=False)

    def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped

    @property
    def size(self) -> int:
        return len(self.body) + (len(self._gzipped) if self._gzipped else 0)


class PageCache:
    """A least-recently-used map of rendered pages keyed by path + query string, at most ``max_bytes``."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, CachedPage] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str, version: int, votes: int = 0) -> CachedPage | None:
        """The page if it was rendered at this content version — and either at these votes or
        less than ``VOTE_LAG`` seconds ago (votes change counts, not content, and come often)."""
        if not self.max_bytes:
            return None
        with self._lock:
            page = self._entries.get(key)
            if page is None:
                return None
            if page.version != version or (page.votes != votes and time.monotonic() - page.created > VOTE_LAG):
                self._bytes -= self._entries.pop(key).size
                return None
            self._entries.move_to_end(key)
            return page

    def put(self, key: str, version: int, status: int, body: bytes, media_type: str, votes: int = 0) -> CachedPage:
        etag = f'W/"{version}.{votes}-{hashlib.blake2b(body, digest_size=8).hexdigest()}"'
        page = CachedPage(version, votes, time.monotonic(), status, body, media_type, etag)
        if not self.max_bytes:  # caching switched off: the page is still served, just not kept
            return page
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            self._entries[key] = page
            self._bytes += page.size
            self._evict()
        return page

    def gzipped(self, page: CachedPage) -> bytes:
        """The page's gzip body, made once and accounted for."""
        if page._gzipped is not None:
            return page._gzipped
        data = page.gzipped()
        if not self.max_bytes:
            return data
        with self._lock:
            self._bytes += len(data)
            self._evict()
        return data

    def _evict(self) -> None:
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            _, old = self._entries.popitem(last=False)
            self._bytes -= old.size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)
