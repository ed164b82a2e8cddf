"""`ktiw verify`: run the predictions, train (or reuse) the models, compare, give verdicts.

All the science is in :mod:`ktiw.comparator`; this module only parses options and prints.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from . import data_options as do
from .executors import CpusPerTaskOption, ExecutorOption, GpusPerTaskOption, RayAddressOption
from .training_options import (
    FreshOption,
    PrecisionOption,
    QuietOption,
    SeedsOption,
    StepsOption,
    ThreadsOption,
    verify_seeds,
)

HELP = (
    "Hold trained models against the theory's predictions and print a verdict per check.\n\n"
    "A check passes only when its statistical test rejects the null at the level in "
    "comparator/thresholds.py; too little evidence is 'inconclusive'; "
    "'reported' rows carry no prediction.\n\n"
    "Exit codes: 0 nothing refuted and at least one check passes; 1 a prediction is refuted; "
    "2 bad input; 3 everything inconclusive.\n\n"
    "Runs: finished runs under OUT/runs with the same settings are reused and interrupted ones "
    "resumed, as ktiw sweep does; --fresh trains every run again into new run directories.\n\n"
    "`ktiw presets` lists every preset field (--set KEY=VALUE changes one)."
)


@do.with_data_options
def verify(
    specs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="SPEC",
            help="distributions to verify (default: the preset's; copy: the headline contrast, "
            "permutation vs subset copying; classification: one keyword:... spec)",
            show_default=False,
        ),
    ] = None,
    experiment: Annotated[
        str,
        typer.Option(help="copy (six checks), multihead (rescue), classification or translation (--data)"),
    ] = "copy",
    preset: Annotated[
        str, typer.Option(help="quick (minutes on a CPU) or paper (the paper's sizes)")
    ] = "quick",
    model: Annotated[
        str | None,
        typer.Option(
            help="model to train (default: the experiment's): lstm, transformer, ... or your own "
            "MODULE:FUNCTION (docs/models.md); presets are keyed by (experiment, model, name)"
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            help="verify your own data instead of SPECs: " + do.DATA_HELP + " (copy: seq2seq pairs; "
            "classification: label<TAB>tokens or --text-col/--label-col)"
        ),
    ] = None,
    data_options: dict[str, Any] | None = None,  # how --data is read: do.DATA_OPTIONS
    seeds: SeedsOption = None,
    steps: StepsOption = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto")] = "auto",
    precision: PrecisionOption = None,
    threads: ThreadsOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="output directory (report.md, verdicts.json, figures, runs) [default: ktiw-verify]"
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="override any preset field, e.g. --set hidden=128 (repeatable; see `ktiw presets`)",
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print verdicts.json to stdout")] = False,
    fresh: FreshOption = False,
    # the default now; kept so that earlier command lines still run
    reuse: Annotated[bool, typer.Option("--reuse", hidden=True)] = False,
    quiet: QuietOption = False,
    executor: ExecutorOption = "local",
    ray_address: RayAddressOption = None,
    cpus_per_task: CpusPerTaskOption = 1,
    gpus_per_task: GpusPerTaskOption = 0,
) -> None:
    from functools import partial

    from rich.markup import escape

    from ktiw.comparator.experiments import verify as run
    from ktiw.comparator.framework import execute_runs
    from ktiw.comparator.report import outcome_line, verdict_notes, verdict_table
    from ktiw.runs.executor import make_executor

    from .options import parse_key_values

    if out is not None:  # before an executor (Ray) is started; the driver checks it again for API callers
        from ktiw.comparator.framework import check_report_dir

        check_report_dir(Path(out))
    console = Console(stderr=json_output, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=json_output, highlight=False, width=120)  # a pipe or file: 80 is narrow
    tasks = make_executor(
        executor, ray_address=ray_address, cpus_per_task=cpus_per_task, gpus_per_task=gpus_per_task
    )
    with tasks:
        result = run(
            experiment,
            preset,
            specs=specs or (),
            data=None if data is None else Path(do.data_source(data, **(data_options or {}))),
            seeds=verify_seeds(seeds),
            steps=steps,
            overrides=parse_key_values(set_ or [], "--set"),
            precision=precision,
            device=tasks.resolve_device(device),
            threads=threads,
            out_dir=out,
            reuse=not fresh,
            progress=not (json_output or quiet),
            console=console,
            executor=partial(execute_runs, executor=tasks),
            model=model,
        )
    if json_output:
        typer.echo((result.out_dir / "verdicts.json").read_text().rstrip())
    else:
        title = f"ktiw verify --experiment {experiment} ({result.meta['preset']})"
        if model is not None:
            title += f" --model {model}"
        console.print(verdict_table(result.verdicts, title=title))  # the Markdown is in report.md
        for note in verdict_notes(result.verdicts):
            console.print(note)
        console.print(escape(f"{outcome_line(result)}; report: {result.out_dir / 'report.md'}"))
    raise typer.Exit(result.exit_code)


verify.__doc__ = HELP
