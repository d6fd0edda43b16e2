"""Giving freed memory back to the system, so a watch of many phones stays flat for weeks.

A phone's threads (its log stream, its use probe, its cycles) each get a glibc malloc arena,
and the dumps they read come and go in blocks of 100 KB and more. glibc keeps what is freed
inside those arenas for reuse, and with a fleet's worth of threads the slack only grows: the
soak (``scripts/bench/soak.py``) saw the agent's RSS climb about 2 MB a minute while Python's
own allocations grew far less, and one ``malloc_trim`` gave 29 MB back at once. No library
offers this call, hence the few lines of ctypes below; elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import sys
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

TRIM_EVERY_S = 60.0
"""How often a running engine gives freed memory back (a trim takes a few milliseconds)."""


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim  # glibc only: musl and others have none
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def can_give_back() -> bool:
    """Whether this C library can give freed memory back on demand (glibc)."""
    return _malloc_trim() is not None


def give_back() -> bool:
    """Return the free pages of every malloc arena to the system; whether any were."""
    trim = _malloc_trim()
    if trim is None:
        return False
    started = time.perf_counter()
    released = bool(trim(0))
    log.debug("memory: trimmed in %.1f ms", (time.perf_counter() - started) * 1000)
    return released
