"""The mathematics of the optimizers a training runs (:class:`ktiw.core.training.Training`:
optimizer, learning rate, batch size, initialisation, step budget).

Three optimizers, each with the update of its ``torch.optim`` namesake (no weight decay):

* ``gd``: full-batch gradient descent ``p <- p - lr g`` (the discrete map of gradient flow;
  ``lr x steps`` is gradient-flow time while ``lr`` is small);
* ``sgd``: the same on a fresh minibatch of ``batch_size`` examples per step, with heavy-ball
  momentum as :class:`torch.optim.SGD` (``buf <- mu buf + g``, first step ``buf = g``;
  ``p <- p - lr buf``);
* ``adam``: :class:`torch.optim.Adam` on minibatches, with bias correction::

      m <- b1 m + (1-b1) g,   v <- b2 v + (1-b2) g^2,
      p <- p - lr/(1-b1^t) m / (sqrt(v/(1-b2^t)) + eps).

Initialisations of the toy model (``--init``): ``zero`` (``B = 0``, ``a = 0``), ``eps:E``
(``B = E I``, ``a = E I``: the symmetry-breaking start of the copy reduction) and
``normal:S`` (every entry of ``B`` and ``a`` i.i.d. ``N(0, S^2)``).

:func:`adam_step_bound` bounds how far Adam can move one coordinate in ``n`` steps, whatever
the gradients: by Cauchy-Schwarz ``|m_hat_t| <= R_t sqrt(v_hat_t)`` with
``R_t^2 = sum_s w_s^2/u_s`` (``w``, ``u``: the bias-corrected weights of ``m`` and ``v``), so
one step moves a coordinate by at most ``lr R_t``.
"""

from __future__ import annotations

import math

import numpy as np

import ktiw.core.training


class NumpyOptimizer:
    """The update of :class:`~ktiw.core.training.Training`'s optimizer on a list of numpy arrays, in place.

    Every array may carry leading seed axes: the update is elementwise, so seeds never mix.
    """

    def __init__(self, training: ktiw.core.training.Training, params: list[np.ndarray]) -> None:
        self.tr = training
        self.t = 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params] if training.optimizer == "adam" else []

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        tr = self.tr
        self.t += 1
        if tr.optimizer == "adam":
            b1, b2 = tr.beta1, tr.beta2
            step = tr.lr / (1 - b1**self.t)
            root = math.sqrt(1 - b2**self.t)
            for p, g, m, v in zip(params, grads, self.m, self.v, strict=True):
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * g * g
                p -= step * m / (np.sqrt(v) / root + tr.adam_eps)
            return
        for p, g, buf in zip(params, grads, self.m, strict=True):
            if tr.momentum and self.t > 1:
                buf *= tr.momentum
                buf += g
            else:
                buf[...] = g
            p -= tr.lr * buf


def adam_ratio_bound(t: np.ndarray | int, beta1: float = 0.9, beta2: float = 0.999) -> np.ndarray:
    """``R_t``: the largest ``|m_hat_t| / sqrt(v_hat_t)`` any gradient history can give.

    ``R_t^2 = (1-b1)^2 (1-b2^t) (1-q^t) / ((1-b1^t)^2 (1-b2) (1-q))`` with ``q = b1^2/b2``
    (the sum of ``w_s^2/u_s`` over ``s = 1..t``; ``R_1 = 1``).
    """
    t = np.asarray(t, dtype=np.float64)
    q = beta1**2 / beta2
    r2 = (1 - beta1) ** 2 * (1 - beta2**t) * (1 - q**t) / ((1 - beta1**t) ** 2 * (1 - beta2) * (1 - q))
    return np.sqrt(r2)


def converged_after(*bases: float) -> int:
    """A step ``T`` beyond which every ``base^t`` is below float64's resolution (``1e-17``), so
    expressions in them are constant to rounding: sums over ``t <= n`` need only ``t <= T``
    (memory and time ``O(T)``, not ``O(n)``: ``--steps 1e9`` no longer allocates 8 GB)."""
    worst = max(b for b in bases if 0 < b < 1) if any(0 < b < 1 for b in bases) else 0.0
    return 1 if worst == 0.0 else math.ceil(math.log(1e-17) / math.log(worst)) + 1


def adam_step_bound(n: int, lr: float, beta1: float = 0.9, beta2: float = 0.999) -> float:
    """Largest distance one coordinate can move in ``n`` Adam steps: ``lr sum_{t<=n} R_t``
    (terms beyond :func:`converged_after` equal ``R_T``: summed in closed form)."""
    if n < 1:
        return 0.0
    T = min(n, converged_after(beta1, beta2, beta1**2 / beta2))
    r = adam_ratio_bound(np.arange(1, T + 1), beta1, beta2)
    return float(lr * (r.sum() + (n - T) * r[-1]))
