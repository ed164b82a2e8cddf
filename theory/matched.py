"""The toy's reduced optimizer map run in a real model's clock: the mathematics of the
model-matched prediction (numpy only; the measurements come from :mod:`ktiw.empirics.pilot`,
the join is :mod:`ktiw.matched`).

**Coordinates.**  For copying ``k`` distinct words of ``V`` the toy lives on the symmetric
subspace ``(b_d, b_o, a_d, a_o)`` and its loss depends on ``delta = b_d - b_o`` and
``gamma = a_d - a_o`` (:mod:`.reduction`).  Two quantities any attention model computes are
exact functions of them on that subspace:

* the gold attention mass ``alpha_d = 1 / (1 + (k-1) e^{-gamma})``, so
  ``gamma = logit(mass) + ln(k-1)`` (:func:`gamma_of_mass`);
* the KTIW probe's gap ``kgap = beta[gold] - mean_{l != gold} beta[l]`` with
  ``beta[l] = B[x_l, y] - logsumexp_{o != y} B[x_l, o]``: at the gold position
  ``delta - ln(V-1)``, elsewhere ``-ln(e^delta + V - 2)``, so
  ``kgap = delta - ln(V-1) + ln(e^delta + V - 2)`` (:func:`kgap_of_delta`; increasing, slope
  in ``(1, 2)``, inverted by Newton's method in :func:`delta_of_kgap`).

These are how a real model's measured mass and probe gap are read as a toy state.

**Random start.**  From ``(b_d, b_o, a_d, a_o) = (delta_0, 0, gamma_0, 0)`` the reduced map
(:func:`reduced_paths`, the optimizer of :class:`~ktiw.core.training.Training` on the four scalars
with the gradients of :func:`~.adam_reduction.coordinate_gradients`) is the toy started off
the symmetric point.  For ``V = k`` the origin is a saddle whose unstable direction is
``delta = gamma``: a start on the wrong side escapes to ``gamma -> -oo`` (attention leaves
the gold word) and never takes off.  Each measured start gives one toy takeoff step
``tau*`` (``gamma = ln(k-1)``, mass 1/2) and one toy success step ``tau_s``
(``gamma = ln(3(k-1))``, mass 3/4, see :data:`SUCCESS_MASS`), or none.

**Clock (time warp).**  A real model's reduced coordinates need not move at the toy's speed
per step: under Adam every parameter moves about ``lr`` per step, and a coordinate that sums
many coherent parameter moves moves faster.  The hypothesis tested here: the real model
follows the toy's reduced path in a clock of its own, ``tau(n)``, the same for ``delta`` and
``gamma``.  The clock is read from the KTIW coordinate, which moves from the first step:
``tau_j(n)`` is the toy step at which the toy's ``|delta - delta_0|`` equals pilot seed
``j``'s at step ``n`` (:func:`clock`), and ``tau_j(n) = a_j n^p_j`` is fitted by least squares
in ``log tau`` on ``log n`` (:func:`fit_warp`; for the toy itself ``a = p = 1``).  A toy step
``tau`` is reached at real step ``(tau / a)^(1/p)`` (:func:`real_step`).

**Prediction.**  Every pair (start ``i``, pilot clock ``j``) gives a takeoff step and a
success step; their distribution over pairs gives the median takeoff, its 10%-90% range
(inverted-CDF quantiles, beyond-budget counted as never), the probability of takeoff and of
success within the budget (:func:`combine`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ktiw.core.training import Training

from .optimizers import NumpyOptimizer

SUCCESS_MASS = 0.75
"""Gold attention mass at which the toy counts as having learned to copy (success): chosen
before any held-out run, as 'gold word three times the rest'; not fitted (docs/predicting.md)."""

MAX_TOY_STEPS = 50_000
"""Longest reduced path iterated (toy steps)."""

MIN_TAU = 2.0
"""Clock points below this many toy steps are not used in the fit (the first toy steps carry
Adam's bias correction and the measurement's noise)."""


def kgap_of_delta(delta: np.ndarray | float, V: int) -> np.ndarray:
    """``delta - ln(V-1) + ln(e^delta + V - 2)`` (module docstring)."""
    d = np.asarray(delta, dtype=np.float64)
    return (
        d - math.log(V - 1) + np.logaddexp(d, math.log(V - 2)) if V > 2 else 2 * d - math.log(V - 1) + 0 * d
    )


def delta_of_kgap(kgap: np.ndarray | float, V: int) -> np.ndarray:
    """Inverse of :func:`kgap_of_delta` (Newton's method; the map is increasing with slope in (1, 2))."""
    g = np.asarray(kgap, dtype=np.float64)
    d = g / 2.0
    for _ in range(60):
        e = np.exp(np.clip(d, -700, 700))
        slope = 1.0 + (e / (e + V - 2) if V > 2 else 1.0)
        d = d - (kgap_of_delta(d, V) - g) / slope
    return d


def gamma_of_mass(mass: np.ndarray | float, k: int) -> np.ndarray:
    """``logit(mass) + ln(k-1)``: the reduced attention coordinate of a gold mass."""
    m = np.clip(np.asarray(mass, dtype=np.float64), 1e-12, 1 - 1e-12)
    return np.log(m) - np.log1p(-m) + math.log(k - 1)


def _gradients(k: int, V: int, x: np.ndarray) -> np.ndarray:
    """Per-coordinate gradients ``[S, 4]`` at states ``x [S, 4]`` (vectorised
    :func:`~.adam_reduction.coordinate_gradients`)."""
    from .reduction import numeric

    r0, r1 = numeric().rhs(x[:, 0] - x[:, 1], x[:, 2] - x[:, 3], k, V)
    l_delta = -(V - 1) * np.asarray(r0, dtype=np.float64)
    l_gamma = -(k - 1) * np.asarray(r1, dtype=np.float64)
    return np.stack(
        [l_delta / V, -l_delta / (V * (V - 1)), l_gamma / k, -l_gamma / (k * (k - 1))], axis=1
    ) * np.ones((x.shape[0], 1))


@dataclass(frozen=True)
class ReducedPaths:
    """The reduced map from ``S`` starts: ``delta``/``gamma [steps+1, S]`` (rows after the
    last one computed repeat it); ``takeoff``/``success [S]``: first toy step with mass 1/2 /
    :data:`SUCCESS_MASS` (``inf``: not within the path)."""

    delta: np.ndarray
    gamma: np.ndarray
    takeoff: np.ndarray
    success: np.ndarray


def reduced_paths(
    k: int, V: int, training: Training, delta0: np.ndarray, gamma0: np.ndarray, max_steps: int = MAX_TOY_STEPS
) -> ReducedPaths:
    """Iterate ``training``'s optimizer on ``(b_d, b_o, a_d, a_o) = (delta0, 0, gamma0, 0)``
    (one row per start) until every path took off and succeeded, escaped to the wrong side
    (``gamma < -ln(k-1)`` with ``delta < 0``: mass below ``1/(1 + (k-1)^2)``, falling) or
    ``max_steps``."""
    delta0 = np.atleast_1d(np.asarray(delta0, dtype=np.float64))
    gamma0 = np.atleast_1d(np.asarray(gamma0, dtype=np.float64))
    S = delta0.size
    x = np.zeros((S, 4))
    x[:, 0], x[:, 2] = delta0, gamma0
    opt = NumpyOptimizer(training, [x])
    up, goal = math.log(k - 1), math.log(SUCCESS_MASS / (1 - SUCCESS_MASS) * (k - 1))
    takeoff = np.where(gamma0 >= up, 0.0, np.inf)
    success = np.where(gamma0 >= goal, 0.0, np.inf)
    deltas, gammas = [x[:, 0] - x[:, 1]], [x[:, 2] - x[:, 3]]
    for n in range(1, max_steps + 1):
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging start is simply never taken off
            opt.step([x], [_gradients(k, V, x)])
        d, g = x[:, 0] - x[:, 1], x[:, 2] - x[:, 3]
        deltas.append(d.copy())
        gammas.append(g.copy())
        takeoff[np.isinf(takeoff) & (g >= up)] = n
        success[np.isinf(success) & (g >= goal)] = n
        lost = (g < -up) & (d < 0)
        if np.all(np.isfinite(success) | lost):
            break
    return ReducedPaths(np.array(deltas), np.array(gammas), takeoff, success)


def clock(n: np.ndarray, ddelta: np.ndarray, ref_delta: np.ndarray) -> np.ndarray:
    """Toy steps ``tau(n)``: where the toy's ``|delta - delta_0|`` (``ref_delta``, along the
    toy's own path, increasing) first reaches the measured ``ddelta`` (linear interpolation;
    ``nan`` beyond the path)."""
    ref = np.abs(np.asarray(ref_delta, dtype=np.float64) - ref_delta[0])
    ref = np.maximum.accumulate(ref)
    taus = np.arange(ref.size, dtype=np.float64)
    out = np.interp(np.asarray(ddelta, dtype=np.float64), ref, taus, right=np.nan)
    return np.where(np.asarray(ddelta) > ref[-1], np.nan, out)


def fit_warp(n: np.ndarray, tau: np.ndarray, min_tau: float = MIN_TAU) -> tuple[float, float] | None:
    """``(a, p)`` of ``tau = a n^p`` by least squares in logs over points with ``n > 0`` and
    ``tau >= min_tau`` (at least two); ``None`` when there are fewer."""
    n, tau = np.asarray(n, dtype=np.float64), np.asarray(tau, dtype=np.float64)
    ok = (n > 0) & np.isfinite(tau) & (tau >= min_tau)
    if ok.sum() < 2:
        return None
    x, y = np.log(n[ok]), np.log(tau[ok])
    if np.ptp(x) == 0:
        return None
    p, log_a = np.polyfit(x, y, 1)
    if not (p > 0 and math.isfinite(p)):
        return None
    return float(math.exp(log_a)), float(p)


def real_step(tau: np.ndarray | float, warp: tuple[float, float]) -> np.ndarray:
    """The real step at which toy step ``tau`` is reached under ``tau = a n^p`` (``inf`` stays ``inf``)."""
    a, p = warp
    t = np.asarray(tau, dtype=np.float64)
    with np.errstate(divide="ignore", over="ignore"):
        return np.where(np.isfinite(t), np.ceil(np.power(np.maximum(t, 0.0) / a, 1.0 / p)), np.inf)


@dataclass(frozen=True)
class MatchedSteps:
    """Pooled per-(start, clock) takeoff and success steps and their summary."""

    takeoff_steps: np.ndarray
    success_steps: np.ndarray
    budget: int

    def quantile(self, q: float) -> float | None:
        from .simulate import takeoff_quantile

        within = np.where(self.takeoff_steps <= self.budget, self.takeoff_steps, np.inf)
        return takeoff_quantile(within, q)

    @property
    def takeoff_probability(self) -> float:
        return float(np.mean(self.takeoff_steps <= self.budget))

    @property
    def success_probability(self) -> float:
        return float(np.mean(self.success_steps <= self.budget))


def combine(paths: ReducedPaths, warps: list[tuple[float, float]], budget: int) -> MatchedSteps:
    """Every start's toy takeoff/success read in every pilot clock (module docstring)."""
    take = np.concatenate([real_step(paths.takeoff, w) for w in warps])
    succ = np.concatenate([real_step(paths.success, w) for w in warps])
    return MatchedSteps(take, succ, budget)
