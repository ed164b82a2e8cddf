"""`ktiw train`: train many seeds of a model on a distribution and record a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ktiw.core.errors import KtiwError

from . import data_options as do
from . import training_options as to
from .errors import fail
from .options import AllowLargeOption, long_work, parse_key_values
from .training_options import QuietOption, ThreadsOption, UniformOption, parse_seeds, training_values

SEED_PATHS = {
    "vmap": "torch.vmap over stacked parameters",
    "loop": "a loop over seeds (an op has no vmap rule)",
}


def seed_path(run_dir: Path) -> str | None:
    """How a single-seed module's seeds were trained (``vmap``/``loop``), ``None`` for the
    models written over stacked seeds."""
    import json

    try:
        path = json.loads((Path(run_dir) / "config.json").read_text()).get("seed_path")
    except (OSError, ValueError):
        return None
    return path if path in SEED_PATHS else None


def default_out(spec: str | None, data: str | None, model: str, uniform: bool) -> Path:
    """``ktiw-runs/<spec or data file>-<model>[-uniform]`` (``-2``, ``-3``, ... when taken): the
    same names ``ktiw verify`` gives its runs."""
    from ktiw.runs.rundir import TRAIN_RUNS, fresh_dir, run_label, run_name

    return fresh_dir(TRAIN_RUNS, run_name(run_label(spec, data), model, uniform))


def _preset_help() -> str:
    from ktiw.config.presets import presets_for

    models = ("lstm", "transformer", "toy", "multihead", "classifier")
    per_model = "; ".join(f"{m}: {' | '.join(presets_for(m))}" for m in models)
    return f"defaults for the options below, per --model ({per_model})"


PRESET_HELP = _preset_help()


def preset_summary() -> str:
    """The values ``--preset`` fills in, per preset and model, for ``train --help``."""
    from ktiw.config.presets import PRESETS

    lines = []
    for (exp, _, name), p in PRESETS.items():
        t = p.training
        opts = ", ".join(f"{k} {v}" for k, v in t.model_config.items())
        lines.append(
            f"{name} / {t.model} (as `ktiw verify --experiment {exp}`): seeds {t.seeds}, steps {t.steps}, "
            f"batch {t.batch_size}, lr {t.lr:g}, eval every {t.eval_every} on {t.eval_samples} samples"
            + (f", {opts}" if opts else "")
        )
    return "\n\n".join(lines)


RESUME_FIELDS = {
    "model": "model",
    "uniform": "uniform",
    "preset": "preset",
    "steps": "steps",
    "seeds": "seeds",
    "batch_size": "batch_size",
    "lr": "lr",
    "eval_every": "eval_every",
    "eval_samples": "eval_samples",
    "probe_every": "probe_every",
    "checkpoint_every": "checkpoint_every",
    "stop_at": "stop_at",
    "proxy_steps": "proxy_steps",
    "hidden": "model_config.hidden",
    "layers": "model_config.layers",
    "bidirectional": "model_config.bidirectional",
    "heads": "model_config.heads",
    "toy_init": "model_config.init",
    "toy_eps": "model_config.eps",
    "toy_sigma": "model_config.sigma",
    "optimizer": "optimizer",
    "momentum": "momentum",
    "device": "device",
    "dtype": "dtype",
    "precision": "precision",
    "threads": "threads",
}
"""``ktiw train`` options that name a training config field (``--opt KEY=V``: ``model_config.KEY``)."""
RESUME_NEVER = {
    "init": "a continued run keeps the start it was trained from",
    "out": "--resume writes into the run it continues; copy that folder to the new place and resume the copy",
    **dict.fromkeys(
        ("fmt", "input_col", "output_col", "text_col", "label_col", "tokenizer", "max_vocab", "max_len"),
        "it reads --data, which --resume takes from the run",
    ),
}


def resume_options(ctx: typer.Context, values: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """The options given on the command line with ``--resume``, as ``--flag -> (config field,
    value)`` for :func:`ktiw.empirics.resume.resume` (which applies ``--steps``/``--threads``
    and refuses any other that differs from the run's record); ``--out`` and the data options
    are refused here, in one line."""
    out: dict[str, tuple[str, Any]] = {}
    for param in ctx.command.params:
        name = param.name or ""
        source = ctx.get_parameter_source(name)
        if getattr(source, "name", "") not in ("COMMANDLINE", "ENVIRONMENT"):  # typer vendors click's enum
            continue
        flag = param.opts[0] if param.opts else name
        value = values.get(name)
        if name in RESUME_NEVER:
            here = Path(values["resume"]).resolve()
            if name == "out" and value is not None and Path(value).resolve() == here:
                continue  # --out naming the resumed run itself says nothing new
            raise KtiwError(f"{flag} cannot be given with --resume: {RESUME_NEVER[name]}")
        if name == "opt":
            for key, val in parse_key_values(value or [], "--opt").items():
                out[f"--opt {key}"] = (f"model_config.{key}", val)
        elif name in RESUME_FIELDS:
            out[flag] = (RESUME_FIELDS[name], parse_seeds(value) if name == "seeds" else value)
    return out


@do.with_data_options
@to.with_training_options(to.TRAIN_OPTIONS)
def train(
    ctx: typer.Context,
    spec: Annotated[
        str | None, typer.Argument(metavar="SPEC", help="distribution spec, e.g. subset:L=40,V=60")
    ] = None,
    model: Annotated[
        str,
        typer.Option(help=to.MODEL_HELP),
    ] = "lstm",
    uniform: UniformOption = False,
    preset: Annotated[str, typer.Option(help=PRESET_HELP)] = "quick",
    data: do.TrainData = None,
    data_options: dict[str, Any] | None = None,  # how --data is read: do.DATA_OPTIONS
    options: dict[str, Any] | None = None,  # the training options: to.TRAIN_OPTIONS
    device: Annotated[str, typer.Option(help="cpu | cuda | auto")] = "auto",
    threads: ThreadsOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="run directory [default: ktiw-runs/<spec>-<model>[-uniform], -2, -3, ... when that exists]"
        ),
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="continue this run directory from its checkpoint")
    ] = None,
    quiet: QuietOption = False,
    allow_large: AllowLargeOption = False,
) -> None:
    """Train S seeds as one batched computation; write curves, probes, checkpoint, summary."""
    from rich.console import Console

    from ktiw.empirics import resume as rs
    from ktiw.empirics import trainer as tr
    from ktiw.empirics.train_config import TrainConfig

    options, data_options = options or {}, data_options or {}
    console = Console(highlight=False)
    if resume is not None:
        if spec is not None or data is not None or options.get("precision") is not None:
            raise KtiwError(
                "--resume takes every setting from the run directory; do not give SPEC, --data or --precision"
            )
        run_dir = resume
        given = resume_options(ctx, {**locals(), **options, **data_options})
        runner: Any = lambda: rs.resume(resume, progress=not quiet, options=given)  # noqa: E731
    else:
        if spec is None and data is None:
            raise KtiwError("give a distribution SPEC (see `ktiw families`) or --data FILE")
        if spec is not None and data is not None:
            raise KtiwError("give either SPEC or --data, not both")
        cfg = TrainConfig(
            spec=spec,
            data=None if data is None else do.data_source(data, **data_options),
            model=model,
            uniform=uniform,
            preset=preset,
            device=device,
            threads=threads,
            **training_values(preset, model, "train", options),
        )
        cfg.validate()
        run_dir = out if out is not None else default_out(spec, data, model, uniform)
        runner = lambda: tr.train(cfg, run_dir, progress=not quiet)  # noqa: E731
    try:
        with long_work(allow_large):
            runner()
    except KeyboardInterrupt:
        raise fail(
            f"interrupted; results so far kept in {run_dir} (continue with --resume {run_dir})"
        ) from None
    console.print(success_line(run_dir), markup=False)
    path = seed_path(run_dir)
    if path is not None:
        console.print(f"seeds trained by {SEED_PATHS[path]} (seed_path {path})", markup=False)
    console.print(
        f"results in {run_dir}  (curves.csv, summary.json, probes/, checkpoint.pt)", markup=False
    )


def success_line(run_dir: Path) -> str:
    """``k of S seeds reached 95% token accuracy (median step N)``, from the run's summary (the
    success criterion of ``ktiw verify``: reached and not diverged)."""
    import json

    from ktiw.empirics.curves import SUCCESS_ACCURACY

    seeds = json.loads((Path(run_dir) / "summary.json").read_text()).get("seeds", [])
    ok = [s for s in seeds if s.get("reached_95") and not s.get("diverged")]
    line = f"{len(ok)} of {len(seeds)} seeds reached {SUCCESS_ACCURACY:.0%} token accuracy"
    steps = sorted(s["step_95"] for s in ok if s.get("step_95") is not None)
    if steps:
        mid = len(steps) // 2
        median = steps[mid] if len(steps) % 2 else (steps[mid - 1] + steps[mid]) / 2
        line += f" (median step {median:g})"
    diverged = sum(bool(s.get("diverged")) for s in seeds)
    return line + (f"; {diverged} diverged" if diverged else "")


train.__doc__ = (
    f"{train.__doc__}\n\n--preset fills every option not given, with the training block of the "
    f"experiment that trains the model (the toy model takes the copy block):\n\n{preset_summary()}"
)
