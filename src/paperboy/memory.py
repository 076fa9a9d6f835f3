"""Giving freed memory back to the operating system after big one-off work (loading indexes).

glibc's allocator keeps freed heap memory for reuse; after loading search indexes (tens of MB of
temporaries) a web process stayed ~120 MB larger than what it held (measured). ``malloc_trim``
returns it. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["release_free_memory", "limit_malloc_arenas"]


@functools.cache
def _trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def limit_malloc_arenas(arenas: int = 2) -> None:
    """At most ``arenas`` glibc malloc arenas in this process (mallopt M_ARENA_MAX). By default
    glibc gives each thread that allocates its own arena, up to 8 per core, and each keeps the
    memory its thread freed: the web server's thread pool (tens of threads rendering pages) made a
    process ~60 MB larger after a few minutes of load than with two arenas (docs/benchmarks.md).
    Call it before the threads start; elsewhere than glibc this does nothing."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return
    if mallopt is not None:
        mallopt(-8, int(arenas))  # M_ARENA_MAX


def release_free_memory() -> None:
    trim = _trim()
    if trim is not None:
        trim(0)
