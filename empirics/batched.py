"""Stacked-seed building blocks: ``S`` independent models as one batched computation.

Every parameter carries a leading seed axis ``[S, ...]``; seed ``s`` reads and writes only
slice ``[s]``.  Each operation below is a batched matmul over that axis, so seed ``s``'s
numbers depend only on seed ``s``'s parameters and data (up to floating-point summation
order, which may change with ``S``; the tests bound the difference in float64).

* :func:`linear`: ``y = x W^T + b`` per seed (``W [S, out, in]``, PyTorch layout).
* :func:`lstm_layer`: one LSTM layer, PyTorch's gate order ``i, f, g, o``::

      [i, f, g, o] = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
      c_t = sigmoid(f) c_{t-1} + sigmoid(i) tanh(g),   h_t = sigmoid(o) tanh(c_t)

  The input projection for all time steps is one batched matmul (or, for a layer fed by an
  embedding, :func:`embedding_gates`: a GEMM over the vocabulary); the recurrence is
  :class:`LSTMRecurrence`, a loop of ``bmm`` calls and pointwise steps that write into
  preallocated buffers, with a hand-written backward.
* :func:`embed`: per-seed embedding lookup.
* The optimisers over the seed axis live in :mod:`ktiw.empirics.optim`.
* ``init_*``: PyTorch's default initialisations, drawn per seed from that seed's own
  :class:`torch.Generator` (on CPU, so the same seed gives the same start on any device).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch import Tensor

from .precision import matmul_dtype


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x [S, ..., in] -> [S, ..., out]`` with ``weight [S, out, in]``, ``bias [S, out]``."""
    S = x.shape[0]
    flat = x.reshape(S, -1, x.shape[-1])
    if bias is None:
        out = torch.bmm(flat, weight.transpose(1, 2))
    else:
        out = torch.baddbmm(bias.unsqueeze(1), flat, weight.transpose(1, 2))
    return out.reshape(*x.shape[:-1], weight.shape[1])


def embed(table: Tensor, ids: Tensor) -> Tensor:
    """``table [S, V, d]``, ``ids [S, ...]`` (values in ``[0, V)``) -> ``[S, ..., d]``."""
    S, V, d = table.shape
    offset = (torch.arange(S, device=ids.device) * V).view(S, *([1] * (ids.dim() - 1)))
    return torch.nn.functional.embedding(ids + offset, table.reshape(S * V, d))


def embedding_gates(table: Tensor, ids: Tensor, w_ih: Tensor, bias: Tensor) -> Tensor:
    """``E[ids] W_ih^T + bias`` computed as ``(E W_ih^T + bias)[ids]``: one small GEMM over the
    ``V`` rows of the embedding table ``E [S, V, d]`` instead of one per position (``ids [S, ...]``);
    the backward pass sums each row's gradient first (``embedding`` backward) and then does
    two ``V``-row GEMMs.  Exactly the same function; for an LSTM or GRU layer fed by an
    embedding it removes the input projection's FLOPs (half of an LSTM layer's)."""
    return embed(linear(table, w_ih, bias), ids)


