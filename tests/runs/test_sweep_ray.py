"""`ktiw sweep --executor ray` on a local Ray (2 CPUs): the same bytes as the local executor,
and a worker killed mid-task is reported and completed by a re-run.

Marked ``ray`` and skipped when Ray is not installed; ``.ci/run`` installs the extra and runs
them (``pytest -m ray``).
"""

from __future__ import annotations

import csv
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from ktiw.runs.executor import LocalExecutor, RayExecutor  # noqa: E402
from ktiw.runs.sweep import plan_grid, run_sweep  # noqa: E402

pytestmark = pytest.mark.ray

TINY: dict[str, Any] = {
    "model": "lstm",
    "steps": 20,
    "batch_size": 8,
    "lr": 1e-2,
    "eval_every": 10,
    "eval_samples": 8,
    "probe_every": 0,
    "proxy_steps": 0,
    "checkpoint_every": 10,
    "threads": 1,
    "model_config": {"hidden": 8},
}


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    import logging

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        yield
    finally:
        ray.shutdown()


def test_ray_sweep_writes_the_same_bytes_as_the_local_executor(tmp_path: Path, local_ray: None) -> None:
    runs = plan_grid(["permutation:L=3", "subset:L=3,V=5"], TINY, {"lr": [1e-2, 3e-2]}, [0, 1], 2)
    local = run_sweep(runs, tmp_path / "local", LocalExecutor(), progress=False)
    on_ray = run_sweep(runs, tmp_path / "ray", RayExecutor(), progress=True)
    assert set(on_ray.status.values()) == set(local.status.values()) == {"trained"}
    for run in runs:
        for name in ("curves.csv", "summary.json"):
            a = (tmp_path / "local" / run.name / name).read_bytes()
            assert (tmp_path / "ray" / run.name / name).read_bytes() == a, (run.name, name)
    assert (tmp_path / "ray" / "sweep.csv").read_bytes() == (tmp_path / "local" / "sweep.csv").read_bytes()


def _task_pids() -> list[int]:
    """Ray workers executing a sweep task (Ray titles them ``ray::_ray_task``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "cmdline").read_bytes().startswith(b"ray::_ray_task"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the Ray worker through /proc")
def test_killed_worker_is_reported_and_a_rerun_completes_it(tmp_path: Path, local_ray: None) -> None:
    config = {**TINY, "steps": 400, "eval_every": 20}
    runs = plan_grid(["permutation:L=3"], config, {}, [0])
    run_dir = tmp_path / "ray" / runs[0].name
    killed: list[int] = []

    def kill_mid_task() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            curves = run_dir / "curves.csv"
            # header + step 0 + step 20 + step 40: past the checkpoint at step 40, far from 400
            if curves.exists() and len(curves.read_text().splitlines()) >= 4:
                for pid in _task_pids():
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.01)

    killer = threading.Thread(target=kill_mid_task)
    killer.start()
    first = run_sweep(runs, tmp_path / "ray", RayExecutor(), progress=False)
    killer.join()
    assert killed, "the task finished before the worker could be killed"
    assert first.failed == [runs[0].name]
    assert "WorkerCrashedError" in first.status[runs[0].name]
    with (tmp_path / "ray" / "sweep.csv").open(newline="") as f:
        (row,) = csv.DictReader(f)
    assert row["status"] == "failed" and "WorkerCrashedError" in row["error"]

    again = run_sweep(runs, tmp_path / "ray", RayExecutor(), progress=False)
    assert again.status == {runs[0].name: "resumed"}
    local = run_sweep(runs, tmp_path / "local", LocalExecutor(), progress=False)
    assert local.status == {runs[0].name: "trained"}
    a = (tmp_path / "local" / runs[0].name / "curves.csv").read_bytes()
    assert (run_dir / "curves.csv").read_bytes() == a


def test_verify_on_ray_gives_the_local_verdicts_and_bytes(tmp_path: Path, local_ray: None) -> None:
    import json

    from typer.testing import CliRunner

    from ktiw.cli.app import app

    tiny = ["--seeds", "2", "--steps", "10", "--device", "cpu", "--set", "hidden=8", "--set", "batch_size=16"]
    tiny += ["--set", "eval_every=5", "--set", "eval_samples=8", "--set", "probe_every=5"]
    tiny += ["--set", "proxy_steps=5", "--set", 'specs=["permutation:L=3", "subset:L=3,V=5"]']
    tiny += ["--set", "fidelity=[]", "--json"]
    docs = {}
    for executor in ("local", "ray"):
        res = CliRunner().invoke(
            app, ["verify", *tiny, "--out", str(tmp_path / executor), "--executor", executor]
        )
        assert res.exit_code in (0, 1, 3), res.output
        docs[executor] = json.loads(res.stdout)
    assert [v["measured"] for v in docs["ray"]["verdicts"]] == [
        v["measured"] for v in docs["local"]["verdicts"]
    ]
    runs = sorted(p.name for p in (tmp_path / "local" / "runs").iterdir())
    assert runs == sorted(p.name for p in (tmp_path / "ray" / "runs").iterdir()) and len(runs) == 4
    for name in runs:
        a = (tmp_path / "local" / "runs" / name / "curves.csv").read_bytes()
        assert (tmp_path / "ray" / "runs" / name / "curves.csv").read_bytes() == a


def test_ray_tasks_resolve_auto_by_the_gpus_they_ask_for() -> None:
    from ktiw.core.errors import KtiwError

    assert RayExecutor(gpus_per_task=1).resolve_device("auto") == "cuda"
    assert RayExecutor().resolve_device("auto") == "cpu"
    assert RayExecutor().resolve_device("cuda:1") == "cuda:1"  # checked on the worker that runs it
    with pytest.raises(KtiwError, match="device must be"):
        RayExecutor().resolve_device("tpu")
