"""`ktiw plot RUN_DIR...`: draw runs' curves as PNG files, overlaid when several are given."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def plot(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(
            metavar="RUN_DIR...",
            help="run directories written by `ktiw train` (several: drawn on one figure)",
        ),
    ],
    out: Annotated[
        Path | None, typer.Option(help="where to put the PNGs (default RUN_DIR/plots; several runs: ./plots)")
    ] = None,
) -> None:
    """Plot token accuracy, attention accuracy, beta accuracy and loss with the chance level;
    one run: one line per seed; several (e.g. normal vs --uniform): one colour each, with their mean."""
    from ktiw.runs.plots import plot_runs
    from ktiw.runs.rundir import load_run

    for path in plot_runs([load_run(d) for d in run_dirs], out):
        print(path)
