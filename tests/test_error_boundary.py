"""The CLI's one error boundary: unexpected exceptions become one line (type, message, log
path) with exit 1 (internal) or 2 (input), ``--debug`` lets the traceback through, user text
is never read as rich markup, every option value is checked against its declared type and
range, and sizes no machine has are refused before anything is allocated."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from ktiw.cli.app import app
from ktiw.core.errors import KtiwError
from ktiw.core.validation import check_fields, check_value

runner = CliRunner()
TINY = ["--model", "toy", "--steps", "2", "--seeds", "1", "--eval-samples", "2", "--batch-size", "2",
        "--proxy-steps", "0", "--quiet"]


def lines(res) -> list[str]:
    return [ln for ln in res.output.splitlines() if ln.strip()]


@pytest.fixture
def boom(monkeypatch, tmp_path):
    """``ktiw predict`` raising a given exception (the boundary must catch anything)."""
    monkeypatch.setenv("KTIW_CACHE_DIR", str(tmp_path / "cache"))

    def install(exc: BaseException) -> None:
        def fake(*args, **kwargs):
            raise exc

        import ktiw.theory.predict as tp  # what the command calls

        monkeypatch.setattr(tp, "predict", fake)

    return install


@pytest.mark.parametrize(
    ("exc", "code"),
    [(ValueError("odd [/] value"), 1), (ZeroDivisionError("division by zero"), 1),
     (PermissionError(13, "Permission denied", "/x"), 2), (MemoryError(), 2)],
)
def test_unexpected_exception_is_one_line_with_a_log(boom, tmp_path, exc, code) -> None:
    boom(exc)
    res = runner.invoke(app, ["predict", "--model", "toy", "subset:L=4,V=6"])
    assert res.exit_code == code, res.output
    (line,) = lines(res)
    assert type(exc).__name__ in line and "full log:" in line and "Traceback" not in res.output
    log = line.split("full log: ")[1].split(";")[0]
    text = (tmp_path / "cache" / "logs" / log.rsplit("/", 1)[1]).read_text()
    assert "Traceback (most recent call last)" in text and type(exc).__name__ in text


def test_debug_lets_the_traceback_through(boom) -> None:
    boom(ValueError("boom"))
    res = runner.invoke(app, ["--debug", "predict", "--model", "toy", "subset:L=4,V=6"])
    assert isinstance(res.exception, ValueError)
    again = runner.invoke(app, ["predict", "--model", "toy", "subset:L=4,V=6"])
    assert again.exit_code == 1  # --debug does not stick


@pytest.mark.parametrize("text", ["subset:L=6,V=9[/]", "subset:L=6[bold],V=9", "[red]x[/red]:L=3"])
def test_markup_in_user_text_is_printed_verbatim(text) -> None:
    res = runner.invoke(app, ["predict", "--model", "toy", text])
    assert res.exit_code == 2 and len(lines(res)) == 1
    assert text.split(":")[0] in res.output or "[" in res.output


def test_data_path_with_markup_is_printed_verbatim(tmp_path) -> None:
    (tmp_path / "d[").mkdir()
    path = tmp_path / "d[/]x.txt"
    path.write_text("a b\tb a\n")
    res = runner.invoke(app, ["predict", "--model", "toy", "--data", str(path)])
    assert res.exit_code == 0 and "d[/]x" in res.output


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (["--lr", "inf"], "lr must be a finite number"),
        (["--lr", "nan"], "lr must be a finite number"),
        (["--lr", "0"], "lr must be > 0"),
        (["--probe-every", "-1"], "probe_every must be >= 0"),
        (["--toy-eps", "nan"], "eps must be a finite number"),
        (["--checkpoint-every", "0"], "checkpoint_every must be >= 1"),
        (["--opt", "init=bogus"], "toy init must be zero, eps or normal"),
        (["--threads", "0"], "threads must be >= 1"),
        (["--steps", "99999999999999999999999"], "steps must be <= 1000000000"),
        (["--seeds", "99999999999999999999"], "--seeds count must be >= 1 (and at most"),
    ],
)
def test_option_values_are_checked(tmp_path, opts, message) -> None:
    res = runner.invoke(app, ["train", "subset:L=3,V=4", *TINY, *opts, "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and len(lines(res)) == 1 and message in res.output, res.output
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("opt", "message"),
    [("hidden=abc", "hidden must be an integer, got 'abc'"), ("hidden=0", "hidden must be >= 1"),
     ("hidden=1.5", "hidden must be an integer"), ("hidden=true", "hidden must be an integer"),
     ("layers=NaN", "layers must be an integer"), ("embedding=-3", "embedding must be")],
)
def test_model_options_are_checked(tmp_path, opt, message) -> None:
    args = ["train", "subset:L=3,V=4", *TINY, "--model", "lstm", "--opt", opt, "--out", str(tmp_path / "r")]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and len(lines(res)) == 1 and message in res.output, res.output


def test_verify_set_values_are_checked() -> None:
    res = runner.invoke(app, ["verify", "--set", "hidden=abc"])
    assert res.exit_code == 2 and "hidden must be an integer, got 'abc'" in res.output, res.output


def test_check_value_types_and_bounds() -> None:
    assert check_value("x", 3, float) == 3.0 and isinstance(check_value("x", 3, float), float)
    assert check_value("x", 4.0, int) == 4 and check_value("x", None, int | None) is None
    assert check_value("h", [[0, 1], [2, 3]], list[list[int]] | None) == [[0, 1], [2, 3]]
    for value, tp in [(True, int), (1.5, int), ("1", int), (math.nan, float), ([["a"]], list[list[int]])]:
        with pytest.raises(KtiwError):
            check_value("x", value, tp)
    with pytest.raises(KtiwError, match="x must be >= 1, got 0"):
        check_value("x", 0, int, {"min": 1})
    with pytest.raises(KtiwError, match=r"x must be > 0, got 0.0"):
        check_value("x", 0.0, float, {"gt": 0})
    assert check_value("x", math.inf, float, {"finite": False}) == math.inf
    from ktiw.empirics.train_config import TrainConfig

    with pytest.raises(KtiwError, match="unknown training option"):
        check_fields(TrainConfig, {"stepz": 3}, "training option")


@pytest.mark.parametrize(
    "spec", ["subset:L=5,V=1000000000", "subset:L=1000000000,V=1000000000", "iid:L=100000000,V=5"]
)
def test_sizes_no_machine_has_are_refused_before_allocating(tmp_path, spec) -> None:
    res = runner.invoke(app, ["train", spec, *TINY, "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and len(lines(res)) == 1, res.output
    assert "needs about" in res.output and "more than the memory limit" in res.output


def test_memory_limit_is_named(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KTIW_MAX_MEMORY", "1K")
    res = runner.invoke(app, ["train", "subset:L=3,V=4", *TINY, "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "more than the memory limit 1.0 KiB" in res.output, res.output


def test_huge_data_line_is_refused_by_predict(tmp_path) -> None:
    line = " ".join(["a"] * 200_000)
    (tmp_path / "d.txt").write_text(f"{line}\t{line}\n")
    res = runner.invoke(app, ["predict", "--model", "toy", "--data", str(tmp_path / "d.txt")])
    assert res.exit_code == 2 and "needs about" in res.output and "200000 input" in res.output