def lstm_layer(
    x: Tensor | None,
    w_ih: Tensor | None,
    w_hh: Tensor,
    b_ih: Tensor,
    b_hh: Tensor,
    h0: Tensor | None = None,
    c0: Tensor | None = None,
    last: Tensor | None = None,
    *,
    gates_x: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Run one LSTM layer over ``x [S, B, L, in]``.

    ``w_ih [S, 4H, in]``, ``w_hh [S, 4H, H]``, ``b_* [S, 4H]``; ``h0``/``c0 [S, B, H]`` (zeros if
    ``None``).  Returns ``(outputs [S, B, L, H], (h_n, c_n))`` where the final state is taken at
    position ``last [S, B]`` (the last valid position of each padded sequence; ``L - 1`` when
    ``None``).  ``gates_x [S, B, L, 4H]``: the input projection ``x W_ih^T + b_ih + b_hh``
    already computed (e.g. by :func:`embedding_gates`); then ``x`` and ``w_ih`` are unused.
    """
    if gates_x is None:
        assert x is not None and w_ih is not None
        gates_x = linear(x, w_ih, b_ih + b_hh)  # [S, B, L, 4H]: all time steps in one GEMM
    S, B = gates_x.shape[:2]
    H = w_hh.shape[2]
    h0 = gates_x.new_zeros(S, B, H) if h0 is None else h0
    c0 = gates_x.new_zeros(S, B, H) if c0 is None else c0
    out, cs = LSTMRecurrence.apply(gates_x, w_hh, h0, c0)
    if last is None:
        return out, (out[:, :, -1], cs[:, :, -1])
    idx = last.view(S, B, 1, 1).expand(S, B, 1, H)
    return out, (out.gather(2, idx).squeeze(2), cs.gather(2, idx).squeeze(2))


def _cell_forward(gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Pointwise part of an LSTM step: activated gates ``[i, f, g, o]``, ``c_t``, ``h_t``."""
    H = c.shape[-1]
    ifo = torch.sigmoid(gates)
    g = torch.tanh(gates[..., 2 * H : 3 * H])
    i, f, o = ifo[..., :H], ifo[..., H : 2 * H], ifo[..., 3 * H :]
    c_new = f * c + i * g
    acts = torch.cat([i, f, g, o], dim=-1)
    return acts, c_new, o * torch.tanh(c_new)


def _cell_backward(dh: Tensor, dc: Tensor, acts: Tensor, c: Tensor, c_prev: Tensor) -> tuple[Tensor, Tensor]:
    """Pointwise part of an LSTM step's backward: ``d gates`` (pre-activation) and ``d c_{t-1}``.

    ``dh``/``dc``: the loss's derivative in ``h_t``/``c_t`` from later steps and outputs."""
    H = c.shape[-1]
    i, f, g, o = acts[..., :H], acts[..., H : 2 * H], acts[..., 2 * H : 3 * H], acts[..., 3 * H :]
    tc = torch.tanh(c)
    dc = dc + dh * o * (1 - tc * tc)
    d_gates = torch.cat(
        [dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g), dh * tc * o * (1 - o)], dim=-1
    )
    return d_gates, dc * f


def _cell_forward_at(
    rec: Tensor, gates_x: Tensor, t: int, c: Tensor, acts: Tensor, cs: Tensor, out: Tensor
) -> None:
    """Forward step ``t`` into preallocated buffers: gates ``= gates_x[:, :, t] + rec`` (input
    part plus ``h_{t-1} W_hh^T``), then :func:`_cell_forward`; ``c`` holds ``c_{t-1}`` and
    is overwritten with ``c_t``, which also goes to ``cs[:, :, t + 1]``; the activated gates
    go to ``acts[:, :, t]`` and ``h_t`` to ``out[:, :, t]``."""
    a, c_new, h = _cell_forward(gates_x[:, :, t].to(c.dtype) + rec, c)
    acts[:, :, t] = a
    c.copy_(c_new)
    cs[:, :, t + 1] = c_new
    out[:, :, t] = h


def _cell_backward_at(
    dh_rec: Tensor,
    d_hs: Tensor | None,
    dc: Tensor,
    d_cs: Tensor | None,
    t: int,
    acts: Tensor,
    cs: Tensor,
    d_gates: Tensor,
) -> None:
    """Backward step ``t`` into preallocated buffers: ``d h_t = dh_rec + d_hs[:, :, t]``
    (through step ``t + 1``'s gates, plus the output's gradient), ``d c_t = dc +
    d_cs[:, :, t]``, then :func:`_cell_backward` with ``c_t = cs[:, :, t + 1]``,
    ``c_{t-1} = cs[:, :, t]``; ``d gates`` goes to ``d_gates[:, :, t]`` and ``d c_{t-1}``
    over ``dc``."""
    dh_rec = dh_rec.to(dc.dtype)
    dh = dh_rec if d_hs is None else dh_rec + d_hs[:, :, t]
    dc_t = dc if d_cs is None else dc + d_cs[:, :, t]
    dg, dc_prev = _cell_backward(dh, dc_t, acts[:, :, t], cs[:, :, t + 1], cs[:, :, t])
    d_gates[:, :, t] = dg
    dc.copy_(dc_prev)


