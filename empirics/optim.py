"""Optimisers over stacked seeds (``S`` independent models as one batched computation).

* :class:`SeedAdam`: Adam (PyTorch's defaults and formula) with a per-seed step counter
  and a per-seed ``active`` mask: a frozen seed (diverged, or stopped early) keeps its
  parameters and optimiser state exactly, and the others do not notice.
  :class:`SeedSGD`: the same for SGD with momentum (:class:`torch.optim.SGD`'s formula);
  :func:`seed_optimizer` builds either by name.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


class SeedAdam:
    """Adam on stacked parameters with per-seed step counts and an ``active`` mask.

    Same update as :class:`torch.optim.Adam` (no weight decay, no amsgrad)::

        m <- b1 m + (1-b1) g,   v <- b2 v + (1-b2) g^2
        p <- p - lr/(1-b1^k) * m / (sqrt(v)/sqrt(1-b2^k) + eps)

    with ``k`` the number of updates *that seed* has taken, computed by torch's fused Adam
    kernel (one pass over each parameter).  Slices of inactive seeds are left bit-for-bit
    unchanged (their gradients may be NaN; they are never read).  :meth:`update` takes the
    gradients of a subset of seeds only, so seeds that left the batch cost nothing.
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
        self._steps = [0] * n_seeds  # host copy of step_count (no device sync per step)
        self.m = {k: torch.zeros_like(p) for k, p in self.params.items()}
        self.v = {k: torch.zeros_like(p) for k, p in self.params.items()}

    @torch.no_grad()
    def step(self, active: Tensor) -> None:
        """Update every parameter slice ``[s]`` with ``active[s]`` from its ``.grad``."""
        flags = [bool(a) for a in active.tolist()]
        seeds = [s for s, a in enumerate(flags) if a]
        if not seeds:
            return
        everyone = len(seeds) == len(flags)
        grads = {}
        for name, p in self.params.items():
            if p.grad is not None:
                grads[name] = p.grad if everyone else p.grad[torch.as_tensor(seeds, device=p.device)]
        self.update(None if everyone else seeds, grads)

    @torch.no_grad()
    def update(self, seeds: list[int] | None, grads: dict[str, Tensor]) -> None:
        """One Adam step of seeds ``seeds`` (all when ``None``); ``grads[name]`` holds their
        gradients, ``[len(seeds), ...]``, in the order of ``seeds``.  Parameters without a
        gradient are left alone."""
        all_seeds = list(range(len(self._steps)))
        chosen = all_seeds if seeds is None else list(seeds)
        for s in chosen:
            self._steps[s] += 1
        self.step_count.copy_(torch.as_tensor(self._steps, dtype=torch.int64))
        groups: dict[int, list[int]] = {}
        for pos, s in enumerate(chosen):
            groups.setdefault(self._steps[s], []).append(pos)
        b1, b2 = self.betas
        for k, positions in groups.items():
            whole = seeds is None and len(positions) == len(all_seeds)
            names = [n for n in self.params if n in grads]
            if whole:
                ps = [self.params[n].data for n in names]
                ms = [self.m[n] for n in names]
                vs = [self.v[n] for n in names]
                gs = [grads[n] for n in names]
            else:
                dev = next(iter(self.params.values())).device
                rows = torch.as_tensor([chosen[i] for i in positions], device=dev)
                pos_t = torch.as_tensor(positions, device=dev)
                ps = [self.params[n].data[rows] for n in names]
                ms = [self.m[n][rows] for n in names]
                vs = [self.v[n][rows] for n in names]
                gs = [grads[n][pos_t] for n in names]
            gs = [g.to(p.dtype).contiguous() for g, p in zip(gs, ps, strict=True)]
            steps = [torch.tensor(float(k), dtype=torch.float32, device=p.device) for p in ps]
            torch._fused_adam_(
                ps, gs, ms, vs, [], steps,
                lr=self.lr, beta1=b1, beta2=b2, weight_decay=0.0, eps=self.eps,
                amsgrad=False, maximize=False,
            )  # fmt: skip
            if not whole:
                for n, p_new, m_new, v_new in zip(names, ps, ms, vs, strict=True):
                    self.params[n].data.index_copy_(0, rows, p_new)
                    self.m[n].index_copy_(0, rows, m_new)
                    self.v[n].index_copy_(0, rows, v_new)

    def state_dict(self) -> dict[str, object]:
        """Step counts and moments, on the CPU (for a checkpoint)."""
        return {
            "step_count": self.step_count.cpu(),
            "m": {k: v.cpu() for k, v in self.m.items()},
            "v": {k: v.cpu() for k, v in self.v.items()},
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.step_count.copy_(state["step_count"])  # type: ignore[arg-type]
        self._steps = [int(k) for k in self.step_count.tolist()]
        for name in self.params:
            self.m[name].copy_(state["m"][name])  # type: ignore[index]
            self.v[name].copy_(state["v"][name])  # type: ignore[index]


class SeedSGD:
    """SGD with heavy-ball momentum on stacked parameters, per seed, with an ``active`` mask.

    Same update as :class:`torch.optim.SGD` (no dampening, no Nesterov, no weight decay)::

        buf <- mu buf + g   (buf = g on that seed's first update),   p <- p - lr buf

    ``mu = 0`` is plain SGD.  Slices of inactive seeds are left bit-for-bit unchanged; like
    :class:`SeedAdam`, :meth:`update` takes the gradients of a subset of seeds only.
    """

    def __init__(
        self, params: Iterable[tuple[str, Tensor]], n_seeds: int, lr: float = 1e-3, momentum: float = 0.0
    ) -> None:
        self.params = dict(params)
        self.lr, self.momentum = lr, momentum
        device = next(iter(self.params.values())).device
        self.step_count = torch.zeros(n_seeds, dtype=torch.int64, device=device)
        self._steps = [0] * n_seeds
        self.buf = {k: torch.zeros_like(p) for k, p in self.params.items()}

    @torch.no_grad()
    def step(self, active: Tensor) -> None:
        """Update every parameter slice ``[s]`` with ``active[s]`` from its ``.grad``."""
        seeds = [s for s, a in enumerate(active.tolist()) if a]
        if not seeds:
            return
        everyone = len(seeds) == len(self._steps)
        grads = {}
        for name, p in self.params.items():
            if p.grad is not None:
                grads[name] = p.grad if everyone else p.grad[torch.as_tensor(seeds, device=p.device)]
        self.update(None if everyone else seeds, grads)

    @torch.no_grad()
    def update(self, seeds: list[int] | None, grads: dict[str, Tensor]) -> None:
        """One SGD step of seeds ``seeds`` (all when ``None``); ``grads[name]`` holds their
        gradients, ``[len(seeds), ...]``, in the order of ``seeds``."""
        chosen = list(range(len(self._steps))) if seeds is None else list(seeds)
        first = [self._steps[s] == 0 for s in chosen]
        for s in chosen:
            self._steps[s] += 1
        self.step_count.copy_(torch.as_tensor(self._steps, dtype=torch.int64))
        dev = next(iter(self.params.values())).device
        rows = torch.as_tensor(chosen, device=dev)
        fresh = torch.as_tensor(first, device=dev)
        for name, g in grads.items():
            p = self.params[name]
            shape = (-1,) + (1,) * (p.dim() - 1)
            g = g.to(p.dtype)
            old = self.buf[name] if seeds is None else self.buf[name][rows]
            buf = torch.where(fresh.view(shape), g, old * self.momentum + g)
            if seeds is None:
                self.buf[name].copy_(buf)
                p.data.sub_(self.lr * buf)
            else:
                self.buf[name].index_copy_(0, rows, buf)
                p.data.index_copy_(0, rows, p.data[rows] - self.lr * buf)

    def state_dict(self) -> dict[str, object]:
        """Step counts and momentum buffers, on the CPU (for a checkpoint)."""
        return {"step_count": self.step_count.cpu(), "buf": {k: v.cpu() for k, v in self.buf.items()}}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.step_count.copy_(state["step_count"])  # type: ignore[arg-type]
        self._steps = [int(k) for k in self.step_count.tolist()]
        for name in self.params:
            self.buf[name].copy_(state["buf"][name])  # type: ignore[index]


OPTIMIZERS = ("sgd", "adam")


def seed_optimizer(
    name: str, params: Iterable[tuple[str, Tensor]], n_seeds: int, lr: float, momentum: float = 0.0
) -> SeedAdam | SeedSGD:
    """``SeedAdam`` (``adam``, PyTorch's default betas and eps) or ``SeedSGD`` (``sgd``)."""
    if name == "adam":
        return SeedAdam(params, n_seeds, lr=lr)
    if name == "sgd":
        return SeedSGD(params, n_seeds, lr=lr, momentum=momentum)
    raise ValueError(f"unknown optimizer {name!r}")
