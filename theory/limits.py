"""Sizes no machine has: estimate the memory a computation needs before allocating it, and
refuse with one line naming the size and the limit.

The limit is ``$KTIW_MAX_MEMORY`` (bytes, or with a suffix ``K``, ``M``, ``G``, ``T``: ``8G``)
or else 80% of the machine's physical memory.  Estimates are upper bounds of the dominant
arrays, not exact accounting: their job is to turn "allocate 443 GiB and crash" into a
sentence, not to pack memory tightly.
"""

from __future__ import annotations

import os

from .errors import KtiwError

MAX_SEEDS = 100_000
"""Most seeds one run may train (as one batched computation)."""
MAX_STEPS = 10**9
"""Most optimiser steps one run may take."""
MAX_SAMPLES = 10**8
"""Largest batch / evaluation sample count."""

_SUFFIX = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def fmt_bytes(n: float) -> str:
    """``1536`` -> ``1.5 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def physical_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def memory_limit() -> int:
    """The most memory one computation may plan to use (see the module docstring)."""
    raw = os.environ.get("KTIW_MAX_MEMORY", "").strip().upper().removesuffix("B").removesuffix("I")
    if raw:
        suffix = raw[-1] if raw[-1] in _SUFFIX else ""
        try:
            value = float(raw[: len(raw) - len(suffix)]) * _SUFFIX[suffix]
        except ValueError:
            raise KtiwError(f"KTIW_MAX_MEMORY must be a size such as 8G, got {raw!r}") from None
        if not value > 0:
            raise KtiwError(f"KTIW_MAX_MEMORY must be positive, got {raw!r}")
        return int(value)
    phys = physical_memory()
    return int(0.8 * phys) if phys else 64 * 2**30


def check_memory(what: str, nbytes: float, hint: str) -> None:
    """Raise :class:`KtiwError` when ``what`` needs more than :func:`memory_limit` bytes.

    ``hint`` says which sizes to reduce, e.g. ``"reduce V or --batch-size"``."""
    limit = memory_limit()
    if nbytes > limit:
        raise KtiwError(
            f"{what} needs about {fmt_bytes(nbytes)}, more than the memory limit {fmt_bytes(limit)} "
            f"({hint}; the limit is 80% of RAM or $KTIW_MAX_MEMORY)"
        )
