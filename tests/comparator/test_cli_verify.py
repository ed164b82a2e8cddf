"""`ktiw verify`: exit codes (0 pass, 1 refuted, 2 bad input, 3 inconclusive), --json, the
verdict table on a pipe, and one real end-to-end run on a tiny configuration, run again
with --reuse (reused, then resumed after an interruption)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ktiw.comparator.experiments as experiments
from ktiw.cli.app import app
from ktiw.comparator.framework import ExperimentResult
from ktiw.comparator.report import write_report
from ktiw.comparator.verdict import Status, Verdict

runner = CliRunner()

LONG = "subset:L=40,V=60-with-a-very-long-name-that-a-narrow-table-would-fold"


def _fake(status: Status):  # type: ignore[no-untyped-def]
    def verify(experiment: str, preset: str, *, out_dir: Path | None, **_: object) -> ExperimentResult:
        out = Path(out_dir or "ktiw-verify")
        v = Verdict("success-rate", LONG, status, "1/8 vs 8/8", "Fisher p < 0.05", "In words.")
        res = ExperimentResult("copy", "t", [v], {"x": 1}, {"preset": preset, "wall_time_s": 0.0}, out)
        write_report(res)
        return res

    return verify


@pytest.mark.parametrize(
    ("status", "code"), [(Status.PASS, 0), (Status.REFUTED, 1), (Status.INCONCLUSIVE, 3)]
)
def test_exit_code_follows_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: Status, code: int
) -> None:
    monkeypatch.setattr(experiments, "verify", _fake(status))
    res = runner.invoke(app, ["verify", "--out", str(tmp_path)])
    assert res.exit_code == code, res.output
    # stdout is not a terminal here: a table with one line per verdict, the subject never broken,
    # no Markdown (that is in report.md)
    assert any(
        LONG in line and "success-rate" in line and str(status) in line for line in res.output.splitlines()
    )
    assert "| success-rate |" not in res.output and "| success-rate |" in (tmp_path / "report.md").read_text()
    assert max(len(line) for line in res.output.splitlines()) <= 120
    res = runner.invoke(app, ["verify", "--out", str(tmp_path), "--json"])
    assert res.exit_code == code and json.loads(res.stdout)["exit_code"] == code


def test_help_documents_exit_codes() -> None:
    text = " ".join(runner.invoke(app, ["verify", "--help"]).output.split())
    for part in (
        "0 nothing refuted",
        "1 a prediction is refuted",
        "2 bad input",
        "3 everything inconclusive",
    ):
        assert part in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch:L=3"], "unknown distribution family"),
        (["subset:L=5,V=3"], "L <= V"),
        (["--preset", "huge"], "unknown preset"),
        (["--seeds", "0"], "--seeds count must be >= 1"),  # the parser train and sweep share
        (["--experiment", "nope"], "unknown experiment 'nope'"),
        (["--data", "/nonexistent/pairs.tsv"], "pairs.tsv"),
        (["--experiment", "multihead", "permutation:L=4"], "takes no SPEC"),
        (["--experiment", "classification", "permutation:L=4"], "two-label"),
    ],
)
def test_bad_input_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    res = runner.invoke(app, ["verify", *args, "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o" / "runs").exists()  # nothing trained


SIZES = [
    "--seeds", "2", "--steps", "20", "--device", "cpu",
    "--set", "hidden=8", "--set", "batch_size=16", "--set", "eval_every=5", "--set", "eval_samples=8",
    "--set", "probe_every=5", "--set", "proxy_steps=5", "--set", 'fidelity=[]',
]  # fmt: skip
TINY = [*SIZES, "--set", 'specs=["permutation:L=3", "subset:L=3,V=5"]']


def test_end_to_end_tiny_reuse_and_resume(tmp_path: Path) -> None:
    out = tmp_path / "v"
    res = runner.invoke(app, ["verify", *TINY, "--out", str(out), "--json"])
    assert res.exit_code in (0, 1, 3), res.output
    doc = json.loads(res.stdout)
    assert res.exit_code == doc["exit_code"]
    assert {v["name"] for v in doc["verdicts"]} == {
        "ktiw-under-uniform",
        "ktiw-before-attention",
        "success-rate",
        "takeoff-order",
        "model-matched",
        "agreement-table",
    }
    assert all(v["sentence"] for v in doc["verdicts"])
    # the theory's regimes reached the measurement; four runs, named like `ktiw train` names them
    assert [e["regime"] for e in doc["measurement"]["specs"]] == ["saddle", "drift"]
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == [
        "permutation-L3-lstm",
        "permutation-L3-lstm-uniform",
        "subset-L3-V5-lstm",
        "subset-L3-V5-lstm-uniform",
    ]
    cfg = json.loads((out / "runs" / runs[0] / "config.json").read_text())
    assert cfg["steps"] == 20 and cfg["model_config"]["hidden"] == 8 and cfg["threads"] is None
    # success counts equal the trainer's summaries
    for e in doc["measurement"]["specs"]:
        # the report names runs relative to itself
        summary = json.loads((out / e["runs"]["normal"] / "summary.json").read_text())
        reached = sum(s["reached_95"] and not s["diverged"] for s in summary["seeds"])
        assert (e["success"]["k"], e["success"]["n"]) == (reached, 2)
    # again with --reuse: nothing trained, same verdicts
    res2 = runner.invoke(app, ["verify", *TINY, "--out", str(out), "--reuse", "--json"])
    doc2 = json.loads(res2.stdout)
    assert {r["how"] for r in doc2["meta"]["runs"].values()} == {"reused"}
    assert [v["measured"] for v in doc2["verdicts"]] == [v["measured"] for v in doc["verdicts"]]
    # a half-finished run (its summary says interrupted; it has a checkpoint) is resumed, not restarted
    half = out / "runs" / runs[2]
    summary = json.loads((half / "summary.json").read_text())
    (half / "summary.json").write_text(json.dumps({**summary, "finished": False, "interrupted": True}))
    res3 = runner.invoke(app, ["verify", *TINY, "--out", str(out), "--reuse", "--json"])
    doc3 = json.loads(res3.stdout)
    assert doc3["meta"]["runs"]["subset-L3-V5-lstm"]["how"] == "resumed"
    assert sorted(p.name for p in (out / "runs").iterdir()) == runs
    assert [v["measured"] for v in doc3["verdicts"]] == [v["measured"] for v in doc["verdicts"]]


def test_verify_data_file_trains_and_applies_the_checks_that_can(tmp_path: Path) -> None:
    pairs = tmp_path / "mine.tsv"
    words = ["a", "b", "c", "d", "e"]
    lines = [" ".join(words[i : i + 3]) + "\t" + " ".join(words[i : i + 3]) for i in range(3)]
    pairs.write_text("\n".join(lines) + "\n")
    out = tmp_path / "v"
    res = runner.invoke(app, ["verify", "--data", str(pairs), *SIZES, "--out", str(out), "--json"])
    assert res.exit_code in (0, 1, 3), res.output
    doc = json.loads(res.stdout)
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["mine-lstm", "mine-lstm-uniform"]
    cfg = json.loads((out / "runs" / "mine-lstm" / "config.json").read_text())
    assert cfg["data"] == str(pairs)
    rows = {v["name"]: v for v in doc["verdicts"]}
    # a pairs file has no gold alignment: the checks that need one cannot decide
    assert rows["ktiw-under-uniform"]["status"] == "inconclusive"
    assert rows["ktiw-before-attention"]["status"] == "inconclusive"
