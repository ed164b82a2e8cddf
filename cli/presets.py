"""`ktiw presets [EXPERIMENT]`: every preset of every experiment and model, each field with its
value and meaning (the one registry, :mod:`ktiw.config.presets`)."""

from __future__ import annotations

from typing import Annotated

import typer


def presets(
    experiment: Annotated[
        str | None,
        typer.Argument(help="copy, multihead or classification (default: all)", show_default=False),
    ] = None,
) -> None:
    """List every preset field with its value and meaning (`ktiw verify --set FIELD=VALUE`
    changes one; `ktiw train --preset` uses the training block)."""
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ktiw.config.presets import PRESETS, describe, experiments, valid_keys
    from ktiw.core.errors import KtiwError

    if experiment is not None and experiment not in experiments():
        raise KtiwError(f"unknown experiment {experiment!r}; valid experiments: {', '.join(experiments())}")
    console = Console(highlight=False)
    for (exp, model, name), preset in PRESETS.items():
        if experiment not in (None, exp):
            continue
        table = Table(title=f"{exp} / {model} / {name}", box=box.SIMPLE_HEAD, title_justify="left")
        table.add_column("field", no_wrap=True)
        table.add_column("value", overflow="fold")
        table.add_column("meaning", overflow="fold")
        for field_, value, meaning in describe(preset):
            table.add_row(escape(field_), escape(value), escape(meaning))
        console.print(table)
        console.print(f"--set keys: {', '.join(valid_keys(preset))}\n")
