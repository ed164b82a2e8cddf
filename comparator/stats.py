"""Small statistics the verdicts need: Wilson score intervals and Kendall's tau with the
disagreeing pairs named, plus "first step a curve reaches a level".

Pure numpy/math so that every formula can be checked against hand computations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .thresholds import WILSON_Z


@dataclass(frozen=True)
class Interval:
    """A proportion ``k / n`` with its Wilson score interval ``[low, high]``."""

    k: int
    n: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else float("nan")

    def to_dict(self) -> dict[str, float | int]:
        return {"k": self.k, "n": self.n, "rate": self.rate, "low": self.low, "high": self.high}


def wilson_interval(k: int, n: int, z: float = WILSON_Z) -> Interval:
    """Wilson score interval of a binomial proportion.

    With ``p = k/n``::

        centre = (p + z^2/(2n)) / (1 + z^2/n)
        half   = z / (1 + z^2/n) * sqrt(p (1-p) / n + z^2 / (4 n^2))

    Unlike the normal (Wald) interval it stays inside [0, 1] and is not degenerate at
    ``k = 0`` or ``k = n``. ``n = 0`` gives the uninformative interval ``[0, 1]``.
    """
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return Interval(0, 0, 0.0, 1.0)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # exact endpoints at the boundaries (avoid 1e-17 round-off outside [0, 1])
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return Interval(k, n, low, high)


@dataclass(frozen=True)
class KendallResult:
    """Kendall's tau-b between two rankings of the same named items.

    ``concordant``/``discordant`` count item pairs ordered the same / the opposite way;
    ``discordant_pairs`` names the disagreeing pairs as ``(a, b)`` where ``x`` ranks ``a``
    before ``b`` and ``y`` ranks ``b`` before ``a``. Pairs tied in either ranking are
    neither (listed in ``tied_pairs``). ``tau`` is NaN when it is undefined (fewer than two
    items or one ranking all ties).
    """

    tau: float
    concordant: int
    discordant: int
    discordant_pairs: list[tuple[str, str]] = field(default_factory=list)
    tied_pairs: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "tau": None if math.isnan(self.tau) else self.tau,
            "concordant": self.concordant,
            "discordant": self.discordant,
            "discordant_pairs": [list(p) for p in self.discordant_pairs],
            "tied_pairs": [list(p) for p in self.tied_pairs],
        }


def kendall_tau(names: Sequence[str], x: Sequence[float], y: Sequence[float]) -> KendallResult:
    """Kendall's tau-b of ``x`` against ``y`` (``+inf`` allowed: "never", ties with itself).

    ``tau_b = (n_c - n_d) / sqrt((n_0 - n_x)(n_0 - n_y))`` with ``n_0 = n(n-1)/2`` pairs,
    ``n_x``/``n_y`` the pairs tied in ``x``/``y``; equal to scipy's ``kendalltau`` (variant b).
    """
    if not (len(names) == len(x) == len(y)):
        raise ValueError("names, x and y must have the same length")
    n = len(names)
    nc = nd = tx = ty = 0
    disc: list[tuple[str, str]] = []
    ties: list[tuple[str, str]] = []
    for i in range(n):
        for j in range(i + 1, n):
            sx = _sign(x[i], x[j])
            sy = _sign(y[i], y[j])
            tx += sx == 0
            ty += sy == 0
            if sx == 0 or sy == 0:
                ties.append((names[i], names[j]))
            elif sx == sy:
                nc += 1
            else:
                nd += 1
                first, second = (names[i], names[j]) if sx > 0 else (names[j], names[i])
                disc.append((first, second))
    n0 = n * (n - 1) // 2
    denom = math.sqrt((n0 - tx) * (n0 - ty))
    tau = (nc - nd) / denom if denom > 0 else float("nan")
    return KendallResult(tau, nc, nd, disc, ties)


def _sign(a: float, b: float) -> int:
    """Sign of ``b - a`` with ``inf == inf`` (both "never") counted as a tie."""
    if a == b:
        return 0
    return 1 if b > a else -1


def first_reach(steps: np.ndarray, values: np.ndarray, level: float) -> float:
    """The first step at which ``values >= level``; ``inf`` if it never does.

    ``steps`` must be increasing. NaN values never count as reaching.
    """
    steps = np.asarray(steps, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    hit = np.nonzero(np.nan_to_num(values, nan=-np.inf) >= level)[0]
    return float(steps[hit[0]]) if hit.size else float("inf")


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
