"""Stacked-seed LSTM and Adam against PyTorch's own per-seed modules (float64)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ktiw.empirics import batched as bt
from ktiw.empirics.optim import SeedAdam

torch.set_num_threads(1)
TOL = 1e-12


def _stacked_lstm(S: int, d_in: int, H: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(S, 4 * H, d_in), (S, 4 * H, H), (S, 4 * H), (S, 4 * H)]
    return [(torch.rand(sh, generator=g, dtype=torch.float64) - 0.5).requires_grad_() for sh in shapes]


def test_lstm_layer_matches_nn_lstm_per_seed_outputs_final_state_and_gradients() -> None:
    S, B, L, d_in, H = 3, 4, 5, 3, 6
    w = _stacked_lstm(S, d_in, H)
    x = torch.randn(S, B, L, d_in, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    h0 = torch.randn(S, B, H, dtype=torch.float64)
    c0 = torch.randn(S, B, H, dtype=torch.float64)
    last = torch.tensor([[4, 2, 0, 3]] * S)
    out, (h_n, c_n) = bt.lstm_layer(x, *w, h0, c0, last=last)
    (out.square().sum() + h_n.sum() + 2 * c_n.sum()).backward()
    for s in range(S):
        ref = nn.LSTM(d_in, H, batch_first=True).double()
        with torch.no_grad():
            for p, q in zip(
                (ref.weight_ih_l0, ref.weight_hh_l0, ref.bias_ih_l0, ref.bias_hh_l0), w, strict=True
            ):
                p.copy_(q[s])
        ref_out, _ = ref(x[s], (h0[s][None], c0[s][None]))
        # final state at position last[b]: run each prefix separately
        h_ref = torch.stack(
            [
                ref(x[s, b : b + 1, : last[s, b] + 1], (h0[s, b][None, None], c0[s, b][None, None]))[1][0][
                    0, 0
                ]
                for b in range(B)
            ]
        )
        c_ref = torch.stack(
            [
                ref(x[s, b : b + 1, : last[s, b] + 1], (h0[s, b][None, None], c0[s, b][None, None]))[1][1][
                    0, 0
                ]
                for b in range(B)
            ]
        )
        assert torch.allclose(out[s], ref_out, atol=TOL, rtol=0)
        assert torch.allclose(h_n[s], h_ref, atol=TOL, rtol=0)
        assert torch.allclose(c_n[s], c_ref, atol=TOL, rtol=0)
        ref.zero_grad()
        (ref_out.square().sum() + h_ref.sum() + 2 * c_ref.sum()).backward()
        for p, q in zip((ref.weight_ih_l0, ref.weight_hh_l0, ref.bias_ih_l0, ref.bias_hh_l0), w, strict=True):
            assert torch.allclose(q.grad[s], p.grad, atol=1e-10, rtol=0)


def test_lstm_layer_gradcheck() -> None:
    S, B, L, d_in, H = 2, 2, 3, 2, 3
    w = _stacked_lstm(S, d_in, H, seed=3)
    x = torch.randn(S, B, L, d_in, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(S, B, H, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(S, B, H, dtype=torch.float64, requires_grad=True)

    def f(x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, *w: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out, (h_n, c_n) = bt.lstm_layer(x, *w, h0, c0, last=torch.tensor([[2, 1], [0, 2]]))
        return out, h_n, c_n

    assert torch.autograd.gradcheck(f, (x, h0, c0, *w))


def test_linear_and_embed_act_per_seed() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 2, 5, 4, generator=g, dtype=torch.float64)
    W = torch.randn(3, 7, 4, generator=g, dtype=torch.float64)
    b = torch.randn(3, 7, generator=g, dtype=torch.float64)
    y = bt.linear(x, W, b)
    for s in range(3):
        assert torch.allclose(y[s], x[s] @ W[s].T + b[s], atol=TOL)
    table = torch.randn(3, 6, 2, generator=g, dtype=torch.float64)
    ids = torch.randint(0, 6, (3, 4, 5), generator=g)
    e = bt.embed(table, ids)
    for s in range(3):
        assert torch.equal(e[s], table[s][ids[s]])


def test_reverse_padded_reverses_valid_prefix_only() -> None:
    x = torch.arange(10.0).view(1, 2, 5)
    lengths = torch.tensor([[5, 3]])
    r = bt.reverse_padded(x, lengths)
    assert r.tolist() == [[[4.0, 3.0, 2.0, 1.0, 0.0], [7.0, 6.0, 5.0, 8.0, 9.0]]]
    assert torch.equal(bt.reverse_padded(r, lengths), x)


def test_seed_adam_equals_torch_adam_and_freezes_inactive_seeds() -> None:
    g = torch.Generator().manual_seed(0)
    p = torch.randn(3, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    q = p.detach()[0].clone().requires_grad_()
    ours = SeedAdam([("p", p)], 3, lr=0.01)
    ref = torch.optim.Adam([q], lr=0.01)
    active = torch.tensor([True, True, False])
    frozen = p.detach()[2].clone()
    for k in range(5):
        grads = torch.randn(3, 4, 5, generator=g, dtype=torch.float64)
        if k == 2:
            grads[2] = float("nan")  # a frozen seed's NaN gradient must not leak anywhere
        p.grad = grads.clone()
        q.grad = grads[0].clone()
        ours.step(active)
        ref.step()
        assert torch.allclose(p.detach()[0], q.detach(), atol=1e-14, rtol=0)
    assert torch.equal(p.detach()[2], frozen)
    assert ours.step_count.tolist() == [5, 5, 0]
    assert torch.isfinite(ours.m["p"]).all() and torch.isfinite(ours.v["p"]).all()


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.compile's own, not ours
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
def test_fused_cells_equal_eager_cells_outputs_and_gradients(device: str) -> None:
    """The torch.compile-fused pointwise cells compute the same LSTM (float64, 1e-12)."""
    S, B, L, d_in, H = 2, 3, 4, 3, 5
    w = [p.detach().to(device).requires_grad_() for p in _stacked_lstm(S, d_in, H, seed=7)]
    x = torch.randn(S, B, L, d_in, dtype=torch.float64, generator=torch.Generator().manual_seed(2)).to(device)
    last = torch.tensor([[3, 1, 2]] * S, device=device)

    def run() -> list[torch.Tensor]:
        for p in w:
            p.grad = None
        out, (h_n, c_n) = bt.lstm_layer(x, *w, last=last)
        (out.square().sum() + h_n.sum() + 2 * c_n.sum()).backward()
        return [out.detach(), h_n.detach(), c_n.detach()] + [p.grad.clone() for p in w]

    eager = run()
    if not bt.fuse_cells(True):
        pytest.skip("torch.compile is not available here")
    try:
        fused = run()
    finally:
        bt.fuse_cells(False)
    for a, b in zip(eager, fused, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
