"""``toy-fidelity``: does the torch toy model, trained by full-batch gradient descent,
follow the theory's integrated copy flow?

Setup for a copy distribution (``subset:L=k,V=V`` or ``permutation:L=k``) whose support is
small enough to enumerate (:meth:`~ktiw.theory.distribution.Distribution.exact_support`):

* the training set is the *whole* support with equal weights, so the toy model's
  token-mean loss over it is exactly the expected loss the flow is derived from;
* the empirics toy model (:class:`ktiw.empirics.models.toy.ToyModel`, float64, one seed)
  starts from ``B = 0, a = 0`` (``eps = 0``) or ``B = eps I, a = eps I``, i.e. from
  ``delta = gamma = eps`` in the reduced coordinates;
* plain gradient descent ``theta <- theta - lr * dLoss/dtheta`` for ``steps`` steps is the
  explicit Euler scheme of the flow, so step ``n`` sits at flow time ``t = lr * n``;
* measured: attention on the correct word ``alpha_d`` = mean over tokens of
  ``alpha[t, align[t]]`` from the model's own forward pass; theory:
  :func:`ktiw.theory.flow.copy_flow` from ``delta = gamma = eps``.

The model is the empirics one (its forward pass and loss); only the full-batch loop is here.
"""

from __future__ import annotations

import numpy as np
import torch

from ktiw.theory.distribution import Batch
from ktiw.theory.errors import KtiwError
from ktiw.theory.families import Subset, from_spec
from ktiw.theory.flow import copy_flow
from ktiw.theory.predict import predict

from .checks import FidelityTrace
from .presets import FidelitySetup


def _support_batch(spec: str) -> tuple[Subset, Batch]:
    dist = from_spec(spec)
    if not isinstance(dist, Subset):
        raise KtiwError(f"toy-fidelity needs a subset or permutation copy distribution, got {spec!r}")
    support = dist.exact_support(limit=20_000)
    if support is None:
        raise KtiwError(f"toy-fidelity needs a support of at most 20000 sequences, {spec!r} has more")
    batch = Batch(support.src_arr, support.tgt_arr, support.src_lens, support.tgt_lens, support.align_arr)
    return dist, batch


def toy_gradient_descent(
    spec: str, eps: float, lr: float, steps: int, record_every: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch GD of the toy model on the exact support: ``(t = lr * step, alpha_d)``."""
    from ktiw.empirics.models.toy import ToyConfig, ToyModel

    dist, batch = _support_batch(spec)
    cfg = ToyConfig(init="eps" if eps > 0 else "zero", eps=eps)
    model = ToyModel(cfg, dist, 1).double()
    model.init_seed(0, torch.Generator().manual_seed(0))
    inputs = model.prepare([batch])
    align = torch.as_tensor(batch.align, dtype=torch.int64).unsqueeze(0).unsqueeze(-1)  # [1, N, T, 1]
    params = [p for p in model.parameters() if p.requires_grad]
    ts, alphas = [], []
    for n in range(steps + 1):
        if n % record_every == 0 or n == steps:
            with torch.no_grad():
                _, alpha = model.outputs(inputs, model.logits(inputs))
                ts.append(lr * n)
                alphas.append(float(alpha.gather(-1, align).mean()))
        if n == steps:
            break
        loss = model.losses(inputs).sum()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p.sub_(lr * g)
    return np.array(ts), np.array(alphas)


def fidelity_trace(setup: FidelitySetup, record_every: int = 5) -> FidelityTrace:
    """Gradient descent and flow for one :class:`FidelitySetup`, ready for the check."""
    dist, _ = _support_batch(setup.spec)
    k, V = dist.src_len, dist.n_in
    regime = predict(dist, eps=setup.eps if setup.eps > 0 else 1e-3).regime
    t_gd, alpha_gd = toy_gradient_descent(setup.spec, setup.eps, setup.lr, setup.steps, record_every)
    flow = copy_flow(k, V, eps=setup.eps, t_max=float(t_gd[-1]), n_points=4001)
    return FidelityTrace(setup.spec, regime, setup.lr, t_gd, alpha_gd, flow.t, flow.alpha_d)
