"""``ktiw predict --model NAME``: the prediction for the model ``ktiw train`` would train.

* ``toy``: the toy's own prediction (:func:`ktiw.theory.predict.predict`, torch-free).
* Every other model with attention hook points (``lstm``, ``multihead``, any model added
  later that exposes ``ATTN`` and the readout hook points): the **model-matched** method
  (docs/predicting.md):

  1. *start*: ``max(seeds, 32)`` seeds built as ``ktiw train`` builds them, one forward pass:
     each seed's gold mass and KTIW gap read as a toy start ``(delta_0, gamma_0)``;
  2. *pilot*: the first :data:`PILOT_SEEDS` seeds trained exactly as ``ktiw train`` trains
     them for ``m`` steps, ``m`` set so that the pilot costs at most :data:`COST_SHARE` of
     the training's seed-steps; each pilot seed's KTIW gap gives its clock ``tau = a n^p``;
  3. the toy's reduced map from every start (:func:`ktiw.theory.matched.reduced_paths`), read
     in every pilot clock (:func:`ktiw.theory.matched.combine`).

  Distributions outside the copy reduction and models without attention hook points get no
  step prediction (``method`` says why).

Measurements are cached on disk per (model, its config, distribution, training, pilot
plan, code), so a repeated prediction is instant.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ktiw.core.errors import KtiwError
from ktiw.data.distribution import Distribution
from ktiw.theory import predict as theory_predict
from ktiw.theory.predict import Prediction, copy_reduction

COST_SHARE = 0.05
"""Largest share of the predicted training's seed-steps the measurements may use."""
PILOT_SEEDS = 2
MIN_PILOT_STEPS = 8
"""A pilot shorter than this cannot give a clock: the budget is refused (one line)."""
MAX_PILOT_STEPS = 300
"""The pilot never runs longer (the 5% is a ceiling on the cost, not a target)."""
START_SEEDS = 32
SAMPLES = 32
"""Fixed samples the reduced coordinates are read on."""
READINGS = 12
"""About this many readings per pilot."""

CACHE_ENTRY = "matched_measurements"
_CODE = ("matched/predict.py", "empirics/pilot.py", "theory/matched.py")


@dataclass
class RunOptions:
    """What ``ktiw train`` would do: model, its options and the optimisation settings."""

    model: str = "lstm"
    model_config: dict[str, Any] = field(default_factory=dict)
    seeds: int = 16
    steps: int = 120
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.0
    dtype: str = "float32"
    precision: str = "fp32"
    toy_init: str = "zero"
    """The toy's ``--init`` (zero | eps:E | normal:S), used for ``--model toy`` only."""


@dataclass
class ModelPrediction:
    """The prediction for one model and distribution (JSON: :meth:`to_dict`)."""

    spec: str
    model: str
    takeoff_step: float | None
    takeoff_step_range: list[float | None]
    takeoff_probability: float | None
    success_probability: float | None
    route: str
    method: str
    note: str
    steps: int
    toy: Prediction
    measured: dict[str, Any] = field(default_factory=dict)
    toy_steps: float | None = None
    """The toy's own takeoff step under the same training without a budget (copy families)."""
    pooled: np.ndarray | None = None
    """The model-matched method's pooled per-(start, clock) takeoff steps (``inf``: never)."""

    @classmethod
    def no_step(
        cls,
        spec: str,
        model: str,
        why: str,
        steps: int,
        toy: Prediction,
        measured: dict[str, Any] | None = None,
    ) -> ModelPrediction:
        """A prediction without a step: ``why`` says what the method could not rest on."""
        nothing = [None, None]
        return cls(spec, model, None, nothing, None, None, "unknown", "none", why, steps, toy, measured or {})

    def on_grid(self, every: int) -> tuple[float | None, list[float | None]]:
        """Median and 10%-90% range of the takeoff step as a run evaluated every ``every`` steps
        records it (the first evaluated step at or after takeoff)."""
        if self.pooled is None:
            return self.takeoff_step, list(self.takeoff_step_range)
        from ktiw.theory.simulate import takeoff_quantile

        x = np.ceil(self.pooled / every) * every
        x = np.where(x <= self.steps, x, np.inf)
        return takeoff_quantile(x, 0.5), [takeoff_quantile(x, 0.1), takeoff_quantile(x, 0.9)]

    def to_dict(self) -> dict[str, Any]:
        theory = self.toy.to_dict()
        out = {k: theory[k] for k in ("regime", "reason", "reduction", "takeoff_time", "eps")}
        out.update(
            spec=self.spec,
            model=self.model,
            steps=self.steps,
            takeoff_step=self.takeoff_step,
            takeoff_step_range=self.takeoff_step_range,
            takeoff_probability=self.takeoff_probability,
            success_probability=self.success_probability,
            route=self.route,
            method=self.method,
            note=self.note,
            toy_takeoff_step=self.toy_steps,
            measured=self.measured,
        )
        return out


