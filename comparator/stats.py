"""The statistics the verdicts need: intervals for display, exact tests for decisions.

* :func:`wilson_interval`: a proportion's Wilson score interval (figures, tables);
* :func:`fisher_less`: one-sided Fisher exact test that one success rate is below another;
* :func:`binomial_greater`, :func:`binomial_less`: one-sided exact binomial tests of a rate
  against ``p0``;
* :func:`kendall_order`: Kendall's tau-b and its one-sided p-value (scipy), with the
  disagreeing pairs named; :func:`kendall_p`: tau-b and its p-value alone (many items);
* :func:`signed_rank`: Wilcoxon's signed-rank test of paired differences (scipy);
* :func:`median_or_inf`: a median where ``inf`` means "never" (defined in
  :mod:`ktiw.empirics.curves`, which the sweep also reads);
* :func:`share_beyond`: one-sided test that a share pooled over seeds lies beyond an
  allowance, with the seed as the unit (tokens of one seed are not independent);
* :func:`median_interval`: the distribution-free (order-statistic) confidence interval of a
  median, ``inf`` ("never") allowed; :func:`median_inside`: the sign tests (TOST) that a median
  lies inside a band;
* :func:`fisher_greater`: Fisher's exact test that one success rate is above another;
  :func:`fisher_two_sided`: that two success rates differ (the bf16/fp32 comparison).

A refutation needs the same kind of evidence as a pass: each check passes only where one of
these tests rejects the null hypothesis that the theory's claim is false, and refutes only where
one rejects the claim, at :data:`~ktiw.comparator.thresholds.P_VALUE`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ktiw.empirics.curves import median_or_inf  # noqa: F401  (defined there, one home; listed above)

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
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return Interval(k, n, low, high)


def fisher_less(k_a: int, n_a: int, k_b: int, n_b: int) -> float:
    """One-sided p-value of Fisher's exact test for "rate a < rate b" (``k`` successes of ``n``).

    The table ``[[k_a, n_a - k_a], [k_b, n_b - k_b]]`` with the alternative that a's odds of
    success are lower; the p-value is the hypergeometric probability of ``k_a`` or fewer
    successes in a given the margins.  Example: 5/8 against 8/8 gives ``p = 0.1``.
    """
    from scipy.stats import fisher_exact

    if n_a < 1 or n_b < 1:
        return float("nan")
    table = [[k_a, n_a - k_a], [k_b, n_b - k_b]]
    return float(fisher_exact(table, alternative="less").pvalue)


def fisher_greater(k_a: int, n_a: int, k_b: int, n_b: int) -> float:
    """One-sided p-value of Fisher's exact test for "rate a > rate b" (mirror of :func:`fisher_less`)."""
    return fisher_less(k_b, n_b, k_a, n_a)


def fisher_two_sided(k_a: int, n_a: int, k_b: int, n_b: int) -> float:
    """Two-sided p-value of Fisher's exact test for "rate a != rate b" (``k`` successes of
    ``n``): the probability, given the margins, of a table at most as likely as the observed
    one.  Example: 2/10 against 9/10 gives ``p = 0.0055``; equal counts give ``p = 1``."""
    from scipy.stats import fisher_exact

    if n_a < 1 or n_b < 1:
        return float("nan")
    table = [[k_a, n_a - k_a], [k_b, n_b - k_b]]
    return float(fisher_exact(table, alternative="two-sided").pvalue)


def binomial_greater(k: int, n: int, p0: float) -> float:
    """One-sided exact binomial p-value of ``k`` successes in ``n`` for "rate > p0"."""
    return _binomial(k, n, p0, "greater")


def binomial_less(k: int, n: int, p0: float) -> float:
    """One-sided exact binomial p-value of ``k`` successes in ``n`` for "rate < p0" (below the
    level exactly when the one-sided Clopper-Pearson upper bound is below ``p0``)."""
    return _binomial(k, n, p0, "less")


