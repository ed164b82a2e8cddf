"""Class 12 of issue 21 for the multihead and classification experiments: a refutation needs a
test that rejects the claim at ``P_VALUE``, as a pass does.

For every ``refuted`` branch there is a case with weak evidence that must be ``inconclusive``
(each of these was ``refuted`` by the old rule, a point estimate on the wrong side) and one with
strong evidence that must stay ``refuted``.  The expected p-values are derived here from the
exact null distributions (hypergeometric counts, ``2**-n`` sign patterns, ``1/n!``
permutations), not read back from the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import t as student_t

from ktiw.comparator import thresholds as th
from ktiw.comparator.experiments import classification as cl
from ktiw.comparator.experiments import multihead as mh
from ktiw.comparator.stats import kendall_p, signed_rank
from ktiw.comparator.verdict import Status

PASS, REFUTED, INCONCLUSIVE = Status.PASS, Status.REFUTED, Status.INCONCLUSIVE
ALPHA = th.P_VALUE

# --------------------------------------------------------------------------- multihead: rescue


def hypergeom_less(k_one: int, n_one: int, k_bad: int, n_bad: int) -> float:
    """P(X <= k_one) for X the successes among the ``n_one`` one-good models when the
    ``k_one + k_bad`` successes fall at random among all models (Fisher's one-sided p)."""
    total, succ = n_one + n_bad, k_one + k_bad
    return sum(
        math.comb(succ, x) * math.comb(total - succ, n_one - x) for x in range(0, k_one + 1)
    ) / math.comb(total, n_one)


def rescue(k_one: int, k_bad: int, n: int = 10):  # type: ignore[no-untyped-def]
    vs = mh.rescue_verdicts(
        {"good": 3, "bad": 4, "neither": 5}, {"all-bad": (k_bad, n), "one-good": (k_one, n)}
    )
    return next(v for v in vs if v.name == "rescue")


@pytest.mark.parametrize(("k_one", "k_bad", "n"), [(0, 0, 2), (4, 4, 10), (2, 5, 10), (1, 4, 10), (0, 3, 20)])
def test_rescue_without_evidence_is_inconclusive(k_one: int, k_bad: int, n: int) -> None:
    # every one of these has one-good <= all-bad, which the old rule refuted
    p = hypergeom_less(k_one, n, k_bad, n)
    assert p >= ALPHA
    v = rescue(k_one, k_bad, n)
    assert v.status is INCONCLUSIVE
    assert v.numbers["fisher_p_against"] == pytest.approx(p)
    assert f"p = {p:.2g}" in v.sentence and "not significantly less often" in v.sentence


@pytest.mark.parametrize(("k_one", "k_bad", "n"), [(0, 6, 10), (1, 7, 10), (0, 5, 20)])
def test_rescue_with_evidence_against_is_refuted(k_one: int, k_bad: int, n: int) -> None:
    p = hypergeom_less(k_one, n, k_bad, n)
    assert p < ALPHA
    v = rescue(k_one, k_bad, n)
    assert v.status is REFUTED and v.numbers["fisher_p_against"] == pytest.approx(p)
    assert "significantly less often" in v.sentence and "one good head rescues" in v.sentence


def test_rescue_boundary_is_the_exact_test() -> None:
    """Across every count of one-good successes against 6/10 all-bad, refuted exactly where the
    hypergeometric tail is below the level (0/10 and 1/10: p = 0.0054, 0.035; 2/10: 0.089)."""
    for k in range(11):
        p = hypergeom_less(k, 10, 6, 10)
        status = rescue(k, 6).status
        if k <= 6:
            assert status is (REFUTED if p < ALPHA else INCONCLUSIVE), (k, p)
    assert [k for k in range(11) if rescue(k, 6).status is REFUTED] == [0, 1]


# ------------------------------------------------------------------ multihead: rescue-accuracy


def accuracy(one: list[float], bad: list[float]):  # type: ignore[no-untyped-def]
    vs = mh.rescue_verdicts({"good": 1, "bad": 2}, {}, final_acc={"one-good": one, "all-bad": bad})
    return next(v for v in vs if v.name == "rescue-accuracy")


def lower_by(n: int) -> tuple[list[float], list[float]]:
    """``n`` pairs, the one-good model lower in every pair by distinct amounts (no ties), so
    the exact one-sided signed-rank p-value is the one sign pattern of ``2**n``: ``2**-n``."""
    bad = [0.6] * n
    return [0.6 - 0.01 * (i + 1) for i in range(n)], bad


@pytest.mark.parametrize("n", [2, 3, 4])
def test_rescue_accuracy_few_pairs_cannot_refute(n: int) -> None:
    one, bad = lower_by(n)
    v = accuracy(one, bad)
    assert 2.0**-n >= ALPHA
    assert v.status is INCONCLUSIVE and v.numbers["p_value_against"] == pytest.approx(2.0**-n)
    assert "not significantly lower" in v.sentence and f"over {n} pairs" in v.sentence


@pytest.mark.parametrize("n", [5, 6, 8])
def test_rescue_accuracy_significantly_lower_is_refuted(n: int) -> None:
    one, bad = lower_by(n)
    v = accuracy(one, bad)
    assert 2.0**-n < ALPHA
    assert v.status is REFUTED and v.numbers["p_value_against"] == pytest.approx(2.0**-n)
    assert "significantly lower" in v.sentence


def test_rescue_accuracy_mixed_signs_are_no_evidence() -> None:
    # mean difference -0.01 over 8 pairs, half of them higher: no evidence either way
    one = [0.5, 0.7, 0.5, 0.7, 0.5, 0.7, 0.5, 0.62]
    bad = [0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    v = accuracy(one, bad)
    assert v.numbers["mean_difference"] < 0 and v.status is INCONCLUSIVE


def test_signed_rank_matches_the_exact_sign_count() -> None:
    assert signed_rank([-0.1, -0.2, -0.3, -0.4, -0.5], "less") == pytest.approx(1 / 32)
    assert signed_rank([-0.1, -0.2, -0.3, -0.4, -0.5], "two-sided") == pytest.approx(2 / 32)
    assert math.isnan(signed_rank([0.0, 0.0], "less")) and math.isnan(signed_rank([-1.0], "less"))


# ------------------------------------------------------- classification: uniform-scores-cooccurrence


def reversed_association(words: int) -> cl.Association:
    """Scores ranked exactly against the co-occurrence (tau = -1, no ties): under the null every
    one of the ``words!`` orders is equally likely, so the exact one-sided p is ``1/words!``."""
    signal = np.linspace(-0.5, 0.5, words)
    return cl.score_association(-signal * 3, signal)


def test_kendall_p_is_exact_for_small_samples() -> None:
    for n in (3, 4, 5):
        tau, p = kendall_p(np.arange(n), -np.arange(n), "less")
        assert tau == pytest.approx(-1) and p == pytest.approx(1 / math.factorial(n))


def test_uniform_scores_weak_reversal_is_inconclusive() -> None:
    a = reversed_association(3)  # tau = -1 over 3 words: p = 1/6
    assert a.tau == pytest.approx(-1) and a.p_less == pytest.approx(1 / 6)
    v = cl.check_uniform_scores("k", a)
    assert v.status is INCONCLUSIVE and "not significantly against it" in v.sentence
    assert "p = 0.17" in v.sentence and "3 words" in v.sentence


def test_uniform_scores_significant_reversal_is_refuted() -> None:
    a = reversed_association(4)  # tau = -1 over 4 words: p = 1/24 < 0.05
    assert a.p_less == pytest.approx(1 / 24) and ALPHA > 1 / 24
    v = cl.check_uniform_scores("k", a)
    assert v.status is REFUTED and v.numbers["p_value_against"] == pytest.approx(1 / 24)
    assert "p = 0.042" in v.sentence and "4 words" in v.sentence


def test_uniform_scores_small_negative_tau_is_inconclusive() -> None:
    # 12 words, the two halves of the co-occurrence order swapped: 30 pairs in order, 36 against,
    # tau = -6/66; far from significant (the old rule refuted any tau <= 0)
    signal = np.arange(12.0)
    a = cl.score_association(np.r_[signal[6:], signal[:6]], signal)
    assert a.tau == pytest.approx(-6 / 66) and a.p_less > 0.2
    assert cl.check_uniform_scores("k", a).status is INCONCLUSIVE


def test_uniform_scores_unlearned_budget_cannot_refute() -> None:
    a = cl.score_association(-np.arange(20.0), np.arange(20.0))  # p = 1/20!
    assert cl.check_uniform_scores("k", a, learned=True).status is REFUTED
    v = cl.check_uniform_scores("k", a, learned=False)
    assert v.status is INCONCLUSIVE and "too close to their random start" in v.sentence


def test_uniform_scores_pass_is_unchanged() -> None:
    signal = np.arange(10.0)
    a = cl.score_association(signal * 2, signal)
    assert cl.check_uniform_scores("k", a, learned=False).status is PASS  # a pass needs no budget gate


# ------------------------------------------------------- classification: attention-to-salient-words


def t_less(per_seed: list[float], tokens: int, allowance: float) -> float:
    """The one-sided t-test of :func:`~ktiw.comparator.stats.share_beyond`, written out: seeds
    as the unit, standard error floored at the pooled tokens' binomial one."""
    x = np.asarray(per_seed)
    se = max(x.std(ddof=1) / math.sqrt(x.size), math.sqrt(allowance * (1 - allowance) / tokens))
    return float(student_t.cdf((x.mean() - allowance) / se, df=x.size - 1))


def salient(per_seed: list[float], baseline: float, tokens: int) -> cl.SalientAttention:
    return cl.SalientAttention(
        float(np.mean(per_seed)), baseline, 0.0, 0.0, 0.3, 0.4, 0.3, tuple(per_seed), tokens
    )


def test_attention_salient_weak_shortfall_is_inconclusive() -> None:
    # 2 seeds at 0.05 and 0.15 (mean 0.10) against 0.16 + 0.1: lift -0.06, the old rule refuted
    s = salient([0.05, 0.15], 0.16, 600)
    p = t_less([0.05, 0.15], 600, 0.26)
    assert 0.05 < p < 0.2  # t = -3.2 with 1 degree of freedom: p = 0.096
    v = cl.check_attention_salient("k", s)
    assert v.status is INCONCLUSIVE and v.numbers["p_value"] == pytest.approx(p)
    assert f"p = {p:.2g}" in v.sentence and "2 seed(s) and 600 examples" in v.sentence
    assert "0.1 against the allowance 0.26" in v.sentence


def test_attention_salient_strong_shortfall_is_refuted() -> None:
    seeds = [0.05, 0.06, 0.07, 0.08]
    s = salient(seeds, 0.16, 1200)
    p = t_less(seeds, 1200, 0.26)
    assert p < 1e-3
    v = cl.check_attention_salient("k", s)
    assert v.status is REFUTED and v.numbers["p_value"] == pytest.approx(p)
    assert "significantly short" in v.sentence and "4 seed(s) and 1200 examples" in v.sentence


def test_attention_salient_unlearned_budget_cannot_refute() -> None:
    s = salient([0.05, 0.06, 0.07, 0.08], 0.16, 1200)
    v = cl.check_attention_salient("k", s, learned=False)
    assert v.status is INCONCLUSIVE and "too close to their random start" in v.sentence
    ok = salient([0.5, 0.52], 0.16, 600)
    assert cl.check_attention_salient("k", ok, learned=False).status is PASS  # passes as before


def test_classification_verdicts_gate_on_the_normal_models_accuracy() -> None:
    """Through :func:`classification_verdicts`: the same strong numbers refute when the normal
    model learned (mean accuracy 0.97) and are inconclusive when it did not (0.6)."""
    a = cl.score_association(-np.arange(20.0), np.arange(20.0))
    s = salient([0.05, 0.06, 0.07, 0.08], 0.16, 1200)

    def statuses(acc: float) -> dict[str, Status]:
        m = cl.ClassificationMeasurement(
            "k", "drift", None, acc, acc, np.zeros(20), np.arange(20.0), a, s, [], {}  # type: ignore[arg-type]
        )
        return {v.name: v.status for v in cl.classification_verdicts(m)}

    hi, lo = statuses(0.97), statuses(0.6)
    assert hi["uniform-scores-cooccurrence"] is REFUTED and hi["attention-to-salient-words"] is REFUTED
    assert lo["uniform-scores-cooccurrence"] is INCONCLUSIVE
    assert lo["attention-to-salient-words"] is INCONCLUSIVE


# ------------------------------------------------- copy experiment: the sentence names the evidence


def test_copy_refutations_state_p_and_n() -> None:
    from ktiw.comparator.checks import TokenShare, check_agreement_table, check_ktiw_under_uniform
    from ktiw.comparator.measures import Agreement

    seeds = (0.75, 0.76, 0.77, 0.758)
    v = check_ktiw_under_uniform("permutation:L=40", "saddle", TokenShare(0.7595, 0.0275, seeds, 8000))
    p = 1 - t_less(list(seeds), 8000, 0.1275)  # "greater": the mirror of the written-out test
    assert v.status is REFUTED and v.numbers["p_value"] == pytest.approx(p)
    assert f"p = {p:.2g}" in v.sentence and "4 seed(s) and 8000 scored tokens" in v.sentence
    short = Agreement("A(alpha,beta_uf)", 0.06, 0.05, (0.05, 0.06, 0.07), 1500)
    table = [short, Agreement("A(alpha,beta)", 0.9, 0.05, (0.9, 0.9, 0.9), 1500)]
    v = check_agreement_table("subset", "drift", table)
    p = t_less([0.05, 0.06, 0.07], 1500, 0.15)
    assert v.status is REFUTED and f"p = {p:.2g}" in v.sentence
    assert "3 seed(s) and 1500 scored tokens" in v.sentence
