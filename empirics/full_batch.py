"""Full-batch gradient descent of the toy model on a distribution's exact support.

The training set is the *whole* support with equal weights, so the toy model's token-mean
loss over it is exactly the expected loss the theory's flow is derived from.  Plain gradient
descent ``theta <- theta - lr * dLoss/dtheta`` is the explicit Euler scheme of that flow, so
step ``n`` sits at flow time ``t = lr * n``.  The model starts from ``B = 0, a = 0``
(``eps = 0``) or ``B = eps I, a = eps I`` (float64, one seed).  Recorded: attention on the
correct word, ``alpha_d`` = mean over tokens of ``alpha[t, align[t]]`` from the model's own
forward pass.
"""

from __future__ import annotations

import numpy as np
import torch

from ktiw.core.errors import KtiwError
from ktiw.data.distribution import Batch, Distribution

SUPPORT_LIMIT = 20_000
"""Largest support (number of sequences) enumerated for full-batch descent."""


def support_batch(dist: Distribution) -> Batch:
    """The whole support of ``dist`` as one batch (:class:`KtiwError` when it is too large)."""
    support = dist.exact_support(limit=SUPPORT_LIMIT)
    if support is None:
        raise KtiwError(
            f"full-batch descent needs a support of at most {SUPPORT_LIMIT} sequences, {dist.spec} has more"
        )
    if support.align_arr is None:
        raise KtiwError(f"full-batch descent needs a gold alignment, {dist.spec} has none")
    return Batch(support.src_arr, support.tgt_arr, support.src_lens, support.tgt_lens, support.align_arr)


def toy_gradient_descent(
    dist: Distribution, eps: float, lr: float, steps: int, record_every: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch GD of the toy model on the exact support: ``(t = lr * step, alpha_d)``."""
    from .models.toy import ToyConfig, ToyModel

    batch = support_batch(dist)
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
