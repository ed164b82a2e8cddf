"""The six checks of the copying experiment, each a pure function from measured numbers to
:class:`~ktiw.comparator.verdict.Verdict` rows (statuses and exit codes: :mod:`.verdict`).

A refutation needs evidence as a pass does: every ``refuted`` branch below is taken only when
a test rejects the theory's claim at level :data:`~ktiw.comparator.thresholds.P_VALUE`
(shares: :func:`~ktiw.comparator.stats.share_beyond` with the seed as the unit; seed counts:
exact binomial / Fisher tests; orders: Kendall's tau; takeoff steps: the order-statistic
interval of the median).  A measurement on the wrong side of a threshold that the test cannot
tell from noise is ``inconclusive``.  The one exception is the deterministic
:func:`check_toy_fidelity` (gradient descent against the integrated flow: no sampling, so the
tolerance alone decides).

The checks take plain numbers and arrays (no run directories, no torch), so their logic is
tested on synthetic curves with known verdicts.  Every threshold and test level comes from
:mod:`ktiw.comparator.thresholds`.  A new check is one more function here (or in its own
module) returning verdicts, called from the experiment's ``check``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ktiw.empirics.curves import first_reach

from . import thresholds as th
from .measures import Agreement, SeedCurve
from .stats import (
    binomial_greater,
    binomial_less,
    fisher_greater,
    fisher_less,
    kendall_order,
    median_inside,
    median_interval,
    median_or_inf,
    share_beyond,
)
from .verdict import Status, Verdict, fmt

CHECK_NAMES = (
    "toy-fidelity",
    "ktiw-under-uniform",
    "ktiw-before-attention",
    "success-rate",
    "takeoff-order",
    "model-matched",
    "agreement-table",
)

PASS, REFUTED, INCONCLUSIVE, REPORTED = Status.PASS, Status.REFUTED, Status.INCONCLUSIVE, Status.REPORTED
SHORT_BUDGET = (
    "; no seed of the normally trained model learned the task in this budget, so it is too short to tell."
)


# --- 1. toy-fidelity ---------------------------------------------------------------------


@dataclass(frozen=True)
class FidelityTrace:
    """Attention on the correct word under gradient descent and under the theory's flow.

    ``t_gd = lr * step`` (rescaled time) and ``alpha_gd`` come from full-batch gradient
    descent of the torch toy model; ``t_flow``, ``alpha_flow`` from the integrated 2-D flow.
    """

    spec: str
    regime: str
    lr: float
    t_gd: np.ndarray
    alpha_gd: np.ndarray
    t_flow: np.ndarray
    alpha_flow: np.ndarray

    def abs_diff(self) -> np.ndarray:
        """``|alpha_gd(t) - alpha_flow(t)|`` at the descent's times (flow interpolated)."""
        inside = self.t_gd <= self.t_flow[-1] + 1e-12
        flow = np.interp(self.t_gd[inside], self.t_flow, self.alpha_flow)
        return np.abs(self.alpha_gd[inside] - flow)


def check_toy_fidelity(trace: FidelityTrace) -> Verdict:
    """Check 1: max abs difference of the attention-on-correct-word curves below the threshold
    (deterministic: no sampling, so the tolerance decides)."""
    diff = trace.abs_diff()
    worst = float(diff.max()) if diff.size else float("nan")
    at = float(trace.t_gd[int(diff.argmax())]) if diff.size else float("nan")
    limit = th.FIDELITY_MAX_ABS_DIFF
    numbers = {
        "max_abs_diff": worst,
        "at_time": at,
        "threshold": limit,
        "lr": trace.lr,
        "regime": trace.regime,
    }
    what = (
        f"The toy model trained by full-batch gradient descent (lr {trace.lr:g}) on every sequence of "
        f"{trace.spec} ({trace.regime}) was compared with the theory's flow for the attention on the "
        "correct word"
    )
    if math.isnan(worst):
        status, words = INCONCLUSIVE, f"{what}; the two curves share no time range."
    elif worst < limit:
        status, words = PASS, f"{what}: they differ by at most {fmt(worst)} (allowed {limit})."
    else:
        status = REFUTED
        words = (
            f"{what}: they differ by {fmt(worst)} at t = {fmt(at)}, "
            f"{fmt(worst / limit)}x the allowed {limit}."
        )
    return Verdict(
        "toy-fidelity", trace.spec, status, f"max|Δα| = {fmt(worst)}", f"< {limit}", words, numbers
    )


@dataclass(frozen=True)
class StepFidelity:
    """The toy model trained with an optimizer, against ``ktiw predict`` for the same training.

    ``measured_per_seed``: first step whose ``attn_mass`` (gold attention mass) reaches 1/2
    (``inf``: not within ``steps``); ``predicted_*``: the prediction's median step, success
    probability and, for a simulated prediction, the 95% interval of that probability."""

    spec: str
    regime: str
    optimizer: str
    lr: float
    batch_size: int
    init: str
    steps: int
    predicted_step: float | None
    predicted_probability: float | None
    predicted_interval: tuple[float, float] | None
    method: str | None
    measured_per_seed: tuple[float, ...]

    @property
    def measured_median(self) -> float:
        """The same median as the prediction's (an observed step; ``inf`` past half failing)."""
        from ktiw.theory.simulate import takeoff_quantile

        v = takeoff_quantile(self.measured_per_seed, 0.5)
        return math.inf if v is None else v

    @property
    def successes(self) -> int:
        return sum(math.isfinite(x) for x in self.measured_per_seed)


def success_acceptance(n: int, lo: float, hi: float, level: float) -> tuple[int, int]:
    """Counts ``[a, b]`` a binomial ``(n, p)`` falls in with probability >= ``level`` for every
    ``p`` in ``[lo, hi]`` (lower tail of ``lo``, upper tail of ``hi``)."""
    from scipy.stats import binom

    tail = (1 - level) / 2
    return int(binom.ppf(tail, n, lo)), int(binom.ppf(1 - tail, n, hi))


