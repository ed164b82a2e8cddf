"""`ktiw verify` exit codes (0 all pass, 1 refuted, 2 bad input), --json, and one real
end-to-end run on a tiny configuration, run twice to check --reuse."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ktiw.cli.app import app
from ktiw.comparator import pipeline, presets
from ktiw.comparator.presets import FidelitySetup, VerifyPreset

runner = CliRunner()


def _fake(make_result: Callable, contrast: bool) -> Callable:
    def run_verify(specs, *, out_dir: Path, **_: object):
        from ktiw.comparator.report import write_report

        res = make_result(Path(out_dir), contrast=contrast)
        res.meta["wall_time_s"] = 0.0
        write_report(res)
        return res

    return run_verify


@pytest.mark.parametrize(("contrast", "code"), [(True, 0), (False, 1)])
def test_exit_code_follows_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_result: Callable, contrast: bool, code: int
) -> None:
    monkeypatch.setattr(pipeline, "run_verify", _fake(make_result, contrast))
    res = runner.invoke(app, ["verify", "--out", str(tmp_path)])
    assert res.exit_code == code, res.output
    assert "success-rate" in res.output
    res = runner.invoke(app, ["verify", "--out", str(tmp_path), "--json"])
    assert res.exit_code == code
    assert json.loads(res.stdout)["passed"] is (code == 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch:L=3"], "unknown distribution family"),
        (["subset:L=5,V=3"], "L <= V"),
        (["--preset", "huge"], "unknown preset"),
        (["--seeds", "0"], "--seeds must be >= 1"),
    ],
)
def test_bad_input_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    res = runner.invoke(app, ["verify", *args, "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "o" / "runs").exists()  # nothing trained


TINY = VerifyPreset(
    name="tiny",
    specs=("permutation:L=3", "subset:L=3,V=5"),
    seeds=2,
    steps=20,
    batch_size=16,
    lr=1e-2,
    eval_every=5,
    eval_samples=8,
    hidden=8,
    probe_every=5,
    fidelity=(FidelitySetup("subset:L=3,V=4", eps=0.0, lr=0.1, steps=300),),
)


def test_end_to_end_tiny_and_reuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(presets.PRESETS, "tiny", TINY)
    out = tmp_path / "v"
    res = runner.invoke(app, ["verify", "--preset", "tiny", "--device", "cpu", "--out", str(out)])
    assert res.exit_code in (0, 1), res.output
    doc = json.loads((out / "verdicts.json").read_text())
    assert res.exit_code == doc["exit_code"] == (0 if doc["passed"] else 1)
    names = {v["name"] for v in doc["verdicts"]}
    assert names == {
        "toy-fidelity",
        "ktiw-under-uniform",
        "ktiw-before-attention",
        "success-rate",
        "takeoff-order",
        "agreement-table",
    }
    # the theory's regimes reached the verdicts
    assert [e["regime"] for e in doc["evidence"]] == ["saddle", "drift"]
    # four run directories: normal and uniform per distribution, with the requested sizes
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert len(runs) == 4
    cfg = json.loads((out / "runs" / runs[0] / "config.json").read_text())
    assert cfg["steps"] == 20 and cfg["model_config"]["hidden"] == 8
    # success counts in the report equal the trainer's summaries
    for e in doc["evidence"]:
        summary = json.loads((Path(e["runs"]["normal"]) / "summary.json").read_text())
        reached = sum(s["reached_95"] and not s["diverged"] for s in summary["seeds"])
        assert e["success"] == {"k": reached, "n": 2}
    # again with --reuse: no new training, same verdicts
    res2 = runner.invoke(
        app, ["verify", "--preset", "tiny", "--device", "cpu", "--out", str(out), "--reuse", "--json"]
    )
    assert res2.exit_code == res.exit_code
    doc2 = json.loads(res2.stdout)
    assert all(doc2["meta"]["reused"].values())
    assert sorted(p.name for p in (out / "runs").iterdir()) == runs
    assert [v["measured"] for v in doc2["verdicts"]] == [v["measured"] for v in doc["verdicts"]]
    # a different step count is a different config: --reuse must train again
    res3 = runner.invoke(
        app,
        [
            "verify",
            "--preset",
            "tiny",
            "--steps",
            "10",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--reuse",
            "--json",
        ],
    )
    assert res3.exit_code in (0, 1)
    assert not any(json.loads(res3.stdout)["meta"]["reused"].values())
    assert len(list((out / "runs").iterdir())) == 8
