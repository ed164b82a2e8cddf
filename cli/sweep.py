"""`ktiw sweep`: train a grid (specs x ``--set`` values x seeds), one task per training, on the
local executor or on Ray; write the run directories and ``sweep.csv`` under ``--out``.

Exit code 0 when every run finished, 1 when a task failed (re-run the same command to complete
it), 2 for bad input.  The grid, resuming and ``sweep.csv`` live in :mod:`ktiw.runs.sweep`,
the executors in :mod:`ktiw.runs.executor`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from . import data_options as do
from . import training_options as to
from .executors import CpusPerTaskOption, ExecutorOption, GpusPerTaskOption, RayAddressOption
from .options import AllowLargeOption
from .training_options import QuietOption, ThreadsOption, UniformOption, training_values


@do.with_data_options
@to.with_training_options(to.TRAIN_OPTIONS)
def sweep(
    specs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="SPEC",
            help="distributions, e.g. permutation:L=8 subset:L=8,V=12 (or --data)",
            show_default=False,
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=V1,V2,...",
            help="one grid axis: a training field (lr, batch_size, steps, ...) or a model field "
            "(hidden, ...) and its values (repeatable)",
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="output directory: one run directory per task + sweep.csv")
    ] = Path("ktiw-sweep"),
    model: Annotated[str, typer.Option(help=to.MODEL_HELP)] = "lstm",
    preset: Annotated[
        str, typer.Option(help="quick | paper: the settings neither --set nor an option below gives")
    ] = "quick",
    uniform: UniformOption = False,
    data: do.TrainData = None,
    data_options: dict[str, Any] | None = None,  # how --data is read: do.DATA_OPTIONS
    options: dict[str, Any] | None = None,  # the training options: to.TRAIN_OPTIONS
    executor: ExecutorOption = "local",
    ray_address: RayAddressOption = None,
    cpus_per_task: CpusPerTaskOption = 1,
    gpus_per_task: GpusPerTaskOption = 0,
    seeds_per_task: Annotated[int, typer.Option(help="seeds trained as one batched task")] = 1,
    device: Annotated[str, typer.Option(help="cpu | cuda | auto")] = "auto",
    threads: ThreadsOption = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="also run ktiw verify's copy experiment on the SPECs (or --data) per combination of "
            "--set values (OUT/verify/, OUT/verify.csv)",
        ),
    ] = False,
    quiet: QuietOption = False,
    allow_large: AllowLargeOption = False,
) -> None:
    """Train every grid point as one task; skip finished runs, resume half-finished ones."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ktiw.comparator.report import outcome_line
    from ktiw.comparator.sweep_verify import plan_verify, run_verify_points
    from ktiw.core.errors import KtiwError
    from ktiw.core.limits import fmt_seconds
    from ktiw.runs.executor import make_executor
    from ktiw.runs.sweep import check_grid_size, grid_summary, plan_grid, run_sweep

    from .errors import fail
    from .options import long_work, parse_key_value_lists
    axes = parse_key_value_lists(set_ or [], "--set")
    # the options `ktiw train` takes, as fixed values beside the --set grid (same names, meanings)
    options = options or {}
    base = training_values(preset, model, "sweep", options)
    if uniform:
        base["uniform"] = True
    given = to.given_fields(options) | ({"uniform"} if uniform else set())
    both = sorted(given & set(axes))
    if both:
        key = both[0]
        raise KtiwError(f"--{key.replace('_', '-')} and --set {key}=... both set {key}; give one of them")
    seed_list: list[int] = list(base.pop("seeds"))  # type: ignore[call-overload]
    ex = make_executor(
        executor, ray_address=ray_address, cpus_per_task=cpus_per_task, gpus_per_task=gpus_per_task
    )
    device = ex.resolve_device(device)
    base.update(
        model=model,
        preset=preset,
        device=device,
        # local tasks: the trainer's default (idle cores); Ray tasks: the CPUs each asked for
        threads=threads if threads is not None or executor == "local" else max(1, int(cpus_per_task)),
    )
    source = None if data is None else do.data_source(data, **(data_options or {}))
    specs = specs or []
    runs = plan_grid(specs, base, axes, seed_list, seeds_per_task, data=source)
    points = plan_verify(axes, seed_list, preset=preset, model=model) if verify else []
    console = Console(highlight=False)
    with long_work(allow_large):
        size, seconds = check_grid_size(runs)
    console.print(f"sweep: {escape(size)}; about {fmt_seconds(seconds)} of CPU time (estimated, errs long)")
    start = time.perf_counter()
    try:
        with ex, long_work(allow_large):
            result = run_sweep(runs, out, ex, progress=not quiet)
            checked = (
                run_verify_points(
                    points,
                    specs,
                    out,
                    ex,
                    preset=preset,
                    device=device,
                    threads=base["threads"],
                    precision=options.get("precision"),
                    progress=not quiet,
                    console=console,
                    data=None if source is None else Path(source),
                )
                if points and not result.failed
                else None
            )
    except KeyboardInterrupt:
        raise fail(
            f"interrupted; finished runs are in {out}/sweep.csv; run the same command to continue"
        ) from None
    wall = time.perf_counter() - start

    table = Table(title=f"ktiw sweep ({len(runs)} runs, {executor})")
    for col in ("spec", "settings", "success", "median takeoff", "mean final acc"):
        table.add_column(col, justify="left" if col in ("spec", "settings") else "right")
    for g in grid_summary(result):
        takeoff = "never" if g["median_takeoff"] is None else f"{g['median_takeoff']:.0f}"
        acc = "-" if g["mean_final_acc"] is None else f"{g['mean_final_acc']:.3f}"
        table.add_row(
            escape(g["spec"]), escape(g["settings"] or "-"), f"{g['success']}/{g['seeds']}", takeoff, acc
        )
    console.print(table)
    counts: dict[str, int] = {}
    for status in result.status.values():
        key = "failed" if status.startswith("failed") else status
        counts[key] = counts.get(key, 0) + 1
    done = ", ".join(f"{n} {k}" for k, n in counts.items())
    console.print(f"{done}; {escape(str(result.csv_path))} (wall {wall:.0f} s)")
    if checked is not None:
        verdicts, csv_path = checked
        for point, outcome in zip(points, verdicts, strict=True):
            console.print(f"verify {escape(point.name)}: {escape(outcome_line(outcome))}")
        console.print(
            f"verdicts per grid point: {escape(str(csv_path))} (reports under {escape(str(out))}/verify/)"
        )
    if result.failed:
        for name in result.failed:
            console.print(
                f"[bold red]failed:[/] {escape(name)}: {escape(result.status[name][len('failed: ') :])}"
            )
        console.print("run the same command again to complete the failed runs")
        raise typer.Exit(1)
