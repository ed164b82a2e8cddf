"""The six named checks of ``ktiw verify``, each turning measured numbers into a
:class:`Verdict` (measured value, expectation, pass/fail, and what a failure refutes).

The checks take plain numbers and arrays (no run directories, no torch), so their logic is
tested on synthetic curves with known verdicts; :mod:`ktiw.comparator.pipeline` extracts
those numbers from real runs. Every threshold comes from :mod:`ktiw.comparator.thresholds`.

``passed`` is ``True`` (the data agree with the prediction), ``False`` (the data refute
it; ``detail`` says which prediction and by how much) or ``None`` (the check has no
expectation for this subject, e.g. a regime the claim says nothing about, or too little
data; ``detail`` says why).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from . import thresholds as th
from .stats import first_reach, kendall_tau, median_or_inf, wilson_interval

CHECK_NAMES = (
    "toy-fidelity",
    "ktiw-under-uniform",
    "ktiw-before-attention",
    "success-rate",
    "takeoff-order",
    "agreement-table",
)


@dataclass
class Verdict:
    """One row of the verdict table: a named check applied to one subject (a spec or ``all``)."""

    name: str
    subject: str
    measured: str
    expected: str
    passed: bool | None
    detail: str
    numbers: dict[str, object] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return {True: "pass", False: "FAIL", None: "n/a"}[self.passed]

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["status"] = self.status
        d["numbers"] = _jsonable(self.numbers)
        return d


class Outcome:
    """What every result with ``verdicts`` shares: refuted or not, and the exit code."""

    verdicts: list[Verdict]

    @property
    def passed(self) -> bool:
        return all(v.passed is not False for v in self.verdicts)

    @property
    def exit_code(self) -> int:
        """0 when no prediction is refuted, 1 otherwise (2 is reserved for bad input)."""
        return 0 if self.passed else 1


def _jsonable(obj: object) -> object:
    """Numbers for JSON: numpy scalars to Python, inf/NaN to strings JSON can hold."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        x = float(obj)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    return obj


