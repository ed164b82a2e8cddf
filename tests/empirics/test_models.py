"""The LSTM and toy models against plain per-seed references, hand-set probes and the theory."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ktiw.data.families import from_spec
from ktiw.empirics.models import LSTMConfig, LSTMSeq2Seq, ToyConfig, ToyModel
from ktiw.empirics.probes import evaluate, seed_metrics

torch.set_num_threads(1)


def _lstm(spec: str, S: int = 2, hidden: int = 8, uniform: bool = False, **kw: object) -> LSTMSeq2Seq:
    dist = from_spec(spec)
    model = LSTMSeq2Seq(LSTMConfig(hidden=hidden, **kw), dist, S, uniform=uniform).double()
    for s in range(S):
        model.init_seed(s, torch.Generator().manual_seed(10 + s))
    return model


def _reference_loss(model: LSTMSeq2Seq, s: int, inp: object) -> torch.Tensor:
    """Seed s of the paper's model written with nn.LSTM / nn.Linear / F.cross_entropy."""
    H = model.H
    enc, dec = nn.LSTM(H, H, batch_first=True).double(), nn.LSTM(H, H, batch_first=True).double()
    with torch.no_grad():
        for mod, params in ((enc, model.enc), (dec, model.dec)):
            mod.weight_ih_l0.copy_(params["w_ih0"][s])
            mod.weight_hh_l0.copy_(params["w_hh0"][s])
            mod.bias_ih_l0.copy_(params["b_ih0"][s])
            mod.bias_hh_l0.copy_(params["b_hh0"][s])
    E = model.embed[s]
    h, state = enc(E[inp.src_ids[s]])
    st, _ = dec(E[inp.dec_in[s]], state)
    scores = (st @ model.attn_W[s].T) @ h.transpose(1, 2)
    alpha = torch.softmax(scores, dim=-1)
    ctx = (alpha @ h) @ model.proj_P[s].T
    out = torch.tanh(torch.cat([st, ctx], -1) @ model.out_M[s].T + model.out_bM[s]) @ model.out_U[s].T
    out = out + model.out_bU[s]
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), inp.dec_out[s].reshape(-1))


def test_prepare_builds_eos_bos_sequences() -> None:
    model = _lstm("subset:L=3,V=4", S=1)
    dist = from_spec("subset:L=3,V=4")
    b = dist.sample(1, np.random.default_rng(0))
    inp = model.prepare([b])
    x = b.src[0].tolist()
    assert inp.src_ids[0, 0].tolist() == [*x, 5]  # EOS row = V + 1
    assert inp.dec_in[0, 0].tolist() == [4, *x]  # BOS row = V
    assert inp.dec_out[0, 0].tolist() == [*x, 4]  # EOS class = |O|


def test_lstm_loss_and_gradient_match_plain_per_seed_reference() -> None:
    model = _lstm("subset:L=4,V=6", S=3)
    dist = from_spec("subset:L=4,V=6")
    batches = [dist.sample(5, np.random.default_rng(s)) for s in range(3)]
    inp = model.prepare(batches)
    losses = model.losses(inp)
    losses.sum().backward()
    for s in range(3):
        ref = _reference_loss(model, s, inp)
        assert abs(losses[s].item() - ref.item()) < 1e-12
        g_attn, g_emb = torch.autograd.grad(ref, [model.attn_W, model.embed])
        assert torch.allclose(model.attn_W.grad[s], g_attn[s], atol=1e-12)
        assert torch.allclose(model.embed.grad[s], g_emb[s], atol=1e-12)
        others = [k for k in range(3) if k != s]
        assert torch.all(g_attn[others] == 0)  # seed s's loss never touches other slices


