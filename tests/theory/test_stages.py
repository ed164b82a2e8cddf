"""Stage 2: the predicted attention target is the direction of the derived attention gradient."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ktiw.data.distribution import EmpiricalDistribution
from ktiw.theory.stages import analyse
from ktiw.theory.toy_model import gradients


@settings(max_examples=20, deadline=None)
@given(
    n_in=st.integers(2, 6),
    n_out=st.integers(2, 5),
    n=st.integers(2, 10),
    L=st.integers(2, 5),
    T=st.integers(1, 3),
    seed=st.integers(0, 2**31),
)
def test_attention_drifts_to_the_predicted_target(n_in, n_out, n, L, T, seed) -> None:
    """With B = tau C and uniform attention, each example's own (free) attention velocity -da is
    (tau / (L T)) (C[x_l, y_t] - mean_l C[x_l, y_t]) + O(tau^2), and its argmax is the target."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n_in, size=(n, L))
    tgt = rng.integers(0, n_out, size=(n, T))
    dist = EmpiricalDistribution(src, tgt, n_in=n_in, n_out=n_out)
    C = dist.cooccurrence().dense()
    a = analyse(dist)
    tau = 1e-5
    for e in range(n):
        _, da = gradients(tau * C, np.zeros((T, L)), src[e : e + 1], tgt[e : e + 1])
        vals = C[src[e][None, :], tgt[e][:, None]]  # (T, L): C[x_l, y_t]
        expect = tau / (L * T) * (vals - vals.mean(axis=1, keepdims=True))
        np.testing.assert_allclose(-da, expect, atol=1e-3 * tau * np.abs(C).max() / (L * T) + 1e-20)
        for t in range(T):
            if a.target[e, t] >= 0:
                best = np.argmax(-da[t])
                assert best == a.target[e, t] or np.isclose(
                    vals[t, best], vals[t, a.target[e, t]], atol=1e-12
                )
                assert np.isclose(vals[t, a.target[e, t]], vals[t].max(), atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 30), n_in=st.integers(1, 40), n_out=st.integers(1, 40), seed=st.integers(0, 2**31))
def test_sparse_lookup_equals_dense_and_analysis_agrees(n, n_in, n_out, seed) -> None:
    """The large-vocabulary path (binary search in the sparse C) gives the dense answers."""
    import ktiw.theory.stages as stages

    rng = np.random.default_rng(seed)
    dist = EmpiricalDistribution(
        rng.integers(0, n_in, size=(n, 4)), rng.integers(0, n_out, size=(n, 3)), n_in=n_in, n_out=n_out
    )
    C = dist.cooccurrence().dense()
    i = rng.integers(0, n_in, size=(7, 5))
    o = rng.integers(0, n_out, size=(7, 5))
    np.testing.assert_allclose(stages.SparseLookup(dist.cooccurrence())(i, o), C[i, o], atol=1e-15)
    dense = stages.analyse(dist)
    old = stages.DENSE_LIMIT
    stages.DENSE_LIMIT = 0
    try:
        sparse = stages.analyse(dist)
    finally:
        stages.DENSE_LIMIT = old
    np.testing.assert_array_equal(dense.target, sparse.target)
    assert (dense.identified, dense.ambiguity, dense.has_signal) == (
        sparse.identified,
        sparse.ambiguity,
        sparse.has_signal,
    )
    assert dense.margin_min == sparse.margin_min or abs(dense.margin_min - sparse.margin_min) < 1e-15
