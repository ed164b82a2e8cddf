"""The theory's prediction for one distribution: regime, KTIW margin, takeoff time, and why.

Regimes, decided from the co-occurrence matrix ``C`` alone (:mod:`ktiw.theory.stages`; ``C'``
is the per-occurrence ``C[i, o] / r_i``, which discounts how often word ``i`` occurs):

* ``saddle``: no signal.  For every target token ``C'[x_l, y_t]`` is the same at all input
  positions (``C = 0`` up to row/column constants), so stage 2 gives attention no push and
  learning has to wait for a symmetry-breaking perturbation.
* ``drift``: signal that identifies a word (or every input holds a single word, so attention
  has nothing to choose).  For at least half of the target tokens ``C'`` singles out one
  input word (the aligned one, where the alignment is known), so attention drifts towards
  it from the start.
* ``ambiguous``: there is signal, but for most tokens it does not single out the word: it
  ties words that always occur together, or favours a wrong word.

Takeoff time (attention on the correct word reaches 1/2, in gradient-flow time of the
token-mean loss on the full toy-model parameters, i.e. ``lr * steps``) comes from the exact
2-D reduction (:mod:`ktiw.theory.flow`), which applies to copying ``k`` distinct words out
of ``V`` and to its relabelled copies (``translate`` with ``reorder=none|reverse``).  The
saddle case starts at ``delta = gamma = eps``; the drift case starts at the symmetric
initialisation ``0``.  Elsewhere the theory here states no takeoff (``None``).  Takeoff
times are memoised on disk (:mod:`ktiw.core.cache`, keyed by the flow's source), so a
repeated prediction needs neither sympy nor an ODE solve.

Optimizer steps: the same takeoff in the units of the training the user runs (optimizer,
learning rate, batch size, initialisation, step budget; :class:`~ktiw.core.training.Training`,
whose defaults are ``ktiw train``'s) comes from :mod:`ktiw.theory.optimizer_predict`:
``takeoff_step``, ``takeoff_step_range``, ``success_probability`` and ``method``.  The
gradient-flow fields above are unchanged and do not depend on the training.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ktiw.core.errors import KtiwError
from ktiw.core.limits import MAX_INIT_SCALE, check_memory
from ktiw.core.training import Training
from ktiw.data.distribution import Distribution, EmpiricalDistribution
from ktiw.data.families import IID, Subset, Translate

from .optimizer_predict import predict_steps
from .stages import StageAnalysis, analyse
from .takeoff import cached_takeoff

ALIGNMENT_SHOWN = 10

MAX_LENGTH = 1000
MAX_VOCAB = 5000
"""Limits for named families (their closed-form ``C`` is dense and examples are analysed per position)."""


@dataclass(frozen=True)
class Prediction:
    """The prediction for one distribution (see module docstring for the terms).

    ``ktiw_margin``/``ktiw_margin_mean``: min/mean over target tokens of the correct word's
    ``C`` minus the best wrong input word's; ``initial_ktiw_velocity``: ``d delta/d tau`` at
    0 of the copy reduction where it applies, else the mean over tokens of the correct
    word's ``C`` minus the mean wrong word's; ``ktiw_learnable``: KTIW has a signal at the
    start; ``attention_learnable``: regime ``drift``; ``takeoff_time``: see module docstring;
    ``fixed_point_eigenvalues``: Jacobian eigenvalues of the copy flow at the origin where it
    is a fixed point (``V = k``); ``ambiguity``: share of target tokens whose drift maximum is
    tied between different words; ``identified``: share whose word ``C'`` singles out;
    ``reduction``: the copy reduction used, if any; ``takeoff_time`` is *gradient-flow* time;
    ``tokens_analysed``/``exact``: the target
    tokens behind these numbers and whether they are the whole support (else a seed-0 sample).
    """

    spec: str
    regime: str
    reason: str
    ktiw_margin: float | None
    ktiw_margin_mean: float | None
    initial_ktiw_velocity: float | None
    ktiw_learnable: bool
    attention_learnable: bool
    takeoff_time: float | None
    eps: float
    fixed_point_eigenvalues: list[float] | None
    ambiguity: float
    identified: float
    reduction: str | None
    tokens_analysed: int
    exact: bool
    predicted_alignment: list[list[int]] | None = None
    """For distributions without a known alignment: the predicted attention target (source
    position, ``-1`` for a tie) of each target token of the first :data:`ALIGNMENT_SHOWN` examples."""
    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 128
    init: str = "zero"
    steps: int = 200
    takeoff_step: float | None = None
    """Median optimizer steps until the gold attention mass reaches 1/2 (``None``: not within ``steps``)."""
    takeoff_step_range: list[float | None] = field(default_factory=lambda: [None, None])
    """10% and 90% quantiles of the takeoff step over seeds (``None``: beyond the budget)."""
    success_probability: float | None = None
    """Probability that takeoff happens within ``steps``."""
    method: str | None = None
    """``reduced-map``, ``closed-form`` or ``simulation`` (:mod:`ktiw.theory.optimizer_predict`)."""
    step_note: str = ""
    simulated_seeds: int | None = None
    success_interval: list[float] | None = None
    """95% Wilson interval of ``success_probability`` for ``simulation`` (its seed count)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (floats, bools, strings, ``None``)."""
        return asdict(self)


def copy_reduction(dist: Distribution) -> tuple[int, int] | None:
    """``(k, V)`` when ``dist`` is copying ``k`` distinct words of ``V`` up to a fixed relabelling."""
    if isinstance(dist, Subset):
        return dist.src_len, dist.n_in
    if isinstance(dist, Translate) and dist.reorder in ("none", "reverse"):
        return dist.src_len, dist.n_in
    return None


def _no_reduction_reason(dist: Distribution) -> str:
    if isinstance(dist, IID):
        return "repeated words break the copy symmetry"
    if isinstance(dist, Translate):
        return "a fresh output order per example has no fixed alignment"
    return "not a relabelled copy of k distinct words"


def classify(a: StageAnalysis) -> str:
    """``saddle`` / ``drift`` / ``ambiguous`` from a stage analysis (see module docstring)."""
    if a.competing == 0:
        return "drift"  # every input holds one word: attention has nothing to choose between
    if not a.has_signal:
        return "saddle"
    return "drift" if a.identified >= 0.5 else "ambiguous"


def predict(dist: Distribution, eps: float = 1e-3, training: Training | None = None) -> Prediction:
    """Predict how the toy model learns on ``dist`` (numpy/scipy only; the derivation is cached).

    ``eps``: the gradient-flow saddle start; ``training``: the run whose optimizer steps are
    predicted (default: ``ktiw train``'s defaults).
    """
    training = (training or Training()).validate()
    if not (eps > 0 and math.isfinite(eps)) or eps > MAX_INIT_SCALE:
        raise KtiwError(f"--eps must be a positive number <= {MAX_INIT_SCALE:g}, got {eps}")
    if not isinstance(dist, EmpiricalDistribution) and (
        dist.src_len > MAX_LENGTH or dist.n_in * dist.n_out > MAX_VOCAB**2
    ):
        raise KtiwError(
            f"{dist.spec} is too large to analyse here "
            f"(named families: at most L={MAX_LENGTH} and V={MAX_VOCAB})"
        )
    if isinstance(dist, EmpiricalDistribution):
        # the stage analysis holds about 16 float64 (T x L) arrays for at least one line at once
        L, T = int(dist.src_len), int(dist.tgt_len)
        check_memory(
            f"analysing {dist.spec} (longest lines: {L} input, {T} output tokens)",
            16 * 8 * T * L,
            "shorten the longest lines",
        )
    a = analyse(dist)
    regime = classify(a)
    kv = copy_reduction(dist)
    takeoff = None
    eigs = None
    velocity = a.velocity_mean
    reduction = None
    if kv is not None and kv[0] >= 2:
        from .reduction import numeric

        k, V = kv
        f = numeric()
        velocity = float(f.rhs(0.0, 0.0, k, V)[0])
        reduction = f"copy k={k} of V={V}"
        takeoff = cached_takeoff(k, V, eps if k == V else 0.0)
        if k == V:
            J = np.array(f.jacobian(0.0, 0.0, k, V), dtype=np.float64).reshape(2, 2)
            eigs = sorted(float(e) for e in np.linalg.eigvals(J).real)
    reason = _reason(regime, a, kv, takeoff, eps, dist)
    steps = predict_steps(dist, training, kv)
    return Prediction(
        spec=dist.spec,
        regime=regime,
        reason=reason,
        ktiw_margin=a.margin_min,
        ktiw_margin_mean=a.margin_mean,
        initial_ktiw_velocity=velocity,
        ktiw_learnable=a.correct_mean > 0 and (a.has_signal or a.competing == 0),
        attention_learnable=regime == "drift",
        takeoff_time=takeoff,
        eps=eps,
        fixed_point_eigenvalues=eigs,
        ambiguity=a.ambiguity,
        identified=a.identified,
        reduction=reduction,
        tokens_analysed=a.n_tokens,
        exact=a.exact,
        predicted_alignment=None if a.aligned else _alignment_rows(dist, a),
        optimizer=training.optimizer,
        lr=training.lr,
        batch_size=training.batch_size,
        init=str(training.init),
        steps=training.steps,
        takeoff_step=steps.takeoff_step,
        takeoff_step_range=steps.takeoff_step_range,
        success_probability=steps.success_probability,
        method=steps.method,
        step_note=steps.note,
        simulated_seeds=steps.simulated_seeds,
        success_interval=steps.success_interval,
    )


def _alignment_rows(dist: Distribution, a: StageAnalysis) -> list[list[int]]:
    lens = getattr(dist, "tgt_lens", np.full(a.target.shape[0], a.target.shape[1]))
    return [a.target[e, : int(lens[e])].tolist() for e in range(min(ALIGNMENT_SHOWN, a.target.shape[0]))]


def _reason(
    regime: str,
    a: StageAnalysis,
    kv: tuple[int, int] | None,
    takeoff: float | None,
    eps: float,
    dist: Distribution,
) -> str:
    if regime == "saddle":
        head = "no KTIW signal: every input word co-occurs alike with every output, attention gets no push"
        if kv is not None and kv[0] >= 2:
            k = kv[0]
            return f"{head}; saddle with eigenvalues +-1/k^2 = +-{1 / k**2:.3g}, escape from eps={eps:g} only"
        return head
    if a.competing == 0:
        return "every input holds a single word: attention is trivially on it; KTIW " + (
            "grows from the start" if a.correct_mean > 0 else "has nothing to learn (one output word)"
        )
    if regime == "drift":
        who = "the aligned word" if a.aligned else "one input word"
        head = (
            f"KTIW signal picks {who} for {a.identified:.0%} of target tokens, attention drifts to it at once"
        )
    else:
        head = (
            f"KTIW signal, but it singles out the word for only {a.identified:.0%} of target tokens "
            f"({a.ambiguity:.0%} tied between words that co-occur alike)"
        )
    if kv is not None and kv[0] >= 2:
        return head
    if kv is not None:
        return f"{head}; a single position: nothing to attend to, no takeoff"
    return f"{head}; the 2-D copy reduction does not apply ({_no_reduction_reason(dist)}), no takeoff time"
