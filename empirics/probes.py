"""Evaluation of any model from its hook points, and the per-seed metrics of ``curves.csv``.

:func:`evaluate` runs one forward pass with a :class:`~ktiw.empirics.models.hooks.Cache` and
computes, for every model that exposes the hook points (see :mod:`ktiw.empirics.models.hooks`):

* ``alpha[t, l]`` = ``ATTN`` (mean over heads for a multi-head model);
* ``grad[t, l]`` = ``d loss / d ATTN_LOGITS[t, l]`` (the loss summed over seeds, so each
  seed's slice is the derivative of that seed's loss; mean over heads);
* ``beta[t, l]`` (the KTIW probe) = log-odds of the target ``y_t`` when every head attends
  to position ``l`` only: ``log_odds(readout(READOUT_STATE[t] + sum_heads READOUT_VALUES[l]), y_t)``,
  for all ``(t, l)`` in one batched pass (a few seeds at a time to bound memory).

Over the scored target tokens ``(n, t)`` with ``t < tgt_len[n]``:

* ``token_acc``: fraction with ``argmax_o p_t(o) = y_t``;
* ``attn_acc``: fraction of tokens with a gold position (``align[n, t] >= 0``) where the
  attention's argmax (over every attended position, EOS included) is the gold position;
  ``attn_acc_prev`` / ``attn_acc_next``: the same against ``align - 1`` / ``align + 1``;
* ``attn_mass``: mean over the same tokens of the attention weight ``alpha[t, align[t]]`` on
  the gold position (the quantity whose reaching 1/2 is the theory's takeoff);
* ``beta_acc``: the same with the argmax over source positions ``l < src_len[n]`` of the
  KTIW probe ``beta[t, :]``;
* ``loss``: the model's training objective on the samples.

Attention metrics are NaN when the distribution has no alignment or the model no attention.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.func import functional_call

from .models import hooks
from .models.base import Evaluation, SeedModel, log_odds, nan_outside

BETA_CHUNK_BYTES = 256 * 2**20
"""Working memory of one chunk of seeds in the batched ``beta`` pass."""

COLUMNS = ("loss", "token_acc", "attn_acc", "attn_mass", "attn_acc_prev", "attn_acc_next", "beta_acc")


def _match_rate(argmax: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``mean over mask of argmax == target`` for each seed (``argmax [S, N, T]``)."""
    hits = ((argmax == target[None]) & mask[None]).sum(axis=(1, 2))
    count = mask.sum()
    return hits / count if count else np.full(argmax.shape[0], np.nan)