def check_step_fidelity(f: StepFidelity) -> Verdict:
    """Check 1 (optimizer-matched): measured median takeoff step within ``STEP_FIDELITY_REL``
    of the predicted one (both "no takeoff in the budget" also agree), and the measured success
    count inside the predicted probability's binomial acceptance interval.

    Passes only when, in addition, the sign tests of :func:`~.stats.median_inside` (TOST) reject
    the null "the median lies outside the band" at ``P_VALUE`` (for a prediction of no takeoff:
    the null "at least half the seeds take off"), see :func:`_median_shown`.  The success count
    inside its acceptance interval is a consistency condition only (no tolerance on a
    probability is fixed, so equivalence of rates cannot be tested).  Refuted when the success
    count leaves its acceptance interval, or when the measured median's order-statistic interval
    at ``STEP_FIDELITY_LEVEL`` (:func:`~.stats.median_interval`) misses the allowed band
    entirely; anything else is inconclusive."""
    n, k = len(f.measured_per_seed), f.successes
    measured = f.measured_median
    run = f"{f.optimizer} lr {f.lr:g}, batch {f.batch_size}, init {f.init}, {f.steps} steps"
    numbers: dict[str, object] = {
        "optimizer": f.optimizer,
        "lr": f.lr,
        "batch_size": f.batch_size,
        "init": f.init,
        "steps": f.steps,
        "method": f.method,
        "predicted_takeoff_step": f.predicted_step,
        "measured_median_step": measured,
        "measured_per_seed": list(f.measured_per_seed),
        "predicted_success_probability": f.predicted_probability,
        "measured_successes": k,
        "seeds": n,
        "regime": f.regime,
    }
    if f.predicted_probability is None or n == 0:
        return Verdict(
            "toy-fidelity",
            f"{f.spec} ({f.optimizer})",
            INCONCLUSIVE,
            "no prediction" if n else "no seeds",
            "-",
            f"ktiw predict states no takeoff step for {f.spec} trained with {run}.",
            numbers,
        )
    lo, hi = f.predicted_interval or (f.predicted_probability, f.predicted_probability)
    a, b = success_acceptance(n, lo, hi, th.STEP_FIDELITY_LEVEL)
    rate_ok = a <= k <= b
    # the measured median's distribution-free interval: a step gap refutes only when the whole
    # interval misses the allowed band (seeds are a sample; their median has sampling error)
    m_lo, m_hi = median_interval(f.measured_per_seed, th.STEP_FIDELITY_LEVEL)
    if f.predicted_step is None:
        step_ok, gap = not math.isfinite(measured), None
        step_refuted = math.isfinite(m_hi)
    else:
        gap = abs(measured - f.predicted_step) / f.predicted_step if f.predicted_step > 0 else math.inf
        step_ok = math.isfinite(measured) and gap <= th.STEP_FIDELITY_REL
        band = (f.predicted_step * (1 - th.STEP_FIDELITY_REL), f.predicted_step * (1 + th.STEP_FIDELITY_REL))
        step_refuted = m_hi < band[0] or m_lo > band[1]
    numbers.update(relative_gap=gap, success_acceptance=[a, b], median_interval=[m_lo, m_hi])
    pred = "no takeoff" if f.predicted_step is None else f"step {fmt(f.predicted_step)}"
    got = "no takeoff" if not math.isfinite(measured) else f"step {fmt(measured)}"
    what = (
        f"The toy model trained as ktiw train does ({run}) on {f.spec} ({f.regime}) took off "
        f"(gold attention mass 1/2) at median {got} with {k}/{n} seeds; ktiw predict ({f.method}) "
        f"said {pred} with probability {fmt(f.predicted_probability)} (acceptance {a}-{b} of {n})"
    )
    ok = rate_ok and step_ok
    refuted = not rate_ok or step_refuted
    allowed = f"within {th.STEP_FIDELITY_REL:.0%}, {a}-{b}/{n}"
    wrong = [("the median step differs", step_refuted), ("the success rate differs", not rate_ok)]
    weak = ""
    if ok:
        band = None
        if f.predicted_step is not None:
            rel = th.STEP_FIDELITY_REL
            band = (f.predicted_step * (1 - rel), f.predicted_step * (1 + rel))
        weak, p = _median_shown(f.measured_per_seed, band)
        numbers["p_value"] = p
        ok = not weak
    if ok:
        p_shown = fmt(numbers["p_value"], 2)
        words = what + f". Both agree (sign tests, TOST p = {p_shown} < {th.P_VALUE} over {n} seeds)."
    elif weak:
        words = what + weak
    elif refuted:
        words = what + ": " + ", ".join(x for x, bad in wrong if bad) + "."
    else:
        words = (
            f"{what}: the median step is outside the allowed {th.STEP_FIDELITY_REL:.0%}, but its "
            f"{th.STEP_FIDELITY_LEVEL:.0%} interval over {n} seeds ({fmt(m_lo)} to {fmt(m_hi)}) reaches "
            "the allowed band; more seeds are needed to tell."
        )
    return Verdict(
        "toy-fidelity",
        f"{f.spec} ({f.optimizer})",
        PASS if ok else (REFUTED if refuted and not weak else INCONCLUSIVE),
        f"{got}, {k}/{n}",
        f"{pred} {allowed}",
        words,
        numbers,
    )


