"""A page cache that is never stale.

Rendering a feed page costs a few milliseconds of SQL and templating (and MathML for abstracts);
serving it from memory costs microseconds. An entry is valid only for the *content version* it was
rendered at — a counter in the database that every write touching pages bumps in its own
transaction (see ``store.repo.bump_content_version``) — so every web process, on any machine,
drops its copy the moment anything changes, without messages between them.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["CachedPage", "PageCache"]


@dataclass(frozen=True, slots=True)
class CachedPage:
    version: int
    status: int
    body: bytes
    media_type: str
    etag: str


class PageCache:
    """A bounded LRU of rendered pages keyed by path + query string."""

    def __init__(self, maxsize: int = 2048):
        self.maxsize = maxsize
        self._entries: OrderedDict[str, CachedPage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, version: int) -> CachedPage | None:
        with self._lock:
            page = self._entries.get(key)
            if page is None:
                return None
            if page.version != version:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return page

    def put(self, key: str, version: int, status: int, body: bytes, media_type: str) -> CachedPage:
        etag = f'W/"{version}-{hashlib.blake2b(body, digest_size=8).hexdigest()}"'
        page = CachedPage(version, status, body, media_type, etag)
        with self._lock:
            self._entries[key] = page
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return page

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
