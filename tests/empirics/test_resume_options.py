"""Issue 21, class 5: on ``ktiw train --resume`` every option applies where that is safe
(``--steps`` extended, or shortened down to the checkpoint; ``--threads``) or is refused in one
line naming the option and the recorded value; the run is left as it was when refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ktiw.cli.app import app
from ktiw.empirics import trainer as tr

runner = CliRunner()
CFG = dict(spec="subset:L=3,V=4", model="toy", steps=8, seeds=[0, 1], batch_size=4, eval_samples=4,
           eval_every=2, checkpoint_every=2, proxy_steps=0)  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("resume-options")
    return {
        "8": tr.train(dict(CFG), root / "r8", progress=False),
        "12": tr.train({**CFG, "steps": 12}, root / "r12", progress=False),
        "6": tr.train({**CFG, "steps": 6}, root / "r6", progress=False),
    }


def snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def resume(run: Path, *extra: str) -> tuple[int, list[str]]:
    res = runner.invoke(app, ["train", "--resume", str(run), "--quiet", *extra])
    return res.exit_code, [ln for ln in res.output.splitlines() if ln.strip()]


def test_extending_steps_equals_an_uninterrupted_run_of_the_new_length(tmp_path, runs) -> None:
    run = tmp_path / "run"
    shutil.copytree(runs["8"], run)
    code, _ = resume(run, "--steps", "12")
    assert code == 0
    assert (run / "curves.csv").read_bytes() == (runs["12"] / "curves.csv").read_bytes()
    assert json.loads((run / "config.json").read_text())["steps"] == 12
    summary = json.loads((run / "summary.json").read_text())
    assert summary["finished"] and summary["last_step"] == 12 and summary["complete"]["last_step"]["0"] == 12


def test_shortening_steps_down_to_the_checkpoint_applies(tmp_path, runs) -> None:
    run = tmp_path / "run"

    def stop(t: tr.Trainer) -> None:
        if t.step == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # checkpoint at step 4, budget 8
        tr.train(dict(CFG), run, progress=False, callback=stop)
    code, _ = resume(run, "--steps", "6")
    assert code == 0
    assert (run / "curves.csv").read_bytes() == (runs["6"] / "curves.csv").read_bytes()


def test_shortening_below_the_checkpoint_is_refused(tmp_path, runs) -> None:
    run = tmp_path / "run"
    shutil.copytree(runs["8"], run)
    before = snapshot(run)
    code, lines = resume(run, "--steps", "4")
    assert code == 2 and len(lines) == 1
    assert "--steps 4" in lines[0] and "already at step 8" in lines[0]
    assert snapshot(run) == before


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--out", "elsewhere"], "--out"),
        (["--dtype", "float64"], 'dtype = "float32"'),
        (["--lr", "0.5"], "lr = 0.001"),
        (["--batch-size", "8"], "batch_size = 4"),
        (["--seeds", "3"], "seeds = [0, 1]"),
        (["--model", "lstm"], 'model = "toy"'),
        (["--uniform"], "uniform = false"),
        (["--eval-every", "3"], "eval_every = 2"),
        (["--eval-samples", "5"], "eval_samples = 4"),
        (["--checkpoint-every", "3"], "checkpoint_every = 2"),
        (["--proxy-steps", "3"], "proxy_steps = 0"),
        (["--stop-at", "0.5"], "stop_at = null"),
        (["--optimizer", "sgd"], 'optimizer = "adam"'),
        (["--toy-init", "eps"], 'model_config.init = "zero"'),
        (["--opt", "init=eps"], 'model_config.init = "zero"'),
        (["--hidden", "9"], "model_config.hidden = not recorded"),
        (["--format", "csv"], "--format"),
        (["--max-vocab", "3"], "--max-vocab"),
        (["--preset", "paper"], 'preset = "quick"'),
    ],
)
def test_an_option_that_changes_the_run_is_refused_in_one_line(tmp_path, runs, extra, named) -> None:
    run = tmp_path / "run"
    shutil.copytree(runs["8"], run)
    before = snapshot(run)
    code, lines = resume(run, *extra)
    assert code == 2 and len(lines) == 1, lines
    assert extra[0] in lines[0] and named in lines[0], lines[0]
    assert snapshot(run) == before
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize(
    "extra",
    [["--dtype", "float32"], ["--seeds", "2"], ["--device", "cpu"], ["--threads", "1"], ["--lr", "1e-3"],
     ["--model", "toy"], ["--opt", "init=zero"]],
)  # fmt: skip
def test_an_option_equal_to_the_record_or_harmless_is_accepted(tmp_path, runs, extra) -> None:
    run = tmp_path / "run"
    shutil.copytree(runs["8"], run)
    code, _ = resume(run, *extra)
    assert code == 0
    assert (run / "curves.csv").read_bytes() == (runs["8"] / "curves.csv").read_bytes()
