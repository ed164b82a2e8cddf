"""`ktiw train`: train many seeds of a model on a distribution and record a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ktiw.core.errors import KtiwError
from ktiw.core.limits import MAX_SEEDS

from . import data_options as do
from .errors import fail
from .options import AllowLargeOption, long_work, parse_key_values
from .training_options import PrecisionOption, ThreadsOption


def parse_seeds(text: str) -> list[int]:
    """``"20"`` -> seeds 0..19; ``"3,5,7"`` (or ``"5,"``) -> exactly those seeds."""
    text = text.strip()
    try:
        if "," in text:
            seeds = [int(x) for x in text.split(",") if x.strip()]
        else:
            count = int(text)
            if not 1 <= count <= MAX_SEEDS:
                raise KtiwError(f"--seeds count must be >= 1 (and at most {MAX_SEEDS}), got {count}")
            seeds = list(range(count))
    except ValueError:
        raise KtiwError(f"--seeds must be a count (20) or a comma list (3,5,7), got {text!r}") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise KtiwError(f"--seeds must be distinct non-negative integers, got {text!r}")
    return seeds


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


def default_out(label: str, model: str, uniform: bool) -> Path:
    """``runs/<label>-<model>[-uniform]`` (``-2``, ``-3``, ... when taken): the same names
    ``ktiw verify`` gives its runs."""
    from ktiw.runs.rundir import fresh_dir, run_name

    return fresh_dir(Path("runs"), run_name(label, model, uniform))


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
    "out": "--resume writes into the run it continues; copy that folder to the new place and resume the copy",
    **dict.fromkeys(
        ("fmt", "input_col", "output_col", "text_col", "label_col", "tokenizer", "max_vocab", "max_len"),
        "it reads --data, which --resume takes from the run",
    ),
}


def resume_options(ctx: typer.Context, values: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """The options given on the command line with ``--resume``, as ``--flag -> (config field,
    value)`` for :func:`ktiw.empirics.trainer.resume` (which applies ``--steps``/``--threads``
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


def train(
    ctx: typer.Context,
    spec: Annotated[str | None, typer.Argument(help="distribution spec, e.g. subset:L=40,V=60")] = None,
    model: Annotated[
        str,
        typer.Option(
            help="lstm | transformer | toy | multihead | classifier, or your own MODULE:FUNCTION "
            "(docs/models.md)"
        ),
    ] = "lstm",
    uniform: Annotated[bool, typer.Option("--uniform", help="attention scores forced to zero")] = False,
    preset: Annotated[str, typer.Option(help="quick | paper: defaults for the options below")] = "quick",
    data: Annotated[
        str | None,
        typer.Option(
            help=do.DATA_HELP + " instead of SPEC (classifier: label<TAB>tokens or --text-col/--label-col)"
        ),
    ] = None,
    fmt: do.Format = None,
    input_col: do.InputCol = None,
    output_col: do.OutputCol = None,
    text_col: do.TextCol = None,
    label_col: do.LabelCol = None,
    tokenizer: do.Tokenizer = None,
    max_vocab: do.MaxVocab = None,
    max_len: do.MaxLen = None,
    steps: Annotated[int | None, typer.Option(help="optimiser steps")] = None,
    seeds: Annotated[str | None, typer.Option(help="a count (20) or a list (3,5,7)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="fresh samples per step")] = None,
    lr: Annotated[float | None, typer.Option(help="learning rate")] = None,
    eval_every: Annotated[int | None, typer.Option(help="evaluate every N steps")] = None,
    eval_samples: Annotated[int | None, typer.Option(help="fixed evaluation samples")] = None,
    probe_every: Annotated[int | None, typer.Option(help="save probe arrays every N steps (0: last)")] = None,
    checkpoint_every: Annotated[int, typer.Option(help="checkpoint every N steps")] = 50,
    stop_at: Annotated[
        float | None,
        typer.Option(metavar="ACC", help="stop each seed once its evaluated token accuracy reaches ACC"),
    ] = None,
    proxy_steps: Annotated[int, typer.Option(help="bag-of-words proxy steps (0: skip beta_px)")] = 200,
    hidden: Annotated[int | None, typer.Option(help="lstm hidden size")] = None,
    layers: Annotated[int | None, typer.Option(help="lstm layers")] = None,
    bidirectional: Annotated[
        bool, typer.Option("--bidirectional", help="lstm: bidirectional encoder")
    ] = False,
    heads: Annotated[int | None, typer.Option(help="multihead: number of attention heads")] = None,
    opt: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY=VALUE", help="any model config field, e.g. --opt embedding=32 (repeatable)"
        ),
    ] = None,
    toy_init: Annotated[str | None, typer.Option(help="toy: zero | eps | normal")] = None,
    toy_eps: Annotated[float | None, typer.Option(help="toy: eps of the eps init")] = None,
    toy_sigma: Annotated[float | None, typer.Option(help="toy: std of the normal init")] = None,
    optimizer: Annotated[str, typer.Option(help="adam | sgd")] = "adam",
    momentum: Annotated[float, typer.Option(help="sgd: heavy-ball momentum")] = 0.0,
    device: Annotated[str, typer.Option(help="cpu | cuda | auto")] = "auto",
    dtype: Annotated[str, typer.Option(help="float32 | float64")] = "float32",
    precision: PrecisionOption = None,
    threads: ThreadsOption = None,
    out: Annotated[
        Path | None, typer.Option(help="run directory (default runs/<spec>-<model>-<time>)")
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="continue this run directory from its checkpoint")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
    allow_large: AllowLargeOption = False,
) -> None:
    """Train S seeds as one batched computation; write curves, probes, checkpoint, summary."""
    from rich.console import Console

    from ktiw.config.presets import training_for
    from ktiw.empirics import trainer as tr

    console = Console(highlight=False)
    if resume is not None:
        if spec is not None or data is not None or precision is not None:
            raise KtiwError(
                "--resume takes every setting from the run directory; do not give SPEC, --data or --precision"
            )
        run_dir = resume
        options = resume_options(ctx, locals())
        runner: Any = lambda: tr.resume(resume, progress=not quiet, options=options)  # noqa: E731
    else:
        if spec is None and data is None:
            raise KtiwError("give a distribution SPEC (see `ktiw families`) or --data FILE")
        if spec is not None and data is not None:
            raise KtiwError("give either SPEC or --data, not both")
        values = training_for(preset, model).train_values()
        mc: dict[str, Any] = values.pop("model_config")
        named = (
            ("hidden", hidden),
            ("layers", layers),
            ("heads", heads),
            ("init", toy_init),
            ("eps", toy_eps),
            ("sigma", toy_sigma),
        )
        for key, val in named:
            if val is not None:
                mc[key] = val
        mc.update(parse_key_values(opt or [], "--opt"))
        if bidirectional:
            mc["bidirectional"] = True
        given = {
            "steps": steps,
            "seeds": None if seeds is None else parse_seeds(seeds),
            "batch_size": batch_size,
            "lr": lr,
            "eval_every": eval_every,
            "eval_samples": eval_samples,
            "stop_at": stop_at,
            "precision": precision,
        }
        values.update({k: v for k, v in given.items() if v is not None})
        cfg = tr.TrainConfig(
            spec=spec,
            data=None
            if data is None
            else do.data_source(
                data, fmt, input_col, output_col, text_col, label_col, tokenizer, max_vocab, max_len
            ),
            model=model,
            uniform=uniform,
            preset=preset,
            probe_every=probe_every,
            checkpoint_every=checkpoint_every,
            proxy_steps=proxy_steps,
            device=device,
            dtype=dtype,
            threads=threads,
            model_config=mc,
            optimizer=optimizer,
            momentum=momentum,
            **values,
        )
        cfg.validate()
        label = spec if spec is not None else Path(str(data).partition("?")[0]).stem
        run_dir = out if out is not None else default_out(label, model, uniform)
        runner = lambda: tr.train(cfg, run_dir, progress=not quiet)  # noqa: E731
    try:
        with long_work(allow_large):
            runner()
    except KeyboardInterrupt:
        raise fail(
            f"interrupted; results so far kept in {run_dir} (continue with --resume {run_dir})"
        ) from None
    path = seed_path(run_dir)
    if path is not None:
        console.print(f"seeds trained by {SEED_PATHS[path]} (seed_path {path})", markup=False)
    console.print(
        f"results in {run_dir}  (curves.csv, summary.json, probes/, checkpoint.pt)", markup=False
    )


train.__doc__ = (
    f"{train.__doc__}\n\n--preset fills every option not given, with the training block of the "
    f"experiment that trains the model (the toy model takes the copy block):\n\n{preset_summary()}"
)
