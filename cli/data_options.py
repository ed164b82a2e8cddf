"""The ``--data`` options shared by ``ktiw predict``, ``train``, ``sweep`` and ``verify``.

They only assemble a data-source string (:class:`ktiw.data.corpus.DataSource`); reading,
tokenising and checking happen in :mod:`ktiw.data.corpus`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

DATA_HELP = (
    "data: a file (.tsv headerless input<TAB>output, or .tsv/.csv/.jsonl/.parquet with named columns), "
    "a fetched dataset (see `ktiw data list`) or hf:NAME[:CONFIG][:SPLIT]"
)

TrainData = Annotated[
    str | None,
    typer.Option(
        "--data",
        help=DATA_HELP + " instead of SPEC (classifier: label<TAB>tokens or --text-col/--label-col)",
    ),
]
"""``--data`` of the commands that train (``ktiw train`` and ``ktiw sweep``)."""

Format = Annotated[
    str | None,
    typer.Option("--format", help="data format: tsv, csv, jsonl or parquet (default: by extension)"),
]
InputCol = Annotated[str | None, typer.Option("--input-col", help="seq2seq input column [default: input]")]
OutputCol = Annotated[
    str | None, typer.Option("--output-col", help="seq2seq output column [default: output]")
]
TextCol = Annotated[str | None, typer.Option("--text-col", help="classification text column [default: text]")]
LabelCol = Annotated[
    str | None, typer.Option("--label-col", help="classification label column (2 labels) [default: label]")
]
Tokenizer = Annotated[
    str | None,
    typer.Option(
        "--tokenizer",
        help="words (lowercase letter/digit runs), whitespace, or a SentencePiece .model / "
        "tokenizers .json file [default: whitespace for headerless .tsv, else words]",
    ),
]
MaxVocab = Annotated[
    int | None, typer.Option("--max-vocab", help="keep the N most frequent words per side; the rest -> <unk>")
]
MaxLen = Annotated[int | None, typer.Option("--max-len", help="keep the first N tokens of every sequence")]

DATA_OPTIONS: dict[str, tuple[Any, Any]] = {
    "fmt": (Format, None),
    "input_col": (InputCol, None),
    "output_col": (OutputCol, None),
    "text_col": (TextCol, None),
    "label_col": (LabelCol, None),
    "tokenizer": (Tokenizer, None),
    "max_vocab": (MaxVocab, None),
    "max_len": (MaxLen, None),
}
"""The options that say how ``--data`` is read (parameter name -> typer annotation, default),
given to every command that reads data by :func:`with_data_options`; their names are
:func:`data_source`'s keywords."""


def with_data_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give a typer command :data:`DATA_OPTIONS` in place of its ``data_options`` parameter
    (:func:`~ktiw.cli.options.with_options`); pass that dict on as ``data_source(location,
    **data_options)``."""
    from .options import with_options

    return with_options(DATA_OPTIONS, tuple(DATA_OPTIONS), "data_options")(func)


def data_source(
    location: str,
    fmt: str | None = None,
    input_col: str | None = None,
    output_col: str | None = None,
    text_col: str | None = None,
    label_col: str | None = None,
    tokenizer: str | None = None,
    max_vocab: int | None = None,
    max_len: int | None = None,
) -> str:
    """The data-source string for ``location`` with the options given on the command line."""
    from ktiw.data.corpus import DataSource

    return str(
        DataSource.parse(location).with_options(
            format=fmt,
            input=input_col,
            output=output_col,
            text=text_col,
            label=label_col,
            tokenizer=tokenizer,
            max_vocab=max_vocab,
            max_len=max_len,
        )
    )
