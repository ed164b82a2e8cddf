"""Issue 21, class 12, the pass side: "a pass needs a test that rejects the null".

Every ``pass`` branch that rests on sampled data is taken only when a one-sided test at
``P_VALUE`` rejects the null "the theory's claim is false" (docs/verifying.md, "Passes and
refutations need evidence").  Per changed branch: a weak case that passed on its point estimate
before and is inconclusive now, and a strong case that still passes, with ``p`` derived here
independently (the one-sample t-test written out with ``scipy.stats.t``; the sign test as
``scipy.stats.binomtest``), never read back from the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ktiw.comparator import thresholds as th
from ktiw.comparator.checks import (
    MatchedComparison,
    StepFidelity,
    TokenShare,
    check_agreement_table,
    check_ktiw_under_uniform,
    check_model_matched,
    check_step_fidelity,
)
from ktiw.comparator.experiments import classification as cl
from ktiw.comparator.measures import Agreement
from ktiw.comparator.verdict import Status

PASS, INCONCLUSIVE = Status.PASS, Status.INCONCLUSIVE
INF = math.inf


def t_test_p(per_seed: tuple[float, ...], tokens: int, allowance: float, side: str) -> float:
    """The per-seed one-sided t-test, written out: SE = max(sd / sqrt(S), sqrt(a (1 - a) / tokens))."""
    x = np.asarray(per_seed, dtype=np.float64)
    se = max(x.std(ddof=1) / math.sqrt(x.size), math.sqrt(allowance * (1 - allowance) / tokens))
    t = (x.mean() - allowance) / se
    return float(stats.t.sf(t if side == "greater" else -t, df=x.size - 1))


def sign_p(inside: int, n: int) -> float:
    """One-sided sign test: ``inside`` of ``n`` seeds on the claimed side of a band edge."""
    return float(stats.binomtest(inside, n, 0.5, alternative="greater").pvalue)


# --- ktiw-under-uniform ------------------------------------------------------------------------


def test_drift_share_above_most_on_two_noisy_seeds_is_not_a_pass() -> None:
    """0.62 > 0.5 pooled, but the seeds read 0.95 and 0.29: p = 0.39, not evidence of "most"."""
    weak = TokenShare(0.62, 0.1, (0.95, 0.29), 400)
    v = check_ktiw_under_uniform("s", "drift", weak)
    expected = t_test_p(weak.per_seed, 400, 0.5, "greater")
    assert expected > th.P_VALUE
    assert v.status is INCONCLUSIVE and v.numbers["p_value"] == pytest.approx(expected)
    for needle in ("0.62", "allowance 0.5", "2 seed(s)", "400 scored tokens", "not significantly"):
        assert needle in v.sentence


def test_drift_share_well_above_most_still_passes() -> None:
    strong = TokenShare(0.978, 0.121, (0.995, 0.99, 0.98, 0.9725, 0.93, 0.945), 2400)
    v = check_ktiw_under_uniform("s", "drift", strong)
    expected = t_test_p(strong.per_seed, 2400, 0.5, "greater")
    assert expected < 1e-6
    assert v.status is PASS and v.numbers["p_value"] == pytest.approx(expected)
    assert "significantly" in v.sentence and "6 seed(s)" in v.sentence


def test_saddle_share_below_the_band_on_noisy_seeds_is_not_a_pass() -> None:
    """Issue 21's small budget, a saddle share of 0.2 under the band 0.252 (baseline 0.152 +
    0.1) over 2 seeds 0.1 and 0.3: the null "a signal of at least 0.1 above baseline" stands."""
    weak = TokenShare(0.2, 0.152, (0.1, 0.3), 120)
    v = check_ktiw_under_uniform("p", "saddle", weak)
    band = 0.152 + th.NEAR_BASELINE
    expected = t_test_p(weak.per_seed, 120, band, "less")
    assert expected > th.P_VALUE
    assert v.status is INCONCLUSIVE and v.numbers["p_value"] == pytest.approx(expected)
    assert "below the allowance 0.252" in v.sentence and "120 scored tokens" in v.sentence


def test_saddle_share_near_baseline_on_many_seeds_still_passes() -> None:
    """The stored quick run's permutation:L=8 per-seed shares (16 seeds, baseline 0.121)."""
    seeds = (0.21, 0.1275, 0.155, 0.0825, 0.0575, 0.0425, 0.2425, 0.105, 0.17, 0.13, 0.065, 0.2325, 0.1)
    seeds += (0.125, 0.23, 0.1725)
    m = TokenShare(float(np.mean(seeds)), 0.120625, seeds, 6400)
    v = check_ktiw_under_uniform("permutation:L=8", "saddle", m)
    expected = t_test_p(seeds, 6400, 0.120625 + th.NEAR_BASELINE, "less")
    assert expected < th.P_VALUE
    assert v.status is PASS and v.numbers["p_value"] == pytest.approx(expected)


# --- agreement-table ---------------------------------------------------------------------------


