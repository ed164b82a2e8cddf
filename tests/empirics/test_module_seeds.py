"""Single-seed modules trained as S seeds (transformer, the docs' worked example, user models):
hook tensors against a direct computation, beta against a forward pass with the attention
replaced by a one-hot, vmapped == per-seed training in float64, and the one-line errors."""

from __future__ import annotations

import csv
import math
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ktiw.cli.app import app
from ktiw.core.errors import KtiwError
from ktiw.data.families import from_spec
from ktiw.empirics import trainer as tr
from ktiw.empirics.models import build_model, hooks
from ktiw.empirics.models.base import log_odds
from ktiw.empirics.models.module_seeds import seq_task
from ktiw.empirics.models.transformer import Transformer, TransformerConfig
from ktiw.empirics.probes import evaluate
from ktiw.empirics.train_config import TrainConfig
from ktiw.empirics.training_cost import check_training_memory

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
runner = CliRunner()


@pytest.fixture
def on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    yield
    for name in [m for m in sys.modules if m.startswith(("docs_example", "usermods"))]:
        del sys.modules[name]


def _model(name: str, spec: str = "permutation:L=5", S: int = 2, options=None, uniform=False):
    torch.manual_seed(0)
    dist = from_spec(spec)
    model, _ = build_model(name, options or {}, dist, S, uniform=uniform)
    model = model.to(torch.float64)
    for s in range(S):
        model.init_seed(s, torch.Generator().manual_seed(s))
    batch = dist.sample(6, np.random.default_rng([1, 0]))
    return model, dist, batch, model.prepare([batch] * S)


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_transformer_hook_tensors_match_a_direct_computation(positions) -> None:
    model, _, _, inp = _model("transformer", options={"d_model": 16, "n_head": 2, "positions": positions})
    cache = hooks.Cache()
    model.losses(inp, cache)
    for s in range(2):
        net = Transformer(model.task, TransformerConfig(d_model=16, n_head=2, positions=positions)).double()
        net.load_state_dict({k: v[s] for k, v in model.net.state_dict().items()})
        src, mask, tgt = inp.src_ids[s], inp.src_valid[s], inp.dec_in[s]
        # direct: encoder/decoder through the blocks, then the cross-attention written out
        h = net.embed(src, "pos_src")
        for blk in net.encoder:
            h = blk(h, mask[:, None, :].expand(-1, h.shape[1], -1))
        h = net.ln_enc(h)
        x = net.embed(tgt, "pos_tgt")
        causal = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool).tril().expand(x.shape[0], -1, -1)
        for blk in net.decoder:
            x = blk(x, causal)
        q = net.ln_q(x) @ net.q.weight.T + net.q.bias
        k = h @ net.k.weight.T + net.k.bias
        score = q @ k.transpose(1, 2) / 4.0  # sqrt(16)
        a = torch.softmax(score.masked_fill(~mask[:, None, :], -math.inf), -1)
        ctx = a @ (h @ net.v.weight.T + net.v.bias) @ net.o.weight.T + net.o.bias
        z = x + ctx
        logits = net.head(net.ln_f(z + net.mlp(net.ln_m(z))))
        torch.testing.assert_close(cache[hooks.ATTN_LOGITS][s], score, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(cache[hooks.ATTN][s], a, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(
            cache[hooks.READOUT_STATE][s] + cache[hooks.ATTN][s] @ cache[hooks.READOUT_VALUES][s],
            z,
            rtol=1e-10,
            atol=1e-12,
        )
        torch.testing.assert_close(cache[hooks.OUT][s], logits, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["transformer", "docs_example:build"])
def test_beta_is_the_log_odds_with_the_attention_replaced_by_a_one_hot(on_path, name) -> None:
    model, _, batch, inp = _model(name, options={"d_model": 16, "n_head": 2} if name == "transformer" else {})
    ev = evaluate(model, inp)
    target = inp.dec_out
    rng = np.random.default_rng(0)
    for _ in range(6):
        s, n = int(rng.integers(2)), int(rng.integers(len(batch)))
        t, l = int(rng.integers(batch.tgt_len[n])), int(rng.integers(batch.src_len[n]))
        # the whole forward pass again, with seed s's attention at (n, t) put on position l only
        cache = hooks.Cache()
        model.losses(inp, cache)
        onehot = cache[hooks.ATTN].detach().clone()
        onehot[s, n, t] = 0.0
        onehot[s, n, t, l] = 1.0
        out, _ = model.run_seeds(model.args(inp), replace={hooks.ATTN: onehot})
        want = float(log_odds(out[s, n, t].detach(), target[s, n, t]))
        assert ev.beta[s, n, t, l] == pytest.approx(want, rel=1e-9, abs=1e-9)
    # and grad is d loss / d attn_logits (autograd through the whole model, one entry)
    s, n, t, l = 1, 0, 0, 0
    eps = 1e-6

    def loss_with(delta: float) -> float:
        cache = hooks.Cache()
        model.losses(inp, cache)
        logits = cache[hooks.ATTN_LOGITS].detach().clone()
        logits[s, n, t, l] += delta
        rec_out, _ = model.run_seeds(model.args(inp), replace={hooks.ATTN_LOGITS: logits})
        from ktiw.empirics.models.loss import token_mean_nll

        return float(token_mean_nll(rec_out, inp.dec_out, inp.dec_valid)[s].detach())

    fd = (loss_with(eps) - loss_with(-eps)) / (2 * eps)
    assert ev.grad[s, n, t, l] == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_uniform_fixes_the_cross_attention_scores_to_zero() -> None:
    model, _, batch, inp = _model("transformer", options={"d_model": 16, "n_head": 2}, uniform=True)
    ev = evaluate(model, inp)
    for n in range(len(batch)):
        L = batch.src_len[n]
        np.testing.assert_allclose(ev.alpha[:, n, : batch.tgt_len[n], :L], 1.0 / (L + 1))  # + EOS


def _curves(run: Path) -> dict[tuple[int, int], list[float]]:
    with (run / "curves.csv").open() as f:
        return {
            (int(r["seed"]), int(r["step"])): [float(r["loss"]), float(r["token_acc"]), float(r["attn_mass"])]
            for r in csv.DictReader(f)
        }


@pytest.mark.parametrize(
    ("name", "options"),
    [("transformer", {"d_model": 16, "n_head": 2, "n_layer": 1}), ("docs_example:build", {"d": 8})],
)
def test_vmapped_seeds_equal_each_seed_trained_alone_float64(on_path, tmp_path, name, options) -> None:
    base = dict(
        spec="permutation:L=5",
        model=name,
        steps=6,
        batch_size=8,
        eval_every=3,
        eval_samples=4,
        proxy_steps=0,
        dtype="float64",
        model_config=options,
        probe_every=0,
    )
    together = tr.train(dict(base, seeds=[0, 1, 2]), tmp_path / "all", progress=False)
    alone = tr.train(dict(base, seeds=[1]), tmp_path / "one", progress=False)
    a, b = _curves(together), _curves(alone)
    assert any(k[1] == 6 for k in b)
    for key, values in b.items():
        np.testing.assert_allclose(a[key], values, rtol=1e-12, atol=1e-14)
    # and the loop path gives the same numbers as the vmap path
    model, _, _, inp = _model(name, options=options)
    assert model.path == "vmap"
    vm = model.losses(inp)
    model.path = "loop"
    torch.testing.assert_close(model.losses(inp), vm, rtol=1e-12, atol=1e-14)


GRU_MODEL = textwrap.dedent("""
    import torch
    from torch import nn
    from ktiw.empirics.models.hooks import hook_point
    class G(nn.Module):
        def __init__(self, task):
            super().__init__()
            self.e = nn.Embedding(task.n_tokens, 8)
            self.enc = nn.GRU(8, 8, batch_first=True)
            self.dec = nn.GRU(8, 8, batch_first=True)
            self.h = nn.Linear(8, task.n_classes)
        def forward(self, src, src_mask, tgt_in):
            h, _ = self.enc(self.e(src))
            s, _ = self.dec(self.e(tgt_in))
            sc = hook_point("attn_logits", s @ h.transpose(1, 2))
            a = hook_point("attn", torch.softmax(sc.masked_fill(~src_mask[:, None], float("-inf")), -1))
            return self.readout(hook_point("readout_state", s) + a @ hook_point("readout_values", h))
        def readout(self, pre):
            return self.h(torch.tanh(pre))
    def build(task):
        return G(task)
""")


def test_a_recurrent_module_takes_the_loop_path_with_the_same_numbers(tmp_path, monkeypatch) -> None:
    pkg = tmp_path / "usermods"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "gru.py").write_text(GRU_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        model, _, _, inp = _model("usermods.gru:build", S=3)
        assert model.path == "loop"  # nn.GRU has no vmap batching rule
        ev = evaluate(model, inp)
        assert np.isfinite(ev.beta[~np.isnan(ev.beta)]).all() and ev.alpha.shape[0] == 3
        net = sys.modules["usermods.gru"].build(model.task).double()
        net.load_state_dict({k: v[2] for k, v in model.net.state_dict().items()})
        from ktiw.empirics.models.loss import token_mean_nll

        alone = token_mean_nll(
            net(inp.src_ids[2], inp.src_valid[2], inp.dec_in[2])[None], inp.dec_out[2:], inp.dec_valid[2:]
        )
        torch.testing.assert_close(model.losses(inp)[2:], alone, rtol=1e-12, atol=1e-14)
    finally:
        for name in [m for m in sys.modules if m.startswith("usermods")]:
            del sys.modules[name]


BAD = {
    "raises": "def build(task):\n    raise ValueError('no such size')\n",
    "notmodule": "def build(task):\n    return 42\n",
    "seedcount": textwrap.dedent("""
        from torch import nn
        CALLS = [0]
        def build(task):
            CALLS[0] += 1
            return nn.Linear(CALLS[0], 2)
    """),
    "nohook": textwrap.dedent("""
        import torch
        from torch import nn
        from ktiw.empirics.models.hooks import hook_point
        class M(nn.Module):
            def __init__(self, task):
                super().__init__()
                self.e = nn.Embedding(task.n_tokens, 4)
                self.h = nn.Linear(4, task.n_classes)
            def forward(self, src, src_mask, tgt_in):
                s = self.e(tgt_in)
                a = hook_point("attn", torch.softmax(s @ self.e(src).transpose(1, 2), -1))
                return self.readout(s + a @ self.e(src))
            def readout(self, pre):
                return self.h(pre)
        def build(task):
            return M(task)
    """),
}
EXPECT = {
    "raises": "factory raised ValueError: no such size",
    "notmodule": "returned int, not a torch.nn.Module",
    "seedcount": "must not depend on the seed or the seed count",
    "nohook": "missing hook point 'attn_logits'",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_user_model_breaking_the_contract_is_one_line_exit_2(tmp_path, monkeypatch, case) -> None:
    pkg = tmp_path / "usermods"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / f"{case}.py").write_text(BAD[case])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    try:
        res = runner.invoke(
            app,
            [
                "train",
                "permutation:L=4",
                "--model",
                f"usermods.{case}:build",
                "--steps",
                "1",
                "--seeds",
                "2",
                "--quiet",
                "--proxy-steps",
                "0",
            ],
        )
    finally:
        for name in [m for m in sys.modules if m.startswith("usermods")]:
            del sys.modules[name]
    assert res.exit_code == 2, res.output
    text = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(text) == 1 and EXPECT[case] in text[0] and "Traceback" not in res.output, res.output


def test_a_model_module_that_cannot_be_imported_is_named(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(
        app, ["train", "permutation:L=4", "--model", "nosuchpkg.models:build", "--steps", "1"]
    )
    assert res.exit_code == 2
    (line,) = [ln for ln in res.output.splitlines() if ln.strip()]
    assert "cannot import module 'nosuchpkg.models'" in line
    with pytest.raises(KtiwError, match="unknown model 'nosuch'"):
        build_model("nosuch", {}, from_spec("permutation:L=4"), 1, uniform=False)


def test_seq_task_layout_matches_the_lstm() -> None:
    d = from_spec("subset:L=4,V=6")
    t = seq_task(d)
    assert (t.bos, t.eos, t.n_tokens) == (d.n_in, d.n_in + 1, d.n_in + 2)
    assert t.n_classes == d.n_out + 1 and t.src_positions == 5


def test_the_memory_estimate_is_measured_on_the_model_actually_built(tmp_path, monkeypatch) -> None:
    from ktiw.empirics.models.base import activation_model, saved_bytes

    dist = from_spec("permutation:L=6")
    small, _ = build_model("transformer", {"d_model": 16, "n_head": 2}, dist, 1, uniform=False)
    wide, _ = build_model("transformer", {"d_model": 64, "n_head": 2}, dist, 1, uniform=False)
    # the saved activations are linear in the batch: the fit through 2 and 4 predicts 8
    fixed, per = activation_model(wide, dist)
    assert saved_bytes(wide, dist, 8) == pytest.approx(fixed + 8 * per, rel=1e-9)
    # a 4x wider model saves about 4x more per example (every saved tensor is d wide or T x L)
    ratio = per / activation_model(small, dist)[1]
    assert 2.5 < ratio < 4.5
    # the refusal: a limit between the two estimates refuses the wide model only, naming activations
    base = dict(spec="permutation:L=6", model="transformer", batch_size=512, eval_samples=4, seeds=[0, 1],
                proxy_steps=0, steps=1)
    need_wide = 2 * (2 * fixed + 2 * 512 * per)
    monkeypatch.setenv("KTIW_MAX_MEMORY", str(int(need_wide * 0.8)))
    check_training_memory(TrainConfig(**base, model_config={"d_model": 16, "n_head": 2}), dist)
    with pytest.raises(KtiwError, match="mostly activations"):
        check_training_memory(TrainConfig(**base, model_config={"d_model": 64, "n_head": 2}), dist)


def test_an_entry_point_names_a_model(on_path, monkeypatch) -> None:
    from importlib.metadata import EntryPoint

    from ktiw.empirics.models import user

    ep = EntryPoint(name="mymodel", value="docs_example:build", group=user.ENTRY_POINT_GROUP)
    monkeypatch.setattr(user, "entry_points", lambda group: [ep] if group == user.ENTRY_POINT_GROUP else [])
    model, options = build_model("mymodel", {"d": 8}, from_spec("permutation:L=4"), 2, uniform=False)
    assert options == {"d": 8} and model.path == "vmap"
    assert model.net.tok.weight.shape[-1] == 8


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--model", "usermods.nohook:build"], "missing hook point 'attn_logits'"),
        (["--experiment", "multihead", "--model", "transformer"], "model transformer has none"),
    ],
)
def test_verify_refuses_a_model_an_experiment_cannot_use_in_one_line(tmp_path, monkeypatch, args, expect):
    pkg = tmp_path / "usermods"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nohook.py").write_text(BAD["nohook"])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    try:
        res = runner.invoke(app, ["verify", *args, "--out", str(tmp_path / "v")])
    finally:
        for name in [m for m in sys.modules if m.startswith("usermods")]:
            del sys.modules[name]
    assert res.exit_code == 2, res.output
    (line,) = [ln for ln in res.output.splitlines() if ln.strip()]
    assert expect in line and not (tmp_path / "v" / "runs").exists()
