"""`ktiw predict`: the theory's prediction for one or more distributions (no torch, no sympy)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ktiw.theory.errors import KtiwError

if TYPE_CHECKING:
    from ktiw.theory.distribution import Distribution

from . import data_options as do


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
    from ktiw.theory.corpus import load_distribution

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


def predict(
    specs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[SPEC]...", help="distribution specs, e.g. subset:L=40,V=60", show_default=False
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
    optimizer: Annotated[str, typer.Option(help="gd | sgd | adam (as ktiw train)")] = "adam",
    lr: Annotated[
        float | None, typer.Option(help="learning rate [default: ktiw train's, from --preset quick]")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="fresh examples per step (sgd, adam) [default: ktiw train's]")
    ] = None,
    init: Annotated[str, typer.Option(metavar="INIT", help="zero | eps:VALUE | normal:SIGMA")] = "zero",
    steps: Annotated[int | None, typer.Option(help="step budget for takeoff [default: ktiw train's]")] = None,
    fmt: do.Format = None,
    input_col: do.InputCol = None,
    output_col: do.OutputCol = None,
    text_col: do.TextCol = None,
    label_col: do.LabelCol = None,
    tokenizer: do.Tokenizer = None,
    max_vocab: do.MaxVocab = None,
    max_len: do.MaxLen = None,
) -> None:
    """Predict whether KTIW and attention will be learned on each distribution, how fast, and why.

    Takeoff (gold attention mass 1/2) in optimizer steps of the training given by --optimizer,
    --lr, --batch-size, --init and --steps (defaults: what ktiw train does by default), and in
    gradient-flow time of gradient descent from B = 0, a = 0 (learning rate x steps; first table).
    """
    from ktiw.comparator.presets import training_for
    from ktiw.theory.families import from_spec
    from ktiw.theory.optimizers import Training, parse_init
    from ktiw.theory.predict import predict as predict_one

    default = training_for("quick", "toy")  # what `ktiw train --model toy` does by default
    training = Training(
        optimizer=optimizer,
        lr=default.lr if lr is None else lr,
        batch_size=default.batch_size if batch_size is None else batch_size,
        init=parse_init(init),
        steps=default.steps if steps is None else steps,
    ).validate()

    if not specs and not data:
        raise KtiwError(
            "give at least one distribution SPEC or --data FILE (e.g. ktiw predict subset:L=40,V=60)"
        )
    if task not in ("seq2seq", "classification"):
        raise KtiwError(f"--task must be seq2seq or classification, got {task!r}")
    opts = (fmt, input_col, output_col, text_col, label_col, tokenizer, max_vocab, max_len)
    dists = [from_spec(s) for s in specs or []] + [
        load_data(do.data_source(p, *opts), task) for p in data or []
    ]
    if derivation:
        from ktiw.theory.derivation import derivation_for

        typer.echo("\n\n".join(derivation_for(d, eps=eps, training=training) for d in dists))
        return
    preds = [predict_one(d, eps=eps, training=training) for d in dists]
    if len(preds) > 1:
        preds.sort(key=lambda p: (p.takeoff_time is None, p.takeoff_time or 0.0))
    if as_json:
        typer.echo(json.dumps([p.to_dict() for p in preds], indent=2))
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
        + f" init={training.init}"
    )
    title = f"optimizer steps to takeoff ({escape(run)}; budget {training.steps} steps)"
    steps_table = Table(box=box.SIMPLE_HEAD, title=title)
    steps_table.add_column("spec", no_wrap=True)
    for name in ("takeoff step", "10%-90%", "P(success)", "method"):
        steps_table.add_column(name, justify="right")
    for p in preds:
        steps_table.add_row(
            escape(p.spec),
            _fmt_step(p.takeoff_step, p.steps),
            " - ".join(_fmt_step(q, p.steps) for q in p.takeoff_step_range),
            "-" if p.success_probability is None else f"{p.success_probability:.2f}",
            p.method or "-",
        )
    console = Console()
    console.print(table)
    console.print(steps_table)
    for p in preds:
        note = f"{escape(p.reason)}; steps: {escape(p.step_note)}"
        console.print(f"[bold]{escape(p.spec)}[/]: {note}", highlight=False)


def _fmt_step(step: float | None, budget: int) -> str:
    return f">{budget}" if step is None else f"{step:.0f}"
