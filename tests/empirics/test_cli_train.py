"""`ktiw train` and `ktiw plot`: results where promised, one-line errors with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ktiw.cli.app import app
from ktiw.cli.train import parse_seeds
from ktiw.core.errors import KtiwError

runner = CliRunner()
SMALL = [
    "--steps",
    "2",
    "--seeds",
    "2",
    "--hidden",
    "8",
    "--batch-size",
    "8",
    "--eval-samples",
    "4",
    "--proxy-steps",
    "2",
    "--quiet",
]


def test_train_then_plot_then_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", "subset:L=3,V=5", "--out", str(out), *SMALL])
    assert res.exit_code == 0, res.output
    assert str(out) in res.output
    assert (out / "summary.json").exists() and (out / "curves.csv").exists()
    res = runner.invoke(app, ["plot", str(out)])
    assert res.exit_code == 0, res.output
    for name in ("accuracy", "attention", "beta", "loss"):
        png = out / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = runner.invoke(app, ["train", "--resume", str(out), "--quiet"])  # finished: nothing to do
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "bogus:L=3"], "unknown distribution family"),
        (["train", "subset:L=9,V=3"], "L <= V"),
        (["train", "subset:L=3,V=5", "--model", "gru"], "unknown model"),
        (["train", "subset:L=3,V=5", "--preset", "huge"], "unknown preset"),
        (["train", "subset:L=3,V=5", "--dtype", "half"], "dtype"),
        (["train", "subset:L=3,V=5", "--device", "tpu"], "device"),
        (["train", "subset:L=3,V=5", "--steps", "-1"], "steps"),
        (["train"], "SPEC"),
        (["train", "--resume", "no/such/dir"], "does not exist"),
        (["train", "--data", "no/such/file.tsv"], "does not exist"),
        (["plot", "no/such/dir"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    res = runner.invoke(
        app, [*args, "--out", str(tmp_path / "x")] if args[0] == "train" and "--resume" not in args else args
    )
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], res.output
    assert not (tmp_path / "x").exists()


def test_interrupt_is_one_line_exit_2_naming_the_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import ktiw.empirics.trainer as tr

    def interrupted(*args: object, **kwargs: object) -> Path:
        raise KeyboardInterrupt

    monkeypatch.setattr(tr, "train", interrupted)
    res = runner.invoke(app, ["train", "subset:L=3,V=5", "--out", str(tmp_path / "i"), "--quiet"])
    assert res.exit_code == 2
    assert (
        "interrupted" in res.output and "--resume" in res.output and len(res.output.strip().splitlines()) == 1
    )


def test_parse_seeds() -> None:
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("4,2,9") == [4, 2, 9]
    assert parse_seeds("5,") == [5]
    for bad in ("0", "x", "1,1", "-1,"):
        with pytest.raises(KtiwError):
            parse_seeds(bad)


def test_stop_at_reaches_the_config_and_bad_values_are_one_line_errors(tmp_path: Path) -> None:
    import json

    out = tmp_path / "run"
    res = runner.invoke(app, ["train", "subset:L=3,V=5", "--out", str(out), "--stop-at", "0.01", *SMALL])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "config.json").read_text())["stop_at"] == 0.01
    seeds = json.loads((out / "summary.json").read_text())["seeds"]
    assert all(s["stopped_step"] is not None for s in seeds if s["final_token_acc"] >= 0.01)
    res = runner.invoke(
        app, ["train", "subset:L=3,V=5", "--out", str(tmp_path / "b"), "--stop-at", "2", *SMALL]
    )
    assert res.exit_code == 2 and "stop_at" in res.output and "Traceback" not in res.output