def test_lstm_gradcheck_through_whole_model() -> None:
    model = _lstm("subset:L=3,V=4", S=2, hidden=4)
    inp = model.prepare([from_spec("subset:L=3,V=4").sample(2, np.random.default_rng(s)) for s in range(2)])
    names = ("attn_W", "embed", "enc.w_hh0", "out_M")
    start = {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters() if k in names}

    def f(*tensors: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(model, dict(zip(names, tensors, strict=True)), (inp,))

    assert torch.autograd.gradcheck(f, tuple(start[k] for k in names))


def test_bidirectional_and_layers_options_run_and_keep_seeds_separate() -> None:
    model = _lstm("subset:L=3,V=5", S=2, hidden=4, layers=2, bidirectional=True)
    inp = model.prepare([from_spec("subset:L=3,V=5").sample(3, np.random.default_rng(s)) for s in range(2)])
    losses = model.losses(inp)
    (g,) = torch.autograd.grad(losses[0], model.enc["w_hh1_rev"])
    assert g[0].abs().sum() > 0 and torch.all(g[1] == 0)


def test_lstm_beta_is_log_odds_with_context_replaced_by_one_position() -> None:
    model = _lstm("subset:L=4,V=6", S=2)
    batch = from_spec("subset:L=4,V=6").sample(3, np.random.default_rng(0))
    inp = model.prepare([batch, batch])
    ev = evaluate(model, inp)
    T = L = 4
    assert ev.alpha.shape == ev.beta.shape == ev.grad.shape == (2, 3, T, L)
    with torch.no_grad():
        h, finals = model.encode(inp)
        s_ = model.decode(inp, finals)
        for l in range(L):
            onehot = torch.full((2, 3, T + 1, L + 1), -1e9, dtype=torch.float64)
            onehot[..., l] = 0.0
            out, alpha = model.head(s_, h, onehot, inp)
            assert torch.all(alpha[..., l] == 1)
            logp = torch.log_softmax(out[:, :, :T], -1)
            lp = logp.gather(-1, inp.dec_out[:, :, :T, None])[..., 0]
            expect = (lp - torch.log1p(-lp.exp())).numpy()
            assert np.allclose(ev.beta[..., l], expect, atol=1e-9)


def test_lstm_grad_probe_is_derivative_of_loss_wrt_attention_logits() -> None:
    model = _lstm("subset:L=3,V=5", S=2)
    batch = from_spec("subset:L=3,V=5").sample(2, np.random.default_rng(1))
    inp = model.prepare([batch, batch])
    ev = evaluate(model, inp)
    with torch.no_grad():
        h, finals = model.encode(inp)
        s_ = model.decode(inp, finals)
        base = model.scores(s_, h)
        for idx in [(0, 0, 0, 0), (1, 1, 2, 1), (0, 1, 1, 2)]:
            eps = 1e-6
            up, dn = base.clone(), base.clone()
            up[idx] += eps
            dn[idx] -= eps
            f_up = model.token_mean_nll(model.head(s_, h, up, inp)[0], inp)[idx[0]]
            f_dn = model.token_mean_nll(model.head(s_, h, dn, inp)[0], inp)[idx[0]]
            assert abs((f_up - f_dn).item() / (2 * eps) - ev.grad[idx]) < 1e-8


def test_uniform_lstm_attends_uniformly_and_still_gets_logit_gradients() -> None:
    model = _lstm("subset:L=4,V=6", S=1, uniform=True)
    batch = from_spec("subset:L=4,V=6").sample(3, np.random.default_rng(0))
    ev = evaluate(model, model.prepare([batch]))
    assert np.allclose(ev.alpha, 1 / 5)  # 4 words + EOS
    assert np.abs(ev.grad).sum() > 0
    assert np.allclose(ev.grad.sum(-1) + 0, ev.grad.sum(-1))  # finite everywhere
    assert np.isfinite(ev.grad).all()


def _toy(spec: str, S: int = 1, **kw: object) -> ToyModel:
    model = ToyModel(ToyConfig(**kw), from_spec(spec), S).double()
    for s in range(S):
        model.init_seed(s, torch.Generator().manual_seed(s))
    return model


def test_toy_probes_on_hand_set_attention_and_ktiw_matrix() -> None:
    model = _toy("subset:L=3,V=4")
    batch = from_spec("subset:L=3,V=4").sample(6, np.random.default_rng(0))
    with torch.no_grad():
        model.B[0] = 2 * torch.eye(4, dtype=torch.float64)
        model.a[0] = 50 * torch.eye(3, dtype=torch.float64)
    ev = evaluate(model, model.prepare([batch]))
    m = seed_metrics(ev, batch.tgt_len, batch.align)
    assert m["token_acc"][0] == 1.0 and m["attn_acc"][0] == 1.0 and m["beta_acc"][0] == 1.0
    assert m["attn_acc_prev"][0] == 0.0 and m["attn_acc_next"][0] == 0.0
    same = batch.src[:, None, :] == batch.tgt[:, :, None]
    expect = np.where(same, 2 - math.log(3), -math.log(math.e**2 + 2))
    assert np.allclose(ev.beta[0], expect, atol=1e-12)
    with torch.no_grad():  # attend one position to the left: t -> t-1 (t = 0 -> position 2)
        model.a[0] = 50 * torch.eye(3, dtype=torch.float64).roll(-1, dims=1)
    m = seed_metrics(evaluate(model, model.prepare([batch])), batch.tgt_len, batch.align)
    assert m["attn_acc_prev"][0] == pytest.approx(2 / 3) and m["attn_acc"][0] == 0.0


def test_toy_autograd_gradient_equals_theory_symbolic_gradient() -> None:
    toy_model = pytest.importorskip("ktiw.theory.toy_model", reason="theory helper's toy_model not present")
    rng = np.random.default_rng(5)
    model = _toy("subset:L=3,V=5")
    with torch.no_grad():
        model.B[0] = torch.as_tensor(rng.normal(size=(5, 5)))
        model.a[0] = torch.as_tensor(rng.normal(size=(3, 3)))
    batch = from_spec("subset:L=3,V=5").sample(7, rng)
    model.losses(model.prepare([batch])).sum().backward()
    dB, da = toy_model.gradients(
        model.B[0].detach().numpy(), model.a[0].detach().numpy(), batch.src, batch.tgt
    )
    assert np.allclose(model.B.grad[0].numpy(), dB, atol=1e-12)
    assert np.allclose(model.a.grad[0].numpy(), da, atol=1e-12)
    # the per-example logit gradient (Delta probe) sums to the shared-logit gradient
    ev = evaluate(model, model.prepare([batch]))
    assert np.allclose(ev.grad[0].sum(0), da, atol=1e-12)


def test_toy_eps_init_and_its_precondition() -> None:
    model = _toy("permutation:L=3", init="eps", eps=0.01)
    assert torch.equal(model.B[0], 0.01 * torch.eye(3, dtype=torch.float64))
    assert torch.equal(model.a[0], 0.01 * torch.eye(3, dtype=torch.float64))
    from ktiw.core.errors import KtiwError
    from ktiw.data.distribution import EmpiricalDistribution

    dist = EmpiricalDistribution(np.array([[0, 1]]), np.array([[2, 3]]), n_in=2, n_out=4)
    with pytest.raises(KtiwError, match="eps"):
        ToyModel(ToyConfig(init="eps"), dist, 1)
