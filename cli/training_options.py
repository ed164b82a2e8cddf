"""Training options that ``ktiw train``, ``ktiw predict``, ``ktiw verify`` and ``ktiw sweep``
share (one definition, one help text), and their one resolution against a preset
(:func:`training_values`; :func:`run_options` for the run ``ktiw predict`` describes)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ktiw.core.errors import KtiwError
from ktiw.core.limits import MAX_SEEDS

if TYPE_CHECKING:
    from ktiw.matched.predict import RunOptions

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

MODEL_HELP = (
    "lstm | transformer | toy | multihead | classifier, or your own MODULE:FUNCTION (docs/models.md)"
)

SEEDS_HELP = "a count (16: seeds 0-15) or a list (3,5,7) [default: the preset's]"
SeedsOption = Annotated[str | None, typer.Option("--seeds", metavar="N|LIST", help=SEEDS_HELP)]

STEPS_HELP = "optimizer steps (the budget) [default: the preset's]"
StepsOption = Annotated[int | None, typer.Option("--steps", help=STEPS_HELP)]

OPTIMIZER_HELP = (
    "gd (full-batch gradient descent; ktiw predict only) | sgd | adam [default: the preset's, adam]"
)
OptimizerOption = Annotated[
    str | None, typer.Option("--optimizer", metavar="gd|sgd|adam", help=OPTIMIZER_HELP)
]

INIT_HELP = "the toy model's start: zero | eps:VALUE | normal:SIGMA [default: zero]"
InitOption = Annotated[str | None, typer.Option("--init", metavar="INIT", help=INIT_HELP)]

QuietOption = Annotated[bool, typer.Option("--quiet", help="no progress display")]

UniformOption = Annotated[bool, typer.Option("--uniform", help="attention scores forced to zero")]

FreshOption = Annotated[
    bool,
    typer.Option(
        "--fresh",
        help="train every run again, into new run directories (default: reuse finished runs with the "
        "same settings, resume interrupted ones)",
    ),
]


BatchSizeOption = Annotated[int | None, typer.Option(help="fresh samples per step [default: the preset's]")]
LrOption = Annotated[float | None, typer.Option(help="learning rate [default: the preset's]")]
EvalEveryOption = Annotated[int | None, typer.Option(help="evaluate every N steps [default: the preset's]")]
EvalSamplesOption = Annotated[int | None, typer.Option(help="evaluation samples [default: the preset's]")]
ProbeEveryOption = Annotated[int | None, typer.Option(help="save probe arrays every N steps (0: last)")]
CheckpointEveryOption = Annotated[int | None, typer.Option(help="checkpoint every N steps [default: 50]")]
StopAtOption = Annotated[
    float | None,
    typer.Option(metavar="ACC", help="stop each seed once its evaluated token accuracy reaches ACC"),
]
ProxyStepsOption = Annotated[
    int | None, typer.Option(help="bag-of-words proxy steps (0: skip beta_px) [default: 200]")
]
HiddenOption = Annotated[int | None, typer.Option(help="lstm hidden size")]
LayersOption = Annotated[int | None, typer.Option(help="lstm layers")]
BidirectionalOption = Annotated[bool, typer.Option("--bidirectional", help="lstm: bidirectional encoder")]
HeadsOption = Annotated[int | None, typer.Option(help="multihead: number of attention heads")]
OptOption = Annotated[
    list[str] | None,
    typer.Option(metavar="KEY=VALUE", help="any model config field, e.g. --opt embedding=32 (repeatable)"),
]
MomentumOption = Annotated[float | None, typer.Option(help="sgd: heavy-ball momentum [default: 0]")]
DtypeOption = Annotated[str | None, typer.Option(help="float32 | float64 [default: float32]")]


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


def check_optimizer(optimizer: str | None, command: str) -> str | None:
    """``--optimizer`` for a command that trains sampled batches: ``sgd`` or ``adam``; ``gd``
    (full-batch gradient descent on the exact distribution) is one line naming ``ktiw predict``
    (where it is the toy model's, :func:`run_options`)."""
    if optimizer != "gd":
        return optimizer  # sgd, adam, or a name the training config refuses in one line
    raise KtiwError(
        f"ktiw {command} trains on sampled batches: --optimizer gd (full-batch gradient descent) is "
        "for ktiw predict; use sgd or adam"
    )


def init_config(init: str | None) -> dict[str, object]:
    """``--init zero|eps:VALUE|normal:SIGMA`` (the syntax of ``ktiw predict``) as the toy model's
    config fields ``init``, ``eps``, ``sigma``; the parsing is :func:`ktiw.core.training.parse_init`."""
    if init is None:
        return {}
    from ktiw.core.training import parse_init

    parsed = parse_init(init)
    out: dict[str, object] = {"init": parsed.kind}
    if parsed.kind == "eps":
        out["eps"] = parsed.value
    elif parsed.kind == "normal":
        out["sigma"] = parsed.value
    return out


OPTIONS: dict[str, tuple[Any, Any]] = {
    "steps": (StepsOption, None),
    "seeds": (SeedsOption, None),
    "batch_size": (BatchSizeOption, None),
    "lr": (LrOption, None),
    "eval_every": (EvalEveryOption, None),
    "eval_samples": (EvalSamplesOption, None),
    "probe_every": (ProbeEveryOption, None),
    "checkpoint_every": (CheckpointEveryOption, None),
    "stop_at": (StopAtOption, None),
    "proxy_steps": (ProxyStepsOption, None),
    "hidden": (HiddenOption, None),
    "layers": (LayersOption, None),
    "bidirectional": (BidirectionalOption, False),
    "heads": (HeadsOption, None),
    "opt": (OptOption, None),
    "init": (InitOption, None),
    # the former spelling of --init (--toy-init eps --toy-eps 1e-3), kept hidden
    "toy_init": (Annotated[str | None, typer.Option(hidden=True)], None),
    "toy_eps": (Annotated[float | None, typer.Option(hidden=True)], None),
    "toy_sigma": (Annotated[float | None, typer.Option(hidden=True)], None),
    "optimizer": (OptimizerOption, None),
    "momentum": (MomentumOption, None),
    "dtype": (DtypeOption, None),
    "precision": (PrecisionOption, None),
}
"""Every training option, by parameter name: its typer annotation and default (one definition
for every command that takes it; :func:`with_training_options` adds them to a command)."""

TRAIN_OPTIONS = tuple(OPTIONS)
"""The options of ``ktiw train`` and ``ktiw sweep``: all of them."""

SCHEDULE_OPTIONS = ("eval_every", "eval_samples", "probe_every", "checkpoint_every", "stop_at", "proxy_steps")

PREDICT_OPTIONS = tuple(n for n in OPTIONS if n not in SCHEDULE_OPTIONS)
"""The options of ``ktiw predict``: those that change the training it predicts (not the
evaluation schedule, the files or the early stop)."""

MODEL_OPTIONS = {
    "hidden": "hidden",
    "layers": "layers",
    "heads": "heads",
    "toy_init": "init",
    "toy_eps": "eps",
    "toy_sigma": "sigma",
}
"""Options that set a model config field (option name -> field; ``--bidirectional`` and
``--opt KEY=VALUE`` too)."""

RUN_FIELDS = ("probe_every", "checkpoint_every", "proxy_steps", "dtype")
"""Options that set a run's own fields (a preset's training block leaves them to the trainer)."""

F = TypeVar("F", bound=Callable[..., Any])


def with_training_options(names: tuple[str, ...]) -> Callable[[F], F]:
    """Give a typer command the training options ``names`` (:data:`OPTIONS`) in place of its
    ``options`` parameter (:func:`~ktiw.cli.options.with_options`); the command receives them
    as one dict ``options`` (``None``/``False`` when not given), which :func:`training_values`
    reads."""
    from .options import with_options

    return with_options(OPTIONS, names, "options")


def given_fields(options: Mapping[str, Any]) -> set[str]:
    """The config fields the options given on the command line set (``--hidden`` -> ``hidden``,
    ``--toy-eps`` -> ``eps``, ``--opt k=v`` -> ``k``)."""
    from .options import parse_key_values

    given = {MODEL_OPTIONS.get(n, n) for n, v in options.items() if v is not None and v is not False}
    given.discard("opt")
    return given | set(parse_key_values(options.get("opt") or [], "--opt"))


def training_values(preset: str, model: str, command: str, options: Mapping[str, Any]) -> dict[str, object]:
    """The training config fields of ``ktiw train``, ``sweep`` and ``predict``: the preset's
    training block for ``model`` with every option given (``options``, as
    :func:`with_training_options` passes them) in its place, one meaning per option in every
    command.  A run's own fields (:data:`RUN_FIELDS`) are included when given."""
    from ktiw.config.presets import training_for

    from .options import parse_key_values

    values = training_for(preset, model).train_values()
    mc: dict[str, object] = dict(values.pop("model_config"))  # type: ignore[call-overload]
    mc.update({field: options[n] for n, field in MODEL_OPTIONS.items() if options.get(n) is not None})
    if options.get("bidirectional"):
        mc["bidirectional"] = True
    init = options.get("init")
    if init is not None:
        if model != "toy":
            raise KtiwError(f"--init sets the toy model's start; --model {model} initialises itself")
        mc.update(init_config(init))
    mc.update(parse_key_values(options.get("opt") or [], "--opt"))
    seeds = options.get("seeds")
    given = {
        **{n: options.get(n) for n in ("steps", "batch_size", "lr", "eval_every", "eval_samples", "stop_at")},
        **{n: options.get(n) for n in ("precision", "momentum", *RUN_FIELDS)},
        "seeds": None if seeds is None else parse_seeds(seeds),
        "optimizer": check_optimizer(options.get("optimizer"), command),
    }
    values.update({k: v for k, v in given.items() if v is not None})
    values["model_config"] = mc
    return values


def verify_seeds(text: str | None) -> list[int] | None:
    """``--seeds`` for ``ktiw verify``: the same syntax as ``train`` and ``sweep`` (a count or a
    list; the driver reads seeds ``0..N-1`` as the count ``N``, and the uniform runs train the
    same seeds, so the runs still pair seed by seed)."""
    return None if text is None else parse_seeds(text)


TOY_OPTIONS = ("init", "eps", "sigma")
"""The toy model's config fields (:class:`ktiw.empirics.models.toy.ToyConfig`; a test checks
that they agree), listed here so that ``ktiw predict --model toy`` needs no torch."""


def run_options(preset: str, model: str, options: Mapping[str, Any]) -> RunOptions:
    """The run ``ktiw predict`` describes: the run ``ktiw train`` would train with the same
    options (:func:`training_values`), as a :class:`~ktiw.matched.predict.RunOptions`; without
    torch.  ``--optimizer gd`` (full-batch gradient descent on the exact distribution) and
    ``--init`` are the toy model's only; an option a model does not have is a one-line
    :class:`KtiwError`."""
    from ktiw.config.presets import training_for
    from ktiw.matched.predict import RunOptions

    optimizer = options.get("optimizer")
    if optimizer == "gd" and model != "toy":
        raise KtiwError(
            f"--optimizer gd (full batch) is the toy's only; ktiw train trains {model} with adam or sgd"
        )
    sampled = {**options, "optimizer": None if optimizer == "gd" else optimizer}
    values = training_values(preset, model, "predict", sampled)
    optimizer = optimizer or training_for(preset, model).optimizer
    mc: dict[str, Any] = dict(values["model_config"])  # type: ignore[call-overload]
    dtype = str(values.get("dtype") or "float32")
    if dtype not in ("float32", "float64"):
        raise KtiwError(f"--dtype must be float32 or float64, got {dtype!r}")
    toy_init = "zero"
    if model == "toy":
        extra = sorted(set(mc) - set(TOY_OPTIONS))
        if extra:
            raise KtiwError(
                f"option(s) {', '.join(extra)} do not apply to model toy; valid: {', '.join(TOY_OPTIONS)}"
            )
        kind = str(mc.get("init", "zero"))
        toy_init = {"eps": f"eps:{mc.get('eps', 1e-3)}", "normal": f"normal:{mc.get('sigma', 0.1)}"}.get(
            kind, kind
        )
    momentum = float(values.get("momentum", 0.0))  # type: ignore[arg-type]
    if momentum and optimizer != "sgd":
        raise KtiwError("--momentum applies to --optimizer sgd only")
    return RunOptions(
        model=model,
        model_config=mc,
        seeds=len(values["seeds"]),  # type: ignore[arg-type]
        steps=int(values["steps"]),  # type: ignore[call-overload]
        batch_size=int(values["batch_size"]),  # type: ignore[call-overload]
        lr=float(values["lr"]),  # type: ignore[arg-type]
        optimizer=optimizer,
        momentum=momentum,
        dtype=dtype,
        precision=str(values.get("precision") or "fp32"),
        toy_init=toy_init,
    )
