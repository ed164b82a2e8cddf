"""User-supplied pairs: one per line, ``input tokens<TAB>output tokens``.

Tokens are separated by whitespace; blank lines and lines starting with ``#`` are
skipped.  The file defines the uniform distribution over its lines, so its
co-occurrence matrix is exact (counted).  Input and output vocabularies are kept
separate and sorted, so word ids do not depend on line order.
"""

from __future__ import annotations

from pathlib import Path

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


def read_text_file(path: Path) -> str:
    """The UTF-8 text of a data file, or :class:`DataFileError` saying in one line why not."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFileError(f"data file {path} does not exist") from None
    except IsADirectoryError:
        raise DataFileError(f"data file {path} is a directory") from None
    except UnicodeDecodeError as exc:
        raise DataFileError(f"data file {path} is not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise DataFileError(f"cannot read data file {path}: {exc.strerror}") from None


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
        lhs, rhs = left.split(), right.split()
        if not lhs or not rhs:
            side = left_name if not lhs else right_name
            raise DataFileError(f"{path}:{number}: the {side} side is empty")
        rows.append((number, lhs, rhs))
    if not rows:
        raise DataFileError(f"data file {path} has no pairs (empty, or only comments)")
    return rows


def load_pairs(path: str | Path) -> EmpiricalDistribution:
    """Read a data file into an :class:`EmpiricalDistribution` (one outcome per line).

    Raises :class:`DataFileError` (one line, naming file and line) when the file
    cannot be read, a line has no TAB or an empty side, or no pairs remain.
    """
    path = Path(path)
    rows = read_tab_lines(path)
    srcs = [src for _, src, _ in rows]
    tgts = [tgt for _, _, tgt in rows]
    in_words = sorted({w for s in srcs for w in s})
    out_words = sorted({w for t in tgts for w in t})
    in_id = {w: i for i, w in enumerate(in_words)}
    out_id = {w: i for i, w in enumerate(out_words)}
    src_len = np.fromiter((len(s) for s in srcs), dtype=np.int64, count=len(srcs))
    tgt_len = np.fromiter((len(t) for t in tgts), dtype=np.int64, count=len(tgts))
    src_ids = pad_rows([[in_id[w] for w in s] for s in srcs], src_len)
    tgt_ids = pad_rows([[out_id[w] for w in t] for t in tgts], tgt_len)
    return EmpiricalDistribution(
        src_ids,
        tgt_ids,
        n_in=len(in_words),
        n_out=len(out_words),
        src_len=src_len,
        tgt_len=tgt_len,
        in_words=in_words,
        out_words=out_words,
        spec=f"file:{path}",
        method="counting",
    )
