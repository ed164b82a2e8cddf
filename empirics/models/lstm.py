"""The paper's seq2seq copying model, ``S`` seeds at once.

Vocabulary: one embedding table shared by encoder and decoder.  When the distribution
says ``shared_vocab`` (copy tasks) output word ``o`` *is* input word ``o`` and uses the
same row; otherwise input words take rows ``[0, |I|)`` and output words rows
``[|I|, |I| + |O|)`` of the same table.  Two more rows: BOS and EOS.  The decoder predicts
``|O| + 1`` classes: the output words and EOS (class ``|O|``).

Sequences: encoder input ``x_1 .. x_L, EOS``; decoder input ``BOS, y_1 .. y_T``, decoder
target ``y_1 .. y_T, EOS`` (teacher forcing).  Loss: mean NLL over all target tokens of the
batch including EOS (``NLLLoss`` mean reduction).

Model (defaults of the ``paper`` preset: hidden 256, 1 layer, unidirectional)::

    h_l = EncoderLSTM(E[x])_l                       (l = 1 .. L+1)
    s_t = DecoderLSTM(E[dec_in])_t, started from the encoder's final state
    score[t, l] = (W s_t) . h_l                     (0 for the uniform model)
    alpha[t, :] = softmax_l score[t, :]             (over valid source positions)
    c_t = P sum_l alpha[t, l] h_l
    log p_t = log_softmax(U tanh(M [s_t ; c_t] + b_M) + b_U)

``W`` and ``P`` have no bias.  With ``bidirectional`` the encoder states are
``[h_fwd ; h_bwd]`` and the decoder starts from the forward direction's final state; with
``layers > 1`` layer ``k`` of the decoder starts from layer ``k`` of the encoder and the
attention reads the top layer.  With ``dropout = p > 0`` (and ``layers > 1``) each layer's
output is multiplied, before it enters the next layer of the encoder or decoder, by a mask
``m / (1 - p)`` with ``m ~ Bernoulli(1 - p)`` per element, as ``nn.LSTM(dropout=p)`` does;
only while the module is in training mode (:meth:`torch.nn.Module.train`); evaluation and
every probe run it in eval mode, where the model is the ``p = 0`` one.  Each seed draws its
masks from a CPU generator keyed by a hash of that seed's own training batch (the trainer
draws every seed's batches from the seed's own stream), so a seed's masks are reproducible,
differ from the other seeds' (whose batches differ), and do not depend on which other seeds
train beside it or on a resume (the seed's batch stream is restored with it).
Initialisation is PyTorch's default for each piece: embedding ``N(0, 1)``, LSTM and linear
weights/biases ``U(+-1/sqrt(fan_in))``.

Probes (computed by :mod:`ktiw.empirics.probes` from the model's hook points), on the scored
tokens ``t < T`` (not EOS) and word positions ``l < L`` (not EOS): ``alpha[t, l]``;
``beta[t, l] = log-odds of y_t`` from decoder step ``t`` with ``c_t`` replaced by ``P h_l``;
``grad[t, l] = d loss / d score[t, l]`` (the uniform model's scores are zeros that still
receive a gradient).

Encoders (option ``encoder``; every variant keeps the decoder, attention and readout above):

* ``recurrent`` (default): the LSTM encoder above.  Its state ``h_l`` depends on the prefix
  ``x_1 .. x_l`` (so on word order and on the position ``l``), and the decoder starts from
  its final state, a function of the whole ordered sentence.  Under uniform attention
  (``c_t = P mean_l h_l``, the same for every ``t``) the model therefore still sees the
  sentence *in order*, through ``c_t`` and through the decoder's start state.
* ``bow``: no encoder network: ``h_l = E[x_l] + p_l``, the shared embedding row of the word
  plus a learned position vector ``p_l`` (``He`` = the embedding size), and the decoder
  starts from the zero state.  This is the theory's toy model in the LSTM's clothes: the
  value at position ``l`` names the word ``x_l`` (``B[x_l, .]``) and the attention can find
  positions (the toy's positional logits) through ``p_l`` and the decoder's step count.
  Under uniform attention ``c_t = P (mean_l E[x_l] + mean_l p_l)``: a function of the bag
  (multiset) of source words plus a vector that depends only on the source length, and the
  decoder's start state is fixed, so the uniform model is a true bag-of-words model, the
  theory's stage-1 setting.  ``p`` starts at zero; the uniform model's loss reaches ``p``
  only through ``mean_l p_l``, so every ``p_l`` gets the same gradient and stays one shared
  vector: the ``beta`` probe's context ``P h_l = P (E[x_l] + p)`` then differs between
  positions by the word alone.  The decoder is still recurrent and reads its own previous
  targets (teacher forcing), so ``s_t`` knows ``y_1 .. y_{t-1}`` and ``t``, but nothing
  about the source's order; ``beta[t, l]`` can point at ``x_l = y_t`` only through what the
  readout learned about *which word* (word translation from co-occurrence), plus what the
  decoder state knows.
* ``bag``: ``bow`` without ``p`` (``h_l = E[x_l]``): no order and no position anywhere, so it
  cannot copy even with attention (which position holds the ``t``-th word is unknowable);
  kept as the plain bag of words that ``bow`` adds positions to.
* ``sorted``: the ``recurrent`` encoder (same parameters, layers, direction) run over the
  source with its words sorted by id (EOS last), each state returned to its word's position,
  plus ``p_l`` as in ``bow``.  Recurrence and context are kept, order is removed from the
  values: ``h_l - p_l`` depends on ``x_l`` and on the bag of source words, not on their
  order, and so does the decoder's start state (a stable sort: equal words keep their order,
  so only which of two *equal* words comes first is seen).  It separates "a recurrent,
  contextual encoder" from "word order".

For ``bow``, ``bag`` and ``sorted``, permuting a source permutes the word part of its encoder
states (``h_l - p_l``) the same way (exactly, for sources without repeated words) and
leaves the decoder's start state unchanged, so the uniform model's loss is unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

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

ENCODERS = ("recurrent", "bow", "bag", "sorted")
"""The encoder variants (module docstring); ``recurrent`` is the paper's model."""


