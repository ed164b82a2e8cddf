"""The toy model with ``H`` attention heads sharing one KTIW matrix, and the multi-head
"rescue" in its terms.

Model, for one target token with gathered rows ``X[l, o] = B[x_l, o]``::

    alpha_h[l] = softmax_l a_h[l]                       (h = 1 .. H)
    s(o)       = (1/H) sum_h sum_l alpha_h[l] X[l, o]   (heads' contexts averaged)
    loss       = -s(y) + log sum_o exp s(o)             (token mean over targets)

Derivation (:func:`derive`, sympy, at concrete sizes with every entry a free symbol):

1. ``d loss / d alpha_h[l] = -(1/H) g[l]`` with ``g[l] = X[l, y] - sum_o p_o X[l, o]`` and
   ``p = softmax(s)``: the *same* vector for every head, built from the shared ``B`` and the
   shared output distribution.
2. the softmax Jacobian ``d alpha[l] / d a[m] = alpha[l] (1[l = m] - alpha[m])``;
3. hence ``d loss / d a_h[m] = -(1/H) alpha_h[m] (g[m] - sum_l alpha_h[l] g[l])``: every
   head's attention is pushed towards the positions with large ``g``, whichever head made
   ``B`` learn them.

Consequence for copying a permutation (the saddle): with ``B = 0`` and every head at zero
the origin is a fixed point; if only *one* head's symmetry is broken (``a_1 = eps I``), the
shared ``B`` learns KTIW through it, ``g`` becomes large at the correct position, and a
head that started exactly at zero, which alone would never move, takes off as well
(:func:`rescue_flow` integrates the full-parameter flow on the exact support).

No torch; sympy is imported inside :func:`derive`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import softmax

from ktiw.data.distribution import ordered_subsets

# --------------------------------------------------------------------------- sympy


@dataclass(frozen=True)
class MultiHeadDerivation:
    """The derivation at sizes ``H, L, K`` (target word ``y = 0`` without loss of generality).

    ``dloss_dalpha[h][l]`` raw sympy derivatives; ``g[l]`` the shared advantage;
    ``softmax_jacobian[l][m]`` = ``d alpha_l / d a_m`` with ``alpha`` named back;
    ``dloss_da[h][m]`` the chained gradient; ``stated[h][m]`` the stated form; the
    ``*_residual`` fields are the simplified differences (all zero).  ``general`` holds
    symbolic versions with indexed symbols for the Markdown page.
    """

    H: int
    L: int
    K: int
    loss: Any
    g: list[Any]
    dloss_dalpha: list[list[Any]]
    alpha_residual: list[list[Any]]
    softmax_jacobian: list[list[Any]]
    softmax_residual: list[list[Any]]
    dloss_da: list[list[Any]]
    stated: list[list[Any]]
    stated_residual: list[list[Any]]
    general: dict[str, Any]


@functools.cache
def derive(H: int = 2, L: int = 3, K: int = 2) -> MultiHeadDerivation:
    """Derive the multi-head attention gradient with sympy (see module docstring)."""
    import sympy as sp

    alpha = [[sp.Symbol(f"alpha_{h}{l}", positive=True) for l in range(L)] for h in range(H)]
    X = [[sp.Symbol(f"X_{l}{o}") for o in range(K)] for l in range(L)]
    y = 0
    s = [sp.Rational(1, H) * sum(alpha[h][l] * X[l][o] for h in range(H) for l in range(L)) for o in range(K)]
    loss = -s[y] + sp.log(sum(sp.exp(s[o]) for o in range(K)))
    Z = sum(sp.exp(s[o]) for o in range(K))
    p = [sp.exp(s[o]) / Z for o in range(K)]
    g = [X[l][y] - sum(p[o] * X[l][o] for o in range(K)) for l in range(L)]
    d_alpha = [[sp.diff(loss, alpha[h][l]) for l in range(L)] for h in range(H)]
    alpha_res = [[sp.simplify(d_alpha[h][l] + g[l] / H) for l in range(L)] for h in range(H)]

    # softmax Jacobian, derived from raw logits and then re-expressed in alpha
    a = [sp.Symbol(f"a_{l}") for l in range(L)]
    Za = sum(sp.exp(v) for v in a)
    soft = [sp.exp(a[l]) / Za for l in range(L)]
    al = [sp.Symbol(f"alpha_{l}", positive=True) for l in range(L)]
    jac = [[sp.diff(soft[l], a[m]) for m in range(L)] for l in range(L)]
    jac_named = [[al[l] * ((1 if l == m else 0) - al[m]) for m in range(L)] for l in range(L)]
    soft_res = [
        [sp.simplify(jac[l][m] - jac_named[l][m].subs({al[k]: soft[k] for k in range(L)})) for m in range(L)]
        for l in range(L)
    ]

    # chain rule: d loss / d a_h[m] = sum_l d loss / d alpha_h[l] * d alpha_h[l] / d a_h[m]
    da = [
        [
            sum(
                d_alpha[h][l] * jac_named[l][m].subs({al[k]: alpha[h][k] for k in range(L)}) for l in range(L)
            )
            for m in range(L)
        ]
        for h in range(H)
    ]
    stated = [
        [
            -sp.Rational(1, H) * alpha[h][m] * (g[m] - sum(alpha[h][l] * g[l] for l in range(L)))
            for m in range(L)
        ]
        for h in range(H)
    ]
    stated_res = [[sp.simplify(da[h][m] - stated[h][m]) for m in range(L)] for h in range(H)]

    # symbolic (indexed) statements for the page
    hh, ll, mm, oo = sp.symbols("h l m o", integer=True)
    Hs, Ls, Ks = sp.symbols("H L K", integer=True, positive=True)
    A, Xi, P, Gi = sp.IndexedBase("alpha"), sp.IndexedBase("X"), sp.IndexedBase("p"), sp.IndexedBase("g")
    ys = sp.Symbol("y", integer=True)
    general = {
        "s": sp.Sum(A[hh, ll] * Xi[ll, oo], (hh, 1, Hs), (ll, 1, Ls)) / Hs,
        "g": Xi[mm, ys] - sp.Sum(P[oo] * Xi[mm, oo], (oo, 1, Ks)),
        "dalpha": -Gi[ll] / Hs,
        "da": -A[hh, mm] * (Gi[mm] - sp.Sum(A[hh, ll] * Gi[ll], (ll, 1, Ls))) / Hs,
    }
    return MultiHeadDerivation(
        H, L, K, loss, g, d_alpha, alpha_res, jac, soft_res, da, stated, stated_res, general
    )


# --------------------------------------------------------------------------- numbers


def gradients(
    B: np.ndarray, a: np.ndarray, src: np.ndarray, tgt: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, np.ndarray, np.ndarray]:
    """Loss and gradients of the multi-head toy model with positional logits per head.

    ``B [|I|, |O|]``, ``a [H, T, L]``, ``src [n, L]``, ``tgt [n, T]`` (no padding), example
    weights ``w [n]`` summing to 1 (uniform by default).  Loss = ``sum_n w_n mean_t loss_{n,t}``.
    Uses the derived forms: ``dloss/dX[l, o] = (1/H) sum_h alpha_h[l] (p_o - 1[o = y])`` and
    ``dloss/da_h[m] = -(1/H) alpha_h[m] (g[m] - sum_l alpha_h[l] g[l])``.
    Returns ``(loss, dB, da)``.
    """
    B = np.asarray(B, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    src = np.asarray(src, dtype=np.int64)
    tgt = np.asarray(tgt, dtype=np.int64)
    H, T, _ = a.shape
    n = src.shape[0]
    w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, dtype=np.float64)
    alpha = softmax(a, axis=-1)  # [H, T, L]
    abar = alpha.mean(axis=0)  # [T, L]
    X = B[src]  # [n, L, O]
    s = np.einsum("tl,nlo->nto", abar, X)
    p = softmax(s, axis=-1)
    logp_y = (
        np.take_along_axis(s, tgt[..., None], -1)[..., 0]
        - np.log(np.exp(s - s.max(-1, keepdims=True)).sum(-1))
        - s.max(-1)
    )
    loss = float(-(w[:, None] * logp_y).sum() / T)
    onehot = np.zeros_like(p)
    np.put_along_axis(onehot, tgt[..., None], 1.0, axis=-1)
    r = (p - onehot) * (w[:, None, None] / T)  # [n, T, O]
    dX = np.einsum("tl,nto->nlo", abar, r)  # [n, L, O]
    dB = np.zeros_like(B)
    np.add.at(dB, src.reshape(-1), dX.reshape(-1, B.shape[1]))
    g = np.take_along_axis(X[:, None], tgt[:, :, None, None], -1)[..., 0] - np.einsum("nto,nlo->ntl", p, X)
    wt = (w / T)[:, None, None]
    centred = g[None] - np.einsum("htl,ntl->hnt", alpha, g)[..., None]  # [H, n, T, L]
    da = -(alpha[:, None] * centred * wt[None]).sum(axis=1) / H
    return loss, dB, da


@dataclass(frozen=True)
class RescueFlow:
    """Full-parameter gradient flow of the ``H``-head toy model on the exact copy support.

    ``attn_correct[h, i]``: mean over target positions of head ``h``'s attention on the correct
    source position at time ``t[i]``; ``p_correct[i]``: ``exp(-loss)``; ``takeoff[h]``: the time
    ``attn_correct[h]`` first crosses 1/2 (linear interpolation on the grid ``t``; ``None`` if not
    within ``t``).
    """

    k: int
    V: int
    head_eps: tuple[float, ...]
    b_eps: float
    t: np.ndarray
    attn_correct: np.ndarray
    p_correct: np.ndarray
    takeoff: list[float | None]


def copy_support(k: int, V: int) -> tuple[np.ndarray, np.ndarray]:
    """All ``V!/(V-k)!`` copy examples of ``k`` distinct words out of ``V`` (``src = tgt``)."""
    src = np.array(list(ordered_subsets(V, k)), dtype=np.int64)
    return src, src.copy()


def rescue_flow(
    k: int = 4,
    V: int | None = None,
    head_eps: Sequence[float] = (1e-3, 0.0),
    b_eps: float = 0.0,
    t_max: float = 2000.0,
    n_points: int = 400,
) -> RescueFlow:
    """Integrate ``dB/dt = -dLoss/dB``, ``da_h/dt = -dLoss/da_h`` for copying ``k`` of ``V``
    (``V = k``: permutation) from ``B = b_eps I``, ``a_h = head_eps[h] I`` (positional logits
    ``[k, k]`` per head), on the exact support with the token-mean loss.

    ``t`` is gradient-flow time of the full parameters, as in :mod:`ktiw.theory.flow`.
    """
    from scipy.integrate import solve_ivp

    V = k if V is None else V
    if k < 2 or k > V:
        raise ValueError(f"need 2 <= k <= V, got k={k}, V={V}")
    H = len(head_eps)
    if H < 1:
        raise ValueError("need at least one head")
    src, tgt = copy_support(k, V)
    nB = V * V

    def unpack(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return z[:nB].reshape(V, V), z[nB:].reshape(H, k, k)

    def rhs(_t: float, z: np.ndarray) -> np.ndarray:
        B, a = unpack(z)
        _, dB, da = gradients(B, a, src, tgt)
        return -np.concatenate([dB.ravel(), da.ravel()])

    B0 = b_eps * np.eye(V)
    a0 = np.stack([e * np.eye(k) for e in head_eps])
    t = np.linspace(0.0, float(t_max), n_points)
    sol = solve_ivp(
        rhs, (0.0, float(t_max)), np.concatenate([B0.ravel(), a0.ravel()]), t_eval=t, rtol=1e-8, atol=1e-10
    )
    if not sol.success:  # pragma: no cover - smooth, bounded right-hand side
        raise RuntimeError(sol.message)
    attn = np.zeros((H, len(t)))
    p_correct = np.zeros(len(t))
    for i in range(len(t)):
        B, a = unpack(sol.y[:, i])
        attn[:, i] = np.einsum("htt->h", softmax(a, axis=-1)) / k
        loss, _, _ = gradients(B, a, src, tgt)
        p_correct[i] = np.exp(-loss)
    takeoff: list[float | None] = []
    for h in range(H):
        hit = np.nonzero(attn[h] >= 0.5)[0]
        if not hit.size:
            takeoff.append(None)
        elif hit[0] == 0:
            takeoff.append(0.0)
        else:  # linear interpolation between the two samples around the crossing
            i = hit[0]
            frac = (0.5 - attn[h, i - 1]) / (attn[h, i] - attn[h, i - 1])
            takeoff.append(float(t[i - 1] + frac * (t[i] - t[i - 1])))
    return RescueFlow(k, V, tuple(float(e) for e in head_eps), float(b_eps), t, attn, p_correct, takeoff)


# --------------------------------------------------------------------------- page


def multihead_page() -> str:
    """Markdown page with LaTeX (``sympy.latex`` of the live expressions) and the rescue numbers."""
    import sympy as sp

    d = derive()
    G = d.general
    zero = all(e == 0 for row in d.stated_residual for e in row) and all(
        e == 0 for row in d.alpha_residual for e in row
    )
    flow = rescue_flow(k=4, head_eps=(1e-3, 0.0), t_max=1500.0, n_points=301)
    alone = rescue_flow(k=4, head_eps=(0.0,), t_max=1500.0, n_points=31)
    one_head = rescue_flow(k=4, head_eps=(1e-3,), t_max=1500.0, n_points=301)

    def fmt(x: float | None) -> str:
        return "never (within the horizon)" if x is None else f"{x:.4g}"

    same = ", ".join(sp.latex(sp.simplify(d.dloss_dalpha[0][l] - d.dloss_dalpha[1][l])) for l in range(d.L))
    lag = float(np.interp(flow.takeoff[0], flow.t, flow.attn_correct[1])) if flow.takeoff[0] else float("nan")
    return f"""# Several heads, one KTIW matrix: the multi-head rescue

