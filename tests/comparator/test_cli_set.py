"""`ktiw verify --set KEY=VALUE` reaches the experiment's preset; bad keys exit 2 naming the valid ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import ktiw.comparator.experiments as experiments
from ktiw.cli.app import app

runner = CliRunner()


class _StopError(Exception):
    """Raised by the fake driver so nothing trains."""


@pytest.mark.parametrize(
    ("experiment", "seeds_key"),
    [("copy", "seeds"), ("multihead", "combinations"), ("classification", "seeds")],
)
def test_set_values_reach_the_preset(
    monkeypatch: pytest.MonkeyPatch, experiment: str, seeds_key: str
) -> None:
    seen: dict[str, Any] = {}

    def fake(exp: Any, request: Any, out: Path, **kwargs: Any) -> None:
        seen.update(exp=exp, request=request, out=out)
        raise _StopError

    monkeypatch.setattr(experiments, "run_experiment", fake)
    args = ["--debug", "verify", "--experiment", experiment]  # --debug: let the stop signal through
    args += ["--set", "hidden=12", "--set", "lr=0.01", "--seeds", "3"]
    res = runner.invoke(app, args)
    assert isinstance(res.exception, _StopError), res.output
    preset = seen["request"].preset
    assert preset.training.model_config["hidden"] == 12 and preset.training.lr == 0.01
    assert (getattr(preset, seeds_key, None) or getattr(preset.training, seeds_key)) == 3
    assert seen["request"].threads is None and seen["request"].device == "auto"  # the trainer's default
    assert seen["out"] == Path("ktiw-verify" if experiment == "copy" else f"ktiw-verify-{experiment}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "nonsense=1"], "nonsense; valid: specs, eps, fidelity, uniform_seeds"),
        (["--experiment", "classification", "--set", "nonsense=1"], "valid: spec, seeds, steps"),
        (["--experiment", "multihead", "--set", "heads=1"], "heads >= 2"),
        (["--set", "hidden"], "--set expects KEY=VALUE"),
        (["--set", "uniform_seeds=3"], "uniform_seeds = 3 must divide seeds = 16"),
        (["--set", "stop_at=1.5"], "stop_at"),
    ],
)
def test_bad_set_is_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    res = runner.invoke(app, ["verify", *args, "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and message in " ".join(res.output.split()), res.output
