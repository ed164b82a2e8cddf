"""`ktiw verify`: run the predictions, train (or reuse) the models, compare, give verdicts.

Exit code 0 when every check passes, 1 when the data refute a prediction, 2 for bad input.
All the science is in :mod:`ktiw.comparator`; this module only parses options and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

EXPERIMENTS = ("copy", "multihead", "classification")
"""``copy``: the six checks of the copying experiment; ``multihead``: the multi-head rescue;
``classification``: attention to salient words (BRIEF section 3)."""


def verify(
    specs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[SPEC]...",
            help="distributions to verify (default: the headline contrast, permutation vs subset copying; "
            "classification: one keyword:... spec)",
            show_default=False,
        ),
    ] = None,
    experiment: Annotated[
        str, typer.Option(help="copy (the six checks), multihead (rescue) or classification")
    ] = "copy",
    preset: Annotated[
        str, typer.Option(help="sizes: quick (minutes on a CPU) or paper (BRIEF section 3)")
    ] = "quick",
    seeds: Annotated[
        int | None,
        typer.Option(
            help="seeds per distribution (multihead: combinations per group; default: the preset's)"
        ),
    ] = None,
    steps: Annotated[int | None, typer.Option(help="training steps (default: the preset's)")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto")] = "auto",
    threads: Annotated[
        int,
        typer.Option(help="CPU threads for torch; 1 is fastest for these small models on a busy CPU"),
    ] = 1,
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
            help="override any field of the experiment's preset, e.g. --set hidden=128 (repeatable)",
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print verdicts.json to stdout")] = False,
    reuse: Annotated[
        bool, typer.Option(help="reuse finished run directories under OUT/runs that have the same config")
    ] = False,
) -> None:
    """Hold trained models against the theory's predictions and print a verdict per check."""
    import torch

    from ktiw.comparator.report import verdict_table
    from ktiw.theory.errors import KtiwError

    from .options import parse_key_values

    if experiment not in EXPERIMENTS:
        raise KtiwError(f"unknown experiment {experiment!r}; valid experiments: {', '.join(EXPERIMENTS)}")
    if threads < 1:
        raise KtiwError(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
    sets = parse_key_values(set_ or [], "--set")
    console = Console(stderr=json_output)
    common = {"device": device, "reuse": reuse, "progress": not json_output, "console": console}
    out_dir = (
        out
        if out is not None
        else Path("ktiw-verify" if experiment == "copy" else f"ktiw-verify-{experiment}")
    )
    if experiment == "copy":
        from ktiw.comparator.pipeline import run_verify

        result = run_verify(
            specs or None, preset=preset, seeds=seeds, steps=steps, out_dir=out_dir, overrides=sets, **common
        )
    elif experiment == "multihead":
        from ktiw.comparator.multihead import run_multihead

        if specs:
            raise KtiwError("the multihead experiment takes no SPEC (its preset fixes the permutation task)")
        overrides = sets | {k: v for k, v in (("combinations", seeds), ("steps", steps)) if v is not None}
        result = run_multihead(preset, out_dir=out_dir, overrides=overrides, **common)
    else:
        from ktiw.comparator.classification import run_classification

        if specs and len(specs) > 1:
            raise KtiwError("the classification experiment takes at most one SPEC (a keyword:... spec)")
        overrides = sets | {k: v for k, v in (("seeds", seeds), ("steps", steps)) if v is not None}
        spec = specs[0] if specs else None
        result = run_classification(preset, spec=spec, out_dir=out_dir, overrides=overrides, **common)
    if json_output:
        typer.echo((result.out_dir / "verdicts.json").read_text().rstrip())
    else:
        title = f"ktiw verify --experiment {experiment} ({result.meta.get('preset', preset)})"
        console.print(verdict_table(result.verdicts, title=title))
        outcome = "every prediction holds" if result.passed else "the data refute a prediction"
        console.print(
            f"{outcome}; report: {result.out_dir / 'report.md'} (wall {result.meta['wall_time_s']:.0f} s)"
        )
    raise typer.Exit(result.exit_code)
