"""`ktiw families`: list the distribution families a spec may name."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ktiw.data.families import FAMILIES


def families() -> None:
    """List the distribution families, their keys and defaults."""
    table = Table(title="distribution families (spec: family:key=value,...)")
    table.add_column("family", style="bold")
    table.add_column("keys")
    table.add_column("what it is")
    for name in sorted(FAMILIES):
        cls = FAMILIES[name]
        keys = ", ".join(
            p.name
            if p.required
            else f"{p.name}={p.default}" + (f" ({'|'.join(p.choices)})" if p.choices else "")
            for p in cls.params
        )
        table.add_row(name, keys, cls.summary)
    Console().print(table)
