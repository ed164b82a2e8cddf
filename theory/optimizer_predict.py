"""The prediction in the user's units: optimizer steps until takeoff, for the training they run.

Takeoff = the attention mass on the gold source position, averaged over target tokens,
reaches 1/2.  One of three methods answers, the first that applies:

* ``reduced-map``: copy families (``subset``, ``permutation``, relabelled ``translate``) from a
  symmetric start (``zero``, ``eps:E``).  The optimizer iterated on ``(b_d, b_o, a_d, a_o)``
  (:func:`~ktiw.theory.adam_reduction.reduced_run`).  Exact for ``gd`` and for ``permutation``
  (every example's gradient is the same symmetric matrix); for ``sgd``/``adam`` on ``V > k``
  it neglects minibatch noise, which is used only where the KTIW diagonal's signal-to-noise
  per batch (:mod:`.minibatch_noise`) is at least :data:`SNR_MIN` (the attention gradient has
  no noise at the symmetric point).
* ``closed-form``: the same cases with a budget beyond
  :data:`~ktiw.theory.adam_reduction.MAX_REDUCED_STEPS`: Adam's sign-regime formula, or
  gradient-flow time over ``lr`` for ``gd``/``sgd``; and Adam whenever its per-step bound
  (:func:`~ktiw.theory.optimizers.adam_step_bound`) rules out takeoff within the budget for
  every seed.
* ``simulation``: everything else with a fixed alignment (random init, low SNR, other
  families): the toy model trained in numpy (:mod:`.simulate`).

``takeoff_step`` is the median over seeds (``None`` if under half take off within the budget),
``takeoff_step_range`` the 10% and 90% quantiles, ``success_probability`` the share of seeds
that take off within the budget (deterministic methods: 0 or 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ktiw.core.errors import KtiwError, NumericOverflowError, TooLargeError
from ktiw.core.limits import MAX_PREDICT_SECONDS, SIGN_SUM_SECONDS_PER_STEP, check_time
from ktiw.core.training import Training
from ktiw.data.distribution import Distribution

from .adam_reduction import MAX_REDUCED_STEPS, reduced_run, sign_regime_takeoff, symmetric_start
from .optimizers import adam_step_bound
from .takeoff import cached_takeoff

SNR_MIN = 3.0
"""Smallest per-batch signal-to-noise of the KTIW diagonal for which the reduced map is used."""


@dataclass(frozen=True)
class StepPrediction:
    """Optimizer-step takeoff (see module docstring); ``note`` says what it rests on."""

    takeoff_step: float | None
    takeoff_step_range: list[float | None]
    success_probability: float | None
    method: str | None
    note: str
    simulated_seeds: int | None = None
    success_interval: list[float] | None = None


def _deterministic(step: int | float | None, method: str, note: str) -> StepPrediction:
    ok = step is not None
    return StepPrediction(
        float(step) if ok else None,
        [float(step), float(step)] if ok else [None, None],
        float(ok),
        method,
        note,
    )


def _diagonal_snr(k: int, V: int, training: Training) -> float:
    """Per-batch SNR of a diagonal ``B`` gradient at the start (``inf`` for permutation/gd)."""
    if training.full_batch or k == V:
        return math.inf
    from .minibatch_noise import coordinate_moments

    mean, var = coordinate_moments(k, V, symmetric_start(training.init))
    return abs(mean[0]) / math.sqrt(var[0] / training.batch_size) if var[0] > 0 else math.inf


def _adam_bound_note(training: Training, k: int) -> str:
    M = adam_step_bound(training.steps, training.lr, training.beta1, training.beta2)
    return (
        f"Adam moves a logit by at most {M:.3g} in {training.steps} steps (|m_hat/sqrt(v_hat)| <= R_t); "
        f"gold mass 1/2 needs a gap of ln(k-1) = {math.log(k - 1):.3g}"
    )


def predict_steps(dist: Distribution, training: Training, copy: tuple[int, int] | None) -> StepPrediction:
    """Optimizer-step takeoff of the toy model on ``dist`` trained as ``training`` says."""
    training.validate()
    if copy is not None and copy[0] >= 2 and training.init.symmetric:
        k, V = copy
        start = symmetric_start(training.init)
        reachable = 2 * adam_step_bound(training.steps, training.lr, training.beta1, training.beta2)
        if training.optimizer == "adam" and start[2] + reachable < math.log(k - 1):
            return _deterministic(None, "closed-form", _adam_bound_note(training, k))
        snr = _diagonal_snr(k, V, training)
        if snr >= SNR_MIN:
            exact = (
                "exact"
                if (training.full_batch or k == V)
                else f"minibatch noise neglected (KTIW SNR {snr:.3g} per batch)"
            )
            if training.steps <= MAX_REDUCED_STEPS:
                run = reduced_run(k, V, training)
                return _deterministic(
                    run.takeoff_step,
                    "reduced-map",
                    f"reduced {training.optimizer} map on the copy symmetry, {exact}",
                )
            if training.optimizer == "adam":
                # the sum runs until takeoff (rho(t) stays near 1, so by about ln(k-1) / (2 lr)) or the budget
                reach = min(training.steps, 2 * math.log(k - 1) / (2 * training.lr))
                check_time(
                    f"summing Adam's sign regime over {reach:.3g} steps",
                    reach * SIGN_SUM_SECONDS_PER_STEP,
                    MAX_PREDICT_SECONDS,
                    "reduce --steps or raise --lr",
                )
                n = sign_regime_takeoff(
                    k, training.lr, float(start[2]), training.steps, training.beta1, training.beta2
                )
                return _deterministic(
                    n, "closed-form", "Adam sign-regime formula (budget beyond the reduced map's)"
                )
            t = cached_takeoff(k, V, float(start[2]) if k == V else 0.0)
            n = None if t is None or t / training.lr > training.steps else math.ceil(t / training.lr)
            return _deterministic(
                n, "closed-form", "gradient-flow time / lr (budget beyond the reduced map's)"
            )
    from .simulate import simulate, wilson_interval

    try:
        sim = simulate(dist, training)
    except (NumericOverflowError, TooLargeError):
        raise  # an overflow or a refused size is an error, never "no step prediction"
    except KtiwError as exc:
        return StepPrediction(None, [None, None], None, None, f"no step prediction: {exc}")
    lo, hi = wilson_interval(sim.successes, sim.n_seeds)
    note = f"toy model simulated in numpy, {sim.n_seeds} seeds"
    if sim.bound_only:
        note = f"Adam's step bound rules out takeoff for all {sim.n_seeds} simulated initialisations"
    return StepPrediction(
        sim.quantile(0.5),
        [sim.quantile(0.1), sim.quantile(0.9)],
        sim.success_probability,
        "closed-form" if sim.bound_only else "simulation",
        note,
        sim.n_seeds,
        [lo, hi],
    )
