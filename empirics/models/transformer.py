"""An encoder-decoder transformer whose decoder reads the source through ONE single-head
cross-attention (nanoGPT style: a config dataclass and one readable module, for ONE seed;
:mod:`.module_seeds` trains ``S`` seeds of it).

Same input/target format as the LSTM (:mod:`.seq_inputs`): source ``x_1 .. x_L, EOS``,
decoder input ``BOS, y_1 .. y_T``, targets ``y_1 .. y_T, EOS`` (teacher forcing); one token
table shared by encoder and decoder.  With ``d = d_model``::

    e_l = E[x_l] + P_src[l]                 (P: learned, or sinusoidal when positions="sinusoidal")
    h   = LN_enc(Encoder(e))                n_layer pre-LN blocks: z += SelfAttn(LN z); z += MLP(LN z)
    x_t = Decoder(E[dec_in_t] + P_tgt[t])   n_layer pre-LN blocks with causal self-attention
    score[t, l] = (W_Q LN_q(x_t) + b_Q) . (W_K h_l + b_K) / sqrt(d)      (0 for the uniform model)
    a[t, :]     = softmax_l score[t, :]     (over the source positions that exist)
    pre_t  = (x_t + b_O) + sum_l a[t, l] W_O (W_V h_l + b_V)            (one head; residual)
    logits_t = readout(pre_t) = U LN_f(pre_t + MLP(LN_m(pre_t))) + b_U

The cross-attention is the model's only path from the source to the output, and everything
after it acts on each decoder position alone, so ``readout`` maps the readout input of one
position to its class logits: the hook points (:mod:`.hooks`) are ``attn_logits = score``
(before masking), ``attn = a``, ``readout_state = x_t + b_O``, ``readout_values = W_O (W_V h_l +
b_V)``, and ``beta[t, l]`` (the KTIW probe) is ``log-odds(readout(readout_state_t +
readout_values_l))``.  MLPs are ``W_2 GELU(W_1 z)`` with width ``mlp_ratio * d``.
Initialisation as nanoGPT: weights ``N(0, 0.02)`` (residual output projections ``0.02 /
sqrt(2 n_layer)``), biases 0, LayerNorm ``(1, 0)``.  No dropout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ktiw.core.errors import KtiwError
from ktiw.core.validation import bounds

from ..precision import full_precision
from .hooks import ATTN, ATTN_LOGITS, READOUT_STATE, READOUT_VALUES, hook_point
from .module_seeds import SeqTask


@dataclass
class TransformerConfig:
    """Options of the transformer (``quick``: d_model 64, 1 layer)."""

    d_model: int = field(default=64, metadata=bounds(min=1, max=65536))
    n_layer: int = field(default=1, metadata=bounds(min=0, max=64))
    """Self-attention blocks in the encoder and in the decoder (each)."""
    n_head: int = field(default=4, metadata=bounds(min=1, max=1024))
    """Heads of the self-attention blocks (the cross-attention has one head)."""
    mlp_ratio: int = field(default=4, metadata=bounds(min=1, max=64))
    positions: str = field(default="learned", metadata=bounds(choices=("learned", "sinusoidal")))


def sinusoidal(n: int, d: int, like: Tensor) -> Tensor:
    """``P[p, 2i] = sin(p / 10000^(2i/d))``, ``P[p, 2i+1] = cos(...)``, shape ``[n, d]``."""
    pos = torch.arange(n, dtype=like.dtype, device=like.device)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d, 2, dtype=like.dtype, device=like.device) / d)
    out = torch.zeros(n, d, dtype=like.dtype, device=like.device)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq)[:, : d // 2]
    return out


class MLP(nn.Module):
    def __init__(self, d: int, ratio: int) -> None:
        super().__init__()
        self.fc = nn.Linear(d, ratio * d)
        self.proj = nn.Linear(ratio * d, d)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(F.gelu(self.fc(x)))


class SelfAttention(nn.Module):
    """Multi-head self-attention; ``mask [B, Lq, Lk]`` (bool) marks the allowed pairs."""

    def __init__(self, d: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        B, n, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        q, k, v = (z.view(B, n, self.n_head, d // self.n_head).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.n_head)
        att = torch.softmax(full_precision(att.masked_fill(~mask[:, None], float("-inf"))), dim=-1)
        return self.proj((att @ v).transpose(1, 2).reshape(B, n, d))


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg.d_model, cfg.n_head)
        self.ln_2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg.d_model, cfg.mlp_ratio)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """One seed of the encoder-decoder transformer (see the module docstring)."""

    def __init__(self, task: SeqTask, cfg: TransformerConfig) -> None:
        super().__init__()
        d = cfg.d_model
        if d % cfg.n_head:
            raise KtiwError(f"transformer: d_model {d} is not a multiple of n_head {cfg.n_head}")
        if cfg.positions not in ("learned", "sinusoidal"):
            raise KtiwError(f"transformer: positions must be learned or sinusoidal, got {cfg.positions!r}")
        self.cfg = cfg
        self.tok = nn.Embedding(task.n_tokens, d)
        if cfg.positions == "learned":
            self.pos_src = nn.Embedding(task.src_positions, d)
            self.pos_tgt = nn.Embedding(task.tgt_positions, d)
        self.encoder = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_enc = nn.LayerNorm(d)
        self.decoder = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_q = nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.ln_m = nn.LayerNorm(d)
        self.mlp = MLP(d, cfg.mlp_ratio)
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, task.n_classes)
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith(("attn.proj.weight", "mlp.proj.weight")) or name == "o.weight":
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * max(cfg.n_layer, 1)))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def embed(self, ids: Tensor, table: str) -> Tensor:
        x = self.tok(ids)
        n = ids.shape[-1]
        if self.cfg.positions == "learned":
            return x + getattr(self, table).weight[:n]
        return x + sinusoidal(n, self.cfg.d_model, x)

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        """Class logits ``[B, T+1, C]`` (see the module docstring)."""
        B, Ls = src.shape
        Lt = tgt_in.shape[1]
        h = self.embed(src, "pos_src")
        pair = src_mask[:, None, :].expand(B, Ls, Ls)
        for block in self.encoder:
            h = block(h, pair)
        h = self.ln_enc(h)
        x = self.embed(tgt_in, "pos_tgt")
        causal = torch.ones(Lt, Lt, dtype=torch.bool, device=src.device).tril().expand(B, Lt, Lt)
        for block in self.decoder:
            x = block(x, causal)
        score = (self.q(self.ln_q(x)) @ self.k(h).transpose(-2, -1)) / math.sqrt(self.cfg.d_model)
        score = hook_point(ATTN_LOGITS, score)
        masked = full_precision(score.masked_fill(~src_mask[:, None, :], float("-inf")))  # fp32 under bf16
        a = hook_point(ATTN, torch.softmax(masked, dim=-1))
        state = hook_point(READOUT_STATE, x + self.o.bias)
        values = hook_point(READOUT_VALUES, F.linear(self.v(h), self.o.weight))
        return self.readout(state + a @ values)

    def readout(self, pre: Tensor) -> Tensor:
        """Class logits of one position's readout input ``pre [..., d]``."""
        return self.head(self.ln_f(pre + self.mlp(self.ln_m(pre))))


def build(task: SeqTask, cfg: TransformerConfig | None = None) -> Transformer:
    """The factory :mod:`.module_seeds` calls once per seed."""
    return Transformer(task, cfg or TransformerConfig())