def _step(x: Tensor, t: Tensor) -> Tensor:
    """``x[:, :, t]`` for a one-element index tensor ``t``."""
    return x.index_select(2, t).squeeze(2)


def _cell_forward_indexed(
    rec: Tensor, gates_x: Tensor, t: Tensor, c: Tensor, acts: Tensor, cs: Tensor, out: Tensor
) -> None:
    """:func:`_cell_forward_at` with the step as a one-element tensor: the form that
    ``torch.compile`` fuses.  A tensor, not an int or a view at an offset, so the compiled
    function sees the same arguments at every step and compiles once (ints and storage
    offsets are specialised).  No two arguments may share memory (``torch.compile``
    mishandles the in-place update of an argument that aliases another one)."""
    a, c_new, h = _cell_forward(_step(gates_x, t).to(c.dtype) + rec, c)
    acts.index_copy_(2, t, a.unsqueeze(2))
    c.copy_(c_new)
    cs.index_copy_(2, t + 1, c_new.unsqueeze(2))
    out.index_copy_(2, t, h.unsqueeze(2).to(out.dtype))


def _cell_backward_indexed(
    dh_rec: Tensor,
    d_hs: Tensor | None,
    dc: Tensor,
    d_cs: Tensor | None,
    t: Tensor,
    acts: Tensor,
    cs: Tensor,
    d_gates: Tensor,
) -> None:
    """:func:`_cell_backward_at` with the step as a one-element tensor (see
    :func:`_cell_forward_indexed`)."""
    dh_rec = dh_rec.to(dc.dtype)
    dh = dh_rec if d_hs is None else dh_rec + _step(d_hs, t)
    dc_t = dc if d_cs is None else dc + _step(d_cs, t)
    dg, dc_prev = _cell_backward(dh, dc_t, _step(acts, t), _step(cs, t + 1), _step(cs, t))
    d_gates.index_copy_(2, t, dg.unsqueeze(2).to(d_gates.dtype))
    dc.copy_(dc_prev)


