"""``ktiw verify --experiment classification``: attention goes to the salient words.

Runs (:mod:`ktiw.empirics.models.classifier`, one batched run each, same seeds, same fixed
evaluation samples): the normally trained classifier and the uniform-attention one, on a
``keyword`` distribution (or a ``label<TAB>tokens`` data file).  Theory
(:mod:`ktiw.theory.classification`): stage 1, the word scores of a uniform model move along
the word-label co-occurrence ``c_i = C[i, pos]``; stage 2, attention drifts to the
positions with the largest ``C[x_l, y]``.

Checks, all on the evaluation samples at the last step, pooled over seeds:

* ``uniform-scores-cooccurrence``: the uniform model's score of word ``i`` (mean over its
  occurrences of the log-odds of ``pos`` with the attention one-hot on that position,
  ``W h_l``; from the ``beta_uf`` probe) against ``c_i``: Kendall's tau-b over the words seen
  (scipy, ties handled).  Passes when ``tau > MIN_KENDALL_TAU`` and the two-sided p-value
  is below :data:`~ktiw.comparator.thresholds.P_VALUE` (association beyond chance); refuted
  when ``tau <= MIN_KENDALL_TAU`` *and* the one-sided test of a negative association gives
  ``p < P_VALUE``; inconclusive otherwise.
* ``attention-to-salient-words``: the normal model's attention ``alpha`` against the theory's
  stage-2 ranking ``C[x_l, y]`` (:func:`ktiw.theory.classification.stage2_scores`): top-5%
  match ``A(alpha, theory)`` must exceed its shuffled baseline by ``AGREEMENT_MIN_LIFT``:
  passes only when the per-seed test (:func:`~ktiw.comparator.stats.share_beyond`, seeds as
  the unit) puts it significantly above at ``P_VALUE``; a shortfall is refuted only when the
  same test puts it significantly below.  The mean per-example Kendall tau is reported beside
  that of the shuffled ranking.
* ``agreement-table``: the paper's table (``A(alpha, beta_uf)``, ``A(beta_uf, beta_px)``,
  ``A(Delta, beta_uf)``, ``A(alpha, beta)``; :func:`ktiw.comparator.measures.agreement_table`)
  through :func:`ktiw.comparator.checks.check_agreement_table`, with ``xi`` for each agreement
  and ``xi*`` (:func:`ktiw.comparator.measures.xi_values`).  Reviews carry no gold attention, so
  for this one-output model the gold is each seed's own attention at the last checkpoint
  (:func:`~ktiw.comparator.measures.gold_final_attention`): ``xi(u, v)`` is the normal
  model's accuracy at the first checkpoint whose attention argmax lies in the top 5% of the
  final attention as often as ``A(u, v)`` says; ``xi*`` its best accuracy.
  For this one-logit classifier ``A(Delta, beta_uf) = 1`` by construction: the uniform
  model's ``-grad_l = (y - sigmoid(z)) p_l (W h_l - z)`` is, for either label, an increasing
  function of ``beta_uf[l] = (2y - 1) W h_l``, so both have the same argmax.
* ``classifier-accuracy`` (reported): the normal and uniform models' final accuracies.

A refutation needs evidence as a pass does (:mod:`ktiw.comparator.checks`): none of the three
checks refutes unless its test rejects the claim at ``P_VALUE``, and none refutes when the
normal model did not learn the task in the budget (mean final accuracy below
:data:`~ktiw.comparator.thresholds.SUCCESS_ACCURACY`, the rule the agreement table already
followed): the scores and the attention are then still near their random start.

The regime (drift, saddle) is the theory's, :func:`ktiw.theory.predict.predict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ktiw.config.presets import ClassificationPreset
from ktiw.core.errors import KtiwError
from ktiw.data.distribution import Distribution
from ktiw.empirics.train_config import TrainConfig
from ktiw.theory.predict import Prediction, predict

from .. import checks as ck
from .. import thresholds as th
from ..framework import Figure, PlannedRun, Request
from ..measures import (
    Agreement,
    Probes,
    agreement_table,
    gold_final_attention,
    last_probes,
    pool,
    tile,
    xi_values,
)
from ..stats import kendall_p, share_beyond
from ..verdict import Status, Verdict, fmt

if TYPE_CHECKING:
    from ktiw.runs.rundir import Run

KINDS = ("normal", "uniform")
SHORT_BUDGET = (
    f"; the normally trained classifier did not reach {th.SUCCESS_ACCURACY:.0%} mean accuracy in this "
    "budget, so its scores and attention are too close to their random start to tell."
)
"""The tail of a shortfall that cannot refute: the task was not learned in the budget."""


# --------------------------------------------------------------------------- measurements


def word_scores(
    beta_uf: np.ndarray, src: np.ndarray, label: np.ndarray, src_len: np.ndarray, n_in: int
) -> np.ndarray:
    """Per-word uniform-model score: mean over seeds and occurrences of the log-odds of ``pos``.

    ``beta_uf [S, N, 1, L]`` is the log-odds of the *correct* label, so the log-odds of ``pos``
    is ``beta_uf * (2y - 1)``.  Words never seen get NaN.
    """
    sign = (2 * np.asarray(label) - 1).astype(np.float64)  # [N]
    pos = np.asarray(beta_uf, dtype=np.float64)[:, :, 0, :] * sign[None, :, None]  # [S, N, L]
    valid = np.arange(src.shape[1])[None, :] < np.asarray(src_len)[:, None]
    total = np.zeros(n_in)
    count = np.zeros(n_in)
    for s in range(pos.shape[0]):
        np.add.at(total, src[valid], pos[s][valid])
        np.add.at(count, src[valid], 1.0)
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


@dataclass(frozen=True)
class Association:
    """Kendall's tau-b (scipy) between word scores and the co-occurrence ``c_i`` over the words
    seen, its two-sided p-value, the largest tau the tied ``c_i`` allow, and the one-sided
    p-value of a negative association (``p_less``, the evidence a refutation needs)."""

    tau: float
    p_value: float
    words: int
    tau_max: float
    p_less: float = float("nan")


def score_association(scores: np.ndarray, signal: np.ndarray) -> Association:
    """:class:`Association` of word scores with ``c_i`` (NaN tau when either is constant)."""
    seen = ~np.isnan(scores)
    if seen.sum() < 2 or np.ptp(signal[seen]) == 0 or np.ptp(scores[seen]) == 0:
        return Association(float("nan"), float("nan"), int(seen.sum()), float("nan"))
    tau, p_two = kendall_p(scores[seen], signal[seen], "two-sided")
    p_less = kendall_p(scores[seen], signal[seen], "less")[1]
    # the largest tau-b any scores can reach against these (tied) signal values: a perfect
    # ranking, ties of the signal broken by an arbitrary strict order
    ranks = np.argsort(np.argsort(signal[seen], kind="stable"), kind="stable")
    best = kendall_p(ranks, signal[seen], "two-sided")[0]
    return Association(tau, p_two, int(seen.sum()), best, p_less)


@dataclass(frozen=True)
class SalientAttention:
    """The normal model's attention against the theory's stage-2 ranking: top-5% match and
    its shuffled baseline, mean per-example Kendall tau (and for a shuffled ranking), and
    where the attention's argmax lies relative to the theory's top position."""

    agreement: float
    baseline: float
    tau: float
    tau_shuffled: float
    before: float
    same: float
    after: float
    per_seed: tuple[float, ...] = ()
    """``A(alpha, theory)`` of each seed alone (the unit of a refutation's test,
    :func:`~ktiw.comparator.stats.share_beyond`)."""
    tokens: int = 0
    """Scored examples (one label each) pooled over seeds."""


@dataclass
class ClassificationMeasurement:
    spec: str
    regime: str
    prediction: Prediction
    accuracy_normal: float
    accuracy_uniform: float
    word_scores: np.ndarray
    cooccurrence_pos: np.ndarray
    association: Association
    attention: SalientAttention
    agreements: list[Agreement]
    runs: dict[str, str]
    xi: dict[str, float | None] = field(default_factory=dict)
    """``xi`` per agreement pair (against the final attention; module docstring)."""
    xi_star: float | None = None


def salient_attention(normal: Probes, C: np.ndarray, rng: np.random.Generator) -> SalientAttention:
    """:class:`SalientAttention` from the normal run's last-step probes and ``C [|I|, 2]``."""
    from ktiw.empirics import agreement as ag
    from ktiw.theory.classification import stage2_scores

    S = normal["alpha"].shape[0]
    lens = tile(normal["src_len"], S)
    theory = tile(stage2_scores(C, normal["src"], normal["tgt"]), S)
    alpha = pool(normal["alpha"])
    a_theory = ag.top_match(alpha, theory, th.TOP_FRACTION, lens)
    credit = ag.top_match_tokens(alpha, theory, th.TOP_FRACTION, lens).reshape(S, -1)
    per_seed = tuple(float(np.nanmean(row)) for row in credit)
    b_theory = ag.shuffled_baseline(alpha, theory, rng, th.TOP_FRACTION, lens)
    tau = ag.kendall_tau(alpha, theory, lens)
    tau_shuf = ag.kendall_tau(alpha, ag.shuffle_along_source(theory, rng, lens), lens)
    # where the attention's argmax lies relative to the theory's top position (first if tied):
    # a unidirectional encoder carries a word's evidence to every later position
    L = alpha.shape[-1]
    valid = np.arange(L)[None, None, :] < lens[:, None, None]
    top = np.where(valid, theory, -np.inf).argmax(-1)
    arg = np.where(valid, alpha, -np.inf).argmax(-1)
    before, same, after = (float(np.mean(x)) for x in (arg < top, arg == top, arg > top))
    return SalientAttention(
        a_theory, b_theory, tau, tau_shuf, before, same, after, per_seed, int(np.isfinite(credit).sum())
    )