@dataclass
class LSTMConfig:
    """Options of the LSTM copying model.  The defaults are the ``quick`` preset's (hidden 64,
    the size of :class:`ktiw.core.training.Training`'s default training); the ``paper`` preset
    sets hidden 256."""

    hidden: int = field(default=64, metadata=bounds(min=1, max=65536))
    embedding: int | None = field(default=None, metadata=bounds(min=1, max=65536))
    """Embedding size; ``None`` means ``hidden``."""
    layers: int = field(default=1, metadata=bounds(min=1, max=64))
    bidirectional: bool = False
    dropout: float = field(default=0.0, metadata=bounds(min=0.0, max=0.99))
    """Dropout probability between stacked LSTM layers, training mode only (module docstring)."""
    encoder: str = field(default="recurrent", metadata=bounds(choices=ENCODERS))
    """``recurrent`` | ``bow`` | ``bag`` | ``sorted``: how source states are computed (module docstring)."""


@dataclass
class DropoutInputs(SeqInputs):
    """:class:`SeqInputs` with one dropout-mask key per seed (a hash of the seed's batch)."""

    mask_keys: tuple[int, ...] = ()


Finals = list[tuple[Tensor | None, Tensor | None]]
"""Each layer's final encoder state ``(h_n, c_n)``, the decoder's start (``None``: zeros)."""


def sort_order(ids: Tensor, last: Tensor) -> Tensor:
    """``order [S, B, L+1]``: the source positions with the words (``l < last``) sorted by id,
    stably, then the EOS at ``last`` and the padding in place: ``ids.gather(-1, order)`` is
    the source sorted, its EOS still at ``last``."""
    pos = torch.arange(ids.shape[-1], device=ids.device)
    tail = pos >= last.unsqueeze(-1)
    key = torch.where(tail, int(ids.max()) + 1 + pos, ids)
    return torch.argsort(key, dim=-1, stable=True)


def inverse_order(order: Tensor) -> Tensor:
    """The inverse permutation along the last axis: ``inv[..., order[..., j]] = j``."""
    pos = torch.arange(order.shape[-1], device=order.device).expand_as(order)
    return torch.empty_like(order).scatter_(-1, order, pos)


