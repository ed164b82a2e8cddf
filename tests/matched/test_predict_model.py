"""`ktiw predict --model`: refusals (one line, exit 2), the toy's own prediction without torch,
the join on measured numbers, and the model-matched verdict on synthetic numbers."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from ktiw.cli.app import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "gru"], "unknown model 'gru'"),
        (["--model", "toy", "--hidden", "64"], "do not apply to model toy"),
        (["--model", "lstm", "--heads", "2"], "unknown option(s) heads for model lstm"),
        (["--model", "lstm", "--opt", "hidden=-3"], "hidden"),
        (["--model", "lstm", "--optimizer", "gd"], "--optimizer gd"),
        (["--model", "lstm", "--init", "eps:1e-3"], "--init sets the toy model's start"),
        (["--model", "lstm", "--seeds", "1", "--steps", "20"], "cannot afford a prediction"),
        (["--model", "toy", "--momentum", "0.5"], "--momentum applies to --optimizer sgd only"),
    ],
)
def test_refusals_are_one_line_exit_2(args: list[str], message: str) -> None:
    res = runner.invoke(app, ["predict", "subset:L=4,V=6", *args])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.output


def test_toy_options_match_the_toy_config() -> None:
    from dataclasses import fields

    from ktiw.cli.training_options import TOY_OPTIONS
    from ktiw.empirics.models.toy import ToyConfig

    assert set(TOY_OPTIONS) == {f.name for f in fields(ToyConfig)}


def test_defaults_are_the_quick_preset_lstm() -> None:
    from ktiw.cli.training_options import run_options
    from ktiw.config.presets import training_for

    o = run_options("quick", "lstm", {})
    t = training_for("quick", "lstm")
    assert (o.model, o.seeds, o.steps, o.batch_size, o.lr) == ("lstm", t.seeds, t.steps, t.batch_size, t.lr)
    assert o.model_config == dict(t.model_config)
    assert (o.optimizer, o.dtype, o.precision) == ("adam", "float32", "fp32")
    p = run_options("paper", "lstm", {"seeds": "3,5,7", "hidden": None})
    assert (p.seeds, p.steps, p.batch_size, p.model_config["hidden"]) == (3, 200, 128, 256)


def test_toy_prediction_is_the_toys_own_and_needs_no_torch() -> None:
    """`--model toy` returns theory.predict's numbers (the consistency check) without importing torch."""
    code = (
        "import sys, json; from typer.testing import CliRunner; from ktiw.cli.app import app;"
        "r = CliRunner().invoke(app, ['predict', '--model', 'toy', 'subset:L=4,V=6', '--lr', '0.05',"
        " '--init', 'eps:1e-3', '--steps', '300', '--json']);"
        "print(json.dumps({'rows': json.loads(r.output), 'torch': 'torch' in sys.modules}))"
    )
    out = json.loads(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )
    assert not out["torch"]
    (row,) = out["rows"]
    from ktiw.core.training import Init, Training
    from ktiw.data.families import from_spec
    from ktiw.theory.predict import predict

    own = predict(from_spec("subset:L=4,V=6"), training=Training(lr=0.05, init=Init("eps", 1e-3), steps=300))
    assert row["model"] == "toy" and row["method"] == own.method == "reduced-map"
    assert row["takeoff_step"] == own.takeoff_step and row["takeoff_probability"] == own.success_probability
    assert row["takeoff_step_range"] == own.takeoff_step_range
    assert row["success_probability"] >= row["takeoff_probability"]


def test_join_reads_the_toy_in_its_own_clock() -> None:
    """Measurements that are the toy's own reduced path (read through the probe formulas) give
    back the toy's reduced-map takeoff: the join's consistency on the toy."""
    from ktiw.core.training import Init, Training
    from ktiw.data.families import from_spec
    from ktiw.matched.predict import RunOptions, matched_prediction
    from ktiw.theory import matched as tm
    from ktiw.theory.predict import predict

    k, V, lr = 6, 9, 0.01
    dist = from_spec(f"subset:L={k},V={V}")
    tr = Training(lr=lr, steps=2000)
    path = tm.reduced_paths(k, V, tr, np.array([0.0]), np.array([0.0]))
    n = np.arange(0, 61, 5)
    kgap = tm.kgap_of_delta(path.delta[n, 0], V)[:, None].repeat(2, axis=1)
    mass = (1 / (1 + (k - 1) * np.exp(-path.gamma[n, 0])))[:, None].repeat(2, axis=1)
    data = {
        "start_mass": [1 / k] * 8,
        "start_kgap": [0.0] * 8,
        "start_positions": [k] * 8,
        "pilot": {
            "steps": n.tolist(),
            "mass": mass.tolist(),
            "kgap": kgap.tolist(),
            "token_acc": [],
            "seconds": 0.0,
            "seed_steps": 120,
        },
    }
    opts = RunOptions(model="lstm", seeds=8, steps=2000, lr=lr, batch_size=64)
    toy = predict(dist, training=Training(lr=lr, init=Init("eps", 1e-3), steps=2000))
    got = matched_prediction(dist, (k, V), opts, data, toy)
    a, p = got.measured["clocks"][0]
    assert a == pytest.approx(1.0, rel=0.05) and p == pytest.approx(1.0, abs=0.02)
    assert got.takeoff_step == pytest.approx(path.takeoff[0], rel=0.03)
    assert got.takeoff_probability == 1.0


def test_model_matched_verdicts() -> None:
    from ktiw.comparator.checks import MatchedComparison, check_model_matched
    from ktiw.comparator.stats import median_interval
    from ktiw.comparator.verdict import Status

    def c(pred: float | None, p: float, per_seed: list[float], k: int) -> Status:
        return check_model_matched(
            MatchedComparison("s", "lstm", "model-matched", pred, (None, None), p, p, tuple(per_seed), k)
        ).status

    good = [70.0, 70, 80, 80, 70, 80, 70, 80, 70, 80, 70, 80, 70, 80, 70, 80]
    assert c(72.0, 1.0, good, 16) is Status.PASS
    assert c(40.0, 1.0, good, 16) is Status.REFUTED  # step off by far more than 25%
    assert c(72.0, 1.0, good, 10) is Status.REFUTED  # 10/16 outside the acceptance of p = 1
    never = [math.inf] * 15 + [90.0]
    assert c(None, 0.1, never, 1) is Status.INCONCLUSIVE  # too few takeoffs to test the step
    # the order-statistic interval covers the median at >= 95% (n = 16: ranks 4 and 13)
    assert median_interval(list(range(16)), 0.95) == (3.0, 12.0)