def measure_probes(
    normal: Probes, uniform: Probes, C: np.ndarray, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, Association, SalientAttention, list[Agreement]]:
    """Word scores, ``c_i``, their association, the salient-attention numbers and the
    agreement table from the last-step probes of the two runs and ``C [|I|, 2]``."""
    from ktiw.theory.classification import word_label_signal

    rng = np.random.default_rng(seed)
    agreements = agreement_table(normal, uniform, rng)  # also checks the samples are the same
    signal = word_label_signal(C)
    scores = word_scores(
        uniform["beta"], np.maximum(normal["src"], 0), normal["tgt"][:, 0], normal["src_len"], C.shape[0]
    )
    return scores, signal, score_association(scores, signal), salient_attention(normal, C, rng), agreements


# --------------------------------------------------------------------------- checks


def check_uniform_scores(spec: str, a: Association, learned: bool = True) -> Verdict:
    """``uniform-scores-cooccurrence`` from :func:`score_association`'s numbers: passes when
    ``tau > MIN_KENDALL_TAU`` with two-sided ``p < P_VALUE``; refuted only when ``tau <=
    MIN_KENDALL_TAU``, the one-sided test of a negative association (``p_less``) gives ``p <
    P_VALUE`` and the normal model ``learned`` the task in the budget (else the scores are
    still their random start); inconclusive otherwise."""
    name, expected = "uniform-scores-cooccurrence", f"tau > {th.MIN_KENDALL_TAU}, p < {th.P_VALUE}"
    numbers = {
        "tau": a.tau,
        "p_value": a.p_value,
        "p_value_against": a.p_less,
        "words": a.words,
        "tau_max": a.tau_max,
    }
    if np.isnan(a.tau):
        words = (
            "The uniform-attention model's word scores or the word-label co-occurrence are constant "
            "over the words seen, so they cannot be ranked."
        )
        return Verdict(name, spec, Status.INCONCLUSIVE, "tau undefined", expected, words, numbers)
    what = (
        f"Over {a.words} words, the uniform-attention model's score for each word ranks like the word's "
        f"co-occurrence with the label with Kendall tau {a.tau:.2f} (p = {fmt(a.p_value, 2)}; at most "
        f"{a.tau_max:.2f} possible)"
    )
    measured = f"tau = {a.tau:.2f} (p = {fmt(a.p_value, 2)})"
    if a.tau <= th.MIN_KENDALL_TAU:
        if not learned:
            return Verdict(name, spec, Status.INCONCLUSIVE, measured, expected, what + SHORT_BUDGET, numbers)
        if a.p_less < th.P_VALUE:
            tail = (
                f"; stage 1 says they follow it, and a negative association is significant "
                f"(one-sided p = {fmt(a.p_less, 2)} < {th.P_VALUE} over {a.words} words)."
            )
            return Verdict(name, spec, Status.REFUTED, measured, expected, what + tail, numbers)
        tail = (
            f": not the direction stage 1 says, but not significantly against it (one-sided p = "
            f"{fmt(a.p_less, 2)}, level {th.P_VALUE}, {a.words} words), so it neither confirms nor "
            "refutes stage 1."
        )
        return Verdict(name, spec, Status.INCONCLUSIVE, measured, expected, what + tail, numbers)
    if a.p_value < th.P_VALUE:
        return Verdict(name, spec, Status.PASS, measured, expected, what + ", as stage 1 says.", numbers)
    return Verdict(
        name,
        spec,
        Status.INCONCLUSIVE,
        measured,
        expected,
        what + ": the right direction, not significant.",
        numbers,
    )


