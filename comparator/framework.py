"""The experiment protocol and the one driver behind ``ktiw verify``.

An experiment (:class:`Experiment`) declares, as plain functions of typed objects:

* ``setup(request)``: parse the distributions once and make each prediction once (bad
  input raises :class:`~ktiw.core.errors.KtiwError` here, before anything is trained);
* ``plan(setup, done)``: the training runs it needs, as named :class:`PlannedRun` (a
  :class:`~ktiw.empirics.train_config.TrainConfig` each).  The driver calls it again with the runs
  finished so far until it asks for nothing new, so an experiment may plan in phases (the
  multi-head experiment chooses its combinations from its single-head runs);
* ``measure(setup, runs)``: turn the loaded run directories into a typed measurement;
* ``check(setup, measurement)``: pure functions to :class:`~ktiw.comparator.verdict.Verdict` rows;
* ``figures(setup, measurement, folder)`` and ``sections(setup, measurement)``: what the
  report shows besides the verdicts.

The driver (:func:`run_experiment`) plans, trains or reuses (through one function,
:func:`execute_runs`, which an executor may replace), measures, checks, and writes
``report.md``, ``verdicts.json`` and the figures (:mod:`ktiw.comparator.report`).
"""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rich.console import Console
from rich.markup import escape

from ktiw.core.errors import KtiwError

from .report import write_report
from .result import ExperimentResult, Figure
from .verdict import Verdict

if TYPE_CHECKING:
    from ktiw.config.presets import Preset
    from ktiw.empirics.train_config import TrainConfig
    from ktiw.runs.executor import Executor as TaskExecutor
    from ktiw.runs.rundir import Run


@dataclass(frozen=True)
class Request:
    """What the user asked for: a preset (overrides applied), the distributions, the device."""

    preset: Preset
    specs: tuple[str, ...] = ()
    """Distribution specs; empty: the preset's defaults."""
    data: Path | None = None
    """A data file to verify instead of specs."""
    device: str = "auto"
    threads: int | None = None


@dataclass(frozen=True)
class PlannedRun:
    """One training run an experiment needs: its directory name under ``OUT/runs`` and config."""

    name: str
    config: TrainConfig


class Experiment(Protocol):
    """What an experiment module provides (see the module docstring)."""

    name: str
    title: str
    seeds_field: str
    """The preset field ``ktiw verify --seeds`` sets (``seeds``; ``combinations`` for multihead)."""

    def setup(self, request: Request) -> Any: ...

    def plan(self, setup: Any, done: Mapping[str, Run]) -> list[PlannedRun]: ...

    def measure(self, setup: Any, runs: Mapping[str, Run]) -> Any: ...

    def check(self, setup: Any, measurement: Any) -> list[Verdict]: ...

    def figures(self, setup: Any, measurement: Any, folder: Path) -> dict[str, Figure]: ...

    def sections(self, setup: Any, measurement: Any) -> list[str]: ...


@dataclass(frozen=True)
class ObtainedRun:
    """A finished run directory and how it was obtained (``trained``, ``reused``, ``resumed``)."""

    path: Path
    how: str


Executor = Callable[..., dict[str, ObtainedRun]]


def execute_runs(
    runs: Sequence[PlannedRun],
    runs_dir: Path,
    *,
    reuse: bool = False,
    progress: bool = True,
    executor: TaskExecutor | None = None,
) -> dict[str, ObtainedRun]:
    """Train or reuse every planned run; the one place ``ktiw verify`` trains.

    With ``reuse``, a finished directory under ``runs_dir`` with the same config
    (:func:`ktiw.runs.reuse.same_config`) is reused, and an unfinished one (interrupted,
    with a checkpoint) is resumed from its checkpoint.  Otherwise the run is trained into
    ``runs_dir/NAME`` (``NAME-2``, ... when taken; :func:`ktiw.runs.rundir.fresh_dir`).
    The trainings and resumptions run as one task each on ``executor``
    (:mod:`ktiw.runs.executor`; default: in this process, one after another); a task that
    failed is a one-line :class:`KtiwError` naming it, after the others finished.
    """
    from dataclasses import asdict

    from ktiw.runs.executor import LocalExecutor, Task
    from ktiw.runs.reuse import find_matching
    from ktiw.runs.rundir import fresh_dir

    runs_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, ObtainedRun] = {}
    tasks: list[Task] = []
    paths: dict[str, Path] = {}
    for run in runs:
        if reuse:
            found = find_matching(asdict(run.config), [p for p in runs_dir.iterdir() if p.is_dir()])
            if found is not None and found.finished:
                out[run.name] = ObtainedRun(found.path, "reused")
                continue
            if found is not None:
                paths[run.name] = found.path
                tasks.append(Task(run.name, run.config, found.path.resolve(), resume=True))
                continue
        target = fresh_dir(runs_dir, run.name)  # run names are unique within a plan
        if progress and target.name != run.name:
            why = "--fresh" if not reuse else "it holds a run with other settings"
            print(f"training {run.name} into {target} ({runs_dir / run.name}: {why})", file=sys.stderr)
        paths[run.name] = target
        tasks.append(Task(run.name, run.config, target.resolve()))
    results = (executor or LocalExecutor()).run(tasks, progress=progress)
    failed = [r for r in results if r.error is not None]
    if failed:
        what = "; ".join(f"{r.name}: {r.error}" for r in failed)
        raise KtiwError(
            f"{len(failed)} training(s) failed ({what}); run the same command again to resume them"
        )
    for result in results:
        out[result.name] = ObtainedRun(paths[result.name], result.how)
    return {run.name: out[run.name] for run in runs}


