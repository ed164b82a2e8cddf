"""One CLI (issue 17): the same option means the same thing in every command, help text that
does not mislead, and commands that say what they are doing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ktiw.cli.app import app

runner = CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1"})
COMMANDS = ("predict", "train", "verify", "sweep", "plot", "families", "presets")


def _command(name: str):  # type: ignore[no-untyped-def]
    """The click command typer builds for ``ktiw NAME`` (typer 0.29 brings its own click classes)."""
    return typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", COMMANDS)
def test_help_shows_flags_as_flags_and_a_plain_usage_line(name: str) -> None:
    res = runner.invoke(app, [name, "--help"])
    assert res.exit_code == 0, res.output
    assert "<bool>" not in res.output, "a flag shown as if it took a value"
    usage = next(line for line in res.output.splitlines() if "Usage:" in line)
    assert "[[" not in usage and "]...]" not in usage and "......" not in usage, usage


def test_a_flag_followed_by_a_word_does_not_take_it() -> None:
    """``--json`` is a flag: it takes no value."""
    param = next(p for p in _command("predict").params if p.name == "as_json")
    assert param.is_flag


def test_train_says_how_many_seeds_reached_95_percent(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "subset:L=3,V=5", "--out", str(out), "--steps", "4", "--seeds", "3", "--hidden", "8"]
    args += ["--batch-size", "8", "--eval-samples", "4", "--eval-every", "2", "--proxy-steps", "2", "--quiet"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    seeds = json.loads((out / "summary.json").read_text())["seeds"]
    k = sum(s["reached_95"] and not s["diverged"] for s in seeds)
    assert re.search(rf"^{k} of 3 seeds reached 95% token accuracy", res.output, re.M), res.output


def test_train_accepts_every_preset_it_lists_for_the_model() -> None:
    from ktiw.config.presets import presets_for, training_for

    for model in ("lstm", "transformer", "toy", "multihead", "classifier"):
        for name in presets_for(model):
            assert training_for(name, model).seeds >= 1
    res = runner.invoke(app, ["train", "subset:L=3,V=5", "--preset", "authors", "--steps", "1"])
    assert res.exit_code == 2, res.output
    assert "internal error" not in res.output and "presets for lstm: quick, paper" in res.output
    text = " ".join(runner.invoke(app, ["train", "--help"]).output.split())
    assert "classifier: quick | authors | paper" in text and "lstm: quick | paper" in text


def test_train_out_help_states_the_real_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ktiw.cli.train import default_out

    text = " ".join(runner.invoke(app, ["train", "--help"]).output.split())
    assert "ktiw-runs/<spec>-<model>[-uniform]" in text and "<time>" not in text
    monkeypatch.chdir(tmp_path)
    assert default_out("subset:L=3,V=5", None, "lstm", False).as_posix().startswith("ktiw-runs/subset")


SHARED = ("--seeds", "--steps", "--optimizer", "--init", "--quiet", "--uniform", "--precision")


def _options(name: str) -> dict[str, object]:
    return {o: p for p in _command(name).params for o in getattr(p, "opts", []) if o.startswith("--")}


def test_a_shared_option_has_one_help_text_and_one_default_in_every_command() -> None:
    """One definition (``ktiw.cli.training_options``) behind each shared option."""
    for option in SHARED:
        commands = ("train", "predict", "verify", "sweep")
        seen = {c: _options(c)[option] for c in commands if option in _options(c)}
        assert len(seen) >= 1 if option == "--init" else len(seen) >= 2, option
        assert len({p.help for p in seen.values()}) == 1, (option, {c: p.help for c, p in seen.items()})
        assert len({repr(p.default) for p in seen.values()}) == 1, option
    for command, options in {
        "train": SHARED,
        "sweep": SHARED,
        "verify": ("--seeds", "--steps", "--quiet", "--precision"),
        "predict": ("--seeds", "--steps", "--optimizer", "--init", "--precision"),
    }.items():
        assert set(options) <= set(_options(command)), command


def test_sweep_takes_every_training_option_train_takes() -> None:
    not_training = {"--resume", "--out", "--help"}
    train = {o for o, p in _options("train").items() if not getattr(p, "hidden", False)}
    missing = sorted(train - not_training - set(_options("sweep")))
    assert not missing, missing
    # --threads is per task in a sweep, --out a sweep's folder; the others say the same in other words
    differ = {"--help", "--threads", "--out", "--model", "--preset", "--device"}
    for option in set(_options("train")) & set(_options("sweep")) - differ:
        a, b = _options("train")[option], _options("sweep")[option]
        assert a.help == b.help, option  # type: ignore[attr-defined]


def test_gd_is_a_one_line_error_where_batches_are_sampled() -> None:
    res = runner.invoke(app, ["train", "subset:L=3,V=5", "--optimizer", "gd"])
    assert res.exit_code == 2 and "ktiw predict" in res.output and len(res.output.strip().splitlines()) == 1
    res = runner.invoke(app, ["train", "subset:L=3,V=5", "--init", "eps:1e-3"])
    assert res.exit_code == 2 and "toy model" in res.output


def test_train_init_has_the_syntax_of_predict(tmp_path: Path) -> None:
    out = tmp_path / "toy"
    args = ["train", "permutation:L=3", "--model", "toy", "--init", "normal:0.2", "--steps", "1"]
    res = runner.invoke(app, [*args, "--seeds", "1", "--out", str(out), "--quiet", "--proxy-steps", "0"])
    assert res.exit_code == 0, res.output
    mc = json.loads((out / "config.json").read_text())["model_config"]
    assert mc["init"] == "normal" and mc["sigma"] == 0.2


TINY_VERIFY = [
    "--seeds", "0,1", "--steps", "20", "--device", "cpu",
    "--set", "hidden=8", "--set", "batch_size=16", "--set", "eval_every=5", "--set", "eval_samples=8",
    "--set", "probe_every=5", "--set", "proxy_steps=5", "--set", "fidelity=[]",
    "--set", 'specs=["permutation:L=3", "subset:L=3,V=5"]',
]  # fmt: skip


def test_verify_again_reuses_its_runs_and_says_what_it_is_doing(tmp_path: Path) -> None:
    """Run twice without any flag: the second run reuses the four runs (no ``runs/*-2``), as
    ``ktiw sweep`` does; the silent measuring phase is announced; ``--seeds 0,1`` is the count 2."""
    out = tmp_path / "v"
    first = runner.invoke(app, ["verify", *TINY_VERIFY, "--out", str(out)])
    assert first.exit_code in (0, 1, 3), first.output
    assert "measuring" in first.output and "| " not in first.output
    again = runner.invoke(app, ["verify", *TINY_VERIFY, "--out", str(out), "--json", "--quiet"])
    doc = json.loads(again.stdout)
    assert {r["how"] for r in doc["meta"]["runs"].values()} == {"reused"}
    assert not [p for p in (out / "runs").iterdir() if p.name.endswith("-2")]
    assert json.loads((out / "runs" / "subset-L3-V5-lstm" / "config.json").read_text())["seeds"] == [0, 1]


def test_verify_trains_a_seed_list_as_train_does_and_pairs_the_uniform_runs(tmp_path: Path) -> None:
    """``--seeds 2,3``: both runs of each distribution train seeds 2 and 3 (the uniform run pairs
    with the normal one seed by seed); an experiment whose seed field is a count refuses a list
    in one line, before any training."""
    out = tmp_path / "v"
    args = [a if a != "0,1" else "2,3" for a in TINY_VERIFY]
    res = runner.invoke(app, ["verify", *args, "--out", str(out), "--quiet"])
    assert res.exit_code in (0, 1, 3), res.output
    for run in ("subset-L3-V5-lstm", "subset-L3-V5-lstm-uniform", "permutation-L3-lstm"):
        assert json.loads((out / "runs" / run / "config.json").read_text())["seeds"] == [2, 3], run
    multihead = ["verify", "--experiment", "multihead", "--seeds", "2,3", "--out", str(tmp_path / "m")]
    bad = runner.invoke(app, multihead)
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1, bad.output
    assert "combinations" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "m").exists()
