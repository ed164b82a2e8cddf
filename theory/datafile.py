"""User-supplied pairs: one per line, ``input tokens<TAB>output tokens``.

Tokens are separated by whitespace; blank lines and lines starting with ``#`` are
skipped.  The file defines the uniform distribution over its lines, so its
co-occurrence matrix is exact (counted).  Input and output vocabularies are kept
separate and sorted, so word ids do not depend on line order.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .distribution import PAD, EmpiricalDistribution
from .errors import DataFileError


def pad_rows(rows: list[list[int]], lengths: np.ndarray) -> np.ndarray:
    """Stack ragged rows into a ``PAD``-filled array (vectorised via one flat index)."""
    out = np.full((len(rows), int(lengths.max())), PAD, dtype=np.int64)
    flat = np.fromiter((t for r in rows for t in r), dtype=np.int64, count=int(lengths.sum()))
    mask = np.arange(out.shape[1])[None, :] < lengths[:, None]
    out[mask] = flat
    return out


def open_data_file(path: Path) -> BinaryIO:
    """Open a user data file for binary reading, or :class:`DataFileError` in one line.

    The one opening point of every streaming reader (:mod:`ktiw.theory.tabular`): only a
    regular file is opened (a FIFO, device or directory is refused without blocking)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise DataFileError(f"data file {path} does not exist") from None
    except IsADirectoryError:
        raise DataFileError(f"data file {path} is a directory") from None
    except OSError as exc:
        raise DataFileError(f"cannot read data file {path}: {exc.strerror}") from None
    f = os.fdopen(fd, "rb")
    mode = os.fstat(f.fileno()).st_mode
    if not stat.S_ISREG(mode):
        f.close()
        what = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a pipe, device or socket)"
        raise DataFileError(f"data file {path} is {what}")
    os.set_blocking(f.fileno(), True)
    return f


MAX_DATA_BYTES = 256 * 2**20
"""Largest data file read (override with ``$KTIW_MAX_DATA_BYTES``): a bigger one is refused
before it is read, not read until memory runs out."""


def max_data_bytes() -> int:
    raw = os.environ.get("KTIW_MAX_DATA_BYTES", "").strip()
    try:
        return int(raw) if raw else MAX_DATA_BYTES
    except ValueError:
        raise DataFileError(f"KTIW_MAX_DATA_BYTES must be a number of bytes, got {raw!r}") from None


def read_text_file(path: Path) -> str:
    """The UTF-8 text of a data file, or :class:`DataFileError` saying in one line why not.

    Every reader of user data files goes through here, so each inherits the checks: only a
    regular file is read (a FIFO, device, socket or directory is refused without blocking),
    at most :func:`max_data_bytes` bytes, UTF-8 only, and a leading byte-order mark is dropped
    (it would otherwise become part of the first token)."""
    limit = max_data_bytes()
    with open_data_file(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise DataFileError(
                f"data file {path} has {size} bytes, more than the limit {limit} (KTIW_MAX_DATA_BYTES)"
            )
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise DataFileError(f"cannot read data file {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise DataFileError(f"data file {path} has more than {limit} bytes (the limit, KTIW_MAX_DATA_BYTES)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"{exc.reason} at byte {exc.start}"
        raise DataFileError(f"data file {path} is not UTF-8 text ({where})") from None
    return text.removeprefix("\ufeff")


def read_tab_lines(
    path: Path, left_name: str = "input", right_name: str = "output"
) -> list[tuple[int, list[str], list[str]]]:
    """``(line number, left tokens, right tokens)`` of every ``left<TAB>right`` line.

    Blank lines and ``#`` comments are skipped; a line without TAB, a side without
    tokens, or a file with no such line is a :class:`DataFileError`.
    """
    text = read_text_file(path)
    rows: list[tuple[int, list[str], list[str]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        left, tab, right = line.partition("\t")
        if not tab:
            raise DataFileError(
                f"{path}:{number}: expected '{left_name} tokens<TAB>{right_name} tokens', no TAB found"
            )
        if "\t" in right:
            raise DataFileError(
                f"{path}:{number}: more than one TAB; expected two columns '{left_name} tokens<TAB>"
                f"{right_name} tokens'"
            )
        lhs, rhs = left.split(), right.split()
        if not lhs or not rhs:
            side = left_name if not lhs else right_name
            raise DataFileError(f"{path}:{number}: the {side} side is empty")
        rows.append((number, lhs, rhs))
    if not rows:
        raise DataFileError(f"data file {path} has no pairs (empty, or only comments)")
    return rows


def load_pairs(path: str | Path) -> EmpiricalDistribution:
    """Read a data file into an :class:`EmpiricalDistribution` of seq2seq pairs (one outcome per row).

    ``path`` is any data source of :mod:`ktiw.theory.corpus` (a headerless
    ``input<TAB>output`` file, CSV/JSONL/Parquet with ``?input=..&output=..`` columns, ...).
    Raises :class:`DataFileError` (one line, naming file and line) when the file cannot be
    read, a line has no TAB or an empty side, or no pairs remain.
    """
    from .corpus import load_distribution

    return load_distribution(str(path), "pairs")
