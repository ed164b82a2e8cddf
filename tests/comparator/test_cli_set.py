"""`ktiw verify --set KEY=VALUE` reaches the experiment's preset; bad keys exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import ktiw.comparator.classification as cls_mod
import ktiw.comparator.multihead as mh_mod
import ktiw.comparator.pipeline as pipeline
from ktiw.cli.app import app

runner = CliRunner()


class _StopError(Exception):
    """Raised by the fake runners so nothing trains."""


def _capture(store: dict[str, Any]):
    def fake(*args: Any, **kwargs: Any):
        store.update(kwargs)
        raise _StopError

    return fake


@pytest.mark.parametrize(
    ("experiment", "module", "name", "seeds_key"),
    [
        ("copy", pipeline, "run_verify", None),
        ("multihead", mh_mod, "run_multihead", "combinations"),
        ("classification", cls_mod, "run_classification", "seeds"),
    ],
)
def test_set_values_reach_the_runner(monkeypatch, experiment, module, name, seeds_key) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(module, name, _capture(seen))
    args = ["verify", "--experiment", experiment, "--set", "hidden=12", "--set", "lr=0.01", "--seeds", "3"]
    res = runner.invoke(app, args)
    assert isinstance(res.exception, _StopError), res.output
    assert seen["overrides"]["hidden"] == 12 and seen["overrides"]["lr"] == 0.01
    if seeds_key is None:
        assert seen["seeds"] == 3
    else:
        assert seen["overrides"][seeds_key] == 3
    assert seen["out_dir"] == Path("ktiw-verify" if experiment == "copy" else f"ktiw-verify-{experiment}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "nonsense=1"], "unknown preset field(s): nonsense"),
        (["--experiment", "classification", "--set", "nonsense=1"], "unknown classification preset field(s)"),
        (["--set", "hidden"], "--set expects KEY=VALUE"),
        (["--experiment", "nope"], "unknown experiment 'nope'"),
    ],
)
def test_bad_set_is_one_line_exit_2(tmp_path, args: list[str], message: str) -> None:
    res = runner.invoke(app, ["verify", *args, "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and message in res.output
