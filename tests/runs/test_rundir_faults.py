"""Run directories under faults: damaged files are named in one line, nothing is silently
lost, the last two checkpoints give a fallback, a changed config is refused, one process per
run directory, and every interrupt (SIGINT, SIGTERM, SIGKILL, even inside a checkpoint write
or before the first checkpoint) is followed by a ``--resume`` that reproduces an
uninterrupted run byte for byte."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ktiw.cli.app import app
from ktiw.core.errors import KtiwError
from ktiw.empirics import runfiles
from ktiw.empirics import trainer as tr
from ktiw.runs import rundir

runner = CliRunner()
CFG = dict(spec="subset:L=3,V=4", model="toy", steps=12, seeds=[0, 1], batch_size=4, eval_samples=4,
           eval_every=2, checkpoint_every=4, proxy_steps=3)


def interrupted_at(path: Path, step: int) -> Path:
    def stop(t: tr.Trainer) -> None:
        if t.step == step:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tr.train(dict(CFG), path, progress=False, callback=stop)
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    return tr.train(dict(CFG), tmp_path_factory.mktemp("ref") / "run", progress=False)


def files(run: Path) -> dict[str, bytes]:
    names = ["curves.csv", *(f"probes/{p.name}" for p in sorted((run / "probes").glob("step_*.npz")))]
    return {n: (run / n).read_bytes() for n in names}


def resume_cli(run: Path) -> tuple[int, list[str]]:
    res = runner.invoke(app, ["train", "--resume", str(run), "--quiet"])
    return res.exit_code, [ln for ln in res.output.splitlines() if ln.strip()]


def test_two_checkpoints_are_kept(tmp_path, reference) -> None:
    run = interrupted_at(tmp_path / "r", 9)
    assert (run / runfiles.CHECKPOINT).exists() and (run / runfiles.PREVIOUS_CHECKPOINT).exists()
    steps = [
        __import__("torch").load(run / n, weights_only=True)["step"]
        for n in (runfiles.CHECKPOINT, runfiles.PREVIOUS_CHECKPOINT)
    ]
    assert steps == [9, 8]  # the interrupt's checkpoint, and the periodic one before it


@pytest.mark.parametrize("damage", ["empty", "half", "garbage"])
def test_damaged_last_checkpoint_falls_back_to_the_previous(tmp_path, reference, damage) -> None:
    run = interrupted_at(tmp_path / "r", 9)
    ck = run / runfiles.CHECKPOINT
    data = ck.read_bytes()
    ck.write_bytes({"empty": b"", "half": data[: len(data) // 2], "garbage": b"garbage" * 50}[damage])
    code, out = resume_cli(run)
    assert code == 0, out
    assert files(run) == files(reference)


def test_damaged_checkpoints_without_fallback_say_damaged(tmp_path) -> None:
    run = interrupted_at(tmp_path / "r", 9)
    (run / runfiles.PREVIOUS_CHECKPOINT).unlink()
    (run / runfiles.CHECKPOINT).write_bytes(b"")
    before = (run / "summary.json").read_bytes()
    code, out = resume_cli(run)
    assert code == 2 and len(out) == 1 and "is damaged" in out[0] and "empty (0 bytes)" in out[0]
    assert "interrupted" not in out[0] and (run / "summary.json").read_bytes() == before


@pytest.mark.parametrize("finished", [False, True])
def test_resume_without_curves_refuses_and_keeps_the_summary(tmp_path, reference, finished) -> None:
    run = tmp_path / "r"
    if finished:
        shutil.copytree(reference, run)
    else:
        interrupted_at(run, 9)
    (run / "curves.csv").unlink()
    before = (run / "summary.json").read_bytes()
    code, out = resume_cli(run)
    assert code == 2 and len(out) == 1 and "curves.csv is missing" in out[0]
    assert (run / "summary.json").read_bytes() == before and not (run / "curves.csv").exists()


def test_resume_with_rows_missing_before_the_checkpoint_refuses(tmp_path) -> None:
    run = interrupted_at(tmp_path / "r", 9)
    lines = (run / "curves.csv").read_text().splitlines(keepends=True)
    (run / "curves.csv").write_text("".join(lines[:1] + lines[3:]))  # drop step 0
    code, out = resume_cli(run)
    assert code == 2 and "no row for seed 0 at step 0" in out[0]


@pytest.mark.parametrize("damage", ["cut", "swap", "delete", "curves"])
def test_resume_never_certifies_a_damaged_probe_of_a_finished_run(tmp_path, reference, damage) -> None:
    """``--resume`` of a finished run (or ``--resume --steps`` beyond it) keeps the probes up to
    its checkpoint and writes a new completion record: a probe that is not the one the run wrote
    would be recorded as the run's, so it is refused in one line and the run is left as it was
    (it used to exit 0 with the damaged file certified, which plot then accepted)."""
    run = tmp_path / "r"
    shutil.copytree(reference, run)
    probes = sorted((run / "probes").glob("step_*.npz"))
    if damage == "cut":
        probes[-1].write_bytes(probes[-1].read_bytes()[:100])
    elif damage == "swap":
        shutil.copy(probes[0], probes[-1])
    elif damage == "curves":  # a value edited, same length: resume used to certify it too
        text = (run / "curves.csv").read_text()
        i = text.index(",0.", 40)
        (run / "curves.csv").write_text(text[:i] + ",1." + text[i + 3 :])
    else:
        probes[1].unlink()
    before = (run / "summary.json").read_bytes()
    for extra in ([], ["--steps", "16"]):
        res = runner.invoke(app, ["train", "--resume", str(run), "--quiet", *extra])
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert res.exit_code == 2 and len(lines) == 1 and "is damaged" in lines[0], res.output
        assert (run / "summary.json").read_bytes() == before


@pytest.mark.parametrize("damage", ["proxy", "summary"])
def test_resume_still_repairs_what_it_can_recompute(tmp_path, reference, damage) -> None:
    """A damaged proxy (deterministic) or summary (written at the end) of a finished run is
    repaired by ``--resume``, which ends with the reference run's files."""
    run = tmp_path / "r"
    shutil.copytree(reference, run)
    if damage == "proxy":
        (run / "probes" / "proxy.npz").write_bytes(b"garbage")
    else:
        (run / "summary.json").write_text("{{")
    code, out = resume_cli(run)
    assert code == 0 and rundir.check_intact(run) is None, out
    assert files(run) == files(reference)


