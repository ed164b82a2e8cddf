"""``toy-fidelity``: does the torch toy model, trained by full-batch gradient descent, follow
the theory's integrated copy flow?

For a copy distribution (``subset:L=k,V=V`` or ``permutation:L=k``) whose support is small
enough to enumerate, :func:`ktiw.empirics.full_batch.toy_gradient_descent` trains the toy
model on the whole support (step ``n`` sits at flow time ``t = lr * n``) and
:func:`ktiw.theory.flow.copy_flow` integrates the 2-D flow from ``delta = gamma = eps``;
:func:`ktiw.comparator.checks.check_toy_fidelity` compares the two curves of attention on the
correct word.
"""

from __future__ import annotations

from ktiw.theory.errors import KtiwError
from ktiw.theory.families import Subset, from_spec
from ktiw.theory.flow import copy_flow
from ktiw.theory.predict import predict

from .checks import FidelityTrace
from .presets import FidelitySetup


def fidelity_trace(setup: FidelitySetup, record_every: int = 5) -> FidelityTrace:
    """Gradient descent and flow for one :class:`FidelitySetup`, ready for the check."""
    from ktiw.empirics.full_batch import toy_gradient_descent

    dist = from_spec(setup.spec)
    if not isinstance(dist, Subset):
        raise KtiwError(f"toy-fidelity needs a subset or permutation copy distribution, got {setup.spec!r}")
    regime = predict(dist, eps=setup.eps if setup.eps > 0 else 1e-3).regime
    t_gd, alpha_gd = toy_gradient_descent(dist, setup.eps, setup.lr, setup.steps, record_every)
    flow = copy_flow(dist.src_len, dist.n_in, eps=setup.eps, t_max=float(t_gd[-1]), n_points=4001)
    return FidelityTrace(setup.spec, regime, setup.lr, t_gd, alpha_gd, flow.t, flow.alpha_d)
