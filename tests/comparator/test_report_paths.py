"""Stored reports name their runs relative to their own folder, never by a machine path."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ktiw.comparator.framework import Request, run_experiment
from ktiw.comparator.report import relative_to_report
from ktiw.comparator.verdict import Status
from ktiw.config.presets import get_preset

from .test_framework import FakeExperiment, fake_executor

ROOT = Path(__file__).resolve().parents[2]


def strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def test_report_names_runs_relative_to_itself(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    out = (tmp_path / "deep" / "out").resolve()
    monkeypatch.setattr("sys.argv", ["ktiw", "verify", "--preset", "quick", "--out", str(out)])
    run_experiment(
        FakeExperiment(Status.PASS),
        Request(get_preset("copy", "quick")),
        out,
        progress=False,
        executor=fake_executor([]),
    )
    doc = json.loads((out / "verdicts.json").read_text())
    assert doc["meta"]["runs"]["base"]["path"] == "runs/base"
    assert doc["meta"]["command"] == "ktiw verify --preset quick --out ../out"
    assert not [s for s in strings(doc) if str(tmp_path) in s]
    md = (out / "report.md").read_text()
    assert "* base (trained): `runs/base`" in md
    assert "Command: `ktiw verify --preset quick --out ../out`" in md
    assert str(tmp_path) not in md
    # the report folder can be moved: each named run is found next to it
    assert (out / doc["meta"]["runs"]["followup"]["path"] / "summary.json").exists()


def test_paths_outside_the_report_folder_and_plain_text_stay(tmp_path: Path) -> None:
    base = tmp_path / "out"
    doc = {
        "data": "/elsewhere/pairs.tsv",
        "k": "5/16",
        "spec": "subset:L=8,V=12",
        "runs": [str(base / "runs" / "a"), str(base)],
    }
    got = relative_to_report(doc, base)
    assert got == {
        "data": "/elsewhere/pairs.tsv",
        "k": "5/16",
        "spec": "subset:L=8,V=12",
        "runs": ["runs/a", "."],
    }


def test_stored_reports_carry_no_machine_paths() -> None:
    stored = sorted((ROOT / "docs" / "data").glob("*/verdicts*.json"))
    assert stored
    for path in stored:
        absolute = [s for s in strings(json.loads(path.read_text())) if re.search(r"(^|\s)/\w", s)]
        assert not absolute, f"{path}: {absolute[:3]}"
    for path in sorted((ROOT / "docs" / "data").glob("*/report.md")):
        text = path.read_text()
        assert not re.search(r"`/\w|--out /", text), path
