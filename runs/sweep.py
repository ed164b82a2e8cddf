"""``ktiw sweep``: a grid of trainings (distributions x ``--set`` values x seeds), one task each.

The grid is the product of the distribution specs, every ``--set KEY=V1,V2,...`` axis (any
training field such as ``lr``, ``batch_size``, ``steps``, or any field of the model's
configuration such as ``hidden``), and the seeds, cut into chunks of ``seeds_per_task``
seeds (one batched training each; default 1).  Every grid point is one run directory
``OUT/<spec>-<model>[-uniform]-<key><value>...-seed<s>`` and one :class:`~ktiw.runs.executor.Task`.

Resuming is the default: a run directory that already holds the same settings
(:func:`ktiw.runs.reuse.same_config`) is skipped when finished and continued from its
checkpoint when not; one that says it finished but fails its completeness check
(:func:`ktiw.runs.reuse.damage`) is moved aside to ``<name>.damaged`` and trained again,
with one line on stderr; one that holds other settings stops the sweep before anything runs
(a sweep never mixes runs trained with other settings).

``OUT/sweep.csv`` has one row per trained seed: the run, its spec, model and ``--set`` values,
the seed, and its summary figures: ``success`` (token accuracy reached 95% within the budget
and the seed did not diverge), ``step_95`` (the first evaluation step at 95%), ``takeoff_step``
(the takeoff: the first evaluation step whose gold attention mass, the ``attn_mass`` curve
column, reaches 1/2, as ``ktiw predict`` and ``ktiw verify``'s ``takeoff-order`` define it),
``final_token_acc`` and ``diverged``; ``status`` is ``finished``, ``unfinished`` (interrupted)
or ``failed`` (its task failed; ``error`` says why).  Empty cells mean "never" or "not available".
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from ktiw.core.errors import KtiwError
from ktiw.empirics import runfiles
from ktiw.empirics.curves import HALF, first_reach, median_or_inf

from .reuse import claims_finished, is_finished, normalise

SWEEP_CSV = "sweep.csv"
FIXED_KEYS = {
    "spec": "SPEC arguments",
    "data": "SPEC arguments",
    "seeds": "--seeds",
    "model": "--model",
    "preset": "--preset",
}
"""Training fields a ``--set`` axis may not name, and the option that sets them instead."""
SUMMARY_COLUMNS = ("status", "success", "step_95", "takeoff_step", "final_token_acc", "diverged", "error")


@dataclass(frozen=True)
class GridRun:
    """One grid point: its run directory name, spec, ``--set`` values, seeds and full config."""

    name: str
    spec: str
    settings: dict[str, Any]
    seeds: list[int]
    config: Any
    """A :class:`~ktiw.empirics.train_config.TrainConfig`."""


@dataclass
class SweepResult:
    """The grid, what became of each run (``done``: finished before this call; ``trained``,
    ``resumed``; ``failed: ...``), the ``sweep.csv`` rows, and the csv's path."""

    runs: list[GridRun]
    status: dict[str, str]
    rows: list[dict[str, Any]]
    csv_path: Path
    keys: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        return [name for name, s in self.status.items() if s.startswith("failed")]


