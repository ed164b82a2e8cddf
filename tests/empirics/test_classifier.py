"""The gated attention classifier: loss against a plain reference, probes on hand-set attention."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ktiw.core.errors import KtiwError
from ktiw.data.families import from_spec
from ktiw.empirics.models import MODELS
from ktiw.empirics.models.classifier import AttentionClassifier, ClassifierConfig
from ktiw.empirics.probes import evaluate
from ktiw.empirics.trainer import train
from ktiw.runs.rundir import load_run

SPEC = "keyword:L=6,V=12,K=2"


def _model(S: int = 2, uniform: bool = False, hidden: int = 8) -> AttentionClassifier:
    m = AttentionClassifier(ClassifierConfig(hidden=hidden), from_spec(SPEC), S, uniform=uniform).double()
    for s in range(S):
        m.init_seed(s, torch.Generator().manual_seed(s))
    return m


def _inputs(m: AttentionClassifier, n: int = 7):
    d = from_spec(SPEC)
    return m.prepare([d.sample(n, np.random.default_rng(10 + s)) for s in range(m.n_seeds)])


def test_registered() -> None:
    assert MODELS["classifier"].cls is AttentionClassifier


@pytest.mark.parametrize("bidirectional", [False, True])
def test_loss_equals_plain_reference_per_seed(bidirectional: bool) -> None:
    m = AttentionClassifier(
        ClassifierConfig(hidden=8, bidirectional=bidirectional), from_spec(SPEC), 2
    ).double()
    for s in range(2):
        m.init_seed(s, torch.Generator().manual_seed(s))
    inp = _inputs(m)
    got = m.losses(inp)
    for s in range(2):
        lstm = torch.nn.LSTM(8, 8, batch_first=True, bidirectional=bidirectional).double()
        with torch.no_grad():
            for suffix in ("", "_reverse") if bidirectional else ("",):
                mine = "_rev" if suffix else ""
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    short = name.replace("weight", "w").replace("bias", "b")
                    getattr(lstm, f"{name}_l0{suffix}").copy_(getattr(m, short + mine)[s])
        h, _ = lstm(m.embed[s][inp.src[s]])
        p = torch.softmax(h @ m.attn_v[s, 0], dim=-1)
        z = (p * (h @ m.score_W[s, 0])).sum(-1)
        y = inp.label[s].double()
        want = (torch.log1p(torch.exp(z)) - y * z).mean()
        torch.testing.assert_close(got[s], want, rtol=1e-12, atol=1e-12)


def test_probes_on_hand_set_attention() -> None:
    m = _model(S=1)
    with torch.no_grad():
        m.attn_v.zero_()  # attention uniform by hand
    inp = _inputs(m)
    ev = evaluate(m, inp)
    L = 6
    np.testing.assert_allclose(ev.alpha, 1 / L)
    h = m.states(inp)
    wh = (h @ m.score_W[0, 0].unsqueeze(-1)).squeeze(-1)[0].detach().numpy()  # [N, L]
    y = inp.label[0].numpy()
    np.testing.assert_allclose(ev.beta[0, :, 0, :], (2 * y - 1)[:, None] * wh, rtol=1e-12)
    z = wh.mean(axis=1)
    sig = 1 / (1 + np.exp(-z))
    want_grad = (sig - y)[:, None] * (1 / L) * (wh - z[:, None]) / len(y)
    np.testing.assert_allclose(ev.grad[0, :, 0, :], want_grad, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(ev.correct[0, :, 0], (z > 0) == (y == 1))
    # a sharp hand-set attention on position 2: alpha one-hot there, score = W h_2
    with torch.no_grad():
        a = torch.full((1, len(y), L), -1e9, dtype=torch.float64)
        a[..., 2] = 0.0
        z2, p2, _ = m.head(h, a, inp)
    np.testing.assert_allclose(p2[0, :, 2].numpy(), 1.0)
    np.testing.assert_allclose(((2 * y - 1) * z2[0].numpy()), ev.beta[0, :, 0, 2], rtol=1e-12)


def test_uniform_model_ignores_v() -> None:
    m = _model(S=1, uniform=True)
    ev = evaluate(m, _inputs(m))
    np.testing.assert_allclose(ev.alpha, 1 / 6)


def test_ragged_data_file_lengths_are_masked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ktiw.data.corpus import load_labelled

    f = tmp_path / "d.tsv"
    f.write_text("pos\tgood film\nneg\tbad film here\n")
    d = load_labelled(f)
    m = AttentionClassifier(ClassifierConfig(hidden=4), d, 1).double()
    m.init_seed(0, torch.Generator().manual_seed(0))
    b = d.sample(5, np.random.default_rng(0))
    ev = evaluate(m, m.prepare([b]))
    short = b.src_len < 3
    assert np.all(np.isnan(ev.alpha[0, short, 0, 2])) and np.all(~np.isnan(ev.alpha[0, ~short, 0, 2]))
    np.testing.assert_allclose(np.nansum(ev.alpha[0, :, 0], axis=-1), 1.0)


def test_non_classification_distribution_is_a_user_error() -> None:
    with pytest.raises(KtiwError):
        AttentionClassifier(ClassifierConfig(hidden=4), from_spec("permutation:L=4"), 1)


def test_seed_curve_does_not_depend_on_other_seeds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = dict(
        spec=SPEC,
        model="classifier",
        steps=4,
        batch_size=8,
        eval_every=2,
        eval_samples=10,
        dtype="float64",
        proxy_steps=0,
        probe_every=0,
        model_config={"hidden": 6},
    )
    train({**base, "seeds": [0, 1, 2]}, tmp_path / "all", progress=False)
    train({**base, "seeds": [2]}, tmp_path / "one", progress=False)
    a, b = load_run(tmp_path / "all"), load_run(tmp_path / "one")
    np.testing.assert_allclose(a.curve(2, "loss")[1], b.curve(2, "loss")[1], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.probes(4)["alpha"][2], b.probes(4)["alpha"][0], atol=1e-6)
    assert not np.allclose(a.curve(0, "loss")[1][1:], a.curve(2, "loss")[1][1:])
