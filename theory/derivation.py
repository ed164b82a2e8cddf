"""The derivation as Markdown pages with LaTeX, rendered from the live sympy expressions.

:func:`pages` gives one page per topic (``toy-model``, ``stage-1``, ``stage-2``,
``copy-reduction``, ``families``); every formula on them is ``sympy.latex`` of the expression
the code derives (:mod:`~ktiw.theory.toy_model`, :mod:`~ktiw.theory.reduction`,
:mod:`~ktiw.theory.closed_forms`), so changing a formula in code changes the page.
:func:`derivation_for` is the text ``ktiw predict SPEC --derivation`` prints: the same
derivation specialised to one distribution, with its numbers.  Both come from a disk cache
(:mod:`ktiw.core.cache`) after the first rendering, so they need no sympy at run time.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np

from ktiw.core.cache import cached_text
from ktiw.core.training import Training
from ktiw.data.distribution import Distribution


def _tex(expr: Any) -> str:
    import sympy as sp

    return sp.latex(expr)


def _toy_model_page() -> str:
    from .toy_model import derive

    d = derive()
    return f"""# The toy model

Input $x = (x_1, \\dots, x_L)$, output $y = (y_1, \\dots, y_T)$. The model has a KTIW matrix
$B \\in \\mathbb{{R}}^{{|I| \\times |O|}}$ ($B_{{i,o}}$: how strongly input word $i$ votes for output word
$o$) and attention logits $a_{{t,l}}$ with weights $\\alpha_{{t,l}} = \\operatorname{{softmax}}_l(a_{{t,:}})$.
For one target token with gathered rows $X_{{l,o}} = B_{{x_l,o}}$ the loss, as the code writes it
before differentiating, is

$${_tex(d.loss)}$$

and the training loss is its mean over all target tokens (token mean). Training is gradient
flow on $B$ and $a$ from $B = 0$, $a = 0$.

## Gradients (sympy)

`sympy.diff` of this loss with respect to $X_{{m,k}}$ and $a_m$, with the softmaxes named
$\\alpha$ and $p$ afterwards, simplifies to

$$\\frac{{\\partial \\ell}}{{\\partial X_{{m,k}}}} = {_tex(d.grad_x)}$$

$$\\frac{{\\partial \\ell}}{{\\partial a_m}} = {_tex(d.grad_a)}$$

The gradient for $B_{{i,o}}$ adds the first line over all positions $m$ with $x_m = i$.
The tests check both against torch autograd on random parameters and sequences.

## Assumptions and where they break

* **Hidden states are purely local**: position $l$ contributes only through its own word
  $x_l$ (row $B_{{x_l}}$). Real encoders (LSTMs) mix neighbouring words into $h_l$, so a
  position also carries information about its context.
* **Attention weights are free parameters** (one logit per target and source position).
  A real model *predicts* its attention from hidden states, so its attention cannot move
  in every direction the free-parameter gradient asks for.
* **No output bias, no other paths**: the logits are exactly the attention-weighted votes.
"""


def _stage1_page() -> str:
    from .toy_model import derive

    d = derive()
    return f"""# Stage 1: KTIW from co-occurrence

At initialisation $B = 0$ and $a = 0$, so attention is uniform ($\\alpha = 1/L$) and the
output distribution is uniform ($p = 1/|O|$). Substituting both into the derived gradient,
the velocity $-\\partial \\ell / \\partial X_{{m,k}}$ of every gathered entry is

$${_tex(d.stage1)}$$

Averaging over target tokens and scattering to rows gives the velocity of $B$:

$$\\dot B_{{i,o}}(0) = C_{{i,o}} = \\mathbb{{E}}_D\\Big[\\tfrac{{1}}{{T}}\\sum_t \\tfrac{{n_i(x)}}{{L}}
\\big(\\mathbb{{1}}[y_t = o] - \\tfrac{{1}}{{|O|}}\\big)\\Big],$$

the centred co-occurrence matrix ($n_i(x)$ counts word $i$ in $x$). Its rows sum to zero,
so it is already row-centred: $\\tilde C = C$. Early on $B(\\tau) \\approx \\tau C$.

**KTIW margin.** For a target token whose correct source word is $w^*$, the margin is
$C_{{w^*, y_t}} - \\max_{{w \\in x, w \\ne w^*}} C_{{w, y_t}}$; `ktiw predict` reports its minimum
(`ktiw_margin`) and mean over target tokens.

