"""Copy flow: time convention against the full-parameter flow, and the BRIEF's takeoff numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ktiw.data.families import from_spec
from ktiw.theory.flow import copy_flow, saddle_takeoff, takeoff_time
from ktiw.theory.toy_model import gradients


@pytest.mark.parametrize("spec", ["subset:L=3,V=5", "translate:L=3,V=5,reorder=reverse,seed=4"])
def test_time_is_full_parameter_gradient_flow_time(spec: str) -> None:
    """Heun-integrate dB/dt = -dL/dB, da/dt = -dL/da on the exact support (sympy-derived
    gradients); delta = B[i, d(i)] - B[i, d(j)] and gamma = a[t, l*] - a[t, l] (correct minus
    other position) follow copy_flow.  translate with a fixed order is a relabelled copy."""
    dist = from_spec(spec)
    ex = dist.exact_support()
    d = getattr(dist, "dictionary", np.arange(5))
    src_pos = 2 if "reverse" in spec else 0  # source position target 0 copies
    h, steps = 0.25, 120
    B, a = np.zeros((5, 5)), np.zeros((3, 3))
    deltas, gammas = [0.0], [0.0]
    for _ in range(steps):
        dB1, da1 = gradients(B, a, ex.src_arr, ex.tgt_arr)
        dB2, da2 = gradients(B - h * dB1, a - h * da1, ex.src_arr, ex.tgt_arr)
        B, a = B - h * (dB1 + dB2) / 2, a - h * (da1 + da2) / 2
        deltas.append(B[0, d[0]] - B[0, d[1]])
        gammas.append(a[0, src_pos] - a[0, 1])
    flow = copy_flow(3, 5, t_max=h * steps, n_points=steps + 1)
    np.testing.assert_allclose(flow.t, h * np.arange(steps + 1))
    np.testing.assert_allclose(deltas, flow.delta, rtol=2e-4, atol=1e-6)
    np.testing.assert_allclose(gammas, flow.gamma, rtol=2e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("V", "eps", "brief"),
    [
        (41, 0.0, 6.7e3),
        (60, 0.0, 3.9e3),
        (80, 0.0, 3.9e3),
        (200, 0.0, 5.1e3),
        (1000, 0.0, 1.07e4),
        (40, 1e-3, 1.06e4),
    ],
)
def test_takeoff_times_match_the_brief(V: int, eps: float, brief: float) -> None:
    """BRIEF §2.4 quotes these to 2-3 significant figures for k = 40."""
    assert takeoff_time(40, V, eps) == pytest.approx(brief, rel=0.01)


def test_takeoff_not_monotone_in_V() -> None:
    times = [takeoff_time(40, V) for V in (41, 60, 200, 1000)]
    assert times[1] < times[0] and times[1] < times[2] < times[3]


def test_saddle_escape_time_grows_like_k2_log_inverse_eps() -> None:
    """Near the saddle the unstable eigenvalue is 1/k^2: each factor 10 less eps costs k^2 ln 10."""
    k = 6
    eps = np.array([1e-4, 1e-6, 1e-8])
    t = saddle_takeoff(k, k, eps)
    np.testing.assert_allclose(np.diff(t), k**2 * math.log(100), rtol=0.02)
    assert takeoff_time(k, k, 0.0) is None


def test_copy_flow_curves() -> None:
    f = copy_flow(10, 30)
    assert f.takeoff_time == pytest.approx(takeoff_time(10, 30))
    assert f.t[-1] == pytest.approx(2 * f.takeoff_time)
    i = np.searchsorted(f.t, f.takeoff_time)
    assert f.alpha_d[i - 1] < 0.5 <= f.alpha_d[i]
    assert f.alpha_d[0] == pytest.approx(1 / 10) and f.p_correct[0] == pytest.approx(1 / 30)
    assert np.all(np.diff(f.p_correct) > 0) and f.accuracy[-1] == 1.0
    still = copy_flow(5, 5, t_max=100.0, n_points=5)
    assert (
        np.all(still.delta == 0) and still.takeoff_time is None and still.p_correct[-1] == pytest.approx(0.2)
    )
