"""`ktiw predict`: the theory's prediction for one or more distributions (no torch, no sympy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from ktiw.theory.errors import KtiwError


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def _fmt_eigs(eigs: list[float] | None) -> str:
    """``±x`` for a symmetric pair (the copy saddle), else the list."""
    if eigs is None:
        return "-"
    if len(eigs) == 2 and abs(eigs[0] + eigs[1]) <= 1e-12 * max(abs(eigs[0]), 1e-300):
        return f"±{abs(eigs[0]):.2e}"
    return ", ".join(f"{e:+.3g}" for e in eigs)


def predict(
    specs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[SPEC]...", help="distribution specs, e.g. subset:L=40,V=60", show_default=False
        ),
    ] = None,
    data: Annotated[
        list[Path] | None,
        typer.Option("--data", metavar="FILE", help="data file: input tokens<TAB>output tokens per line"),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print a JSON list instead of a table", show_default=False)
    ] = False,
    eps: Annotated[
        float, typer.Option("--eps", metavar="EPS", help="symmetry-breaking size for the saddle case")
    ] = 1e-3,
    derivation: Annotated[
        bool, typer.Option("--derivation", help="print the derivation (Markdown + LaTeX)", show_default=False)
    ] = False,
) -> None:
    """Predict whether KTIW and attention will be learned on each distribution, how fast, and why.

    Times are gradient-flow time of the toy model's token-mean loss (learning rate x steps).
    """
    from ktiw.theory.datafile import load_pairs
    from ktiw.theory.families import from_spec
    from ktiw.theory.predict import predict as predict_one

    if not specs and not data:
        raise KtiwError(
            "give at least one distribution SPEC or --data FILE (e.g. ktiw predict subset:L=40,V=60)"
        )
    dists = [from_spec(s) for s in specs or []] + [load_pairs(p) for p in data or []]
    if derivation:
        from ktiw.theory.derivation import derivation_for

        typer.echo("\n\n".join(derivation_for(d, eps=eps) for d in dists))
        return
    preds = [predict_one(d, eps=eps) for d in dists]
    if len(preds) > 1:
        preds.sort(key=lambda p: (p.takeoff_time is None, p.takeoff_time or 0.0))
    if as_json:
        typer.echo(json.dumps([p.to_dict() for p in preds], indent=2))
        return
    table = Table(
        box=box.SIMPLE_HEAD, title=f"ktiw predict (toy model; times = lr x steps; saddle start eps={eps:g})"
    )
    table.add_column("spec", no_wrap=True)
    table.add_column("regime")
    for name in ("KTIW margin", "KTIW velocity", "takeoff", "saddle eigenvalues", "tied"):
        table.add_column(name, justify="right", min_width=len("±6.25e-04") if "eigen" in name else None)
    colour = {"drift": "green", "saddle": "red", "ambiguous": "yellow"}
    for p in preds:
        table.add_row(
            p.spec,
            f"[{colour[p.regime]}]{p.regime}[/]",
            _fmt(p.ktiw_margin),
            _fmt(p.initial_ktiw_velocity),
            "-" if p.takeoff_time is None else f"{p.takeoff_time:.0f}",
            _fmt_eigs(p.fixed_point_eigenvalues),
            f"{p.ambiguity:.0%}",
        )
    console = Console()
    console.print(table)
    for p in preds:
        console.print(f"[bold]{p.spec}[/]: {p.reason}", highlight=False)