def _median_shown(per_seed: Sequence[float], band: tuple[float, float] | None) -> tuple[str, float]:
    """The evidence a median-agreement pass needs: the sign tests of
    :func:`~.stats.median_inside` (TOST) against the null "the median takeoff step lies outside
    ``band``" (``None``: a prediction of no takeoff; the null is "at least half the seeds take
    off").  Returns ``("", p)`` when ``p < P_VALUE``, else the tail of an inconclusive sentence
    (band, ``p``, seeds) and ``p``."""
    low, high = band if band is not None else (math.inf, math.inf)
    p = median_inside(per_seed, low, high)
    if p < th.P_VALUE:
        return "", p
    n = len(per_seed)
    claim = (
        "that at least half the seeds never take off"
        if band is None
        else f"that the median lies in the allowed band {fmt(low)}-{fmt(high)}"
    )
    return (
        f"; both agree as point estimates, but {n} seed(s) do not show {claim} at level {th.P_VALUE} "
        f"(sign tests, TOST p = {fmt(p, 2)}; all of n seeds inside give 2^-n), so agreement is not "
        "shown.",
        p,
    )


# --- 2. ktiw-under-uniform ----------------------------------------------------------------


@dataclass(frozen=True)
class TokenShare:
    """Share of target tokens whose uniform-run ``beta`` argmax is the gold source position,
    pooled over seeds, its shuffled baseline, and the share per seed."""

    share: float
    baseline: float
    per_seed: tuple[float, ...] = ()
    tokens: int = 0
    """Scored target tokens pooled over seeds."""


def check_ktiw_under_uniform(spec: str, regime: str, m: TokenShare | None, learned: bool = True) -> Verdict:
    """Check 2 on the share of target tokens whose uniform-run ``beta`` argmax is the gold one.

    ``drift``: most tokens and far above the shuffled baseline, i.e. beyond the allowance
    ``a = max(MOST, baseline + NEAR_BASELINE)``.  Passes only when the per-seed one-sided test
    (:func:`~.stats.share_beyond`, seeds as the unit) rejects the null "the mean share is at
    most ``a``" at ``P_VALUE``; refuted only when the same test in the other direction rejects
    "at least ``a``" and the normally trained model ``learned`` the task in the budget (some seed
    succeeded; otherwise the budget was too short to tell).

    ``saddle``: near the baseline, i.e. at most ``b = baseline + NEAR_BASELINE``.  Passes only
    when the test rejects the null "the share is at least ``b``" (a co-occurrence signal the
    theory says is absent; the claim is the alternative, as in an equivalence test, since a
    point estimate below ``b`` is no evidence that the signal is small); refuted only when it
    rejects "at most ``b``".  The shuffled baseline is taken as known (it is pooled over every
    scored token and all its shuffles).  Anything else is inconclusive, its sentence naming the
    share, the allowance, ``p``, the seeds and the scored tokens."""
    name = "ktiw-under-uniform"
    if m is None:
        return Verdict(
            name,
            spec,
            INCONCLUSIVE,
            "no gold alignment",
            "-",
            "This distribution has no gold alignment, so whether a uniform-attention model learns which "
            "source word each target word comes from cannot be measured.",
        )
    numbers = {"share": m.share, "baseline": m.baseline, "per_seed": list(m.per_seed), "regime": regime}
    measured = f"{fmt(m.share)} (baseline {fmt(m.baseline)})"
    band = m.baseline + th.NEAR_BASELINE
    what = (
        f"A model trained with attention fixed to uniform pointed its word-translation probe at the correct "
        f"source word for {fmt(m.share)} of target tokens (shuffled baseline {fmt(m.baseline)})"
    )
    if regime == "drift":
        expected = f"> {th.MOST} and > {fmt(band)}"
        ok = m.share > th.MOST and m.share > band
        if ok:
            claim = "; the theory says co-occurrence alone teaches this, and it did"
            return _share_pass(
                name, spec, m, max(th.MOST, band), "greater", (measured, expected, what, claim), numbers
            )
        if not learned:
            tail = SHORT_BUDGET
            return Verdict(name, spec, INCONCLUSIVE, measured, expected, what + tail, numbers)
        p = share_beyond(m.per_seed, m.tokens, max(th.MOST, band), "less")
        numbers["p_value"] = p
        if not p < th.P_VALUE:
            tail = _not_significant(m, max(th.MOST, band), p, "below")
            return Verdict(name, spec, INCONCLUSIVE, measured, expected, what + tail, numbers)
        tail = (
            "; the theory says co-occurrence alone teaches this, "
            f"but it needs more than {fmt(max(th.MOST, band))}{_significant(m, numbers)}."
        )
        return Verdict(name, spec, REFUTED, measured, expected, what + tail, numbers)
    if regime == "saddle":
        expected = f"<= {fmt(band)} (baseline + {th.NEAR_BASELINE})"
        if m.share <= band:
            claim = "; the theory says co-occurrence carries no such signal here, and none was learned"
            return _share_pass(name, spec, m, band, "less", (measured, expected, what, claim), numbers)
        p = share_beyond(m.per_seed, m.tokens, band, "greater")
        numbers["p_value"] = p
        if not p < th.P_VALUE:
            tail = _not_significant(m, band, p, "above")
            return Verdict(name, spec, INCONCLUSIVE, measured, expected, what + tail, numbers)
        tail = (
            "; the theory says co-occurrence carries no such signal, yet it is "
            f"{fmt(m.share - m.baseline)} above the baseline (allowed {th.NEAR_BASELINE})"
            f"{_significant(m, numbers)}."
        )
        return Verdict(name, spec, REFUTED, measured, expected, what + tail, numbers)
    return Verdict(
        name,
        spec,
        REPORTED,
        measured,
        "none (ambiguous)",
        what + "; the theory predicts groups of words here, not one position (reported only).",
        numbers,
    )


