"""The exact 2-D reduction of the toy model for copying, derived with sympy from the full model.

Copying ``k`` distinct words out of ``V`` (``y = x``, positional attention ``a`` of shape
``k x k``, zero init) is symmetric under relabelling the vocabulary and under permuting
positions of input and output together.  Gradient flow preserves that symmetry, so for
all time ``B = b_d I + b_o (J - I)`` and ``a = a_d I + a_o (J - I)``.  Imposing it on the
per-token loss of :mod:`ktiw.theory.toy_model` (WLOG the input is words ``0..k-1`` and the
target is position 0; every token has the same loss by symmetry) gives a loss
``l(b_d, b_o, a_d, a_o)`` that depends only on ``delta = b_d - b_o`` and
``gamma = a_d - a_o``::

    l = -alpha_d delta + log(e^{alpha_d delta} + (k-1) e^{alpha_o delta} + (V-k)),
    alpha_d = 1 / (1 + (k-1) e^{-gamma}),   alpha_o = (1 - alpha_d) / (k-1).

Gradient flow on the *full* parameters moves each of the ``V`` diagonal entries of ``B``
by ``-(1/V) dl/db_d`` and each of the ``V(V-1)`` off-diagonal ones by
``-(1/(V(V-1))) dl/db_o`` (likewise ``k`` and ``k(k-1)`` entries of ``a``), hence::

    d delta / d tau = -(1/(V-1)) dl/d delta,   d gamma / d tau = -(1/(k-1)) dl/d gamma,

with ``tau`` the gradient-flow time of the token-mean loss on the full ``B`` and ``a``.

The symbolic derivation (:func:`derive`) takes a few seconds, so :func:`numeric` prints the
derived right-hand side, Jacobian and loss as numpy code once and caches it on disk
(:mod:`ktiw.core.cache`), keyed by a hash of this file, :mod:`ktiw.theory.toy_model` and
the sympy version.  ``ktiw predict`` then
needs neither sympy nor the derivation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from ktiw.core.cache import cached_text


@dataclass(frozen=True)
class Reduction:
    """Sympy objects of the copy reduction (symbols ``delta, gamma, k, V``; see module docstring).

    ``loss_full``: the per-token loss on the symmetric manifold in ``b_d, b_o, a_d, a_o``;
    ``loss``: the same at ``b_o = a_o = 0`` (it depends only on ``delta``, ``gamma``);
    ``rhs``: ``(d delta/d tau, d gamma/d tau)`` from the full-parameter flow;
    ``jacobian``: of ``rhs`` in ``(delta, gamma)``; ``initial_velocity``: ``rhs`` at the origin;
    ``fixed_point_gamma``: the fixed points are ``delta = 0``, ``gamma`` = this;
    ``permutation_eigenvalues``: eigenvalues of the Jacobian at the origin for ``V = k``.
    """

    symbols: dict[str, Any]
    loss_full: Any
    loss: Any
    rhs: tuple[Any, Any]
    jacobian: Any
    initial_velocity: tuple[Any, Any]
    fixed_point_gamma: Any
    fixed_point_eigenvalues: Any
    permutation_eigenvalues: Any


def _split_classes(expr: Any, k: Any, V: Any) -> Any:
    """Split sums over positions ``0..k-1`` / words ``0..V-1`` at the symmetry classes.

    Position 0 (the target's), positions ``1..k-1``; word 0 (the target), the other input
    words ``1..k-1``, the words not in the input ``k..V-1``.  Shifted dummies carry the range
    in their assumptions, so the Kronecker deltas inside evaluate to 0 or 1.
    """
    import sympy as sp

    def rule(S: Any) -> Any:
        (v, _lo, hi), f = S.limits[0], S.function
        u = sp.Dummy("u", integer=True, nonnegative=True)
        parts = [f.subs(v, 0), sp.Sum(f.subs(v, u + 1), (u, 0, k - 2))]
        if hi == V - 1:
            parts.append(sp.Sum(f.subs(v, u + k), (u, 0, V - k - 1)))
        return sp.Add(*parts)

    return expr.replace(lambda x: isinstance(x, sp.Sum), rule)


@functools.cache
def derive() -> Reduction:
    """Impose the copy symmetry on the toy model's loss and derive the 2-D flow (sympy)."""
    import sympy as sp

    from .toy_model import derive as derive_toy

    toy = derive_toy()
    S = toy.symbols
    k, V = sp.symbols("k V", integer=True, positive=True)
    delta, gamma = sp.symbols("delta gamma", real=True)
    b_d, b_o, a_d, a_o = sp.symbols("b_d b_o a_d a_o", real=True)

    loss = toy.loss.subs({S["L"]: k, S["K"]: V, S["y"]: 0})
    loss = loss.replace(
        lambda x: isinstance(x, sp.Indexed) and x.base == S["a"],
        lambda x: a_o + (a_d - a_o) * sp.KroneckerDelta(x.indices[0], 0),
    )
    loss = loss.replace(
        lambda x: isinstance(x, sp.Indexed) and x.base == S["X"],
        lambda x: b_o + (b_d - b_o) * sp.KroneckerDelta(*x.indices),
    )
    loss_full = sp.simplify(_split_classes(loss, k, V).doit())
    at_origin = {b_d: delta, b_o: 0, a_d: gamma, a_o: 0}
    loss_dg = sp.simplify(loss_full.subs(at_origin))

    # Full-parameter flow: V diagonal / V(V-1) off-diagonal entries of B; k and k(k-1) of a.
    ddelta = -sp.diff(loss_full, b_d) / V + sp.diff(loss_full, b_o) / (V * (V - 1))
    dgamma = -sp.diff(loss_full, a_d) / k + sp.diff(loss_full, a_o) / (k * (k - 1))
    rhs = (sp.simplify(ddelta.subs(at_origin)), sp.simplify(dgamma.subs(at_origin)))
    jac = sp.Matrix(rhs).jacobian([delta, gamma])
    v0 = (
        sp.factor(sp.simplify(rhs[0].subs({delta: 0, gamma: 0}))),
        sp.simplify(rhs[1].subs({delta: 0, gamma: 0})),
    )
    gammas = sp.solve(sp.simplify(rhs[0].subs(delta, 0)), gamma)
    fp_gamma = sp.simplify(gammas[0]) if len(gammas) == 1 else gammas
    fp_eigs = jac.subs({delta: 0, gamma: fp_gamma}).applyfunc(sp.simplify).eigenvals()
    perm = jac.subs({delta: 0, gamma: 0, V: k}).applyfunc(sp.simplify)
    perm_eigs = {sp.simplify(e): mult for e, mult in perm.eigenvals().items()}
    symbols = dict(k=k, V=V, delta=delta, gamma=gamma, b_d=b_d, b_o=b_o, a_d=a_d, a_o=a_o)
    return Reduction(symbols, loss_full, loss_dg, rhs, jac, v0, fp_gamma, fp_eigs, perm_eigs)


def generate_source() -> str:
    """numpy code of the derived ``rhs``, ``jacobian`` and ``loss`` in ``(delta, gamma, k, V)``."""
    import sympy as sp
    from sympy.printing.numpy import NumPyPrinter

    r = derive()
    s = r.symbols
    args = ", ".join(str(s[n]) for n in ("delta", "gamma", "k", "V"))
    printer = NumPyPrinter({"fully_qualified_modules": True})
    funcs = {"rhs": list(r.rhs), "jacobian": list(r.jacobian), "loss": [r.loss]}
    lines = [
        '"""Generated by ktiw.theory.reduction.generate_source from the sympy derivation."""',
        "import numpy",
        "",
    ]
    for name, exprs in funcs.items():
        reps, reduced = sp.cse(exprs)
        lines.append(f"def {name}({args}):")
        lines += [f"    {sym} = {printer.doprint(e)}" for sym, e in reps]
        lines.append(f"    return ({', '.join(printer.doprint(e) for e in reduced)},)")
        lines.append("")
    return "\n".join(lines)


@functools.cache
def numeric() -> SimpleNamespace:
    """Numeric ``rhs``, ``jacobian`` (4-tuple, row-major) and ``loss``, from the disk cache if present."""
    source, path = cached_text("copy_reduction", ("reduction.py", "toy_model.py"), generate_source, ".py")
    namespace: dict[str, Callable[..., Any]] = {}
    exec(compile(source, str(path), "exec"), namespace)
    return SimpleNamespace(
        rhs=namespace["rhs"], jacobian=namespace["jacobian"], loss=namespace["loss"], path=path
    )