def _fmt(x: float, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if math.isinf(x):
        return "never"
    return f"{x:.{digits}g}"


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
    """Check 1: max abs difference of the attention-on-correct-word curves below the threshold."""
    diff = trace.abs_diff()
    worst = float(diff.max()) if diff.size else float("nan")
    at = float(trace.t_gd[int(diff.argmax())]) if diff.size else float("nan")
    limit = th.FIDELITY_MAX_ABS_DIFF
    passed = None if math.isnan(worst) else worst < limit
    numbers = {
        "max_abs_diff": worst,
        "at_time": at,
        "threshold": limit,
        "lr": trace.lr,
        "regime": trace.regime,
        "final_alpha_gd": float(trace.alpha_gd[-1]),
        "final_alpha_flow": float(np.interp(trace.t_gd[-1], trace.t_flow, trace.alpha_flow)),
    }
    if passed is None:
        detail = "no overlapping times between descent and flow"
    elif passed:
        detail = f"gradient descent (lr={trace.lr:g}) follows the flow within {_fmt(worst)}"
    else:
        detail = (
            f"REFUTED: the toy model's gradient descent does not follow the theory's flow for "
            f"{trace.spec} ({trace.regime}): max |diff| = {_fmt(worst)} at t = {_fmt(at)}, "
            f"{_fmt(worst / limit)}x the allowed {limit}"
        )
    return Verdict(
        "toy-fidelity",
        trace.spec,
        f"max|Δα| = {_fmt(worst)}",
        f"< {limit}",
        passed,
        detail,
        numbers,
    )


# --- 2. ktiw-under-uniform ----------------------------------------------------------------


def check_ktiw_under_uniform(
    spec: str, regime: str, share: float, baseline: float, per_seed: Sequence[float] = ()
) -> Verdict:
    """Check 2: share of target tokens whose ``beta_uf`` argmax is the gold source position.

    ``drift``: most tokens (``share > MOST``) and far above the shuffled baseline
    (``share > baseline + NEAR_BASELINE``). ``saddle``: near the baseline
    (``share <= baseline + NEAR_BASELINE``). ``ambiguous``: reported, no expectation.
    """
    numbers = {
        "share": share,
        "baseline": baseline,
        "per_seed": list(per_seed),
        "regime": regime,
        "most": th.MOST,
        "near_baseline": th.NEAR_BASELINE,
    }
    measured = f"{_fmt(share)} (baseline {_fmt(baseline)})"
    band = baseline + th.NEAR_BASELINE
    if regime == "drift":
        expected = f"> {th.MOST} and > {_fmt(band)}"
        passed = share > th.MOST and share > band
        detail = (
            "the uniform model learns which source word translates to each target word"
            if passed
            else (
                f"REFUTED: the theory says KTIW is learnable from co-occurrence under uniform "
                f"attention, but beta_uf argmax matches the gold position for only {_fmt(share)} "
                f"of target tokens (needs > {_fmt(max(th.MOST, band))}; short by "
                f"{_fmt(max(th.MOST, band) - share)})"
            )
        )
    elif regime == "saddle":
        expected = f"<= {_fmt(band)} (baseline + {th.NEAR_BASELINE})"
        passed = share <= band
        detail = (
            "no KTIW under uniform attention, as the theory predicts for a saddle"
            if passed
            else (
                f"REFUTED: the theory says co-occurrence carries no KTIW signal here, but beta_uf "
                f"argmax matches the gold position for {_fmt(share)} of target tokens, "
                f"{_fmt(share - baseline)} above the shuffled baseline (allowed {th.NEAR_BASELINE})"
            )
        )
    else:
        expected = "none (ambiguous regime)"
        passed = None
        detail = "the theory predicts groups of words, not a single source position; reported only"
    return Verdict("ktiw-under-uniform", spec, measured, expected, passed, detail, numbers)


# --- 3. ktiw-before-attention -------------------------------------------------------------


@dataclass(frozen=True)
class SeedCurve:
    """One seed's evaluation curve of a normally trained model."""

    seed: int
    steps: np.ndarray
    token_acc: np.ndarray
    attn_acc: np.ndarray
    beta_acc: np.ndarray
    succeeded: bool


def check_ktiw_before_attention(spec: str, seeds: Sequence[SeedCurve]) -> Verdict:
    """Check 3: in most successful seeds, ``beta`` accuracy reaches 0.5 no later than attention.

    Per successful seed: ``s_beta`` = first step with beta argmax accuracy >= 0.5,
    ``s_attn`` = first step with attention accuracy >= 0.5; the seed agrees if
    ``s_beta <= s_attn`` (both measured on the same evaluation grid, so a tie means both
    crossed within the same evaluation interval). A successful seed whose attention never
    reaches 0.5 (it copied without attending to the source word) has no attention step to
    compare with: it is listed but not counted. Passes if the agreeing share > MOST.
    """
    rows, no_attention = [], []
    for s in seeds:
        if not s.succeeded:
            continue
        sb = first_reach(s.steps, s.beta_acc, th.HALF)
        sa = first_reach(s.steps, s.attn_acc, th.HALF)
        if math.isinf(sa):
            no_attention.append(s.seed)
            continue
        rows.append({"seed": s.seed, "step_beta": sb, "step_attn": sa, "ktiw_first": sb <= sa})
    n = len(rows)
    k = sum(r["ktiw_first"] for r in rows)
    share = k / n if n else float("nan")
    numbers = {
        "counted_seeds": n,
        "ktiw_first": k,
        "share": share,
        "seeds": rows,
        "succeeded_without_attention": no_attention,
        "most": th.MOST,
    }
    expected = f"share > {th.MOST}"
    skipped = (
        f"; {len(no_attention)} successful seed(s) {no_attention} never reached {th.HALF} attention "
        "accuracy and are not counted"
        if no_attention
        else ""
    )
    if n == 0:
        return Verdict(
            "ktiw-before-attention",
            spec,
            "no seed to compare",
            expected,
            None,
            "no successful seed reached 0.5 attention accuracy, so the order cannot be measured" + skipped,
            numbers,
        )
    passed = share > th.MOST
    late = [r["seed"] for r in rows if not r["ktiw_first"]]
    detail = (
        f"beta reached {th.HALF} no later than attention in {k}/{n} successful seeds" + skipped
        if passed
        else (
            f"REFUTED: KTIW should come before attention, but in {n - k}/{n} successful seeds "
            f"(seeds {late}) attention accuracy reached {th.HALF} before beta accuracy did; "
            f"share {_fmt(share)} vs required > {th.MOST}" + skipped
        )
    )
    measured = f"{k}/{n} = {_fmt(share)}" + (f" (+{len(no_attention)} w/o attention)" if no_attention else "")
    return Verdict("ktiw-before-attention", spec, measured, expected, passed, detail, numbers)


# --- 4. success-rate ----------------------------------------------------------------------


@dataclass(frozen=True)
class SuccessCount:
    """How many of ``n`` seeds reached the success accuracy within the budget."""

    spec: str
    regime: str
    k: int
    n: int


def check_success_rates(counts: Sequence[SuccessCount]) -> list[Verdict]:
    """Check 4: drift distributions succeed in nearly all seeds, saddles less often.

    ``drift`` is refuted when the Wilson 95% upper bound is below ``NEARLY_ALL``.
    ``saddle`` passes when its rate is strictly below every drift distribution's rate
    (``None`` when there is no drift distribution to compare with). ``ambiguous``: reported.
    """
    drift_rates = {c.spec: c.k / c.n for c in counts if c.regime == "drift" and c.n}
    out = []
    for c in counts:
        iv = wilson_interval(c.k, c.n)
        numbers = {"regime": c.regime, **iv.to_dict(), "nearly_all": th.NEARLY_ALL}
        measured = f"{c.k}/{c.n} = {_fmt(iv.rate)} [{iv.low:.2f}, {iv.high:.2f}]"
        if c.regime == "drift":
            expected = f"95% CI reaches {th.NEARLY_ALL}"
            passed = iv.high >= th.NEARLY_ALL
            detail = (
                "succeeds in (nearly) all seeds"
                if passed
                else (
                    f"REFUTED: the theory says a drift distribution learns at once, but only "
                    f"{c.k}/{c.n} seeds succeeded; the 95% interval ends at {iv.high:.2f}, "
                    f"{th.NEARLY_ALL - iv.high:.2f} below {th.NEARLY_ALL}"
                )
            )
        elif c.regime == "saddle":
            numbers["drift_rates"] = drift_rates
            if not drift_rates:
                expected, passed = "below the drift distributions' rates", None
                detail = "no drift distribution in this run to compare with"
            else:
                best = min(drift_rates, key=drift_rates.__getitem__)
                lowest = drift_rates[best]
                expected = f"< {_fmt(lowest)} (lowest drift rate, {best})"
                passed = iv.rate < lowest
                detail = (
                    f"succeeds less often than every drift distribution ({_fmt(iv.rate)} < {_fmt(lowest)})"
                    if passed
                    else (
                        f"REFUTED: the theory says a saddle distribution succeeds less often than a "
                        f"drift one, but {c.spec} succeeded in {_fmt(iv.rate)} of seeds vs "
                        f"{_fmt(lowest)} for {best} (difference {_fmt(iv.rate - lowest)})"
                    )
                )
        else:
            expected, passed = "none (ambiguous regime)", None
            detail = "the theory makes no success-rate prediction for an ambiguous distribution"
        out.append(Verdict("success-rate", c.spec, measured, expected, passed, detail, numbers))
    return out


# --- 5. takeoff-order -----------------------------------------------------------------


@dataclass(frozen=True)
class Takeoff:
    """Predicted takeoff time (theory) and measured median step to 50% attention accuracy."""

    spec: str
    predicted: float
    measured_median: float
    measured_per_seed: tuple[float, ...] = ()


def measured_takeoff(spec: str, predicted: float, seeds: Sequence[SeedCurve]) -> Takeoff:
    """Median over seeds of the first step with attention accuracy >= 0.5 ("never" = inf)."""
    per_seed = tuple(first_reach(s.steps, s.attn_acc, th.HALF) for s in seeds)
    return Takeoff(spec, predicted, median_or_inf(per_seed), per_seed)


def check_takeoff_order(items: Sequence[Takeoff]) -> Verdict:
    """Check 5: Kendall's tau between predicted takeoff time and measured median step.

    Distributions without a predicted takeoff are left out. Passes when tau > MIN_KENDALL_TAU;
    ``None`` when tau is undefined (fewer than two distributions or every pair tied).
    """
    usable = [i for i in items if i.predicted is not None and math.isfinite(i.predicted)]
    names = [i.spec for i in usable]
    res = kendall_tau(names, [i.predicted for i in usable], [i.measured_median for i in usable])
    numbers = {
        **res.to_dict(),
        "items": [
            {
                "spec": i.spec,
                "predicted_takeoff_time": i.predicted,
                "measured_median_step": i.measured_median,
                "measured_per_seed": list(i.measured_per_seed),
            }
            for i in usable
        ],
        "min_tau": th.MIN_KENDALL_TAU,
    }
    expected = f"tau > {th.MIN_KENDALL_TAU}"
    if math.isnan(res.tau):
        return Verdict(
            "takeoff-order",
            "all",
            "tau undefined",
            expected,
            None,
            f"needs two distributions with distinct predicted and measured takeoffs; got {len(usable)}"
            + (f", tied pairs {res.tied_pairs}" if res.tied_pairs else ""),
            numbers,
        )
    passed = res.tau > th.MIN_KENDALL_TAU
    pairs = "; ".join(f"{a} predicted before {b}, measured after" for a, b in res.discordant_pairs)
    if passed:
        detail = f"{res.concordant} pair(s) in the predicted order, {res.discordant} against"
        if pairs:
            detail += f" ({pairs})"
    else:
        detail = (
            f"REFUTED: the measured order of takeoff contradicts the predicted one: tau = {res.tau:.2f} "
            f"({res.concordant} concordant, {res.discordant} discordant pairs: {pairs or 'none'})"
        )
    measured = f"tau = {res.tau:.2f} ({res.concordant}+/{res.discordant}-)"
    return Verdict("takeoff-order", "all", measured, expected, passed, detail, numbers)


# --- 6. agreement-table -------------------------------------------------------------------


AGREEMENT_PAIRS = ("A(alpha,beta_uf)", "A(beta_uf,beta_px)", "A(Delta,beta_uf)", "A(alpha,beta)")


def check_agreement_table(
    spec: str,
    regime: str,
    agreements: dict[str, float],
    baselines: dict[str, float],
    xi: dict[str, float] | None = None,
    xi_star: float | None = None,
) -> Verdict:
    """Check 6: the paper's agreement table for one distribution.

    On a drift distribution every ``A(u, v)`` of :data:`AGREEMENT_PAIRS` must exceed its own
    shuffled baseline by at least ``AGREEMENT_MIN_LIFT``; other regimes are reported only.
    """
    lift = {k: agreements[k] - baselines[k] for k in agreements}
    numbers = {
        "regime": regime,
        "agreement": agreements,
        "baseline": baselines,
        "lift": lift,
        "xi": xi or {},
        "xi_star": xi_star,
        "min_lift": th.AGREEMENT_MIN_LIFT,
    }
    worst = min(lift, key=lift.__getitem__) if lift else None
    measured = f"min lift {lift[worst]:.2f} ({worst})" if worst else "no agreements"
    expected = f"each ≥ baseline + {th.AGREEMENT_MIN_LIFT}"
    if regime != "drift":
        return Verdict(
            "agreement-table",
            spec,
            measured,
            f"none ({regime} regime)",
            None,
            "the paper's agreement claims concern distributions where KTIW is learnable; reported only",
            numbers,
        )
    short = {k: v for k, v in lift.items() if v < th.AGREEMENT_MIN_LIFT}
    passed = not short
    detail = (
        "every agreement stands clearly above its shuffled baseline"
        if passed
        else "REFUTED: "
        + "; ".join(
            f"{k} = {_fmt(agreements[k])} is only {_fmt(v)} above its baseline {_fmt(baselines[k])} "
            f"(needs {th.AGREEMENT_MIN_LIFT}, short by {_fmt(th.AGREEMENT_MIN_LIFT - v)})"
            for k, v in short.items()
        )
    )
    return Verdict("agreement-table", spec, measured, expected, passed, detail, numbers)


def overall_passed(verdicts: Sequence[Verdict]) -> bool:
    """True when no verdict refutes a prediction (``n/a`` rows do not refute)."""
    return all(v.passed is not False for v in verdicts)