class _Cells:
    """The two pointwise step functions, eager (on views of step ``t``) or fused by
    ``torch.compile`` (on the whole buffers and a step index tensor; see :func:`fuse_cells`).
    Both write the same results into the same buffers."""

    def __init__(self) -> None:
        self._fwd: Any = None
        self._bwd: Any = None
        self._index: dict[torch.device, list[Tensor]] = {}
        self.fused = False

    def _at(self, t: int, device: torch.device) -> Tensor:
        """The step index ``tensor([t])`` (one tensor per step and device, made once)."""
        index = self._index.setdefault(device, [])
        while len(index) <= t:
            index.append(torch.tensor([len(index)], device=device))
        return index[t]

    def forward(
        self, rec: Tensor, gates_x: Tensor, t: int, c: Tensor, acts: Tensor, cs: Tensor, out: Tensor
    ) -> None:
        """Forward step ``t`` (:func:`_cell_forward_at`)."""
        if self._fwd is None:
            _cell_forward_at(rec, gates_x, t, c, acts, cs, out)
        else:
            self._fwd(rec, gates_x, self._at(t, rec.device), c, acts, cs, out)

    def backward(
        self,
        dh_rec: Tensor,
        d_hs: Tensor | None,
        dc: Tensor,
        d_cs: Tensor | None,
        t: int,
        acts: Tensor,
        cs: Tensor,
        d_gates: Tensor,
    ) -> None:
        """Backward step ``t`` (:func:`_cell_backward_at`)."""
        if self._bwd is None:
            _cell_backward_at(dh_rec, d_hs, dc, d_cs, t, acts, cs, d_gates)
        else:
            self._bwd(dh_rec, d_hs, dc, d_cs, self._at(t, dc.device), acts, cs, d_gates)

    def set(self, fused: bool) -> bool:
        if fused == self.fused:
            return self.fused
        if not fused:
            self.__init__()  # type: ignore[misc]
            return False
        try:
            fwd = torch.compile(_cell_forward_indexed, dynamic=True)
            bwd = torch.compile(_cell_backward_indexed, dynamic=True)
            with torch.no_grad():  # the cells always run without autograd (inside LSTMRecurrence)
                # sizes >= 2 and all different (L + 1 too): torch.compile specialises sizes 0
                # and 1 and assumes equal sizes stay equal ("duck sizing")
                S, B, L, H = 2, 3, 4, 6
                x, h, one = torch.zeros(S, B, L, 4 * H), torch.zeros(S, B, L, H), torch.zeros(S, B, H)
                t, c = torch.tensor([2]), torch.zeros(S, B, L + 1, H)
                fwd(one.repeat(1, 1, 4), x, t, one.clone(), x.clone(), c, h)
                bwd(one, h, one.clone(), h.clone(), t, x, c, x.clone())
                bwd(one, h, one.clone(), None, t, x, c, x.clone())
        except Exception as err:  # no C++ compiler, unsupported platform, ...
            warnings.warn(f"torch.compile unavailable, LSTM cells stay unfused: {err}", stacklevel=2)
            return False
        self._fwd, self._bwd, self.fused = fwd, bwd, True
        return True


_CELLS = _Cells()


def fuse_cells(enabled: bool) -> bool:
    """Use ``torch.compile``-fused pointwise LSTM steps (one kernel per step, writing straight
    into the recurrence's buffers, instead of ~10 forward and ~25 backward elementwise
    kernels and their copies) in :class:`LSTMRecurrence`.  Compiles once per process (dynamic
    shapes, so any number of seeds or batch size reuses the kernels); returns whether fused
    cells are in use (``False`` where ``torch.compile`` fails).  The fused and eager cells
    compute the same formulas; their results may differ in the last bits, so a run uses one
    or the other throughout (the trainer records which)."""
    return _CELLS.set(enabled)


