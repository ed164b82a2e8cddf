"""The driver on a fake experiment: phased planning, one executor call per phase, the
measurement reaching the checks, the report files and the exit code."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from ktiw.comparator.framework import Figure, ObtainedRun, PlannedRun, Request, run_experiment
from ktiw.comparator.verdict import Status, Verdict
from ktiw.config.presets import get_preset
from ktiw.empirics.runfiles import CURVE_COLUMNS, write_json
from ktiw.empirics.train_config import TrainConfig
from ktiw.runs.rundir import Run


@dataclass
class FakeMeasurement:
    finals: dict[str, float]


class FakeExperiment:
    """Phase 1 trains ``base``; phase 2 trains ``followup`` only if ``base`` did well."""

    name = "fake"
    title = "A fake experiment."

    def __init__(self, verdict_status: Status) -> None:
        self.status = verdict_status
        self.plans: list[list[str]] = []

    def setup(self, request: Request) -> str:
        return "setup"

    def plan(self, setup: str, done: Mapping[str, Run]) -> list[PlannedRun]:
        runs = [PlannedRun("base", TrainConfig(spec="subset:L=3,V=4", seeds=[0, 1], steps=5))]
        if "base" in done and done["base"].summary["score"] > 0.5:
            runs.append(PlannedRun("followup", TrainConfig(spec="subset:L=3,V=4", seeds=[0], steps=7)))
        self.plans.append([r.name for r in runs])
        return runs

    def measure(self, setup: str, runs: Mapping[str, Run]) -> FakeMeasurement:
        return FakeMeasurement({k: float(r.summary["score"]) for k, r in runs.items()})

    def check(self, setup: str, m: FakeMeasurement) -> list[Verdict]:
        return [
            Verdict("fake-check", k, self.status, f"{v:.2f}", "> 0.5", f"{k} scored {v:.2f}.")
            for k, v in m.finals.items()
        ]

    def figures(self, setup: str, m: FakeMeasurement, folder: Path) -> dict[str, Figure]:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "f.png").write_bytes(b"\x89PNG\r\n\x1a\n")
        return {"f": Figure(folder / "f.png", "a figure")}

    def sections(self, setup: str, m: FakeMeasurement) -> list[str]:
        return ["## Extra\n\nfake section"]


def fake_executor(calls: list[list[str]]):  # type: ignore[no-untyped-def]
    def execute(
        runs: list[PlannedRun], runs_dir: Path, *, reuse: bool, progress: bool
    ) -> dict[str, ObtainedRun]:
        calls.append([r.name for r in runs])
        out = {}
        for r in runs:
            d = runs_dir / r.name
            d.mkdir(parents=True, exist_ok=True)
            write_json(d / "config.json", asdict(r.config))
            write_json(d / "summary.json", {"score": 0.9 if r.name == "base" else 0.3, "finished": True})
            rows = [",".join(["0"] * (len(CURVE_COLUMNS))).replace("0", str(s), 1) for s in r.config.seeds]
            (d / "curves.csv").write_text("\n".join([",".join(CURVE_COLUMNS), *rows]) + "\n")
            out[r.name] = ObtainedRun(d, "trained")
        return out

    return execute


@pytest.mark.parametrize(
    ("status", "code"), [(Status.PASS, 0), (Status.REFUTED, 1), (Status.INCONCLUSIVE, 3)]
)
def test_driver_plans_in_phases_and_writes_the_report(tmp_path: Path, status: Status, code: int) -> None:
    exp, calls = FakeExperiment(status), []
    request = Request(get_preset("copy", "quick"))
    result = run_experiment(exp, request, tmp_path / "out", progress=False, executor=fake_executor(calls))
    # phase 1 trains base; phase 2 only the new run; the third plan asks for nothing new
    assert calls == [["base"], ["followup"]]
    assert exp.plans == [["base"], ["base", "followup"], ["base", "followup"]]
    assert result.measurement.finals == {"base": 0.9, "followup": 0.3}
    assert result.exit_code == code
    doc = json.loads((tmp_path / "out" / "verdicts.json").read_text())
    assert doc["exit_code"] == code and doc["experiment"] == "fake"
    assert doc["measurement"] == {"finals": {"base": 0.9, "followup": 0.3}}
    assert [v["status"] for v in doc["verdicts"]] == [str(status)] * 2
    assert doc["meta"]["runs"]["followup"]["how"] == "trained"
    assert doc["thresholds"]["P_VALUE"] == 0.05
    md = (tmp_path / "out" / "report.md").read_text()
    assert "base scored 0.90." in md and "## Extra" in md and "![f](figures/f.png)" in md
    assert ("## What the data refute\n\n* **fake-check**" in md) is (status is Status.REFUTED)


def test_bad_config_is_rejected_before_any_run(tmp_path: Path) -> None:
    from ktiw.core.errors import KtiwError

    class Bad(FakeExperiment):
        def plan(self, setup: str, done: Mapping[str, Run]) -> list[PlannedRun]:
            return [PlannedRun("x", TrainConfig(spec="subset:L=3,V=4", steps=-1))]

    calls: list[list[str]] = []
    with pytest.raises(KtiwError, match="steps must be >= 0"):
        run_experiment(
            Bad(Status.PASS),
            Request(get_preset("copy", "quick")),
            tmp_path,
            progress=False,
            executor=fake_executor(calls),
        )
    assert calls == []


def test_progress_lines_print_run_names_literally(tmp_path: Path) -> None:
    """A run name holding rich markup (run names come from spec strings and data-file names)
    is printed as written, not interpreted."""
    import io

    from rich.console import Console

    class Bracketed(FakeExperiment):
        def plan(self, setup: str, done: Mapping[str, Run]) -> list[PlannedRun]:
            return [PlannedRun("[red]base[/red]", TrainConfig(spec="subset:L=3,V=4", seeds=[0], steps=5))]

        def measure(self, setup: str, runs: Mapping[str, Run]) -> FakeMeasurement:
            return FakeMeasurement({})

    buf = io.StringIO()
    console = Console(file=buf, width=200, color_system=None)
    request = Request(get_preset("copy", "quick"))
    run_experiment(
        Bracketed(Status.PASS),
        request,
        tmp_path / "out",
        progress=True,
        executor=fake_executor([]),
        console=console,
    )
    assert "fake: 1 run(s): [red]base[/red]" in buf.getvalue()
