"""Training options that ``ktiw train``, ``ktiw verify`` and ``ktiw sweep`` share (one definition,
one help text)."""

from __future__ import annotations

from typing import Annotated

import typer

PRECISION_HELP = (
    "fp32 | bf16: bf16 mixed precision trains with bfloat16 matrix products (parameters, optimiser "
    "state, losses, evaluation and probes stay float32); refused where the CPU/GPU has no fast bf16 "
    "[default: the preset's, fp32]"
)

PrecisionOption = Annotated[str | None, typer.Option("--precision", metavar="fp32|bf16", help=PRECISION_HELP)]

THREADS_HELP = (
    "torch CPU threads [default: the cores idle when the run starts, at least 1 "
    "(ktiw.empirics.cpu_threads); with Ray, --cpus-per-task]"
)

ThreadsOption = Annotated[int | None, typer.Option("--threads", help=THREADS_HELP)]
