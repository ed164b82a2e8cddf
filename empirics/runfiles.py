"""The files of one run directory, written and read by the trainer: atomic JSON, the curves
CSV, probe archives, the checkpoint names, the completion record and the directory lock.
Every reader validates what it reads and names the damaged file in a one-line
:class:`~ktiw.core.errors.KtiwError`.  The directory's layout (the contract the comparator and
``ktiw plot`` read) is described in :mod:`ktiw.runs.rundir`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ktiw.core.errors import KtiwError

CHECKPOINT = "checkpoint.pt"
PREVIOUS_CHECKPOINT = "checkpoint.prev.pt"

SAMPLE_ARRAYS = frozenset({"src", "tgt", "align", "src_len", "tgt_len", "seeds", "beta_px"})
"""Probe-file arrays that describe the evaluation samples (shared by all seeds); every other
array has the seed on axis 0."""

CURVE_COLUMNS = (
    "seed",
    "step",
    "loss",
    "token_acc",
    "attn_acc",
    "attn_mass",
    "attn_acc_prev",
    "attn_acc_next",
    "beta_acc",
    "diverged",
)


OPTIONAL_COLUMNS = frozenset({"attn_mass"})
"""Columns added after runs were first recorded: NaN when an older ``curves.csv`` lacks them."""


def has_checkpoint(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a checkpoint to resume from: the last one, or the previous one
    (a run killed between the two renames of a checkpoint write has only ``checkpoint.prev.pt``;
    the trainer falls back to it)."""
    return (run_dir / CHECKPOINT).exists() or (run_dir / PREVIOUS_CHECKPOINT).exists()


def check_out_name(out: Path) -> None:
    """One-line :class:`KtiwError` for an ``--out`` that names no folder of its own: empty,
    ``'.'``, or with surrounding spaces."""
    if str(out).strip() in ("", ".") or str(out) != str(out).strip():
        raise KtiwError(
            f"--out {str(out)!r}: give a directory name (not empty, not '.', no surrounding spaces)"
        )


def check_out_dir(out: Path, *, ours: tuple[str, ...] = (), what: str = "") -> None:
    """One-line :class:`KtiwError` for an ``--out`` folder that cannot take this command's output:
    a bad name (:func:`check_out_name`), a file, or an existing non-empty folder that holds none
    of the entries ``ours`` (the marks of an earlier output of the same command, called ``what``
    in the message).  Nothing is created."""
    check_out_name(out)
    if out.exists() and not out.is_dir():
        raise KtiwError(f"--out {out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and not any((out / m).exists() for m in ours):
        held = f" and no {what}" if what else ""
        raise KtiwError(f"--out {out} is a directory that holds other files{held}; choose a new or empty one")


def write_cause(path: Path, exc: BaseException) -> str:
    """Why writing ``path`` failed, in words: the ``OSError``'s reason, or for a writer that hides
    it (``torch.save`` raises ``RuntimeError: ... unexpected pos``) what this process can see:
    a file-size limit (``ulimit -f``) or a full device."""
    if isinstance(exc, OSError) and exc.errno is not None:
        why = exc.strerror or os.strerror(exc.errno)
        if exc.errno == errno.EFBIG:
            why += " (over the file-size limit, ulimit -f)"
        return why
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if soft != resource.RLIM_INFINITY:
            return f"File too large (over the file-size limit, ulimit -f: {soft} bytes)"
    except (ImportError, OSError, ValueError):  # pragma: no cover - not POSIX
        pass
    try:
        st = os.statvfs(Path(path).parent)
        if st.f_bavail * st.f_frsize < 16 * 2**20:
            return f"No space left on device ({st.f_bavail * st.f_frsize} bytes free)"
    except OSError:
        pass
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:200]


