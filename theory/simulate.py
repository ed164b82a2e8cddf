"""The toy model trained as the user trains it, many seeds at once, in numpy.

Where no reduction is exact (random ``normal:S`` initialisation, minibatches on distributions
whose per-example gradients are not symmetric) the prediction is a simulation of the toy model
itself: ``S`` seeds, each with its own initialisation and data stream, updated by
:class:`~ktiw.theory.optimizers.NumpyOptimizer`.  The gradients are the derived stage-1/2
gradients of :mod:`.toy_model` written as batched matrix products (the tests check them
against :func:`ktiw.theory.toy_model.gradients`)::

    s = alpha X,   G = (softmax(s) - onehot(y)) / (n T),
    dX = alpha^T G  (scattered to the rows x_l of B),   dalpha = G X^T,
    da = alpha (dalpha - sum_l alpha dalpha).

Takeoff of a seed: the first step after which the attention mass on the gold source position,
averaged over target tokens, reaches 1/2.  ``gd`` uses batches of :data:`GD_BATCH` fresh
examples as its estimate of the full-batch gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ktiw.core.errors import KtiwError, NumericOverflowError
from ktiw.core.limits import MAX_PREDICT_SECONDS, SIM_UNITS_PER_SECOND, check_time, report_progress
from ktiw.core.training import Training
from ktiw.data.distribution import Distribution

from .optimizers import NumpyOptimizer, adam_step_bound

MAX_ENTRIES = 2e7
"""Largest ``seeds x |I| x |O|`` the simulation allocates (about 80 MB of float32 ``B``)."""
GD_BATCH = 1024
DTYPE = np.float32
"""``ktiw train``'s default dtype."""
WORK_BUDGET = 1.2e10
"""Work units per prediction (:func:`seed_count`); the seed count is chosen to fit, in [4, 64]."""


@dataclass(frozen=True)
class Simulation:
    """Per-seed takeoff steps (``nan``: not within the budget) and their summary."""

    takeoff_steps: np.ndarray
    steps: int
    bound_only: bool = False
    """Whether Adam's step bound settled every seed without training."""

    @property
    def n_seeds(self) -> int:
        return int(self.takeoff_steps.size)

    @property
    def successes(self) -> int:
        return int(np.isfinite(self.takeoff_steps).sum())

    @property
    def success_probability(self) -> float:
        return self.successes / self.n_seeds

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile of the takeoff step (:func:`takeoff_quantile`)."""
        return takeoff_quantile(self.takeoff_steps, q)


def takeoff_quantile(steps: np.ndarray | tuple[float, ...], q: float) -> float | None:
    """The ``q`` quantile (inverted CDF: an observed value) of per-seed takeoff steps, seeds
    that never take off (``nan`` or ``inf``) counted as beyond the budget; ``None`` if it is one."""
    arr = np.asarray(steps, dtype=np.float64)
    x = np.sort(np.where(np.isfinite(arr), arr, np.inf))
    v = float(np.quantile(x, q, method="inverted_cdf"))
    return v if math.isfinite(v) else None


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _output_softmax(s: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Softmax over the last axis of ``s [S, ...]``, whose rows are convex combinations of rows of
    ``B [S, I, O]``: shifting by each seed's ``max B`` (not each row's max) cannot overflow, and row
    sums are one matmul (both much faster than reductions over a short last axis)."""
    top = B.reshape(B.shape[0], -1).max(axis=1)
    if float(top.max() - B.min()) > 60.0:  # a range that could underflow: shift row by row
        return _softmax(s)
    e = np.exp(s - top.reshape((-1,) + (1,) * (s.ndim - 1)))
    z = e.reshape(-1, s.shape[-1]) @ np.ones(s.shape[-1], dtype=s.dtype)
    e /= z.reshape((*s.shape[:-1], 1))
    return e


