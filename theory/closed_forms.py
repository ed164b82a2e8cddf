"""Closed forms of the co-occurrence matrix ``C`` for the named families, derived with sympy
from the probabilities of word/position events.

For copy tasks (``y = x``) the token-mean definition of :mod:`ktiw.data.distribution`
becomes, with ``n_i`` the count of word ``i`` in ``x``,
``mean_t 1[y_t = o] = n_o / L`` and so::

    C[i, o] = E[n_i n_o] / L^2 - E[n_i] / (L V)

and ``E[n_i n_o] = sum_{l, m} P(x_l = i, x_m = o)`` splits into ``L`` diagonal terms
(``l = m``: ``P(x_l = i) 1[i = o]``) and ``L (L - 1)`` off-diagonal ones whose joint
probability is the family's:

* ``subset:L,V`` (and ``permutation``, ``V = L``): distinct words, ``P(x_l = i) = 1/V``,
  ``P(x_l = i, x_m = o) = 1[i != o] / (V (V - 1))``;
* ``iid:L,V``: ``P(x_l = i, x_m = o) = 1/V^2``.

``translate`` outputs ``y_t = d(x_{pi(t)})`` for a fixed dictionary ``d`` and any order ``pi``,
so ``mean_t 1[y_t = o] = n_{d^-1(o)} / L``: the subset matrix with columns permuted by ``d``;
the order never enters (``C`` is a bag-of-words statistic).

Each family yields two values: ``c_d`` where ``o`` is the word ``i`` translates to, ``c_o``
elsewhere.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def symbols() -> dict[str, Any]:
    """The sympy symbols ``L`` (length) and ``V`` (vocabulary size)."""
    import sympy as sp

    return {
        "L": sp.Symbol("L", integer=True, positive=True),
        "V": sp.Symbol("V", integer=True, positive=True),
    }


def _copy_cooccurrence(p1: Any, p2_same: Any, p2_diff: Any) -> tuple[Any, Any]:
    """``(c_d, c_o)`` for a copy task from ``P(x_l = i)`` and the joint probabilities for ``l != m``."""
    import sympy as sp

    L, V = symbols()["L"], symbols()["V"]
    E_n = L * p1
    E_nn_same = L * p1 + L * (L - 1) * p2_same
    E_nn_diff = L * (L - 1) * p2_diff
    c_d = sp.factor(sp.simplify(E_nn_same / L**2 - E_n / (L * V)))
    c_o = sp.factor(sp.simplify(E_nn_diff / L**2 - E_n / (L * V)))
    return c_d, c_o


@functools.cache
def family_cooccurrence(family: str) -> tuple[Any, Any]:
    """Symbolic ``(c_d, c_o)`` in ``L`` and ``V`` for ``subset``, ``permutation``, ``iid``, ``translate``."""
    L, V = symbols()["L"], symbols()["V"]
    if family in ("subset", "translate"):
        return _copy_cooccurrence(1 / V, 0, 1 / (V * (V - 1)))
    if family == "permutation":
        c_d, c_o = _copy_cooccurrence(1 / V, 0, 1 / (V * (V - 1)))
        return c_d.subs(V, L), c_o.subs(V, L)
    if family == "iid":
        return _copy_cooccurrence(1 / V, 1 / V**2, 1 / V**2)
    raise KeyError(f"no closed form for family {family!r}")


def evaluate(family: str, L: int, V: int) -> tuple[float, float]:
    """Numeric ``(c_d, c_o)`` of :func:`family_cooccurrence` (``c_o = 0`` when ``V = 1``)."""
    S = symbols()
    c_d, c_o = family_cooccurrence(family)
    vals = {S["L"]: L, S["V"]: V}
    return float(c_d.subs(vals)), (float(c_o.subs(vals)) if V > 1 else 0.0)
