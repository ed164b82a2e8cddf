"""`ktiw plot RUN_DIR`: draw a run's curves as PNG files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def plot(
    run_dir: Annotated[Path, typer.Argument(help="a run directory written by `ktiw train`")],
    out: Annotated[Path | None, typer.Option(help="where to put the PNGs (default RUN_DIR/plots)")] = None,
) -> None:
    """Plot accuracy, attention accuracy, beta accuracy and loss per seed."""
    from ktiw.empirics.plots import plot_run
    from ktiw.empirics.rundir import load_run

    for path in plot_run(load_run(run_dir), out):
        print(path)
