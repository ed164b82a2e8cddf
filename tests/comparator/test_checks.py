"""Each check's verdicts on synthetic numbers whose answer is known by construction: pass,
refuted, inconclusive (too little evidence) and reported, including the cases that used to
pass or refute wrongly (5/8 vs 8/8; a budget in which nothing learns; one pair of takeoffs)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.special import expit

from ktiw.comparator import thresholds as th
from ktiw.comparator.checks import (
    FidelityTrace,
    SuccessCount,
    Takeoff,
    TokenShare,
    check_agreement_table,
    check_ktiw_before_attention,
    check_ktiw_under_uniform,
    check_success_rates,
    check_takeoff_order,
    check_toy_fidelity,
    measured_takeoff,
)
from ktiw.comparator.measures import Agreement, SeedCurve
from ktiw.comparator.verdict import Status, Verdict, exit_code

PASS, REFUTED, INCONCLUSIVE, REPORTED = Status.PASS, Status.REFUTED, Status.INCONCLUSIVE, Status.REPORTED


def seed_curve(seed: int, t0: float, succeeded: bool, steps: int = 200, beta_lead: float = 10.0) -> SeedCurve:
    """Token accuracy crosses 0.5 at ``t0 + 10``, attention at ``t0``, beta at ``t0 - beta_lead``."""
    s = np.arange(0, steps + 1, 10, dtype=float)
    return SeedCurve(
        seed, s, expit((s - t0 - 10) / 8), expit((s - t0) / 8), expit((s - t0 + beta_lead) / 8), succeeded
    )


def test_toy_fidelity_pass_and_refuted() -> None:
    t_flow = np.linspace(0, 500, 2001)
    flow = 0.25 + 0.75 * expit((t_flow - 200) / 20)
    t_gd = np.arange(0, 1001) * 0.5
    close = 0.25 + 0.75 * expit((t_gd - 200) / 20) + 0.01 * np.sin(t_gd)  # |diff| <= 0.01
    ok = check_toy_fidelity(FidelityTrace("subset:L=4,V=6", "drift", 0.5, t_gd, close, t_flow, flow))
    assert ok.status is PASS and ok.numbers["max_abs_diff"] == pytest.approx(0.01, abs=2e-4)
    late = 0.25 + 0.75 * expit((t_gd - 220) / 20)  # a 10% time-scale error
    bad = check_toy_fidelity(FidelityTrace("permutation:L=4", "saddle", 0.5, t_gd, late, t_flow, flow))
    assert bad.status is REFUTED and "permutation:L=4" in bad.sentence


def _share(share: float, baseline: float, spread: float = 0.01, seeds: int = 4, tokens: int = 4000
           ) -> TokenShare:  # fmt: skip
    """A pooled share with per-seed shares spread evenly by ``spread`` around it."""
    per_seed = tuple(share + spread * (k - (seeds - 1) / 2) for k in range(seeds))
    return TokenShare(share, baseline, per_seed, tokens)


def test_ktiw_under_uniform_all_statuses() -> None:
    assert check_ktiw_under_uniform("s", "drift", _share(0.8, 0.1)).status is PASS
    assert check_ktiw_under_uniform("s", "drift", _share(0.4, 0.1)).status is REFUTED
    # exactly at the allowance: the measurement says nothing either way
    assert check_ktiw_under_uniform("s", "drift", _share(th.MOST, 0.1)).status is INCONCLUSIVE
    # a budget in which the model learned nothing cannot refute
    assert check_ktiw_under_uniform("s", "drift", _share(0.4, 0.1), learned=False).status is INCONCLUSIVE
    assert check_ktiw_under_uniform("p", "saddle", _share(0.12, 0.1)).status is PASS
    assert check_ktiw_under_uniform("p", "saddle", _share(0.6, 0.1)).status is REFUTED
    assert check_ktiw_under_uniform("x", "ambiguous", _share(0.6, 0.1)).status is REPORTED
    assert check_ktiw_under_uniform("f", "drift", None).status is INCONCLUSIVE  # no gold alignment


def test_ktiw_under_uniform_refutes_only_with_evidence() -> None:
    """Issue 21's example: 0.28 against an allowance of 0.252 over 2 seeds is not evidence; the
    paper's 0.759 against 0.1275 (4 seeds, 8,000 tokens) is (p about 1e-5, t-test, 3 df)."""
    small = TokenShare(0.28, 0.152, (0.25, 0.31), 120)
    v = check_ktiw_under_uniform("permutation:L=6", "saddle", small)
    assert v.status is INCONCLUSIVE and "not significantly" in v.sentence
    assert v.numbers["p_value"] > th.P_VALUE
    paper = TokenShare(0.75925, 0.0275, (0.728, 0.7505, 0.765, 0.7935), 8000)
    v = check_ktiw_under_uniform("permutation:L=40", "saddle", paper)
    assert v.status is REFUTED and v.numbers["p_value"] == pytest.approx(1.13e-5, rel=0.02)
    # one seed: the spread between seeds is unknown, so no refutation (and a drift shortfall too)
    assert check_ktiw_under_uniform("p", "saddle", TokenShare(0.9, 0.1, (0.9,), 4000)).status is INCONCLUSIVE
    assert check_ktiw_under_uniform("s", "drift", TokenShare(0.2, 0.1, (0.2,), 4000)).status is INCONCLUSIVE
    # identical seeds are not infinitely precise: the binomial floor over the pooled tokens
    # (0.26 vs 0.252 over 100 tokens: z = 0.18) keeps it inconclusive
    assert check_ktiw_under_uniform("p", "saddle", TokenShare(0.26, 0.152, (0.26,) * 4, 100)).status is (
        INCONCLUSIVE
    )


