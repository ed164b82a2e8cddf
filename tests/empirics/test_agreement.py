"""Agreement metrics on hand-made arrays with known answers, against scipy, and properties."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import kendalltau

from ktiw.empirics.agreement import (
    baseline_expectation,
    gold_attention,
    gold_mask,
    kendall_tau,
    kendall_tau_tokens,
    shuffle_along_source,
    shuffled_baseline,
    top_k_size,
    top_match,
    top_match_tokens,
    xi,
    xi_star,
)
from ktiw.empirics.curves import first_reach

PROPS = settings(max_examples=25, deadline=None)


def test_top_k_size_is_ceil_of_five_percent() -> None:
    assert top_k_size(np.array([1, 20, 21, 40, 41, 60]), 0.05).tolist() == [1, 1, 2, 2, 3, 3]
    assert int(top_k_size(10, 0.3)) == 3  # 0.3 * 10 = 3.0000000000000004 in floating point


def test_top_match_hand_made() -> None:
    u = np.array([[0.0, 1.0, 2.0, 5.0]])  # argmax at position 3
    v = np.array([[4.0, 1.0, 2.0, 3.0]])  # order of v: 0, 3, 2, 1
    assert top_match(u, v, frac=0.25) == 0.0  # top 1 = {0}
    assert top_match(u, v, frac=0.5) == 1.0  # top 2 = {0, 3}
    # two tokens, the second one's argmax (position 1) is last in v
    u2 = np.array([[0.0, 1.0, 2.0, 5.0], [0.0, 9.0, 0.0, 0.0]])
    v2 = np.array([[4.0, 1.0, 2.0, 3.0], [4.0, 1.0, 2.0, 3.0]])
    assert top_match(u2, v2, frac=0.5) == 0.5
    assert top_match_tokens(u2, v2, frac=0.5).tolist() == [1.0, 0.0]
    assert top_match(u2, v2, frac=0.5, mask=np.array([True, False])) == 1.0


def test_top_match_ragged_source_never_reads_padding() -> None:
    # example 0 has 3 positions; its padding holds values that would win if read
    u = np.array([[[1.0, 0.0, 0.0, 99.0, 99.0]], [[0.0, 0.0, 0.0, 0.0, 1.0]]])
    v = np.array([[[0.0, 1.0, 2.0, 99.0, 99.0]], [[0.0, 1.0, 2.0, 3.0, 4.0]]])
    src_len = np.array([3, 5])
    # k = ceil(0.4 * 3) = 2 -> top {2, 1} misses position 0; k = ceil(0.4 * 5) = 2 -> {4, 3} hits 4
    assert top_match_tokens(u, v, frac=0.4, src_len=src_len)[:, 0].tolist() == [0.0, 1.0]
    v[0, 0, 3:] = np.nan  # padding may even be NaN
    u[0, 0, 3:] = -np.inf
    assert top_match(u, v, frac=0.4, src_len=src_len) == 0.5
    assert baseline_expectation(u.shape, 0.4, src_len) == pytest.approx((2 / 3 + 2 / 5) / 2)


def test_ties_give_the_expectation_over_random_tie_breaking() -> None:
    u = np.array([[0.0, 1.0, 0.0, 0.0]])
    v = np.array([[1.0, 0.0, 0.0, 0.0]])  # position 1 ties with 2 and 3 behind position 0
    assert top_match(u, v, frac=0.5) == pytest.approx(1 / 3)  # (k - G) / E = (2 - 1) / 3
    assert top_match(u, v, frac=0.25) == 0.0
    assert top_match(u, v, frac=1.0) == 1.0
    # a tie in u's argmax averages over the tied positions: {1 hits, 0 misses} with k = 1
    assert top_match(np.array([[1.0, 1.0, 0.0]]), np.array([[0.0, 5.0, 1.0]]), frac=0.3) == 0.5


def test_gold_attention_and_attention_accuracy() -> None:
    align = np.array([[2, 0, -1]])
    gold = gold_attention(align, 3)
    assert gold.tolist() == [[[0, 0, 1], [1, 0, 0], [0, 0, 0]]]
    m = gold_mask(align)
    assert top_match(gold, gold, mask=m) == 1.0
    # with k = 1 the top match against gold is attention accuracy (argmax == gold position)
    alpha = np.array([[[0.1, 0.2, 0.7], [0.2, 0.5, 0.3], [1.0, 0.0, 0.0]]])
    assert top_match(alpha, gold, frac=0.05, mask=m) == 0.5
    with pytest.raises(ValueError, match="gold position"):
        gold_attention(np.array([[3]]), 3)


def test_errors() -> None:
    with pytest.raises(ValueError, match="same shape"):
        top_match(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        top_match(np.array([[np.nan, 1.0]]), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="no target token"):
        top_match(np.zeros((2, 3)), np.zeros((2, 3)), mask=np.zeros(2, bool))
    with pytest.raises(ValueError, match="frac"):
        top_match(np.zeros((2, 3)), np.zeros((2, 3)), frac=0.0)
    with pytest.raises(ValueError, match="src_len"):
        top_match(np.zeros((1, 2, 3)), np.zeros((1, 2, 3)), src_len=np.array([4]))


def test_baseline_expectation_is_exact_over_all_permutations() -> None:
    rng = np.random.default_rng(3)
    L = 5
    u = rng.normal(size=(4, L))
    v = rng.integers(0, 2, size=(4, L)).astype(float)  # many ties
    for frac in (0.2, 0.4, 0.6):
        perms = list(itertools.permutations(range(L)))
        mean = np.mean([top_match(u, v[:, list(p)], frac=frac) for p in perms])
        assert mean == pytest.approx(math.ceil(frac * L - 1e-9) / L, abs=1e-12)
        assert baseline_expectation(u.shape, frac) == pytest.approx(math.ceil(frac * L - 1e-9) / L)


def test_shuffled_baseline_matches_expectation_statistically() -> None:
    rng = np.random.default_rng(0)
    N, T, L = 20, 10, 41
    u, v = rng.normal(size=(N, T, L)), rng.normal(size=(N, T, L))
    src_len = rng.integers(5, L + 1, size=N)
    expected = baseline_expectation(u.shape, 0.05, src_len)
    got = shuffled_baseline(u, u, rng, src_len=src_len, repeats=20)  # v = u: A would be 1 unshuffled
    # 4000 Bernoulli draws with p ~ 0.1: sd ~ 0.005
    assert abs(got - expected) < 0.02
    assert top_match(u, u, src_len=src_len) == 1.0
    shuffled = shuffle_along_source(v, rng, src_len)
    for n in range(N):
        assert np.array_equal(np.sort(shuffled[n, :, : src_len[n]]), np.sort(v[n, :, : src_len[n]]))
        assert np.array_equal(shuffled[n, :, src_len[n] :], v[n, :, src_len[n] :])


def test_kendall_tau_against_scipy_with_ties_and_ragged_lengths() -> None:
    rng = np.random.default_rng(1)
    N, T, L = 6, 3, 7
    u = rng.integers(0, 4, size=(N, T, L)).astype(float)
    v = rng.normal(size=(N, T, L))
    v[0, 0] = 1.0  # constant row: no tau, left out
    src_len = rng.integers(2, L + 1, size=N)
    per_token = kendall_tau_tokens(u, v, src_len)
    expected = np.array(
        [
            [kendalltau(u[n, t, : src_len[n]], v[n, t, : src_len[n]]).statistic for t in range(T)]
            for n in range(N)
        ]
    )
    np.testing.assert_allclose(per_token, expected, atol=1e-12)  # NaN where scipy gives NaN
    assert kendall_tau(u, v, src_len) == pytest.approx(np.nanmean(expected))
    assert math.isnan(kendall_tau(np.ones((2, 3)), v[0, :2, :3]))


def test_kendall_tau_hand_made() -> None:
    # 5 concordant, 1 discordant pair out of 6: tau = 4/6
    assert kendall_tau(np.array([[1.0, 2.0, 3.0, 4.0]]), np.array([[1.0, 2.0, 4.0, 3.0]])) == pytest.approx(
        2 / 3
    )
    inf = np.inf
    assert kendall_tau(np.array([[-inf, -inf, 0.0]]), np.array([[0.0, 0.0, 1.0]])) == pytest.approx(1.0)


def test_xi_and_xi_star() -> None:
    agreement = [0.1, 0.3, 0.6, 0.9]
    perf = [0.2, 0.4, 0.7, 0.95]
    assert xi(agreement, perf, 0.5) == 0.7
    assert xi(agreement, perf, 0.3) == 0.4  # reaching the target exactly counts
    assert xi(agreement, perf, 0.95) is None
    assert first_reach(range(4), agreement, 0.0) == 0
    assert first_reach(range(4), [0.1, float("nan"), 0.4, 0.49], 0.5) == float("inf")
    assert xi_star(perf) == 0.95
    with pytest.raises(ValueError, match="same length"):
        xi(agreement, perf[:2], 0.5)


def _untied(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    # integers / 10: distinct values stay distinct under the transforms below
    return arrays(np.int64, shape, elements=st.integers(-100, 100), unique=True).map(lambda a: a / 10.0)


@PROPS
@given(st.data())
def test_properties_on_random_arrays(data: st.DataObject) -> None:
    T = data.draw(st.integers(1, 3))
    L = data.draw(st.integers(2, 8))
    u = data.draw(_untied((T, L)))
    v = data.draw(_untied((T, L)))
    frac = data.draw(st.sampled_from([0.05, 0.25, 0.5, 1.0]))
    assert top_match(u, u, frac) == 1.0
    assert kendall_tau(u, u) == pytest.approx(1.0)
    assert kendall_tau(u, -u) == pytest.approx(-1.0)
    # strictly increasing transforms of v (and of u) change nothing
    a = top_match(u, v, frac)
    assert top_match(u, np.exp(v / 5) + 3, frac) == a
    assert top_match(u**3, v, frac) == a
    assert kendall_tau(u, np.exp(v / 5)) == pytest.approx(kendall_tau(u, v))
    assert kendall_tau(u, v) == pytest.approx(kendall_tau(v, u))
    assert 0.0 <= a <= 1.0
    # exactly uniform u (all positions tie for argmax) scores exactly the random baseline
    assert top_match(np.zeros_like(u), v, frac) == pytest.approx(baseline_expectation(u.shape, frac))
