"""Classification in the toy model's terms: which words a bag of words finds salient
(stage 1), where attention then goes (stage 2), and the paper's two-sequence warm-up.

Setting.  An example is a word sequence ``x = (x_1..x_L)`` and a label
``y in {0 = neg, 1 = pos}``, written as a distribution over pairs whose output is the
one-token sequence ``(y,)`` with output vocabulary ``['neg', 'pos']`` (so ``|O| = 2``).
The toy classifier has a score ``b_i`` per word and attention logits ``a_l``:
``s(x) = sum_l alpha_l b_{x_l}``, ``alpha = softmax(a)``, ``P(pos | x) = sigmoid(s)``,
loss = expected binary cross-entropy (the paper: ``sigmoid(sum_l p_l W h_l)`` with
``W h_l`` playing the part of ``b_{x_l}``).

* **Stage 1** (``b = 0``, uniform attention): ``db_i/dtau = E[(n_i(x)/L)(y - 1/2)]``,
  which is the co-occurrence matrix of :mod:`ktiw.data.distribution` read in its
  ``pos`` column, ``c_i = C[i, pos] = -C[i, neg]`` (:func:`word_label_signal`).
* **Stage 2** (``b ~ tau c``): the velocity of the attention logit of position ``l`` is
  ``w (y - sigmoid(s)) alpha_l (b_{x_l} - s)``, to first order in ``tau``
  ``(tau / 2) w alpha_l (C[x_l, y] - sum_l' alpha_l' C[x_l', y])``: attention drifts to the
  positions with the largest ``C[x_l, y]`` (:func:`stage2_scores`), the words whose
  co-occurrence with the example's own label is strongest.
* **keyword family** ``keyword:L=..,V=..,K=..`` (:class:`ktiw.data.keyword.Keyword`): a few keywords decide
  the label, the other words are Zipf-distributed distractors.  ``C`` in closed form.
* **data files** ``label<TAB>tokens`` (:func:`ktiw.data.corpus.load_labelled`).
* **warm-up toy** (:func:`derive_warmup`, :func:`warmup_softmax_flow`): sympy ``dsolve``
  closed form and its softmax-constrained version, solved with ``solve_ivp``.

Only numpy/scipy at import time; sympy and scipy.integrate are imported inside the
functions that need them, so importing this module keeps ``ktiw predict`` fast.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from ktiw.data.distribution import Cooccurrence
from ktiw.data.keyword import POS


def keyword_cooccurrence_symbolic() -> dict[str, Any]:
    """``C[i, pos]`` of the keyword family derived with sympy from its generative process:
    ``C[i, pos] = sum_c P(c) E[n_i / L | c] (P(y = pos | c) - 1/2)``.

    Returns the sympy symbols and the expressions for a positive keyword, a negative
    keyword and a distractor (``q`` its frequency).
    """
    import sympy as sp

    L, kw, Kp, Kn, eta, q = sp.symbols("L k_w K_+ K_- eta q", positive=True)
    half = sp.Rational(1, 2)
    p_pos = {"pos": 1 - eta, "neg": eta}  # P(y = pos | clean label)
    counts = {  # E[n_i | clean label]
        "positive keyword": {"pos": kw / Kp, "neg": 0},
        "negative keyword": {"pos": 0, "neg": kw / Kn},
        "distractor": {"pos": (L - kw) * q, "neg": (L - kw) * q},
    }
    exprs = {
        word: sp.factor(sp.simplify(sum(half * n[c] / L * (p_pos[c] - half) for c in ("pos", "neg"))))
        for word, n in counts.items()
    }
    return {"symbols": {"L": L, "kw": kw, "K+": Kp, "K-": Kn, "eta": eta, "q": q}, "C_pos": exprs}


# --------------------------------------------------------------------------- stages 1 and 2


def word_label_signal(C: Cooccurrence | np.ndarray, pos: int = POS) -> np.ndarray:
    """Stage 1: ``c_i = C[i, pos] = E[(n_i/L)(1[y = pos] - 1/2)]``, the velocity of the word
    score ``b_i`` at ``b = 0`` under uniform attention (:func:`classifier_gradients`)."""
    dense = C.dense() if isinstance(C, Cooccurrence) else np.asarray(C, dtype=np.float64)
    if dense.ndim != 2 or dense.shape[1] != 2:
        raise ValueError(f"expected a |I| x 2 co-occurrence matrix, got shape {dense.shape}")
    return dense[:, pos].copy()


def stage2_scores(C: Cooccurrence | np.ndarray, src: np.ndarray, tgt: np.ndarray) -> np.ndarray:
    """Stage 2 ranking of source positions: ``score[n, t, l] = C~[src[n, l], tgt[n, t]]``
    (``C`` is row-centred, ``C~ = C``), shape ``[N, T, L]``; ``-inf`` at padding (id < 0).

    Attention for target token ``t`` drifts towards the positions with the largest score;
    for classification ``T = 1`` and ``tgt[n, 0]`` is the label.
    """
    src = np.asarray(src, dtype=np.int64)
    tgt = np.asarray(tgt, dtype=np.int64)
    i = np.broadcast_to(np.maximum(src, 0)[:, None, :], (src.shape[0], tgt.shape[1], src.shape[1]))
    o = np.broadcast_to(np.maximum(tgt, 0)[:, :, None], i.shape)
    vals = C.entries(i, o) if isinstance(C, Cooccurrence) else np.asarray(C, dtype=np.float64)[i, o]
    padded = (src < 0)[:, None, :] | (tgt < 0)[:, :, None]
    return np.where(padded, -np.inf, vals)


def classifier_gradients(
    b: np.ndarray,
    a: np.ndarray,
    src: np.ndarray,
    y: np.ndarray,
    src_len: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Loss and exact gradients of the toy classifier with per-example attention logits.

    ``s_n = sum_l alpha_nl b[x_nl]`` (``alpha_n = softmax(a_n)`` over ``l < src_len[n]``),
    ``p_n = sigmoid(s_n)``, loss ``= sum_n w_n BCE(p_n, y_n)`` (``w`` uniform by default), so
    ``dloss/db_i = sum_n w_n (p_n - y_n) sum_l alpha_nl 1[x_nl = i]`` and
    ``dloss/da_nl = w_n (p_n - y_n) alpha_nl (b[x_nl] - s_n)``.
    Returns ``(loss, dloss/db [|I|], dloss/da [N, L])``.
    """
    src = np.asarray(src, dtype=np.int64)
    N, L = src.shape
    lens = np.full(N, L) if src_len is None else np.asarray(src_len)
    valid = np.arange(L)[None, :] < lens[:, None]
    w = np.full(N, 1.0 / N) if weights is None else np.asarray(weights, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    logits = np.where(valid, np.asarray(a, dtype=np.float64), -np.inf)
    alpha = np.exp(logits - logits.max(axis=1, keepdims=True))
    alpha /= alpha.sum(axis=1, keepdims=True)
    bx = np.where(valid, np.asarray(b, dtype=np.float64)[np.maximum(src, 0)], 0.0)
    s = (alpha * bx).sum(axis=1)
    p = 1.0 / (1.0 + np.exp(-s))
    loss = float(np.dot(w, np.logaddexp(0.0, s) - y * s))  # BCE = log(1 + e^s) - y s
    r = w * (p - y)
    db = np.zeros(np.shape(b))
    np.add.at(db, src[valid], (r[:, None] * alpha)[valid])
    da = r[:, None] * alpha * (bx - s[:, None])
    return loss, db, np.where(valid, da, 0.0)


# --------------------------------------------------------------------------- warm-up toy


@dataclass(frozen=True)
class WarmupDerivation:
    """The warm-up toy, all sympy.

    Two sequences: ``{0, 0}`` labelled neg and ``{0, 1}`` labelled pos.  Word scores
    ``beta_0, beta_1``; ``p`` = attention on the word ``1`` of ``{0, 1}``.  Scores
    ``s_pos = p beta_1 + (1 - p) beta_0`` and ``s_neg = beta_0`` (both positions of ``{0, 0}``
    hold word 0, so its attention does not matter).  ``loss`` is linear in the scores and
    summed over the two sequences.
    """

    t: Any
    beta0: Any
    beta1: Any
    p: Any
    loss: Any
    odes: tuple[Any, ...]
    solution: dict[str, Any]
    breakdown_time: Any
    softmax_loss: Any
    softmax_odes: tuple[Any, ...]
    softmax_odes_in_p: tuple[Any, ...]
    invariant: Any
    invariant_rate: Any


@functools.lru_cache(maxsize=2)
def derive_warmup(literal_sign: bool = False) -> WarmupDerivation:
    """Derive the warm-up flow from ``beta_0 = beta_1 = 0``, ``p = 1/2``.

    ``literal_sign=False`` (default): ``loss = s_neg - s_pos`` (raising the positive
    sequence's score, the margin ``s_1 - s_0`` being the objective).  ``literal_sign=True``:
    ``loss = s_pos - s_neg``, the paper's "loss s_1 - s_0" read literally; its solution is the
    mirror image ``beta -> -beta`` with the same ``p(t)`` (the tests check it).

    Unconstrained (``p`` a free real parameter): gradient flow ``dtheta/dt = -dloss/dtheta``,
    solved in closed form with ``sympy.dsolve``; ``p`` leaves ``[0, 1]`` at ``breakdown_time``.

    Softmax-constrained: ``p = e^{a_1} / (e^{a_0} + e^{a_1})`` with free logits ``a_0, a_1``
    (start 0); with ``delta = beta_1 - beta_0`` and ``gamma = a_1 - a_0`` the flow keeps
    ``I = delta^2 / 2 - (gamma + e^gamma - 1)`` constant (``invariant_rate`` simplifies to 0),
    so ``I = 0`` along the solution from the origin.
    """
    import sympy as sp

    t = sp.symbols("t", nonnegative=True)
    B0, B1, P, A0, A1 = sp.symbols("beta_0 beta_1 p a_0 a_1", real=True)
    sign = 1 if literal_sign else -1
    s_pos = P * B1 + (1 - P) * B0
    s_neg = B0
    loss = sign * (s_pos - s_neg)
    fns = {B0: sp.Function("beta_0"), B1: sp.Function("beta_1"), P: sp.Function("p")}
    at_t = {sym: f(t) for sym, f in fns.items()}
    odes = tuple(sp.Eq(f(t).diff(t), -sp.diff(loss, sym).subs(at_t)) for sym, f in fns.items())
    ics = {fns[B0](0): 0, fns[B1](0): 0, fns[P](0): sp.Rational(1, 2)}
    solved = sp.dsolve(list(odes), ics=ics)
    by_name = {str(eq.lhs.func): sp.simplify(eq.rhs.rewrite(sp.cosh)) for eq in solved}
    solution = {"beta_0": by_name["beta_0"], "beta_1": by_name["beta_1"], "p": by_name["p"]}
    breakdown = sp.solve(sp.Eq(solution["p"], 1), t)[0]

    p_soft = sp.exp(A1) / (sp.exp(A0) + sp.exp(A1))
    softmax_loss = loss.subs(P, p_soft)
    params = (B0, B1, A0, A1)
    dots = [sp.Symbol(f"\\dot{{{sp.latex(q)}}}") for q in params]
    softmax_odes = tuple(
        sp.Eq(dot, sp.simplify(-sp.diff(softmax_loss, q))) for dot, q in zip(dots, params, strict=True)
    )
    # the flow depends on a_1 - a_0 only: a_0 = 0, a_1 = logit(p) writes it in terms of p
    in_p = {A0: 0, A1: sp.log(P / (1 - P))}
    softmax_odes_in_p = tuple(sp.Eq(eq.lhs, sp.factor(sp.simplify(eq.rhs.subs(in_p)))) for eq in softmax_odes)
    rates = {q: eq.rhs for q, eq in zip(params, softmax_odes, strict=True)}
    delta, gamma = B1 - B0, A1 - A0
    invariant = delta**2 / 2 - (gamma + sp.exp(gamma) - 1)
    rate = sum(sp.diff(invariant, q) * rates[q] for q in params)
    return WarmupDerivation(
        t=t,
        beta0=B0,
        beta1=B1,
        p=P,
        loss=loss,
        odes=odes,
        solution=solution,
        breakdown_time=breakdown,
        softmax_loss=softmax_loss,
        softmax_odes=softmax_odes,
        softmax_odes_in_p=softmax_odes_in_p,
        invariant=invariant,
        invariant_rate=sp.simplify(rate),
    )


def warmup_closed_form(t: np.ndarray, literal_sign: bool = False) -> dict[str, np.ndarray]:
    """The dsolve closed form evaluated at times ``t``: ``beta_0``, ``beta_1``, ``p``."""
    import sympy as sp

    d = derive_warmup(literal_sign)
    t = np.asarray(t, dtype=np.float64)
    return {
        k: np.broadcast_to(sp.lambdify(d.t, e, "numpy")(t), t.shape).copy() for k, e in d.solution.items()
    }


@dataclass(frozen=True)
class WarmupFlow:
    """A numerically integrated warm-up flow: arrays over ``t`` (``a0, a1`` only for softmax)."""

    t: np.ndarray
    beta0: np.ndarray
    beta1: np.ndarray
    p: np.ndarray
    a0: np.ndarray | None = None
    a1: np.ndarray | None = None


def _integrate(rhs: Any, y0: list[float], t_eval: np.ndarray) -> np.ndarray:
    from scipy.integrate import solve_ivp

    sol = solve_ivp(
        lambda _t, y: np.asarray(rhs(*y), dtype=np.float64).ravel(),
        (0.0, float(t_eval[-1])),
        y0,
        t_eval=t_eval,
        method="DOP853",
        rtol=1e-11,
        atol=1e-13,
    )
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return sol.y


def warmup_linear_flow(t_eval: np.ndarray, literal_sign: bool = False) -> WarmupFlow:
    """The unconstrained flow integrated numerically (right-hand side = sympy gradient of the
    loss, independent of ``dsolve``), from ``beta = 0``, ``p = 1/2``."""
    import sympy as sp

    d = derive_warmup(literal_sign)
    q = (d.beta0, d.beta1, d.p)
    rhs = sp.lambdify(q, [-sp.diff(d.loss, v) for v in q], "numpy")
    y = _integrate(rhs, [0.0, 0.0, 0.5], np.asarray(t_eval, dtype=np.float64))
    return WarmupFlow(np.asarray(t_eval, dtype=np.float64), y[0], y[1], y[2])


def warmup_softmax_flow(t_eval: np.ndarray, literal_sign: bool = False) -> WarmupFlow:
    """The softmax-constrained flow (free logits ``a_0, a_1`` from 0) integrated with
    ``solve_ivp`` (DOP853, rtol 1e-11)."""
    import sympy as sp

    d = derive_warmup(literal_sign)
    A0, A1 = sp.symbols("a_0 a_1", real=True)
    q = (d.beta0, d.beta1, A0, A1)
    rhs = sp.lambdify(q, [eq.rhs for eq in d.softmax_odes], "numpy")
    t_eval = np.asarray(t_eval, dtype=np.float64)
    y = _integrate(rhs, [0.0, 0.0, 0.0, 0.0], t_eval)
    p = 1.0 / (1.0 + np.exp(-(y[3] - y[2])))
    return WarmupFlow(t_eval, y[0], y[1], p, y[2], y[3])


# --------------------------------------------------------------------------- docs page


def classification_page() -> str:
    """Markdown (MyST, ``$$`` math) derivation page for the docs; every formula is
    ``sympy.latex`` of the live expressions above."""
    import sympy as sp

    d = derive_warmup()
    lit = derive_warmup(literal_sign=True)
    kc = keyword_cooccurrence_symbolic()
    t_star = d.breakdown_time
    flow = warmup_softmax_flow(np.array([0.0, float(t_star), 2.0, 4.0]))

    def block(expr: Any) -> str:
        return f"$$\n{sp.latex(expr)}\n$$"

    sol = d.solution
    lines = [
        "# Classification: salient words and the warm-up toy",
        "",
        "Generated from `ktiw.theory.classification`; every formula below is `sympy.latex` of an",
        "expression the code computes with.",
        "",
        "## The warm-up toy",
        "",
        "Two sequences: $\\{0, 0\\}$ is negative, $\\{0, 1\\}$ positive.  Word scores $\\beta_0, \\beta_1$,",
        "attention $p$ on the word $1$ of the positive sequence, scores",
        "$s_{pos} = p\\beta_1 + (1-p)\\beta_0$ and $s_{neg} = \\beta_0$.  The loss, linear in the scores",
        "and summed over both sequences (the margin $s_{pos} - s_{neg}$ is to grow), is",
        "",
        block(sp.Eq(sp.Symbol("\\ell"), d.loss)),
        "",
        "With $p$ a free parameter, gradient flow from $\\beta_0 = \\beta_1 = 0$, $p = 1/2$ is the",
        "linear system",
        "",
        *[block(eq) + "\n" for eq in d.odes],
        "and `sympy.dsolve` gives the closed form",
        "",
        block(sp.Eq(sp.Function("\\beta_0")(d.t), sol["beta_0"])),
        "",
        block(sp.Eq(sp.Function("\\beta_1")(d.t), sol["beta_1"])),
        "",
        block(sp.Eq(sp.Function("p")(d.t), sol["p"])),
        "",
        "The word that only the positive sequence holds gains score at once ($\\beta_1$ grows while",
        "$\\beta_0$ falls), and the attention on it grows *because* the score difference",
        "$\\beta_1 - \\beta_0$ is positive: $\\dot p = \\beta_1 - \\beta_0$.  Knowledge of the word",
        "comes first, attention follows.  Unconstrained, $p$ leaves $[0, 1]$ at",
        f"$t^* = {sp.latex(t_star)} \\approx {float(t_star):.4f}$.",
        "",
        "Reading the loss with the opposite sign ($s_{pos} - s_{neg}$) gives the mirror image",
        f"$\\beta_1(t) = {sp.latex(lit.solution['beta_1'])}$ with the same",
        f"$p(t) = {sp.latex(lit.solution['p'])}$.",
        "",
        "### Softmax-constrained attention",
        "",
        "With $p = e^{a_1}/(e^{a_0} + e^{a_1})$ and free logits $a_0, a_1$ starting at 0 the loss is",
        "",
        block(sp.Eq(sp.Symbol("\\ell"), d.softmax_loss)),
        "",
        "and its gradient flow, written with $p = \\sigma(a_1 - a_0)$ (it depends on $a_1 - a_0$ only),",
        "",
        *[block(eq) + "\n" for eq in d.softmax_odes_in_p],
        "is integrated numerically (`solve_ivp`).  It has a first integral: with",
        "$\\delta = \\beta_1 - \\beta_0$ and",
        "$\\gamma = a_1 - a_0$ the quantity",
        "",
        block(sp.Eq(sp.Symbol("I"), d.invariant)),
        "",
        f"changes at rate ${sp.latex(d.invariant_rate)}$ along the flow, so $I = 0$ from the origin:",
        "$\\delta = \\sqrt{2(\\gamma + e^{\\gamma} - 1)}$.  Attention on the keyword at a few times",
        "(softmax flow from `solve_ivp`):",
        "",
        "| $t$ | $p$ (softmax) | $p$ (unconstrained closed form) |",
        "|---|---|---|",
        *[
            f"| {tt:.4g} | {pp:.6f} | {float(sol['p'].subs(d.t, tt)):.6f} |"
            for tt, pp in zip(flow.t, flow.p, strict=True)
        ],
        "",
        "## Stage 1: word-label co-occurrence",
        "",
        "With word scores $b_i$, attention $\\alpha$, $s(x) = \\sum_l \\alpha_l b_{x_l}$, $P(pos|x) =",
        "\\sigma(s)$ and binary cross-entropy, at $b = 0$ and uniform attention",
        "",
        "$$\n\\dot b_i = \\mathbb{E}\\left[\\frac{n_i(x)}{L}\\left(y - \\tfrac12\\right)\\right]"
        " = C_{i,pos} = -C_{i,neg},\n$$",
        "",
        "the co-occurrence matrix with $|O| = 2$.  For `keyword:L,V,K,kw,noise,zipf`",
        "($K_+ = \\lceil K/2 \\rceil$ positive and $K_-$ negative keywords, $\\eta$ = label noise,",
        "$q$ = a distractor's frequency):",
        "",
        *[
            block(sp.Eq(sp.Symbol(f"C_{{{w.replace(' ', '~')},pos}}"), e)) + "\n"
            for w, e in kc["C_pos"].items()
        ],
        "Distractors get no score at all, however frequent: their frequency does not depend on the label.",
        "",
        "## Stage 2: attention goes to the salient words",
        "",
        "The gradient flow on the attention logits of an example with label $y$ is",
        "",
        "$$\n\\dot a_l = \\left(y - \\sigma(s)\\right)\\alpha_l\\left(b_{x_l} - s\\right),\n$$",
        "",
        "and with $b \\approx \\tau c$ from stage 1 ($\\sigma(s) \\approx \\tfrac12$), to first order",
        "in $\\tau$,",
        "",
        "$$\n\\dot a_l \\approx \\frac{\\tau}{2}\\,\\alpha_l"
        "\\left(C_{x_l, y} - \\sum_{l'} \\alpha_{l'} C_{x_{l'}, y}\\right):\n$$",
        "",
        "attention drifts towards the positions whose word co-occurs most with the example's own",
        "label: in `keyword`, the keywords of the label's polarity, never a distractor (for a",
        "noisy label, the keywords are pushed *below* the distractors).",
    ]
    return "\n".join(lines) + "\n"