def check_attention_salient(spec: str, s: SalientAttention, learned: bool = True) -> Verdict:
    """``attention-to-salient-words``: stage 2 says ``A(alpha, theory)`` stands at least
    ``AGREEMENT_MIN_LIFT`` above its shuffled baseline.  Passes only when the one-sided per-seed
    test (:func:`~ktiw.comparator.stats.share_beyond`, seeds as the unit) rejects the null "``A``
    is at most ``baseline + AGREEMENT_MIN_LIFT``" at ``P_VALUE``.  A shortfall is refuted only
    when the normal model ``learned`` the task (stage 2 describes a trained model's attention)
    and the same test puts ``A`` significantly below that allowance; else inconclusive, the
    sentence naming ``A``, the allowance, ``p``, the seeds and the examples."""
    lift = s.agreement - s.baseline
    allowance = s.baseline + th.AGREEMENT_MIN_LIFT
    numbers: dict[str, object] = {
        "A(alpha,theory)": s.agreement,
        "baseline": s.baseline,
        "lift": lift,
        "kendall_tau": s.tau,
        "kendall_tau_shuffled": s.tau_shuffled,
        "argmax_before_same_after": [s.before, s.same, s.after],
        "per_seed": list(s.per_seed),
        "tokens": s.tokens,
    }
    name, expected = "attention-to-salient-words", f"A ≥ baseline + {th.AGREEMENT_MIN_LIFT}"
    measured = f"A = {s.agreement:.2f} vs baseline {s.baseline:.2f}; tau {s.tau:.2f} vs {s.tau_shuffled:.2f}"
    what = (
        "The trained classifier's attention peaked among the words the theory ranks most salient in "
        f"{s.agreement:.2f} "
        f"of examples (chance {s.baseline:.2f}); its argmax lay before / at / after the theory's top word in "
        f"{s.before:.2f} / {s.same:.2f} / {s.after:.2f}"
    )
    seeds = sum(np.isfinite(x) for x in s.per_seed)

    def evidence(p: float) -> str:
        return (
            f"{fmt(s.agreement)} against the allowance {fmt(allowance)} (baseline + "
            f"{th.AGREEMENT_MIN_LIFT}), one-sided p = {fmt(p, 2)} over {seeds} seed(s) and {s.tokens} "
            "examples, seeds as the unit"
        )

    if lift >= th.AGREEMENT_MIN_LIFT:
        p = share_beyond(s.per_seed, s.tokens, allowance, "greater")
        numbers["p_value"] = p
        if p < th.P_VALUE:
            tail = f", significantly above that allowance ({evidence(p)}), as stage 2 says."
            return Verdict(name, spec, Status.PASS, measured, expected, what + tail, numbers)
        tail = (
            f"; at least what stage 2 says, but not significantly at level {th.P_VALUE} ({evidence(p)}), "
            "so it neither confirms nor refutes stage 2."
        )
        return Verdict(name, spec, Status.INCONCLUSIVE, measured, expected, what + tail, numbers)
    if not learned:
        return Verdict(name, spec, Status.INCONCLUSIVE, measured, expected, what + SHORT_BUDGET, numbers)
    p = share_beyond(s.per_seed, s.tokens, allowance, "less")
    numbers["p_value"] = p
    if p < th.P_VALUE:
        tail = (
            f"; stage 2 says attention drifts there, and it is significantly short of that ({evidence(p)})."
        )
        return Verdict(name, spec, Status.REFUTED, measured, expected, what + tail, numbers)
    tail = (
        f"; short of what stage 2 says, but not significantly at level {th.P_VALUE} ({evidence(p)}), "
        "so it neither confirms nor refutes stage 2."
    )
    return Verdict(name, spec, Status.INCONCLUSIVE, measured, expected, what + tail, numbers)