## Assumptions and where they break

* **Uniform attention** holds only while $a$ is still near 0; once attention moves,
  $B$ no longer grows like $\\tau C$.
* **The stages overlap**: attention starts moving as soon as $B \\ne 0$, so stage 1 and
  stage 2 are the first terms of one expansion, not separate phases.
* **Local hidden states** (see the toy-model page): a real encoder's position $l$ carries
  neighbouring words too, which changes the effective co-occurrence.
"""


def _stage2_page() -> str:
    from .toy_model import derive

    d = derive()
    return f"""# Stage 2: attention drift

With $g_m$ the advantage of position $m$ for the target,

$$g_m = {_tex(d.g)},$$

the derived attention gradient equals (proved by sympy in the tests)

$$\\frac{{\\partial \\ell}}{{\\partial a_m}} = {_tex(d.stage2)}.$$

With $B = \\tau C$ and uniform attention, $p = 1/|O| + O(\\tau)$ and
$g_l = \\tau\\, \\tilde C_{{x_l, y_t}} + O(\\tau^2)$, so the attention logit of position $l$
moves at rate

$$\\frac{{\\tau}}{{L}}\\Big(\\tilde C_{{x_l, y_t}} -
  \\frac{{1}}{{L}}\\sum_{{l'}} \\tilde C_{{x_{{l'}}, y_t}}\\Big):$$

attention drifts towards $\\arg\\max_l \\tilde C_{{x_l, y_t}}$, the predicted attention target.
If $\\tilde C_{{x_l, y_t}}$ is the same for every $l$, attention gets no push at all.

**Regimes.** `saddle`: no target token has any spread (no push anywhere). `drift`: for at
least half of the target tokens the per-occurrence co-occurrence $C_{{i,o}}/r_i$ ($r_i$: the
expected share of word $i$ in the input) singles out one input word, the aligned one where
the alignment is known. `ambiguous`: signal, but it ties words that always occur together
(or favours a wrong word) for most tokens. Dividing by $r_i$ removes word frequency: a
word occurring twice as often gets twice the raw push for every target alike. Any
distribution whose input bag is the same for every example has identical per-occurrence
rows, hence is never `drift`.

## Assumptions and where they break

* **$B \\approx \\tau C$** is the stage-1 solution; it holds early only.
* **Attention is free**: a real model's attention is a function of its hidden states and
  may be unable to follow the drift exactly (e.g. positional patterns it cannot express).
* **The stages overlap**: the drift is $O(\\tau)$ from the start, not after KTIW is learned.
"""


def _reduction_page() -> str:
    from .flow import takeoff_time
    from .reduction import derive

    r = derive()
    rows = "\n".join(
        f"| {Vv} | {eps:g} | {t:.4g} |"
        for Vv, eps in [(41, 0.0), (60, 0.0), (80, 0.0), (200, 0.0), (1000, 0.0), (40, 1e-3)]
        if (t := takeoff_time(40, Vv, eps)) is not None
    )
    eig_perm = ", ".join(_tex(e) for e in r.permutation_eigenvalues)
    eig_gen = ", ".join(_tex(e) for e in r.fixed_point_eigenvalues)
    return f"""# The exact 2-D reduction for copying

Copying $k$ distinct words out of a vocabulary of $V$ ($y = x$, positional attention, zero
initialisation) is symmetric under relabelling the vocabulary and under permuting input
and output positions together. Gradient flow keeps that symmetry, so for all time
$B = b_d I + b_o (J - I)$ and $a = a_d I + a_o (J - I)$. Imposing this on the toy model's
loss (sympy: substitute, split every sum into the symmetry classes, sum) gives a loss in
$b_d, b_o, a_d, a_o$ that depends only on $\\delta = b_d - b_o$ and $\\gamma = a_d - a_o$:

$$\\ell(\\delta, \\gamma) = {_tex(r.loss)}$$

(equal to $-\\alpha_d\\delta + \\log(e^{{\\alpha_d\\delta}} + (k-1)e^{{\\alpha_o\\delta}} + V - k)$ with
$\\alpha_d = 1/(1 + (k-1)e^{{-\\gamma}})$, $\\alpha_o = (1-\\alpha_d)/(k-1)$). Each of the $V$
diagonal and $V(V-1)$ off-diagonal entries of $B$ (and $k$, $k(k-1)$ of $a$) follows the
full-parameter flow, hence

