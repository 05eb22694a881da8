"""Giving memory back after a burst: glibc malloc tuned for a server that decodes large images.

By default glibc keeps freed memory: each thread that allocates gets its own arena (up to
8 per core), and the threshold above which an allocation gets its own mapping (returned to the
system when freed) grows up to 32 MiB as large blocks are freed, so after a burst of 16 MB
uploads the heap keeps their bodies and pictures: RSS stayed at 2.2 GB in the issue's burst.
Capped arenas and a fixed mapping threshold let large buffers leave when they are freed.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging

logger = logging.getLogger("app.allocator")

# mallopt(3) parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

ARENAS = 2
MMAP_THRESHOLD = 256 * 1024  # larger allocations get their own mapping, returned when freed
TRIM_THRESHOLD = 1024 * 1024  # free memory past this at the top of a heap is given back


def tune_allocator() -> bool:
    """Set glibc's malloc for the server (call before threads start); False if not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False  # not glibc (musl has no mallopt)
    settings = (
        (_M_ARENA_MAX, ARENAS),
        (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
    )
    return all(mallopt(parameter, value) == 1 for parameter, value in settings)


def trim() -> None:
    """Give free heap memory back to the system now (glibc's malloc_trim; else nothing)."""
    name = ctypes.util.find_library("c")
    malloc_trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    if malloc_trim is not None:
        malloc_trim(0)


class Trimmer:
    """Trims the heap in a worker thread when large work has ended, at most every few seconds."""

    def __init__(self, interval: float = 2.0) -> None:
        self.interval = interval
        self._last = -interval

    def __call__(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() - self._last >= self.interval:
            self._last = loop.time()
            loop.run_in_executor(None, trim)