def _binomial(k: int, n: int, p0: float, alternative: str) -> float:
    from scipy.stats import binomtest

    if n < 1:
        return float("nan")
    return float(binomtest(k, n, p0, alternative=alternative).pvalue)


@dataclass(frozen=True)
class KendallResult:
    """Kendall's tau-b between two rankings of the same named items, with the one-sided
    p-values of "positively associated" (``p_value``) and "negatively associated"
    (``p_less``) (:func:`scipy.stats.kendalltau`).

    ``discordant_pairs`` names the disagreeing pairs as ``(a, b)`` where ``x`` ranks ``a``
    before ``b`` and ``y`` ranks ``b`` before ``a``; pairs tied in either ranking are in
    ``tied_pairs``.  ``tau`` and ``p_value`` are NaN when undefined (fewer than two items or
    one ranking all ties).
    """

    tau: float
    p_value: float
    concordant: int
    discordant: int
    discordant_pairs: list[tuple[str, str]] = field(default_factory=list)
    tied_pairs: list[tuple[str, str]] = field(default_factory=list)
    p_less: float = float("nan")
    """One-sided p-value of "negatively associated" (the evidence a refutation needs)."""


def kendall_order(names: Sequence[str], x: Sequence[float], y: Sequence[float]) -> KendallResult:
    """Kendall's tau-b of ``x`` against ``y`` and its one-sided p-value (exact for small ``n``)."""
    if not (len(names) == len(x) == len(y)):
        raise ValueError("names, x and y must have the same length")
    nc = nd = 0
    disc: list[tuple[str, str]] = []
    ties: list[tuple[str, str]] = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            sx, sy = np.sign(x[j] - x[i]) if x[i] != x[j] else 0, np.sign(y[j] - y[i]) if y[i] != y[j] else 0
            if sx == 0 or sy == 0:
                ties.append((names[i], names[j]))
            elif sx == sy:
                nc += 1
            else:
                nd += 1
                disc.append((names[i], names[j]) if sx > 0 else (names[j], names[i]))
    if len(names) < 2 or len(set(x)) < 2 or len(set(y)) < 2:
        return KendallResult(float("nan"), float("nan"), nc, nd, disc, ties)
    tau, p_greater = kendall_p(x, y, "greater")
    return KendallResult(tau, p_greater, nc, nd, disc, ties, kendall_p(x, y, "less")[1])


def kendall_p(x: Sequence[float], y: Sequence[float], alternative: str) -> tuple[float, float]:
    """Kendall's tau-b of ``x`` against ``y`` and its p-value (:func:`scipy.stats.kendalltau`:
    exact for small samples without ties, else the normal approximation) for the
    ``alternative`` ``"greater"`` (positively associated), ``"less"`` (negatively) or
    ``"two-sided"``.  NaN when undefined (fewer than two items, or either side constant)."""
    from scipy.stats import kendalltau

    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan"), float("nan")
    res = kendalltau(a, b, alternative=alternative)
    return float(res.statistic), float(res.pvalue)


def signed_rank(diff: Sequence[float], alternative: str) -> float:
    """p-value of Wilcoxon's signed-rank test of paired differences ``diff`` against a
    distribution symmetric about 0 (:func:`scipy.stats.wilcoxon`; zero differences dropped;
    exact for small samples without ties): ``alternative`` ``"greater"`` (shifted above 0),
    ``"less"`` (below 0) or ``"two-sided"``.  With every difference positive the exact one-sided
    p-value is ``2**-n`` (``n`` pairs), so 5 pairs are the fewest that can reach 0.05.  NaN with
    fewer than two pairs or no nonzero difference."""
    from scipy.stats import wilcoxon

    d = np.asarray(diff, dtype=np.float64)
    if d.size < 2 or not np.any(d != 0):
        return float("nan")
    return float(wilcoxon(d, alternative=alternative).pvalue)


