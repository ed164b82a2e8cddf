"""Reading training curves: the success criterion, "the first step a curve reaches a level"
and the median of such steps where ``inf`` means "never".

One home for both: the trainer's ``summary.json`` (``reached_95``), the comparator's success
counts and timing checks, and the agreement curves' ``xi`` all use these.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SUCCESS_ACCURACY = 0.95
"""Token accuracy that counts as success (the paper's 95% criterion)."""

HALF = 0.5
"""Accuracy at which a curve "has learned" for timing purposes (the step at which
beta / attention argmax accuracy first reaches 0.5; the theory's takeoff is the time at
which attention on the correct word reaches 1/2)."""


def first_reach(
    steps: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray, level: float
) -> float:
    """The first step at which ``values >= level``; ``inf`` if it never does.

    ``steps`` must be increasing and as long as ``values``.  NaN values never count as reaching.
    """
    steps = np.asarray(steps, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if steps.shape != values.shape or values.ndim != 1:
        raise ValueError(
            f"steps and values must be 1-D of equal length, got {steps.shape} and {values.shape}"
        )
    hit = np.nonzero(np.nan_to_num(values, nan=-np.inf) >= level)[0]
    return float(steps[hit[0]]) if hit.size else float("inf")


def succeeded(steps: np.ndarray, token_acc: np.ndarray, diverged: bool = False) -> bool:
    """A seed succeeded when its evaluated token accuracy reached :data:`SUCCESS_ACCURACY`
    within the budget and it did not diverge."""
    return not diverged and bool(np.isfinite(first_reach(steps, token_acc, SUCCESS_ACCURACY)))


def median_or_inf(values: Sequence[float]) -> float:
    """Median that treats ``inf`` ("never") as the largest value; ``inf`` if half never reach."""
    arr = np.sort(np.asarray(values, dtype=np.float64))
    if arr.size == 0:
        return float("nan")
    n = arr.size
    if n % 2:
        return float(arr[n // 2])
    lo, hi = arr[n // 2 - 1], arr[n // 2]
    return float("inf") if np.isinf(hi) else float((lo + hi) / 2)