def _row(pair: str, seeds: tuple[float, ...], baseline: float = 0.1, tokens: int = 4000) -> Agreement:
    return Agreement(pair, float(np.mean(seeds)), baseline, seeds, tokens)


def test_agreement_table_with_one_noisy_row_is_not_a_pass() -> None:
    """Every lift is >= 0.1 (the old pass), but A(Delta,beta_uf)'s seeds read 0.5 and 0.1."""
    good = [_row("A(alpha,beta_uf)", (0.9, 0.91, 0.89)), _row("A(alpha,beta)", (0.95, 0.96, 0.94))]
    noisy = _row("A(Delta,beta_uf)", (0.5, 0.1), tokens=200)
    assert noisy.lift >= th.AGREEMENT_MIN_LIFT
    v = check_agreement_table("s", "drift", [*good, noisy])
    expected = t_test_p(noisy.per_seed, 200, 0.2, "greater")
    assert expected > th.P_VALUE
    assert v.status is INCONCLUSIVE
    assert v.numbers["A(Delta,beta_uf)"]["p_value"] == pytest.approx(expected)
    assert "A(Delta,beta_uf) = 0.3 against the allowance 0.2" in v.sentence and "2 seed(s)" in v.sentence
    assert "A(alpha,beta) " not in v.sentence.split(";")[-1]  # only the rows not shown are named


def test_agreement_table_significant_in_every_row_passes() -> None:
    table = [
        _row("A(alpha,beta_uf)", (0.6, 0.62, 0.58, 0.61)),
        _row("A(alpha,beta)", (0.3, 0.32, 0.31, 0.29)),
    ]
    v = check_agreement_table("s", "drift", table)
    for a in table:
        expected = t_test_p(a.per_seed, 4000, 0.2, "greater")
        assert expected < th.P_VALUE
        assert v.numbers[a.pair]["p_value"] == pytest.approx(expected)
    assert v.status is PASS


# --- attention-to-salient-words (classification) -------------------------------------------------


def _salient(a: float, baseline: float, seeds: tuple[float, ...], examples: int) -> cl.SalientAttention:
    return cl.SalientAttention(a, baseline, 0.0, 0.0, 0.0, 1.0, 0.0, seeds, examples)


def test_salient_pass_after_one_step_is_inconclusive() -> None:
    """The refute report's example (keyword:L=4,V=8,K=2, 2 seeds, 1 step): A = 0.49 against
    baseline 0.26 pooled, seeds 0.83 and 0.15: the old code passed it; p = 0.39."""
    s = _salient(0.49, 0.2617, (0.83, 0.15), 600)
    v = cl.check_attention_salient("keyword:L=4,V=8,K=2", s, learned=False)
    expected = t_test_p(s.per_seed, 600, 0.2617 + th.AGREEMENT_MIN_LIFT, "greater")
    assert expected == pytest.approx(0.39, abs=0.01)
    assert v.status is INCONCLUSIVE and v.numbers["p_value"] == pytest.approx(expected)
    assert "2 seed(s)" in v.sentence and "600 examples" in v.sentence and "p = 0.39" in v.sentence


def test_salient_clear_lift_over_three_seeds_passes() -> None:
    s = _salient(0.84, 0.05, (0.83, 0.84, 0.85), 1500)
    v = cl.check_attention_salient("keyword:L=20,V=60,K=6", s)
    expected = t_test_p(s.per_seed, 1500, 0.15, "greater")
    assert expected < th.P_VALUE
    assert v.status is PASS and v.numbers["p_value"] == pytest.approx(expected)


# --- step fidelity and model-matched: the median inside the band (sign tests, TOST) ----------------


def _step(per_seed: tuple[float, ...], predicted: float | None = 86.0, prob: float = 1.0) -> StepFidelity:
    run = ("s", "drift", "adam", 0.01, 64, "eps:0.001", 120)
    return StepFidelity(*run, predicted, prob, None, "reduced-map", per_seed)


def test_step_fidelity_on_four_seeds_is_not_a_pass() -> None:
    """4 of 4 seeds at the predicted step: the sign test's best p is 2^-4 = 0.0625."""
    v = check_step_fidelity(_step((86.0,) * 4))
    expected = sign_p(4, 4)
    assert expected == pytest.approx(0.0625)
    assert v.status is INCONCLUSIVE and v.numbers["p_value"] == pytest.approx(expected)
    assert "4 seed(s)" in v.sentence and "not shown" in v.sentence


def test_step_fidelity_on_five_seeds_passes() -> None:
    v = check_step_fidelity(_step((84.0, 86.0, 86.0, 88.0, 90.0)))
    assert v.status is PASS and v.numbers["p_value"] == pytest.approx(sign_p(5, 5))  # 1/32