def _field_value(key: str, value: Any, current: Any) -> Any:
    """``value`` checked against the type of the field's current value (ints stay ints; an
    int is accepted for a float field); a mismatch is a one-line :class:`KtiwError`."""
    if current is None or value is None:
        return value
    if isinstance(current, bool):
        ok = isinstance(value, bool)
    elif isinstance(current, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(current, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, type(current))
    if not ok:
        raise KtiwError(f"--set {key}: expected a {type(current).__name__} value, got {value!r}")
    return value


def apply_settings(base: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The training config fields ``base`` with ``settings`` applied: each key is a training
    field or a field of the model's configuration (one-line :class:`KtiwError` otherwise)."""
    from ktiw.empirics.models import MODELS
    from ktiw.empirics.train_config import TrainConfig

    values = json.loads(json.dumps(dict(base)))
    from ktiw.empirics.models.user import is_user_model

    model = values.get("model") or TrainConfig.model  # the trainer's default, the copy experiment's model
    spec = MODELS.get(model)
    if spec is None and not is_user_model(model):
        raise KtiwError(f"unknown model {model!r}; valid models: {', '.join(sorted(MODELS))}")
    # a user's model: its options are the factory's keyword arguments, any key the sweep sets
    options = dict(values.get("model_config", {}))
    model_defaults = asdict(spec.config(**options)) if spec is not None else options
    train_keys = [
        f.name for f in fields(TrainConfig) if f.name not in FIXED_KEYS and f.name != "model_config"
    ]
    for key, value in settings.items():
        if key in FIXED_KEYS:
            raise KtiwError(f"--set {key}: give it with {FIXED_KEYS[key]}")
        if key in train_keys:
            values[key] = _field_value(key, value, getattr(TrainConfig, key, None))
        elif key in model_defaults:
            values.setdefault("model_config", {})[key] = _field_value(key, value, model_defaults[key])
        elif spec is None:  # a user's model: the key is a keyword argument of its factory
            values.setdefault("model_config", {})[key] = value
        else:
            valid = ", ".join([*train_keys, *model_defaults])
            raise KtiwError(f"unknown --set key {key!r} for model {model}; valid: {valid}")
    return values


def _value_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return "".join(c if c.isalnum() or c in "._" else "_" for c in text)


def run_name(spec: str, model: str, uniform: bool, settings: Mapping[str, Any], seeds: Sequence[int]) -> str:
    """``<spec>-<model>[-uniform]-<key><value>...-seed<s>`` (``-seeds<a>-<b>`` for a chunk),
    file-name safe: ``permutation-L8-<model>-lr0.003-seed1``."""
    from ktiw.runs.rundir import run_name as base_name

    parts = [base_name(spec, model, uniform)]
    parts += [f"{k}{_value_text(v)}" for k, v in settings.items() if k != "uniform"]
    parts.append(f"seed{seeds[0]}" if len(seeds) == 1 else f"seeds{seeds[0]}-{seeds[-1]}")
    return "-".join(parts)


def plan_grid(
    specs: Sequence[str],
    base: Mapping[str, Any],
    axes: Mapping[str, Sequence[Any]],
    seeds: Sequence[int],
    seeds_per_task: int = 1,
    data: str | None = None,
) -> list[GridRun]:
    """Every grid point (module docstring), validated before anything runs.

    ``base``: the training config fields every run shares (no ``spec``/``seeds``); ``axes``:
    ``--set`` key -> values, in the order given.  ``data``: a data source (``ktiw sweep
    --data``) trained instead of ``specs``; its runs are named after the file, as ``ktiw
    train --data`` names them.
    """
    from ktiw.data.families import from_spec
    from ktiw.empirics.train_config import TrainConfig
    from ktiw.runs.rundir import run_label

    if seeds_per_task < 1:
        raise KtiwError(f"--seeds-per-task must be >= 1, got {seeds_per_task}")
    if data is not None and specs:
        raise KtiwError("give either SPECs or --data, not both")
    if data is None and not specs:
        raise KtiwError("give at least one distribution SPEC (see `ktiw families`) or --data FILE")
    for key, values in axes.items():
        if not values:
            raise KtiwError(f"--set {key}= has no values")
        if len({json.dumps(v) for v in values}) != len(values):
            raise KtiwError(f"--set {key} names a value twice")
    # SpecError (exit 2) before any work; a data file is read by grid_size, before any work too
    names = [from_spec(s).spec for s in specs] if data is None else [run_label(None, data)]
    if len(set(names)) != len(names):
        raise KtiwError("a distribution is named twice")
    seeds = list(seeds)
    chunks = [seeds[i : i + seeds_per_task] for i in range(0, len(seeds), seeds_per_task)]
    runs: list[GridRun] = []
    for spec in names:
        for combo in itertools.product(*axes.values()):
            settings = dict(zip(axes, combo, strict=True))
            values = apply_settings(base, settings)
            for chunk in chunks:
                where = {"spec": spec} if data is None else {"spec": None, "data": data}
                cfg = TrainConfig.from_dict({**values, **where, "seeds": chunk})
                # a CUDA device is checked where the task runs (a Ray worker may have the GPU)
                dataclasses.replace(cfg, device="cpu").validate()
                name = run_name(spec, cfg.model, cfg.uniform, settings, chunk)
                runs.append(GridRun(name, spec, settings, chunk, cfg))
    if len({r.name for r in runs}) != len(runs):
        raise KtiwError("two grid points map to the same run directory name; use plainer --set values")
    return runs


def grid_size(runs: Sequence[GridRun]) -> tuple[str, float]:
    """The grid's size in words (runs, and the specs x combinations x seed chunks behind them)
    and its estimated CPU time in seconds (:func:`ktiw.empirics.training_cost.estimate_training_seconds`
    summed over the runs; an estimate that errs long)."""
    from ktiw.empirics.train_config import load_distribution
    from ktiw.empirics.training_cost import estimate_training_seconds

    dists: dict[str, Any] = {}
    total = 0.0
    for run in runs:
        if run.spec not in dists:
            dists[run.spec] = load_distribution(run.config)
        dist = dists[run.spec]
        total += estimate_training_seconds(run.config, dist)
    specs = len({r.spec for r in runs})
    combos = len({json.dumps(r.settings, sort_keys=True) for r in runs})
    chunks = len({tuple(r.seeds) for r in runs})
    steps = sum(r.config.steps for r in runs)
    words = (
        f"{len(runs)} run(s) = {specs} spec(s) x {combos} combination(s) of --set values x "
        f"{chunks} seed chunk(s), {steps} training steps in all"
    )
    return words, total


def check_grid_size(runs: Sequence[GridRun]) -> tuple[str, float]:
    """:func:`grid_size`, refused in one line (:func:`ktiw.core.limits.check_time`) when its CPU
    time is beyond :data:`~ktiw.core.limits.MAX_TRAIN_SECONDS` without ``--allow-large``."""
    from ktiw.core.limits import MAX_TRAIN_SECONDS, check_time

    words, seconds = grid_size(runs)
    check_time(f"the sweep ({words})", seconds, MAX_TRAIN_SECONDS, "use fewer --set values, seeds or --steps")
    return words, seconds


def requested_record(cfg: Any) -> dict[str, Any]:
    """What ``config.json`` records for ``cfg`` in the fields that determine the numbers (spec
    normalised, device resolved, the model's full configuration; ``None``: resolved later)."""
    from ktiw.empirics.models import MODELS
    from ktiw.empirics.train_config import resolve_device

    record = asdict(cfg)
    record["device"] = resolve_device(cfg.device)
    spec = MODELS.get(cfg.model)  # None: a user's MODULE:FUNCTION model, options as given
    record["model_config"] = (
        dict(cfg.model_config) if spec is None else asdict(spec.config(**cfg.model_config))
    )
    return {k: v for k, v in record.items() if v is not None}


def settings_differ(requested: Mapping[str, Any], recorded: Mapping[str, Any]) -> list[str]:
    """The fields where a recorded ``config.json`` differs from the requested run (the
    comparison of :func:`ktiw.runs.reuse.same_config`), as ``key: R there, Q here``."""
    want, have = normalise(dict(requested)), normalise(dict(recorded))
    return [f"{k}: {have.get(k, 'missing')} there, {v} here" for k, v in want.items() if have.get(k) != v]


def _state(run: GridRun, run_dir: Path) -> str:
    """``new``, ``done``, ``resume``, ``restart`` (same settings, no checkpoint yet) or ``damaged``
    (it says it finished but fails its completeness check)."""
    config = run_dir / "config.json"
    if not config.exists():
        return "new"
    try:
        recorded = json.loads(config.read_text())
    except (OSError, ValueError):
        raise KtiwError(
            f"{run_dir}/config.json is unreadable; delete {run_dir} or give another --out"
        ) from None
    diff = settings_differ(requested_record(run.config), recorded)
    if diff:
        raise KtiwError(
            f"{run_dir} holds a run trained with other settings ({'; '.join(diff[:3])}); give another --out"
        )
    if claims_finished(run_dir):
        notice = f"moving it to {damaged_name(run_dir)} and training it again"
        return "done" if is_finished(run_dir, notice=notice) else "damaged"
    return "resume" if runfiles.has_checkpoint(run_dir) else "restart"


def damaged_name(run_dir: Path) -> Path:
    """Where a damaged finished run is moved before it is trained again (never deleted)."""
    from ktiw.runs.rundir import fresh_dir

    return fresh_dir(run_dir.parent, run_dir.name + ".damaged")


def plan_tasks(runs: Sequence[GridRun], out_dir: Path) -> tuple[list[Any], dict[str, str]]:
    """The tasks still to run and the status of every run (``done`` when already finished).

    A run stopped before its first checkpoint (``restart``) loses its ``config.json`` and
    ``summary.json`` and is trained again from the start.
    """
    from ktiw.runs.executor import Task

    tasks, status = [], {}
    states = {r.name: _state(r, out_dir / r.name) for r in runs}  # every mismatch before any work
    for run in runs:
        run_dir = (out_dir / run.name).resolve()
        state = states[run.name]
        status[run.name] = "done" if state == "done" else "pending"
        if state == "restart":
            for stale in ("config.json", "summary.json"):
                (run_dir / stale).unlink(missing_ok=True)
        if state == "damaged":  # kept aside, never deleted; the grid point is trained afresh
            os.replace(run_dir, damaged_name(run_dir))
        if state != "done":
            tasks.append(Task(run.name, run.config, run_dir, resume=state == "resume"))
    return tasks, status


def seed_rows(run: GridRun, out_dir: Path, status: str, keys: Sequence[str]) -> list[dict[str, Any]]:
    """The ``sweep.csv`` rows of one run, one per seed (module docstring)."""
    from ktiw.runs.rundir import load_run

    base = {"run": run.name, "spec": run.spec, "model": run.config.model, "uniform": int(run.config.uniform)}
    base.update({k: json.dumps(v) if not isinstance(v, str) else v for k, v in run.settings.items()})
    base.update(dict.fromkeys(k for k in keys if k not in run.settings))
    empty = dict.fromkeys(SUMMARY_COLUMNS[1:-1])
    try:
        loaded = load_run(out_dir / run.name)
    except KtiwError:
        loaded = None
    per_seed = {s["seed"]: s for s in (loaded.summary.get("seeds", []) if loaded else [])}
    finished = bool(loaded and loaded.summary.get("finished"))
    rows = []
    for seed in run.seeds:
        failed = status.startswith("failed")
        row = {**base, "seed": seed, "status": "failed" if failed else "finished"}
        row["error"] = status.removeprefix("failed: ") if failed else None
        s = per_seed.get(seed)
        if loaded is None or s is None or not finished:
            row.update(empty)
            if not failed:
                row["status"] = "unfinished"
            rows.append(row)
            continue
        steps, attn = loaded.curve(seed, "attn_mass")  # takeoff: gold attention mass 1/2
        takeoff = first_reach(steps, attn, HALF) if len(steps) else math.inf
        final = s.get("final_token_acc")
        row.update(
            success=int(bool(s.get("reached_95")) and not s.get("diverged")),
            step_95=s.get("step_95"),
            takeoff_step=int(takeoff) if math.isfinite(takeoff) else None,
            final_token_acc=None if final is None or not math.isfinite(final) else round(float(final), 6),
            diverged=int(bool(s.get("diverged"))),
        )
        rows.append(row)
    return rows


def write_csv(path: Path, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> Path:
    """Write ``sweep.csv`` atomically (empty cell for ``None``)."""
    columns = [
        "run",
        "spec",
        "model",
        "uniform",
        *[k for k in keys if k != "uniform"],
        "seed",
        *SUMMARY_COLUMNS,
    ]
    from ktiw.empirics.runfiles import writing

    tmp = path.with_name(path.name + ".tmp")
    with writing(path, tmp):  # disk full: one line, the last sweep.csv kept
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, columns, extrasaction="ignore")
            w.writeheader()
            for row in rows:
                w.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})
        os.replace(tmp, path)
    return path


