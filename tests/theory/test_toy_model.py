"""The sympy-derived toy-model gradients against torch autograd and the stage-1/2 forms."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ktiw.data.families import from_spec
from ktiw.theory.toy_model import derive, gradients


def torch_gradients(B, a, src, tgt):
    """Autograd of the token-mean cross-entropy of s_t(o) = sum_l softmax(a[t])_l B[x_l, o]."""
    Bt = torch.tensor(B, dtype=torch.float64, requires_grad=True)
    at = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    logits = torch.einsum("tl,nlo->nto", torch.softmax(at, dim=-1), Bt[torch.as_tensor(src)])
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, B.shape[1]), torch.as_tensor(tgt).reshape(-1))
    loss.backward()
    return Bt.grad.numpy(), at.grad.numpy()


@settings(max_examples=25, deadline=None)
@given(
    n_in=st.integers(1, 6),
    n_out=st.integers(1, 6),
    L=st.integers(1, 5),
    T=st.integers(1, 4),
    n=st.integers(1, 6),
    scale=st.floats(0.01, 5.0),
    seed=st.integers(0, 2**31),
)
def test_sympy_gradients_equal_autograd(n_in, n_out, L, T, n, scale, seed) -> None:
    rng = np.random.default_rng(seed)
    B = scale * rng.normal(size=(n_in, n_out))
    a = scale * rng.normal(size=(T, L))
    src = rng.integers(0, n_in, size=(n, L))
    tgt = rng.integers(0, n_out, size=(n, T))
    dB, da = gradients(B, a, src, tgt)
    tB, ta = torch_gradients(B, a, src, tgt)
    np.testing.assert_allclose(dB, tB, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(da, ta, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("spec", ["subset:L=3,V=5", "iid:L=2,V=3", "translate:L=2,V=4,reorder=reverse"])
def test_stage1_velocity_is_the_cooccurrence_matrix(spec: str) -> None:
    """-dLoss/dB at B = 0, a = 0 over the exact support equals C from the distribution."""
    dist = from_spec(spec)
    ex = dist.exact_support()
    dB, da = gradients(
        np.zeros((dist.n_in, dist.n_out)), np.zeros((dist.tgt_len, dist.src_len)), ex.src_arr, ex.tgt_arr
    )
    np.testing.assert_allclose(-dB, dist.cooccurrence().dense(), atol=1e-15)
    np.testing.assert_allclose(da, 0.0, atol=1e-15)  # B = 0: no attention gradient


def test_derived_gradients_have_the_stage_forms() -> None:
    d = derive()
    S = d.symbols
    alpha, p, m, k, y, L, K = (S[n] for n in ("alpha", "p", "m", "k", "y", "L", "K"))
    assert sp.simplify(d.grad_x - alpha[m] * (p[k] - sp.KroneckerDelta(k, y))) == 0
    assert sp.simplify(d.stage1 - (sp.KroneckerDelta(k, y) - 1 / K) / L) == 0
    # stage 2: da == -alpha_m (g_m - sum_l alpha_l g_l), checked with the sums written out (L=3, K=4).
    concrete = {L: 3, K: 4}
    diff = (d.grad_a - d.stage2).subs(concrete).doit()
    for mv in range(3):
        for yv in range(4):
            assert sp.expand(diff.subs({m: mv, y: yv}).doit()) == 0


def test_gradients_rejects_wrong_attention_shape() -> None:
    with pytest.raises(ValueError, match="shape"):
        gradients(np.zeros((3, 3)), np.zeros((2, 2)), np.zeros((1, 3), int), np.zeros((1, 2), int))