@contextlib.contextmanager
def writing(path: Path, tmp: Path | None = None) -> Iterator[None]:
    """Turn a failed write of ``path`` (disk full, file-size limit, I/O error; ``OSError``, or the
    ``RuntimeError`` torch raises) into one line naming the file and the cause; the partial
    temporary file ``tmp`` is removed, so the last complete file stays as it was."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        raise KtiwError(
            f"cannot write {path}: {write_cause(path, exc)}; the files written before it are kept"
        ) from None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with writing(path, tmp):
        with tmp.open("w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def save_figure(fig: Any, path: Path, **savefig: Any) -> Path:
    """Save a matplotlib figure as ``path`` (format from its suffix) atomically, through
    :func:`writing`: a full disk or ``ulimit -f`` is one line naming the figure, and no partial
    image is left in its place."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with writing(path, tmp):
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", **savefig)
        os.replace(tmp, path)
    return path


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    _write_atomic(path, json.dumps(obj, indent=2, allow_nan=True) + "\n")


def probe_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "probes" / f"step_{step:06d}.npz"


def save_probes(run_dir: Path, step: int, arrays: dict[str, np.ndarray]) -> None:
    """Write ``probes/step_{step:06d}.npz`` atomically."""
    path = probe_path(run_dir, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    with writing(path, tmp):
        with tmp.open("wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


class CurveWriter:
    """Appends rows to ``curves.csv`` and flushes after each evaluation."""

    def __init__(self, run_dir: Path, keep_until: int | None = None) -> None:
        """Start ``curves.csv`` afresh; with ``keep_until`` (resume) keep exactly the checked rows
        with ``step <= keep_until`` (byte for byte) and drop the rest, atomically."""
        self.path = Path(run_dir) / "curves.csv"
        header = ",".join(CURVE_COLUMNS) + "\n"
        if keep_until is None:
            _write_atomic(self.path, header)
            return
        read_curves(self.path, torn_tail_ok=True)  # every kept line is checked first
        lines = self.path.read_text(encoding="utf-8").split("\n")
        header, rows = lines[0] + "\n", lines[1:-1]
        if header.strip().split(",") != list(CURVE_COLUMNS):
            raise KtiwError(
                f"{self.path} has the columns of an older ktiw ({header.strip()}); its rows cannot be "
                "continued with today's columns: train afresh with another --out"
            )
        at = header.strip().split(",").index("step")
        kept = [ln + "\n" for ln in rows if int(float(ln.split(",")[at])) <= keep_until]
        _write_atomic(self.path, header + "".join(kept))

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Append ``rows`` as one write: a failed write (disk full) is cut back to the rows before
        it, so ``curves.csv`` never keeps half an evaluation."""
        data = memoryview(
            "".join(",".join(str(_fmt(r[k])) for k in CURVE_COLUMNS) + "\n" for r in rows).encode()
        )
        with writing(self.path):
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                start = os.lseek(fd, 0, os.SEEK_END)
                try:
                    while data:
                        data = data[os.write(fd, data) :]
                    os.fsync(fd)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, start)
                    raise
            finally:
                os.close(fd)


def _fmt(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return v


def damaged(path: Path, how: str) -> KtiwError:
    """The one-line error for a run-directory file that cannot be trusted."""
    return KtiwError(f"{path} is damaged: {how}")


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from ``path`` (a run-directory file), or :func:`damaged`."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KtiwError(f"{path} is missing") from None
    except (OSError, ValueError) as exc:
        raise damaged(path, f"not valid JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise damaged(path, f"expected a JSON object, found {type(obj).__name__}")
    return obj


def read_config(run_dir: Path) -> dict[str, Any]:
    """``config.json`` with its ``seeds`` (distinct non-negative integers) and ``steps`` checked."""
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not path.is_file():
        raise KtiwError(f"{run_dir} is not a ktiw run directory (no config.json)")
    config = read_json_object(path)
    seeds = config.get("seeds")
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise damaged(path, "'seeds' is not a list of distinct non-negative integers")
    for key in ("steps", "eval_every"):
        if key not in config:
            continue
        value = config[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < (0 if key == "steps" else 1):
            raise damaged(path, f"{key!r} is not a valid integer ({value!r})")
    return config


def read_curves(path: Path, *, torn_tail_ok: bool = False) -> dict[str, np.ndarray]:
    """``curves.csv`` as columns (``seed``, ``step``, ``diverged``: int; the rest float).

    Every line is checked (header, field count, numbers; no duplicate ``(seed, step)``); a
    bad one is :func:`damaged` naming the line.  With ``torn_tail_ok`` a last line without
    its newline (a write cut short by a kill) is dropped instead: resume recomputes it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KtiwError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise damaged(path, f"cannot be read ({exc})") from None
    lines = text.split("\n")
    tail = lines.pop()  # "" when the file ends with a newline
    if tail and not torn_tail_ok:
        lines.append(tail)
    header = lines[0].strip().split(",") if lines else []
    required = [c for c in CURVE_COLUMNS if c not in OPTIONAL_COLUMNS]
    if (
        any(c not in header for c in required)
        or any(c not in CURVE_COLUMNS for c in header)
        or len(set(header)) != len(header)
    ):
        raise damaged(path, f"line 1 is not the header {','.join(CURVE_COLUMNS)}")
    ints = [header.index(c) for c in ("seed", "step", "diverged")]
    values: list[list[float]] = []
    seen: set[tuple[int, int]] = set()
    for number, line in enumerate(lines[1:], start=2):
        cells = line.strip().split(",")
        if len(cells) != len(header):
            raise damaged(path, f"line {number} has {len(cells)} fields, expected {len(header)}")
        try:
            row = [float(c) for c in cells]
        except ValueError:
            raise damaged(path, f"line {number} holds a value that is not a number") from None
        if not all(np.isfinite(row[i]) and row[i] >= 0 and row[i] == int(row[i]) for i in ints):
            raise damaged(path, f"line {number}: seed, step and diverged must be non-negative integers")
        key = (int(row[ints[0]]), int(row[ints[1]]))
        if key in seen:
            raise damaged(path, f"line {number} repeats seed {key[0]} step {key[1]}")
        seen.add(key)
        values.append(row)
    table = np.array(values, dtype=np.float64).reshape(len(values), len(header))
    out: dict[str, np.ndarray] = {}
    for col in CURVE_COLUMNS:
        if col not in header:  # an optional column written before it existed
            out[col] = np.full(len(values), np.nan)
            continue
        j = header.index(col)
        out[col] = table[:, j].astype(np.int64) if col in ("seed", "step", "diverged") else table[:, j]
    return out


class RunLock:
    """An exclusive, non-blocking lock on a run directory (``flock`` on the directory itself,
    so no file is added); released by :meth:`release` or when the process ends."""

    def __init__(self, run_dir: Path) -> None:
        self.fd: int | None = None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return
        fd = os.open(run_dir, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise KtiwError(
                f"{run_dir} is in use by another ktiw process (a train or --resume still running); "
                "wait for it to finish or choose another --out"
            ) from None
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` run file (never pickles), or :func:`damaged`."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise KtiwError(f"{path} is missing") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise damaged(path, f"not a readable .npz archive ({type(exc).__name__}: {exc})") from None


def file_digest(path: Path) -> dict[str, Any]:
    """``{"bytes", "sha256"}`` of a file (read in 1 MiB blocks)."""
    h, n = hashlib.sha256(), 0
    with Path(path).open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            n += len(block)
    return {"bytes": n, "sha256": h.hexdigest()}


def completion_record(run_dir: Path) -> dict[str, Any]:
    """What a finished run's summary records to prove it complete (module docstring): each
    seed's last evaluation step in ``curves.csv``, and size and SHA-256 of ``config.json``,
    ``curves.csv`` and every probe file."""
    run_dir = Path(run_dir)
    curves = read_curves(run_dir / "curves.csv")
    last = {str(seed): step for seed, step in last_steps(curves).items()}
    probes = sorted((run_dir / "probes").glob("*.npz")) if (run_dir / "probes").is_dir() else []
    return {
        "last_step": last,
        "config": file_digest(run_dir / "config.json"),
        "curves": {**file_digest(run_dir / "curves.csv"), "rows": int(curves["seed"].size)},
        "probes": {p.name: file_digest(p) for p in probes if not p.name.endswith(".tmp.npz")},
    }


def last_steps(curves: dict[str, np.ndarray]) -> dict[int, int]:
    last: dict[int, int] = {}
    for seed, step in zip(curves["seed"].tolist(), curves["step"].tolist(), strict=True):
        last[seed] = max(step, last.get(seed, step))
    return last
