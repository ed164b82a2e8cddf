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

A plain single-seed ``nn.Module`` (the transformer, a user's model; see
:mod:`ktiw.empirics.models.module_seeds`) calls :func:`hook_point` instead: ``x =
hook_point(ATTN_LOGITS, x)``.  Outside ktiw's evaluation it returns ``x`` untouched; under
:func:`recording` (which ktiw enters around each forward pass, also inside ``torch.vmap``) it
keeps ``x`` under its name, may hand back a replacement (the leaf ``d loss / d x`` is taken
against), and for the uniform-attention variant returns zeros at ``ATTN_LOGITS``: a model
therefore masks invalid positions *after* that hook point, and the readout input it feeds its
``readout`` method is ``READOUT_STATE + ATTN @ READOUT_VALUES`` with exactly the hooked tensors.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

import torch
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

    def put(self, name: str, x: Tensor) -> None:
        """Keep ``x`` under ``name`` as it is (a tensor already made a leaf by the caller)."""
        if name in self.tensors:
            raise ValueError(f"hook point {name!r} was written twice in one forward pass")
        self.tensors[name] = x

    def __contains__(self, name: str) -> bool:
        return name in self.tensors

    def __getitem__(self, name: str) -> Tensor:
        return self.tensors[name]

    def get(self, name: str) -> Tensor | None:
        return self.tensors.get(name)


def hook(cache: Cache | None, name: str, x: Tensor) -> Tensor:
    """``x`` itself without a cache; else what the cache keeps (a leaf for ``grad_of`` names)."""
    return x if cache is None else cache(name, x)


HOOK_POINTS = (ATTN_LOGITS, ATTN, READOUT_STATE, READOUT_VALUES)
"""The hook points a single-seed module may call :func:`hook_point` with (``OUT`` is its output)."""


class Recorder:
    """What :func:`hook_point` does during one forward pass of one seed (or all seeds under vmap):
    ``uniform`` replaces ``ATTN_LOGITS`` by zeros, ``replace[name]`` replaces that tensor (same
    shape), and with ``record`` every hooked tensor is kept in ``seen``."""

    def __init__(self, *, uniform: bool = False, record: bool = False,
                 replace: Mapping[str, Tensor] | None = None) -> None:
        self.uniform, self.record = uniform, record
        self.replace = dict(replace or {})
        self.seen: dict[str, Tensor] = {}

    def __call__(self, name: str, x: Tensor) -> Tensor:
        if name not in HOOK_POINTS:
            raise ValueError(f"unknown hook point {name!r}; valid: {', '.join(HOOK_POINTS)}")
        if name in self.seen:
            raise ValueError(f"hook point {name!r} was written twice in one forward pass")
        if name == ATTN_LOGITS and self.uniform:
            x = torch.zeros_like(x)
        if name in self.replace:
            new = self.replace[name]
            if new.shape != x.shape:
                raise ValueError(f"hook point {name!r}: replacement of shape {tuple(new.shape)} "
                                 f"for a tensor of shape {tuple(x.shape)}")
            x = new
        if self.record:
            self.seen[name] = x
        return x


_ACTIVE: ContextVar[Recorder | None] = ContextVar("ktiw_hook_recorder", default=None)


def hook_point(name: str, x: Tensor) -> Tensor:
    """Pass tensor ``x`` of a single-seed module through the hook point ``name`` (one of
    :data:`HOOK_POINTS`); ``x`` itself unless ktiw is recording (see the module docstring)."""
    rec = _ACTIVE.get()
    return x if rec is None else rec(name, x)


@contextmanager
def recording(rec: Recorder) -> Iterator[Recorder]:
    """Make :func:`hook_point` report to ``rec`` inside the ``with`` block."""
    token = _ACTIVE.set(rec)
    try:
        yield rec
    finally:
        _ACTIVE.reset(token)