def classification_verdicts(m: ClassificationMeasurement) -> list[Verdict]:
    """The checks of the classification experiment from its measurement."""
    acc = f"normal {m.accuracy_normal:.2f}, uniform {m.accuracy_uniform:.2f}"
    # "learned": the normal model reached the success accuracy in the budget; below it the
    # budget is too short to refute any of the three claims (checks.SHORT_BUDGET)
    learned = m.accuracy_normal >= th.SUCCESS_ACCURACY
    return [
        Verdict(
            "classifier-accuracy",
            m.spec,
            Status.REPORTED,
            acc,
            "none (reported)",
            f"Mean final accuracy over seeds on the evaluation samples: {acc}.",
            {"normal": m.accuracy_normal, "uniform": m.accuracy_uniform},
        ),
        check_uniform_scores(m.spec, m.association, learned),
        check_attention_salient(m.spec, m.attention, learned),
        ck.check_agreement_table(m.spec, m.regime, m.agreements, learned),
    ]


# --------------------------------------------------------------------------- the experiment


@dataclass(frozen=True)
class ClassificationSetup:
    preset: ClassificationPreset
    label: str
    dist: Distribution
    prediction: Prediction
    data: Path | None
    device: str
    threads: int | None

    def run_name(self, kind: str) -> str:
        from ktiw.runs.rundir import run_name

        return run_name(self.label, self.preset.training.model, kind == "uniform")


