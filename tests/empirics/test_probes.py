"""Per-seed curve metrics on hand-made evaluations with known answers."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ktiw.empirics.models.base import Evaluation, log_odds, nan_outside
from ktiw.empirics.probes import seed_metrics


def test_seed_metrics_on_hand_made_arrays() -> None:
    # 2 seeds, N = 1, T = 3 tokens, L = 3 positions, gold alignment = identity; token 2 is padding
    align = np.array([[0, 1, -1]])
    tgt_len = np.array([2])
    correct = np.array([[[True, False, True]], [[True, True, False]]])
    attn_argmax = np.array([[[0, 0, 2]], [[1, 3, 0]]])  # seed 1 looks one to the right / at EOS
    beta = np.full((2, 1, 3, 3), np.nan)
    beta[:, 0, :2, :] = [[[0.0, 1.0, 0.5], [0.0, 2.0, 1.0]], [[3.0, 1.0, 0.5], [0.0, 1.5, 1.0]]]
    ev = Evaluation(
        loss=np.array([0.5, 0.25]), correct=correct, attn_argmax=attn_argmax, beta=beta, alpha=None, grad=None
    )
    m = seed_metrics(ev, tgt_len, align)
    assert m["token_acc"].tolist() == [0.5, 1.0]
    assert m["attn_acc"].tolist() == [0.5, 0.0]
    assert m["attn_acc_prev"].tolist() == [0.5, 0.0]  # seed 0 token 1 looks at 0 = gold - 1
    assert m["attn_acc_next"].tolist() == [0.0, 0.5]  # seed 1 token 0 looks at 1 = gold + 1
    assert m["beta_acc"].tolist() == [0.5, 1.0]
    assert m["loss"].tolist() == [0.5, 0.25]


def test_attention_metrics_are_nan_without_alignment() -> None:
    ev = Evaluation(loss=np.zeros(1), correct=np.ones((1, 2, 2), bool), attn_argmax=np.zeros((1, 2, 2), int))
    m = seed_metrics(ev, np.array([2, 1]), None)
    assert m["token_acc"][0] == 1.0  # 3 scored tokens, all correct (the padded one is ignored)
    assert np.isnan(m["attn_acc"][0]) and np.isnan(m["beta_acc"][0])


def test_log_odds_and_nan_outside() -> None:
    import torch

    z = torch.tensor([[1.0, 2.0, 0.0]], dtype=torch.float64)
    p = torch.softmax(z, -1)[0, 1]
    assert abs(log_odds(z, torch.tensor([1])).item() - float(torch.log(p / (1 - p)))) < 1e-12
    arr = nan_outside(np.zeros((2, 3, 4)), src_len=np.array([4, 2]), tgt_len=np.array([3, 1]))
    assert np.isnan(arr).sum() == 0 + (3 * 4 - 1 * 2)


def _naive(ev: Evaluation, tgt_len: np.ndarray, align: np.ndarray) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in ("token_acc", "attn_acc", "attn_acc_prev", "beta_acc")}
    S, N, _ = ev.correct.shape
    for s in range(S):
        tok = [ev.correct[s, n, t] for n in range(N) for t in range(tgt_len[n])]
        gold = [(n, t) for n in range(N) for t in range(tgt_len[n]) if align[n, t] >= 0]
        out["token_acc"].append(sum(tok) / len(tok))
        out["attn_acc"].append(sum(ev.attn_argmax[s, n, t] == align[n, t] for n, t in gold) / len(gold))
        out["attn_acc_prev"].append(
            sum(ev.attn_argmax[s, n, t] == align[n, t] - 1 for n, t in gold) / len(gold)
        )
        best = [int(np.nanargmax(ev.beta[s, n, t])) for n, t in gold]
        out["beta_acc"].append(
            sum(b == align[n, t] for b, (n, t) in zip(best, gold, strict=True)) / len(gold)
        )
    return out


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(2, 5), st.integers(0, 2**31))
def test_seed_metrics_equal_a_naive_loop(S: int, N: int, T: int, L: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    tgt_len = rng.integers(1, T + 1, size=N)
    align = rng.integers(-1, L, size=(N, T))
    align[:, 0] = rng.integers(0, L, size=N)  # at least one gold token
    beta = rng.normal(size=(S, N, T, L))
    ev = Evaluation(
        loss=rng.normal(size=S),
        correct=rng.random((S, N, T)) < 0.5,
        attn_argmax=rng.integers(0, L + 1, size=(S, N, T)),
        beta=beta,
    )
    got = seed_metrics(ev, tgt_len, align)
    for key, values in _naive(ev, tgt_len, align).items():
        assert np.allclose(got[key], values), key