def batch_key(batch: Batch) -> int:
    """A 63-bit key of one batch's contents (``src``, ``tgt`` and their lengths)."""
    h = hashlib.blake2b(digest_size=8)
    for a in (batch.src, batch.tgt, batch.src_len, batch.tgt_len):
        h.update(a.tobytes())
    return int.from_bytes(h.digest(), "little") >> 1


class LSTMSeq2Seq(SeedModel):
    """``S`` seeds of the attention LSTM copying model (see module docstring)."""

    def __init__(self, cfg: LSTMConfig, dist: Distribution, n_seeds: int, *, uniform: bool = False) -> None:
        super().__init__()
        if cfg.hidden < 1 or cfg.layers < 1 or (cfg.embedding is not None and cfg.embedding < 1):
            raise KtiwError("lstm needs hidden >= 1, layers >= 1 and embedding >= 1")
        if not 0.0 <= cfg.dropout < 1.0:
            raise KtiwError(f"lstm dropout must be in [0, 1), got {cfg.dropout}")
        if cfg.dropout > 0 and cfg.layers < 2:
            raise KtiwError("lstm dropout acts between stacked layers: it needs layers >= 2")
        if cfg.encoder not in ENCODERS:
            raise KtiwError(f"lstm encoder must be one of {', '.join(ENCODERS)}, got {cfg.encoder!r}")
        if cfg.encoder in ("bow", "bag") and cfg.bidirectional:
            raise KtiwError(f"lstm encoder={cfg.encoder} has no encoder network: it cannot be bidirectional")
        self.cfg, self.n_seeds, self.uniform = cfg, n_seeds, uniform
        self.shared = bool(dist.shared_vocab)
        self.n_in, self.n_out = dist.n_in, dist.n_out
        self.out_offset = 0 if self.shared else self.n_in
        n_words = self.n_in if self.shared else self.n_in + self.n_out
        self.bos, self.eos = n_words, n_words + 1
        self.n_classes = self.n_out + 1
        S, H = n_seeds, cfg.hidden
        E = cfg.embedding or H
        dirs = 2 if cfg.bidirectional else 1
        He = E if cfg.encoder in ("bow", "bag") else H * dirs
        self.H, self.He = H, He

        def p(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.zeros(S, *shape))

        self.embed = p(n_words + 2, E)
        self.enc = nn.ParameterDict()
        for k in range(0 if cfg.encoder in ("bow", "bag") else cfg.layers):
            d_in = E if k == 0 else He
            for suffix in ("", "_rev")[:dirs]:
                self.enc[f"w_ih{k}{suffix}"] = p(4 * H, d_in)
                self.enc[f"w_hh{k}{suffix}"] = p(4 * H, H)
                self.enc[f"b_ih{k}{suffix}"] = p(4 * H)
                self.enc[f"b_hh{k}{suffix}"] = p(4 * H)
        self.dec = nn.ParameterDict()
        for k in range(cfg.layers):
            self.dec[f"w_ih{k}"] = p(4 * H, E if k == 0 else H)
            self.dec[f"w_hh{k}"] = p(4 * H, H)
            self.dec[f"b_ih{k}"] = p(4 * H)
            self.dec[f"b_hh{k}"] = p(4 * H)
        if cfg.encoder in ("bow", "sorted"):
            self.pos = p(dist.src_len + 1, He)  # positions 1 .. L and the EOS
        self.attn_W = p(He, H)
        self.proj_P = p(H, He)
        self.out_M = p(H, 2 * H)
        self.out_bM = p(H)
        self.out_U = p(self.n_classes, H)
        self.out_bU = p(self.n_classes)

    # ------------------------------------------------------------ set-up

    def init_seed(self, s: int, gen: torch.Generator) -> None:
        gens = [gen]
        H = self.H
        for name, param in self.named_parameters():
            view = param[s : s + 1]
            if name == "pos":
                with torch.no_grad():
                    view.zero_()  # no generator draw (module docstring)
            elif name == "embed":
                bt.init_normal_(view, 1.0, gens)
            elif name.startswith(("enc.", "dec.")) or name == "attn_W":
                bt.init_uniform_(view, bt.fan_in_bound(H), gens)
            elif name == "proj_P":
                bt.init_uniform_(view, bt.fan_in_bound(self.He), gens)
            elif name in ("out_M", "out_bM"):
                bt.init_uniform_(view, bt.fan_in_bound(2 * H), gens)
            elif name in ("out_U", "out_bU"):
                bt.init_uniform_(view, bt.fan_in_bound(H), gens)
            else:  # pragma: no cover - every parameter is named above
                raise AssertionError(name)

    def prepare(self, batches: Sequence[Batch]) -> SeqInputs:
        inp = seq2seq_inputs(
            batches,
            src_eos=self.eos,
            bos=self.bos,
            tgt_eos=self.eos,
            n_out=self.n_out,
            out_offset=self.out_offset,
            device=self.device,
        )
        if self.cfg.dropout == 0:
            return inp
        values = {f.name: getattr(inp, f.name) for f in fields(inp)}
        return DropoutInputs(**values, mask_keys=tuple(batch_key(b) for b in batches))

    def mask_generators(self, inp: SeqInputs) -> list[torch.Generator] | None:
        """One generator per seed for this forward's dropout masks; ``None`` when no dropout
        applies (``p = 0``, eval mode, or inputs without keys)."""
        if not (self.training and self.cfg.dropout > 0 and isinstance(inp, DropoutInputs)):
            return None
        return [torch.Generator().manual_seed(k) for k in inp.mask_keys]

    def dropout(self, x: Tensor, gens: list[torch.Generator] | None) -> Tensor:
        """``x [S, ...]`` times seed ``s``'s next mask ``Bernoulli(1 - p) / (1 - p)`` from ``gens[s]``
        (``x`` itself when ``gens`` is ``None``)."""
        if gens is None:
            return x
        keep = 1.0 - self.cfg.dropout
        masks = torch.stack([torch.rand(x.shape[1:], generator=g) < keep for g in gens])
        return x * masks.to(device=x.device, dtype=x.dtype) / keep

    # ------------------------------------------------------------ forward pieces

    def _layer(
        self,
        params: nn.ParameterDict,
        name: str,
        x: Tensor | None,
        ids: Tensor | None,
        h0: Tensor | None = None,
        c0: Tensor | None = None,
        last: Tensor | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """LSTM layer ``name`` (e.g. ``0``, ``1_rev``) over ``x``, or over ``E[ids]`` for the
        first layer (input projection through the embedding table,
        :func:`ktiw.empirics.batched.embedding_gates`)."""
        w_ih, w_hh, b_ih, b_hh = (params[f"{k}{name}"] for k in ("w_ih", "w_hh", "b_ih", "b_hh"))
        gates_x = None if ids is None else bt.embedding_gates(self.embed, ids, w_ih, b_ih + b_hh)
        return bt.lstm_layer(x, w_ih, w_hh, b_ih, b_hh, h0, c0, last, gates_x=gates_x)

    def encode(
        self, inp: SeqInputs, gens: list[torch.Generator] | None = None
    ) -> tuple[Tensor, Finals]:
        """Encoder states ``h [S, B, L+1, He]`` and each layer's final (forward) state, the
        decoder's start state (``gens``: dropout between layers, :meth:`dropout`); per the
        ``encoder`` option (module docstring)."""
        enc = self.cfg.encoder
        if enc == "recurrent":
            return self._encode_recurrent(inp, gens)
        if enc == "sorted":
            order = sort_order(inp.src_ids, inp.src_last)
            h, finals = self._encode_recurrent(replace(inp, src_ids=inp.src_ids.gather(-1, order)), gens)
            h = h.gather(2, inverse_order(order).unsqueeze(-1).expand_as(h))
        else:
            h, finals = bt.embed(self.embed, inp.src_ids), [(None, None)] * self.cfg.layers
        if enc != "bag":
            h = h + self.pos[:, None, : h.shape[2]]
        return h, finals

    def _encode_recurrent(
        self, inp: SeqInputs, gens: list[torch.Generator] | None = None
    ) -> tuple[Tensor, Finals]:
        """The recurrent encoder over ``inp.src_ids`` (:meth:`encode`)."""
        x, ids = None, inp.src_ids
        finals: Finals = []
        lengths = inp.src_last + 1
        for k in range(self.cfg.layers):
            out, final = self._layer(self.enc, f"{k}", x, ids, last=inp.src_last)
            if self.cfg.bidirectional:
                rev_x = None if x is None else bt.reverse_padded(x, lengths)
                rev_ids = None if ids is None else bt.reverse_padded(ids, lengths)
                rev, _ = self._layer(self.enc, f"{k}_rev", rev_x, rev_ids)
                out = torch.cat([out, bt.reverse_padded(rev, lengths)], dim=-1)
            finals.append(final)
            x, ids = (self.dropout(out, gens) if k + 1 < self.cfg.layers else out), None
        assert x is not None
        return x, finals

    def decode(
        self, inp: SeqInputs, finals: Finals, gens: list[torch.Generator] | None = None
    ) -> Tensor:
        """Decoder states ``s [S, B, T+1, H]`` under teacher forcing (``gens``: as :meth:`encode`)."""
        x, ids = None, inp.dec_in
        for k in range(self.cfg.layers):
            h0, c0 = finals[k]
            x, _ = self._layer(self.dec, f"{k}", x, ids, h0, c0)
            ids = None
            if k + 1 < self.cfg.layers:
                x = self.dropout(x, gens)
        assert x is not None
        return x

    def scores(self, s: Tensor, h: Tensor) -> Tensor:
        """Attention logits ``(W s_t) . h_l``, ``[S, B, T+1, L+1]`` (zeros for the uniform model)."""
        if self.uniform:
            return s.new_zeros(*s.shape[:3], h.shape[2])
        q = bt.linear(s, self.attn_W)
        return torch.matmul(q, h.transpose(-1, -2))

    def head(
        self, s: Tensor, h: Tensor, logits: Tensor, inp: SeqInputs, cache: Cache | None = None
    ) -> tuple[Tensor, Tensor]:
        """Output logits ``[S, B, T+1, |O|+1]`` and attention weights from the attention logits.

        ``M [s_t; c_t] + b_M = (M_s s_t + b_M) + sum_l alpha[t, l] (M_c P h_l)``: the readout's
        state part and per-position values (hook points, see :mod:`.hooks`)."""
        H = self.H
        logits = hook(cache, hooks.ATTN_LOGITS, logits)
        masked = logits.masked_fill(~inp.src_valid.unsqueeze(2), float("-inf"))
        alpha = hook(cache, hooks.ATTN, torch.softmax(full_precision(masked), dim=-1))
        state = hook(cache, hooks.READOUT_STATE, bt.linear(s, self.out_M[:, :, :H], self.out_bM))
        context_map = torch.bmm(self.out_M[:, :, H:], self.proj_P)  # M_c P, [S, H, He]
        values = hook(cache, hooks.READOUT_VALUES, bt.linear(h, context_map))
        out = hook(cache, hooks.OUT, self.readout(state + torch.matmul(alpha, values)))
        return out, alpha

    def readout(self, pre: Tensor, seeds: slice | Tensor = slice(None)) -> Tensor:
        """``U tanh(pre) + b_U`` for seeds ``seeds`` (``pre [S', ..., H]``)."""
        return bt.linear(torch.tanh(pre), self.out_U[seeds], self.out_bU[seeds])

    def targets(self, inputs: SeqInputs) -> Tensor:
        return inputs.dec_out

    def token_mean_nll(self, out: Tensor, inp: SeqInputs) -> Tensor:
        """Each seed's mean NLL over its valid target tokens, ``[S]`` (:func:`.loss.token_mean_nll`)."""
        return token_mean_nll(out, inp.dec_out, inp.dec_valid)

    def losses(self, inputs: SeqInputs, cache: Cache | None = None) -> Tensor:
        gens = self.mask_generators(inputs)
        h, finals = self.encode(inputs, gens)
        s = self.decode(inputs, finals, gens)
        out, _ = self.head(s, h, self.scores(s, h), inputs, cache)
        return self.token_mean_nll(out, inputs)
