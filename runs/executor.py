"""Executors: run a list of trainings, each one task, in this process or on Ray.

A :class:`Task` is one training: a :class:`~ktiw.empirics.train_config.TrainConfig`, the run
directory it writes, and whether it starts that directory or continues it from its checkpoint.
Every executor runs the very same function per task (:func:`run_task`, which calls
:func:`ktiw.empirics.trainer.train` or :func:`~ktiw.empirics.resume.resume`), so a run
directory does not depend on the executor: same config, same seeds, same device, same bytes
in ``curves.csv``.

* :class:`LocalExecutor` (``local``): in this process, one task after another; no Ray needed.
* :class:`RayExecutor` (``ray``): one Ray task per training, each asking for ``cpus_per_task``
  CPUs and ``gpus_per_task`` GPUs.  It joins the Ray instance already initialised in this
  process, else ``ray.init(address)``: ``address``, else ``RAY_ADDRESS``, else a new local Ray
  (``auto`` joins the cluster ``ray start`` runs on this machine).  The run directories must be on a
  file system every worker sees at the same path (a shared output directory).

Both return one :class:`TaskResult` per task, in the order given.  A task that failed (a
:class:`~ktiw.core.errors.KtiwError` inside it, or a Ray worker that died) carries a
one-line ``error`` and the other tasks go on; its run directory keeps everything recorded up
to its last checkpoint, so running it again with ``resume=True`` completes it.  Ray tasks are
not retried by Ray (``max_retries=0``): a failure is reported, and the caller decides.
Executors are context managers: a Ray started by :class:`RayExecutor` stays up across its
``run`` calls (an experiment that plans in phases starts it once) and stops on leaving.

Both show one rich progress display across tasks (:class:`TaskProgress`): the tasks done out
of all, and a bar per running task with its step and mean token accuracy.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ktiw.core.errors import KtiwError

EXECUTORS = ("local", "ray")
RAY_EXTRA_HINT = 'pip install -e ".[ray]"'

Report = Callable[[str, int, int, float], None]
"""``report(task name, step, total steps, mean token accuracy of the last evaluation)``."""


@dataclass(frozen=True)
class Task:
    """One training: its name, its config, the run directory it writes, and whether it
    continues that directory from its checkpoint (``resume``) instead of starting it."""

    name: str
    config: Any
    """A :class:`~ktiw.empirics.train_config.TrainConfig`."""
    run_dir: Path
    resume: bool = False


@dataclass(frozen=True)
class TaskResult:
    """What became of one task: ``how`` is ``trained`` or ``resumed``; ``summary`` is the run's
    ``summary.json`` (``None`` when the task failed before writing one); ``error`` is a one-line
    reason when the task failed."""

    name: str
    run_dir: Path
    how: str
    summary: dict[str, Any] | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.summary and self.summary.get("finished"))


class Executor(Protocol):
    """Runs tasks and returns their results in the order given (see the module docstring).
    Used as a context manager: leaving it releases what it started (a local Ray)."""

    name: str

    def run(self, tasks: Sequence[Task], progress: bool = True) -> list[TaskResult]: ...

    def resolve_device(self, device: str) -> str:
        """The device to plan the tasks' configs with: ``auto`` resolved as the tasks will see
        it where that differs from this process (Ray), so that the configs the caller plans
        and compares are the ones the tasks record; a bad device is a :class:`KtiwError`."""
        ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


def run_task(task: Task, report: Report | None = None) -> TaskResult:
    """Train (or resume) one task into its run directory; the one function every executor runs.

    ``report`` is called after every step.  A :class:`KtiwError` becomes the result's
    ``error``; so does any other exception, whose traceback goes to ``RUN_DIR/task_error.log``
    (one crashing task must not stop a sweep's others).  A :class:`KeyboardInterrupt`
    propagates after the trainer checkpointed.
    """
    from ktiw.empirics.resume import resume
    from ktiw.empirics.trainer import train

    callback = None
    if report is not None:
        total = task.config.steps

        def callback(trainer: Any) -> None:
            accs = [h[-1][1] for h in trainer.history.values() if h]
            report(task.name, trainer.step, total, sum(accs) / len(accs) if accs else float("nan"))

    how = "resumed" if task.resume else "trained"
    run_dir = Path(task.run_dir)
    try:
        if task.resume:
            resume(run_dir, progress=False, callback=callback)
        else:
            train(task.config, run_dir, progress=False, callback=callback)
    except KtiwError as exc:
        return TaskResult(task.name, run_dir, how, _summary(run_dir), f"{exc}")
    except Exception as exc:  # one task's crash must not stop the others; keep its traceback
        log = run_dir / "task_error.log"
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            log.write_text(traceback.format_exc())
        except OSError:
            pass
        message = " ".join(str(exc).split())[:200]
        return TaskResult(
            task.name, run_dir, how, _summary(run_dir), f"{type(exc).__name__}: {message} (traceback: {log})"
        )
    return TaskResult(task.name, run_dir, how, _summary(run_dir))


def _summary(run_dir: Path) -> dict[str, Any] | None:
    import json

    try:
        return json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None


class TaskProgress:
    """One rich display across tasks: ``done/total`` tasks, and a bar per running task showing
    its step out of its steps and the mean token accuracy of its last evaluation."""

    def __init__(self, enabled: bool, total: int, label: str) -> None:
        self.enabled, self.total, self.label = enabled, total, label
        self._bar: Any = None
        self._rows: dict[str, Any] = {}

    def __enter__(self) -> TaskProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[acc]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self._bar.__enter__()
            self._all = self._bar.add_task(self.label, total=self.total, acc="")
        return self

    def update(self, name: str, step: int, total: int, acc: float) -> None:
        """Task ``name`` is at ``step`` of ``total`` with mean accuracy ``acc``."""
        if self._bar is None:
            return
        from rich.markup import escape

        text = "acc -" if acc != acc else f"acc {acc:.3f}"
        if name not in self._rows:
            self._rows[name] = self._bar.add_task(f"  {escape(name)}", total=total, acc=text)
        self._bar.update(self._rows[name], completed=step, total=total, acc=text)

    def finish(self, name: str, error: str | None) -> None:
        """Task ``name`` ended (``error``: it failed): drop its bar, count it as done."""
        if self._bar is None:
            return
        row = self._rows.pop(name, None)
        if row is not None:
            self._bar.remove_task(row)
        if error is not None:
            from rich.markup import escape

            self._bar.console.print(f"[bold red]failed:[/] {escape(name)}: {escape(error)}", markup=True)
        self._bar.advance(self._all)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


class LocalExecutor:
    """Every task in this process, one after another (no Ray)."""

    name = "local"

    def resolve_device(self, device: str) -> str:
        """``device`` unchanged (the tasks run in this process, where the trainer resolves
        ``auto``); ``cuda`` without a GPU is a one-line :class:`KtiwError` now, before any task."""
        from ktiw.empirics.train_config import TrainConfig

        TrainConfig(spec="-", device=device).validate()
        return device

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, tasks: Sequence[Task], progress: bool = True) -> list[TaskResult]:
        results = []
        with TaskProgress(progress, len(tasks), "tasks") as bar:
            for task in tasks:
                result = run_task(task, bar.update if progress else None)
                bar.finish(task.name, result.error)
                results.append(result)
        return results


CONNECT_TIMEOUT_S = 5.0
"""How long :func:`probe_address` waits for a Ray head to accept a TCP connection."""

RAY_QUIET = {"RAY_BACKEND_LOG_LEVEL": "error", "GLOG_minloglevel": "2", "RAY_LOG_TO_STDERR": "0"}
"""Environment that keeps Ray's C++ core from printing warnings on stderr (set if not set)."""


def split_address(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a Ray address (``host:port``, ``ray://host:port``, ``[v6]:port``; the
    port defaults to Ray's 6379 for ``host`` alone, 10001 for ``ray://host``); ``None`` for
    ``local`` and ``auto``, which name no remote address."""
    text = address.strip()
    if text in ("", "local", "auto"):
        return None
    client = text.startswith("ray://")
    text = text.removeprefix("ray://").split("/", 1)[0]
    default = 10001 if client else 6379
    if text.startswith("["):  # [IPv6]:port
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, sep, port_text = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
        if not sep:
            host, port_text = text, ""
    try:
        port = int(port_text) if port_text else default
    except ValueError:
        raise KtiwError(f"--ray-address {address!r}: the port must be a number") from None
    if not host or not 0 < port < 65536:
        raise KtiwError(f"--ray-address {address!r}: give host:port (e.g. 10.0.0.5:6379)")
    return host, port


def probe_address(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """One-line :class:`KtiwError` unless something accepts a TCP connection at the Ray address
    within ``timeout`` seconds (``ray.init`` would retry a dead address for many minutes)."""
    import socket

    where = split_address(address)
    if where is None:
        return
    host, port = where
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
        raise KtiwError(
            f"--ray-address {address}: nothing answers at {host}:{port} within {timeout:g} s ({why}); "
            "start the cluster (ray start --head) or give the head's address"
        ) from None


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise KtiwError(f"--executor ray needs Ray, an optional extra: {RAY_EXTRA_HINT}") from None
    return ray


class _ProgressBoard:
    """A Ray actor the tasks report their steps to and the driver reads (latest per task)."""

    def __init__(self) -> None:
        self.latest: dict[str, tuple[int, int, float]] = {}

    def report(self, name: str, step: int, total: int, acc: float) -> None:
        self.latest[name] = (step, total, acc)

    def read(self) -> dict[str, tuple[int, int, float]]:
        return dict(self.latest)


def _ray_task(task: Task, board: Any) -> TaskResult:
    """:func:`run_task` on a Ray worker, reporting to ``board`` at most every half second."""
    last = [0.0]

    def report(name: str, step: int, total: int, acc: float) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5 or step == total:
            last[0] = now
            board.report.remote(name, step, total, acc)

    return run_task(task, report if board is not None else None)


class RayExecutor:
    """One Ray task per training (see the module docstring)."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        cpus_per_task: float = 1,
        gpus_per_task: float = 0,
        init_options: dict[str, Any] | None = None,
    ) -> None:
        if cpus_per_task <= 0:
            raise KtiwError(f"--cpus-per-task must be > 0, got {cpus_per_task}")
        if gpus_per_task < 0:
            raise KtiwError(f"--gpus-per-task must be >= 0, got {gpus_per_task}")
        if address:  # first: a dead address is one line within seconds, Ray installed or not
            probe_address(address)
        self.ray = _ray()
        self.address = address
        self.cpus_per_task, self.gpus_per_task = cpus_per_task, gpus_per_task
        self.init_options = init_options or {}
        self._started = False

    def _init(self) -> bool:
        """Join or start Ray; ``True`` when this call started it (and must shut it down)."""
        ray = self.ray
        if ray.is_initialized():
            return False
        import logging

        options = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
        options.update(self.init_options)
        # no address and no RAY_ADDRESS: always a new local Ray ("local"), never a cluster that
        # `ray start` left recorded on this machine (``--ray-address auto`` joins that one)
        address = self.address or os.environ.get("RAY_ADDRESS") or "local"
        probe_address(address)  # an address nobody answers at: one line within seconds, not a retry loop
        for key, value in RAY_QUIET.items():  # Ray's C++ core logs to stderr unless told not to
            os.environ.setdefault(key, value)
        try:
            ray.init(address=address, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = "a new local Ray" if address == "local" else address
            raise KtiwError(f"could not start or join Ray ({where}): {' '.join(str(exc).split())}") from None
        return True

    def run(self, tasks: Sequence[Task], progress: bool = True) -> list[TaskResult]:
        if not tasks:
            return []
        self._started = self._init() or self._started
        return self._run(self.ray, tasks, progress)

    def resolve_device(self, device: str) -> str:
        """``auto``: CUDA when each task asks for a GPU (``gpus_per_task > 0``), else CPU;
        what this machine has does not matter, the tasks run elsewhere."""
        from ktiw.empirics.train_config import TrainConfig

        # the device's name is checked now; whether a GPU is there, on the worker
        TrainConfig(spec="-", device="cpu" if device.startswith("cuda") else device).validate()
        if device != "auto":
            return device
        return "cuda" if self.gpus_per_task > 0 else "cpu"

    def close(self) -> None:
        """Shut down the Ray this executor started (a joined one is left running)."""
        if self._started:
            self.ray.shutdown()
            self._started = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, ray: Any, tasks: Sequence[Task], progress: bool) -> list[TaskResult]:
        from ray.exceptions import RayError, RayTaskError

        board = ray.remote(num_cpus=0)(_ProgressBoard).remote() if progress and tasks else None
        remote = ray.remote(_ray_task).options(
            num_cpus=self.cpus_per_task, num_gpus=self.gpus_per_task, max_retries=0
        )
        pending = {remote.remote(t, board): t for t in tasks}
        results: dict[str, TaskResult] = {}
        with TaskProgress(progress, len(tasks), f"tasks on Ray ({self._where(ray)})") as bar:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                if board is not None:
                    for name, (step, total, acc) in ray.get(board.read.remote()).items():
                        if name not in results:
                            bar.update(name, step, total, acc)
                for ref in ready:
                    task = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except RayError as exc:  # the worker or its node died, or the task could not start
                        cause = exc.cause if isinstance(exc, RayTaskError) and exc.cause else exc
                        reason = " ".join(str(cause).split())[:200]
                        result = TaskResult(
                            task.name,
                            Path(task.run_dir),
                            "resumed" if task.resume else "trained",
                            _summary(Path(task.run_dir)),
                            f"the Ray task failed: {type(cause).__name__}: {reason}",
                        )
                    results[task.name] = result
                    bar.finish(task.name, result.error)
        return [results[t.name] for t in tasks]

    @staticmethod
    def _where(ray: Any) -> str:
        try:
            cpus = ray.cluster_resources().get("CPU", 0)
            return f"{len(ray.nodes())} node(s), {cpus:g} CPUs"
        except Exception:  # pragma: no cover - display only
            return "cluster"


def make_executor(
    name: str,
    *,
    ray_address: str | None = None,
    cpus_per_task: float = 1,
    gpus_per_task: float = 0,
) -> Executor:
    """The executor called ``name`` (``local`` or ``ray``); a one-line :class:`KtiwError` for an
    unknown name, or for ``ray`` when Ray is not installed."""
    if name == "local":
        if ray_address is not None:
            raise KtiwError("--ray-address needs --executor ray")
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(ray_address, cpus_per_task, gpus_per_task)
    raise KtiwError(f"unknown executor {name!r}; valid executors: {', '.join(EXECUTORS)}")
