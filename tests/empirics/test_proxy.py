"""The bag-of-words proxy: stage-1 gradient, what it can and cannot learn, beta_px indexing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ktiw.data.distribution import PAD, Batch
from ktiw.data.families import from_spec
from ktiw.empirics.proxy import bag_and_targets, beta_px, bow_nll, train_bow_proxy

TRAIN = {"steps": 150, "batch_size": 64, "lr": 0.05}


def test_bag_and_targets_hand_made() -> None:
    batch = Batch(
        src=np.array([[0, 0, 2], [1, PAD, PAD]]),
        tgt=np.array([[1, 1], [0, PAD]]),
        src_len=np.array([3, 1]),
        tgt_len=np.array([2, 1]),
        align=None,
    )
    bag, counts = bag_and_targets(batch, n_in=3, n_out=2)
    np.testing.assert_allclose(bag, [[2 / 3, 0, 1 / 3], [0, 1, 0]])
    np.testing.assert_array_equal(counts, [[0, 2], [1, 0]])


@pytest.mark.parametrize("spec", ["subset:L=3,V=5", "iid:L=2,V=3", "translate:L=2,V=4,reorder=reverse"])
def test_gradient_at_zero_is_minus_C_W(spec: str) -> None:
    """Stage 1 for the proxy: over the exact support, dNLL/dE at E = 0, b = 0 is -C W."""
    dist = from_spec(spec)
    support = dist.exact_support()
    assert support is not None
    batch = Batch(support.src_arr, support.tgt_arr, support.src_lens, support.tgt_lens, None)
    bag, counts = (
        torch.as_tensor(a, dtype=torch.float64) for a in bag_and_targets(batch, dist.n_in, dist.n_out)
    )
    W = torch.randn(dist.n_out, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    E = torch.zeros(dist.n_in, 7, dtype=torch.float64, requires_grad=True)
    bow_nll(E, W, torch.zeros(dist.n_out, dtype=torch.float64), bag, counts).backward()
    C = dist.cooccurrence().dense()
    np.testing.assert_allclose(E.grad.numpy(), -C @ W.numpy(), atol=1e-12)


def test_learns_translation_when_cooccurrence_has_signal() -> None:
    """subset:L=4,V=8: C has a positive diagonal, so a bag of words learns i -> i."""
    M = train_bow_proxy(from_spec("subset:L=4,V=8"), seed=0, **TRAIN)
    assert M.shape == (8, 8)
    np.testing.assert_allclose(M.sum(axis=1), 1.0, atol=1e-9)
    assert M.argmax(axis=0).tolist() == list(range(8))  # for every o, the word i = o votes most
    off = M[~np.eye(8, dtype=bool)].reshape(8, 7)
    assert np.all(np.diag(M) > 10 * off.max(axis=1))


def test_cannot_separate_words_on_a_permutation() -> None:
    """permutation:L=6: every input has the same bag, so every word gets the same update and
    each column of M is constant over i (tolerance 1e-6: float32 summation order only)."""
    M = train_bow_proxy(from_spec("permutation:L=6"), seed=0, **TRAIN)
    assert np.ptp(M, axis=0).max() < 1e-6
    M_subset = train_bow_proxy(from_spec("subset:L=6,V=8"), seed=0, **TRAIN)
    assert np.ptp(M_subset, axis=0).max() > 0.5


def test_deterministic_per_seed() -> None:
    dist = from_spec("subset:L=3,V=6")
    kw = {"steps": 20, "batch_size": 16, "lr": 0.05}
    a = train_bow_proxy(dist, seed=1, **kw)
    np.testing.assert_array_equal(a, train_bow_proxy(dist, seed=1, **kw))
    assert not np.array_equal(a, train_bow_proxy(dist, seed=2, **kw))


def test_beta_px_indexing_and_padding() -> None:
    M = np.arange(12.0).reshape(4, 3)  # M[i, o] = 3 i + o
    src = np.array([[0, 3, 1], [2, PAD, PAD]])
    tgt = np.array([[2, 0], [1, PAD]])
    b = beta_px(M, src, tgt)
    assert b.shape == (2, 2, 3)
    np.testing.assert_array_equal(b[0], [[2, 11, 5], [0, 9, 3]])
    assert b[1, 0, 0] == 7
    assert np.all(np.isneginf(b[1, 0, 1:])) and np.all(np.isneginf(b[1, 1]))
    with pytest.raises(ValueError, match="out of range"):
        beta_px(M, np.array([[4]]), np.array([[0]]))
