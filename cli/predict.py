"""`ktiw predict`: the theory's prediction for one or more distributions (no torch, no sympy)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ktiw.core.errors import KtiwError

if TYPE_CHECKING:
    from ktiw.data.distribution import Distribution

from . import data_options as do
from . import training_options as to
from .options import AllowLargeOption, long_work


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def _fmt_eigs(eigs: list[float] | None) -> str:
    """``±x`` for a symmetric pair (the copy saddle), else the list."""
    if eigs is None:
        return "-"
    if len(eigs) == 2 and abs(eigs[0] + eigs[1]) <= 1e-12 * max(abs(eigs[0]), 1e-300):
        return f"±{abs(eigs[0]):.2e}"
    return ", ".join(f"{e:+.3g}" for e in eigs)


def load_data(source: str, task: str) -> Distribution:
    """A ``--data`` source read as its columns (or dataset) say, else as ``task`` says; a seq2seq
    file whose every input is one of two single tokens is almost surely ``label<TAB>tokens``:
    say so instead of reading labels as inputs."""
    from ktiw.data.corpus import load_distribution

    dist = load_distribution(source, "labelled" if task == "classification" else "pairs")
    if dist.spec.startswith("labelled:"):
        return dist
    path = source
    if dist.n_in <= 2 and int(dist.src_lens.max()) == 1 and int(dist.tgt_lens.max()) > 1:
        raise KtiwError(
            f"{path} looks like label<TAB>tokens (every input is one of {dist.n_in} single tokens); "
            "use --task classification"
        )
    return dist


@do.with_data_options
@to.with_training_options(to.PREDICT_OPTIONS)
def predict(
    specs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="SPEC", help="distribution specs, e.g. subset:L=40,V=60", show_default=False
        ),
    ] = None,
    data: Annotated[list[str] | None, typer.Option("--data", metavar="DATA", help=do.DATA_HELP)] = None,
    task: Annotated[
        str,
        typer.Option(
            "--task",
            help="how --data is read when its columns do not say: seq2seq or classification "
            "(headerless .tsv: label<TAB>tokens)",
        ),
    ] = "seq2seq",
    as_json: Annotated[
        bool, typer.Option("--json", help="print a JSON list instead of a table", show_default=False)
    ] = False,
    eps: Annotated[
        float, typer.Option("--eps", metavar="EPS", help="symmetry-breaking size for the saddle case")
    ] = 1e-3,
    derivation: Annotated[
        bool, typer.Option("--derivation", help="print the derivation (Markdown + LaTeX)", show_default=False)
    ] = False,
    model: Annotated[
        str, typer.Option(
            help="the model ktiw train would train: lstm | transformer | toy | multihead | classifier "
            "(a MODULE:FUNCTION model is trained, not predicted)"
        )
    ] = "lstm",
    preset: Annotated[
        str, typer.Option(help="quick | paper: defaults for the options below (as ktiw train)")
    ] = "quick",
    options: dict[str, Any] | None = None,  # the training options: to.PREDICT_OPTIONS
    data_options: dict[str, Any] | None = None,  # how --data is read: do.DATA_OPTIONS
    allow_large: AllowLargeOption = False,
) -> None:
    """Predict, before training, what ktiw train with the same options will do on each distribution.

    For --model (default: the quick preset's LSTM, as ktiw train): the takeoff step (gold attention
    mass 1/2, the attn_mass column; median and 10%-90% over seeds), the probability of takeoff and
    of success (95% token accuracy) within --steps, and the route (docs/predicting.md). --model toy
    gives the theory's toy model (no torch); any other model is measured at initialisation and in a
    short pilot costing at most 5% of the training's seed-steps. The first table is the theory's
    gradient-flow view (learning rate x steps of gradient descent from B = 0, a = 0).
    """
    from ktiw.data.families import from_spec

    opts = to.run_options(preset, model, options or {})
    from ktiw.matched.predict import toy_training

    training = toy_training(opts)

    if not specs and not data:
        raise KtiwError(
            "give at least one distribution SPEC or --data FILE (e.g. ktiw predict subset:L=40,V=60)"
        )
    if task not in ("seq2seq", "classification"):
        raise KtiwError(f"--task must be seq2seq or classification, got {task!r}")
    dists = [from_spec(s) for s in specs or []] + [
        load_data(do.data_source(p, **(data_options or {})), task) for p in data or []
    ]
    if derivation:
        from ktiw.theory.derivation import derivation_for

        typer.echo("\n\n".join(derivation_for(d, eps=eps, training=training) for d in dists))
        return
    from ktiw.matched.predict import predict_model

    with long_work(allow_large):
        matched = [predict_model(d, opts, eps=eps) for d in dists]
    if len(matched) > 1:
        matched.sort(key=lambda p: (p.toy.takeoff_time is None, p.toy.takeoff_time or 0.0))
    preds = [m.toy for m in matched]
    if as_json:
        rows = []
        for m in matched:
            row = m.toy.to_dict() if m.model == "toy" else {}
            row.update(m.to_dict())
            rows.append(row)
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(
        box=box.SIMPLE_HEAD,
        title=f"ktiw predict (toy model; gradient flow: times = lr x steps; saddle start eps={eps:g})",
    )
    table.add_column("spec", no_wrap=True)
    table.add_column("regime")
    for name in ("KTIW margin", "KTIW velocity", "takeoff", "saddle eigenvalues", "tied"):
        table.add_column(name, justify="right", min_width=len("±6.25e-04") if "eigen" in name else None)
    colour = {"drift": "green", "saddle": "red", "ambiguous": "yellow"}
    for p in preds:
        table.add_row(
            escape(p.spec),
            f"[{colour[p.regime]}]{p.regime}[/]",
            _fmt(p.ktiw_margin),
            _fmt(p.initial_ktiw_velocity),
            "-" if p.takeoff_time is None else f"{p.takeoff_time:.0f}",
            _fmt_eigs(p.fixed_point_eigenvalues),
            f"{p.ambiguity:.0%}",
        )
    run = (
        f"{training.optimizer} lr={training.lr:g}"
        + ("" if training.full_batch else f" batch={training.batch_size}")
        + (f" init={training.init}" if opts.model == "toy" else "")
    )
    what = opts.model + (f" {_config_text(opts.model_config)}" if opts.model_config else "")
    title = (
        f"{escape(what)}: optimizer steps to takeoff (gold attention mass 1/2; {escape(run)}; "
        f"budget {training.steps} steps, {opts.seeds} seeds)"
    )
    steps_table = Table(box=box.SIMPLE_HEAD, title=title)
    steps_table.add_column("spec", no_wrap=True)
    for name in ("takeoff step", "10%-90%", "P(takeoff)", "P(success)", "toy steps"):
        steps_table.add_column(name, justify="right")
    for m in matched:
        steps_table.add_row(
            escape(m.spec),
            _fmt_step(m.takeoff_step, m.steps),
            " - ".join(_fmt_step(q, m.steps) for q in m.takeoff_step_range),
            _fmt_p(m.takeoff_probability),
            _fmt_p(m.success_probability),
            "-" if m.toy_steps is None else f"{m.toy_steps:.0f}",
        )
    console = Console()
    console.print(table)
    console.print(steps_table)
    for m in matched:
        note = f"{escape(m.toy.reason)}; route: {escape(m.route)}; {escape(m.method)}: {escape(m.note)}"
        console.print(f"[bold]{escape(m.spec)}[/]: {note}", highlight=False)


def _fmt_p(p: float | None) -> str:
    return "-" if p is None else f"{p:.2f}"


def _config_text(config: dict[str, object]) -> str:
    return ", ".join(f"{k} {v}" for k, v in config.items())


def _fmt_step(step: float | None, budget: int) -> str:
    return f">{budget}" if step is None else f"{step:.0f}"