Each head $h$ has its own attention logits and weights $\\alpha_{{h}}$; the heads' contexts are
averaged, and all heads read the same KTIW matrix $B$ (rows $X_{{l,o}} = B_{{x_l,o}}$):

$$s(o) = {sp.latex(G["s"])}.$$

## The gradient (sympy)

Differentiating the per-token loss $-s(y) + \\log\\sum_o e^{{s(o)}}$ with respect to each head's
attention weights gives, for every head,

$$\\frac{{\\partial \\ell}}{{\\partial \\alpha_{{h,l}}}} = {sp.latex(G["dalpha"])},
\\qquad g_m = {sp.latex(G["g"])},$$

the **same** advantage vector $g$ for every head, built from the shared $B$ and the shared output
distribution $p$. Through the softmax Jacobian
$\\partial\\alpha_l/\\partial a_m = \\alpha_l(\\delta_{{lm}} - \\alpha_m)$,

$$\\frac{{\\partial \\ell}}{{\\partial a_{{h,m}}}} = {sp.latex(G["da"])}.$$

sympy checks this at $H = {d.H}$, $L = {d.L}$, $|O| = {d.K}$ with every entry a free symbol
(all residuals simplify to zero: {zero}); in particular the two heads' weight gradients
$\\partial\\ell/\\partial\\alpha_{{0,l}} - \\partial\\ell/\\partial\\alpha_{{1,l}}$ simplify to ${same}$ for
$l = 0, \\dots, {d.L - 1}$.

