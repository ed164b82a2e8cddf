"""`ktiw verify` trains through the executor in every experiment (the driver's one
train-or-reuse step), and reports a failed training as one line."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from ktiw.comparator.experiments import multihead as mh
from ktiw.comparator.experiments import verify
from ktiw.comparator.framework import execute_runs
from ktiw.core.errors import KtiwError
from ktiw.runs.executor import LocalExecutor, Task, TaskResult

TINY: dict[str, dict[str, Any]] = {
    "copy": dict(
        seeds=2, steps=10, hidden=8, batch_size=16, eval_every=5, eval_samples=8, probe_every=5,
        proxy_steps=5, specs=["permutation:L=3", "subset:L=3,V=5"], fidelity=[],
    ),
    "multihead": dict(
        spec="permutation:L=3", hidden=8, heads=2, steps=6, batch_size=16, eval_every=3, eval_samples=8,
        candidates=3, pool_size=2, combinations=2, data_seeds=2, max_seeds_per_run=4,
    ),
    "classification": dict(
        spec="keyword:L=6,V=12,K=2", hidden=8, seeds=2, steps=6, batch_size=16, eval_every=3,
        eval_samples=30, proxy_steps=5,
    ),
}  # fmt: skip


class Recording(LocalExecutor):
    """The local executor, keeping every task it was given."""

    def __init__(self) -> None:
        self.tasks: list[Task] = []

    def run(self, tasks: Sequence[Task], progress: bool = True) -> list[TaskResult]:
        self.tasks += tasks
        return super().run(tasks, progress)


@pytest.mark.parametrize("experiment", list(TINY))
def test_every_training_of_every_experiment_is_an_executor_task(
    experiment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = itertools.cycle(["good", "bad", "bad"])  # multihead: every group gets trained
    monkeypatch.setattr(mh, "classify_head", lambda success, best: next(order))
    ex = Recording()
    out = tmp_path / experiment
    result = verify(
        experiment,
        overrides=TINY[experiment],
        device="cpu",
        out_dir=out,
        progress=False,
        executor=partial(execute_runs, executor=ex),
    )
    run_dirs = {p.resolve() for p in (out / "runs").iterdir()}
    assert run_dirs and {t.run_dir for t in ex.tasks} == run_dirs
    assert {r["how"] for r in result.meta["runs"].values()} == {"trained"}
    # --reuse: the executor gets nothing to do
    again = Recording()
    verify(
        experiment,
        overrides=TINY[experiment],
        device="cpu",
        out_dir=out,
        reuse=True,
        progress=False,
        executor=partial(execute_runs, executor=again),
    )
    assert again.tasks == []


def test_a_failed_training_is_one_line_naming_it(tmp_path: Path) -> None:
    class Failing(LocalExecutor):
        def run(self, tasks: Sequence[Task], progress: bool = True) -> list[TaskResult]:
            return [
                TaskResult(t.name, t.run_dir, "trained", None, "the Ray task failed: boom") for t in tasks
            ]

    with pytest.raises(KtiwError, match=r"4 training\(s\) failed \(permutation-L3-lstm: the Ray task failed"):
        verify(
            "copy",
            overrides=TINY["copy"],
            device="cpu",
            out_dir=tmp_path,
            progress=False,
            executor=partial(execute_runs, executor=Failing()),
        )