def test_resume_of_a_stopped_run_refuses_a_cut_probe(tmp_path) -> None:
    run = interrupted_at(tmp_path / "r", 9)
    probe = sorted((run / "probes").glob("step_*.npz"))[0]
    probe.write_bytes(probe.read_bytes()[:100])
    code, out = resume_cli(run)
    assert code == 2 and len(out) == 1 and f"{probe.name} is damaged" in out[0], out


def test_torn_last_curve_row_is_recomputed(tmp_path, reference) -> None:
    run = interrupted_at(tmp_path / "r", 9)
    text = (run / "curves.csv").read_text()
    (run / "curves.csv").write_text(text + "1,10,0.5")  # a row cut short by a kill
    assert resume_cli(run)[0] == 0 and files(run) == files(reference)


def test_changed_config_is_refused(tmp_path) -> None:
    run = interrupted_at(tmp_path / "r", 9)
    config = json.loads((run / "config.json").read_text())
    config["lr"] = 0.5
    (run / "config.json").write_text(json.dumps(config))
    code, out = resume_cli(run)
    assert code == 2 and len(out) == 1 and "belongs to another configuration" in out[0]


def test_edited_model_size_is_refused_not_a_traceback(tmp_path) -> None:
    run = interrupted_at(tmp_path / "r", 9)
    config = json.loads((run / "config.json").read_text())
    config.update(model="lstm", model_config={"hidden": 4})
    (run / "config.json").write_text(json.dumps(config))
    code, out = resume_cli(run)
    assert code == 2 and len(out) == 1 and "checkpoint" in out[0]