def run_sweep(runs: Sequence[GridRun], out_dir: Path, executor: Any, progress: bool = True) -> SweepResult:
    """Run every unfinished grid point through ``executor`` and write ``OUT/sweep.csv``.

    A ``KeyboardInterrupt`` still writes ``sweep.csv`` (finished runs only) before it propagates.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks, status = plan_tasks(runs, out_dir)
    keys = list(dict.fromkeys(k for r in runs for k in r.settings))
    try:
        for result in executor.run(tasks, progress=progress):
            status[result.name] = f"failed: {result.error}" if result.error else result.how
    finally:
        rows = [row for r in runs for row in seed_rows(r, out_dir, status[r.name], keys)]
        path = write_csv(out_dir / SWEEP_CSV, rows, keys)
    return SweepResult(list(runs), status, rows, path, keys)


def grid_summary(result: SweepResult) -> list[dict[str, Any]]:
    """One line per (spec, values of the ``--set`` keys that vary): seeds, successes, median
    takeoff step (``None`` when half or more never take off) and mean final token accuracy,
    over finished seeds."""
    varying = [k for k in result.keys if len({str(r.get(k)) for r in result.rows}) > 1]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in result.rows:
        settings = ", ".join(f"{k}={row[k]}" for k in varying if row.get(k) is not None)
        groups.setdefault((row["spec"], settings), []).append(row)
    out = []
    for (spec, settings), rows in groups.items():
        done = [r for r in rows if r["status"] == "finished"]
        takeoffs = [math.inf if r["takeoff_step"] is None else r["takeoff_step"] for r in done]
        median = median_or_inf(takeoffs) if takeoffs else math.inf
        accs = [r["final_token_acc"] for r in done if r["final_token_acc"] is not None]
        out.append(
            {
                "spec": spec,
                "settings": settings,
                "seeds": len(rows),
                "finished": len(done),
                "success": sum(r["success"] for r in done),
                "median_takeoff": median if math.isfinite(median) else None,
                "mean_final_acc": float(np.mean(accs)) if accs else None,
            }
        )
    return out