def test_share_beyond_has_its_stated_level() -> None:
    """Under the null (per-seed shares drawn around the allowance), the test rejects at most at
    its level: 2,000 simulated runs of 4 seeds x 500 tokens, each seed's share a binomial around
    a seed-specific rate; rejections must stay below 5% + 3 standard errors."""
    from ktiw.comparator.stats import share_beyond

    rng = np.random.default_rng(0)
    trials, rejections = 2000, 0
    for _ in range(trials):
        rates = np.clip(0.3 + rng.normal(0, 0.05, 4), 0, 1)
        shares = rng.binomial(500, rates) / 500
        rejections += share_beyond(shares, 2000, 0.3, "greater") < 0.05
    assert rejections / trials < 0.05 + 3 * (0.05 * 0.95 / trials) ** 0.5
    # and it has power against a real excess
    assert share_beyond([0.5, 0.52, 0.49, 0.51], 2000, 0.3, "greater") < 1e-3


def test_ktiw_before_attention_needs_a_significant_majority() -> None:
    first = [seed_curve(i, 60, True) for i in range(8)]  # beta crosses 10 steps before attention
    v = check_ktiw_before_attention("s", first)
    assert v.status is PASS and v.numbers["ktiw_first"] == 8 and v.numbers["p_value"] == pytest.approx(0.5**8)
    # 3 of 4 agree: the right direction, but P(X >= 3 | 4, 1/2) = 5/16 is no evidence
    few = [seed_curve(i, 60, True, beta_lead=10 if i < 3 else -20) for i in range(4)]
    assert check_ktiw_before_attention("s", few).status is INCONCLUSIVE
    late = [seed_curve(i, 60, True, beta_lead=-20) for i in range(6)]
    assert check_ktiw_before_attention("s", late).status is REFUTED  # 0/6: p = 1/64
    # 0 of 4: not most, but P(X <= 0 | 4, 1/2) = 1/16 cannot exclude "most" at 5%
    assert check_ktiw_before_attention("s", late[:4]).status is INCONCLUSIVE
    # seeds that never attend are listed, not counted; nothing to count is inconclusive
    never = [seed_curve(i, 10_000, True) for i in range(3)]
    v = check_ktiw_before_attention("s", never)
    assert v.status is INCONCLUSIVE and "3 of 3 successful seeds learned without attention" in v.sentence


def _rates(*counts: tuple[str, str, int, int]) -> dict[str, Verdict]:
    return {v.subject: v for v in check_success_rates([SuccessCount(*c) for c in counts], steps=150)}


def test_success_rate_five_of_eight_against_eight_is_inconclusive() -> None:
    # Fisher: p = 0.1 >= 0.05 (the intervals [0.31, 0.86] and [0.68, 1] overlap)
    v = _rates(("perm", "saddle", 5, 8), ("sub", "drift", 8, 8))
    assert v["perm"].status is INCONCLUSIVE and v["perm"].numbers["fisher_p"]["sub"] == pytest.approx(0.1)
    assert v["sub"].status is PASS


