"""``ktiw verify`` (experiment ``copy``): the six checks of the copying experiment.

For every distribution (specs, or the user's ``--data`` file of pairs): the theory's
:func:`~ktiw.theory.predict.predict` (once), one normally trained run of the preset's model
(``ktiw verify --model``) and one uniform-attention run (all seeds batched), both evaluated
on the same fixed samples (the trainer draws them from its ``eval_seed``, so seed ``s`` of
one run pairs with seed ``s`` of the other, example by example), and the toy-fidelity traces
of the preset.

Measurements (at the last step unless said otherwise):

* success per seed (:func:`ktiw.empirics.curves.succeeded`);
* ``beta_uf`` share: top-1 match of the uniform run's ``beta`` probe with the gold position,
  pooled over seeds and tokens, with its shuffled baseline (needs a gold alignment);
* timing (checks 3 and 5): the ``beta_acc``/``attn_acc`` columns of the normal run's curves;
  check 5 uses ``attn_mass`` (gold attention mass 1/2) against :func:`predicted_steps`, the
  toy model's takeoff in optimizer steps for the model's own training (Adam, the preset's
  learning rate and batch, started at ``eps``);
* the agreement table (:func:`ktiw.comparator.measures.agreement_table`);
* ``xi``: the mean token accuracy of the normal run at the first probe step where its
  ``A(alpha, gold)`` reaches each agreement value; ``xi*`` its best mean token accuracy;
* the time scale (theory time per step, computed once) that draws the theory's curves over
  the measured ones; no verdict depends on it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ktiw.config.presets import CopyPreset
from ktiw.core.errors import KtiwError
from ktiw.core.training import Init, Training
from ktiw.data.distribution import Distribution
from ktiw.empirics.train_config import TrainConfig
from ktiw.theory.predict import Prediction, predict

from .. import checks as ck
from ..copy_measurement import CopyMeasurement, SpecMeasurement, TheoryCurve
from ..framework import Figure, PlannedRun, Request
from ..measures import (
    Probes,
    agreement_table,
    last_probes,
    pool,
    scored,
    seed_curves,
    tile,
    xi_values,
)
from ..verdict import Verdict

if TYPE_CHECKING:
    from ktiw.matched.predict import ModelPrediction
    from ktiw.runs.rundir import Run

KINDS = ("normal", "uniform")


@dataclass(frozen=True)
class Subject:
    """One distribution to verify: parsed once, predicted once."""

    label: str
    dist: Distribution
    prediction: Prediction
    data: Path | None = None
    model: str = "model"
    """The model the preset trains (``ktiw verify --model``; it names the runs)."""
    matched: ModelPrediction | None = None
    """The model-matched prediction for the preset's own model and training (issue 18)."""

    @property
    def regime(self) -> str:
        return self.prediction.regime

    def run_name(self, kind: str) -> str:
        from ktiw.runs.rundir import run_name

        return run_name(self.label, self.model, kind == "uniform")


@dataclass(frozen=True)
class CopySetup:
    preset: CopyPreset
    subjects: tuple[Subject, ...]
    device: str
    threads: int | None


