"""The training loop: seed independence, divergence, resume, determinism, run-directory format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ktiw.data.families import from_spec
from ktiw.empirics import runfiles
from ktiw.empirics.resume import resume
from ktiw.empirics.train_config import TrainConfig
from ktiw.empirics.trainer import Trainer, train
from ktiw.runs import rundir

torch.set_num_threads(1)


def _cfg(**kw: object) -> TrainConfig:
    base: dict[str, object] = dict(
        spec="subset:L=4,V=6",
        model="lstm",
        seeds=[0, 1],
        steps=8,
        batch_size=16,
        eval_every=2,
        eval_samples=8,
        proxy_steps=5,
        checkpoint_every=4,
        model_config={"hidden": 16},
    )
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def _rows(run: rundir.Run, seed: int) -> np.ndarray:
    sel = run.curves["seed"] == seed
    cols = ("step", "loss", "token_acc", "attn_acc", "beta_acc", "diverged")
    return np.stack([run.curves[c][sel].astype(np.float64) for c in cols], axis=1)


def _params(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path / "checkpoint.pt", weights_only=True)["params"]


def test_seed_trained_alone_equals_seed_trained_among_others(tmp_path: Path) -> None:
    """Float64; tolerance 1e-10 absolute (only summation order may differ with S)."""
    alone = rundir.load_run(train(_cfg(seeds=[3], dtype="float64", steps=6), tmp_path / "a", progress=False))
    among = rundir.load_run(
        train(_cfg(seeds=[1, 3, 5], dtype="float64", steps=6), tmp_path / "b", progress=False)
    )
    assert np.allclose(_rows(alone, 3), _rows(among, 3), atol=1e-10, rtol=0)
    pa, pb = _params(tmp_path / "a"), _params(tmp_path / "b")
    for k in pa:
        assert torch.allclose(pa[k][0], pb[k][1], atol=1e-10, rtol=0)
    assert not np.allclose(_rows(among, 1)[:, 1], _rows(among, 3)[:, 1])  # seeds do differ
    np.testing.assert_allclose(
        alone.probes(6)["alpha"][0], among.probes(6)["alpha"][1], atol=1e-6
    )  # probes are stored as float32


def test_diverged_seed_is_recorded_frozen_and_does_not_change_the_others(tmp_path: Path) -> None:
    def poison(tr: Trainer) -> None:
        if tr.step == 3:
            with torch.no_grad():
                tr.model.out_U[1] = float("inf")

    out = train(_cfg(dtype="float64", steps=6), tmp_path / "d", progress=False, callback=poison)
    run = rundir.load_run(out)
    s1 = run.summary["seeds"][1]
    assert s1["diverged"] and s1["diverged_step"] == 4
    assert not run.summary["seeds"][0]["diverged"]
    steps, flags = run.curve(1, "diverged")
    assert flags.tolist() == [int(st >= 4) for st in steps]
    frozen = _params(out)["out_M"][1]
    ref = rundir.load_run(train(_cfg(dtype="float64", steps=6, seeds=[0]), tmp_path / "r", progress=False))
    assert np.allclose(_rows(run, 0), _rows(ref, 0), atol=1e-10, rtol=0)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["optimizer"]["step_count"].tolist() == [6, 3]
    assert torch.isfinite(frozen).all()


def _same_run(a: Path, b: Path) -> None:
    assert (a / "curves.csv").read_text() == (b / "curves.csv").read_text()
    ra, rb = rundir.load_run(a), rundir.load_run(b)
    assert ra.probe_steps == rb.probe_steps
    for step in ra.probe_steps:
        pa, pb = ra.probes(step), rb.probes(step)
        assert pa.keys() == pb.keys()
        for k in pa:
            np.testing.assert_array_equal(pa[k], pb[k])
    pa, pb = _params(a), _params(b)
    for k in pa:
        assert torch.equal(pa[k], pb[k])
    assert ra.summary == rb.summary


def test_resume_after_interrupt_and_after_crash_equals_uninterrupted_run(tmp_path: Path) -> None:
    full = train(_cfg(), tmp_path / "full", progress=False)

    def ctrl_c(tr: Trainer) -> None:
        if tr.step == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(), tmp_path / "int", progress=False, callback=ctrl_c)
    summary = json.loads((tmp_path / "int" / "summary.json").read_text())
    assert summary["interrupted"] and not summary["finished"] and summary["last_step"] == 5
    assert torch.load(tmp_path / "int" / "checkpoint.pt", weights_only=True)["step"] == 5
    resume(tmp_path / "int", progress=False)
    _same_run(full, tmp_path / "int")

    def crash(tr: Trainer) -> None:
        if tr.step == 7:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError):
        train(_cfg(), tmp_path / "crash", progress=False, callback=crash)
    assert rundir.load_run(tmp_path / "crash").curves["step"].max() == 6  # kept what was recorded
    resume(tmp_path / "crash", progress=False)  # from the step-4 checkpoint
    _same_run(full, tmp_path / "crash")


def test_same_config_same_results_and_toy_model_trains(tmp_path: Path) -> None:
    cfg = _cfg(model="toy", model_config={}, lr=0.05, steps=6)
    a = train(cfg, tmp_path / "a", progress=False)
    b = train(cfg, tmp_path / "b", progress=False)
    _same_run(a, b)
    assert rundir.load_run(a).curves["loss"][-1] < rundir.load_run(a).curves["loss"][0]


def test_first_adam_step_of_toy_model_is_minus_lr_times_sign_of_theory_gradient(tmp_path: Path) -> None:
    toy_model = pytest.importorskip("ktiw.theory.toy_model", reason="theory helper's toy_model not present")
    cfg = _cfg(model="toy", model_config={}, seeds=[7], steps=1, lr=0.01, dtype="float64", proxy_steps=0)
    out = train(cfg, tmp_path / "t", progress=False)
    dist = from_spec("subset:L=4,V=6")
    batch = dist.sample(16, np.random.default_rng([1, 7]))  # seed 7's data stream
    dB, _ = toy_model.gradients(np.zeros((6, 6)), np.zeros((4, 4)), batch.src, batch.tgt)
    expect = -0.01 * dB / (np.abs(dB) + 1e-8)
    assert np.allclose(_params(out)["B"][0].numpy(), expect, atol=1e-15)


def test_run_directory_format(tmp_path: Path) -> None:
    out = train(_cfg(steps=4, probe_every=4), tmp_path / "f", progress=False)
    config = json.loads((out / "config.json").read_text())
    for key in (
        "spec",
        "model",
        "uniform",
        "preset",
        "seeds",
        "steps",
        "batch_size",
        "lr",
        "eval_every",
        "eval_samples",
        "device",
        "dtype",
        "model_config",
        "versions",
        "git_commit",
    ):
        assert key in config
    assert config["seeds"] == [0, 1] and set(config["versions"]) == {"python", "torch", "numpy", "ktiw"}
    header = (out / "curves.csv").read_text().splitlines()[0]
    assert header == ",".join(runfiles.CURVE_COLUMNS)
    run = rundir.load_run(out)
    assert len(run.curves["step"]) == 2 * 3  # 2 seeds x steps 0, 2, 4
    assert run.probe_steps == [0, 4]
    p = run.probes(4)
    N, T, L = 8, 4, 4
    assert p["alpha"].shape == p["beta"].shape == p["grad"].shape == (2, N, T, L)
    assert p["beta_px"].shape == (N, T, L) and p["src"].shape == (N, L) and p["seeds"].tolist() == [0, 1]
    mass = p["alpha"].sum(-1)
    assert np.all((mass > 0) & (mass < 1))  # the EOS position takes the rest of the attention
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["step"] == 4
    s = run.summary
    assert s["finished"] and not s["interrupted"]
    assert set(s["seeds"][0]) == {
        "seed",
        "reached_95",
        "step_95",
        "diverged",
        "diverged_step",
        "stopped_step",
        "final_token_acc",
    }
    steps, acc = run.curve(1, "token_acc")
    assert steps.tolist() == [0, 2, 4] and s["seeds"][1]["final_token_acc"] == acc[-1]


def test_uniform_run_and_data_file_run(tmp_path: Path) -> None:
    data = tmp_path / "pairs.tsv"
    data.write_text("a b c\tx y\nb c\ty z w\nc a\tz\n")
    out = train(_cfg(spec=None, data=str(data), uniform=True, steps=2), tmp_path / "u", progress=False)
    run = rundir.load_run(out)
    p = run.probes(2)
    assert np.all(np.isnan(run.curves["attn_acc"]))  # data files carry no gold alignment
    lens = p["src_len"]
    for n in range(p["src"].shape[0]):  # uniform over the words + EOS; NaN past the end
        assert np.allclose(p["alpha"][:, n, : p["tgt_len"][n], : lens[n]], 1 / (lens[n] + 1))
        assert np.all(np.isnan(p["alpha"][:, n, :, lens[n] :]))


def test_real_ctrl_c_finishes_the_step_checkpoints_and_stops(tmp_path: Path) -> None:
    import os
    import signal

    def press(tr: Trainer) -> None:
        if tr.step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(proxy_steps=0), tmp_path / "c", progress=False, callback=press)
    assert torch.load(tmp_path / "c" / "checkpoint.pt", weights_only=True)["step"] == 3
    assert json.loads((tmp_path / "c" / "summary.json").read_text())["interrupted"]


def test_train_accepts_a_dict_and_rejects_unknown_options(tmp_path: Path) -> None:
    from ktiw.core.errors import KtiwError

    with pytest.raises(KtiwError, match="bogus"):
        train({"spec": "subset:L=3,V=4", "bogus": 1}, tmp_path / "x", progress=False)
    with pytest.raises(KtiwError, match="seeds"):
        train({"spec": "subset:L=3,V=4", "seeds": []}, tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()


def _stop_cfg(**kw: object) -> TrainConfig:
    return _cfg(seeds=[0, 1, 2], steps=16, lr=3e-2, proxy_steps=0, dtype="float64", **kw)


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
def test_stop_at_ends_each_seeds_curve_and_leaves_the_others_unchanged(tmp_path: Path, device: str) -> None:
    full = rundir.load_run(train(_stop_cfg(device=device), tmp_path / "full", progress=False))
    out = train(_stop_cfg(stop_at=0.4, device=device), tmp_path / "stop", progress=False)
    run = rundir.load_run(out)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    stops = []
    for k, seed in enumerate([0, 1, 2]):
        steps, acc = full.curve(seed, "token_acc")
        expect = int(steps[np.argmax(acc >= 0.4)])  # first evaluation at >= 0.4 without early exit
        s = run.summary["seeds"][k]
        assert s["stopped_step"] == expect and state["optimizer"]["step_count"][k] == expect
        rows = _rows(run, seed)
        assert rows[-1, 0] == expect  # the curve ends at the stop step ...
        ref = _rows(full, seed)
        np.testing.assert_allclose(rows, ref[: len(rows)], atol=1e-10, rtol=0)  # ... as in the full run
        stops.append(expect)
    assert len(set(stops)) > 1, "the test needs seeds that stop at different steps"
    assert run.summary["finished"] and run.summary["last_step"] == max(stops) < 16  # all stopped: run ends
    for step in stops:  # a probe file at every stop step; later files hold NaN for stopped seeds
        assert step in run.probe_steps
    last = run.probes(max(stops))
    for k, step in enumerate(stops):
        assert np.isnan(last["alpha"][k]).all() == (step < max(stops))


def test_frozen_probes_equal_an_evaluation_of_the_stopped_seeds_final_parameters(tmp_path: Path) -> None:
    """A stopped seed takes no update, so the probes the comparator reads for it at a later step
    (its stop-step arrays, :meth:`Run.frozen_probes`) equal a fresh evaluation of the final model."""
    from ktiw.empirics.probes import evaluate, seed_metrics

    held: list[Trainer] = []
    out = train(_stop_cfg(stop_at=0.4), tmp_path / "stop", progress=False, callback=held.append)
    run, tr = rundir.load_run(out), held[-1]
    last = run.probe_steps[-1]
    stops = run.stopped_steps()
    assert any(stop < last for stop in stops.values()), "the test needs a seed that stopped early"
    frozen = run.frozen_probes(last)
    ev = evaluate(tr.model, tr.eval_inputs)
    for name in ("alpha", "beta", "grad"):
        assert not np.isnan(frozen[name]).all(axis=(1, 2, 3)).any()
        np.testing.assert_allclose(frozen[name], getattr(ev, name), atol=1e-6, rtol=0, equal_nan=True)
    acc = seed_metrics(ev, tr.eval_batch.tgt_len, tr.eval_batch.align)["token_acc"]
    np.testing.assert_allclose(run.frozen_curve("token_acc", last), acc, atol=1e-12, rtol=0)


def test_resume_with_stop_at_equals_uninterrupted_run(tmp_path: Path) -> None:
    full = train(_stop_cfg(stop_at=0.4), tmp_path / "full", progress=False)

    def ctrl_c(tr: Trainer) -> None:
        if tr.step == 10:  # after the first seed stopped (step 8)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_stop_cfg(stop_at=0.4), tmp_path / "int", progress=False, callback=ctrl_c)
    resume(tmp_path / "int", progress=False)
    _same_run(full, tmp_path / "int")


def test_stop_at_outside_zero_one_is_a_user_error(tmp_path: Path) -> None:
    from ktiw.core.errors import KtiwError

    with pytest.raises(KtiwError, match="stop_at"):
        train(_cfg(stop_at=1.5), tmp_path / "bad", progress=False)
