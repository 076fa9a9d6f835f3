"""Giving freed memory back to the operating system after big one-off work (loading indexes).

glibc's allocator keeps freed heap memory for reuse; after loading search indexes (tens of MB of
temporaries) a web process stayed ~120 MB larger than what it held (measured). ``malloc_trim``
returns it. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["release_free_memory"]


@functools.cache
def _trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    trim = _trim()
    if trim is not None:
        trim(0)
