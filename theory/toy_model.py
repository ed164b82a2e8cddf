"""The theory's toy model, written down symbolically and differentiated by sympy.

Model, for one target token with ``L`` source positions and ``K = |O|`` output words::

    alpha_l = exp(a_l) / sum_j exp(a_j)                 (attention weights)
    s(o)    = sum_l alpha_l X[l, o],   X[l, o] = B[x_l, o]  (output logits)
    loss    = -s(y) + log sum_o exp(s(o))               (cross-entropy of the target y)

The training loss is the mean of this per-token loss over all target tokens (token
mean, as ``NLLLoss(reduction="mean")``).  ``sympy.diff`` of the per-token loss with
respect to one gathered entry ``X[m, k]`` and one attention logit ``a_m``, followed by
naming the softmaxes ``alpha`` and ``p``, gives (see :func:`derive`)::

    d loss / d X[m, k] = alpha_m (p_k - 1[k = y])                       (stage 1)
    d loss / d a_m     = -alpha_m (g_m - sum_l alpha_l g_l),
                         g_l = X[l, y] - sum_o p_o X[l, o]              (stage 2)

The gradient for ``B`` scatters ``d loss/d X[m, .]`` to row ``x_m``.  At ``B = 0``,
``a = 0`` the first line is ``(1/L)(1/K - 1[k = y])``, so ``-dB`` is the centred
co-occurrence matrix ``C`` of :mod:`ktiw.data.distribution`.

:func:`gradients` evaluates the *derived* expressions numerically (lambdified with
sympy); the forward pass (softmaxes) is the model's definition.  Derivation takes
about a second and is done once per process, on first use.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import softmax


@dataclass(frozen=True)
class Derivation:
    """The symbolic toy model and its derived gradients (sympy objects).

    ``loss`` is the per-token loss in the raw parameters ``a[l]``, ``X[l, o]``;
    ``grad_x`` and ``grad_a`` are its derivatives with respect to ``X[m, k]`` and ``a[m]``
    after naming ``alpha[l]`` (attention softmax) and ``p[o]`` (output softmax);
    ``stage1`` is ``-grad_x`` at uniform attention and uniform output; ``stage2`` is the
    stated form ``-alpha_m (g_m - sum_l alpha_l g_l)`` (proved equal to ``grad_a`` in the tests).
    """

    symbols: dict[str, Any]
    loss: Any
    grad_x_raw: Any
    grad_a_raw: Any
    grad_x: Any
    grad_a: Any
    stage1: Any
    g: Any
    stage2: Any


def _first_branch(expr: Any) -> Any:
    """Replace every ``Piecewise`` produced by summing a ``KroneckerDelta`` by its first branch.

    ``Sum(f(l) * KroneckerDelta(l, m), (l, 0, L-1))`` evaluates to
    ``Piecewise((f(m), 0 <= m <= L-1), (0, True))``; the free indices ``m < L`` and
    ``k < K`` always lie in range, so the first branch is the value.
    """
    import sympy as sp

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), lambda e: e.args[0][0])


@functools.cache
def derive() -> Derivation:
    """Differentiate the symbolic per-token loss and simplify it to the stage-1/2 forms."""
    import sympy as sp

    l, o, j, m, k = sp.symbols("l o j m k", integer=True, nonnegative=True)
    L, K = sp.symbols("L K", integer=True, positive=True)
    y = sp.Symbol("y", integer=True, nonnegative=True)
    a, X = sp.IndexedBase("a"), sp.IndexedBase("X")
    alpha, p, E = sp.IndexedBase("alpha"), sp.IndexedBase("p"), sp.IndexedBase("E")
    Z, W = sp.symbols("Z W", positive=True)

    Zsum = sp.Sum(sp.exp(a[j]), (j, 0, L - 1))

    def s(q: Any) -> Any:
        return sp.Sum(sp.exp(a[l]) / Zsum * X[l, q], (l, 0, L - 1))

    loss = -s(y) + sp.log(sp.Sum(sp.exp(s(o)), (o, 0, K - 1)))
    grad_x_raw = _first_branch(sp.diff(loss, X[m, k]).doit())
    grad_a_raw = _first_branch(sp.diff(loss, a[m]).doit())

    def is_a(e: Any) -> bool:
        return isinstance(e, sp.Indexed) and e.base == a

    def name_softmaxes(e: Any) -> Any:
        """Rewrite exp(a_l) = alpha_l Z and exp(s(o)) = p_o W, then let Z and W cancel."""
        e = sp.expand(e, power_exp=True, mul=False, multinomial=False, log=False, basic=False)
        e = e.replace(
            lambda x: isinstance(x, sp.Sum) and x.function.func == sp.exp and is_a(x.function.args[0]),
            lambda x: Z,
        )
        e = e.replace(
            lambda x: x.func == sp.exp and is_a(x.args[0]), lambda x: alpha[x.args[0].indices[0]] * Z
        )
        e = sp.expand(e, power_exp=True, mul=False, multinomial=False, log=False, basic=False)
        # exp(s(o)) became Product_l exp(alpha_l X[l, o]); call it E[o], its sum over o is W.
        e = e.replace(
            lambda x: isinstance(x, sp.Product),
            lambda x: E[next(i for i in x.function.atoms(sp.Indexed) if i.base == X).indices[1]],
        )
        e = e.replace(
            lambda x: isinstance(x, sp.Sum) and isinstance(x.function, sp.Indexed) and x.function.base == E,
            lambda x: W,
        )
        e = e.replace(lambda x: isinstance(x, sp.Indexed) and x.base == E, lambda x: p[x.indices[0]] * W)
        return sp.simplify(_first_branch(e.doit()))

    dX = name_softmaxes(grad_x_raw)
    da = name_softmaxes(grad_a_raw)
    uniform = {alpha[m]: 1 / L, p[k]: 1 / K}
    stage1 = sp.simplify(-dX.subs(uniform))
    g = X[m, y] - sp.Sum(p[o] * X[m, o], (o, 0, K - 1))
    stage2 = -alpha[m] * (g - sp.Sum(alpha[l] * g.subs(m, l), (l, 0, L - 1)))
    symbols = dict(l=l, o=o, j=j, m=m, k=k, L=L, K=K, y=y, a=a, X=X, alpha=alpha, p=p)
    return Derivation(symbols, loss, grad_x_raw, grad_a_raw, dX, da, stage1, g, stage2)


class _Trailing:
    """Array wrapper for lambdified ``Indexed`` access: ``A[i, j]`` means ``A[token, i, j]``.

    The leading axis runs over target tokens and is indexed jointly with the symbolic
    indices, so the free indices ``m`` (shape ``(L, 1)``), ``k`` (``(1, K)``), the target
    ``y`` (``(N, 1, 1)``) and scalar dummy indices all broadcast to ``(N, L, K)``.
    """

    def __init__(self, arr: np.ndarray) -> None:
        self.arr = arr
        self.tok = np.arange(arr.shape[0]).reshape(-1, 1, 1)

    def __getitem__(self, idx: Any) -> np.ndarray:
        idx = idx if isinstance(idx, tuple) else (idx,)
        return self.arr[(self.tok, *idx)]


def _kronecker(i: Any, j: Any) -> Any:
    return np.equal(i, j).astype(np.float64)


@functools.cache
def _numeric() -> tuple[Any, Any]:
    """Lambdify the derived ``grad_x`` and ``grad_a`` (once per process)."""
    import sympy as sp

    d = derive()
    S = d.symbols
    args = (S["alpha"], S["p"], S["X"], S["y"], S["m"], S["k"], S["L"], S["K"])
    kd = sp.Function("kronecker")
    mods = [{"kronecker": _kronecker}, "numpy"]
    dX, da = (e.replace(sp.KroneckerDelta, kd) for e in (d.grad_x, d.grad_a))
    return sp.lambdify(args, dX, modules=mods), sp.lambdify(args, da, modules=mods)


def gradients(
    B: np.ndarray, a: np.ndarray, src: np.ndarray, tgt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of the token-mean toy-model loss with respect to ``B`` and the attention logits ``a``.

    ``B``: ``(|I|, |O|)`` KTIW matrix; ``a``: ``(T, L)`` positional attention logits shared by
    all examples; ``src``: ``(n, L)`` input word ids; ``tgt``: ``(n, T)`` output word ids.
    Loss = ``(1/(nT)) sum_{e,t} [-s_{e,t}(y_{e,t}) + log sum_o exp s_{e,t}(o)]`` with
    ``s_{e,t}(o) = sum_l softmax(a[t])_l B[src[e,l], o]``.  Returns ``(dB, da)`` of the shapes
    of ``B`` and ``a``, computed from the sympy-derived per-token gradients.
    """
    B = np.asarray(B, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    src = np.asarray(src, dtype=np.int64)
    tgt = np.asarray(tgt, dtype=np.int64)
    n, L = src.shape
    T = tgt.shape[1]
    K = B.shape[1]
    if a.shape != (T, L):
        raise ValueError(f"a must have shape (T, L) = ({T}, {L}), got {a.shape}")
    N = n * T
    alpha = np.broadcast_to(softmax(a, axis=-1)[None], (n, T, L)).reshape(N, L)
    X = np.broadcast_to(B[src][:, None], (n, T, L, K)).reshape(N, L, K)
    s = np.einsum("nl,nlo->no", alpha, X)
    p = softmax(s, axis=-1)
    y = tgt.reshape(N, 1, 1)
    m = np.arange(L).reshape(L, 1)
    k = np.arange(K).reshape(1, K)
    fX, fa = _numeric()
    wrap = (_Trailing(alpha), _Trailing(p), _Trailing(X))
    dX = np.broadcast_to(fX(*wrap, y, m, k, L, K), (N, L, K))
    da = np.broadcast_to(fa(*wrap, y, m, k, L, K), (N, L, K))[:, :, 0]
    dB = np.zeros_like(B)
    rows = np.broadcast_to(src[:, None, :], (n, T, L)).reshape(N * L)
    np.add.at(dB, rows, dX.reshape(N * L, K))
    return dB / N, da.reshape(n, T, L).sum(axis=0) / N
