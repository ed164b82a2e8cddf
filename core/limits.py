"""Sizes no machine has and numbers no float32 model can hold: estimate the memory a
computation needs before allocating it, and refuse with one line naming the size and the
limit; the bounds every option that scales a float32 computation is checked against
(:data:`MAX_LR`, :data:`MAX_INIT_SCALE`, :data:`MAX_STEPS`, ...).

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

MAX_LR = 1e6
"""Largest learning rate any optimiser here takes (``ktiw train``, ``ktiw predict``).

Reason: no step of a float32 model means anything beyond it.  Adam moves every parameter by
about ``lr`` per step and SGD by ``lr`` times a gradient of order one, so at ``1e6`` the first
step already pushes logits far past the point where every softmax saturates (``exp`` overflows
float32 at 88.7); and the scalars the optimisers form from ``lr`` (Adam's bias correction up to
``lr / (1 - beta1)``, momentum sums up to ``lr / (1 - mu)``) stay inside float32 (3.4e38),
where ``1e308`` made torch fail with "value cannot be converted to type float without
overflow"."""

MAX_INIT_SCALE = 1e6
"""Largest initialisation scale (``--init eps:E`` / ``normal:S``, the toy model's ``eps`` and
``sigma``, ``ktiw predict --eps``): logits beyond it saturate every softmax, and ``1e200``
overflowed the float32 simulation's arrays."""

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