def test_interrupt_before_the_first_checkpoint_restarts(tmp_path, reference, monkeypatch) -> None:
    from ktiw.empirics import proxy

    real = proxy.train_bow_proxy

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(proxy, "train_bow_proxy", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tr.train(dict(CFG), tmp_path / "r", progress=False)
    assert (tmp_path / "r" / "config.json").exists() and not (tmp_path / "r" / runfiles.CHECKPOINT).exists()
    monkeypatch.setattr(proxy, "train_bow_proxy", real)
    code, out = resume_cli(tmp_path / "r")
    assert code == 0, out
    assert files(tmp_path / "r") == files(reference)


def test_damaged_proxy_is_recomputed_identically(tmp_path, reference) -> None:
    run = interrupted_at(tmp_path / "r", 9)
    proxy = run / "probes" / "proxy.npz"
    proxy.write_bytes(proxy.read_bytes()[:100])
    assert resume_cli(run)[0] == 0 and files(run) == files(reference)


def test_second_writer_is_refused_while_a_run_holds_the_lock(tmp_path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    lock = runfiles.RunLock(run)
    try:
        with pytest.raises(KtiwError, match="in use by another ktiw process"):
            runfiles.RunLock(run)
    finally:
        lock.release()
    runfiles.RunLock(run).release()  # free again


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: None, "give a directory name"),
        (lambda d: (d / "f").write_text("x"), "is a file"),
        (lambda d: (d / "f").write_text("x"), "cannot write run directory"),
        (lambda d: ((d / "o").mkdir(), (d / "o" / "keep.txt").write_text("mine")), "holds other files"),
    ],
)
def test_bad_out_paths_are_refused(tmp_path, make, message, monkeypatch) -> None:
    make(tmp_path)
    out = {"give a directory name": "", "is a file": "f", "cannot write run directory": "f/sub",
           "holds other files": "o"}[message]
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    res = runner.invoke(app, ["train", "subset:L=3,V=4", "--model", "toy", "--steps", "1", "--seeds", "1",
                              "--proxy-steps", "0", "--quiet", "--out", out])
    assert res.exit_code == 2 and message in res.output, res.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_out_on_a_run_of_another_configuration_refuses(tmp_path, reference) -> None:
    shutil.copytree(reference, tmp_path / "r")
    before = files(tmp_path / "r")
    res = runner.invoke(app, ["train", "subset:L=3,V=5", "--model", "toy", "--steps", "1", "--seeds", "1",
                              "--quiet", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "already holds a run" in res.output
    assert files(tmp_path / "r") == before


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda r: (r / "curves.csv").unlink(), "curves.csv is missing"),
        (lambda r: (r / "curves.csv").write_text("seed,step\n1,x\n"), "curves.csv is damaged"),
        (lambda r: (r / "config.json").write_text("{oops"), "config.json is damaged"),
        (lambda r: (r / "config.json").write_text('{"steps": 3}'), "'seeds'"),
        (lambda r: (r / "summary.json").write_text("[]"), "summary.json is damaged"),
        # valid JSON, another spec: the chance lines and labels would be wrong (the record has its hash)
        (
            lambda r: (r / "config.json").write_text(
                (r / "config.json").read_text().replace('"subset:L=3,V=4"', '"subset:L=3,V=6"')
            ),
            "config.json is damaged: edited after the run finished",
        ),
    ],
)
def test_plot_names_the_damaged_file(tmp_path, reference, damage, message) -> None:
    shutil.copytree(reference, tmp_path / "r")
    damage(tmp_path / "r")
    res = runner.invoke(app, ["plot", str(tmp_path / "r"), "--out", str(tmp_path / "plots")])
    assert res.exit_code == 2 and message in res.output, res.output