class LSTMRecurrence(torch.autograd.Function):
    """The LSTM recurrence given the input gates, with a hand-written backward pass.

    Forward, per step ``t`` (one ``bmm`` and the pointwise step :func:`_cell_forward_at`)::

        [i, f, g, o] = act(gates_x[t] + h_{t-1} W_hh^T),  c_t = f c_{t-1} + i g,  h_t = o tanh(c_t)

    Backward, per step, :func:`_cell_backward_at` and the recurrent product
    ``d h_{t-1} = d gates_t W_hh`` (one ``bmm``; the output's gradient ``d out[t-1]`` is added
    inside the next step's cell); the weight gradient ``d W_hh = sum_t d gates_t^T h_{t-1}``
    is one GEMM over all steps afterwards, and ``d gates_x = d gates``.

    Every per-step result is written into a buffer allocated once per call (no per-step
    tensors, no stacking), batch-major ``[S, B, L, .]`` like ``gates_x`` (the GEMMs read the
    strided step slices as they are, and ``d gates_x`` is contiguous); ``c`` is kept as
    ``[S, B, L+1, H]`` with ``c0`` at position 0.  Returns ``(h [S, B, L, H], c [S, B, L, H])``.
    """

    @staticmethod
    def forward(ctx, gates_x: Tensor, w_hh: Tensor, h0: Tensor, c0: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        """The recurrence over all ``L`` steps (see the class docstring)."""
        S, B, L, G = gates_x.shape
        H = G // 4
        state, mm = w_hh.dtype, matmul_dtype(gates_x.device.type, w_hh.dtype)
        w_t = w_hh.transpose(1, 2).to(mm)
        h0 = h0.to(mm)
        cell = _CELLS.forward
        out = gates_x.new_empty(S, B, L, H, dtype=mm)  # h_t at t (a matmul input only)
        cs = gates_x.new_empty(S, B, L + 1, H, dtype=state)  # c_{t-1} at t
        acts = gates_x.new_empty(S, B, L, G, dtype=state)
        rec = gates_x.new_empty(S, B, G, dtype=mm)  # h_{t-1} W_hh^T
        c = c0.detach().to(state).clone()  # c_{t-1}, updated in place
        cs[:, :, 0] = c0
        for t in range(L):
            torch.bmm(h0 if t == 0 else out[:, :, t - 1], w_t, out=rec)
            cell(rec, gates_x, t, c, acts, cs, out)
        ctx.save_for_backward(w_hh, h0, out)
        ctx.acts, ctx.cs, ctx.mm = acts, cs, mm
        return out, cs[:, :, 1:]

    @staticmethod
    def backward(ctx, d_hs: Tensor | None, d_cs: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor]:  # type: ignore[override]
        """Gradients of ``gates_x``, ``w_hh``, ``h0``, ``c0`` (see the class docstring)."""
        w_hh, h0, out = ctx.saved_tensors
        acts, cs = ctx.acts, ctx.cs
        S, B, L, G = acts.shape
        H = G // 4
        mm = ctx.mm
        w = w_hh.to(mm)
        cell = _CELLS.backward
        d_gates = acts.new_empty(S, B, L, G, dtype=mm)  # a matmul input only
        dh = acts.new_zeros(S, B, H, dtype=mm)  # d h_t through step t + 1's gates
        dc = acts.new_zeros(S, B, H)
        for t in range(L - 1, -1, -1):
            cell(dh, d_hs, dc, d_cs, t, acts, cs, d_gates)
            torch.bmm(d_gates[:, :, t], w, out=dh)
        h_prev = torch.cat([h0.unsqueeze(2), out[:, :, :-1]], dim=2)  # h_{t-1} at t
        d_w_hh = torch.bmm(d_gates.reshape(S, B * L, G).transpose(1, 2), h_prev.reshape(S, B * L, H))
        return d_gates, d_w_hh.to(w_hh.dtype), dh, dc


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence's first ``lengths[s, b]`` steps of ``x [S, B, L, ...]`` in place of
    its valid part (padding stays at the end).  Applying it twice is the identity."""
    S, B, L = x.shape[:3]
    pos = torch.arange(L, device=x.device).view(1, 1, L)
    rev = lengths.unsqueeze(-1) - 1 - pos
    idx = torch.where(rev >= 0, rev, pos)
    idx = idx.view(S, B, L, *([1] * (x.dim() - 3))).expand_as(x)
    return x.gather(2, idx)


# ---------------------------------------------------------------- initialisation


def init_uniform_(param: Tensor, bound: float, generators: list[torch.Generator]) -> None:
    """Fill slice ``[s]`` with ``U(-bound, bound)`` drawn from ``generators[s]`` (on CPU)."""
    with torch.no_grad():
        for s, gen in enumerate(generators):
            draw = torch.rand(param.shape[1:], generator=gen, dtype=torch.float64)
            param[s].copy_((draw * 2 - 1) * bound)


def init_normal_(param: Tensor, std: float, generators: list[torch.Generator]) -> None:
    """Fill slice ``[s]`` with ``N(0, std^2)`` drawn from ``generators[s]`` (on CPU)."""
    with torch.no_grad():
        for s, gen in enumerate(generators):
            param[s].copy_(torch.randn(param.shape[1:], generator=gen, dtype=torch.float64) * std)


def fan_in_bound(fan_in: int) -> float:
    """``nn.Linear``/``nn.LSTM`` default bound ``1/sqrt(fan_in)``."""
    return 1.0 / math.sqrt(fan_in)