$$\\dot\\delta = -\\frac{{1}}{{V-1}}\\frac{{\\partial\\ell}}{{\\partial\\delta}}, \\qquad
\\dot\\gamma = -\\frac{{1}}{{k-1}}\\frac{{\\partial\\ell}}{{\\partial\\gamma}},$$

with time $\\tau$ = gradient-flow time of the token-mean loss on the full parameters
(gradient descent with learning rate $\\eta$ for $n$ steps is $\\tau = \\eta n$).

## Consequences

* Initial KTIW velocity: $\\dot\\delta(0) = {_tex(r.initial_velocity[0])}$, zero exactly for
  permutations ($V = k$).
* Fixed points: $\\delta = 0$, $\\gamma = {_tex(r.fixed_point_gamma)}$ (where $\\alpha_d = 1/V$), with
  Jacobian eigenvalues ${eig_gen}$: a saddle. For $V = k$ it is the origin, with eigenvalues
  ${eig_perm}$; learning then needs a symmetry-breaking perturbation $\\varepsilon$ and takes
  time of order $k^2 \\ln(1/\\varepsilon)$. For $V > k$ the origin is not a fixed point and
  learning starts at once.
* Takeoff (first time $\\alpha_d \\ge 1/2$), integrated with `scipy.integrate.solve_ivp` for $k = 40$
  (computed when this page is rendered):

| $V$ | start $\\delta = \\gamma$ | takeoff time |
| --- | --- | --- |
{rows}

Takeoff is not monotone in $V$: too few extra words give too little signal, too many
spread the output softmax over too many words.

## Assumptions and where they break

* **Exact symmetry**: only copying distinct words with a fixed alignment (and relabelled
  copies) has it. Repeated words (`iid`), a fresh output order per example, or real data
  break it; there the reduction does not apply and no takeoff time is stated.
* **Toy-model assumptions** (local hidden states, free attention) as on the toy-model page;
  a trained LSTM's attention is predicted from hidden states, and its time scale depends
  on the optimiser (Adam rescales gradients), so only orderings carry over, if anything.
* **Stages overlap**: the reduction needs no stage split; it is exact for the toy model.
"""


def _families_page() -> str:
    from .closed_forms import family_cooccurrence

    rows = []
    for fam in ("permutation", "subset", "iid", "translate"):
        c_d, c_o = family_cooccurrence(fam)
        rows.append(f"| `{fam}` | ${_tex(c_d)}$ | ${_tex(c_o)}$ |")
    table = "\n".join(rows)
    return f"""# Co-occurrence of the named families

For copy tasks $\\frac{{1}}{{T}}\\sum_t \\mathbb{{1}}[y_t = o] = n_o/L$, so
$C_{{i,o}} = \\mathbb{{E}}[n_i n_o]/L^2 - \\mathbb{{E}}[n_i]/(LV)$, and
$\\mathbb{{E}}[n_i n_o] = \\sum_{{l,m}} P(x_l = i, x_m = o)$ splits into $L$ terms with $l = m$ and
$L(L-1)$ with $l \\ne m$. Distinct words (`subset`, `permutation`):
$P(x_l = i, x_m = o) = \\mathbb{{1}}[i \\ne o]/(V(V-1))$; independent words (`iid`): $1/V^2$.
`translate` applies a fixed dictionary $d$ and reorders: the `subset` matrix with columns
permuted by $d$ (order does not enter a bag-of-words statistic). sympy gives $c_d$ on the
entries $(i, d(i))$ and $c_o$ elsewhere:

| family | $c_d$ | $c_o$ |
| --- | --- | --- |
{table}

The tests check these against the numeric closed forms in `families.py` and against exact
enumeration of small supports.

## Assumptions and where they break

* The forms assume fixed lengths and uniform sampling as the families define them; data
  files are counted exactly instead.
* $C$ describes stage 1 only (uniform attention); see the stage pages.
"""


def _optimizers_page() -> str:
    from .adam_reduction import SIGN_REGIME_ACCURACY, derive, derive_sign_regime

    a = derive()
    sr = derive_sign_regime()
    g = a.coordinate_gradients
    p2, m2, v2 = a.adam_map
    return f"""# Optimizers on the copy reduction