class ClassificationExperiment:
    name = "classification"
    seeds_field = "seeds"
    """The preset field ``--seeds`` sets."""
    title = (
        "The classification experiment: does a classifier's attention go to the words that "
        "co-occur with the label?"
    )

    def setup(self, request: Request) -> ClassificationSetup:
        from ktiw.data.corpus import load_labelled
        from ktiw.data.families import from_spec

        pre = request.preset
        assert isinstance(pre, ClassificationPreset)
        if len(request.specs) > 1 or (request.specs and request.data is not None):
            raise KtiwError("the classification experiment takes one keyword:... SPEC or one --data file")
        if request.data is not None:
            from ktiw.empirics.models import MODELS

            spec = MODELS.get(pre.training.model)
            if spec is None or spec.data_format != "labelled":
                raise KtiwError(
                    f"--data with the classification experiment needs a model that reads label<TAB>tokens "
                    f"files (e.g. classifier); {pre.training.model} reads input<TAB>output pairs"
                )
            dist, label = load_labelled(request.data), Path(request.data).stem
        else:
            dist = from_spec(request.specs[0] if request.specs else pre.spec)
            label = dist.spec
        if dist.n_out != 2 or dist.tgt_len != 1:
            raise KtiwError(
                f"{dist.spec}: the classification experiment needs a two-label distribution (keyword:...)"
            )
        return ClassificationSetup(
            pre, label, dist, predict(dist), request.data, request.device, request.threads
        )

    def plan(self, setup: ClassificationSetup, done: Mapping[str, Run]) -> list[PlannedRun]:
        t = setup.preset.training
        return [
            PlannedRun(
                setup.run_name(kind),
                TrainConfig.from_training(
                    t,
                    preset=setup.preset.name,
                    spec=None if setup.data else setup.dist.spec,
                    data=setup.data,
                    uniform=kind == "uniform",
                    proxy_steps=0 if kind == "uniform" else t.proxy_steps,
                    device=setup.device,
                    threads=setup.threads,
                ),
            )
            for kind in KINDS
        ]

    def measure(self, setup: ClassificationSetup, runs: Mapping[str, Run]) -> ClassificationMeasurement:
        normal, uniform = runs[setup.run_name("normal")], runs[setup.run_name("uniform")]
        C = setup.dist.cooccurrence().dense()
        final = last_probes(normal)
        scores, signal, assoc, attention, agreements = measure_probes(final, last_probes(uniform), C)
        xi, xi_star = xi_values(normal, agreements, gold_final_attention(final))
        acc = [float(np.mean([s["final_token_acc"] for s in r.summary["seeds"]])) for r in (normal, uniform)]
        return ClassificationMeasurement(
            setup.dist.spec,
            setup.prediction.regime,
            setup.prediction,
            acc[0],
            acc[1],
            scores,
            signal,
            assoc,
            attention,
            agreements,
            {"normal": str(normal.path), "uniform": str(uniform.path)},
            xi,
            xi_star,
        )

    def check(self, setup: ClassificationSetup, m: ClassificationMeasurement) -> list[Verdict]:
        return classification_verdicts(m)

    def figures(
        self, setup: ClassificationSetup, m: ClassificationMeasurement, folder: Path
    ) -> dict[str, Figure]:
        caption = (
            "Left: word scores of the uniform model against co-occurrence; right: agreements and baselines."
        )
        return {"classification": Figure(_figure(m, folder / "classification.png"), caption)}

    def sections(self, setup: ClassificationSetup, m: ClassificationMeasurement) -> list[str]:
        return [agreement_section(m)]


