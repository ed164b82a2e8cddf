"""What the model-matched prediction measures on the real model, read from its hook points.

Two measurements, neither of which trains a model to its budget:

* **Start** (:func:`start_statistics`): ``n`` seeds built and initialised exactly as
  ``ktiw train`` builds them (seed ``s`` from ``torch.Generator().manual_seed(s)``), one
  forward pass on fixed samples, no training.  Per seed: the reduced coordinates below.
* **Pilot** (:func:`pilot`): the first ``P`` seeds trained for ``m`` steps exactly as
  ``ktiw train`` trains them (same model, initialisation, optimizer, learning rate, batch,
  data stream ``np.random.default_rng([1, s])``), the reduced coordinates read every
  ``every`` steps.  With ``uniform=True`` the same with attention fixed to uniform (the
  non-attention route's pilot).

Reduced coordinates of one seed on samples with a gold alignment ``g(n, t)`` (the toy's
copy reduction, :mod:`ktiw.theory.reduction`, reads ``delta = b_d - b_o`` and
``gamma = a_d - a_o``; a real model has no such parameters, so they are read from what the
model computes), averaged over the scored target tokens ``(n, t)`` with ``g >= 0``:

* ``mass``: the attention weight on the gold position, ``ATTN[t, g]`` (mean over heads for
  a multi-head model): exactly the ``attn_mass`` curve column;
* ``kgap``: the KTIW probe's gap ``beta[t, g] - mean_{l != g, l < L_n} beta[t, l]``, where
  ``beta`` is :func:`ktiw.empirics.probes.beta_probe` (log-odds of ``y_t`` with every head
  attending to position ``l`` alone);
* ``token_acc``: the share of scored tokens whose argmax is the target.

For the toy model at a copy-symmetric point both are exact functions of the reduced state
(``mass = alpha_d``; ``kgap = delta - ln(V-1) + ln(e^delta + V - 2)``, see
:func:`ktiw.theory.matched.kgap_of_delta`), which is how the join
(:mod:`ktiw.matched`) maps a real model's measurements into the toy's coordinates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.func import functional_call

from ktiw.data.distribution import Batch, Distribution

from .models import build_model, hooks
from .models.base import SeedModel
from .optim import seed_optimizer
from .precision import autocast, full_precision
from .probes import beta_probe

EVAL_SEED = 54321
"""Seed of the fixed samples the measurements are read on (not the trainer's ``eval_seed``)."""


@dataclass
class Reduced:
    """Reduced coordinates per seed (arrays ``[S]``, see module docstring)."""

    mass: np.ndarray
    kgap: np.ndarray
    token_acc: np.ndarray
    positions: np.ndarray
    """Mean number of positions the attention spreads over (``ATTN > 0``) per scored token."""


@dataclass
class PilotTrace:
    """A pilot: ``steps [K]`` and the reduced coordinates at each, arrays ``[K, P]``."""

    steps: np.ndarray
    mass: np.ndarray
    kgap: np.ndarray
    token_acc: np.ndarray
    seconds: float = 0.0
    seed_steps: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()}


@dataclass
class Training:
    """The part of ``ktiw train``'s config that a pilot needs."""

    model: str
    model_config: dict[str, Any]
    lr: float
    batch_size: int
    optimizer: str = "adam"
    momentum: float = 0.0
    dtype: str = "float32"
    precision: str = "fp32"
    """``fp32`` or ``bf16`` (the training forward under :func:`ktiw.empirics.precision.autocast`)."""


def reduced_coordinates(model: SeedModel, inputs: Any, batch: Batch) -> Reduced:
    """The reduced coordinates of every seed of ``model`` on the prepared ``inputs`` of ``batch``
    (one forward pass with a hook cache; the ``beta`` probe from the readout hook points)."""
    T, L = int(batch.tgt_len.max()), int(batch.src_len.max())
    cache = hooks.Cache()
    params = {k: v.detach() for k, v in model.named_parameters()}
    with torch.no_grad():
        functional_call(model, params, (inputs,), {"cache": cache})
        target = model.targets(inputs)
        beta = beta_probe(model, cache, target, T, L).to("cpu", torch.float64).numpy()
        alpha = cache[hooks.ATTN]
        if alpha.dim() == 5:  # [S, B, nH, T', L']: the mean over heads, as the attn_mass column
            alpha = alpha.mean(dim=2)
        alpha = alpha[:, :, :T].to("cpu", torch.float64).numpy()
        pred = cache[hooks.OUT][:, :, :T].argmax(-1)
        correct = (pred == target[:, :, :T]).cpu().numpy()
    return reduce_arrays(alpha, beta, correct, batch)