def share_beyond(per_seed: Sequence[float], tokens: int, allowance: float, side: str) -> float:
    """One-sided p-value that the mean share over seeds lies beyond ``allowance``
    (``side`` ``"greater"``: above it; ``"less"``: below it).

    The unit of evidence is the seed, not the token: the scored tokens of one seed are read
    off one trained model (and the same evaluation samples serve every seed), so they are not
    independent, and pooling them as a binomial sample would overstate the evidence.  The test
    is the one-sample t-test of the per-seed shares ``x_1..x_S`` against ``allowance``::

        t = (mean(x) - allowance) / SE,   SE = max(sd(x) / sqrt(S), sqrt(a (1 - a) / tokens))

    with ``S - 1`` degrees of freedom; ``a = allowance`` and ``tokens`` is the number of scored
    tokens pooled over all seeds.  The floor is the binomial standard error the pooled tokens
    would have were they independent: positively correlated tokens only make the true error
    larger, so the floor keeps a run of identical seeds from looking infinitely precise.  With
    fewer than two seeds the spread between seeds is unknown and the p-value is 1 (no evidence).
    """
    from scipy.stats import t as student_t

    x = np.asarray([v for v in per_seed if math.isfinite(v)], dtype=np.float64)
    if x.size < 2 or side not in ("greater", "less"):
        return 1.0
    a = min(max(float(allowance), 0.0), 1.0)
    floor = math.sqrt(a * (1 - a) / max(int(tokens), 1))
    se = max(float(x.std(ddof=1)) / math.sqrt(x.size), floor)
    diff = float(x.mean()) - float(allowance)
    if se == 0.0:
        return 0.0 if (diff > 0 if side == "greater" else diff < 0) else 1.0
    stat = diff / se if side == "greater" else -diff / se
    return float(student_t.sf(stat, df=x.size - 1))


def median_interval(values: Sequence[float], level: float) -> tuple[float, float]:
    """Distribution-free confidence interval ``[x_(j), x_(n-j+1)]`` of the median of ``values``
    at ``level`` (two-sided), ``inf`` ("never") the largest value.

    ``j`` is the largest order with ``P(Binomial(n, 1/2) <= j - 1) <= (1 - level) / 2``: the
    median lies below ``x_(j)`` only if at most ``j - 1`` of the ``n`` draws do.  With too few
    values for any such ``j`` (``n <= 5`` at 95%) the interval is ``[-inf, inf]``.
    """
    from scipy.stats import binom

    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    tail = (1 - level) / 2
    j = 0
    while j + 1 <= n and binom.cdf(j, n, 0.5) <= tail:
        j += 1
    if j == 0:
        return -math.inf, math.inf
    return float(x[j - 1]), float(x[n - j])


def median_inside(values: Sequence[float], low: float, high: float) -> float:
    """p-value that the median of the distribution behind ``values`` lies in ``[low, high]``
    (``inf``, "never", allowed): two one-sided sign tests (TOST) of the nulls "median < low" and
    "median > high"; the p-value is the larger of the two.

    Under "median < low" a draw is ``>= low`` with probability at most 1/2, so the number of
    values ``>= low`` is at most ``Binomial(n, 1/2)``::

        p_low  = P(Binomial(n, 1/2) >= #{x >= low}),   p_high = P(Binomial(n, 1/2) >= #{x <= high})

    Below ``alpha`` exactly when the order-statistic interval at level ``1 - 2 alpha``
    (:func:`median_interval`) lies inside the band.  ``low = high = inf`` tests "the median is
    never", i.e. at least half the seeds never take off (``p = P(Binomial(n, 1/2) >= #never)``).
    All ``n`` values inside the band give ``2**-n``, so 5 values are the fewest that can reach
    0.05.  No values: ``p = 1`` (no evidence).
    """
    from scipy.stats import binom

    x = np.asarray(values, dtype=np.float64)
    x = np.where(np.isnan(x), np.inf, x)
    n = x.size
    if n == 0:
        return 1.0
    k_low, k_high = int(np.count_nonzero(x >= low)), int(np.count_nonzero(x <= high))
    return float(max(binom.sf(k_low - 1, n, 0.5), binom.sf(k_high - 1, n, 0.5)))
