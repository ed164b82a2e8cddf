"""The clocked reduced map (ktiw.theory.matched) against direct computations and the toy's own map."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ktiw.core.training import Init, Training
from ktiw.theory import matched as tm
from ktiw.theory.adam_reduction import reduced_run


def _log_odds(z: np.ndarray, y: int) -> float:
    others = np.delete(z, y)
    return float(z[y] - np.log(np.exp(others).sum()))


@pytest.mark.parametrize("V", [3, 6, 12, 40])
@pytest.mark.parametrize("delta", [-1.5, 0.0, 0.3, 4.0])
def test_kgap_is_the_probe_gap_of_a_symmetric_B(V: int, delta: float) -> None:
    """beta[gold] - beta[other] computed from B = b_d I + b_o (J - I) directly."""
    b_o = -0.7
    B = np.full((V, V), b_o) + np.eye(V) * delta
    y, other = 0, 1  # target word 0; position holding word 1
    direct = _log_odds(B[y], y) - _log_odds(B[other], y)
    assert tm.kgap_of_delta(delta, V) == pytest.approx(direct, abs=1e-12)
    assert tm.delta_of_kgap(direct, V) == pytest.approx(delta, abs=1e-10)


@pytest.mark.parametrize("k", [2, 8, 40])
def test_gamma_of_mass_inverts_alpha_d(k: int) -> None:
    for gamma in (-2.0, 0.0, 0.5, math.log(k - 1), 5.0):
        alpha_d = 1 / (1 + (k - 1) * math.exp(-gamma))
        assert tm.gamma_of_mass(alpha_d, k) == pytest.approx(gamma, abs=1e-9)


@pytest.mark.parametrize(("k", "V", "lr"), [(4, 6, 0.01), (6, 6, 0.01), (8, 12, 0.003)])
def test_symmetric_start_is_the_toys_reduced_map(k: int, V: int, lr: float) -> None:
    """From the toy's own start and in the toy's own clock (a = p = 1) the matched method returns
    the toy's reduced-map takeoff exactly: the consistency of the model-matched predictor."""
    e = 1e-3
    tr = Training(lr=lr, init=Init("eps", e), steps=5000)
    want = reduced_run(k, V, tr).takeoff_step
    paths = tm.reduced_paths(k, V, tr, np.array([e]), np.array([e]))
    assert paths.takeoff[0] == want
    steps = tm.combine(paths, [(1.0, 1.0)], tr.steps)
    assert steps.quantile(0.5) == want and steps.takeoff_probability == 1.0


def test_saddle_start_on_the_wrong_side_never_takes_off() -> None:
    tr = Training(lr=0.01, steps=3000)
    paths = tm.reduced_paths(6, 6, tr, np.array([1e-3, -1e-3]), np.array([1e-3, -1e-3]))
    assert math.isfinite(paths.takeoff[0]) and math.isinf(paths.takeoff[1])
    assert paths.gamma[-1, 1] < 0


def test_clock_and_warp_recover_a_power_law() -> None:
    """A measured delta that is the toy's delta at tau = a n^p gives back (a, p)."""
    tr = Training(lr=1e-3, steps=4000)
    ref = tm.reduced_paths(8, 12, tr, np.array([0.0]), np.array([0.0])).delta[:, 0]
    a, p = 2.5, 1.4
    n = np.arange(0, 41, 4, dtype=float)
    tau = a * n**p
    measured = np.interp(tau, np.arange(ref.size), ref)
    got = tm.fit_warp(n, tm.clock(n, measured, ref))
    assert got is not None
    assert got[0] == pytest.approx(a, rel=0.03) and got[1] == pytest.approx(p, rel=0.01)
    assert tm.real_step(a * 50**p, got)[()] == pytest.approx(50, abs=1)


def test_fit_warp_needs_two_moving_points() -> None:
    assert tm.fit_warp(np.array([0.0, 1.0, 2.0]), np.array([0.0, 0.5, 3.0])) is None