class CopyExperiment:
    name = "copy"
    seeds_field = "seeds"
    """The preset field ``--seeds`` sets."""
    title = (
        "The copying experiment: does the theory's regime (drift or saddle) predict whether, how often "
        "and in what order an attention model learns to copy?"
    )

    def setup(self, request: Request) -> CopySetup:
        from ktiw.data.corpus import load_pairs
        from ktiw.data.families import from_spec

        preset = request.preset
        assert isinstance(preset, CopyPreset)
        if request.data is not None:
            if request.specs:
                raise KtiwError("give either SPECs or --data, not both")
            dist = load_pairs(request.data)
            subjects = [
                Subject(
                    Path(request.data).stem,
                    dist,
                    predict(dist, eps=preset.eps),
                    Path(request.data),
                    preset.training.model,
                )
            ]
        else:
            dists = [from_spec(s) for s in (request.specs or preset.specs)]
            for d in dists:
                if not d.aligned:
                    raise KtiwError(
                        f"{d.spec}: verify needs a distribution with a gold alignment (or --data)"
                    )
            if len({d.spec for d in dists}) != len(dists):
                raise KtiwError("a distribution is named twice")
            subjects = [
                Subject(d.spec, d, predict(d, eps=preset.eps), model=preset.training.model) for d in dists
            ]
        subjects = [dataclasses.replace(s, matched=model_matched(s, preset)) for s in subjects]
        return CopySetup(preset, tuple(subjects), request.device, request.threads)

    def plan(self, setup: CopySetup, done: Mapping[str, Run]) -> list[PlannedRun]:
        t = setup.preset.training
        uniform_seeds = setup.preset.uniform_seeds
        if uniform_seeds is not None and t.n_seeds % uniform_seeds:
            raise KtiwError(f"uniform_seeds = {uniform_seeds} must divide seeds = {t.n_seeds}")
        runs = []
        for s in setup.subjects:
            for kind in KINDS:
                cfg = TrainConfig.from_training(
                    t,
                    spec=None if s.data else s.dist.spec,
                    data=s.data,
                    preset=setup.preset.name,
                    uniform=kind == "uniform",
                    # the uniform run pairs with the normal one seed by seed, unless the preset
                    # asks for fewer (uniform_seeds): then it serves the pooled probes only
                    seeds=list(range(uniform_seeds)) if kind == "uniform" and uniform_seeds else None,
                    # beta_px is read from the normal run (same samples); the uniform run need not train it
                    proxy_steps=0 if kind == "uniform" else t.proxy_steps,
                    device=setup.device,
                    threads=setup.threads,
                )
                runs.append(PlannedRun(s.run_name(kind), cfg))
        return runs

    def measure(self, setup: CopySetup, runs: Mapping[str, Run]) -> CopyMeasurement:
        from ..fidelity import fidelity_trace, step_fidelity

        t = setup.preset.training
        specs = [
            _measure_subject(
                s, runs[s.run_name("normal")], runs[s.run_name("uniform")], predicted_steps(s, t)
            )
            for s in setup.subjects
        ]
        gd = [f for f in setup.preset.fidelity if f.optimizer == "gd"]
        matched = [f for f in setup.preset.fidelity if f.optimizer != "gd"]
        m = CopyMeasurement(specs, [fidelity_trace(f) for f in gd], t.steps, model=t.model)
        m.step_fidelity = [step_fidelity(f, t, setup.device, setup.threads) for f in matched]
        m.time_scale = time_scale([e.takeoff for e in specs])
        for e, s in zip(specs, setup.subjects, strict=True):
            if m.time_scale:
                e.theory = theory_curve(s.dist, setup.preset.eps, m.time_scale * m.steps)
        return m

    def check(self, setup: CopySetup, m: CopyMeasurement) -> list[Verdict]:
        by_name: dict[str, list[Verdict]] = {n: [] for n in ck.CHECK_NAMES}
        by_name["toy-fidelity"] = [ck.check_toy_fidelity(t) for t in m.fidelity]
        by_name["toy-fidelity"] += [ck.check_step_fidelity(f) for f in m.step_fidelity]
        for e in m.specs:
            learned = e.success.k > 0
            by_name["ktiw-under-uniform"].append(
                ck.check_ktiw_under_uniform(e.spec, e.regime, e.token_share, learned)
            )
            by_name["ktiw-before-attention"].append(ck.check_ktiw_before_attention(e.spec, e.seeds))
            by_name["agreement-table"].append(
                ck.check_agreement_table(e.spec, e.regime, e.agreements, learned)
            )
        by_name["success-rate"] = ck.check_success_rates([e.success for e in m.specs], m.steps)
        by_name["takeoff-order"] = [ck.check_takeoff_order([e.takeoff for e in m.specs])]
        t = setup.preset.training
        by_name["model-matched"] = [
            ck.check_model_matched(matched_comparison(s, e, t.eval_every))
            for s, e in zip(setup.subjects, m.specs, strict=True)
        ]
        return [v for n in ck.CHECK_NAMES for v in by_name[n]]

    def figures(self, setup: CopySetup, m: CopyMeasurement, folder: Path) -> dict[str, Figure]:
        from ..figures import copy_figures

        return copy_figures(m, folder)

    def sections(self, setup: CopySetup, m: CopyMeasurement) -> list[str]:
        return [agreement_section(m.specs), optimizer_section(m)]