def _share_pass(
    name: str,
    spec: str,
    m: TokenShare,
    allowance: float,
    side: str,
    text: tuple[str, str, str, str],
    numbers: dict[str, object],
) -> Verdict:
    """A share on the theory's side of ``allowance`` (``side`` ``"greater"``: above it;
    ``"less"``: below it): ``pass`` when the per-seed one-sided test
    (:func:`~.stats.share_beyond`) puts it there at ``P_VALUE``, else ``inconclusive``.  ``text``:
    the verdict's measured and expected columns, its sentence's start and the theory's claim."""
    measured, expected, what, claim = text
    p = share_beyond(m.per_seed, m.tokens, allowance, side)
    numbers["p_value"] = p
    numbers["allowance"] = allowance
    if p < th.P_VALUE:
        side_words = "above" if side == "greater" else "below"
        words = (
            f"{what}{claim}: significantly {side_words} the allowance {fmt(allowance)} (one-sided "
            f"p = {fmt(p, 2)} < {th.P_VALUE} over {_seeds(m.per_seed)} seed(s) and {m.tokens} scored "
            "tokens, seeds as the unit)."
        )
        return Verdict(name, spec, PASS, measured, expected, words, numbers)
    words = what + _not_significant(m, allowance, p, "above" if side == "greater" else "below")
    return Verdict(name, spec, INCONCLUSIVE, measured, expected, words, numbers)


def _significant(m: TokenShare, numbers: dict[str, object]) -> str:
    """The evidence behind a refuted share: its one-sided p and what it rests on."""
    seeds = len([x for x in m.per_seed if math.isfinite(x)])
    p = numbers.get("p_value")
    shown = fmt(p, 2) if isinstance(p, float) else "n/a"
    return (
        f", significantly (one-sided p = {shown} < {th.P_VALUE} over {seeds} seed(s) and "
        f"{m.tokens} scored tokens, seeds as the unit)"
    )


def _not_significant(m: TokenShare, allowance: float, p: float, side: str) -> str:
    """The sentence of a share beyond its allowance (either side: a pass or a refutation not
    shown) that the test cannot tell from noise."""
    seeds = len([x for x in m.per_seed if math.isfinite(x)])
    return (
        f"; that is {side} the allowance {fmt(allowance)}, but not significantly at level {th.P_VALUE} "
        f"over {seeds} seed(s) and {m.tokens} scored tokens (p = {fmt(p, 2)}, seeds as the unit), "
        "so it neither confirms nor refutes the theory."
    )


# --- 3. ktiw-before-attention -------------------------------------------------------------


def check_ktiw_before_attention(spec: str, seeds: Sequence[SeedCurve]) -> Verdict:
    """Check 3: in most successful seeds the probe accuracy reaches 0.5 no later than attention.

    Per successful seed whose attention accuracy reaches 0.5: agrees if the first step with
    ``beta`` accuracy >= 0.5 is <= the first with attention accuracy >= 0.5 (same evaluation
    grid; a tie means both crossed within one interval).  A successful seed whose attention
    never reaches 0.5 is listed, not counted.  Passes when the exact binomial test shows more
    than ``MOST`` of the counted seeds agree (``p < P_VALUE``); refuted when the exact binomial
    test excludes "most" (at most ``MOST`` agree and ``p < P_VALUE`` for "share < MOST");
    inconclusive otherwise (or with no seed to count).
    """
    rows, no_attention = [], []
    for s in seeds:
        if not s.succeeded:
            continue
        sb, sa = first_reach(s.steps, s.beta_acc, th.HALF), first_reach(s.steps, s.attn_acc, th.HALF)
        if math.isinf(sa):
            no_attention.append(s.seed)
        else:
            rows.append({"seed": s.seed, "step_beta": sb, "step_attn": sa, "ktiw_first": sb <= sa})
    n, k = len(rows), sum(r["ktiw_first"] for r in rows)
    p = binomial_greater(k, n, th.MOST)
    numbers = {
        "counted_seeds": n,
        "ktiw_first": k,
        "p_value": p,
        "seeds": rows,
        "succeeded_without_attention": no_attention,
    }
    n_ok = sum(s.succeeded for s in seeds)
    skipped = (
        f"; {len(no_attention)} of {n_ok} successful seeds learned without attention ever reaching "
        f"{th.HALF} and are not counted"
        if no_attention
        else ""
    )
    expected = f"share > {th.MOST}, p < {th.P_VALUE}"
    if n == 0:
        words = (
            f"No successful seed's attention reached {th.HALF} accuracy, so whether the translation "
            "probe learned first cannot be measured" + skipped + "."
        )
        return Verdict(
            "ktiw-before-attention", spec, INCONCLUSIVE, "no seed to compare", expected, words, numbers
        )
    what = (
        f"In {k} of {n} successful seeds the word-translation probe reached {th.HALF} accuracy no later "
        f"than attention did (binomial p = {fmt(p, 2)})" + skipped
    )
    p_against = binomial_less(k, n, th.MOST)
    numbers["p_value_against"] = p_against
    if k / n <= th.MOST and p_against < th.P_VALUE:
        status, tail = (
            REFUTED,
            f"; the theory says KTIW comes first in most seeds, and {k}/{n} excludes that "
            f"(binomial p = {fmt(p_against, 2)}).",
        )
    elif k / n <= th.MOST:
        status, tail = (
            INCONCLUSIVE,
            f"; not most, but {n} seed(s) cannot exclude 'most' at level {th.P_VALUE} "
            f"(binomial p = {fmt(p_against, 2)}).",
        )
    elif p < th.P_VALUE:
        status, tail = PASS, ", as the theory says."
    else:
        status, tail = (
            INCONCLUSIVE,
            f"; the direction is right but {n} seeds are too few to show 'most' at level {th.P_VALUE}.",
        )
    measured = f"{k}/{n}" + (f" (+{len(no_attention)} w/o attention)" if no_attention else "")
    return Verdict("ktiw-before-attention", spec, status, measured, expected, what + tail, numbers)


# --- 4. success-rate ----------------------------------------------------------------------


@dataclass(frozen=True)
class SuccessCount:
    """How many of ``n`` seeds reached the success accuracy within the budget."""

    spec: str
    regime: str
    k: int
    n: int

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else float("nan")

    def text(self) -> str:
        return f"{self.k}/{self.n}"