So KTIW learned through one head (a large $g_m$ at the correct position $m$) pushes the attention
of **every** head towards $m$, with strength $\\alpha_{{h,m}}/H$: a head at uniform attention
($\\alpha_{{h,m}} = 1/L$) is pushed as soon as $g$ has spread, whether or not it ever broke its own symmetry.

## The rescue on the permutation saddle

Copying a permutation of $k = 4$ words: full-parameter gradient flow on the exact support
(all $4! = 24$ sequences), $B = 0$ at the start.

| start | takeoff of each head (attention on the correct word $\\geq 1/2$) |
|---|---|
| 1 head, $a = 0$ | {fmt(alone.takeoff[0])} (the origin is a fixed point) |
| 1 head, $a = 10^{{-3}} I$ | {fmt(one_head.takeoff[0])} |
| 2 heads, $a_1 = 10^{{-3}} I$, $a_2 = 0$ | head 1: {fmt(flow.takeoff[0])}; head 2: {fmt(flow.takeoff[1])} |

When head 1 reaches 1/2, head 2's attention on the correct word is $1/2 - {0.5 - lag:.2e}$ (it started
at 1/4): the unstable direction of the saddle moves all heads alike, so the zero head is not left
behind; it only lacks the seed $\\varepsilon$ that a lone head would need.
Head 2 starts exactly where a lone head would stay forever; it takes off because head 1's broken
symmetry lets $B$ learn KTIW, and $g$ built from that shared $B$ drives head 2 too. This is the
toy model's version of the paper's finding that one good head lets an otherwise bad combination learn.
Horizon: $t \\le 1500$ (gradient-flow time of the full parameters).

## Assumptions and where they break

* Heads share $B$ exactly, as the averaged projected contexts of a real model share the output
  layer; real heads also have their own projections $P_h$, so their "votes" differ.
* Attention logits are free positional parameters; a real head computes them from hidden states.
"""
