"""Training with SGD or Adam for every model, the toy model's normal init, the attn_mass column."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ktiw.cli.app import app
from ktiw.core.errors import KtiwError
from ktiw.empirics import runfiles
from ktiw.empirics.optim import SeedSGD
from ktiw.empirics.resume import resume
from ktiw.empirics.train_config import TrainConfig
from ktiw.empirics.trainer import Trainer, train
from ktiw.runs import rundir

torch.set_num_threads(1)
runner = CliRunner()


def test_seed_sgd_equals_torch_sgd_and_freezes_inactive_seeds() -> None:
    g = torch.Generator().manual_seed(0)
    p = torch.randn(3, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    q = p.detach()[0].clone().requires_grad_()
    q1 = p.detach()[1].clone().requires_grad_()
    ours = SeedSGD([("p", p)], 3, lr=0.1, momentum=0.9)
    ref, ref1 = torch.optim.SGD([q], lr=0.1, momentum=0.9), torch.optim.SGD([q1], lr=0.1, momentum=0.9)
    frozen = p.detach()[2].clone()
    for k in range(6):
        active = torch.tensor([True, k >= 2, False])  # seed 1 starts late: its own first step
        grads = torch.randn(3, 4, 5, generator=g, dtype=torch.float64)
        grads[2] = float("nan")
        p.grad = grads.clone()
        q.grad, q1.grad = grads[0].clone(), grads[1].clone()
        ours.step(active)
        ref.step()
        if k >= 2:
            ref1.step()
        assert torch.allclose(p.detach()[0], q.detach(), atol=1e-14, rtol=0)
        assert torch.allclose(p.detach()[1], q1.detach(), atol=1e-14, rtol=0)
    assert torch.equal(p.detach()[2], frozen)
    assert ours.step_count.tolist() == [6, 4, 0]


def _cfg(**kw: object) -> TrainConfig:
    base: dict[str, object] = dict(
        spec="subset:L=4,V=6",
        model="lstm",
        seeds=[0, 1],
        steps=8,
        batch_size=16,
        eval_every=2,
        eval_samples=8,
        proxy_steps=0,
        checkpoint_every=4,
        model_config={"hidden": 16},
        optimizer="sgd",
        momentum=0.9,
        lr=0.5,
    )
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model", "model_config"),
    [("lstm", {"hidden": 16}), ("toy", {}), ("multihead", {"hidden": 8, "heads": 2})],
)
def test_sgd_resume_and_frozen_seed_for_every_model(tmp_path: Path, model: str, model_config: dict) -> None:
    """SGD runs resume bit-identically; a diverged seed stays frozen and the others do not notice."""
    cfg = dict(model=model, model_config=model_config)
    full = train(_cfg(**cfg), tmp_path / "full", progress=False)

    def ctrl_c(tr: Trainer) -> None:
        if tr.step == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(**cfg), tmp_path / "int", progress=False, callback=ctrl_c)
    resume(tmp_path / "int", progress=False)
    assert (full / "curves.csv").read_text() == (tmp_path / "int" / "curves.csv").read_text()
    pa = torch.load(full / "checkpoint.pt", weights_only=True)
    pb = torch.load(tmp_path / "int" / "checkpoint.pt", weights_only=True)
    for k in pa["params"]:
        assert torch.equal(pa["params"][k], pb["params"][k])
    assert json.loads((full / "config.json").read_text())["optimizer"] == "sgd"

    def poison(tr: Trainer) -> None:
        if tr.step == 3:
            with torch.no_grad():
                next(iter(tr.model.parameters()))[1].fill_(float("inf"))

    out = train(_cfg(**cfg, dtype="float64"), tmp_path / "d", progress=False, callback=poison)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["optimizer"]["step_count"].tolist() == [8, 3]
    alone = train(_cfg(**cfg, dtype="float64", seeds=[0]), tmp_path / "a", progress=False)
    ra, rb = rundir.load_run(out), rundir.load_run(alone)
    np.testing.assert_allclose(ra.curve(0, "loss")[1], rb.curve(0, "loss")[1], atol=1e-10, rtol=0)


def test_toy_normal_init_is_per_seed_and_has_the_stated_scale(tmp_path: Path) -> None:
    cfg = _cfg(
        model="toy", model_config={"init": "normal", "sigma": 0.5}, optimizer="adam", momentum=0.0, steps=0
    )
    tr = Trainer(cfg, tmp_path / "n")
    B = tr.model.B.detach().double()
    assert not torch.equal(B[0], B[1])
    assert abs(float(B.std()) - 0.5) < 0.1  # 72 draws: sd of the sample sd about 0.04
    again = Trainer(cfg, tmp_path / "m").model.B.detach().double()
    assert torch.equal(B, again)


def test_attn_mass_is_the_mean_gold_attention(tmp_path: Path) -> None:
    cfg = _cfg(model="toy", model_config={}, optimizer="adam", momentum=0.0, lr=0.05, steps=4, eval_every=2)
    run = rundir.load_run(train(cfg, tmp_path / "t", progress=False))
    _, mass = run.curve(0, "attn_mass")
    assert mass[0] == pytest.approx(1 / 4)  # uniform attention over L = 4 positions
    probes = run.probes(4)
    alpha, align = probes["alpha"][0], probes["align"]
    n, t = np.nonzero(align >= 0)
    assert mass[-1] == pytest.approx(float(alpha[n, t, align[n, t]].mean()), abs=1e-6)


def test_old_curves_without_attn_mass_read_as_nan(tmp_path: Path) -> None:
    path = tmp_path / "curves.csv"
    cols = [c for c in runfiles.CURVE_COLUMNS if c != "attn_mass"]
    path.write_text(",".join(cols) + "\n" + ",".join("0" for _ in cols) + "\n")
    curves = runfiles.read_curves(path)
    assert np.isnan(curves["attn_mass"]).all() and curves["step"].tolist() == [0]
    # resuming such a run would append rows one column wider: refused, the file untouched
    before = path.read_text()
    with pytest.raises(KtiwError, match="columns of an older ktiw"):
        runfiles.CurveWriter(tmp_path, keep_until=0)
    assert path.read_text() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--optimizer", "rmsprop"], "optimizer must be one of sgd, adam"),
        (["--optimizer", "adam", "--momentum", "0.9"], "momentum applies to --optimizer sgd only"),
        (["--optimizer", "sgd", "--momentum", "1.5"], "momentum must be in [0, 1)"),
        (["--model", "toy", "--toy-init", "normal", "--toy-sigma", "-1"], "sigma must be > 0"),
        (["--model", "toy", "--toy-init", "uniform"], "toy init must be zero, eps or normal"),
    ],
)
def test_train_bad_optimizer_options(args: list[str], message: str, tmp_path: Path) -> None:
    res = runner.invoke(app, ["train", "subset:L=3,V=5", *args, "--out", str(tmp_path / "x"), "--quiet"])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], res.output


def test_train_cli_sgd_and_normal_toy(tmp_path: Path) -> None:
    out = tmp_path / "r"
    res = runner.invoke(
        app,
        ["train", "subset:L=3,V=5", "--model", "toy", "--toy-init", "normal", "--toy-sigma", "0.2",
         "--optimizer", "sgd", "--momentum", "0.5", "--lr", "0.5", "--steps", "4", "--seeds", "2",
         "--proxy-steps", "0", "--out", str(out), "--quiet"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["optimizer"], cfg["momentum"]) == ("sgd", 0.5)
    assert cfg["model_config"]["init"] == "normal" and cfg["model_config"]["sigma"] == 0.2
