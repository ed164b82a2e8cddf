"""Named intermediate tensors of a model's forward pass (hook points, as in TransformerLens).

A model passes each tensor a probe may need through :func:`hook` with a fixed name; during
training the cache is ``None`` and :func:`hook` returns its argument untouched (no cost).
During evaluation :func:`ktiw.empirics.probes.evaluate` passes a :class:`Cache`, which keeps
every named tensor (one name per tensor, one cache) and can turn a named tensor into a fresh
leaf that requires grad, so ``d loss / d tensor`` comes from one ``autograd.grad`` call.
All analysis happens outside the model.

Hook-point names every attention model exposes (``S`` seeds, ``B`` examples, ``T'`` decoder
positions, ``L'`` attended positions, ``K`` readout width, ``C`` classes; an optional heads
axis ``nH`` after ``B`` for multi-head attention)::

    ATTN_LOGITS     [S, B, (nH,) T', L']   attention logits (scores) before masking
    ATTN            [S, B, (nH,) T', L']   attention weights (softmax over valid positions)
    READOUT_STATE   [S, B, T', K]          the decoder state's part of the readout input
                                           (absent: zero)
    READOUT_VALUES  [S, B, (nH,) L', K]    each attended position's part of the readout input
    OUT             [S, B, T', C]          class logits

The readout input is ``pre[t] = READOUT_STATE[t] + sum_heads sum_l ATTN[t, l] READOUT_VALUES[l]``
and ``OUT[t] = model.readout(pre[t])``: every model with attention is written in this form
(the context's linear maps are folded into the values), which is what lets one probe
function replace the attention by a one-hot on position ``l``.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor

ATTN_LOGITS = "attn_logits"
ATTN = "attn"
READOUT_STATE = "readout_state"
READOUT_VALUES = "readout_values"
OUT = "out"


class Cache:
    """The named tensors of one forward pass; names in ``grad_of`` become leaves requiring grad."""

    def __init__(self, grad_of: Iterable[str] = ()) -> None:
        self.tensors: dict[str, Tensor] = {}
        self.grad_of = frozenset(grad_of)

    def __call__(self, name: str, x: Tensor) -> Tensor:
        if name in self.tensors:
            raise ValueError(f"hook point {name!r} was written twice in one forward pass")
        if name in self.grad_of:
            x = x.detach().clone().requires_grad_(True)
        self.tensors[name] = x
        return x

    def __contains__(self, name: str) -> bool:
        return name in self.tensors

    def __getitem__(self, name: str) -> Tensor:
        return self.tensors[name]

    def get(self, name: str) -> Tensor | None:
        return self.tensors.get(name)


def hook(cache: Cache | None, name: str, x: Tensor) -> Tensor:
    """``x`` itself without a cache; else what the cache keeps (a leaf for ``grad_of`` names)."""
    return x if cache is None else cache(name, x)