def check_success_rates(counts: Sequence[SuccessCount], steps: int | None = None) -> list[Verdict]:
    """Check 4: drift distributions succeed in nearly all seeds, saddles less often.

    ``drift`` (one-sided exact binomial tests at ``P_VALUE``): refuted when the data exclude a
    rate of ``NEARLY_ALL`` or more; passes when not refuted and more than ``MOST`` of the seeds
    succeed significantly; inconclusive otherwise.  ``saddle``, against every drift
    distribution: passes when Fisher's exact test shows it succeeds less often than each
    (``p < P_VALUE``); refuted when Fisher's exact test shows it succeeds *more* often than a
    drift distribution that learned (a significant majority of seeds); inconclusive when a
    drift distribution did not learn in the budget (the comparison says nothing) or the
    difference is not significant.  When no seed at all succeeded, every row is inconclusive:
    the budget is too short to tell.
    """
    budget = f" within {steps} steps" if steps else " within the budget"
    nothing_learned = all(c.k == 0 for c in counts)
    drifts = [c for c in counts if c.regime == "drift" and c.n]
    learned = {c.spec: binomial_greater(c.k, c.n, th.MOST) < th.P_VALUE for c in drifts}
    out = []
    for c in counts:
        measured = f"{c.k}/{c.n}"
        numbers: dict[str, object] = {"regime": c.regime, "k": c.k, "n": c.n}
        seeds_text = (
            f"{c.spec} ({c.regime}) reached {th.SUCCESS_ACCURACY:.0%} token accuracy "
            f"in {c.k} of {c.n} seeds{budget}"
        )
        if nothing_learned:
            out.append(
                Verdict(
                    "success-rate",
                    c.spec,
                    INCONCLUSIVE,
                    measured,
                    "a budget in which something learns",
                    f"{seeds_text}; no distribution learned in this budget, so the success rates say "
                    "nothing about the theory.",
                    numbers,
                )
            )
        elif c.regime == "drift":
            p_most, p_below = binomial_greater(c.k, c.n, th.MOST), binomial_less(c.k, c.n, th.NEARLY_ALL)
            numbers.update(p_most=p_most, p_below_nearly_all=p_below)
            expected = f"not < {th.NEARLY_ALL} (p {th.P_VALUE})"
            if p_below < th.P_VALUE:
                status, tail = (
                    REFUTED,
                    f"; the theory says nearly all seeds of a drift distribution learn, but {c.text()} "
                    f"excludes a rate of {th.NEARLY_ALL} (p = {fmt(p_below, 2)}).",
                )
            elif p_most < th.P_VALUE:
                status, tail = PASS, ", as the theory's 'nearly all seeds' allows."
            else:
                status, tail = (
                    INCONCLUSIVE,
                    f"; too few seeds to tell 'nearly all' from chance (p = {fmt(p_most, 2)}).",
                )
            out.append(
                Verdict("success-rate", c.spec, status, measured, expected, seeds_text + tail, numbers)
            )
        elif c.regime == "saddle":
            out.append(_saddle_verdict(c, drifts, learned, seeds_text, numbers))
        else:
            out.append(
                Verdict(
                    "success-rate",
                    c.spec,
                    REPORTED,
                    measured,
                    "none (ambiguous)",
                    seeds_text + "; the theory makes no success-rate prediction here (reported only).",
                    numbers,
                )
            )
    return out


def _saddle_verdict(
    c: SuccessCount,
    drifts: list[SuccessCount],
    learned: dict[str, bool],
    seeds_text: str,
    numbers: dict[str, object],
) -> Verdict:
    expected = f"below every drift rate (Fisher p < {th.P_VALUE})"
    if not drifts:
        return Verdict(
            "success-rate",
            c.spec,
            INCONCLUSIVE,
            c.text(),
            expected,
            seeds_text + "; there is no drift distribution in this run to compare with.",
            numbers,
        )
    p = {d.spec: fisher_less(c.k, c.n, d.k, d.n) for d in drifts}
    p_more = {d.spec: fisher_greater(c.k, c.n, d.k, d.n) for d in drifts}
    numbers["fisher_p"] = p
    numbers["fisher_p_more"] = p_more
    vs = ", ".join(f"{d.spec} {d.text()} (p = {fmt(p[d.spec], 2)})" for d in drifts)
    against = [d for d in drifts if learned[d.spec] and p_more[d.spec] < th.P_VALUE]
    if against:
        d = against[0]
        return Verdict(
            "success-rate",
            c.spec,
            REFUTED,
            f"{c.text()} vs {d.text()}",
            expected,
            f"{seeds_text}, significantly more often than {d.spec} ({d.text()}; Fisher p = "
            f"{fmt(p_more[d.spec], 2)}); the theory says a saddle distribution succeeds less often "
            "than a drift one.",
            numbers,
        )
    level = [d for d in drifts if learned[d.spec] and c.rate >= d.rate]
    if level:
        d = level[0]
        return Verdict(
            "success-rate",
            c.spec,
            INCONCLUSIVE,
            f"{c.text()} vs {d.text()}",
            expected,
            f"{seeds_text}, as often as {d.spec} ({d.text()}), but not significantly more often "
            f"(Fisher p = {fmt(p_more[d.spec], 2)} at level {th.P_VALUE}): these seeds cannot tell "
            "whether the saddle distribution succeeds less often.",
            numbers,
        )
    idle = [d for d in drifts if not learned[d.spec]]
    if idle:
        d = idle[0]
        return Verdict(
            "success-rate",
            c.spec,
            INCONCLUSIVE,
            f"{c.text()} vs {d.text()}",
            expected,
            f"{seeds_text}; the drift distribution {d.spec} itself did not learn in most seeds "
            f"({d.text()}), so this budget cannot show the contrast.",
            numbers,
        )
    worst = max(p.values())
    measured = f"{c.text()} vs " + ", ".join(d.text() for d in drifts) + f" (p = {fmt(worst, 2)})"
    if worst < th.P_VALUE:
        return Verdict(
            "success-rate",
            c.spec,
            PASS,
            measured,
            expected,
            f"{seeds_text}, fewer than {vs}, as the theory predicts (Fisher's exact test).",
            numbers,
        )
    return Verdict(
        "success-rate",
        c.spec,
        INCONCLUSIVE,
        measured,
        expected,
        f"{seeds_text}, against {vs}: fewer, but not significantly at level {th.P_VALUE}; more seeds are "
        "needed.",
        numbers,
    )


