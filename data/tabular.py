"""Reading columns of text out of data files, batch by batch (never the whole file at once).

Formats, by extension or by name (``tsv``, ``csv``, ``jsonl``, ``parquet``):

* ``.tsv``/``.tab``/``.txt`` without named columns: the project's headerless
  ``left<TAB>right`` lines (``#`` comments and blank lines skipped; no extra needed);
* ``.tsv`` with named columns, ``.csv``: a header line, then rows (quoted fields allowed);
* ``.jsonl``/``.ndjson``: one JSON object per line;
* ``.parquet``/``.pq``.

``.gz``/``.bz2`` after the extension are decompressed on the fly.  CSV, JSON Lines and
Parquet are read with pyarrow (extra ``[data]``): its C++ readers handle quoting, embedded
newlines, escapes, encodings and compression correctly, are maintained and fuzzed upstream,
and yield record batches, so a file of hundreds of megabytes streams in blocks of a few MB
instead of being loaded whole.  Every file is opened by
:func:`ktiw.data.datafile.open_data_file`, the one place that checks what a data file is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ktiw.core.errors import DataFileError, KtiwError

from .arrow import optional_pyarrow, require_pyarrow  # noqa: F401  (optional_pyarrow: re-exported)
from .datafile import iter_tab_lines, open_data_file

FORMATS = ("tsv", "csv", "jsonl", "parquet")
_BY_SUFFIX = {
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "tsv",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_COMPRESSION = {".gz": "gzip", ".bz2": "bz2"}
BLOCK_BYTES = 4 << 20
"""Bytes per block of the streaming CSV/JSON readers."""
PARQUET_BATCH_ROWS = 65_536


def split_compression(path: Path) -> tuple[str, str | None]:
    """``(suffix without the compression suffix, compression or None)``."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION:
        return (suffixes[-2] if len(suffixes) > 1 else ""), _COMPRESSION[suffixes[-1]]
    return (suffixes[-1] if suffixes else ""), None


def detect_format(path: Path, given: str | None = None) -> str:
    """The format of ``path``: ``given`` if set, else from its extension."""
    if given is not None:
        if given not in FORMATS:
            raise KtiwError(f"unknown data format {given!r}; valid formats: {', '.join(FORMATS)}")
        return given
    suffix, _ = split_compression(path)
    if suffix not in _BY_SUFFIX:
        raise KtiwError(
            f"cannot tell the format of {path} from its extension; give --format ({', '.join(FORMATS)})"
        )
    return _BY_SUFFIX[suffix]


def _arrow_error(path: Path, fmt: str, exc: Exception) -> DataFileError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataFileError(f"data file {path} is not valid {fmt.upper()} ({first})")


def _missing(path: Path, wanted: list[str], names: list[str]) -> None:
    absent = [c for c in wanted if c not in names]
    if absent:
        there = ", ".join(names) if names else "none"
        which = ", ".join(repr(c) for c in absent)
        raise DataFileError(f"{path} has no column {which}; columns there: {there}")


def _stream(path: Path, compression: str | None) -> Any:
    pa = require_pyarrow("this format")
    raw = pa.PythonFile(open_data_file(path), mode="r")
    return pa.CompressedInputStream(raw, compression) if compression else raw


def iter_columns(
    path: Path, fmt: str, columns: list[str], sides: tuple[str, str] = ("input", "output")
) -> Iterator[tuple[Sequence[int], list[list[Any]]]]:
    """Yield ``(row numbers, [values of each column])`` per batch of rows.

    Row numbers count data rows from 1 (the header is not a row); for headerless TSV they are
    line numbers and the two columns are the two sides
    (:func:`ktiw.data.datafile.iter_tab_lines`).  Values are a pyarrow string array per
    column (nulls for missing values, numbers and booleans printed), or a Python list where
    pyarrow cannot print the type as text or is not installed (headerless TSV).
    """
    _, compression = split_compression(path)
    if fmt == "tsv" and not columns:
        yield from iter_tab_lines(path, *sides, compression=compression)
        return
    if fmt in ("csv", "tsv"):
        yield from _iter_csv(path, compression, columns, "\t" if fmt == "tsv" else ",")
    elif fmt == "jsonl":
        yield from _iter_jsonl(path, compression, columns)
    elif fmt == "parquet":
        yield from _iter_parquet(path, columns)
    else:  # pragma: no cover - detect_format guards
        raise KtiwError(f"unknown data format {fmt!r}")


def _iter_csv(
    path: Path, compression: str | None, columns: list[str], delimiter: str
) -> Iterator[tuple[Sequence[int], list[list[Any]]]]:
    pa = require_pyarrow("CSV")
    from pyarrow import csv

    parse = csv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    read = csv.ReadOptions(block_size=BLOCK_BYTES)
    fmt = "tsv" if delimiter == "\t" else "csv"
    try:
        with _stream(path, compression) as probe:
            names = csv.open_csv(probe, read_options=read, parse_options=parse).schema.names
        _missing(path, columns, names)
        convert = csv.ConvertOptions(
            include_columns=columns,
            column_types=dict.fromkeys(columns, pa.string()),
            strings_can_be_null=True,
        )
        with _stream(path, compression) as stream:
            reader = csv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert)
            yield from _batches(reader, columns)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError) as exc:
        raise _arrow_error(path, fmt, exc) from None


def _iter_jsonl(
    path: Path, compression: str | None, columns: list[str]
) -> Iterator[tuple[Sequence[int], list[list[Any]]]]:
    pa = require_pyarrow("JSON Lines")
    from pyarrow import json

    read = json.ReadOptions(block_size=BLOCK_BYTES)
    try:
        with _stream(path, compression) as stream:
            reader = json.open_json(stream, read_options=read)
            _missing(path, columns, reader.schema.names)
            yield from _batches(reader, columns)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError) as exc:
        raise _arrow_error(path, "jsonl", exc) from None


def _iter_parquet(path: Path, columns: list[str]) -> Iterator[tuple[Sequence[int], list[list[Any]]]]:
    pa = require_pyarrow("Parquet")
    import pyarrow.parquet as pq

    try:
        with open_data_file(path) as f:
            pf = pq.ParquetFile(f)
            _missing(path, columns, pf.schema_arrow.names)
            yield from _batches(pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=columns), columns)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise _arrow_error(path, "parquet", exc) from None


def _batches(batches: Any, columns: list[str]) -> Iterator[tuple[Sequence[int], list[list[Any]]]]:
    row = 1
    for batch in batches:
        names = batch.schema.names
        values = [_as_text(batch.column(names.index(c))) for c in columns]
        yield range(row, row + batch.num_rows), values
        row += batch.num_rows


def _as_text(column: Any) -> Any:
    """A column as a pyarrow string array (numbers and booleans printed, nulls kept), or as a
    Python list of ``str(value)`` when its type has no text form in pyarrow (e.g. lists)."""
    import pyarrow as pa

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    try:
        return column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return [None if v is None else str(v) for v in column.to_pylist()]
