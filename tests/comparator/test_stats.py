"""Wilson intervals and Kendall's tau against known values and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kendalltau

from ktiw.comparator.stats import (
    binomial_greater,
    binomial_less,
    fisher_less,
    kendall_order,
    median_or_inf,
    wilson_interval,
)
from ktiw.empirics.curves import first_reach


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
    res = kendall_order(["a", "b", "c"], [1.0, 2.0, 3.0], [10.0, 30.0, 20.0])
    assert (res.concordant, res.discordant) == (2, 1)
    assert res.discordant_pairs == [("b", "c")]
    assert res.tau == pytest.approx(1 / 3)


def test_kendall_ties_and_undefined() -> None:
    res = kendall_order(["p", "s", "q"], [3.0, 1.0, 2.0], [math.inf, 50.0, math.inf])
    assert res.tied_pairs == [("p", "q")]
    assert math.isnan(kendall_order(["a"], [1.0], [2.0]).tau)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=3, max_size=8))
def test_kendall_equals_scipy_with_exact_one_sided_p(pairs: list[tuple[int, int]]) -> None:
    x = [float(a) for a, _ in pairs]
    y = [float(b) for _, b in pairs]
    ours = kendall_order([str(i) for i in range(len(x))], x, y)
    ref = kendalltau(x, y, variant="b", alternative="greater")
    if math.isnan(ref.statistic):
        assert math.isnan(ours.tau)
    else:
        assert ours.tau == pytest.approx(ref.statistic)
        assert ours.p_value == pytest.approx(ref.pvalue)


def test_kendall_perfect_order_p_is_one_over_n_factorial() -> None:
    for n in (3, 4, 5):
        res = kendall_order([str(i) for i in range(n)], list(range(n)), [10.0 * i for i in range(n)])
        assert res.tau == pytest.approx(1.0) and res.p_value == pytest.approx(1 / math.factorial(n))


def test_fisher_less_by_hand() -> None:
    # 5/8 vs 8/8: the 3 failures all in the first group; P = C(3,3) C(13,5) / C(16,8) = 1287 / 12870
    assert fisher_less(5, 8, 8, 8) == pytest.approx(1287 / 12870)
    # 1/8 vs 8/8: P(X <= 1) with 9 successes among 16, 8 drawn: (C(9,0)C(7,8)=0 + C(9,1)C(7,7)) / C(16,8)
    assert fisher_less(1, 8, 8, 8) == pytest.approx(9 / 12870)
    assert fisher_less(8, 8, 8, 8) == pytest.approx(1.0)
    assert math.isnan(fisher_less(0, 0, 1, 2))


def test_binomial_tails_by_hand() -> None:
    assert binomial_greater(8, 8, 0.5) == pytest.approx(0.5**8)
    assert binomial_greater(7, 8, 0.5) == pytest.approx(9 / 256)
    assert binomial_less(5, 8, 0.9) == pytest.approx(
        sum(math.comb(8, j) * 0.9**j * 0.1 ** (8 - j) for j in range(6))
    )


def test_first_reach_and_median() -> None:
    steps = np.array([0.0, 10.0, 20.0, 30.0])
    assert first_reach(steps, np.array([0.1, 0.4, 0.5, 0.9]), 0.5) == 20.0
    assert first_reach(steps, np.array([0.1, np.nan, 0.4, 0.49]), 0.5) == math.inf
    assert median_or_inf([10.0, 30.0, 20.0]) == 20.0
    assert median_or_inf([10.0, math.inf, 20.0, math.inf]) == math.inf
    assert median_or_inf([10.0, 20.0, 40.0, math.inf]) == 30.0