def model_matched(s: Subject, preset: CopyPreset) -> ModelPrediction:
    """``ktiw predict --model`` for the preset's own model and training (before any training);
    a training too small to afford the measurements gets no prediction (the check is then
    inconclusive) instead of stopping the verification."""
    from ktiw.matched.predict import ModelPrediction, RunOptions, predict_model

    t = preset.training
    opts = RunOptions(
        model=t.model,
        model_config=dict(t.model_config),
        seeds=t.n_seeds,
        steps=t.steps,
        batch_size=t.batch_size,
        lr=t.lr,
    )
    try:
        return predict_model(s.dist, opts, eps=preset.eps)
    except KtiwError as exc:
        return ModelPrediction(
            s.dist.spec,
            t.model,
            None,
            [None, None],
            None,
            None,
            "unknown",
            "none",
            str(exc),
            t.steps,
            s.prediction,
        )


def matched_comparison(s: Subject, e: SpecMeasurement, eval_every: int) -> ck.MatchedComparison:
    """The model-matched prediction on the run's evaluation grid beside what the run measured."""
    m = s.matched
    assert m is not None
    step, rng = m.on_grid(eval_every)
    return ck.MatchedComparison(
        spec=e.spec,
        model=m.model,
        method=m.method,
        predicted_step=step,
        predicted_range=(rng[0], rng[1]),
        predicted_takeoff=m.takeoff_probability,
        predicted_success=m.success_probability,
        measured_per_seed=e.takeoff.measured_per_seed,
        successes=e.success.k,
    )


ORDER_BUDGET = 100_000
"""Step budget of the takeoff prediction used for ordering (the reduced map stops at takeoff)."""


def predicted_steps(s: Subject, training: Training) -> float | None:
    """The toy model's takeoff step for the model's training (the preset's optimizer, learning
    rate and batch size), started at ``eps`` (the saddle needs a perturbation;
    a real model's random initialisation gives one); ``None`` outside the copy reduction."""
    from ktiw.theory.optimizer_predict import predict_steps
    from ktiw.theory.predict import copy_reduction

    kv = copy_reduction(s.dist)
    if kv is None or kv[0] < 2:
        return None
    run = dataclasses.replace(training, init=Init("eps", s.prediction.eps), steps=ORDER_BUDGET)
    return predict_steps(s.dist, run, kv).takeoff_step


