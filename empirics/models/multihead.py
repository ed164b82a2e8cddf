"""The paper's multi-head model: GRU seq2seq with ``H`` attention heads whose
projected contexts are averaged, ``S`` seeds at once.

Vocabulary: separate embedding tables for the encoder (input words + EOS) and the decoder
(output words + BOS + EOS).  The decoder predicts ``|O| + 1`` classes (output words, EOS).
Sequences as in :mod:`.lstm`: encoder input ``x_1 .. x_L, EOS``; decoder input
``BOS, y_1 .. y_T``; target ``y_1 .. y_T, EOS`` (teacher forcing); loss = token-mean NLL
including EOS.

Model (``paper`` sizes: hidden 256, 8 heads)::

    h_l = EncoderGRU(E_src[x])_l                         (l = 1 .. L+1)
    s_t = DecoderGRU(E_tgt[dec_in])_t, started from the encoder's state at EOS
    score_h[t, l] = (W_h s_t) . h_l                       (0 for the uniform model)
    alpha_h[t, :] = softmax_l score_h[t, :]               (valid source positions)
    c_t = (1/H) sum_h P_h sum_l alpha_h[t, l] h_l
    log p_t = log_softmax(U tanh(M [s_t ; c_t] + b_M) + b_U)

GRU: PyTorch's cell (gate order ``r, z, n``)::

    r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr),   z = sigmoid(... same with z ...)
    n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)),  h' = (1 - z) n + z h

**Head initialisation bank.**  The parameters of one head are ``(W_h, P_h)`` (``hidden x
hidden`` each).  Head ``j`` of the *bank* is drawn from its own generator
:func:`head_generator` ``(j)``: ``W_h ~ U(+-1/sqrt(hidden))`` then ``P_h ~ U(+-1/sqrt(hidden))``,
so bank head ``j`` has the same initial weights whatever slot, model, ``H`` or seed it is put
in.  Config ``head_ids`` picks bank heads: one row of ``heads`` ids per seed position of the
run (a single row is used for every seed).  Config ``base_seed`` draws every other parameter
(embeddings, GRUs, output layer; their shapes do not depend on ``H``) from
:func:`base_generator` ``(base_seed)``, the same for every seed.  With both set, the trainer's
seed only chooses the data stream: that is how the multi-head experiment classifies a head
as good or bad on several data seeds and recombines good and bad heads.  Unset (``None``),
the parameters come from the trainer's per-seed generator, as for every other model.

Probes (computed by :mod:`ktiw.empirics.probes` from the hook points; scored tokens
``t < T``, word positions ``l < L``): ``alpha`` = mean over heads of
``alpha_h`` (its argmax gives the attention accuracy), ``extra["alpha_heads"]`` the per-head
weights ``[S, N, H, T, L]``; ``beta[t, l]`` = log-odds of ``y_t`` with the context replaced
by ``(1/H) sum_h P_h h_l`` (every head looking at ``l`` only); ``grad`` = mean over heads of
``d loss / d score_h`` and ``extra["grad_heads"]`` the per-head gradients.
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
from .loss import token_mean_nll
from .seq_inputs import SeqInputs, seq2seq_inputs

_HEAD_TAG = 0x4EAD
_BASE_TAG = 0xBA5E


def _generator(*key: int) -> torch.Generator:
    state = np.random.SeedSequence(list(key)).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))


def head_generator(head_id: int) -> torch.Generator:
    """The CPU generator of bank head ``head_id`` (independent of every other use of seeds)."""
    return _generator(_HEAD_TAG, int(head_id))


def base_generator(base_seed: int) -> torch.Generator:
    """The CPU generator of the non-head parameters for ``base_seed``."""
    return _generator(_BASE_TAG, int(base_seed))


def gru_layer(
    x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor, h0: Tensor | None = None
) -> Tensor:
    """One GRU layer over ``x [S, B, L, in]`` (PyTorch's cell), outputs ``[S, B, L, H]``.

    ``w_ih [S, 3H, in]``, ``w_hh [S, 3H, H]``, ``b_* [S, 3H]``, ``h0 [S, B, H]`` (zeros if ``None``).
    """
    S, B, L, _ = x.shape
    H = w_hh.shape[2]
    dt = w_hh.dtype  # pointwise steps and the state in the parameters' dtype (also under autocast)
    gx = bt.linear(x, w_ih, b_ih).to(dt)  # [S, B, L, 3H]
    h = x.new_zeros(S, B, H, dtype=dt) if h0 is None else h0.to(dt)
    w_hh_t = w_hh.transpose(1, 2)
    b_hh = b_hh.unsqueeze(1)
    hs = []
    for t in range(L):
        gh = torch.baddbmm(b_hh, h, w_hh_t).to(dt)
        xr, xz, xn = gx[:, :, t].chunk(3, dim=-1)
        hr, hz, hn = gh.chunk(3, dim=-1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        h = (1 - z) * n + z * h
        hs.append(h)
    return torch.stack(hs, dim=2)


@dataclass
class MultiHeadConfig:
    """Options of the multi-head GRU model (the ``paper`` preset uses these defaults)."""

    hidden: int = field(default=256, metadata=bounds(min=1, max=65536))
    embedding: int | None = field(default=None, metadata=bounds(min=1, max=65536))
    """Embedding size; ``None`` means ``hidden``."""
    heads: int = field(default=8, metadata=bounds(min=1, max=4096))
    head_ids: list[list[int]] | None = None
    """Bank head ids: ``n_seeds`` rows (or one row for all seeds) of ``heads`` ids each."""
    base_seed: int | None = None
    """Seed of the non-head parameters, shared by all seeds; ``None``: the trainer's seed."""


class MultiHeadGRU(SeedModel):
    """``S`` seeds of the multi-head GRU seq2seq model (see module docstring)."""

    def __init__(
        self, cfg: MultiHeadConfig, dist: Distribution, n_seeds: int, *, uniform: bool = False
    ) -> None:
        super().__init__()
        if cfg.hidden < 1 or cfg.heads < 1 or (cfg.embedding is not None and cfg.embedding < 1):
            raise KtiwError("multihead needs hidden >= 1, heads >= 1 and embedding >= 1")
        if cfg.head_ids is not None:
            rows = cfg.head_ids
            if len(rows) not in (1, n_seeds) or any(len(r) != cfg.heads for r in rows):
                raise KtiwError(
                    f"multihead head_ids needs 1 or {n_seeds} rows of {cfg.heads} ids, "
                    f"got {len(rows)} rows of lengths {sorted({len(r) for r in rows})}"
                )
            if any(int(j) < 0 for r in rows for j in r):
                raise KtiwError("multihead head_ids must be non-negative")
        if cfg.base_seed is not None and cfg.base_seed < 0:
            raise KtiwError(f"multihead base_seed must be >= 0, got {cfg.base_seed}")
        self.cfg, self.n_seeds, self.uniform = cfg, n_seeds, uniform
        self.n_in, self.n_out = dist.n_in, dist.n_out
        self.src_eos = self.n_in
        self.bos, self.tgt_eos = self.n_out, self.n_out + 1
        self.n_classes = self.n_out + 1
        S, H, nH = n_seeds, cfg.hidden, cfg.heads
        E = cfg.embedding or H
        self.H, self.nH = H, nH

        def p(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.zeros(S, *shape))

        # non-head ("base") parameters, in the order they are initialised
        self.embed_src = p(self.n_in + 1, E)
        self.embed_tgt = p(self.n_out + 2, E)
        self.enc_w_ih, self.enc_w_hh = p(3 * H, E), p(3 * H, H)
        self.enc_b_ih, self.enc_b_hh = p(3 * H), p(3 * H)
        self.dec_w_ih, self.dec_w_hh = p(3 * H, E), p(3 * H, H)
        self.dec_b_ih, self.dec_b_hh = p(3 * H), p(3 * H)
        self.out_M, self.out_bM = p(H, 2 * H), p(H)
        self.out_U, self.out_bU = p(self.n_classes, H), p(self.n_classes)
        # head parameters
        self.attn_W = p(nH, H, H)
        self.proj_P = p(nH, H, H)

    # ------------------------------------------------------------ set-up

    _BASE = (
        "embed_src",
        "embed_tgt",
        "enc_w_ih",
        "enc_w_hh",
        "enc_b_ih",
        "enc_b_hh",
        "dec_w_ih",
        "dec_w_hh",
        "dec_b_ih",
        "dec_b_hh",
        "out_M",
        "out_bM",
        "out_U",
        "out_bU",
    )

    def _init_base(self, s: int, gen: torch.Generator) -> None:
        H = self.H
        for name in self._BASE:
            view = getattr(self, name)[s : s + 1]
            if name.startswith("embed"):
                bt.init_normal_(view, 1.0, [gen])
            elif name.startswith(("enc_", "dec_")) or name in ("out_U", "out_bU"):
                bt.init_uniform_(view, bt.fan_in_bound(H), [gen])
            else:  # out_M, out_bM
                bt.init_uniform_(view, bt.fan_in_bound(2 * H), [gen])

    def init_head(self, s: int, slot: int, gen: torch.Generator) -> None:
        """Initialise head ``slot`` of seed ``s``: ``W ~ U(+-1/sqrt(H))``, then ``P ~ U(+-1/sqrt(H))``."""
        bound = bt.fan_in_bound(self.H)
        bt.init_uniform_(self.attn_W[s : s + 1, slot], bound, [gen])
        bt.init_uniform_(self.proj_P[s : s + 1, slot], bound, [gen])

    @property
    def probe_arrays(self) -> int:
        """alpha, beta, grad plus the per-head ``alpha_heads`` and ``grad_heads`` (``H`` each)."""
        return 3 + 2 * self.nH

    def init_seed(self, s: int, gen: torch.Generator) -> None:
        cfg = self.cfg
        self._init_base(s, gen if cfg.base_seed is None else base_generator(cfg.base_seed))
        if cfg.head_ids is None:
            for slot in range(self.nH):
                self.init_head(s, slot, gen)
        else:
            row = cfg.head_ids[0] if len(cfg.head_ids) == 1 else cfg.head_ids[s]
            for slot, j in enumerate(row):
                self.init_head(s, slot, head_generator(j))

    def prepare(self, batches: Sequence[Batch]) -> SeqInputs:
        return seq2seq_inputs(
            batches,
            src_eos=self.src_eos,
            bos=self.bos,
            tgt_eos=self.tgt_eos,
            n_out=self.n_out,
            device=self.device,
        )

    # ------------------------------------------------------------ forward pieces

    def encode_decode(self, inp: SeqInputs) -> tuple[Tensor, Tensor]:
        """Encoder states ``h [S, B, L+1, H]`` and decoder states ``s [S, B, T+1, H]``."""
        x = bt.embed(self.embed_src, inp.src_ids)
        h = gru_layer(x, self.enc_w_ih, self.enc_w_hh, self.enc_b_ih, self.enc_b_hh)
        S, B = h.shape[:2]
        idx = inp.src_last.view(S, B, 1, 1).expand(S, B, 1, self.H)
        h_final = h.gather(2, idx).squeeze(2)
        y = bt.embed(self.embed_tgt, inp.dec_in)
        s = gru_layer(y, self.dec_w_ih, self.dec_w_hh, self.dec_b_ih, self.dec_b_hh, h_final)
        return h, s

    def scores(self, s: Tensor, h: Tensor) -> Tensor:
        """Per-head attention logits ``(W_h s_t) . h_l``, ``[S, B, nH, T+1, L+1]``."""
        S, B, T1, _ = s.shape
        if self.uniform:
            return s.new_zeros(S, B, self.nH, T1, h.shape[2])
        q = torch.einsum("sbtd,shed->sbhte", s, self.attn_W)
        return torch.matmul(q, h.unsqueeze(2).transpose(-1, -2))

    def head(
        self, s: Tensor, h: Tensor, logits: Tensor, inp: SeqInputs, cache: Cache | None = None
    ) -> tuple[Tensor, Tensor]:
        """Output logits ``[S, B, T+1, |O|+1]`` and per-head weights ``[S, B, nH, T+1, L+1]``.

        ``M [s_t; c_t] + b_M = (M_s s_t + b_M) + sum_h sum_l alpha_h[t, l] (M_c P_h h_l / nH)``:
        the readout's state part and per-head, per-position values (hook points, see :mod:`.hooks`)."""
        H = self.H
        logits = hook(cache, hooks.ATTN_LOGITS, logits)
        masked = logits.masked_fill(~inp.src_valid[:, :, None, None, :], float("-inf"))
        alpha = hook(cache, hooks.ATTN, torch.softmax(full_precision(masked), dim=-1))
        state = hook(cache, hooks.READOUT_STATE, bt.linear(s, self.out_M[:, :, :H], self.out_bM))
        context_map = torch.einsum("sdk,shke->shde", self.out_M[:, :, H:], self.proj_P) / self.nH
        values = hook(cache, hooks.READOUT_VALUES, torch.einsum("sble,shde->sbhld", h, context_map))
        pre = state + torch.matmul(alpha, values).sum(dim=2)
        return hook(cache, hooks.OUT, self.readout(pre)), alpha

    def readout(self, pre: Tensor, seeds: slice | Tensor = slice(None)) -> Tensor:
        """``U tanh(pre) + b_U`` for seeds ``seeds`` (``pre [S', ..., H]``)."""
        return bt.linear(torch.tanh(pre), self.out_U[seeds], self.out_bU[seeds])

    def targets(self, inputs: SeqInputs) -> Tensor:
        return inputs.dec_out

    def token_mean_nll(self, out: Tensor, inp: SeqInputs) -> Tensor:
        """Each seed's mean NLL over its valid target tokens, ``[S]`` (:func:`.loss.token_mean_nll`)."""
        return token_mean_nll(out, inp.dec_out, inp.dec_valid)

    def losses(self, inputs: SeqInputs, cache: Cache | None = None) -> Tensor:
        h, s = self.encode_decode(inputs)
        out, _ = self.head(s, h, self.scores(s, h), inputs, cache)
        return self.token_mean_nll(out, inputs)
