"""Each check on synthetic numbers whose verdict is known by construction: one case that
must pass and one that must fail (with a refutation that names the prediction)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit

from ktiw.comparator import thresholds as th
from ktiw.comparator.checks import (
    FidelityTrace,
    SeedCurve,
    SuccessCount,
    Takeoff,
    check_agreement_table,
    check_ktiw_before_attention,
    check_ktiw_under_uniform,
    check_success_rates,
    check_takeoff_order,
    check_toy_fidelity,
    measured_takeoff,
    overall_passed,
)


def _sigmoid_curve(t: np.ndarray, t0: float, width: float = 20.0) -> np.ndarray:
    return expit((t - t0) / width)


def test_toy_fidelity_pass_and_fail() -> None:
    t_flow = np.linspace(0, 500, 2001)
    flow = 0.25 + 0.75 * _sigmoid_curve(t_flow, 200)
    t_gd = np.arange(0, 1001) * 0.5
    close = 0.25 + 0.75 * _sigmoid_curve(t_gd, 200) + 0.01 * np.sin(t_gd)  # |diff| <= 0.01
    ok = check_toy_fidelity(FidelityTrace("subset:L=4,V=6", "drift", 0.5, t_gd, close, t_flow, flow))
    assert ok.passed is True
    assert ok.numbers["max_abs_diff"] == pytest.approx(0.01, abs=2e-4)
    # a time-scale error of 10% moves the curve by far more than 0.02 near the takeoff
    late = 0.25 + 0.75 * _sigmoid_curve(t_gd, 220)
    bad = check_toy_fidelity(FidelityTrace("permutation:L=4", "saddle", 0.5, t_gd, late, t_flow, flow))
    assert bad.passed is False
    expected = np.max(np.abs(late - (0.25 + 0.75 * _sigmoid_curve(t_gd, 200))))
    assert bad.numbers["max_abs_diff"] == pytest.approx(expected, abs=1e-3)
    assert "REFUTED" in bad.detail and "permutation:L=4" in bad.detail


def test_ktiw_under_uniform_drift_and_saddle() -> None:
    assert check_ktiw_under_uniform("subset", "drift", 0.8, 0.1).passed is True
    bad = check_ktiw_under_uniform("subset", "drift", 0.4, 0.1)
    assert bad.passed is False and "0.4" in bad.detail
    # "most" is a strict majority
    assert check_ktiw_under_uniform("subset", "drift", th.MOST, 0.1).passed is False
    assert check_ktiw_under_uniform("perm", "saddle", 0.12, 0.1).passed is True
    bad = check_ktiw_under_uniform("perm", "saddle", 0.6, 0.1)
    assert bad.passed is False and "0.5 above" in bad.detail
    assert check_ktiw_under_uniform("x", "ambiguous", 0.6, 0.1).passed is None


def _seed(seed: int, beta_t0: float, attn_t0: float, succeeded: bool = True) -> SeedCurve:
    steps = np.arange(0, 201, 10, dtype=float)
    return SeedCurve(
        seed,
        steps,
        token_acc=_sigmoid_curve(steps, attn_t0 + 10),
        attn_acc=_sigmoid_curve(steps, attn_t0, 5),
        beta_acc=_sigmoid_curve(steps, beta_t0, 5),
        succeeded=succeeded,
    )


def test_ktiw_before_attention() -> None:
    good = [_seed(0, 50, 100), _seed(1, 60, 80), _seed(2, 120, 90), _seed(3, 10, 10, succeeded=False)]
    v = check_ktiw_before_attention("subset", good)
    assert v.passed is True
    assert (v.numbers["ktiw_first"], v.numbers["counted_seeds"]) == (2, 3)
    # beta reaching 0.5 at step 50 -> first grid step with value >= 0.5 is 50
    assert v.numbers["seeds"][0]["step_beta"] == 50.0 and v.numbers["seeds"][0]["step_attn"] == 100.0
    bad = check_ktiw_before_attention("subset", [_seed(0, 100, 50), _seed(1, 60, 80), _seed(2, 150, 30)])
    assert bad.passed is False and "[0, 2]" in bad.detail
    # exactly half is not "most"
    half = check_ktiw_before_attention("subset", [_seed(0, 100, 50), _seed(1, 60, 80)])
    assert half.passed is False
    assert check_ktiw_before_attention("perm", [_seed(0, 1, 1, succeeded=False)]).passed is None
    # a seed that succeeds without attention ever reaching 0.5 is not counted either way
    never = check_ktiw_before_attention("perm", [_seed(0, 50, 10_000), _seed(1, 100, 50)])
    assert never.passed is False and never.numbers["counted_seeds"] == 1
    assert never.numbers["succeeded_without_attention"] == [0]
    assert check_ktiw_before_attention("perm", [_seed(0, 50, 10_000)]).passed is None


def test_success_rate_contrast() -> None:
    ok = check_success_rates([SuccessCount("subset", "drift", 5, 5), SuccessCount("perm", "saddle", 2, 5)])
    assert [v.passed for v in ok] == [True, True]
    assert ok[0].numbers["low"] == pytest.approx(0.5655, abs=1e-4)  # Wilson 5/5
    # drift: 2/5 -> upper bound 0.77 < 0.9 refutes "nearly all"; saddle equal to drift refutes contrast
    bad = check_success_rates([SuccessCount("subset", "drift", 2, 5), SuccessCount("perm", "saddle", 2, 5)])
    assert [v.passed for v in bad] == [False, False]
    assert "0.13 below 0.9" in bad[0].detail
    assert "difference 0" in bad[1].detail
    # 4/5 is still consistent with "nearly all" (upper bound 0.96)
    assert check_success_rates([SuccessCount("s", "drift", 4, 5)])[0].passed is True
    assert check_success_rates([SuccessCount("p", "saddle", 0, 5)])[0].passed is None


def test_takeoff_order() -> None:
    seeds_fast = [_seed(i, 10, 30 + i) for i in range(3)]
    seeds_never = [_seed(i, 10, 10_000) for i in range(3)]
    fast = measured_takeoff("subset", 400.0, seeds_fast)
    never = measured_takeoff("perm", 1100.0, seeds_never)
    assert fast.measured_median == 40.0 and math.isinf(never.measured_median)
    v = check_takeoff_order([fast, never])
    assert v.passed is True and v.numbers["tau"] == 1.0
    bad = check_takeoff_order([Takeoff("a", 1.0, 300.0), Takeoff("b", 2.0, 200.0), Takeoff("c", 3.0, 100.0)])
    assert bad.passed is False and bad.numbers["tau"] == -1.0
    assert "a predicted before b, measured after" in bad.detail
    assert check_takeoff_order([fast]).passed is None
    tied = check_takeoff_order([Takeoff("a", 1.0, math.inf), Takeoff("b", 2.0, math.inf)])
    assert tied.passed is None


def test_agreement_table() -> None:
    base = dict.fromkeys(
        ("A(alpha,beta_uf)", "A(beta_uf,beta_px)", "A(Delta,beta_uf)", "A(alpha,beta)"), 0.05
    )
    good = dict.fromkeys(base, 0.7)
    assert check_agreement_table("subset", "drift", good, base).passed is True
    weak = {**good, "A(Delta,beta_uf)": 0.1}
    v = check_agreement_table("subset", "drift", weak, base)
    assert v.passed is False and "A(Delta,beta_uf)" in v.detail and "short by 0.05" in v.detail
    assert check_agreement_table("perm", "saddle", weak, base).passed is None


def test_overall_ignores_not_applicable() -> None:
    a = check_ktiw_under_uniform("s", "drift", 0.9, 0.1)
    n = check_ktiw_under_uniform("x", "ambiguous", 0.9, 0.1)
    f = check_ktiw_under_uniform("s", "drift", 0.2, 0.1)
    assert overall_passed([a, n]) and not overall_passed([a, n, f])
