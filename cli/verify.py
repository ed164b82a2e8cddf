"""`ktiw verify`: run the predictions, train (or reuse) the models, compare, give verdicts.

Exit code 0 when every check passes, 1 when the data refute a prediction, 2 for bad input.
All the science is in :mod:`ktiw.comparator`; this module only parses options and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def verify(
    specs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[SPEC]...",
            help="distributions to verify (default: the headline contrast, permutation vs subset copying)",
            show_default=False,
        ),
    ] = None,
    preset: Annotated[
        str, typer.Option(help="sizes: quick (minutes on a CPU) or paper (BRIEF section 3)")
    ] = "quick",
    seeds: Annotated[int | None, typer.Option(help="seeds per distribution (default: the preset's)")] = None,
    steps: Annotated[int | None, typer.Option(help="training steps (default: the preset's)")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto")] = "auto",
    out: Annotated[
        Path, typer.Option(help="output directory (report.md, verdicts.json, figures, runs)")
    ] = Path("ktiw-verify"),
    json_output: Annotated[bool, typer.Option("--json", help="print verdicts.json to stdout")] = False,
    reuse: Annotated[
        bool, typer.Option(help="reuse finished run directories under OUT/runs that have the same config")
    ] = False,
) -> None:
    """Hold trained models against the theory's predictions and print a verdict per check."""
    from ktiw.comparator.pipeline import run_verify
    from ktiw.comparator.report import verdict_table

    console = Console(stderr=json_output)
    result = run_verify(
        specs or None,
        preset=preset,
        seeds=seeds,
        steps=steps,
        device=device,
        out_dir=out,
        reuse=reuse,
        progress=not json_output,
        console=console,
    )
    if json_output:
        typer.echo((result.out_dir / "verdicts.json").read_text().rstrip())
    else:
        console.print(verdict_table(result.verdicts, title=f"ktiw verify ({result.meta.get('preset')})"))
        outcome = "every prediction holds" if result.passed else "the data refute a prediction"
        console.print(
            f"{outcome}; report: {result.out_dir / 'report.md'} (wall {result.meta['wall_time_s']:.0f} s)"
        )
    raise typer.Exit(result.exit_code)
