"""The multi-head GRU model: GRU cell, head bank, probes, seed independence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ktiw.core.errors import KtiwError
from ktiw.data.families import from_spec
from ktiw.empirics.models import MODELS
from ktiw.empirics.models import base as mb
from ktiw.empirics.models.multihead import MultiHeadConfig, MultiHeadGRU, gru_layer
from ktiw.empirics.probes import evaluate
from ktiw.empirics.trainer import train
from ktiw.runs.rundir import load_run


def _model(spec: str = "permutation:L=5", S: int = 2, **kw: object) -> MultiHeadGRU:
    cfg = MultiHeadConfig(**{"hidden": 8, "heads": 2, **kw})  # type: ignore[arg-type]
    m = MultiHeadGRU(cfg, from_spec(spec), S).double()
    for s in range(S):
        m.init_seed(s, torch.Generator().manual_seed(s))
    return m


def _inputs(m: MultiHeadGRU, spec: str = "permutation:L=5", n: int = 4):
    d = from_spec(spec)
    return m.prepare([d.sample(n, np.random.default_rng(s)) for s in range(m.n_seeds)])


def test_registered() -> None:
    assert MODELS["multihead"].cls is MultiHeadGRU


def test_gru_layer_equals_torch_gru() -> None:
    torch.manual_seed(0)
    ref = torch.nn.GRU(3, 4, batch_first=True).double()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    h0 = torch.randn(1, 2, 4, dtype=torch.float64)
    want, _ = ref(x, h0)
    got = gru_layer(
        x[None],
        ref.weight_ih_l0[None],
        ref.weight_hh_l0[None],
        ref.bias_ih_l0[None],
        ref.bias_hh_l0[None],
        h0,
    )[0]
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_head_bank_gives_same_weights_in_any_slot_model_and_seed() -> None:
    a = _model(S=2, heads=2, head_ids=[[5, 7], [7, 9]], base_seed=3)
    b = _model(S=1, heads=1, head_ids=[[7]], base_seed=3)
    for name in ("attn_W", "proj_P"):
        p_a, p_b = getattr(a, name), getattr(b, name)
        assert torch.equal(p_a[0, 1], p_b[0, 0]) and torch.equal(p_a[1, 0], p_b[0, 0])
        assert not torch.equal(p_a[0, 0], p_a[0, 1])
    # base parameters depend on base_seed only, not on heads, seed or head ids
    for name in MultiHeadGRU._BASE:
        assert torch.equal(getattr(a, name)[0], getattr(b, name)[0])
        assert torch.equal(getattr(a, name)[1], getattr(b, name)[0])
    c = _model(S=1, heads=1, head_ids=[[7]], base_seed=4)
    assert not torch.equal(c.embed_src[0], b.embed_src[0])


def test_two_copies_of_one_head_equal_that_head_alone() -> None:
    """Averaging the contexts of identical heads is the single head's context."""
    two = _model(S=1, heads=2, head_ids=[[4, 4]], base_seed=0)
    one = _model(S=1, heads=1, head_ids=[[4]], base_seed=0)
    inp = _inputs(one)
    torch.testing.assert_close(two.losses(inp), one.losses(inp), rtol=1e-12, atol=1e-12)
    different = _model(S=1, heads=2, head_ids=[[4, 5]], base_seed=0)
    assert not torch.allclose(different.losses(inp), one.losses(inp))


def test_probes_alpha_beta_grad() -> None:
    m = _model(S=2, heads=3)
    inp = _inputs(m)
    ev = evaluate(m, inp)
    T = L = 5
    np.testing.assert_allclose(ev.alpha, ev.extra["alpha_heads"].astype(np.float64).mean(axis=2), atol=1e-6)
    np.testing.assert_allclose(ev.alpha.sum(-1), 1.0 - _eos_mass(m, inp), atol=1e-12)
    # beta: every head one-hot on l -> context (1/H) sum_h P_h h_l
    h, s = m.encode_decode(inp)
    for l in (0, 3):
        logits = torch.full((2, 4, 3, T + 1, L + 1), float("-inf"), dtype=torch.float64)
        logits[..., l] = 0.0
        out, _ = m.head(s, h, logits, inp)
        want = mb.log_odds(out[:, :, :T], inp.dec_out[:, :, :T]).detach().numpy()
        np.testing.assert_allclose(ev.beta[:, :, :, l], want, rtol=1e-10, atol=1e-10)
    # grad: derivative of each seed's loss w.r.t. each head's logits, averaged over heads
    logits = m.scores(s, h).detach().requires_grad_(True)
    out, _ = m.head(s, h, logits, inp)
    (g,) = torch.autograd.grad(m.token_mean_nll(out, inp).sum(), logits)
    np.testing.assert_allclose(ev.extra["grad_heads"], g[..., :T, :L].numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ev.grad, g.mean(dim=2)[..., :T, :L].numpy(), rtol=1e-10, atol=1e-12)


def _eos_mass(m: MultiHeadGRU, inp) -> np.ndarray:  # type: ignore[no-untyped-def]
    h, s = m.encode_decode(inp)
    _, alpha = m.head(s, h, m.scores(s, h), inp)
    return alpha.mean(dim=2)[:, :, :5, 5].detach().numpy()


def test_uniform_variant_attends_uniformly() -> None:
    cfg = MultiHeadConfig(hidden=8, heads=2)
    m = MultiHeadGRU(cfg, from_spec("permutation:L=5"), 1, uniform=True).double()
    m.init_seed(0, torch.Generator().manual_seed(0))
    ev = evaluate(m, _inputs(m))
    np.testing.assert_allclose(ev.alpha, 1 / 6)  # 5 words + EOS


@pytest.mark.parametrize(
    "kw",
    [
        {"heads": 0},
        {"head_ids": [[1, 2, 3]]},
        {"head_ids": [[1, 2]] * 3},
        {"head_ids": [[-1, 2]]},
        {"base_seed": -1},
    ],
)
def test_bad_config_is_a_user_error(kw: dict) -> None:
    with pytest.raises(KtiwError):
        MultiHeadGRU(MultiHeadConfig(**{"hidden": 8, "heads": 2, **kw}), from_spec("permutation:L=5"), 2)


def test_seed_curve_does_not_depend_on_other_seeds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = dict(
        spec="permutation:L=4",
        model="multihead",
        steps=4,
        batch_size=8,
        eval_every=2,
        eval_samples=6,
        dtype="float64",
        proxy_steps=0,
        probe_every=0,
    )
    train(
        {**base, "seeds": [0, 1, 2], "model_config": {"hidden": 6, "heads": 2}},
        tmp_path / "all",
        progress=False,
    )
    train({**base, "seeds": [1], "model_config": {"hidden": 6, "heads": 2}}, tmp_path / "one", progress=False)
    a, b = load_run(tmp_path / "all"), load_run(tmp_path / "one")
    for col in ("loss", "token_acc", "attn_acc", "beta_acc"):
        np.testing.assert_allclose(a.curve(1, col)[1], b.curve(1, col)[1], rtol=1e-10, atol=1e-12)
    assert not np.allclose(a.curve(0, "loss")[1][1:], a.curve(1, "loss")[1][1:])
    pa, pb = a.probes(4), b.probes(4)
    np.testing.assert_allclose(pa["alpha_heads"][1], pb["alpha_heads"][0], atol=1e-6)
