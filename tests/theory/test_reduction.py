"""The 2-D copy reduction: derived from the full model, checked against the full-parameter gradient."""

from __future__ import annotations

import numpy as np
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from ktiw.data.families import from_spec
from ktiw.theory import reduction as red
from ktiw.theory.toy_model import gradients


def symmetric_point(k: int, V: int, b_d: float, b_o: float, a_d: float, a_o: float):
    B = b_o * np.ones((V, V)) + (b_d - b_o) * np.eye(V)
    a = a_o * np.ones((k, k)) + (a_d - a_o) * np.eye(k)
    return B, a


@settings(max_examples=12, deadline=None)
@given(
    kV=st.sampled_from([(2, 2), (2, 3), (3, 3), (2, 4), (3, 4), (3, 5)]),
    params=st.tuples(*[st.floats(-2.0, 2.0)] * 4),
)
def test_reduced_flow_equals_full_parameter_gradient(kV, params) -> None:
    """At random symmetric points the full gradient (sympy toy model, exact support) is symmetric
    and its (delta, gamma) components are the reduced right-hand side."""
    k, V = kV
    ex = from_spec(f"subset:L={k},V={V}").exact_support()
    B, a = symmetric_point(k, V, *params)
    dB, da = gradients(B, a, ex.src_arr, ex.tgt_arr)
    np.testing.assert_allclose(dB - np.diag(np.diag(dB)), dB[0, 1] * (1 - np.eye(V)), atol=1e-14)
    np.testing.assert_allclose(np.diag(dB), dB[0, 0], atol=1e-14)
    np.testing.assert_allclose(np.diag(da), da[0, 0], atol=1e-14)
    rhs = red.numeric().rhs(params[0] - params[1], params[2] - params[3], k, V)
    np.testing.assert_allclose(-(dB[0, 0] - dB[0, 1]), rhs[0], rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(-(da[0, 0] - da[0, 1]), rhs[1], rtol=1e-9, atol=1e-14)


def test_reduced_loss_is_the_brief_form_and_ignores_b_o_a_o() -> None:
    r = red.derive()
    s = r.symbols
    k, V, delta, gamma = s["k"], s["V"], s["delta"], s["gamma"]
    ad = 1 / (1 + (k - 1) * sp.exp(-gamma))
    ao = (1 - ad) / (k - 1)
    brief = -ad * delta + sp.log(sp.exp(ad * delta) + (k - 1) * sp.exp(ao * delta) + (V - k))
    f = sp.lambdify((delta, gamma, k, V), r.loss - brief)
    g = sp.lambdify((s["b_d"], s["b_o"], s["a_d"], s["a_o"], k, V), r.loss_full)
    rng = np.random.default_rng(0)
    for _ in range(20):
        dd, gg, bo, ao_ = rng.normal(size=4) * 2
        kk = int(rng.integers(2, 8))
        VV = kk + int(rng.integers(0, 8))
        assert abs(f(dd, gg, kk, VV)) < 1e-12
        assert abs(g(dd + bo, bo, gg + ao_, ao_, kk, VV) - g(dd, 0.0, gg, 0.0, kk, VV)) < 1e-12
    # the flow is -(1/(V-1)) dl/d delta, -(1/(k-1)) dl/d gamma
    want = (-sp.diff(r.loss, delta) / (V - 1), -sp.diff(r.loss, gamma) / (k - 1))
    for got, w in zip(r.rhs, want, strict=True):
        h = sp.lambdify((delta, gamma, k, V), got - w)
        assert abs(h(0.7, -0.3, 5, 9)) < 1e-14 and abs(h(-1.1, 2.0, 3, 3)) < 1e-14


def test_fixed_point_eigenvalues_and_initial_velocity() -> None:
    r = red.derive()
    k, V = r.symbols["k"], r.symbols["V"]
    assert set(r.permutation_eigenvalues) == {1 / k**2, -1 / k**2}
    assert sp.simplify(r.initial_velocity[0] - (V - k) / (k * V * (V - 1))) == 0
    assert r.initial_velocity[1] == 0
    assert sp.simplify(r.fixed_point_gamma.subs(V, k)) == 0  # V = k: the origin is the fixed point
    # the general fixed point (delta = 0, alpha_d = 1/V) is a saddle: one eigenvalue of each sign
    vals = [complex(e.subs({k: 40, V: 60})) for e in r.fixed_point_eigenvalues]
    assert sorted(np.sign([v.real for v in vals])) == [-1.0, 1.0]


def test_cached_numeric_code_equals_sympy_and_round_trips(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KTIW_CACHE_DIR", str(tmp_path))
    red.numeric.cache_clear()
    try:
        f = red.numeric()
        assert f.path.parent == tmp_path and f.path.exists()
        red.numeric.cache_clear()
        assert red.numeric().path == f.path  # second load reads the file
        r = red.derive()
        s = r.symbols
        args = (s["delta"], s["gamma"], s["k"], s["V"])
        rhs = sp.lambdify(args, list(r.rhs))
        jac = sp.lambdify(args, list(r.jacobian))
        for point in [(0.3, -0.2, 4, 7), (2.0, 1.5, 40, 60), (0.0, 0.0, 40, 40)]:
            np.testing.assert_allclose(f.rhs(*point), rhs(*point), rtol=1e-12, atol=1e-18)
            np.testing.assert_allclose(f.jacobian(*point), jac(*point), rtol=1e-10, atol=1e-18)
    finally:
        red.numeric.cache_clear()