def optimizer_section(m: CopyMeasurement) -> str:
    """What the optimizer-aware theory says, next to the measurements (no verdict)."""
    from ..verdict import fmt

    lines = [
        "## Optimizer-aware prediction",
        "",
        "Takeoff = gold attention mass 1/2. Gradient flow: the theory's time (lr x steps of "
        "gradient descent); toy steps: the toy model under the model's own training (Adam, this "
        "preset's lr and batch, start eps); predicted for this model: `ktiw predict --model` for the "
        "run's own model and training (model-matched method, docs/predicting.md; median step, "
        "probability of takeoff in the budget); model: measured median step.",
        "",
        "| distribution | regime | gradient-flow time | toy steps (Adam) | predicted for this model "
        "| model steps | model / toy |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for e in m.specs:
        t = e.takeoff
        ratio = t.measured_median / t.predicted if t.predicted and math.isfinite(t.measured_median) else None
        mm = e.matched
        pred = (
            "-"
            if mm is None
            else (
                f"{'>' + str(mm.steps) if mm.takeoff_step is None else fmt(mm.takeoff_step)} "
                f"(P {fmt(mm.takeoff_probability)})"
            )
        )
        lines.append(
            f"| `{e.spec}` | {e.regime} | {fmt(t.flow_time)} | {fmt(t.predicted)} | {pred} | "
            f"{fmt(t.measured_median)} | {fmt(ratio)} |"
        )
    toy = [e.takeoff.predicted for e in m.specs if e.takeoff.predicted]
    if len(toy) > 1:
        lines += [
            "",
            f"Under Adam the toy model's takeoff steps span a factor {fmt(max(toy) / min(toy))} across "
            "these distributions (gradient flow separates a saddle from a drift distribution by its "
            "k^2 ln(1/eps) escape; Adam's per-coordinate steps do not depend on the gradient's size).",
        ]
    return "\n".join(lines)


def _measure_subject(
    s: Subject, normal: Run, uniform: Run, toy_steps: float | None = None
) -> SpecMeasurement:
    seeds_n, seeds_u = seed_curves(normal), seed_curves(uniform)
    pn, pu = last_probes(normal), last_probes(uniform)
    agreements = agreement_table(pn, pu, np.random.default_rng(0))
    xi, xi_star = xi_values(normal, agreements)
    return SpecMeasurement(
        spec=s.dist.spec,
        regime=s.regime,
        prediction=s.prediction,
        seeds=seeds_n,
        uniform_seeds=seeds_u,
        success=ck.SuccessCount(s.dist.spec, s.regime, sum(x.succeeded for x in seeds_n), len(seeds_n)),
        takeoff=ck.measured_takeoff(s.dist.spec, toy_steps, seeds_n, s.prediction.takeoff_time),
        token_share=token_share(pu, np.random.default_rng(1)) if s.dist.aligned else None,
        agreements=agreements,
        xi=xi,
        xi_star=xi_star,
        runs={"normal": str(normal.path), "uniform": str(uniform.path)},
        matched=s.matched,
    )


def token_share(uniform: Probes, rng: np.random.Generator) -> ck.TokenShare:
    """Share of scored target tokens whose uniform-run ``beta`` argmax is the gold position
    (top-1 match, pooled over seeds), its shuffled baseline and the share per seed."""
    from ktiw.empirics import agreement as ag

    S, L = uniform["beta"].shape[0], uniform["src"].shape[1]
    mask = tile(scored(uniform) & (uniform["align"] >= 0), S)
    lens, beta_uf = tile(uniform["src_len"], S), pool(uniform["beta"])
    gold = tile(ag.gold_attention(uniform["align"], L), S)
    top1 = 1.0 / L  # ceil(L_n / L) = 1 position: exact argmax match with the gold position
    share = ag.top_match(beta_uf, gold, top1, lens, mask)
    base = ag.shuffled_baseline(beta_uf, gold, rng, top1, lens, mask)
    tok = ag.top_match_tokens(beta_uf, gold, top1, lens, mask).reshape(S, -1)
    per_seed = tuple(float(np.nanmean(row)) for row in tok)
    return ck.TokenShare(share, base, per_seed, int(np.count_nonzero(mask)))


def time_scale(takeoffs: list[ck.Takeoff]) -> float | None:
    """Theory time per training step, one factor shared by all distributions.

    For every distribution with a finite predicted takeoff time ``t*`` and a finite measured
    median takeoff step ``s*`` (gold attention mass 1/2, the quantity the flow's ``alpha_d``
    is), ``t*/s*`` is one estimate; the factor is
    their geometric mean (``None`` if there is none).  Used only to draw the theory's curves
    over the measured ones; no verdict depends on it.
    """
    ratios = [
        t.flow_time / t.measured_median
        for t in takeoffs
        if t.flow_time is not None
        and math.isfinite(t.flow_time)
        and math.isfinite(t.measured_median)
        and t.measured_median > 0
        and t.flow_time > 0
    ]
    return float(np.exp(np.mean(np.log(ratios)))) if ratios else None


def theory_curve(dist: Distribution, eps: float, t_max: float) -> TheoryCurve | None:
    """The 2-D flow's curves for a copy distribution up to ``t_max`` (``None`` otherwise)."""
    from ktiw.theory.flow import copy_flow
    from ktiw.theory.predict import copy_reduction

    kv = copy_reduction(dist)
    if kv is None or kv[0] < 2 or not math.isfinite(t_max) or t_max <= 0:
        return None
    k, V = kv
    flow = copy_flow(k, V, eps=eps if k == V else 0.0, t_max=t_max, n_points=600)
    return TheoryCurve(flow.t, flow.alpha_d, flow.p_correct)


def agreement_section(specs: list[SpecMeasurement]) -> str:
    """The report's agreement table: value (shuffled baseline) per pair, then ``xi`` and ``xi*``."""
    from ..verdict import fmt

    rows = [e for e in specs if e.agreements]
    if not rows:
        return "## Agreement table\n\nNo agreement table (no probes)."
    cols = list(dict.fromkeys(a.pair for e in rows for a in e.agreements))
    lines = [
        "## Agreement table",
        "",
        "Each cell: agreement (shuffled baseline); `xi` per agreement in the same order.",
        "",
        "| distribution | " + " | ".join(cols) + " | xi | xi* |",
        "| --- " * (len(cols) + 3) + "|",
    ]
    for e in rows:
        got = {a.pair: a for a in e.agreements}
        cells = " | ".join(
            f"{fmt(got[c].value)} ({fmt(got[c].baseline)})" if c in got else "n/a" for c in cols
        )
        xi = ", ".join(fmt(e.xi.get(c)) for c in cols) if e.xi else "n/a"
        lines.append(f"| `{e.spec}` | {cells} | {xi} | {fmt(e.xi_star)} |")
    return "\n".join(lines)


EXPERIMENT = CopyExperiment()
