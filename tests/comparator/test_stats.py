"""Wilson intervals and Kendall's tau against known values and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kendalltau

from ktiw.comparator.stats import first_reach, kendall_tau, median_or_inf, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        # hand-computed from the closed form with z = 1.959964 (also the values of
        # statsmodels.stats.proportion.proportion_confint(k, n, method="wilson"))
        (0, 10, 0.0, 0.2775328),
        (10, 10, 0.7224672, 1.0),
        (5, 10, 0.2365931, 0.7634069),
        (1, 20, 0.0088814, 0.2361312),
        (18, 20, 0.6989663, 0.9721335),
    ],
)
def test_wilson_known_values(k: int, n: int, low: float, high: float) -> None:
    iv = wilson_interval(k, n)
    assert iv.low == pytest.approx(low, abs=1e-6)
    assert iv.high == pytest.approx(high, abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 200).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_estimate_and_is_symmetric(kn: tuple[int, int]) -> None:
    k, n = kn
    iv = wilson_interval(k, n)
    assert 0.0 <= iv.low <= k / n <= iv.high <= 1.0
    mirror = wilson_interval(n - k, n)
    assert iv.low == pytest.approx(1 - mirror.high, abs=1e-12)
    # the Wilson interval is the set of p whose score test does not reject: endpoints solve
    # (p_hat - p)^2 = z^2 p (1 - p) / n
    z = 1.959963984540054
    for p in (iv.low, iv.high):
        if 0 < p < 1:
            assert (k / n - p) ** 2 == pytest.approx(z * z * p * (1 - p) / n, rel=1e-9, abs=1e-15)


def test_wilson_rejects_bad_counts() -> None:
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    assert (wilson_interval(0, 0).low, wilson_interval(0, 0).high) == (0.0, 1.0)


def test_kendall_lists_disagreeing_pairs() -> None:
    res = kendall_tau(["a", "b", "c"], [1.0, 2.0, 3.0], [10.0, 30.0, 20.0])
    assert (res.concordant, res.discordant) == (2, 1)
    assert res.discordant_pairs == [("b", "c")]
    assert res.tau == pytest.approx(1 / 3)


def test_kendall_inf_means_never_and_ties_with_itself() -> None:
    res = kendall_tau(["p", "s", "q"], [3.0, 1.0, 2.0], [math.inf, 50.0, math.inf])
    assert res.tied_pairs == [("p", "q")]
    assert res.discordant == 0 and res.concordant == 2
    assert math.isnan(kendall_tau(["a"], [1.0], [2.0]).tau)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=3, max_size=9))
def test_kendall_equals_scipy_tau_b(pairs: list[tuple[int, int]]) -> None:
    x = [float(a) for a, _ in pairs]
    y = [float(b) for _, b in pairs]
    ours = kendall_tau([str(i) for i in range(len(x))], x, y).tau
    ref = kendalltau(x, y, variant="b").statistic
    if math.isnan(ref):
        assert math.isnan(ours)
    else:
        assert ours == pytest.approx(ref, abs=1e-12)


def test_first_reach_and_median() -> None:
    steps = np.array([0, 10, 20, 30])
    assert first_reach(steps, np.array([0.1, 0.4, 0.5, 0.9]), 0.5) == 20.0
    assert first_reach(steps, np.array([0.1, np.nan, 0.4, 0.49]), 0.5) == math.inf
    assert median_or_inf([10.0, 30.0, 20.0]) == 20.0
    assert median_or_inf([10.0, math.inf, 20.0, math.inf]) == math.inf
    assert median_or_inf([10.0, 20.0, 40.0, math.inf]) == 30.0
