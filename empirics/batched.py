"""Stacked-seed building blocks: ``S`` independent models as one batched computation.

Every parameter carries a leading seed axis ``[S, ...]``; seed ``s`` reads and writes only
slice ``[s]``.  Each operation below is a batched matmul over that axis, so seed ``s``'s
numbers depend only on seed ``s``'s parameters and data (up to floating-point summation
order, which may change with ``S``; the tests bound the difference in float64).

* :func:`linear`: ``y = x W^T + b`` per seed (``W [S, out, in]``, PyTorch layout).
* :func:`lstm_layer`: one LSTM layer, PyTorch's gate order ``i, f, g, o``::

      [i, f, g, o] = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
      c_t = sigmoid(f) c_{t-1} + sigmoid(i) tanh(g),   h_t = sigmoid(o) tanh(c_t)

  The input projection for all time steps is one batched matmul; the recurrence is a
  loop of ``baddbmm`` calls.
* :func:`embed`: per-seed embedding lookup.
* :class:`SeedAdam`: Adam (PyTorch's defaults and formula) with a per-seed step counter
  and a per-seed ``active`` mask: a frozen seed (diverged, or stopped early) keeps its
  parameters and optimiser state exactly, and the others do not notice.
* ``init_*``: PyTorch's default initialisations, drawn per seed from that seed's own
  :class:`torch.Generator` (on CPU, so the same seed gives the same start on any device).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor


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


def lstm_layer(
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor,
    b_hh: Tensor,
    h0: Tensor | None = None,
    c0: Tensor | None = None,
    last: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Run one LSTM layer over ``x [S, B, L, in]``.

    ``w_ih [S, 4H, in]``, ``w_hh [S, 4H, H]``, ``b_* [S, 4H]``; ``h0``/``c0 [S, B, H]`` (zeros if
    ``None``).  Returns ``(outputs [S, B, L, H], (h_n, c_n))`` where the final state is taken at
    position ``last [S, B]`` (the last valid position of each padded sequence; ``L - 1`` when
    ``None``).
    """
    S, B = x.shape[:2]
    H = w_hh.shape[2]
    gates_x = linear(x, w_ih, b_ih + b_hh)  # [S, B, L, 4H]
    h = x.new_zeros(S, B, H) if h0 is None else h0
    c = x.new_zeros(S, B, H) if c0 is None else c0
    w_hh_t = w_hh.transpose(1, 2)
    hs, cs = [], []
    # unbind once: indexing gates_x[:, :, t] per step would make backward allocate L full-size zeros
    for gx in gates_x.unbind(2):
        gates = torch.baddbmm(gx, h, w_hh_t)
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        hs.append(h)
        cs.append(c)
    out = torch.stack(hs, dim=2)
    if last is None:
        return out, (h, c)
    idx = last.view(S, B, 1, 1).expand(S, B, 1, H)
    h_n = out.gather(2, idx).squeeze(2)
    c_n = torch.stack(cs, dim=2).gather(2, idx).squeeze(2)
    return out, (h_n, c_n)


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


# ---------------------------------------------------------------- optimiser


class SeedAdam:
    """Adam on stacked parameters with per-seed step counts and an ``active`` mask.

    Same update as :class:`torch.optim.Adam` (no weight decay, no amsgrad)::

        m <- b1 m + (1-b1) g,   v <- b2 v + (1-b2) g^2
        p <- p - lr/(1-b1^k) * m / (sqrt(v)/sqrt(1-b2^k) + eps)

    with ``k`` the number of updates *that seed* has taken.  Slices of inactive seeds are
    left bit-for-bit unchanged (their gradients may be NaN; they are never read).
    """

    def __init__(
        self,
        params: Iterable[tuple[str, Tensor]],
        n_seeds: int,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = dict(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        device = next(iter(self.params.values())).device
        self.step_count = torch.zeros(n_seeds, dtype=torch.int64, device=device)
        self.m = {k: torch.zeros_like(p) for k, p in self.params.items()}
        self.v = {k: torch.zeros_like(p) for k, p in self.params.items()}

    @torch.no_grad()
    def step(self, active: Tensor) -> None:
        """Update every parameter slice ``[s]`` with ``active[s]`` from its ``.grad``."""
        b1, b2 = self.betas
        self.step_count += active.to(self.step_count.dtype)
        k = self.step_count.clamp(min=1).to(torch.float64)
        bc1 = 1 - b1**k
        bc2_sqrt = torch.sqrt(1 - b2**k)
        for name, p in self.params.items():
            if p.grad is None:
                continue
            shape = (-1,) + (1,) * (p.dim() - 1)
            mask = active.view(shape)
            g = torch.where(mask, p.grad, torch.zeros_like(p))
            m_new = self.m[name] * b1 + g * (1 - b1)
            v_new = self.v[name] * b2 + g * g * (1 - b2)
            denom = v_new.sqrt() / bc2_sqrt.to(p.dtype).view(shape) + self.eps
            p_new = p - (self.lr / bc1).to(p.dtype).view(shape) * m_new / denom
            self.m[name] = torch.where(mask, m_new, self.m[name])
            self.v[name] = torch.where(mask, v_new, self.v[name])
            p.copy_(torch.where(mask, p_new, p))

    def state_dict(self) -> dict[str, object]:
        return {"step_count": self.step_count.cpu(), "m": self.m, "v": self.v}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.step_count.copy_(state["step_count"])  # type: ignore[arg-type]
        for name in self.params:
            self.m[name].copy_(state["m"][name])  # type: ignore[index]
            self.v[name].copy_(state["v"][name])  # type: ignore[index]
