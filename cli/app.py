"""The `ktiw` command line: a thin typer app; every command lives in its own module
and holds no science (it calls ``ktiw.theory`` / ``ktiw.empirics``).

Commands import their heavy dependencies (torch) inside the function body so that
``ktiw predict`` never loads torch.
"""

from __future__ import annotations

import typer

from . import families as families_cmd
from .errors import user_errors

app = typer.Typer(
    name="ktiw",
    help="Predict and verify whether a training distribution lets single-head attention learn.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """ktiw: KTIW (knowledge to translate individual words) drives attention learning."""


app.command("families")(user_errors(families_cmd.families))


def main() -> None:
    """Console-script entry point."""
    app()
