"""User-supplied pairs: one per line, ``input tokens<TAB>output tokens``; and the one opening
point of every data file (:func:`open_data_file`: regular files only, one size cap).

Tokens are separated by whitespace; blank lines and lines starting with ``#`` are
skipped.  The file defines the uniform distribution over its lines, so its
co-occurrence matrix is exact (counted).  Input and output vocabularies are kept
separate and sorted, so word ids do not depend on line order.

The file is read in blocks of whole lines (:func:`iter_text_blocks`), never whole; with
pyarrow (extra ``[data]``) each block is cut into lines and sides by its vectorised string
kernels, without it (or where a block holds whitespace other than space, TAB, LF and CR LF)
by the Python definition above, with the same result.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import os
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ktiw.core import env
from ktiw.core.errors import DataFileError
from ktiw.core.paths import not_a_file

from .arrow import optional_pyarrow
from .distribution import PAD
from .tokenize import ODD_SPACE, ODD_SPACE_RE


def pad_rows(rows: list[list[int]], lengths: np.ndarray) -> np.ndarray:
    """Stack ragged rows into a ``PAD``-filled array (vectorised via one flat index)."""
    out = np.full((len(rows), int(lengths.max())), PAD, dtype=np.int64)
    flat = np.fromiter((t for r in rows for t in r), dtype=np.int64, count=int(lengths.sum()))
    mask = np.arange(out.shape[1])[None, :] < lengths[:, None]
    out[mask] = flat
    return out


def open_data_file(path: Path) -> BinaryIO:
    """Open a user data file for binary reading, or :class:`DataFileError` in one line.

    The one opening point of every reader of user data (every format of
    :mod:`ktiw.data.tabular`, the file hash of the corpus cache): only a regular file is
    opened (a FIFO, device or directory is refused without blocking), of at most
    :func:`max_data_bytes` bytes."""
    limit = max_data_bytes()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise DataFileError(f"data file {path} does not exist") from None
    except IsADirectoryError:
        raise DataFileError(f"data file {path} is a directory") from None
    except OSError as exc:  # a socket cannot be opened at all (ENXIO): say what it is
        problem = not_a_file(path)
        if problem is not None and problem != "cannot be read":
            raise DataFileError(f"data file {path} {problem}") from None
        raise DataFileError(f"cannot read data file {path}: {exc.strerror}") from None
    f = os.fdopen(fd, "rb")
    mode = os.fstat(f.fileno()).st_mode
    if not stat.S_ISREG(mode):
        f.close()
        what = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a pipe, device or socket)"
        raise DataFileError(f"data file {path} is {what}")
    size = os.fstat(f.fileno()).st_size
    if size > limit:
        f.close()
        raise DataFileError(
            f"data file {path} has {size} bytes, more than the limit {limit} (KTIW_MAX_DATA_BYTES)"
        )
    os.set_blocking(f.fileno(), True)
    return f


MAX_DATA_BYTES = 2**30
"""Largest data file opened, in bytes on disk, in any format (override with
``$KTIW_MAX_DATA_BYTES``): a bigger one is refused by :func:`open_data_file` before a byte is
read.  Every reader streams, so memory grows with the tokens kept (the tokenised corpus,
its padded rows and the co-occurrence counts; ``benchmarks/data_predict.py`` measures it),
not with the file's bytes: the cap guards against pointing ``--data`` at the wrong
multi-gigabyte file rather than budgeting memory."""

TAB_BLOCK_BYTES = 4 << 20
"""Bytes per block of the headerless TAB reader (each block is cut after its last newline)."""

_BOM = b"\xef\xbb\xbf"


def max_data_bytes() -> int:
    """:data:`MAX_DATA_BYTES`, or ``$KTIW_MAX_DATA_BYTES`` (a size, :mod:`ktiw.core.env`)."""
    given = env.size("KTIW_MAX_DATA_BYTES")
    return MAX_DATA_BYTES if given is None else given


def iter_text_blocks(path: Path, compression: str | None = None) -> Iterator[tuple[int, bytes, str, bool]]:
    """``(line number before the block, raw UTF-8 bytes, text, plain)`` of successive blocks of
    whole lines; ``plain``: the block's only whitespace is space, TAB, LF and CR LF (no
    :data:`~ktiw.data.tokenize.ODD_SPACE`, no lone CR), so lines end exactly at LF.

    Blocks hold about :data:`TAB_BLOCK_BYTES` and end after a newline (the last one at the end
    of the file), so no line or UTF-8 character is split.  A leading byte-order mark is dropped
    (it would otherwise become part of the first token); bytes that are not UTF-8 are a
    :class:`DataFileError` naming the byte offset in the (decompressed) file.  Line numbers
    count the lines of ``str.splitlines`` (so ``\\r``, ``\\v``, ``\\f``, ... end lines as
    they do there).  ``compression`` (``gzip`` or ``bz2``) is undone on the fly."""
    lines = offset = 0
    carry = b""
    with open_data_file(path) as raw_file, decompressed(raw_file, compression) as f:
        while True:
            try:
                chunk = f.read(TAB_BLOCK_BYTES)
            except (OSError, EOFError, zlib.error) as exc:
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise DataFileError(f"cannot read data file {path}: {why}") from None
            data = carry + chunk
            if chunk:
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # one line longer than a block: keep reading
                    carry = data
                    continue
                block, carry = data[:cut], data[cut:]
            else:
                block, carry = data, b""
            try:
                text = block.decode("utf-8")
            except UnicodeDecodeError as exc:
                where = f"{exc.reason} at byte {offset + exc.start}"
                raise DataFileError(f"data file {path} is not UTF-8 text ({where})") from None
            raw = block
            if offset == 0 and raw.startswith(_BOM):
                raw, text = raw[len(_BOM) :], text[1:]
            plain = _plain(raw, text)
            if text:
                yield lines, raw, text, plain
            offset += len(block)
            # len(text.splitlines()) (every block but the last ends with LF), without the list
            lines += raw.count(b"\n") if plain else len(text.splitlines())
            if not chunk:
                return


def decompressed(raw: BinaryIO, compression: str | None) -> BinaryIO:
    if compression == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if compression == "bz2":
        return bz2.BZ2File(raw, "rb")  # type: ignore[return-value]
    return contextlib.nullcontext(raw)  # type: ignore[return-value]


_ODD_ASCII = [bytes([c]) for a, b in ODD_SPACE for c in range(a, min(b, 127) + 1)]


def _plain(raw: bytes, text: str) -> bool:
    """No :data:`~ktiw.data.tokenize.ODD_SPACE` character and no CR outside CR LF."""
    if text.isascii():  # O(1) on str; then a few byte scans instead of a regex
        return not any(c in raw for c in _ODD_ASCII) and raw.count(b"\r") == raw.count(b"\r\n")
    return ODD_SPACE_RE.search(text) is None and raw.count(b"\r") == raw.count(b"\r\n")


def iter_tab_lines(
    path: Path, left_name: str = "input", right_name: str = "output", compression: str | None = None
) -> Iterator[tuple[np.ndarray, list[Any]]]:
    """``(line numbers, [left sides, right sides])`` of the ``left<TAB>right`` lines, block by block.

    Blank lines and ``#`` comments are skipped; a line without TAB, with a second TAB, with a
    side without tokens, or a file with no such line is a :class:`DataFileError` naming
    ``file:line``.  Sides are a pyarrow string array per block (extra ``[data]``: the lines are
    cut and checked by its vectorised kernels, the line end kept as trailing whitespace), else
    lists of whitespace-split tokens (the same tokens: blocks holding a whitespace or line-break
    character other than space, TAB, ``\\n`` and CR LF take this exact path too)."""
    pa = optional_pyarrow()
    names = (left_name, right_name)
    found = False
    for before, raw, text, plain in iter_text_blocks(path, compression):
        block = (
            _tab_block_arrow(path, before, raw, names)
            if plain and pa is not None
            else _tab_block_python(path, before, text, names)
        )
        if block is not None:
            found = True
            yield block
    if not found:
        raise DataFileError(f"data file {path} has no pairs (empty, or only comments)")


def _no_tab(path: Path, number: int, names: tuple[str, str], tabs: int) -> DataFileError:
    if tabs == 0:
        return DataFileError(
            f"{path}:{number}: expected '{names[0]} tokens<TAB>{names[1]} tokens', no TAB found"
        )
    return DataFileError(
        f"{path}:{number}: more than one TAB; expected two columns '{names[0]} tokens<TAB>{names[1]} tokens'"
    )


def _tab_block_python(
    path: Path, before: int, text: str, names: tuple[str, str]
) -> tuple[np.ndarray, list[Any]] | None:
    numbers: list[int] = []
    lefts: list[list[str]] = []
    rights: list[list[str]] = []
    for number, line in enumerate(text.splitlines(), start=before + 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        left, tab, right = line.partition("\t")
        if not tab or "\t" in right:
            raise _no_tab(path, number, names, 0 if not tab else 2)
        lhs, rhs = left.split(), right.split()
        if not lhs or not rhs:
            raise DataFileError(f"{path}:{number}: the {names[0] if not lhs else names[1]} side is empty")
        numbers.append(number)
        lefts.append(lhs)
        rights.append(rhs)
    return (np.array(numbers, dtype=np.int64), [lefts, rights]) if numbers else None


def _tab_block_arrow(
    path: Path, before: int, raw: bytes, names: tuple[str, str]
) -> tuple[np.ndarray, list[Any]] | None:
    """The vectorised twin of :func:`_tab_block_python` for blocks whose only whitespace is
    space, TAB, ``\\n`` and CR LF (so ASCII whitespace is exactly Python's whitespace)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ends = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == 10) + 1
    if not raw.endswith(b"\n"):
        ends = np.append(ends, len(raw))
    offsets = np.concatenate(([0], ends)).astype(np.int32 if len(raw) < 2**31 else np.int64)
    kind = pa.string() if offsets.dtype == np.int32 else pa.large_string()
    lines = pa.Array.from_buffers(kind, ends.size, [None, pa.py_buffer(offsets), pa.py_buffer(raw)])
    trimmed = pc.ascii_trim_whitespace(lines)
    keep = pc.and_(pc.greater(pc.binary_length(trimmed), 0), pc.invert(pc.starts_with(trimmed, "#")))
    keep_np = keep.to_numpy(zero_copy_only=False)
    if not keep_np.any():
        return None
    numbers = before + 1 + np.flatnonzero(keep_np)
    lines = lines.filter(keep)
    tabs = pc.count_substring(lines, "\t").to_numpy(zero_copy_only=False)
    wrong = np.flatnonzero(tabs != 1)
    good = int(wrong[0]) if wrong.size else len(lines)  # lines before the first TAB error
    parts = pc.split_pattern(lines.slice(0, good), "\t", max_splits=1)
    sides = [pc.list_element(parts, k) for k in (0, 1)]
    empty = [
        pc.equal(pc.binary_length(pc.ascii_trim_whitespace(s)), 0).to_numpy(zero_copy_only=False)
        for s in sides
    ]
    either = np.flatnonzero(empty[0] | empty[1])
    if either.size:
        k = int(either[0])
        side = names[0] if empty[0][k] else names[1]
        raise DataFileError(f"{path}:{numbers[k]}: the {side} side is empty")
    if wrong.size:
        raise _no_tab(path, int(numbers[good]), names, int(tabs[good]))
    return numbers, sides