# --- 5. takeoff-order -----------------------------------------------------------------


@dataclass(frozen=True)
class Takeoff:
    """Predicted takeoff (the toy model's optimizer steps for the training the models got) and
    measured median step at which ``quantity`` reaches 1/2; ``flow_time``: the gradient-flow
    takeoff time (drawing only)."""

    spec: str
    predicted: float | None
    measured_median: float
    measured_per_seed: tuple[float, ...] = ()
    quantity: str = "attn_mass"
    flow_time: float | None = None


def measured_takeoff(
    spec: str, predicted: float | None, seeds: Sequence[SeedCurve], flow_time: float | None = None
) -> Takeoff:
    """Median over seeds of the first step with gold attention mass >= 1/2 ("never" = inf);
    runs recorded before the ``attn_mass`` column fall back to argmax attention accuracy."""
    has_mass = all(s.attn_mass is not None and np.isfinite(s.attn_mass).any() for s in seeds)
    quantity = "attn_mass" if has_mass and seeds else "attn_acc"
    per_seed = tuple(first_reach(s.steps, getattr(s, quantity), th.HALF) for s in seeds)
    return Takeoff(spec, predicted, median_or_inf(per_seed), per_seed, quantity, flow_time)


def _ratio(measured: float, predicted: float | None) -> float | None:
    """Measured model steps over predicted toy steps (``None`` when either is missing)."""
    return measured / predicted if predicted and math.isfinite(measured) else None


def check_takeoff_order(items: Sequence[Takeoff]) -> Verdict:
    """Check 5: Kendall's tau between the predicted takeoff (the toy model's optimizer steps for
    the training the models got) and the measured median step, both the step at which the gold
    attention mass reaches 1/2.

    Only distributions with a predicted and a measured (finite) takeoff count; with fewer than
    ``MIN_TAKEOFF_DISTRIBUTIONS`` the order is inconclusive.  Passes when tau > ``MIN_KENDALL_TAU``
    with one-sided p < ``P_VALUE``; refuted when tau <= ``MIN_KENDALL_TAU`` and the one-sided test
    of a negative association gives p < ``P_VALUE``; else inconclusive.
    """
    usable = [
        i
        for i in items
        if i.predicted is not None and math.isfinite(i.predicted) and math.isfinite(i.measured_median)
    ]
    numbers: dict[str, object] = {
        "items": [
            {
                "spec": i.spec,
                "predicted_toy_steps": i.predicted,
                "measured_median_step": i.measured_median,
                "measured_per_seed": list(i.measured_per_seed),
                "measured_over_predicted": _ratio(i.measured_median, i.predicted),
                "quantity": i.quantity,
                "gradient_flow_time": i.flow_time,
            }
            for i in items
        ]
    }
    if any(i.quantity != "attn_mass" for i in usable):
        return Verdict(
            "takeoff-order",
            "all",
            INCONCLUSIVE,
            "different quantities",
            "-",
            "The runs were recorded without the gold attention mass (attn_mass); the prediction is a mass, "
            "so argmax attention accuracy is not the same quantity.",
            numbers,
        )
    expected = f"tau > {th.MIN_KENDALL_TAU}, p < {th.P_VALUE}"
    if len(usable) < th.MIN_TAKEOFF_DISTRIBUTIONS:
        words = (
            f"Only {len(usable)} distribution(s) have both a predicted takeoff and a measured one "
            f"(gold attention mass reaching {th.HALF}); ordering takeoffs needs at least "
            f"{th.MIN_TAKEOFF_DISTRIBUTIONS}."
        )
        return Verdict(
            "takeoff-order", "all", INCONCLUSIVE, f"{len(usable)} with takeoff", expected, words, numbers
        )
    res = kendall_order(
        [i.spec for i in usable], [i.predicted for i in usable], [i.measured_median for i in usable]
    )  # type: ignore[misc]
    numbers.update(
        tau=res.tau,
        p_value=res.p_value,
        concordant=res.concordant,
        discordant=res.discordant,
        discordant_pairs=res.discordant_pairs,
        tied_pairs=res.tied_pairs,
    )
    measured = f"tau = {fmt(res.tau, 2)} (p = {fmt(res.p_value, 2)})"
    ratios = ", ".join(f"{i.spec} {fmt(_ratio(i.measured_median, i.predicted))}" for i in usable)
    what = (
        f"Over {len(usable)} distributions (gold attention mass 1/2; measured model steps / predicted toy "
        f"steps: {ratios}), {res.concordant} pairs took off in the predicted order "
        f"and {res.discordant} against it"
    )
    if math.isnan(res.tau):
        return Verdict(
            "takeoff-order",
            "all",
            INCONCLUSIVE,
            "tau undefined",
            expected,
            what + "; every pair is tied, so there is no order to compare.",
            numbers,
        )
    numbers["p_value_against"] = res.p_less
    if res.tau <= th.MIN_KENDALL_TAU:
        pairs = "; ".join(f"{a} predicted before {b}, measured after" for a, b in res.discordant_pairs)
        if res.p_less < th.P_VALUE:
            return Verdict(
                "takeoff-order",
                "all",
                REFUTED,
                measured,
                expected,
                f"{what} ({pairs or 'ties'}), significantly against the predicted order "
                f"(one-sided p = {fmt(res.p_less, 2)}); the theory predicts the order.",
                numbers,
            )
        return Verdict(
            "takeoff-order",
            "all",
            INCONCLUSIVE,
            measured,
            expected,
            f"{what} ({pairs or 'ties'}): not in the predicted order, but not significantly against it "
            f"(one-sided p = {fmt(res.p_less, 2)} at level {th.P_VALUE}) with {len(usable)} distributions.",
            numbers,
        )
    if res.p_value < th.P_VALUE:
        return Verdict(
            "takeoff-order", "all", PASS, measured, expected, what + ", as the theory predicts.", numbers
        )
    return Verdict(
        "takeoff-order",
        "all",
        INCONCLUSIVE,
        measured,
        expected,
        f"{what}: the right direction, but not significant at level {th.P_VALUE} with {len(usable)} "
        "distributions.",
        numbers,
    )