def reduce_arrays(alpha: np.ndarray, beta: np.ndarray, correct: np.ndarray, batch: Batch) -> Reduced:
    """:class:`Reduced` from ``alpha [S, N, T, L']``, ``beta [S, N, T, L]`` and
    ``correct [S, N, T]`` (numpy; the definitions of the module docstring)."""
    T = beta.shape[2]
    assert batch.align is not None
    gold = batch.align[:, :T]
    scored = np.arange(T)[None, :] < batch.tgt_len[:, None]
    n, t = np.nonzero(scored & (gold >= 0))
    g = gold[n, t]
    mass = alpha[:, n, t, g].mean(axis=1)
    b = beta[:, n, t, :]  # [S, M, L]
    valid = np.arange(b.shape[-1])[None, :] < batch.src_len[n][:, None]  # [M, L]
    others = valid.copy()
    others[np.arange(g.size), g] = False
    b_gold = b[:, np.arange(g.size), g]
    b_others = np.where(others[None], b, 0.0).sum(-1) / np.maximum(others.sum(-1), 1)[None]
    kgap = (b_gold - b_others).mean(axis=1)
    acc = (correct & scored[None]).sum(axis=(1, 2)) / max(int(scored.sum()), 1)
    positions = (alpha[:, n, t, :] > 0).sum(-1).mean(axis=1).astype(np.float64)
    return Reduced(mass, kgap, acc.astype(np.float64), positions)


def _build(training: Training, dist: Distribution, seeds: list[int], uniform: bool) -> SeedModel:
    model, _ = build_model(training.model, dict(training.model_config), dist, len(seeds), uniform=uniform)
    model = model.to({"float32": torch.float32, "float64": torch.float64}[training.dtype])
    for k, seed in enumerate(seeds):
        model.init_seed(k, torch.Generator().manual_seed(seed))
    return model


def fixed_samples(dist: Distribution, n: int) -> Batch:
    """The measurements' fixed samples (:data:`EVAL_SEED`)."""
    return dist.sample(n, np.random.default_rng([2, EVAL_SEED]))


def start_statistics(training: Training, dist: Distribution, n_seeds: int, samples: int = 32) -> Reduced:
    """Reduced coordinates of seeds ``0 .. n_seeds-1`` at initialisation (no training)."""
    seeds = list(range(n_seeds))
    model = _build(training, dist, seeds, uniform=False)
    model.eval()
    batch = fixed_samples(dist, samples)
    return reduced_coordinates(model, model.prepare([batch] * n_seeds), batch)


def pilot(
    training: Training,
    dist: Distribution,
    seeds: list[int],
    steps: int,
    every: int,
    samples: int = 32,
    uniform: bool = False,
) -> PilotTrace:
    """Train ``seeds`` for ``steps`` steps as ``ktiw train`` does; reduced coordinates every
    ``every`` steps (and at 0 and ``steps``)."""
    t0 = time.perf_counter()
    model = _build(training, dist, seeds, uniform=uniform)
    S = len(seeds)
    opt = seed_optimizer(training.optimizer, model.named_parameters(), S, training.lr, training.momentum)
    rngs = [np.random.default_rng([1, s]) for s in seeds]
    batch = fixed_samples(dist, samples)
    fixed = model.prepare([batch] * S)
    at, rows = [], []

    def read(step: int) -> None:
        model.eval()
        rows.append(reduced_coordinates(model, fixed, batch))
        model.train()
        at.append(step)

    read(0)
    for step in range(1, steps + 1):
        inputs = model.prepare([dist.sample(training.batch_size, r) for r in rngs])
        model.zero_grad(set_to_none=True)
        with autocast(training.precision, "cpu"):
            loss = full_precision(model.losses(inputs))
        loss.sum().backward()
        opt.update(None, {n: p.grad for n, p in model.named_parameters() if p.grad is not None})
        if step % every == 0 or step == steps:
            read(step)
    return PilotTrace(
        steps=np.asarray(at, dtype=np.float64),
        mass=np.stack([r.mass for r in rows]),
        kgap=np.stack([r.kgap for r in rows]),
        token_acc=np.stack([r.token_acc for r in rows]),
        seconds=time.perf_counter() - t0,
        seed_steps=S * steps,
    )
