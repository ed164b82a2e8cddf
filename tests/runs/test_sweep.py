"""`ktiw sweep` on the local executor: the grid, resuming, sweep.csv, and one-line errors."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ktiw.cli.app import app
from ktiw.cli.options import parse_key_value_lists
from ktiw.core.errors import KtiwError
from ktiw.empirics.curves import first_reach
from ktiw.runs.executor import LocalExecutor, TaskResult, run_task
from ktiw.runs.rundir import load_run
from ktiw.runs.sweep import plan_grid, run_sweep

runner = CliRunner()

TINY: dict[str, Any] = {
    "model": "lstm",
    "steps": 30,
    "batch_size": 8,
    "lr": 1e-2,
    "eval_every": 10,
    "eval_samples": 8,
    "probe_every": 0,
    "proxy_steps": 0,
    "checkpoint_every": 10,
    "threads": 1,
    "model_config": {"hidden": 8},
}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_value_lists_split_at_top_level_commas_only() -> None:
    got = parse_key_value_lists(
        ["lr=1e-3,3e-3", "optimizer=adam,sgd", "shape=[1,2],[3,4]", 'name="a,b",c', "hidden=8"], "--set"
    )
    assert got == {
        "lr": [1e-3, 3e-3],
        "optimizer": ["adam", "sgd"],
        "shape": [[1, 2], [3, 4]],
        "name": ["a,b", "c"],
        "hidden": [8],
    }
    for bad, message in ((["lr"], "KEY=VALUE"), (["lr=1,"], "empty value"), (["lr=1", "lr=2"], "twice")):
        with pytest.raises(KtiwError, match=message):
            parse_key_value_lists(bad, "--set")


def test_grid_is_the_product_of_specs_values_and_seed_chunks() -> None:
    runs = plan_grid(
        ["permutation:L=3", "subset:L=3,V=5"], TINY, {"lr": [1e-3, 3e-3], "hidden": [8, 16]}, [0, 1, 2], 2
    )
    assert len(runs) == 2 * 2 * 2 * 2  # specs x lr x hidden x seed chunks [0,1], [2]
    assert len({r.name for r in runs}) == len(runs)
    first = runs[0]
    assert first.name == "permutation-L3-lstm-lr0.001-hidden8-seeds0-1"
    assert first.config.lr == 1e-3 and first.config.model_config["hidden"] == 8
    assert first.config.seeds == [0, 1] and runs[1].config.seeds == [2]
    assert {r.config.steps for r in runs} == {30}  # the base's fields stay
    assert runs[-1].name == "subset-L3-V5-lstm-lr0.003-hidden16-seed2"


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ({"hiden": [8]}, "unknown --set key 'hiden'"),
        ({"seeds": [3]}, "--seeds"),
        ({"lr": ["fast"]}, "lr: expected a float"),
        ({"steps": [1.5]}, "steps: expected a int"),
        ({"lr": [-1.0]}, "lr must be > 0"),
        ({"lr": [1e-3, 1e-3]}, "twice"),
    ],
)
def test_bad_axes_are_one_line_errors(axes: dict[str, list[Any]], message: str) -> None:
    with pytest.raises(KtiwError, match=message):
        plan_grid(["permutation:L=3"], TINY, axes, [0])


def test_sweep_csv_holds_each_seeds_summary_and_takeoff(tmp_path: Path) -> None:
    runs = plan_grid(["subset:L=3,V=5"], {**TINY, "steps": 40}, {"lr": [3e-2]}, [0, 1])
    result = run_sweep(runs, tmp_path, LocalExecutor(), progress=False)
    assert result.status == dict.fromkeys((r.name for r in runs), "trained")
    rows = read_csv(tmp_path / "sweep.csv")
    assert [(r["run"], r["seed"]) for r in rows] == [(r.name, str(r.seeds[0])) for r in runs]
    for row in rows:
        run = load_run(tmp_path / row["run"])
        (seed_summary,) = run.summary["seeds"]
        steps, attn = run.curve(int(row["seed"]), "attn_mass")  # takeoff: gold attention mass 1/2
        _, token = run.curve(int(row["seed"]), "token_acc")
        takeoff = first_reach(steps, attn, 0.5)
        assert row["takeoff_step"] == ("" if math.isinf(takeoff) else str(int(takeoff)))
        assert float(row["final_token_acc"]) == pytest.approx(token[-1], abs=1e-6)
        reached = bool((token >= 0.95).any())
        assert row["success"] == str(int(reached and not seed_summary["diverged"]))
        assert row["step_95"] == ("" if not reached else str(int(steps[token >= 0.95][0])))
        assert row["lr"] == "0.03" and row["status"] == "finished"


def test_rerun_skips_finished_and_resumes_interrupted_runs_to_identical_curves(tmp_path: Path) -> None:
    runs = plan_grid(["permutation:L=3"], TINY, {"lr": [1e-2]}, [0, 1])
    reference = tmp_path / "reference"
    run_sweep(runs, reference, LocalExecutor(), progress=False)

    class InterruptSecond:
        """Runs the first task, and interrupts the second after step 15 (checkpoint at 10)."""

        name = "local"

        def run(self, tasks: list[Any], progress: bool = True) -> list[TaskResult]:
            def stop(name: str, step: int, total: int, acc: float) -> None:
                if step == 15:
                    raise KeyboardInterrupt

            return [run_task(tasks[0]), run_task(tasks[1], stop)]

    out = tmp_path / "sweep"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(runs, out, InterruptSecond(), progress=False)
    rows = read_csv(out / "sweep.csv")  # written on the way out
    assert [r["status"] for r in rows] == ["finished", "unfinished"]
    again = run_sweep(runs, out, LocalExecutor(), progress=False)
    assert again.status == {runs[0].name: "done", runs[1].name: "resumed"}
    for run in runs:
        assert (out / run.name / "curves.csv").read_bytes() == (
            reference / run.name / "curves.csv"
        ).read_bytes()
    assert (out / "sweep.csv").read_bytes() == (reference / "sweep.csv").read_bytes()


def test_run_with_other_settings_in_the_same_directory_stops_the_sweep(tmp_path: Path) -> None:
    runs = plan_grid(["permutation:L=3"], TINY, {"lr": [1e-2]}, [0])
    run_sweep(runs, tmp_path, LocalExecutor(), progress=False)
    other = plan_grid(["permutation:L=3"], {**TINY, "eval_samples": 6}, {"lr": [1e-2]}, [0])
    assert other[0].name == runs[0].name
    before = (tmp_path / runs[0].name / "curves.csv").read_bytes()
    with pytest.raises(KtiwError, match=r"other settings \(eval_samples: 8 there, 6 here\)"):
        run_sweep(other, tmp_path, LocalExecutor(), progress=False)
    assert (tmp_path / runs[0].name / "curves.csv").read_bytes() == before


def test_run_stopped_before_its_first_checkpoint_is_trained_again(tmp_path: Path) -> None:
    runs = plan_grid(["permutation:L=3"], TINY, {}, [0])
    reference = tmp_path / "reference"
    run_sweep(runs, reference, LocalExecutor(), progress=False)
    out = tmp_path / "sweep"
    run_dir = out / runs[0].name
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text((reference / runs[0].name / "config.json").read_text())
    result = run_sweep(runs, out, LocalExecutor(), progress=False)
    assert result.status == {runs[0].name: "trained"}
    assert (run_dir / "curves.csv").read_bytes() == (reference / runs[0].name / "curves.csv").read_bytes()


def test_cli_sweep_then_rerun(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["sweep", "permutation:L=3", "--set", "lr=1e-2,3e-2", "--set", "hidden=8", "--set", "steps=10"]
    args += ["--set", "batch_size=8", "--set", "eval_samples=8", "--set", "proxy_steps=0", "--seeds", "1"]
    args += ["--out", str(out), "--quiet"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "2 trained" in res.output and "sweep.csv" in res.output
    rows = read_csv(out / "sweep.csv")
    assert [r["lr"] for r in rows] == ["0.01", "0.03"]
    config = json.loads((out / rows[0]["run"] / "config.json").read_text())
    assert config["lr"] == 0.01 and config["model_config"]["hidden"] == 8 and config["steps"] == 10
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "2 done" in res.output


def test_cli_sweep_trains_a_data_file_as_train_does(tmp_path: Path) -> None:
    """``--data FILE`` instead of SPECs: every grid point trains the file (``config.json``
    names it, the run folders are named after it, as ``ktiw train --data`` names its run); a
    SPEC beside --data, or an unreadable file, is one line and exit 2 before any training."""
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"a{i} b{i} c{i}\tx{i} y{i} z{i}\n" for i in range(6)))
    out = tmp_path / "out"
    args = ["sweep", "--data", str(pairs), "--set", "lr=1e-2,3e-2", "--hidden", "8", "--steps", "10"]
    args += ["--batch-size", "8", "--eval-samples", "4", "--proxy-steps", "0", "--seeds", "1"]
    res = runner.invoke(app, [*args, "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    rows = read_csv(out / "sweep.csv")
    assert [r["lr"] for r in rows] == ["0.01", "0.03"]
    assert all(r["run"].startswith("pairs-lstm") for r in rows)
    config = json.loads((out / rows[1]["run"] / "config.json").read_text())
    assert config["spec"] is None and Path(config["data"]).name == "pairs.tsv" and config["lr"] == 0.03
    for extra, message in (
        (["permutation:L=3"], "either SPECs or --data"),
        (["--data", str(tmp_path / "missing.tsv")], "missing.tsv"),
    ):
        bad = [a for a in args if a not in ("--data", str(pairs))] if extra[0] == "--data" else args
        res = runner.invoke(app, [*bad, *extra, "--out", str(tmp_path / "bad"), "--quiet"])
        assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
        assert message in res.output and not (tmp_path / "bad").exists()


def test_ray_executor_without_ray_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    res = runner.invoke(app, ["sweep", "permutation:L=3", "--executor", "ray", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert 'pip install -e ".[ray]"' in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # nothing trained


VERIFY_TINY = ["--set", "hidden=8", "--set", "steps=10", "--set", "batch_size=16", "--set", "eval_every=5"]
VERIFY_TINY += ["--set", "eval_samples=8", "--set", "probe_every=5", "--set", "proxy_steps=5", "--seeds", "2"]


def test_cli_sweep_verify_writes_each_points_verdicts(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["sweep", "permutation:L=3", "subset:L=3,V=5", "--set", "lr=1e-2,3e-2", *VERIFY_TINY]
    args += ["--verify", "--out", str(out), "--quiet"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    rows = read_csv(out / "verify.csv")
    points = sorted(p.name for p in (out / "verify").iterdir())
    assert len(points) == 2 and {r["point"] for r in rows} == set(points)
    for point in points:
        doc = json.loads((out / "verify" / point / "verdicts.json").read_text())
        mine = [(r["check"], r["subject"], r["status"], r["measured"]) for r in rows if r["point"] == point]
        assert mine == [(v["name"], v["subject"], v["status"], v["measured"]) for v in doc["verdicts"]]
        (lr,) = {r["lr"] for r in rows if r["point"] == point}
        runs = list((out / "verify" / point / "runs").iterdir())
        assert len(runs) == 4  # normal and uniform, both specs
        for run in runs:
            config = json.loads((run / "config.json").read_text())
            assert config["lr"] == float(lr) and config["seeds"] == [0, 1] and config["steps"] == 10
        assert "toy-fidelity" not in {v["name"] for v in doc["verdicts"]}
    res = runner.invoke(app, args)  # again: every training reused
    assert res.exit_code == 0, res.output
    for point in points:
        doc = json.loads((out / "verify" / point / "verdicts.json").read_text())
        assert {r["how"] for r in doc["meta"]["runs"].values()} == {"reused"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--seeds", "3,5"], "--seeds as a count"), (["--set", "uniform=true"], "unknown preset field")],
)
def test_cli_sweep_verify_bad_input_before_training(tmp_path: Path, extra: list[str], message: str) -> None:
    res = runner.invoke(app, ["sweep", "permutation:L=3", *extra, "--verify", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and message in res.output, res.output
    assert not (tmp_path / "o").exists()


def test_a_crashing_task_is_reported_and_the_others_finish(tmp_path: Path) -> None:
    args = ["sweep", "permutation:L=3", "--out", str(tmp_path), "--quiet", *CLI_TINY]
    assert runner.invoke(app, args).exit_code == 0
    first, second = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    summary = json.loads((tmp_path / first / "summary.json").read_text())
    (tmp_path / first / "summary.json").write_text(json.dumps({**summary, "finished": False}))
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):  # both checkpoints: no fallback, resume fails
        (tmp_path / first / name).write_bytes(b"not a checkpoint")
    (tmp_path / second / "summary.json").write_text(json.dumps({**summary, "finished": False}))
    res = runner.invoke(app, args)
    assert res.exit_code == 1, res.output
    assert f"failed: {first}" in "".join(res.output.split()).replace("failed:", "failed: ")
    rows = {r["run"]: r for r in read_csv(tmp_path / "sweep.csv")}
    # a damaged run is a reported one-line failure (KtiwError), not a crash with a traceback
    assert rows[first]["status"] == "failed" and "is damaged" in rows[first]["error"]
    assert rows[second]["status"] == "finished"  # the other run was resumed to the end


CLI_TINY = ["--set", "lr=1e-2,3e-2", "--set", "steps=30", "--set", "batch_size=8", "--set", "eval_samples=8"]
CLI_TINY += ["--set", "probe_every=0", "--set", "proxy_steps=0", "--set", "checkpoint_every=10"]
CLI_TINY += ["--set", "hidden=8", "--seeds", "1"]


def test_local_executor_checks_the_device_before_any_task() -> None:
    import torch

    assert LocalExecutor().resolve_device("auto") == "auto"  # the trainer resolves it in this process
    if not torch.cuda.is_available():
        with pytest.raises(KtiwError, match="no CUDA device"):
            LocalExecutor().resolve_device("cuda")


def test_finished_run_with_a_cut_curves_file_is_moved_aside_and_trained_again(tmp_path: Path, capsys) -> None:
    """Issue 21, class 6: sweep.csv must not change silently when a finished run lost the tail
    of its curves.csv at a line boundary; the damaged run is kept aside, never deleted."""
    runs = plan_grid(["permutation:L=3"], TINY, {}, [0])
    run_sweep(runs, tmp_path, LocalExecutor(), progress=False)
    before = (tmp_path / "sweep.csv").read_bytes()
    curves = tmp_path / runs[0].name / "curves.csv"
    lines = curves.read_text().splitlines(keepends=True)
    curves.write_text("".join(lines[:-1]))
    again = run_sweep(runs, tmp_path, LocalExecutor(), progress=False)
    assert again.status == {runs[0].name: "trained"}
    assert "not reusing" in capsys.readouterr().err
    assert (tmp_path / f"{runs[0].name}.damaged" / "curves.csv").read_text() == "".join(lines[:-1])
    assert (tmp_path / "sweep.csv").read_bytes() == before
