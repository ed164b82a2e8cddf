"""Numerical solution of the 2-D copy flow (:mod:`ktiw.theory.reduction`) with scipy.

Time convention: ``t`` is gradient-flow time of the token-mean loss on the full parameters
``B`` and ``a`` of the toy model, ``dB/dt = -dLoss/dB``, ``da/dt = -dLoss/da``.  Plain
gradient descent with learning rate ``lr`` for ``n`` steps therefore corresponds to
``t = lr * n`` (while ``lr`` is small enough for the flow to be a good approximation).

Derived curves: ``alpha_d = 1/(1 + (k-1) e^{-gamma})`` is the attention on the correct source
position; ``p_correct = exp(-loss)`` the probability of the correct token (the per-token
loss is its negative log); ``accuracy`` is 1 while the correct logit ``alpha_d delta`` is
strictly the largest (``delta > 0`` and ``alpha_d > alpha_o``), since every token is alike.
The *takeoff time* is the first ``t`` with ``alpha_d >= 1/2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from .reduction import numeric


@dataclass(frozen=True)
class CopyFlow:
    """Solution of the copy flow for ``k`` words out of ``V`` from ``delta = gamma = eps``."""

    k: int
    V: int
    eps: float
    t: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    alpha_d: np.ndarray
    p_correct: np.ndarray
    accuracy: np.ndarray
    takeoff_time: float | None


def alpha_correct(gamma: np.ndarray | float, k: int) -> np.ndarray:
    """Attention on the correct position, ``1/(1 + (k-1) e^{-gamma})``."""
    return 1.0 / (1.0 + (k - 1) * np.exp(-np.asarray(gamma, dtype=np.float64)))


def default_horizon(k: int, V: int, eps: float) -> float:
    """How long to search for takeoff: far beyond ``k^2 ln(1/eps)`` (saddle) and ``k V`` (drift)."""
    scale = k * k * (1.0 + (math.log(1.0 / eps) if eps > 0 else 0.0)) + k * V
    return 200.0 * scale


def _check(k: int, V: int, eps: float) -> None:
    if k < 2 or k > V:
        raise ValueError(f"the copy reduction needs 2 <= k <= V, got k={k}, V={V}")
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")


def _solve(k: int, V: int, eps: float, t_end: float, t_eval: np.ndarray | None, stop_at_takeoff: bool):
    f = numeric()

    def rhs(_t: float, z: np.ndarray) -> tuple[float, float]:
        return f.rhs(z[0], z[1], k, V)

    def jac(_t: float, z: np.ndarray) -> np.ndarray:
        return np.array(f.jacobian(z[0], z[1], k, V), dtype=np.float64).reshape(2, 2)

    def takeoff(_t: float, z: np.ndarray) -> float:
        return z[1] - math.log(k - 1)

    takeoff.direction = 1.0  # type: ignore[attr-defined]
    takeoff.terminal = stop_at_takeoff  # type: ignore[attr-defined]
    return solve_ivp(
        rhs,
        (0.0, t_end),
        [eps, eps],
        method="LSODA",
        jac=jac,
        t_eval=t_eval,
        events=takeoff,
        rtol=1e-9,
        atol=1e-12,
    )


def takeoff_time(k: int, V: int, eps: float = 0.0, horizon: float | None = None) -> float | None:
    """First time ``alpha_d`` reaches 1/2, or ``None`` if not within ``horizon`` (or never)."""
    _check(k, V, eps)
    if alpha_correct(eps, k) >= 0.5:
        return 0.0
    if k == V and eps == 0.0:
        return None  # the origin is an exact fixed point (a saddle)
    horizon = default_horizon(k, V, eps) if horizon is None else horizon
    sol = _solve(k, V, eps, horizon, None, stop_at_takeoff=True)
    hits = sol.t_events[0]
    return float(hits[0]) if len(hits) else None


def copy_flow(
    k: int, V: int, *, eps: float = 0.0, t_max: float | None = None, n_points: int = 400
) -> CopyFlow:
    """Integrate the copy flow for ``k`` distinct words out of ``V`` from ``delta = gamma = eps``.

    ``t`` is gradient-flow time of the token-mean loss on the full parameters (``lr * steps``
    for gradient descent).  ``t_max`` defaults to twice the takeoff time, or the search
    horizon :func:`default_horizon` when there is no takeoff.  Returns ``n_points`` samples.
    """
    _check(k, V, eps)
    t_off = takeoff_time(k, V, eps)
    if t_max is None:
        t_max = 2.0 * t_off if t_off else (default_horizon(k, V, eps) if t_off is None else 1.0)
    t = np.linspace(0.0, float(t_max), n_points)
    if k == V and eps == 0.0:
        delta = gamma = np.zeros_like(t)
    else:
        sol = _solve(k, V, eps, float(t_max), t, stop_at_takeoff=False)
        if not sol.success:
            raise RuntimeError(f"copy flow k={k}, V={V}, eps={eps}: {sol.message}")
        delta, gamma = sol.y
    f = numeric()
    alpha_d = alpha_correct(gamma, k)
    alpha_o = (1.0 - alpha_d) / (k - 1)
    p_correct = np.exp(-np.asarray(f.loss(delta, gamma, k, V)[0], dtype=np.float64)) * np.ones_like(t)
    accuracy = np.where((delta > 0) & (alpha_d > alpha_o), 1.0, 0.0)
    return CopyFlow(k, V, eps, t, delta, gamma, alpha_d, p_correct, accuracy, t_off)


def saddle_takeoff(k: int, V: int, eps_values: np.ndarray) -> np.ndarray:
    """Takeoff time as a function of the symmetry-breaking size ``eps`` (``nan`` where none)."""
    out = [takeoff_time(k, V, float(e)) for e in np.asarray(eps_values, dtype=np.float64)]
    return np.array([np.nan if v is None else v for v in out])
