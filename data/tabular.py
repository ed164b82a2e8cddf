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

Nothing is read wrongly without a word:

* **text only**: a column must hold text; numbers and booleans are read as their text (labels
  such as ``0``/``1``).  A struct, list, map, binary or temporal column is refused in one line
  naming the column and its type, never printed into tokens (:func:`_as_text`);
* **merged rows**: an unclosed quote makes a CSV reader take every following line into one
  value.  The bytes the reader sees are counted as they pass; when the file has more line
  breaks than rows (a value spans lines, or blank lines), the file is read once more by
  Python's ``csv`` module in ``strict`` mode, which fails on a quote that is not closed
  properly, and the error names the line where that value starts and the lines it swallowed
  (:func:`_check_quoting`).  A properly quoted value that spans lines is accepted.
"""

from __future__ import annotations

import csv
import io
import zlib
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from ktiw.core.errors import DataFileError, KtiwError

from .arrow import optional_pyarrow, require_pyarrow  # noqa: F401  (optional_pyarrow: re-exported)
from .datafile import decompressed, iter_tab_lines, open_data_file

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


class _LineCounter(io.RawIOBase):
    """The (decompressed) bytes of a data file, counting line breaks (LF, CR, CR LF) as they
    are read."""

    def __init__(self, f: BinaryIO) -> None:
        super().__init__()
        self.f = f
        self.breaks = 0
        self._cr = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.f.read(len(buffer))
        buffer[: len(data)] = data
        if data:
            joined = data.startswith(b"\n") and self._cr  # a CR LF cut between two reads
            self.breaks += data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n") - joined
            self._cr = data.endswith(b"\r")
        return len(data)

    def close(self) -> None:
        self.f.close()
        super().close()


def _counted(path: Path, compression: str | None) -> tuple[Any, _LineCounter]:
    """A pyarrow input stream of the decompressed file and the counter of its line breaks."""
    pa = require_pyarrow("this format")
    raw = open_data_file(path)
    counter = _LineCounter(decompressed(raw, compression) if compression else raw)
    return pa.PythonFile(counter, mode="r"), counter


def _check_quoting(path: Path, compression: str | None, delimiter: str) -> None:
    """Read the file with Python's ``csv`` module in strict mode: a :class:`DataFileError`
    naming the lines a badly quoted value swallows (see the module docstring)."""
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
    with open_data_file(path) as raw, decompressed(raw, compression) as f:
        text = io.TextIOWrapper(f, encoding="utf-8-sig", newline="")
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        start = 1
        try:
            for _row in reader:
                start = reader.line_num + 1
        except csv.Error as exc:
            end = max(reader.line_num, start)
            raise DataFileError(
                f"{path}: line {start}: a quoted value is not closed properly ({exc}), so the reader "
                f"would merge lines {start}-{end} into one value; close every quote, and write a "
                'quote inside a quoted value twice ("")'
            ) from None
        except (UnicodeDecodeError, OSError, EOFError, zlib.error):
            return  # reported by the pyarrow reader


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
    from pyarrow import csv as pcsv

    parse = pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    read = pcsv.ReadOptions(block_size=BLOCK_BYTES)
    fmt = "tsv" if delimiter == "\t" else "csv"
    try:
        with _stream(path, compression) as probe:
            names = pcsv.open_csv(probe, read_options=read, parse_options=parse).schema.names
        _missing(path, columns, names)
        convert = pcsv.ConvertOptions(
            include_columns=columns,
            column_types=dict.fromkeys(columns, pa.string()),
            strings_can_be_null=True,
        )
        stream, counter = _counted(path, compression)
        with stream:
            reader = pcsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert)
            rows = yield from _batches(reader, columns, path)
    except (
        pa.ArrowInvalid,
        pa.ArrowNotImplementedError,
        OSError,
        UnicodeDecodeError,
        EOFError,
        zlib.error,
    ) as exc:
        if isinstance(exc, pa.ArrowInvalid):  # a quote left open is the likeliest cause: name it
            _check_quoting(path, compression, delimiter)
        raise _arrow_error(path, fmt, exc) from None
    if counter.breaks > rows + 1:  # a value spans lines (or blank lines): is its quoting sound?
        _check_quoting(path, compression, delimiter)


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
            yield from _batches(reader, columns, path)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError) as exc:
        raise _arrow_error(path, "jsonl", exc) from None


def _iter_parquet(path: Path, columns: list[str]) -> Iterator[tuple[Sequence[int], list[list[Any]]]]:
    pa = require_pyarrow("Parquet")
    import pyarrow.parquet as pq

    try:
        with open_data_file(path) as f:
            pf = pq.ParquetFile(f)
            _missing(path, columns, pf.schema_arrow.names)
            batches = pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=columns)
            yield from _batches(batches, columns, path)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise _arrow_error(path, "parquet", exc) from None


def _batches(
    batches: Any, columns: list[str], path: Path
) -> Generator[tuple[Sequence[int], list[list[Any]]], None, int]:
    """Yield ``(row numbers, texts of each column)`` per record batch; return the row count."""
    row = 1
    for batch in batches:
        names = batch.schema.names
        values = [_as_text(batch.column(names.index(c)), c, path) for c in columns]
        yield range(row, row + batch.num_rows), values
        row += batch.num_rows
    return row - 1


def is_text_type(t: Any) -> bool:
    """Whether pyarrow type ``t`` holds text: strings, or numbers and booleans (read as their
    text), dictionary- or run-end-encoded or not; never nested, binary or temporal values."""
    import pyarrow as pa

    if pa.types.is_dictionary(t) or pa.types.is_run_end_encoded(t):
        return is_text_type(t.value_type)
    return any(
        test(t)
        for test in (
            pa.types.is_string,
            pa.types.is_large_string,
            pa.types.is_string_view,
            pa.types.is_integer,
            pa.types.is_floating,
            pa.types.is_decimal,
            pa.types.is_boolean,
            pa.types.is_null,
        )
    )


def not_text(where: str, column: str, type_name: str) -> DataFileError:
    """The one-line refusal of a column that does not hold text."""
    return DataFileError(
        f"{where}: column {column!r} holds {type_name} values, not text; a column must hold text "
        "(strings; numbers and booleans are read as their text, e.g. labels), not structs, lists, "
        "maps, bytes or dates"
    )


def _as_text(column: Any, name: str, path: Path) -> Any:
    """A column as a pyarrow string array (numbers and booleans printed, nulls kept); a column
    of another type is refused (:func:`not_text`)."""
    import pyarrow as pa

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    if not is_text_type(column.type):
        raise not_text(str(path), name, str(column.type))
    try:
        return column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise not_text(str(path), name, str(column.type)) from None
