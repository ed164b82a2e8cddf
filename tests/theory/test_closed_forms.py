"""Symbolic closed forms of C (from word/position probabilities) == families.py == enumeration."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from ktiw.data.families import from_spec
from ktiw.theory.closed_forms import evaluate, family_cooccurrence, symbols


@pytest.mark.parametrize(
    "spec",
    [
        "permutation:L=4",
        "subset:L=2,V=5",
        "subset:L=3,V=4",
        "iid:L=3,V=3",
        "iid:L=2,V=4",
        "translate:L=2,V=5,reorder=random",
    ],
)
def test_symbolic_closed_form_equals_families_and_enumeration(spec: str) -> None:
    dist = from_spec(spec)
    c_d, c_o = evaluate(dist.name, dist.src_len, dist.n_in)
    columns = dist.dictionary if dist.name == "translate" else np.arange(dist.n_in)
    expect = np.full((dist.n_in, dist.n_out), c_o)
    expect[np.arange(dist.n_in), columns] = c_d
    np.testing.assert_allclose(dist.cooccurrence().dense(), expect, atol=1e-15)
    np.testing.assert_allclose(dist.exact_support().cooccurrence().dense(), expect, atol=1e-15)


def test_closed_forms_are_the_stated_rational_functions() -> None:
    L, V = symbols()["L"], symbols()["V"]
    c_d, c_o = family_cooccurrence("subset")
    assert sp.simplify(c_d - (V - L) / (L * V**2)) == 0
    assert sp.simplify(c_o + (V - L) / (L * V**2 * (V - 1))) == 0
    c_d, c_o = family_cooccurrence("iid")
    assert sp.simplify(c_d - (V - 1) / (L * V**2)) == 0 and sp.simplify(c_o + 1 / (L * V**2)) == 0
    assert family_cooccurrence("permutation") == (0, 0)
    # rows of C sum to zero: c_d + (V - 1) c_o = 0 for every family
    for fam in ("subset", "iid"):
        c_d, c_o = family_cooccurrence(fam)
        assert sp.simplify(c_d + (V - 1) * c_o) == 0
