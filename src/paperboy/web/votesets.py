"""Which papers each member has upvoted, per process, kept while the votes version stands still.

Marking a page's vote buttons for a member needs their votes among its papers; a member's whole set
is small (a few hundred ids for an active one) and changes only when the votes version does, so it
is read once per version and then answered from memory. Under heavy voting the version moves often
and each member's set is simply read again (one indexed query).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from paperboy.community.votes import all_voted_ids

__all__ = ["VoteSets"]


class VoteSets:
    def __init__(self, size: int = 10_000):
        self.size = size
        self._sets: OrderedDict[int, tuple[int, frozenset[int]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, user_id: int, version: int) -> frozenset[int] | None:
        with self._lock:
            found = self._sets.get(user_id)
            if found is None or found[0] != version:
                return None
            self._sets.move_to_end(user_id)
            return found[1]

    def load(self, engine, user_id: int, version: int) -> frozenset[int]:
        """Read the member's votes (the caller has checked :meth:`get` first)."""
        with engine.connect() as conn:
            ids = all_voted_ids(conn, user_id)
        with self._lock:
            self._sets[user_id] = (version, ids)
            self._sets.move_to_end(user_id)
            while len(self._sets) > self.size:
                self._sets.popitem(last=False)
        return ids
