"""What a training will cost, known before it starts: its memory (:func:`check_training_memory`,
refused in one line beyond the machine's) and a deliberately long estimate of its CPU time
(:func:`estimate_training_seconds`, the ``6 N D`` rule; ``ktiw train`` and ``ktiw sweep``
refuse beyond :data:`~ktiw.core.limits.MAX_TRAIN_SECONDS` without ``--allow-large``)."""

from __future__ import annotations

import torch

from ktiw.core.limits import (
    TRAIN_FLOPS_PER_SECOND,
    TRAIN_STEP_SECONDS,
    check_memory,
)
from ktiw.data.distribution import Distribution

from .models import build_model
from .models.base import activation_model
from .train_config import DTYPES, TrainConfig


def check_training_memory(cfg: TrainConfig, dist: Distribution) -> None:
    """Refuse (one line, size and limit) a run whose dominant arrays cannot fit in memory.

    Counted, for the model actually built: parameters with their gradient and two Adam moments
    (the model is built on the ``meta`` device first, so nothing is allocated), one step's
    sampled data (families draw a random key per vocabulary word), the activations -- twice the
    bytes autograd saves for the forward pass, ``S x fixed + S x max(batch, eval_samples) x
    per_example`` with both measured on one seed of the model at batches 2 and 4
    (:func:`~ktiw.empirics.models.base.activation_model`; twice: the saved tensors and their
    gradients in the backward pass) -- and one evaluation's probe arrays.  Before the model exists, the output
    logits ``S x batch x (L + T) x |O|`` and the ``T x L`` attention stand for the activations."""
    S, B, N = len(cfg.seeds), cfg.batch_size, cfg.eval_samples
    L, T, n_in, n_out = int(dist.src_len), int(dist.tgt_len), int(dist.n_in), int(dist.n_out)
    width = 4 if cfg.dtype == "float32" else 8
    what = f"training {S} seed(s) of {cfg.model} on {dist.spec} (L={L}, |I|={n_in}, |O|={n_out})"
    hint = "reduce the vocabulary, the length, --seeds, --batch-size or the model size"
    rows = S * max(B, N)
    parts = {  # first without the model: sizes too large even to describe as tensors stop here
        "data": 16.0 * rows * (n_in + L + T),
        "activations": 3.0 * width * rows * ((L + T + 2) * n_out + T * L),
        # probes: one evaluation's [S, N, T, L] arrays, and a beta probe that may score every
        # output word at every (target, source) pair
        "probes": 8.0 * S * N * T * L + width * S * N * T * L * n_out,
    }
    check_memory(what, sum(parts.values()), f"mostly {max(parts, key=parts.__getitem__)}; {hint}")
    with torch.device("meta"):
        model, _ = build_model(cfg.model, cfg.model_config, dist, S, uniform=cfg.uniform)
    parts["parameters"] = 4.0 * width * sum(p.numel() for p in model.parameters())
    parts["probes"] += 8.0 * model.probe_arrays * S * N * T * L
    check_memory(what, sum(parts.values()), f"mostly {max(parts, key=parts.__getitem__)}; {hint}")
    # built for real (its parameters fit: checked above); measured on seed 0's slice
    model, _ = build_model(cfg.model, cfg.model_config, dist, S, uniform=cfg.uniform)
    model = model.to(DTYPES[cfg.dtype])
    model.init_seed(0, torch.Generator().manual_seed(cfg.seeds[0]))  # as the trainer will
    fixed, per_example = activation_model(model, dist)
    parts["activations"] = max(parts["activations"], 2.0 * (S * fixed + rows * per_example))
    check_memory(what, sum(parts.values()), f"mostly {max(parts, key=parts.__getitem__)}; {hint}")


def estimate_training_seconds(cfg: TrainConfig, dist: Distribution) -> float:
    """A deliberately long estimate of one training's time on one CPU thread: the ``6 N D`` rule
    (forward and backward cost about six floating-point operations per parameter and token;
    ``N``: the parameters of all seeds, from the model built on the ``meta`` device; ``D``: the
    ``batch x (L + T)`` tokens each seed sees per step) over ``steps``, at
    :data:`~ktiw.core.limits.TRAIN_FLOPS_PER_SECOND`, plus
    :data:`~ktiw.core.limits.TRAIN_STEP_SECONDS` per step.  Its job is to catch ``--steps 1e9``
    before it starts, not to schedule."""
    numel = _parameter_count(cfg, dist)
    tokens = float(cfg.batch_size) * (int(dist.src_len) + int(dist.tgt_len))
    L_T = int(dist.src_len) + int(dist.tgt_len)
    evals = (cfg.steps // cfg.eval_every + 2) * 2.0 * numel * cfg.eval_samples * L_T
    flops = 6.0 * numel * tokens * cfg.steps + evals
    return flops / TRAIN_FLOPS_PER_SECOND + cfg.steps * TRAIN_STEP_SECONDS


_PARAMETER_COUNTS: dict[str, float] = {}
""":func:`_parameter_count` per model, model configuration, distribution shape, seed count and
attention mode: a sweep estimates thousands of runs that share a few models (building each on
the ``meta`` device took about 1 ms a run: 3,000 runs in 3 s)."""


def _parameter_count(cfg: TrainConfig, dist: Distribution) -> float:
    """Parameters of all seeds of ``cfg``'s model on ``dist``, built once on the ``meta`` device."""
    shape = (dist.spec, dist.n_in, dist.n_out, dist.src_len, dist.tgt_len, dist.aligned, dist.shared_vocab)
    key = repr((cfg.model, sorted(cfg.model_config.items()), shape, len(cfg.seeds), cfg.uniform))
    if key not in _PARAMETER_COUNTS:
        with torch.device("meta"):
            model, _ = build_model(cfg.model, cfg.model_config, dist, len(cfg.seeds), uniform=cfg.uniform)
        _PARAMETER_COUNTS[key] = float(sum(p.numel() for p in model.parameters()))
    return _PARAMETER_COUNTS[key]
