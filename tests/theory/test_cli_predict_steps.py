"""`ktiw predict` in optimizer steps: each option, each new field, bad values (one line, exit 2)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ktiw.cli.app import app
from ktiw.core.training import Init, Training
from ktiw.theory import adam_reduction as ar

runner = CliRunner()

FIELDS = {
    "optimizer",
    "lr",
    "batch_size",
    "init",
    "takeoff_step",
    "takeoff_step_range",
    "success_probability",
    "method",
}


def predict_json(*args: str) -> list[dict]:
    res = runner.invoke(app, ["predict", "--model", "toy", *args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_defaults_are_ktiw_train_defaults() -> None:
    """A prediction without options describes the run `ktiw train --model toy` makes by default."""
    from ktiw.config.presets import training_for
    from ktiw.empirics.models.toy import ToyConfig

    (row,) = predict_json("subset:L=6,V=9")
    train = training_for("quick", "toy")
    assert set(row) >= FIELDS
    assert row["optimizer"] == "adam" and row["init"] == ToyConfig().init == "zero"
    assert (row["lr"], row["batch_size"], row["steps"]) == (train.lr, train.batch_size, train.steps)


def test_done_command_fields_and_values() -> None:
    rows = predict_json(
        "permutation:L=12", "subset:L=12,V=18", "--optimizer", "adam", "--lr", "0.01", "--init", "eps:1e-3"
    )
    by_spec = {r["spec"]: r for r in rows}
    tr = Training(lr=0.01, init=Init("eps", 1e-3))
    for spec, (k, V) in {"permutation:L=12": (12, 12), "subset:L=12,V=18": (12, 18)}.items():
        r = by_spec[spec]
        assert r["method"] == "reduced-map" and r["init"] == "eps:0.001" and r["lr"] == 0.01
        n = ar.reduced_run(k, V, tr).takeoff_step
        assert r["takeoff_step"] == n and r["takeoff_step_range"] == [n, n]
        assert r["success_probability"] == 1.0
    # the gradient-flow fields are unchanged by the training options
    flow = {r["spec"]: r["takeoff_time"] for r in predict_json("permutation:L=12", "subset:L=12,V=18")}
    assert all(by_spec[s]["takeoff_time"] == flow[s] for s in flow)


def test_each_option_reaches_the_prediction() -> None:
    (gd,) = predict_json("subset:L=4,V=6", "--optimizer", "gd", "--lr", "5", "--steps", "400")
    (sgd,) = predict_json("subset:L=4,V=6", "--optimizer", "sgd", "--lr", "5", "--steps", "400")
    assert gd["optimizer"] == "gd" and sgd["optimizer"] == "sgd"
    n = ar.reduced_run(4, 6, Training(optimizer="gd", lr=5.0, steps=400)).takeoff_step
    assert gd["method"] == "reduced-map" and gd["takeoff_step"] == n
    (small,) = predict_json("subset:L=4,V=6", "--lr", "0.05", "--batch-size", "7", "--steps", "300")
    assert small["batch_size"] == 7 and small["steps"] == 300
    (rand,) = predict_json("subset:L=4,V=6", "--lr", "0.05", "--init", "normal:0.3", "--steps", "300")
    assert rand["method"] == "simulation" and rand["init"] == "normal:0.3"
    assert 0.0 <= rand["success_probability"] <= 1.0 and rand["simulated_seeds"] >= 4
    lo, _hi = rand["takeoff_step_range"]
    assert lo is None or rand["takeoff_step"] is None or lo <= rand["takeoff_step"]
    # the default budget is too short for Adam at lr 1e-3: a proved "no takeoff"
    (short,) = predict_json("permutation:L=12", "--steps", "200")
    assert short["takeoff_step"] is None and short["success_probability"] == 0.0
    assert short["method"] == "closed-form"


def test_table_shows_the_step_columns() -> None:
    args = ["subset:L=4,V=6", "--lr", "0.05", "--init", "eps:1e-3"]
    res = runner.invoke(app, ["predict", "--model", "toy", *args])
    assert res.exit_code == 0, res.output
    assert "optimizer steps to takeoff" in res.output and "reduced-map" in res.output
    assert "P(success)" in res.output


def test_derivation_has_the_optimizer_part() -> None:
    res = runner.invoke(app, ["predict", "--model", "toy", "permutation:L=6", "--derivation", "--lr", "0.05"])
    assert res.exit_code == 0, res.output
    assert "## Optimizers on the copy reduction" in res.output
    assert "\\sqrt{3}" in res.output and "\\beta_{1}" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--init", "normal:-1"], "--init normal:VALUE needs a positive finite value"),
        (["--init", "uniform:1"], "--init must be zero, eps:VALUE or normal:SIGMA"),
        (["--optimizer", "rmsprop"], "--optimizer must be one of gd, sgd, adam"),
        (["--lr", "0"], "--lr must be a positive finite number"),
        (["--lr", "nan"], "--lr must be a positive finite number"),
        (["--batch-size", "0"], "--batch-size must be in 1.."),
        (["--steps", "0"], "--steps must be in 1.."),
    ],
)
def test_bad_values_one_line_exit_2(args, message) -> None:
    res = runner.invoke(app, ["predict", "--model", "toy", "subset:L=4,V=6", *args])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
