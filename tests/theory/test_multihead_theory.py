"""The multi-head toy model: sympy derivation, gradients against autograd, the rescue flow."""

from __future__ import annotations

import numpy as np
import pytest

from ktiw.theory import multihead as mh
from ktiw.theory.toy_model import gradients as single_head_gradients


def test_sympy_residuals_are_zero() -> None:
    d = mh.derive(2, 2, 2)
    assert all(e == 0 for row in d.alpha_residual for e in row)
    assert all(e == 0 for row in d.softmax_residual for e in row)
    assert all(e == 0 for row in d.stated_residual for e in row)


def test_derived_attention_gradient_is_numerically_the_stated_form() -> None:
    """Guard against a residual that is zero by accident: evaluate raw chain rule and stated form."""
    import sympy as sp

    d = mh.derive(2, 2, 2)
    rng = np.random.default_rng(0)
    syms = sorted(d.loss.free_symbols, key=str)
    vals = {s: rng.uniform(0.1, 0.9) if str(s).startswith("alpha") else rng.normal() for s in syms}
    for h in range(2):
        for m in range(2):
            a = float(sp.N(d.dloss_da[h][m].subs(vals)))
            b = float(sp.N(d.stated[h][m].subs(vals)))
            assert a == pytest.approx(b, rel=1e-12, abs=1e-14)
            assert abs(a) > 1e-6


def _torch_reference(B, a, src, tgt, w):  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    Bt = torch.tensor(B, requires_grad=True)
    at = torch.tensor(a, requires_grad=True)
    alpha = torch.softmax(at, dim=-1).mean(dim=0)  # [T, L]
    X = Bt[torch.as_tensor(src)]  # [n, L, O]
    s = torch.einsum("tl,nlo->nto", alpha, X)
    logp = torch.log_softmax(s, dim=-1).gather(-1, torch.as_tensor(tgt)[..., None])[..., 0]
    loss = -(torch.as_tensor(w)[:, None] * logp).sum() / tgt.shape[1]
    loss.backward()
    return float(loss.detach()), Bt.grad.numpy(), at.grad.numpy()


@pytest.mark.parametrize("H", [1, 3])
def test_gradients_equal_torch_autograd(H: int) -> None:
    rng = np.random.default_rng(H)
    n, T, L, V, O = 5, 3, 4, 6, 5
    B = rng.normal(size=(V, O))
    a = rng.normal(size=(H, T, L))
    src = rng.integers(0, V, size=(n, L))
    tgt = rng.integers(0, O, size=(n, T))
    w = rng.random(n)
    w /= w.sum()
    loss, dB, da = mh.gradients(B, a, src, tgt, w)
    ref_loss, ref_dB, ref_da = _torch_reference(B, a, src, tgt, w)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(dB, ref_dB, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(da, ref_da, rtol=1e-10, atol=1e-13)


def test_one_head_is_the_single_head_toy_model() -> None:
    rng = np.random.default_rng(7)
    B = rng.normal(size=(5, 4))
    a = rng.normal(size=(2, 3))
    src = rng.integers(0, 5, size=(6, 3))
    tgt = rng.integers(0, 4, size=(6, 2))
    _, dB, da = mh.gradients(B, a[None], src, tgt)
    ref_dB, ref_da = single_head_gradients(B, a, src, tgt)
    np.testing.assert_allclose(dB, ref_dB, atol=1e-12)
    np.testing.assert_allclose(da[0], ref_da, atol=1e-12)


def test_identical_heads_receive_identical_pushes_from_the_shared_B() -> None:
    rng = np.random.default_rng(1)
    B = rng.normal(size=(4, 4))
    a = np.zeros((3, 4, 4))
    src = rng.permuted(np.tile(np.arange(4), (8, 1)), axis=1)
    _, _, da = mh.gradients(B, a, src, src)
    np.testing.assert_allclose(da[0], da[1])
    np.testing.assert_allclose(da[0], da[2])
    assert np.abs(da).max() > 1e-3


def test_zero_head_takes_off_next_to_a_broken_head_but_not_alone() -> None:
    both = mh.rescue_flow(k=3, head_eps=(1e-3, 0.0), t_max=600.0, n_points=121)
    lone = mh.rescue_flow(k=3, head_eps=(0.0,), t_max=600.0, n_points=7)
    zeros = mh.rescue_flow(k=3, head_eps=(0.0, 0.0), t_max=600.0, n_points=7)
    assert both.takeoff[0] is not None and both.takeoff[1] is not None
    assert both.attn_correct[1, -1] > 0.9
    assert lone.takeoff == [None]
    np.testing.assert_allclose(lone.attn_correct, 1 / 3, atol=1e-12)
    np.testing.assert_allclose(zeros.attn_correct, 1 / 3, atol=1e-12)
    # the zero head lags the broken one but is never pushed away from the correct word
    assert np.all(both.attn_correct[1] <= both.attn_correct[0] + 1e-9)
    assert np.all(np.diff(both.attn_correct[1]) >= -1e-9)


def test_page_uses_live_expressions_and_flow_numbers(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    real_flow, real_derive = mh.rescue_flow, mh.derive
    monkeypatch.setattr(mh, "derive", lambda: real_derive(2, 2, 2))
    monkeypatch.setattr(
        mh,
        "rescue_flow",
        lambda k, head_eps, t_max, n_points: real_flow(3, head_eps=head_eps, t_max=600.0, n_points=61),
    )
    page = mh.multihead_page()
    assert page.startswith("# Several heads")
    assert "all residuals simplify to zero: True" in page
    assert "\\alpha_{h,m}" in page or "alpha_{h, m}" in page
    assert "never (within the horizon)" in page  # the lone zero head