def _gold_mass(alpha: np.ndarray | None, gold: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``mean over mask of alpha[s, n, t, gold[n, t]]`` for each seed (``alpha [S, N, T, L]``)."""
    if alpha is None or not mask.any():
        return np.full(1 if alpha is None else alpha.shape[0], np.nan)
    n, t = np.nonzero(mask)
    return alpha[:, n, t, gold[n, t]].mean(axis=1)


def seed_metrics(ev: Evaluation, tgt_len: np.ndarray, align: np.ndarray | None) -> dict[str, np.ndarray]:
    """The :data:`COLUMNS` metrics, each an array ``[S]``."""
    S, _, T = ev.correct.shape
    scored = np.arange(T)[None, :] < tgt_len[:, None]  # [N, T]
    out = {
        "loss": np.asarray(ev.loss, dtype=np.float64),
        "token_acc": (ev.correct & scored[None]).sum(axis=(1, 2)) / max(int(scored.sum()), 1),
    }
    nan = np.full(S, np.nan)
    if align is None or ev.attn_argmax is None:
        out.update(attn_acc=nan, attn_mass=nan, attn_acc_prev=nan, attn_acc_next=nan)
    else:
        gold = align[:, :T]
        mask = scored & (gold >= 0)
        out["attn_acc"] = _match_rate(ev.attn_argmax, gold, mask)
        out["attn_acc_prev"] = _match_rate(ev.attn_argmax, gold - 1, mask)
        out["attn_acc_next"] = _match_rate(ev.attn_argmax, gold + 1, mask)
        out["attn_mass"] = _gold_mass(ev.alpha, gold, mask)
    if align is None or ev.beta is None:
        out["beta_acc"] = nan
    else:
        beta = np.where(np.isnan(ev.beta), -np.inf, ev.beta)
        gold = align[:, :T]
        out["beta_acc"] = _match_rate(beta.argmax(-1), gold, scored & (gold >= 0))
    return out


PROBE_HOOKS = (hooks.ATTN_LOGITS, hooks.ATTN, hooks.READOUT_VALUES)
"""The hook points ``alpha``, ``beta`` and ``grad`` are computed from (``READOUT_STATE`` is
optional: absent means zero)."""


def missing_hook_points(
    name: str, model_config: dict[str, Any], dist: Any, needed: tuple[str, ...] = PROBE_HOOKS
) -> list[str]:
    """The hook points of ``needed`` that model ``name`` (one seed, built for ``dist``) does not
    write in a forward pass over two samples (in the order of ``needed``)."""
    from .models import build_model

    model, _ = build_model(name, model_config, dist, 1, uniform=False)
    model.init_seed(0, torch.Generator().manual_seed(0))
    inputs = model.prepare([dist.sample(2, np.random.default_rng([3, 0]))])
    cache = hooks.Cache()
    with torch.no_grad():
        model.losses(inputs, cache)
    return [h for h in needed if h not in cache]


def evaluate(model: SeedModel, inputs: Any, seeds: list[int] | None = None) -> Evaluation:
    """Loss, accuracy and probe arrays of every seed of ``model`` on ``inputs`` (see module doc);
    with ``seeds``, of those seeds only (``inputs`` prepared for ``len(seeds)`` seeds).

    Parameters enter detached, so the only graph built is the one from the attention logits
    to the loss (for ``grad``); nothing is accumulated in the parameters' ``.grad``.  The model
    runs in eval mode (no dropout), its mode restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        return _evaluate(model, inputs, seeds)
    finally:
        model.train(was_training)


def _evaluate(model: SeedModel, inputs: Any, seeds: list[int] | None) -> Evaluation:
    T = int(inputs.tgt_len.max())
    L = int(inputs.src_len.max())
    cache = hooks.Cache(grad_of=[hooks.ATTN_LOGITS])
    params = {k: v.detach() for k, v in model.named_parameters()}
    rows = None
    if seeds is not None:
        rows = torch.as_tensor(seeds, device=next(iter(params.values())).device)
        params = {k: v[rows] for k, v in params.items()}
    with torch.enable_grad():
        losses = functional_call(model, params, (inputs,), {"cache": cache})
        logits = cache.get(hooks.ATTN_LOGITS)
        grad = None
        if logits is not None:
            (grad,) = torch.autograd.grad(losses.sum(), logits)
    with torch.no_grad():
        target = model.targets(inputs)
        pred = cache[hooks.OUT][:, :, :T].argmax(-1)
        src_len, tgt_len = inputs.src_len[0], inputs.tgt_len[0]

        def np_(x: Tensor) -> np.ndarray:
            return nan_outside(x[..., :T, :L].to("cpu", torch.float64).numpy(), src_len, tgt_len)

        ev = Evaluation(
            loss=losses.detach().to("cpu", torch.float64).numpy(),
            correct=(pred == target[:, :, :T]).cpu().numpy(),
        )
        if logits is None or grad is None:
            return ev
        alpha = cache[hooks.ATTN]
        if alpha.dim() == 5:  # [S, B, nH, T', L']: score the mean over heads, keep each head too
            ev.extra = {"alpha_heads": _heads_np(alpha, T, L, src_len, tgt_len)}
            ev.extra["grad_heads"] = _heads_np(grad, T, L, src_len, tgt_len)
            alpha, grad = alpha.mean(dim=2), grad.mean(dim=2)
        ev.attn_argmax = alpha[:, :, :T].argmax(-1).cpu().numpy()
        ev.alpha, ev.grad = np_(alpha), np_(grad)
        ev.beta = np_(beta_probe(model, cache, target, T, L, rows))
    return ev


def _heads_np(x: Tensor, T: int, L: int, src_len: np.ndarray, tgt_len: np.ndarray) -> np.ndarray:
    """``[S, N, nH, T, L]`` float32 per-head array, NaN outside the valid tokens/positions."""
    arr = x[..., :T, :L].to("cpu", torch.float64).numpy().transpose(0, 2, 1, 3, 4)
    return nan_outside(arr, src_len, tgt_len).transpose(0, 2, 1, 3, 4).astype(np.float32)


def beta_probe(
    model: SeedModel, cache: hooks.Cache, target: Tensor, T: int, L: int, rows: Tensor | None = None
) -> Tensor:
    """``beta [S, N, T, L]``: log-odds of ``target[t]`` with every head attending to ``l`` alone.

    All ``(t, l)`` pairs in one pass: ``pre[t, l] = state[t] + value[l]`` is formed by
    broadcasting, ``model.readout`` maps it to class logits; seeds go in chunks of at most
    :data:`BETA_CHUNK_BYTES` of readout input.  ``rows``: the model's seed slices the cache
    belongs to (default: all)."""
    values = cache[hooks.READOUT_VALUES]
    if values.dim() == 5:  # [S, B, nH, L', K]: every head one-hot on l
        values = values.sum(dim=2)
    values = values[:, :, :L]
    S, N, _, K = values.shape
    state = cache.get(hooks.READOUT_STATE)
    state = values.new_zeros(S, N, T, K) if state is None else state[:, :, :T]
    per_seed = N * T * L * K * values.element_size()
    chunk = max(1, BETA_CHUNK_BYTES // max(per_seed, 1))
    out = []
    for lo in range(0, S, chunk):
        seeds = slice(lo, min(lo + chunk, S))
        pre = state[seeds].unsqueeze(3) + values[seeds].unsqueeze(2)  # [s, N, T, L, K]
        logits = model.readout(pre, seeds if rows is None else rows[seeds])
        out.append(log_odds(logits, target[seeds, :, :T].unsqueeze(-1).expand(-1, -1, -1, L)))
    return torch.cat(out)