def test_success_rate_passes_only_on_an_exact_test() -> None:
    v = _rates(("perm", "saddle", 1, 8), ("sub", "drift", 8, 8))  # Fisher p = 9/12870
    assert v["perm"].status is PASS and "fewer than" in v["perm"].sentence
    v = _rates(("perm", "saddle", 8, 8), ("sub", "drift", 8, 8))  # as often, but not significantly more
    assert v["perm"].status is INCONCLUSIVE and "not significantly more" in v["perm"].sentence
    v = _rates(("perm", "saddle", 20, 20), ("sub", "drift", 15, 20))  # Fisher p(more) = 0.024
    assert v["perm"].status is REFUTED
    assert v["perm"].numbers["fisher_p_more"]["sub"] == pytest.approx(0.0236, abs=1e-3)
    v = _rates(("perm", "saddle", 0, 8), ("sub", "drift", 2, 8))  # the drift side excludes 0.9
    assert v["sub"].status is REFUTED
    assert _rates(("sub", "drift", 3, 4))["sub"].status is INCONCLUSIVE  # 3/4: P = 5/16
    assert _rates(("perm", "saddle", 0, 8))["perm"].status is INCONCLUSIVE  # nothing to compare with
    assert _rates(("a", "ambiguous", 3, 8), ("s", "drift", 8, 8))["a"].status is REPORTED


def test_short_budget_does_not_refute() -> None:
    # nothing learned anywhere: every success-rate row is inconclusive
    v = _rates(("perm", "saddle", 0, 2), ("sub", "drift", 0, 2))
    assert {x.status for x in v.values()} == {INCONCLUSIVE}
    assert "no distribution learned" in v["sub"].sentence
    # the drift distribution did not learn in most seeds: the saddle comparison says nothing
    v = _rates(("perm", "saddle", 1, 8), ("sub", "drift", 2, 8))
    assert v["perm"].status is INCONCLUSIVE and "did not learn" in v["perm"].sentence


def test_takeoff_order_needs_three_measured_takeoffs() -> None:
    two = [Takeoff("a", 100.0, 40.0), Takeoff("b", 400.0, 90.0), Takeoff("c", 800.0, float("inf"))]
    v = check_takeoff_order(two)
    assert v.status is INCONCLUSIVE and "Only 2" in v.sentence  # tau = 1 over one pair is no evidence
    three = [Takeoff("a", 1.0, 10.0), Takeoff("b", 2.0, 20.0), Takeoff("c", 3.0, 30.0)]
    assert check_takeoff_order(three).status is INCONCLUSIVE  # best p is 1/3! = 0.17
    four = [*three, Takeoff("d", 4.0, 40.0)]
    v = check_takeoff_order(four)
    assert v.status is PASS and v.numbers["p_value"] == pytest.approx(1 / 24)
    reversed_ = [Takeoff(t.spec, t.predicted, 100.0 - t.measured_median) for t in four]
    v = check_takeoff_order(reversed_)
    assert v.status is REFUTED and "measured after" in v.sentence  # tau = -1, p = 1/24
    # three in reverse order: tau = -1, but p = 1/6 is no evidence against the order
    assert check_takeoff_order(reversed_[:3]).status is INCONCLUSIVE
    assert check_takeoff_order([Takeoff("x", None, 10.0)] * 3).status is INCONCLUSIVE


def test_measured_takeoff_is_median_first_reach() -> None:
    seeds = [seed_curve(0, 40, True), seed_curve(1, 60, True), seed_curve(2, 10_000, False)]
    t = measured_takeoff("s", 100.0, seeds)
    assert t.measured_per_seed[:2] == (40.0, 60.0) and t.measured_median == 60.0


def test_agreement_table_statuses() -> None:
    good = [Agreement(p, 0.6, 0.1, (0.6,) * 4, 4000) for p in ("A(alpha,beta_uf)", "A(alpha,beta)")]
    assert check_agreement_table("s", "drift", good).status is PASS
    short = [*good, Agreement("A(Delta,beta_uf)", 0.15, 0.1, (0.14, 0.15, 0.15, 0.16), 4000)]
    v = check_agreement_table("s", "drift", short)
    assert v.status is REFUTED and "A(Delta,beta_uf)" in v.sentence
    # a shortfall within the seeds' noise (0.18 vs 0.2, seeds 0.1 apart) is no evidence
    noisy = [*good, Agreement("A(Delta,beta_uf)", 0.18, 0.1, (0.08, 0.28), 400)]
    assert check_agreement_table("s", "drift", noisy).status is INCONCLUSIVE
    assert check_agreement_table("s", "drift", short, learned=False).status is INCONCLUSIVE
    assert check_agreement_table("p", "saddle", short).status is REPORTED


