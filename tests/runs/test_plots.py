"""`ktiw plot`: chance levels against hand computation; several runs overlaid on one figure."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ktiw.cli.app import app
from ktiw.empirics.train_config import TrainConfig
from ktiw.empirics.trainer import train
from ktiw.runs.plots import chance_levels
from ktiw.runs.rundir import load_run

runner = CliRunner()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("plot")
    out = []
    for uniform in (False, True):
        cfg = TrainConfig(
            spec="subset:L=3,V=5",
            uniform=uniform,
            seeds=[0, 1],
            steps=4,
            batch_size=8,
            eval_every=2,
            eval_samples=6,
            proxy_steps=0,
            threads=1,
            model_config={"hidden": 8},
        )
        out.append(train(cfg, root / ("u" if uniform else "n"), progress=False))
    return out


def test_chance_levels_by_hand(runs: list[Path]) -> None:
    # subset:L=3,V=5: 5 output words, every source has exactly 3 positions
    assert chance_levels(load_run(runs[0])) == pytest.approx(
        {"token_acc": 1 / 5, "attn_acc": 1 / 3, "beta_acc": 1 / 3}
    )


def test_plot_overlays_several_runs(runs: list[Path], tmp_path: Path) -> None:
    res = runner.invoke(app, ["plot", str(runs[0]), str(runs[1]), "--out", str(tmp_path / "both")])
    assert res.exit_code == 0, res.output
    for name in ("accuracy", "attention", "beta", "loss"):
        assert (tmp_path / "both" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = runner.invoke(app, ["plot", str(runs[0]), "no/such/run"])
    assert res.exit_code == 2 and "does not exist" in res.output
    # an earlier plot folder is replaced; a folder holding other files is refused, untouched
    res = runner.invoke(app, ["plot", str(runs[0]), "--out", str(tmp_path / "both")])
    assert res.exit_code == 0, res.output
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    res = runner.invoke(app, ["plot", str(runs[0]), "--out", str(tmp_path / "mine")])
    assert res.exit_code == 2 and "holds other files" in res.output and "Traceback" not in res.output
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]


def test_mean_line_holds_stopped_seeds_at_their_stop_value(tmp_path: Path) -> None:
    """With --stop-at the seeds' curves end at different steps; the overlaid mean still spans
    every evaluation step, each stopped seed counted at its stop-step value."""
    import numpy as np

    from ktiw.runs.plots import _mean_lines

    cfg = TrainConfig(
        spec="subset:L=4,V=6",
        seeds=[0, 1, 2],
        steps=16,
        lr=3e-2,
        batch_size=16,
        eval_every=2,
        eval_samples=8,
        proxy_steps=0,
        threads=1,
        dtype="float64",
        stop_at=0.4,
        model_config={"hidden": 16},
    )
    run = load_run(train(cfg, tmp_path / "stop", progress=False))
    stops = run.stopped_steps()
    assert len(set(stops.values())) > 1, "the test needs seeds that stop at different steps"

    class Axes:
        def __init__(self) -> None:
            self.lines: list[tuple[np.ndarray, np.ndarray]] = []

        def plot(self, x: np.ndarray, y: np.ndarray, **_: object) -> None:
            self.lines.append((np.asarray(x), np.asarray(y)))

    ax = Axes()
    _mean_lines(ax, run, "token_acc", "C0")
    steps, mean = ax.lines[-1]
    assert steps.tolist() == sorted(set(run.curves["step"].tolist()))
    for step, value in zip(steps.tolist(), mean.tolist(), strict=True):
        by_hand = [
            run.curve(seed, "token_acc")[1][run.curve(seed, "token_acc")[0] <= step][-1] for seed in run.seeds
        ]
        assert value == pytest.approx(float(np.mean(by_hand)), abs=1e-12)
