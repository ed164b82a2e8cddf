"""ktiw.cli: the thin typer command line."""