def _v(status: Status) -> Verdict:
    return Verdict("c", "s", status, "", "", "")


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        ([PASS, REPORTED], 0),
        ([PASS, INCONCLUSIVE], 0),
        ([PASS, REFUTED], 1),
        ([INCONCLUSIVE, REFUTED], 1),
        ([INCONCLUSIVE, REPORTED], 3),
        ([], 3),
    ],
)
def test_exit_codes(statuses: list[Status], code: int) -> None:
    assert exit_code([_v(s) for s in statuses]) == code


def test_step_fidelity_statuses() -> None:
    from ktiw.comparator.checks import StepFidelity, check_step_fidelity, success_acceptance

    base = StepFidelity("s", "drift", "adam", 0.01, 64, "eps:0.001", 120, 86.0, 1.0, None, "reduced-map",
                        (86.0,) * 16)  # fmt: skip
    assert check_step_fidelity(base).status is PASS
    assert check_step_fidelity(replace(base, measured_per_seed=(100.0,) * 16)).status is REFUTED  # +16%
    assert check_step_fidelity(replace(base, measured_per_seed=(98.0,) * 16)).status is PASS  # +14%
    some_fail = (86.0,) * 15 + (float("inf"),)
    assert check_step_fidelity(replace(base, measured_per_seed=some_fail)).status is REFUTED  # p = 1
    never = replace(base, predicted_step=None, predicted_probability=0.0, measured_per_seed=(math.inf,) * 8)
    assert check_step_fidelity(never).status is PASS
    sim = replace(base, predicted_step=90.0, predicted_probability=0.5, predicted_interval=(0.35, 0.65),
                  measured_per_seed=(90.0,) * 8 + (math.inf,) * 8)  # fmt: skip
    # the median is 90 by the inverted CDF, but 8 of 16 seeds never take off: the sign test of
    # "median > band" has p = P(Bin(16, 1/2) >= 8) = 0.60, so agreement is not shown
    assert check_step_fidelity(sim).status is INCONCLUSIVE
    thirteen = replace(sim, measured_per_seed=(90.0,) * 13 + (math.inf,) * 3)  # p = P(Bin >= 13) = 0.011
    assert check_step_fidelity(thirteen).status is PASS
    a, b = success_acceptance(16, 0.35, 0.65, 0.95)
    assert a <= 8 <= b and a > 0 and b < 16
    assert check_step_fidelity(replace(sim, measured_per_seed=(90.0,) * 16)).status is REFUTED
    assert check_step_fidelity(replace(base, predicted_probability=None)).status is INCONCLUSIVE
    # the median 16% off, but over 5 seeds its 95% interval is unbounded: no evidence
    few = replace(base, measured_per_seed=(100.0,) * 5, predicted_interval=(0.5, 1.0))
    assert check_step_fidelity(few).status is INCONCLUSIVE


def test_takeoff_order_needs_the_same_quantity_and_reports_ratios() -> None:
    three = [Takeoff("a", 10.0, 20.0), Takeoff("b", 20.0, 40.0), Takeoff("c", 30.0, 60.0)]
    v = check_takeoff_order(three)
    assert [i["measured_over_predicted"] for i in v.numbers["items"]] == [2.0, 2.0, 2.0]
    assert "a 2" in v.sentence
    argmax = [replace(t, quantity="attn_acc") for t in three]
    assert check_takeoff_order(argmax).status is INCONCLUSIVE


def test_measured_takeoff_uses_the_gold_mass_when_recorded() -> None:
    s = np.arange(0, 201, 10, dtype=float)
    curves = [replace(seed_curve(i, 40, True), attn_mass=expit((s - 100) / 8)) for i in range(3)]
    t = measured_takeoff("s", 50.0, curves)
    assert t.quantity == "attn_mass" and t.measured_median == 100.0