The loss is unchanged by adding a constant to every entry of $B$ or to a row of $a$, and sympy
confirms on the symmetric loss that
$\\partial_{{b_d}} \\ell + \\partial_{{b_o}} \\ell = {_tex(a.shift_invariance[0])}$ and
$\\partial_{{a_d}} \\ell + \\partial_{{a_o}} \\ell = {_tex(a.shift_invariance[1])}$. The gradient of one
coordinate of each class is therefore

$$g_{{b_d}} = {_tex(g[0])}, \\quad g_{{b_o}} = {_tex(g[1])},
\\quad g_{{a_d}} = {_tex(g[2])}, \\quad g_{{a_o}} = {_tex(g[3])}$$

with $\\ell_\\delta$, $\\ell_\\gamma$ the derivatives of the 2-D loss. Adam acts on each coordinate
alone (step $t$, gradient $g$):

$$m' = {_tex(m2)}, \\qquad v' = {_tex(v2)}, \\qquad p' = {_tex(p2)}$$

Applied entry by entry to matrices of the form $x_d I + x_o (J - I)$ it gives the matrix built from the
two updated scalars (sympy: the difference simplifies to zero in every entry), so Adam, like
gradient descent and SGD with momentum, keeps the symmetric subspace whenever the gradients do.
Iterating it on $(b_d, b_o, a_d, a_o)$ and their moments is the *reduced map*: exact for full-batch
training and, for any batch size, for `permutation`, whose examples all have the same gradient.

## Sign regime

While the gradient's sign is steady, Adam moves $b_d$ and $b_o$ (and $a_d$, $a_o$) by about $\\eta$ each in
opposite directions, so $\\delta$ and $\\gamma$ grow by about $2\\eta$ per step, whatever the size of the
gradient: the saddle costs nothing special. The attention gradient grows about linearly in time; for
$g_s = c\\,s$ the bias-corrected ratio $\\hat m_t / \\sqrt{{\\hat v_t}}$ is, summed in closed form by sympy,

$$\\rho(t) = {_tex(sr.rho)}$$

(early limit ${_tex(sr.rho_early)}$; it tends to 1 once $t \\gg 1/(1-\\beta_2)$). Takeoff ($\\alpha_d = 1/2$):

$${_tex(sr.takeoff)}$$

independent of $V$ and of the initial gradient's size. It holds for gradients of steady sign far above
Adam's $\\epsilon$ from a symmetric start, full batch or `permutation`; against the reduced map it is
within {SIGN_REGIME_ACCURACY:.0%} for $2 \\le k \\le 40$, $10^{{-3}} \\le \\eta \\le 10^{{-2}}$
(late: it ignores the growth of $\\alpha_d(1 - \\alpha_d)$).

## Minibatch noise

At the symmetric point every example has the same attention gradient (no noise on $a$). The $B$
gradient of an example is $u_i (c_1 + c_2 u_o)$ with $u_i = 1[i \\in x]$, whose exact moments
(falling factorials $k^{{(m)}}/V^{{(m)}}$) give the minibatch covariance
(`ktiw.theory.minibatch_noise`); it vanishes for `permutation`. Where the KTIW
diagonal's signal-to-noise per batch is large the reduced map stands; elsewhere, and from random
initialisations, the prediction is the toy model simulated in numpy over many seeds.

## Assumptions and where they break

* **Symmetric start**: the reduced map needs `zero` or `eps` initialisation; a random (`normal`)
  start breaks the symmetry at once and only the simulation applies.
* **Steady sign**: the sign-regime formula assumes every coordinate's gradient keeps its sign
  and stays far above Adam's $\\epsilon$; at the exact saddle ($V = k$, zero start) the gradient is
  zero and nothing moves.
* **Toy-model assumptions** as on the toy-model page: a trained LSTM has many more parameters per
  logit, so Adam's per-coordinate step moves its attention at a different speed.