# --- 6. agreement-table -------------------------------------------------------------------


def check_agreement_table(
    spec: str, regime: str, table: Sequence[Agreement], learned: bool = True
) -> Verdict:
    """Check 6: on a drift distribution every agreement of the paper's table stands at least
    ``AGREEMENT_MIN_LIFT`` above its shuffled baseline; other regimes are reported only.

    Passes only when, for *every* agreement, the per-seed one-sided test
    (:func:`~.stats.share_beyond`, seeds as the unit) rejects the null "``A`` is at most its
    baseline + ``AGREEMENT_MIN_LIFT``" at ``P_VALUE`` (an intersection-union test: the table
    passes only if each row does, so each row's level is the table's, with no correction).
    Refuted only when some agreement is significantly below its allowance and some seed
    ``learned`` the task (the table describes trained models).  Anything else is inconclusive,
    its sentence naming the rows not shown, their values, allowances and ``p``."""
    numbers = {a.pair: {"value": a.value, "baseline": a.baseline} for a in table}
    worst = min(table, key=lambda a: a.lift) if table else None
    measured = f"min lift {worst.lift:.2f} ({worst.pair})" if worst else "no agreements"
    listing = ", ".join(f"{a.pair} = {fmt(a.value, 2)} (chance {fmt(a.baseline, 2)})" for a in table)
    what = f"The paper's agreement table: {listing}"
    expected = f"each ≥ baseline + {th.AGREEMENT_MIN_LIFT}"
    if regime != "drift" or worst is None:
        return Verdict(
            "agreement-table",
            spec,
            REPORTED,
            measured,
            f"none ({regime})",
            what
            + f"; the paper's agreement claims concern drift distributions ({regime} here: reported only).",
            numbers,
        )
    short = [a for a in table if a.lift < th.AGREEMENT_MIN_LIFT]
    if short and not learned:
        words = what + SHORT_BUDGET
        return Verdict("agreement-table", spec, INCONCLUSIVE, measured, expected, words, numbers)
    if short:
        allowance = {a.pair: a.baseline + th.AGREEMENT_MIN_LIFT for a in short}
        p = {a.pair: share_beyond(a.per_seed, a.tokens, allowance[a.pair], "less") for a in short}
        for pair, value in p.items():
            numbers[pair]["p_value"] = value  # type: ignore[index]
        shown = [a for a in short if p[a.pair] < th.P_VALUE]
        if not shown:
            names = ", ".join(f"{a.pair} (p = {fmt(p[a.pair], 2)})" for a in short)
            return Verdict(
                "agreement-table",
                spec,
                INCONCLUSIVE,
                measured,
                expected,
                f"{what}; {names} fall short of {th.AGREEMENT_MIN_LIFT} above chance, but not "
                f"significantly at level {th.P_VALUE} over the seeds (seeds as the unit), so this "
                "neither confirms nor refutes the table.",
                numbers,
            )
        names = ", ".join(
            f"{a.pair} (one-sided p = {fmt(p[a.pair], 2)} over "
            f"{_seeds(a.per_seed)} seed(s) and {a.tokens} scored tokens)"
            for a in shown
        )
        return Verdict(
            "agreement-table",
            spec,
            REFUTED,
            measured,
            expected,
            f"{what}; {names} significantly less than {th.AGREEMENT_MIN_LIFT} above chance "
            f"(level {th.P_VALUE}, seeds as the unit).",
            numbers,
        )
    allowance = {a.pair: a.baseline + th.AGREEMENT_MIN_LIFT for a in table}
    p = {a.pair: share_beyond(a.per_seed, a.tokens, allowance[a.pair], "greater") for a in table}
    for pair, value in p.items():
        numbers[pair]["p_value"] = value  # type: ignore[index]
    weak = [a for a in table if not p[a.pair] < th.P_VALUE]
    if weak:
        names = "; ".join(
            f"{a.pair} = {fmt(a.value, 2)} against the allowance {fmt(allowance[a.pair], 2)} (one-sided "
            f"p = {fmt(p[a.pair], 2)} over {_seeds(a.per_seed)} seed(s) and {a.tokens} scored tokens)"
            for a in weak
        )
        return Verdict(
            "agreement-table",
            spec,
            INCONCLUSIVE,
            measured,
            expected,
            f"{what}; every one is at least {th.AGREEMENT_MIN_LIFT} above chance, but not significantly "
            f"at level {th.P_VALUE} for {names} (seeds as the unit), so this neither confirms nor refutes "
            "the table.",
            numbers,
        )
    worst_p = max(p.values())
    return Verdict(
        "agreement-table",
        spec,
        PASS,
        measured,
        expected,
        f"{what}: every one significantly more than {th.AGREEMENT_MIN_LIFT} above chance (one-sided "
        f"p <= {fmt(worst_p, 2)} < {th.P_VALUE} for each, over {_seeds(worst.per_seed)} seed(s), seeds "
        "as the unit).",
        numbers,
    )


def _seeds(per_seed: Sequence[float]) -> int:
    """Seeds with a finite share (the unit of :func:`~.stats.share_beyond`)."""
    return sum(math.isfinite(x) for x in per_seed)