def test_step_fidelity_no_takeoff_needs_most_seeds_never() -> None:
    """Predicted "no takeoff": 3 of 4 seeds never take off is no evidence (p = 5/16); 8 of 8 is."""
    weak = check_step_fidelity(_step((INF, INF, INF, 100.0), predicted=None, prob=0.25))
    assert weak.status is INCONCLUSIVE and weak.numbers["p_value"] == pytest.approx(sign_p(3, 4))
    strong = check_step_fidelity(_step((INF,) * 8, predicted=None, prob=0.0))
    assert strong.status is PASS and strong.numbers["p_value"] == pytest.approx(sign_p(8, 8))


def _matched(
    per_seed: tuple[float, ...], predicted: float | None, success: float, k: int
) -> MatchedComparison:
    return MatchedComparison(
        "s", "lstm", "model-matched", predicted, (None, None), success, success, per_seed, k
    )


def test_model_matched_median_at_the_band_edge_is_not_a_pass() -> None:
    """The stored quick run's subset:L=8,V=12: predicted 60 (band 45-75), 8 seeds at 70 and 8 at
    80: the median (70 by the inverted CDF) is inside, but 80 is as likely; sign test p = 0.60."""
    seeds = (70.0, 70.0, 70.0, 80.0, 70.0, 80.0, 80.0, 80.0, 70.0, 70.0, 80.0, 80.0, 80.0, 70.0, 80.0, 70.0)
    v = check_model_matched(_matched(seeds, 60.0, 1.0, 16))
    expected = sign_p(8, 16)  # 8 of 16 at or below 75
    assert expected == pytest.approx(0.598, abs=1e-3)
    assert v.status is INCONCLUSIVE and v.numbers["p_value"] == pytest.approx(expected)
    assert "45-75" in v.sentence and "16 seed(s)" in v.sentence


def test_model_matched_no_takeoff_with_five_of_sixteen_taking_off_is_not_a_pass() -> None:
    """The stored quick run's permutation:L=8: predicted under half take off; 11 of 16 never do:
    p = P(Bin(16, 1/2) >= 11) = 0.105."""
    seeds = (INF, INF, 120.0, INF, INF, INF, INF, INF, INF, 80.0, 90.0, INF, INF, INF, 110.0, 90.0)
    v = check_model_matched(_matched(seeds, None, 0.265625, 5))
    assert v.status is INCONCLUSIVE and v.numbers["p_value"] == pytest.approx(sign_p(11, 16))
    never = (INF,) * 13 + (80.0, 90.0, 100.0)  # 13 of 16 never: p = 0.011
    v = check_model_matched(_matched(never, None, 0.2, 3))
    assert v.status is PASS and v.numbers["p_value"] == pytest.approx(sign_p(13, 16))


def test_model_matched_median_well_inside_passes() -> None:
    seeds = (70.0,) * 12 + (60.0,) * 4
    v = check_model_matched(_matched(seeds, 60.0, 1.0, 16))
    assert v.status is PASS and v.numbers["p_value"] == pytest.approx(sign_p(16, 16))


# --- the tests keep their level --------------------------------------------------------------------


def test_a_pass_under_the_null_is_rare() -> None:
    """Per-seed shares drawn around the allowance (the null's boundary): the drift check passes
    in about ``P_VALUE`` of 2,000 draws, at most the binomial 0.999 quantile (the old point
    estimate passed about half of them)."""
    rng = np.random.default_rng(0)
    passes = 0
    trials = 2000
    for _ in range(trials):
        seeds = tuple(np.clip(rng.normal(0.6, 0.05, size=4), 0, 1))
        m = TokenShare(float(np.mean(seeds)), 0.5, seeds, 4000)  # allowance 0.5 + 0.1: the null's edge
        passes += check_ktiw_under_uniform("s", "drift", m).status is PASS
    bound = stats.binom.ppf(0.999, trials, th.P_VALUE)
    assert passes <= bound


# --- rescue-accuracy (multihead): the ranks, not only the mean, in the paper's direction ----------


def test_rescue_accuracy_positive_mean_over_negative_ranks_is_not_a_pass() -> None:
    """11 pairs slightly lower with the good head, one far higher: the mean is +0.028 and the
    two-sided signed-rank p is 0.021 (the old pass), but the ranks lean against the paper
    (one-sided p for "higher" about 0.99)."""
    from ktiw.comparator.experiments.multihead import paired_accuracy_verdict

    diff = [-0.01 * (k + 1) for k in range(11)] + [1.0]
    bad = [0.5] * 12
    one = [b + d for b, d in zip(bad, diff, strict=True)]
    two_sided = stats.wilcoxon(diff, alternative="two-sided").pvalue
    greater = stats.wilcoxon(diff, alternative="greater").pvalue
    assert np.mean(diff) > 0 and two_sided < th.P_VALUE and greater > 0.9
    assert paired_accuracy_verdict(one, bad, "permutation").status is INCONCLUSIVE
    up = [b + abs(d) for b, d in zip(bad, diff, strict=True)]  # every pair higher: p = 2^-12 one-sided
    v = paired_accuracy_verdict(up, bad, "permutation")
    assert v.status is PASS and v.numbers["p_value"] == pytest.approx(2 * 0.5**12)
