"""The theory's toy model as a trainable torch model, ``S`` seeds at once.

Parameters per seed: the KTIW matrix ``B [|I|, |O|]`` and positional attention logits
``a [T, L]`` shared by all examples (``T``, ``L``: the distribution's maximum lengths)::

    alpha[t, :] = softmax_l a[t, :]        (over the example's valid positions l < L_x)
    s_t(o)      = sum_l alpha[t, l] B[x_l, o]
    loss        = mean over target tokens of -log softmax(s_t)[y_t]   (token mean)

Initialisation: ``zero`` (``B = 0``, ``a = 0``: the theory's starting point; every seed
starts the same and differs only by its data stream), ``eps`` (``B = eps I``,
``a = eps I``: the symmetry-breaking start of the copy reduction; needs ``|I| = |O|`` and
``T = L``) or ``normal`` (i.i.d. ``N(0, sigma^2)`` entries, per seed).

Probes: ``alpha`` as above; ``beta[t, l] = B[x_l, y_t] - logsumexp_{o != y_t} B[x_l, o]``
(the output with the attention put entirely on position ``l``: log-odds of ``y_t``);
``grad[n, t, l] = d loss / d a_n[t, l]``, the gradient with respect to per-example copies
of the logits (its sum over ``n`` is ``d loss / d a``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from ktiw.core.errors import KtiwError
from ktiw.core.limits import MAX_INIT_SCALE
from ktiw.core.validation import bounds
from ktiw.data.distribution import Batch, Distribution

from .. import batched as bt
from ..precision import full_precision
from . import hooks
from .base import SeedModel
from .hooks import Cache, hook
from .loss import token_mean_nll


@dataclass
class ToyConfig:
    """Options of the toy model."""

    init: str = "zero"
    """``zero`` (B = 0, a = 0), ``eps`` (B = eps I, a = eps I) or ``normal`` (every entry of B
    and a i.i.d. ``N(0, sigma^2)``, drawn from the seed's generator)."""
    eps: float = field(default=1e-3, metadata=bounds(gt=0, max=MAX_INIT_SCALE))
    sigma: float = field(default=0.1, metadata=bounds(gt=0, max=MAX_INIT_SCALE))
    """Standard deviation of the ``normal`` init."""


@dataclass
class ToyInputs:
    """``src [S, B, L]``, ``tgt [S, B, T]`` (padding replaced by 0) and validity masks."""

    src: Tensor
    tgt: Tensor
    src_valid: Tensor
    tgt_valid: Tensor
    src_len: np.ndarray
    tgt_len: np.ndarray


class ToyModel(SeedModel):
    """``S`` seeds of the toy model (see module docstring)."""

    def __init__(self, cfg: ToyConfig, dist: Distribution, n_seeds: int, *, uniform: bool = False) -> None:
        super().__init__()
        if cfg.init not in ("zero", "eps", "normal"):
            raise KtiwError(f"toy init must be zero, eps or normal, got {cfg.init!r}")
        if cfg.init == "normal" and not (cfg.sigma > 0 and np.isfinite(cfg.sigma)):
            raise KtiwError(f"toy sigma must be a positive number, got {cfg.sigma}")
        if cfg.init == "eps" and (dist.n_in != dist.n_out or dist.src_len != dist.tgt_len):
            raise KtiwError("toy init=eps needs |I| = |O| and T = L (a copy task)")
        self.cfg, self.n_seeds, self.uniform = cfg, n_seeds, uniform
        self.B = nn.Parameter(torch.zeros(n_seeds, dist.n_in, dist.n_out))
        self.a = nn.Parameter(torch.zeros(n_seeds, dist.tgt_len, dist.src_len))

    def init_seed(self, s: int, gen: torch.Generator) -> None:
        with torch.no_grad():
            self.B[s].zero_()
            self.a[s].zero_()
            if self.cfg.init == "eps":
                self.B[s].fill_diagonal_(self.cfg.eps)
                self.a[s].fill_diagonal_(self.cfg.eps)
            elif self.cfg.init == "normal":
                for p in (self.B, self.a):
                    draw = torch.randn(p.shape[1:], generator=gen, dtype=torch.float64)
                    p[s].copy_(draw * self.cfg.sigma)

    def prepare(self, batches: Sequence[Batch]) -> ToyInputs:
        L, T = self.a.shape[2], self.a.shape[1]
        S, n = len(batches), len(batches[0])
        src = np.zeros((S, n, L), np.int64)
        tgt = np.zeros((S, n, T), np.int64)
        for s, b in enumerate(batches):
            src[s, :, : b.src.shape[1]] = np.maximum(b.src, 0)
            tgt[s, :, : b.tgt.shape[1]] = np.maximum(b.tgt, 0)
        src_len = np.stack([b.src_len for b in batches]).astype(np.int64)
        tgt_len = np.stack([b.tgt_len for b in batches]).astype(np.int64)
        dev = self.device
        return ToyInputs(
            src=torch.as_tensor(src, device=dev),
            tgt=torch.as_tensor(tgt, device=dev),
            src_valid=torch.as_tensor(np.arange(L)[None, None] < src_len[..., None], device=dev),
            tgt_valid=torch.as_tensor(np.arange(T)[None, None] < tgt_len[..., None], device=dev),
            src_len=src_len,
            tgt_len=tgt_len,
        )

    def logits(self, inp: ToyInputs) -> Tensor:
        """Per-example attention logits ``[S, B, T, L]`` (zeros for the uniform model)."""
        S, n = inp.src.shape[:2]
        a = torch.zeros_like(self.a) if self.uniform else self.a
        return a.unsqueeze(1).expand(S, n, *a.shape[1:])

    def outputs(self, inp: ToyInputs, logits: Tensor, cache: Cache | None = None) -> tuple[Tensor, Tensor]:
        """Output logits ``s [S, B, T, |O|]`` and ``alpha [S, B, T, L]``; the readout's values
        are the rows ``B[x_l]`` (hook points, see :mod:`.hooks`)."""
        logits = hook(cache, hooks.ATTN_LOGITS, logits)
        masked = logits.masked_fill(~inp.src_valid.unsqueeze(2), float("-inf"))
        alpha = hook(cache, hooks.ATTN, torch.softmax(full_precision(masked), dim=-1))
        Bx = hook(cache, hooks.READOUT_VALUES, bt.embed(self.B, inp.src))  # [S, B, L, |O|]: rows B[x_l]
        return hook(cache, hooks.OUT, torch.matmul(alpha, Bx)), alpha

    def targets(self, inputs: ToyInputs) -> Tensor:
        return inputs.tgt

    def token_mean_nll(self, s: Tensor, inp: ToyInputs) -> Tensor:
        """Each seed's mean NLL over its valid target tokens, ``[S]`` (:func:`.loss.token_mean_nll`)."""
        return token_mean_nll(s, inp.tgt, inp.tgt_valid)

    def losses(self, inputs: ToyInputs, cache: Cache | None = None) -> Tensor:
        s, _ = self.outputs(inputs, self.logits(inputs), cache)
        return self.token_mean_nll(s, inputs)