def toy_training(opts: RunOptions, init: str | None = None) -> Any:
    from ktiw.core.training import Training, parse_init

    return Training(
        optimizer=opts.optimizer,
        lr=opts.lr,
        batch_size=opts.batch_size,
        init=parse_init(init or opts.toy_init),
        steps=opts.steps,
        momentum=opts.momentum,
    ).validate()


def _toy_prediction(dist: Distribution, opts: RunOptions, eps: float) -> ModelPrediction:
    p = theory_predict.predict(dist, eps=eps, training=toy_training(opts))
    taken = p.success_probability  # the old field: takeoff within the budget
    return ModelPrediction(
        spec=p.spec,
        model="toy",
        takeoff_step=p.takeoff_step,
        takeoff_step_range=p.takeoff_step_range,
        takeoff_probability=taken,
        # the symmetric toy predicts every token correctly once delta > 0 and gamma > 0, which
        # holds from takeoff on: success comes no later than takeoff (docs/predicting.md)
        success_probability=taken,
        route="attention" if taken else "none",
        method=p.method or "none",
        note=p.step_note,
        steps=opts.steps,
        toy=p,
    )


def plan(opts: RunOptions, saddle: bool = False) -> tuple[int, int, int, int]:
    """``(pilot seeds, pilot steps, reading interval, uniform pilot steps)`` within
    :data:`COST_SHARE` of the training's seed-steps (the uniform-attention pilot, one seed for
    half the steps, only for a saddle, where seeds on the wrong side need another route); a
    budget too small for :data:`MIN_PILOT_STEPS` is refused."""
    P = min(PILOT_SEEDS, opts.seeds)
    share = P + (0.5 if saddle else 0.0)
    m = min(opts.steps, MAX_PILOT_STEPS, int(COST_SHARE * opts.seeds * opts.steps / share))
    if m < MIN_PILOT_STEPS:
        raise KtiwError(
            f"cannot afford a prediction for {opts.seeds} seed(s) x {opts.steps} steps: 5% of the "
            f"training is {COST_SHARE * opts.seeds * opts.steps:.0f} seed-steps, the pilot needs "
            f"{P} x {MIN_PILOT_STEPS}; give more --seeds or --steps"
        )
    return P, m, max(1, m // READINGS), (m // 2 if saddle else 0)


def check_model(opts: RunOptions, dist: Distribution) -> None:
    """Refuse (one line) unknown models and options the model does not have."""
    from ktiw.empirics.models import MODELS

    spec = MODELS.get(opts.model)
    if spec is None:
        raise KtiwError(f"unknown model {opts.model!r}; valid models: {', '.join(sorted(MODELS))}")
    from ktiw.core.validation import check_fields
    from ktiw.empirics.precision import check_precision

    check_precision(opts.precision, "cpu")
    if opts.precision != "fp32" and opts.dtype != "float32":
        raise KtiwError(f"--precision {opts.precision} needs --dtype float32 (parameters stay float32)")

    known = {f.name for f in dataclasses.fields(spec.config)}
    extra = sorted(set(opts.model_config) - known)
    if extra:
        raise KtiwError(
            f"unknown option(s) {', '.join(extra)} for model {opts.model}; valid: {', '.join(sorted(known))}"
        )
    cfg = spec.config(**check_fields(spec.config, dict(opts.model_config), f"option for model {opts.model}"))
    if spec.data_format == "labelled":
        return
    import torch

    with torch.device("meta"):  # the model's own checks (sizes, combinations), nothing allocated
        spec.cls(cfg, dist, 1, uniform=False)


def _code_hash() -> str:
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for rel in _CODE:
        path = root / rel
        h.update(path.read_bytes() if path.exists() else rel.encode())
    return h.hexdigest()[:16]


def _saddle(dist: Distribution) -> bool:
    kv = copy_reduction(dist)
    return kv is not None and kv[0] == kv[1]


def measurement_key(dist: Distribution, opts: RunOptions) -> str:
    """The cache key of the measurements: everything that determines them, and the code."""
    P, m, every, m_u = plan(opts, _saddle(dist))
    return json.dumps(
        {
            "spec": dist.spec,
            "model": opts.model,
            "config": opts.model_config,
            "lr": opts.lr,
            "batch": opts.batch_size,
            "optimizer": opts.optimizer,
            "momentum": opts.momentum,
            "dtype": opts.dtype,
            "precision": opts.precision,
            "plan": [P, m, every, m_u, max(opts.seeds, START_SEEDS), SAMPLES],
            "code": _code_hash(),
        },
        sort_keys=True,
    )


def cached_measurement(dist: Distribution, opts: RunOptions) -> dict[str, Any] | None:
    """The cached measurements, if any (no torch needed)."""
    from ktiw.core.cache import lookup

    value = lookup(CACHE_ENTRY, ("matched.py",), measurement_key(dist, opts))
    return value if isinstance(value, dict) else None


def measure(dist: Distribution, opts: RunOptions) -> dict[str, Any]:
    """The start and pilot measurements (cached per model config, distribution and training)."""
    from ktiw.core.cache import cached_values

    P, m, every, m_u = plan(opts, _saddle(dist))
    key = measurement_key(dist, opts)

    def build() -> dict[str, Any]:
        import torch

        from ktiw.empirics import pilot as pl
        from ktiw.empirics.train_config import TrainConfig
        from ktiw.empirics.training_cost import check_training_memory

        # the pilot's arrays must fit, as a training's must (one line otherwise)
        check_training_memory(
            TrainConfig(
                spec=dist.spec,
                model=opts.model,
                model_config=dict(opts.model_config),
                seeds=list(range(max(opts.seeds, START_SEEDS))),
                batch_size=opts.batch_size,
                eval_samples=SAMPLES,
                dtype=opts.dtype,
                steps=m,
            ),
            dist,
        )
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small models: one thread is fastest on a shared CPU
        try:
            run = pl.Training(
                opts.model,
                dict(opts.model_config),
                opts.lr,
                opts.batch_size,
                opts.optimizer,
                opts.momentum,
                opts.dtype,
                opts.precision,
            )
            start = pl.start_statistics(run, dist, max(opts.seeds, START_SEEDS), SAMPLES)
            trace = pl.pilot(run, dist, list(range(P)), m, every, SAMPLES)
            uniform = None
            if m_u:
                uniform = pl.pilot(run, dist, [0], m_u, max(1, m_u // 4), SAMPLES, uniform=True)
        finally:
            torch.set_num_threads(threads)
        return {
            "start_mass": start.mass.tolist(),
            "start_kgap": start.kgap.tolist(),
            "start_positions": start.positions.tolist(),
            "pilot": trace.to_dict(),
            "uniform": None if uniform is None else uniform.to_dict(),
        }

    return dict(cached_values(CACHE_ENTRY, ("matched.py",), key, build))  # type: ignore[arg-type]


UNBUDGETED = 100_000
"""Budget of the toy's own takeoff shown beside the model's (the reduced map stops at takeoff)."""


def toy_steps(dist: Distribution, opts: RunOptions, eps: float) -> float | None:
    """The toy's takeoff step under ``opts``'s optimizer, lr and batch from ``eps:eps`` (copy
    families; ``None`` otherwise): the "toy steps" column."""
    from ktiw.theory.optimizer_predict import predict_steps

    kv = copy_reduction(dist)
    if kv is None or kv[0] < 2:
        return None
    training = dataclasses.replace(toy_training(opts, f"eps:{eps:g}"), steps=UNBUDGETED)
    return predict_steps(dist, training, kv).takeoff_step


def predict_model(dist: Distribution, opts: RunOptions, eps: float = 1e-3) -> ModelPrediction:
    """The prediction for ``opts.model`` trained as ``opts`` says (module docstring)."""
    from ktiw.core.limits import MAX_INIT_SCALE

    if not (eps > 0 and math.isfinite(eps)):
        raise KtiwError(f"--eps must be a positive number, got {eps}")
    if eps > MAX_INIT_SCALE:
        raise KtiwError(f"--eps must be at most {MAX_INIT_SCALE:g}, got {eps:g}")
    out = _predict_model(dist, opts, eps)
    out.toy_steps = toy_steps(dist, opts, eps)
    return out


def _predict_model(dist: Distribution, opts: RunOptions, eps: float) -> ModelPrediction:
    if opts.model == "toy":
        return _toy_prediction(dist, opts, eps)
    toy = theory_predict.predict(dist, eps=eps, training=toy_training(opts, f"eps:{eps:g}"))
    kv = copy_reduction(dist)

    def none(why: str) -> ModelPrediction:
        return ModelPrediction.no_step(dist.spec, opts.model, why, opts.steps, toy)

    if kv is None or kv[0] < 2 or not dist.aligned:
        return none("no step prediction: the toy's copy reduction does not apply to this distribution")
    plan(opts, _saddle(dist))
    data = cached_measurement(dist, opts)
    if data is None:
        from ktiw.empirics.models import MODELS

        check_model(opts, dist)
        if MODELS[opts.model].data_format == "labelled":
            return none(f"no step prediction: {opts.model} has no sequence alignment to attend to")
        data = measure(dist, opts)
    return matched_prediction(dist, kv, opts, data, toy)


def matched_prediction(
    dist: Distribution, kv: tuple[int, int], opts: RunOptions, data: dict[str, Any], toy: Prediction
) -> ModelPrediction:
    """Measurements -> toy coordinates and clocks -> pooled steps (:mod:`ktiw.theory.matched`)."""
    from ktiw.theory import matched as tm

    k, V = kv
    training = toy_training(opts)
    positions = np.asarray(data["start_positions"], dtype=np.float64)
    delta0 = tm.delta_of_kgap(np.asarray(data["start_kgap"]), V)
    # gold mass relative to uniform attention over the positions the model attends to
    gamma0 = tm.gamma_of_mass(np.asarray(data["start_mass"]), 2) + np.log(positions - 1)
    pilot = data["pilot"]
    n = np.asarray(pilot["steps"], dtype=np.float64)
    kgap = np.asarray(pilot["kgap"], dtype=np.float64)  # [K, P]
    if not (np.isfinite(kgap).all() and np.isfinite(delta0).all() and np.isfinite(gamma0).all()):
        return ModelPrediction.no_step(
            dist.spec,
            opts.model,
            f"no step prediction: the pilot diverged at lr {opts.lr:g} (non-finite attention or probe)",
            opts.steps,
            toy,
        )
    ref_start = 1e-3 if k == V else 0.0  # the saddle needs a perturbation; a drift starts at once
    budget_tau = 1.0
    ref = tm.reduced_paths(k, V, training, np.array([ref_start]), np.array([ref_start]))
    warps = []
    for j in range(kgap.shape[1]):
        d = tm.delta_of_kgap(kgap[:, j], V)
        tau = tm.clock(n, np.abs(d - d[0]), ref.delta[:, 0])
        w = tm.fit_warp(n, tau)
        if w is not None:
            warps.append(w)
            budget_tau = max(budget_tau, w[0] * opts.steps ** w[1])
    measured = {
        "pilot_seeds": int(kgap.shape[1]),
        "pilot_steps": int(n[-1]),
        "pilot_seed_steps": int(pilot["seed_steps"]),
        "cost_share": pilot["seed_steps"] / (opts.seeds * opts.steps),
        "pilot_seconds": round(float(pilot["seconds"]), 2),
        "clocks": [[round(a, 4), round(p, 3)] for a, p in warps],
        "start_delta_sd": float(np.std(delta0)),
        "start_gamma_sd": float(np.std(gamma0)),
        "pilot_final_mass": [round(float(x), 4) for x in np.asarray(pilot["mass"])[-1]],
    }
    if not warps:
        return ModelPrediction.no_step(
            dist.spec,
            opts.model,
            "no step prediction: the KTIW probe did not move in the pilot",
            opts.steps,
            toy,
            measured,
        )
    paths = tm.reduced_paths(
        k, V, training, delta0, gamma0, max_steps=int(min(tm.MAX_TOY_STEPS, math.ceil(1.2 * budget_tau) + 10))
    )
    steps = tm.combine(paths, warps, opts.steps)
    p_take = steps.takeoff_probability
    lost = float(np.mean(~np.isfinite(paths.takeoff) & (paths.gamma[-1] < 0)))
    measured["wrong_side_share"] = lost
    other = False
    uni = data.get("uniform")
    if uni is not None:
        # the toy's uniform model has no KTIW signal on a saddle: its gap stays at the start's
        # spread; a gap beyond 3 start SDs is a route around attention (the encoder)
        gap = np.asarray(uni["kgap"], dtype=np.float64)[:, 0]
        spread = float(np.std(np.asarray(data["start_kgap"], dtype=np.float64)))
        moved = abs(float(gap[-1] - gap[0]))
        other = moved > 3 * spread
        measured.update(uniform_gap_moved=moved, start_gap_sd=spread, uniform_seed_steps=uni["seed_steps"])
        measured["cost_share"] = (pilot["seed_steps"] + uni["seed_steps"]) / (opts.seeds * opts.steps)
    route = "attention" if p_take >= 0.5 else ("non-attention" if other else "none")
    why = ""
    if lost and p_take < 1:
        why = f"; {lost:.0%} of starts escape the saddle away from the gold word" + (
            ", where the uniform pilot's KTIW probe shows a route around attention" if other else ""
        )
    return ModelPrediction(
        spec=dist.spec,
        model=opts.model,
        takeoff_step=steps.quantile(0.5),
        takeoff_step_range=[steps.quantile(0.1), steps.quantile(0.9)],
        takeoff_probability=p_take,
        success_probability=steps.success_probability,
        route=route,
        method="model-matched",
        note=(
            f"toy reduced {opts.optimizer} map from {len(delta0)} measured starts in {len(warps)} pilot "
            f"clocks (measured on {measured['cost_share']:.1%} of the training's seed-steps){why}"
        ),
        steps=opts.steps,
        toy=toy,
        measured=measured,
        pooled=steps.takeoff_steps,
    )
