"""Keep freed host memory in the process instead of returning it to the OS (glibc only).

A training step allocates and frees hundreds of MB of large tensors: per-step gates,
states and their gradients, each bigger than glibc's mmap threshold.  By default each such
block is a fresh ``mmap`` that the kernel zero-fills page by page (a minor page fault per
4 KiB) and ``munmap`` gives back when freed, so every step pays for the same pages again
(measured on the paper's LSTM with 20 seeds: 1.3 million faults and about 3 s of system time
per training step, against about 12 s of user time; ``benchmarks/README.md``).
:func:`keep_freed_memory` switches large allocations to the heap and stops trimming it, so
the next step reuses the pages.  Numbers are unchanged (only where memory comes from); the
resident size stays at the run's peak instead of falling between steps.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


@functools.cache
def keep_freed_memory() -> bool:
    """Set glibc's ``M_MMAP_MAX = 0`` (no ``mmap`` per allocation) and a 2 GiB trim threshold
    (freed heap stays mapped) for this process.  Returns whether it took effect (``False``
    where the C library is not glibc)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
