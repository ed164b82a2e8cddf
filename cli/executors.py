"""The executor options ``ktiw sweep`` and ``ktiw verify`` share (one definition, one help text);
the executors themselves are :mod:`ktiw.runs.executor`."""

from __future__ import annotations

from typing import Annotated

import typer

ExecutorOption = Annotated[
    str, typer.Option("--executor", help="where the trainings run: local (this process) or ray")
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="Ray cluster to join, HOST:PORT or auto (default: RAY_ADDRESS, else a new local Ray)",
    ),
]
CpusPerTaskOption = Annotated[float, typer.Option("--cpus-per-task", help="CPUs each Ray task asks for")]
GpusPerTaskOption = Annotated[float, typer.Option("--gpus-per-task", help="GPUs each Ray task asks for")]