"""


_SOURCES = (
    "derivation.py",
    "toy_model.py",
    "reduction.py",
    "closed_forms.py",
    "flow.py",
    "adam_reduction.py",
)


def _render() -> str:
    """All pages plus the formula snippets :func:`derivation_for` needs, as JSON (slow: sympy)."""
    from .closed_forms import family_cooccurrence
    from .reduction import derive

    r = derive()
    snippets = {
        "initial_velocity": _tex(r.initial_velocity[0]),
        "permutation_eigenvalues": ", ".join(_tex(e) for e in r.permutation_eigenvalues),
    }
    for fam in ("subset", "iid", "translate"):
        c_d, c_o = family_cooccurrence(fam)
        snippets[f"{fam}.c_d"], snippets[f"{fam}.c_o"] = _tex(c_d), _tex(c_o)
    # permutation is subset at V = L: show the general form and where it vanishes
    for key in ("c_d", "c_o"):
        snippets[f"permutation.{key}"] = snippets[f"subset.{key}"] + r"\Big|_{V = L}"
    rendered = {
        "toy-model": _toy_model_page(),
        "stage-1": _stage1_page(),
        "stage-2": _stage2_page(),
        "copy-reduction": _reduction_page(),
        "families": _families_page(),
        "optimizers": _optimizers_page(),
    }
    return json.dumps({"pages": rendered, "snippets": snippets})


@functools.cache
def _rendered() -> dict[str, dict[str, str]]:
    text, _ = cached_text("derivation_pages", _SOURCES, _render, ".json")
    return json.loads(text)


def pages() -> dict[str, str]:
    """Slug -> Markdown page (title line ``# ...``, LaTeX from the live sympy expressions).

    Rendered once with sympy and cached on disk (:mod:`ktiw.core.cache`), keyed by the
    source of the modules the formulas come from.
    """
    return dict(_rendered()["pages"])


def derivation_for(dist: Distribution, eps: float = 1e-3, training: Training | None = None) -> str:
    """The derivation specialised to ``dist``: its prediction, its numbers, then the general pages."""
    from .predict import copy_reduction, predict

    p = predict(dist, eps=eps, training=training)
    snip = _rendered()["snippets"]
    lines = [f"# Derivation for `{dist.spec}`", "", f"**Regime: {p.regime}.** {p.reason}.", ""]
    lines.append(f"* KTIW margin (min over target tokens): {p.ktiw_margin}; mean: {p.ktiw_margin_mean}")
    lines.append(f"* initial KTIW velocity: {p.initial_ktiw_velocity}; ambiguity: {p.ambiguity:.3g}")
    name = getattr(dist, "name", None)
    slugs = ["toy-model", "stage-1", "stage-2"]
    if f"{name}.c_d" in snip:
        C = dist.cooccurrence().dense()
        col = int(np.argmax(C[0])) if C[0].any() else 0
        c_d = float(C[0, col])
        c_o = float(C[0, (col + 1) % C.shape[1]]) if C.shape[1] > 1 else 0.0
        at = f"$L = {dist.src_len}$, $V = {dist.n_in}$"
        lines.append(
            f"* closed form at {at}: $c_d = {snip[name + '.c_d']} = {c_d:.6g}$, "
            f"$c_o = {snip[name + '.c_o']} = {c_o:.6g}$"
        )
        slugs.append("families")
    kv = copy_reduction(dist)
    if kv is not None and kv[0] >= 2:
        k, V = kv
        lines.append(
            f"* copy reduction with $k = {k}$, $V = {V}$: $\\dot\\delta(0) = {snip['initial_velocity']} = "
            f"{p.initial_ktiw_velocity:.6g}$"
        )
        if p.fixed_point_eigenvalues is not None:
            eigs = ", ".join(f"{e:.6g}" for e in p.fixed_point_eigenvalues)
            lines.append(
                f"* the origin is a saddle with eigenvalues ${snip['permutation_eigenvalues']}$ $= {eigs}$ "
                f"at $k = {k}$; start $\\delta = \\gamma = {eps:g}$"
            )
        lines.append(f"* takeoff time ($\\alpha_d \\ge 1/2$), gradient flow: {p.takeoff_time}")
        slugs.append("copy-reduction")
    else:
        lines.append("* the exact 2-D copy reduction does not apply to this distribution: no takeoff time")
    lines.append(
        f"* training {p.optimizer}, lr {p.lr:g}, batch {p.batch_size}, init {p.init}, "
        f"budget {p.steps} steps: "
        f"takeoff step {p.takeoff_step} (10%-90%: {p.takeoff_step_range}), "
        f"P(success) {p.success_probability}, method {p.method} ({p.step_note})"
    )
    slugs.append("optimizers")
    lines.append("")
    body = "\n\n".join(_demote(_rendered()["pages"][slug]) for slug in slugs)
    return "\n".join(lines) + "\n" + body


def _demote(page: str) -> str:
    """Shift every Markdown heading one level down, to nest a page under the derivation's title."""
    return "\n".join("#" + line if line.startswith("#") else line for line in page.splitlines())
