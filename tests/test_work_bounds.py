"""Issue 21, class 3: work without bounds or estimates.  ``predict``, ``train`` and ``sweep``
estimate time (and memory) before they start and refuse beyond reason in one line naming
``--allow-large``; O(steps) arrays of the prediction are gone; a sweep says its size."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from ktiw.cli.app import app
from ktiw.core.errors import TooLargeError
from ktiw.core.limits import ALLOW_FLAG, allow_large, check_time
from ktiw.theory import adam_reduction as ar
from ktiw.theory.optimizers import adam_ratio_bound, adam_step_bound

ENTRY = [sys.executable, "-c", "import sys; from ktiw.cli.app import main; sys.argv[0] = 'ktiw'; main()"]
runner = CliRunner()


def ktiw(*args: str, timeout: float = 60) -> tuple[int, list[str], float]:
    t0 = time.perf_counter()
    p = subprocess.run([*ENTRY, *args], capture_output=True, text=True, timeout=timeout,
                       env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "COLUMNS": "100"})  # fmt: skip
    return p.returncode, [ln for ln in p.stderr.splitlines() if ln.strip()], time.perf_counter() - t0


def test_check_time_refuses_unless_allowed() -> None:
    with pytest.raises(TooLargeError, match=ALLOW_FLAG):
        check_time("x", 11.0, 10.0, "do less")
    with allow_large():
        check_time("x", 11.0, 10.0, "do less")
    check_time("x", 9.0, 10.0, "do less")


def test_adam_step_bound_needs_no_array_of_steps() -> None:
    """Exact against the full sum where that fits; 1e9 steps without an 8 GB array."""
    n = 300_000
    exact = 1e-3 * adam_ratio_bound(np.arange(1, n + 1)).sum()
    assert adam_step_bound(n, 1e-3) == pytest.approx(exact, rel=1e-12)
    t0 = time.perf_counter()
    big = adam_step_bound(10**9, 1e-3)
    assert time.perf_counter() - t0 < 5
    assert big == pytest.approx(1e-3 * 10**9 * float(adam_ratio_bound(10**6)), rel=1e-3)


def test_sign_regime_sum_in_blocks_equals_the_full_sum(monkeypatch) -> None:
    def full(k: int, lr: float, steps: int) -> int | None:
        t = np.arange(1, steps + 1, dtype=np.float64)
        g = 2 * lr * np.cumsum(ar._rho_numeric()(t, 0.9, 0.999))
        hit = np.nonzero(g >= np.log(k - 1))[0]
        return int(hit[0]) + 1 if hit.size else None

    monkeypatch.setattr(ar, "_BLOCK", 997)  # many block boundaries
    for lr, steps in ((1e-3, 5000), (1e-4, 20_000), (1e-6, 20_000)):
        assert ar.sign_regime_takeoff(6, lr, 0.0, steps) == full(6, lr, steps)


@pytest.mark.parametrize(
    "args",
    [
        ["predict", "subset:L=6,V=9", "--steps", "1000000000", "--lr", "1e-9"],  # Adam sign-regime sum
        ["predict", "iid:L=4,V=6", "--steps", "1000000", "--optimizer", "sgd"],  # the simulation
        ["train", "subset:L=3,V=4", "--model", "toy", "--steps", "1000000000", "--quiet", "--out", "OUT"],
        # weeks at the toy's measured 3.5 ms a step (the fixed step cost once said 6 days, and it ran)
        ["train", "subset:L=3,V=4", "--model", "toy", "--steps", "500000000", "--quiet", "--out", "OUT"],
    ],
)
def test_too_long_is_refused_in_one_line_naming_the_flag(args: list[str], tmp_path) -> None:
    code, lines, wall = ktiw(*[a.replace("OUT", str(tmp_path / "run")) for a in args])
    assert code == 2 and len(lines) == 1 and ALLOW_FLAG in lines[0] and "estimated" in lines[0], lines
    assert wall < 30


def test_sweep_says_its_size_and_refuses_a_huge_one(tmp_path) -> None:
    lrs = ",".join(str(0.001 * (i + 1)) for i in range(1000))
    res = runner.invoke(app, ["sweep", "permutation:L=3", "--set", f"lr={lrs}", "--set", "steps=100000",
                              "--seeds", "3", "--out", str(tmp_path / "big"), "--quiet"])  # fmt: skip
    assert res.exit_code == 2 and ALLOW_FLAG in res.output and "3000 run(s)" in res.output
    assert not (tmp_path / "big").exists()
    res = runner.invoke(app, ["sweep", "permutation:L=3", "--set", "lr=0.01,0.02", "--set", "steps=2",
                              "--model", "toy", "--seeds", "1", "--out", str(tmp_path / "small"),
                              "--quiet"])  # fmt: skip
    assert res.exit_code == 0
    assert "sweep: 2 run(s) = 1 spec(s) x 2 combination(s)" in " ".join(res.output.split())


def test_sweep_estimate_builds_each_distinct_model_once(monkeypatch) -> None:
    """3,000 runs of one model: one ``meta`` build for the estimate, not one per run; another
    seed count or model size is another model, and its estimate scales with it."""
    from ktiw.empirics import training_cost
    from ktiw.empirics.train_config import load_distribution
    from ktiw.runs.sweep import grid_size, plan_grid

    built = []
    real = training_cost.build_model

    def counting(*args, **kwargs):
        built.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(training_cost, "build_model", counting)
    monkeypatch.setattr(training_cost, "_PARAMETER_COUNTS", {})
    lrs = [0.001 * (i + 1) for i in range(1000)]
    runs = plan_grid(["permutation:L=3"], {"steps": 1000}, {"lr": lrs}, [0, 1, 2], 1)
    words, seconds = grid_size(runs)
    assert "3000 run(s)" in words and len(built) == 1
    one = training_cost.estimate_training_seconds(runs[0].config, load_distribution(runs[0].config))
    assert seconds == pytest.approx(3000 * one) and len(built) == 1  # the same key, no new build
    big = plan_grid(["permutation:L=3"], {"steps": 1000}, {"hidden": [64, 128]}, [0, 1], 2)
    _, big_seconds = grid_size(big)
    assert len(built) == 3 and big_seconds > 0