def provenance(command: str | None = None) -> dict[str, Any]:
    """Command line, Python, package versions and git commit."""
    from ktiw.core.provenance import provenance as versions

    argv = sys.argv
    cmd = command or ("ktiw " + " ".join(argv[1:]) if argv and "ktiw" in argv[0] else "ktiw verify")
    return {"command": cmd, "python": platform.python_version(), **versions()}


REPORT_MARKERS = ("verdicts.json", "report.md", "runs")
"""What a ``ktiw verify`` output folder holds; a non-empty folder with none of them is not one."""


def check_report_dir(out_dir: Path) -> None:
    """Refuse (one-line :class:`KtiwError`) an output folder that is a file, or an existing
    non-empty folder that is not an earlier ``ktiw verify`` output: the report's files would be
    written among someone else's (:func:`ktiw.empirics.runfiles.check_out_dir`)."""
    from ktiw.empirics.runfiles import check_out_dir

    check_out_dir(out_dir, ours=REPORT_MARKERS, what="ktiw verify report")


@contextmanager
def _phase(console: Console, progress: bool, what: str) -> Iterator[None]:
    """Say what a silent phase (measuring, drawing) is doing, and how long it took: a spinner on
    a terminal, one line before and one after elsewhere."""
    if not progress:
        yield
        return
    start = time.perf_counter()
    if console.is_terminal:
        with console.status(escape(f"{what} ...")):
            yield
    else:
        console.print(escape(f"{what} ..."))
        yield
    console.print(escape(f"{what}: done in {time.perf_counter() - start:.0f} s"))


def run_experiment(
    experiment: Experiment,
    request: Request,
    out_dir: Path,
    *,
    reuse: bool = False,
    progress: bool = True,
    console: Console | None = None,
    executor: Executor = execute_runs,
) -> ExperimentResult:
    """Plan, train or reuse, measure, check, and write the report (module docstring)."""
    from ktiw.runs.rundir import load_run

    start = time.perf_counter()
    console = console or Console(stderr=True)
    out_dir = Path(out_dir)
    check_report_dir(out_dir)
    setup = experiment.setup(request)
    done: dict[str, Run] = {}
    how: dict[str, str] = {}
    while True:
        todo = [r for r in experiment.plan(setup, done) if r.name not in done]
        if not todo:
            break
        for r in todo:
            r.config.validate()
        if progress:
            names = ", ".join(r.name for r in todo)
            console.print(escape(f"{experiment.name}: {len(todo)} run(s): {names}"))
        for name, got in executor(todo, out_dir / "runs", reuse=reuse, progress=progress).items():
            done[name] = load_run(got.path)
            how[name] = got.how
            if progress and got.how != "trained":
                console.print(escape(f"{got.how} {got.path} for {name}"))
    with _phase(console, progress, f"{experiment.name}: measuring the runs and the toy model"):
        measurement = experiment.measure(setup, done)
    verdicts = experiment.check(setup, measurement)
    out_dir.mkdir(parents=True, exist_ok=True)
    with _phase(console, progress, f"{experiment.name}: drawing the figures"):
        figures = experiment.figures(setup, measurement, out_dir / "figures")
    from dataclasses import asdict

    preset = request.preset
    meta: dict[str, Any] = {
        "experiment": experiment.name,
        "preset": preset.name,
        "model": preset.training.model,
        "preset_values": asdict(preset),
        "device": next(iter(done.values())).config.get("device") if done else request.device,
        "runs": {name: {"path": str(run.path), "how": how[name]} for name, run in done.items()},
        **provenance(),
    }
    result = ExperimentResult(
        experiment.name, experiment.title, verdicts, measurement, meta, out_dir, figures
    )
    meta["wall_time_s"] = time.perf_counter() - start
    write_report(result, experiment.sections(setup, measurement))
    return result