# --- model-matched (issue 18) ---------------------------------------------------------------


@dataclass(frozen=True)
class MatchedComparison:
    """The model-matched prediction for a run's own model and training, and what the run measured.

    ``predicted_step``: median takeoff step on the run's evaluation grid (``None``: under half
    predicted to take off in the budget); ``predicted_success``: probability of 95% token
    accuracy within the budget; ``measured_per_seed``: first evaluated step with gold attention
    mass >= 1/2 (``inf``: never); ``successes``: seeds that reached 95% token accuracy."""

    spec: str
    model: str
    method: str
    predicted_step: float | None
    predicted_range: tuple[float | None, float | None]
    predicted_takeoff: float | None
    predicted_success: float | None
    measured_per_seed: tuple[float, ...]
    successes: int


def check_model_matched(c: MatchedComparison) -> Verdict:
    """Model-matched prediction against the run (the rules of :func:`check_step_fidelity`):
    pass when the success count lies in the predicted probability's binomial acceptance interval
    and the measured median takeoff lies within ``[1 - REL, 1 + REL] x`` the predicted step;
    refuted when the count leaves its interval or the median's order-statistic interval
    (:func:`~.stats.median_interval`, both at ``MODEL_MATCHED_LEVEL``) misses that band entirely;
    inconclusive when the median is outside the band but its interval reaches it, when fewer than
    ``MIN_MATCHED_TAKEOFFS`` seeds take off, when there is no prediction, or when the sign tests
    (TOST, :func:`_median_shown`) cannot show at ``P_VALUE`` that the median lies in the band (for
    a prediction of no takeoff for most seeds: that at least half never take off).  The success
    count inside its acceptance interval is a consistency condition only (no tolerance on a
    probability is fixed)."""
    from ktiw.theory.simulate import takeoff_quantile

    n, k = len(c.measured_per_seed), c.successes
    took = sum(math.isfinite(x) for x in c.measured_per_seed)
    med = takeoff_quantile(c.measured_per_seed, 0.5)
    measured_median = math.inf if med is None else med
    numbers: dict[str, object] = {
        "model": c.model,
        "method": c.method,
        "predicted_takeoff_step": c.predicted_step,
        "predicted_range": list(c.predicted_range),
        "predicted_takeoff_probability": c.predicted_takeoff,
        "predicted_success_probability": c.predicted_success,
        "measured_median_step": measured_median,
        "measured_per_seed": list(c.measured_per_seed),
        "measured_successes": k,
        "measured_takeoffs": took,
        "seeds": n,
    }
    got = f"no median, {k}/{n}"
    if math.isfinite(measured_median):
        got = f"step {fmt(measured_median)}, {k}/{n}"
    if c.predicted_success is None or n == 0:
        none = f"ktiw predict --model {c.model} states no takeoff for {c.spec} ({c.method})."
        return Verdict("model-matched", c.spec, INCONCLUSIVE, got, "-", none, numbers)
    a, b = success_acceptance(n, c.predicted_success, c.predicted_success, th.MODEL_MATCHED_LEVEL)
    rate_ok = a <= k <= b
    lo, hi = median_interval(c.measured_per_seed, th.MODEL_MATCHED_LEVEL)
    numbers.update(success_acceptance=[a, b], median_interval=[lo, hi])
    pred = "no takeoff for most seeds" if c.predicted_step is None else f"step {fmt(c.predicted_step)}"
    if c.predicted_step is None:  # under half predicted to take off
        band = None
        inside = not math.isfinite(measured_median)
        step_ok = not math.isfinite(hi)  # the data do not show that most seeds take off
    else:
        rel = th.MODEL_MATCHED_REL
        band = ((1 - rel) * c.predicted_step, (1 + rel) * c.predicted_step)
        inside = band[0] <= measured_median <= band[1]
        step_ok = lo <= band[1] and hi >= band[0]
    numbers["band"] = None if band is None else list(band)
    expected = f"{pred} ±{th.MODEL_MATCHED_REL:.0%}, {a}-{b}/{n}"
    what = (
        f"ktiw predict --model {c.model} ({c.method}) said takeoff (gold attention mass 1/2): {pred}, "
        f"probability {fmt(c.predicted_takeoff)}; success (95% token accuracy): probability "
        f"{fmt(c.predicted_success)} (acceptance "
        f"{a}-{b} of {n}); the run took off in {took}/{n} seeds, median {fmt(measured_median)} "
        f"(95% interval {fmt(lo)}-{fmt(hi)}), and succeeded in {k}/{n}"
    )
    if not rate_ok or (took >= th.MIN_MATCHED_TAKEOFFS and not step_ok):
        wrong = [("the success count", not rate_ok), ("the median takeoff step", not step_ok)]
        bad = " and ".join(x for x, flag in wrong if flag)
        return Verdict("model-matched", c.spec, REFUTED, got, expected, f"{what}: {bad} disagree.", numbers)
    if took < th.MIN_MATCHED_TAKEOFFS:
        few = f"{what}; too few seeds took off (fewer than {th.MIN_MATCHED_TAKEOFFS}) to test the step."
        return Verdict("model-matched", c.spec, INCONCLUSIVE, got, expected, few, numbers)
    if not inside:
        near = f"{what}; the median is outside the band but its 95% interval reaches it: not decided."
        return Verdict("model-matched", c.spec, INCONCLUSIVE, got, expected, near, numbers)
    weak, p = _median_shown(c.measured_per_seed, band)
    numbers["p_value"] = p
    if weak:
        return Verdict("model-matched", c.spec, INCONCLUSIVE, got, expected, what + weak, numbers)
    both = f"{what}. Both agree (TOST p = {fmt(p, 2)} < {th.P_VALUE} over {n} seeds)."
    return Verdict("model-matched", c.spec, PASS, got, expected, both, numbers)
