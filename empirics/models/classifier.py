"""The paper's attention classifier, ``S`` seeds at once.

Input: a word sequence ``x_1 .. x_L`` (ragged lengths allowed; padding is masked); output:
the one-token label sequence ``(y,)`` with ``y in {0 = neg, 1 = pos}`` (the ``keyword``
family, ``label<TAB>tokens`` data files), so the probes have ``T = 1``.

Model (a gated, i.e. LSTM, encoder; one layer, unidirectional unless ``bidirectional``)::

    h_l   = LSTM(E[x])_l                  ([forward ; backward] with ``bidirectional``)
    a_l   = v . h_l                       (0 for the uniform model)
    p_l   = softmax_l a_l                 (valid positions)
    z     = sum_l p_l (W h_l)             (log-odds of pos)
    P(pos | x) = sigmoid(z),    loss = mean binary cross-entropy

``v`` and ``W`` are vectors of the size of ``h_l`` (no bias, as in the paper).  Initialisation:
embedding ``N(0, 1)``, LSTM ``U(+-1/sqrt(hidden))``, ``v`` and ``W`` ``U(+-1/sqrt(hidden))``.
A unidirectional encoder carries a keyword's evidence forward to every later ``h_l``, so
attention need not sit on the keyword itself; the bidirectional one spreads it both ways.

Probes (computed by :mod:`ktiw.empirics.probes` from the hook points; ``T = 1``, ``L`` = source
positions): ``alpha[0, l] = p_l``;
``beta[0, l]`` = log-odds of the *correct* label with the attention replaced by a one-hot on
``l``: ``(2y - 1) W h_l``; ``grad[0, l] = d loss / d a_l``, which for this model is
``(sigmoid(z) - y) p_l (W h_l - z)`` per example (divided by the batch size).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from ktiw.core.errors import KtiwError
from ktiw.core.validation import bounds
from ktiw.data.distribution import Batch, Distribution

from .. import batched as bt
from ..precision import full_precision
from . import hooks
from .base import SeedModel
from .hooks import Cache, hook


@dataclass
class ClassifierConfig:
    """Options of the attention classifier."""

    hidden: int = field(default=256, metadata=bounds(min=1, max=65536))
    embedding: int | None = field(default=None, metadata=bounds(min=1, max=65536))
    """Embedding size; ``None`` means ``hidden``."""
    bidirectional: bool = False
    """Encoder states ``h_l = [h_fwd ; h_bwd]`` (size ``2 hidden``) instead of the forward LSTM's."""


@dataclass
class ClsInputs:
    """``src [S, B, L]`` embedding rows (padding -> the pad row), masks and labels."""

    src: Tensor
    src_valid: Tensor
    label: Tensor  # [S, B] int64 in {0, 1}
    src_len: np.ndarray
    tgt_len: np.ndarray