def test_plot_refuses_a_probe_swapped_for_another_of_the_same_size(tmp_path, reference) -> None:
    """``plot`` never opens the probe files, but a finished run proves every file it recorded:
    a readable archive of the same size that the run did not write is refused."""
    shutil.copytree(reference, tmp_path / "r")
    probe = sorted((tmp_path / "r" / "probes").glob("step_*.npz"))[-1]
    data = bytearray(probe.read_bytes())
    data[len(data) // 2] ^= 1  # same size, other contents
    probe.write_bytes(bytes(data))
    res = runner.invoke(app, ["plot", str(tmp_path / "r"), "--out", str(tmp_path / "plots")])
    assert res.exit_code == 2 and f"{probe.name} is damaged" in res.output, res.output
    assert not (tmp_path / "plots").exists()


def test_reuse_check_finds_a_damaged_probe(tmp_path, reference) -> None:
    shutil.copytree(reference, tmp_path / "r")
    assert rundir.check_intact(tmp_path / "r") is None
    probe = runfiles.probe_path(tmp_path / "r", 4)
    probe.write_bytes(probe.read_bytes()[:200])
    assert "step_000004.npz is damaged" in rundir.check_intact(tmp_path / "r")
    from ktiw.runs.reuse import is_finished

    assert not is_finished(tmp_path / "r")


# ------------------------------------------------------------------ real signals, real processes

DRIVER = textwrap.dedent(
    """
    import os, signal, sys, time
    import torch
    from ktiw.empirics import trainer as tr
    cfg, out, mode = eval(sys.argv[1]), sys.argv[2], sys.argv[3]
    if mode == "kill-in-checkpoint":   # SIGKILL halfway through writing the 2nd checkpoint file
        real, calls = torch.save, []
        def torn(obj, f, *a, **k):
            calls.append(1)
            if len(calls) == 2:
                f.write(b"PK\\x03\\x04 half a checkpoint")
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            return real(obj, f, *a, **k)
        torch.save = torn
    def slow(t):
        time.sleep(0.15)
    tr.train(cfg, out, progress=False, callback=slow)
    """
)


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGKILL", "kill-in-checkpoint"])
def test_signals_then_resume_reproduce_the_run(tmp_path, reference, how) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = tmp_path / "r"
    mode = how if how == "kill-in-checkpoint" else "plain"
    p = subprocess.Popen([sys.executable, "-c", DRIVER, repr(CFG), str(out), mode], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if how != "kill-in-checkpoint":
        deadline = time.time() + 60
        while not (out / "curves.csv").exists() or (out / "curves.csv").read_text().count("\n") < 6:
            assert time.time() < deadline and p.poll() is None
            time.sleep(0.05)
        p.send_signal(getattr(signal, how))
    p.wait(timeout=60)
    if how in ("SIGINT", "SIGTERM"):  # handled: checkpoint and summary written, marked interrupted
        assert json.loads((out / "summary.json").read_text())["interrupted"] is True
    code, msg = resume_cli(out)
    assert code == 0, msg
    assert files(out) == files(reference)


# --- issue 21, class 6: a finished run proves it is complete --------------------------------


def _cut_lines(path: Path, n: int) -> None:
    """Drop the last ``n`` lines of a text file, at a line boundary (no torn line left)."""
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-n]))


def test_finished_run_records_its_completion(reference) -> None:
    summary = json.loads((reference / "summary.json").read_text())
    record = summary["complete"]
    assert record["last_step"] == {"0": 12, "1": 12}
    assert record["curves"]["bytes"] == (reference / "curves.csv").stat().st_size
    assert record["curves"]["rows"] == 2 * 7  # steps 0, 2, ..., 12 for two seeds
    probes = sorted(p.name for p in (reference / "probes").glob("*.npz"))
    assert sorted(record["probes"]) == probes
    assert rundir.check_intact(reference) is None


@pytest.mark.parametrize("legacy", [False, True], ids=["record", "summary-only"])
@pytest.mark.parametrize("lines", [1, 2, 3])
def test_curves_cut_at_a_line_boundary_is_damaged(tmp_path, reference, lines, legacy) -> None:
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    if legacy:  # a run written before the completion record: the summary alone must catch it
        summary = json.loads((run / "summary.json").read_text())
        del summary["complete"]
        (run / "summary.json").write_text(json.dumps(summary))
    _cut_lines(run / "curves.csv", lines)
    runfiles.read_curves(run / "curves.csv")  # every remaining line is well formed
    with pytest.raises(KtiwError, match=r"curves.csv is damaged: .*(bytes|ends at step)"):
        rundir.load_run(run)
    problem = rundir.check_intact(run)
    assert problem is not None and "\n" not in problem
    res = runner.invoke(app, ["plot", str(run), "--out", str(tmp_path / "figs")])
    assert res.exit_code == 2 and "curves.csv is damaged" in res.output


def test_edited_curves_or_probe_of_a_finished_run_are_damaged(tmp_path, reference) -> None:
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    text = (run / "curves.csv").read_text()
    (run / "curves.csv").write_text(text.replace(",0.", ",1.", 1))  # same length, other value
    assert "bytes that do not match" in str(rundir.check_intact(run)) or "curves.csv is damaged" in str(
        rundir.check_intact(run)
    )
    shutil.rmtree(run)
    shutil.copytree(reference, run)
    last = sorted((run / "probes").glob("step_*.npz"))[-1]
    first = sorted((run / "probes").glob("step_*.npz"))[0]
    shutil.copy(first, last)  # a readable archive, but not the one the run wrote
    assert "differ" in str(rundir.check_intact(run)) or "damaged" in str(rundir.check_intact(run))
    last.unlink()
    assert "missing" in str(rundir.check_intact(run))


def test_legacy_run_without_record_is_still_accepted(tmp_path, reference) -> None:
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    summary = json.loads((run / "summary.json").read_text())
    del summary["complete"]
    (run / "summary.json").write_text(json.dumps(summary))
    assert rundir.check_intact(run) is None
    assert rundir.load_run(run).summary["finished"] is True