def agreement_section(m: ClassificationMeasurement) -> str:
    """The report's agreement table: each agreement, its shuffled baseline and its ``xi``."""
    rows = [
        "## Agreement table",
        "",
        "`xi`: the normal model's mean accuracy at the first checkpoint whose attention matches its "
        "final attention (top-5% match) as often as the agreement; `n/a`: never reached.",
        "",
        "| pair | A | shuffled baseline | xi |",
        "| --- | --- | --- | --- |",
        f"| A(alpha, theory) | {m.attention.agreement:.3f} | {m.attention.baseline:.3f} | |",
    ]
    rows += [
        f"| {a.pair} | {a.value:.3f} | {a.baseline:.3f} | {fmt(m.xi.get(a.pair)) if m.xi else 'n/a'} |"
        for a in m.agreements
    ]
    rows += ["", f"xi* (best mean accuracy of the normal model over its checkpoints): {fmt(m.xi_star)}"]
    return "\n".join(rows)


def _figure(m: ClassificationMeasurement, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from ..figures import save

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    seen = ~np.isnan(m.word_scores)
    ax1.scatter(m.cooccurrence_pos[seen], m.word_scores[seen], s=12)
    ax1.set_xlabel("co-occurrence with the label, c_i")
    ax1.set_ylabel("uniform model's word score")
    names = ["A(alpha,theory)", *(a.pair for a in m.agreements)]
    vals = [m.attention.agreement, *(a.value for a in m.agreements)]
    base = [m.attention.baseline, *(a.baseline for a in m.agreements)]
    ax2.bar(range(len(vals)), vals)
    ax2.scatter(range(len(vals)), base, color="k", marker="_", s=300, label="shuffled baseline")
    ax2.set_xticks(range(len(vals)), [n[2:-1] for n in names], rotation=20, fontsize=8)
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("top-5% match")
    ax2.legend()
    return save(fig, path)


EXPERIMENT = ClassificationExperiment()