class AttentionClassifier(SeedModel):
    """``S`` seeds of the gated attention classifier (see module docstring)."""

    def __init__(
        self, cfg: ClassifierConfig, dist: Distribution, n_seeds: int, *, uniform: bool = False
    ) -> None:
        super().__init__()
        if cfg.hidden < 1 or (cfg.embedding is not None and cfg.embedding < 1):
            raise KtiwError("classifier needs hidden >= 1 and embedding >= 1")
        if dist.n_out != 2 or dist.tgt_len != 1:
            raise KtiwError(
                f"classifier needs a two-label distribution with one output token (e.g. keyword:...), "
                f"got |O| = {dist.n_out}, output length {dist.tgt_len}"
            )
        self.cfg, self.n_seeds, self.uniform = cfg, n_seeds, uniform
        self.n_in, self.pad = dist.n_in, dist.n_in
        S, H = n_seeds, cfg.hidden
        E = cfg.embedding or H
        self.H = H

        def p(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.zeros(S, *shape))

        self.embed = p(self.n_in + 1, E)
        self.w_ih, self.w_hh = p(4 * H, E), p(4 * H, H)
        self.b_ih, self.b_hh = p(4 * H), p(4 * H)
        if cfg.bidirectional:
            self.w_ih_rev, self.w_hh_rev = p(4 * H, E), p(4 * H, H)
            self.b_ih_rev, self.b_hh_rev = p(4 * H), p(4 * H)
        He = 2 * H if cfg.bidirectional else H
        self.attn_v = p(1, He)
        self.score_W = p(1, He)

    def init_seed(self, s: int, gen: torch.Generator) -> None:
        bound = bt.fan_in_bound(self.H)
        for name, param in self.named_parameters():
            view = param[s : s + 1]
            if name == "embed":
                bt.init_normal_(view, 1.0, [gen])
            else:
                bt.init_uniform_(view, bound, [gen])

    def prepare(self, batches: Sequence[Batch]) -> ClsInputs:
        S, B = len(batches), len(batches[0])
        L = max(b.src.shape[1] for b in batches)
        src = np.full((S, B, L), self.pad, np.int64)
        label = np.zeros((S, B), np.int64)
        for s, b in enumerate(batches):
            src[s, :, : b.src.shape[1]] = np.where(b.src >= 0, b.src, self.pad)
            label[s] = b.tgt[:, 0]
        src_len = np.stack([b.src_len for b in batches]).astype(np.int64)
        tgt_len = np.stack([b.tgt_len for b in batches]).astype(np.int64)
        dev = self.device
        return ClsInputs(
            src=torch.as_tensor(src, device=dev),
            src_valid=torch.as_tensor(np.arange(L)[None, None, :] < src_len[..., None], device=dev),
            label=torch.as_tensor(label, device=dev),
            src_len=src_len,
            tgt_len=tgt_len,
        )

    def states(self, inp: ClsInputs) -> Tensor:
        """Encoder states ``h [S, B, L, H]``."""
        x = bt.embed(self.embed, inp.src)
        h, _ = bt.lstm_layer(x, self.w_ih, self.w_hh, self.b_ih, self.b_hh)
        if self.cfg.bidirectional:
            lengths = torch.as_tensor(inp.src_len, device=x.device)
            rev, _ = bt.lstm_layer(
                bt.reverse_padded(x, lengths), self.w_ih_rev, self.w_hh_rev, self.b_ih_rev, self.b_hh_rev
            )
            h = torch.cat([h, bt.reverse_padded(rev, lengths)], dim=-1)
        return h

    def logits(self, h: Tensor) -> Tensor:
        """Attention logits ``a_l = v . h_l``, ``[S, B, L]`` (zeros for the uniform model)."""
        if self.uniform:
            return h.new_zeros(h.shape[:3])
        return bt.linear(h, self.attn_v).squeeze(-1)

    def head(
        self, h: Tensor, a: Tensor, inp: ClsInputs, cache: Cache | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(z [S, B], p [S, B, L], W h [S, B, L])`` from attention logits ``a [S, B, L]``.

        Hook points (see :mod:`.hooks`) with one decoder position: logits and weights
        ``[S, B, 1, L]``, values ``W h_l`` ``[S, B, L, 1]`` (no state part), readout ``[0, z]``."""
        a = hook(cache, hooks.ATTN_LOGITS, a.unsqueeze(2))
        masked = a.masked_fill(~inp.src_valid.unsqueeze(2), float("-inf"))
        p = hook(cache, hooks.ATTN, torch.softmax(full_precision(masked), dim=-1))
        wh = hook(cache, hooks.READOUT_VALUES, bt.linear(h, self.score_W))  # [S, B, L, 1]
        pre = torch.matmul(p, wh)  # [S, B, 1, 1]
        hook(cache, hooks.OUT, self.readout(pre))
        return pre[:, :, 0, 0], p[:, :, 0], wh[..., 0]

    def readout(self, pre: Tensor, seeds: slice | Tensor = slice(None)) -> Tensor:
        """Two class logits ``[0, z]`` from ``z = pre [..., 1]``: their log-odds of label ``y``
        is ``(2y - 1) z`` and their cross-entropy is the binary cross-entropy of ``z``."""
        return torch.cat([torch.zeros_like(pre), pre], dim=-1)

    def targets(self, inputs: ClsInputs) -> Tensor:
        return inputs.label.unsqueeze(-1)

    def bce(self, z: Tensor, inp: ClsInputs) -> Tensor:
        """Each seed's mean binary cross-entropy ``log(1 + e^z) - y z``, ``[S]``."""
        z = full_precision(z)
        return torch.nn.functional.binary_cross_entropy_with_logits(
            z, inp.label.to(z.dtype), reduction="none"
        ).mean(dim=1)

    def losses(self, inputs: ClsInputs, cache: Cache | None = None) -> Tensor:
        h = self.states(inputs)
        z, _, _ = self.head(h, self.logits(h), inputs, cache)
        return self.bce(z, inputs)