def batched_gradients(
    B: np.ndarray, a: np.ndarray, src: np.ndarray, tgt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Token-mean gradients for ``S`` seeds: ``B [S, I, O]``, ``a [S, T, L]``, ``src [S, n, L]``,
    ``tgt [S, n, T]`` -> ``(dB [S, I, O], da [S, T, L])`` (see module docstring).

    Laid out as ``[S, position, example * output]`` so each product is one matmul per seed;
    the scatter of ``dX`` to the rows of ``B`` is one sparse product.
    """
    from scipy import sparse

    S, n, L = src.shape
    T = tgt.shape[2]
    n_in, n_out = B.shape[1:]
    alpha = _softmax(a)  # [S, T, L]
    rows = (src.transpose(0, 2, 1) + (np.arange(S) * n_in)[:, None, None]).reshape(-1)  # [S*L*n]
    X = np.take(B.reshape(S * n_in, n_out), rows, axis=0).reshape(S, L, n * n_out)  # rows B[x_l]
    G = _output_softmax(np.matmul(alpha, X).reshape(S, T, n, n_out), B).reshape(-1)  # p
    gold = (np.arange(S * T * n) * n_out) + tgt.transpose(0, 2, 1).reshape(-1)
    G[gold] -= 1.0
    G = G.reshape(S, T, n * n_out)
    G /= n * T
    dX = np.matmul(alpha.transpose(0, 2, 1), G).reshape(S * L * n, n_out)
    scatter = sparse.csc_array(
        (np.ones(rows.size, dtype=B.dtype), rows, np.arange(rows.size + 1)), shape=(S * n_in, rows.size)
    )
    dB = np.asarray(scatter @ dX).reshape(S, n_in, n_out)
    dalpha = np.matmul(G, X.transpose(0, 2, 1))  # [S, T, L]
    da = alpha * (dalpha - (alpha * dalpha).sum(axis=-1, keepdims=True))
    return dB, da


def _gold(dist: Distribution, rng: np.random.Generator) -> np.ndarray:
    """The gold source position of each target token (fixed for the simulated families)."""
    b = dist.sample(64, rng)
    if b.align is None:
        raise KtiwError(f"{dist.spec} has no known alignment: the simulation has no takeoff to measure")
    if not (np.all(b.src_len == dist.src_len) and np.all(b.tgt_len == dist.tgt_len)):
        raise KtiwError(f"{dist.spec} has sequences of different lengths: the simulation needs fixed lengths")
    if not np.all(b.align == b.align[:1]):
        raise KtiwError(f"{dist.spec} has no fixed alignment: positional attention has no gold position")
    return b.align[0]


def init_params(
    dist: Distribution, training: Training, n_seeds: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``B [S, I, O]`` and ``a [S, T, L]`` drawn as ``training.init`` says."""
    B = np.zeros((n_seeds, dist.n_in, dist.n_out), dtype=DTYPE)
    a = np.zeros((n_seeds, dist.tgt_len, dist.src_len), dtype=DTYPE)
    init = training.init
    if init.kind == "eps":
        if dist.n_in != dist.n_out or dist.src_len != dist.tgt_len:
            raise KtiwError("--init eps needs |I| = |O| and T = L (a copy task)")
        B[:, np.arange(dist.n_in), np.arange(dist.n_in)] = init.value
        a[:, np.arange(dist.src_len), np.arange(dist.src_len)] = init.value
    elif init.kind == "normal":
        B = rng.normal(0.0, init.value, B.shape).astype(DTYPE)
        a = rng.normal(0.0, init.value, a.shape).astype(DTYPE)
    return B, a


def gold_mass(a: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Mean over target tokens of the attention on the gold position, per seed."""
    alpha = _softmax(a)
    valid = gold >= 0
    t = np.arange(gold.size)[valid]
    return alpha[:, t, gold[valid]].mean(axis=1)


def adam_cannot_take_off(a: np.ndarray, gold: np.ndarray, training: Training) -> np.ndarray:
    """Per seed: whether Adam's step bound rules out gold mass 1/2 within the budget.

    Each logit moves by at most ``M`` (:func:`~ktiw.theory.optimizers.adam_step_bound`), so the
    gold weight of row ``t`` is at most ``e^{a_tg + M} / (e^{a_tg + M} + sum_{l != g} e^{a_tl - M})``.
    """
    M = adam_step_bound(training.steps, training.lr, training.beta1, training.beta2)
    shifted = a - M
    valid = gold >= 0
    t = np.arange(gold.size)[valid]
    shifted[:, t, gold[valid]] += 2 * M
    return gold_mass(shifted, gold) < 0.5


def seed_count(dist: Distribution, training: Training) -> int:
    """Seeds that fit :data:`WORK_BUDGET`, in [4, 64].

    A seed-step costs about ``n T O (40 + 3 L)`` units: three matmuls of ``n T L O`` multiply-adds
    and some forty elementwise passes over the ``n T O`` output logits (measured, see benchmarks/).
    """
    n = GD_BATCH if training.full_batch else training.batch_size
    per_seed = float(n * dist.tgt_len * dist.n_out * (40 + 3 * dist.src_len) * training.steps)
    return int(min(64, max(4, WORK_BUDGET // max(per_seed, 1.0))))


def simulate(dist: Distribution, training: Training, n_seeds: int | None = None, seed: int = 0) -> Simulation:
    """Train ``n_seeds`` toy models as ``training`` says; stop early once every seed took off."""
    S = seed_count(dist, training) if n_seeds is None else n_seeds
    n = GD_BATCH if training.full_batch else training.batch_size
    work = float(S) * n * dist.tgt_len * dist.n_out * (40 + 3 * dist.src_len) * training.steps
    check_time(
        f"simulating {S} seeds of the toy model on {dist.spec} for {training.steps} steps",
        work / SIM_UNITS_PER_SECOND,
        MAX_PREDICT_SECONDS,
        "reduce --steps or --batch-size",
    )
    if float(S) * dist.n_in * dist.n_out > MAX_ENTRIES:
        raise KtiwError(
            f"{dist.spec} is too large to simulate ({S} seeds x {dist.n_in} x {dist.n_out} KTIW entries)"
        )
    rng = np.random.default_rng([7, seed])
    gold = _gold(dist, rng)
    B, a = init_params(dist, training, S, rng)
    takeoff = np.full(S, np.nan)
    mass = gold_mass(a, gold)
    takeoff[mass >= 0.5] = 0
    if training.optimizer == "adam" and bool(np.all(adam_cannot_take_off(a, gold, training) | (mass >= 0.5))):
        return Simulation(takeoff, training.steps, bound_only=True)
    n = GD_BATCH if training.full_batch else training.batch_size
    opt = NumpyOptimizer(training, [B, a])
    for step in range(1, training.steps + 1):
        if not np.isnan(takeoff).any():
            break
        batch = dist.sample(S * n, rng)
        src = batch.src.reshape(S, n, -1)
        tgt = batch.tgt.reshape(S, n, -1)
        with np.errstate(all="ignore"):  # an overflow is caught below, as one line
            dB, da = batched_gradients(B, a, src, tgt)
            opt.step([B, a], [dB, da])
            mass = gold_mass(a, gold)
        if not (np.all(np.isfinite(mass)) and np.all(np.isfinite(B)) and np.all(np.isfinite(a))):
            raise NumericOverflowError(
                f"the simulation of {dist.spec} ({training.optimizer}, lr {training.lr:g}) overflowed at "
                f"step {step}: the toy model's parameters left the range float32 can hold; use a smaller --lr"
            )
        takeoff[np.isnan(takeoff) & (mass >= 0.5)] = step
        if step % 100 == 0:
            report_progress(f"simulating {dist.spec}", step, training.steps)
    return Simulation(takeoff, training.steps)
