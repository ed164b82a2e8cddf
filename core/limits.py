"""Sizes no machine has and numbers no float32 model can hold: estimate the memory a
computation needs before allocating it, and refuse with one line naming the size and the
limit; the bounds every option that scales a float32 computation is checked against
(:data:`MAX_LR`, :data:`MAX_INIT_SCALE`, :data:`MAX_STEPS`, ...).

The limit is ``$KTIW_MAX_MEMORY`` (a size as :mod:`ktiw.core.env` reads it: bytes, or with a
suffix ``K``, ``M``, ``G``, ``T``: ``8G``) or else 80% of the machine's physical memory.
Estimates are upper bounds of the dominant arrays, not exact accounting: their job is to turn
"allocate 443 GiB and crash" into a sentence, not to pack memory tightly.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator

from . import env
from .errors import TooLargeError

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
    given = env.size("KTIW_MAX_MEMORY")
    if given is not None:
        return given
    phys = physical_memory()
    return int(0.8 * phys) if phys else 64 * 2**30


def check_memory(what: str, nbytes: float, hint: str) -> None:
    """Raise :class:`KtiwError` when ``what`` needs more than :func:`memory_limit` bytes.

    ``hint`` says which sizes to reduce, e.g. ``"reduce V or --batch-size"``."""
    limit = memory_limit()
    if nbytes > limit:
        raise TooLargeError(
            f"{what} needs about {fmt_bytes(nbytes)}, more than the memory limit {fmt_bytes(limit)} "
            f"({hint}; the limit is 80% of RAM or $KTIW_MAX_MEMORY)"
        )


# --------------------------------------------------------------------- time

ALLOW_FLAG = "--allow-large"
"""The one option, on every command that estimates its work, that runs it beyond the limits below."""

MAX_PREDICT_SECONDS = 600.0
"""Longest estimated ``ktiw predict`` (the numpy simulation of the toy model): a prediction is
meant to take seconds; ten minutes is beyond reason without :data:`ALLOW_FLAG`."""

MAX_TRAIN_SECONDS = 7 * 24 * 3600.0
"""Longest estimated training, or sweep in CPU time (a week of one CPU thread): beyond it a
typo (``--steps 1e9``, ``--seeds 100000``) is far likelier than intent."""

SIM_UNITS_PER_SECOND = 5e8
"""Work units of :func:`ktiw.theory.simulate.seed_count` one CPU thread does per second
(measured: 1.0e10 units in 18 s at load 28 on the shared 2-core machine; conservative)."""

SIGN_SUM_SECONDS_PER_STEP = 7e-6
"""Time per step of :func:`ktiw.theory.adam_reduction.sign_regime_takeoff`'s sum (measured: a
block of 2^20 steps in 6.9 s at load 28 on the shared 2-core machine)."""

TRAIN_FLOPS_PER_SECOND = 5e10
"""Effective rate of the ``6 N D`` estimate of :func:`ktiw.empirics.training_cost.estimate_training_seconds`
(``N`` counts every parameter, the embedding and output rows most steps do not touch
included, so this is not a hardware figure): calibrated on the stored paper run, whose
``permutation:L=40`` LSTM training it estimates at about 1.9 h against about 11 min measured
(45.5 min for four trainings and the fidelity runs, docs/data/paper): it errs long, by ~10x."""

TRAIN_STEP_SECONDS = 3e-3
"""Fixed cost of one training step whatever the model's size (Python, optimiser bookkeeping,
kernel launches, evaluations): measured on the smallest model, ``ktiw train subset:L=3,V=4
--model toy`` (16 seeds), 4,800 steps in 16.6 s of CPU time (3.5 ms a step, at load 4 on the
shared 2-core machine), so ``--steps 5e8`` is weeks even for the toy model."""

_ALLOW = contextvars.ContextVar("ktiw_allow_large", default=False)
_PROGRESS: contextvars.ContextVar[Callable[[str, int, int], None] | None] = contextvars.ContextVar(
    "ktiw_progress", default=None
)


@contextlib.contextmanager
def allow_large(on: bool = True) -> Iterator[None]:
    """Within this block :func:`check_time` lets estimates beyond the limits through
    (the CLI's :data:`ALLOW_FLAG`)."""
    token = _ALLOW.set(bool(on))
    try:
        yield
    finally:
        _ALLOW.reset(token)


def fmt_seconds(seconds: float) -> str:
    """``5400`` -> ``1.5 h``."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def check_time(what: str, seconds: float, limit: float, hint: str) -> None:
    """Raise :class:`KtiwError` when ``what`` is estimated to take more than ``limit`` seconds,
    unless :func:`allow_large` is on; the message names the estimate, the limit and the flag."""
    if seconds > limit and not _ALLOW.get():
        raise TooLargeError(
            f"{what} would take about {fmt_seconds(seconds)} (estimated), more than {fmt_seconds(limit)}; "
            f"{hint}, or give {ALLOW_FLAG} to run it anyway"
        )


@contextlib.contextmanager
def progress_to(report: Callable[[str, int, int], None] | None) -> Iterator[None]:
    """Within this block long computations call ``report(what, done, total)`` now and then."""
    token = _PROGRESS.set(report)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


def report_progress(what: str, done: int, total: int) -> None:
    """Tell the reporter of :func:`progress_to` (if any) how far ``what`` got."""
    report = _PROGRESS.get()
    if report is not None:
        report(what, done, total)
