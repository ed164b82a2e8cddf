"""The run directory: what one ``ktiw train`` call leaves behind (a contract: the
comparator and ``ktiw plot`` read it through :func:`load_run`).

::

    RUN_DIR/config.json        every TrainConfig field + "model_config", "versions", "git_commit"
    RUN_DIR/curves.csv         one row per (seed, evaluation step):
                               seed,step,loss,token_acc,attn_acc,attn_mass,attn_acc_prev,attn_acc_next,
                               beta_acc,diverged
    RUN_DIR/probes/step_{step:06d}.npz
                               src, tgt, align, src_len, tgt_len  [N, ...]   (the fixed eval samples)
                               seeds [S], alpha, beta, grad       [S, N, T, L] float32
                               beta_px [N, T, L]                  (bag-of-words proxy, when computed)
    RUN_DIR/checkpoint.pt      last checkpoint, torch.load(weights_only=True)
    RUN_DIR/summary.json       {"seeds": [{"seed", "reached_95", "step_95", "diverged",
                                "diverged_step", "stopped_step", "final_token_acc"}], "finished",
                                "interrupted", "last_step"}

``step`` counts completed optimiser updates (step 0 = the initial model).  ``T`` indexes the
scored target tokens (not EOS), ``L`` the source word positions (not EOS); probe entries
outside ``src_len``/``tgt_len`` are NaN.  For a ``uniform`` run ``beta`` is ``beta_uf``.
``align`` is all ``-1`` when the distribution has no gold alignment.  Files are written
atomically (temporary file, then rename) and curves row by row, so an interrupted run
keeps everything recorded so far.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ktiw.theory.errors import KtiwError

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


def run_name(label: str, model: str, uniform: bool = False) -> str:
    """The directory name of a run, the same for ``ktiw train`` and ``ktiw verify``:
    ``<label>-<model>[-uniform]`` with the label made file-name safe
    (``subset:L=10,V=15`` -> ``subset-L10-V15-lstm``)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", re.sub(r"[:,]", "-", label).replace("=", ""))
    return f"{safe}-{model}" + ("-uniform" if uniform else "")


def fresh_dir(parent: Path, name: str) -> Path:
    """``parent/name``, or ``parent/name-2``, ``-3``, ... when that already exists."""
    target, k = Path(parent) / name, 2
    while target.exists():
        target, k = Path(parent) / f"{name}-{k}", k + 1
    return target


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, allow_nan=True) + "\n")
    os.replace(tmp, path)


def probe_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "probes" / f"step_{step:06d}.npz"


def save_probes(run_dir: Path, step: int, arrays: dict[str, np.ndarray]) -> None:
    """Write ``probes/step_{step:06d}.npz`` atomically."""
    path = probe_path(run_dir, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


class CurveWriter:
    """Appends rows to ``curves.csv`` and flushes after each evaluation."""

    def __init__(self, run_dir: Path, keep_until: int | None = None) -> None:
        """Open for appending; with ``keep_until`` (resume) first drop rows with ``step > keep_until``."""
        self.path = Path(run_dir) / "curves.csv"
        if keep_until is not None and self.path.exists():
            with self.path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= keep_until]
            with self.path.open("w", newline="") as f:
                w = csv.DictWriter(f, CURVE_COLUMNS)
                w.writeheader()
                w.writerows(rows)
        elif not self.path.exists() or keep_until is None:
            with self.path.open("w", newline="") as f:
                csv.writer(f).writerow(CURVE_COLUMNS)

    def write(self, rows: list[dict[str, Any]]) -> None:
        with self.path.open("a", newline="") as f:
            w = csv.DictWriter(f, CURVE_COLUMNS)
            for r in rows:
                w.writerow({k: _fmt(r[k]) for k in CURVE_COLUMNS})
            f.flush()
            os.fsync(f.fileno())


def _fmt(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return v


def read_curves(path: Path) -> dict[str, np.ndarray]:
    """``curves.csv`` as columns (``seed``, ``step``, ``diverged``: int; the rest float)."""
    with Path(path).open(newline="") as f:
        rows = list(csv.DictReader(f))
    out: dict[str, np.ndarray] = {}
    for col in CURVE_COLUMNS:
        kind = np.int64 if col in ("seed", "step", "diverged") else np.float64
        if col in OPTIONAL_COLUMNS and (not rows or rows[0].get(col) in (None, "")):
            out[col] = np.full(len(rows), np.nan)  # written before the column existed
            continue
        out[col] = np.array([kind(float(r[col])) if kind is np.int64 else float(r[col]) for r in rows], kind)
    return out


@dataclass
class Run:
    """A loaded run directory (see the module docstring for the format)."""

    path: Path
    config: dict[str, Any]
    curves: dict[str, np.ndarray]
    summary: dict[str, Any]
    probe_steps: list[int]

    @property
    def seeds(self) -> list[int]:
        return list(self.config["seeds"])

    def curve(self, seed: int, column: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of one seed's column, sorted by step."""
        sel = self.curves["seed"] == seed
        order = np.argsort(self.curves["step"][sel], kind="stable")
        return self.curves["step"][sel][order], self.curves[column][sel][order]

    def probes(self, step: int) -> dict[str, np.ndarray]:
        """The arrays of ``probes/step_{step:06d}.npz``."""
        path = probe_path(self.path, step)
        if not path.exists():
            raise KtiwError(f"no probes saved for step {step} in {self.path} (have {self.probe_steps})")
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}


def load_run(path: str | Path) -> Run:
    """Read a run directory; :class:`KtiwError` (one line) if it is missing or not a run."""
    path = Path(path)
    if not path.is_dir():
        raise KtiwError(f"run directory {path} does not exist")
    if not (path / "config.json").exists():
        raise KtiwError(f"{path} is not a ktiw run directory (no config.json)")
    try:
        config = json.loads((path / "config.json").read_text())
        summary_path = path / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        curves_path = path / "curves.csv"
        curves = read_curves(curves_path) if curves_path.exists() else read_curves_empty()
    except (json.JSONDecodeError, ValueError, KeyError) as exc:
        raise KtiwError(f"{path}: damaged run directory ({exc})") from None
    steps = sorted(int(p.stem.split("_")[1]) for p in (path / "probes").glob("step_*.npz"))
    return Run(path, config, curves, summary, steps)


def read_curves_empty() -> dict[str, np.ndarray]:
    return {
        c: np.zeros(0, np.int64 if c in ("seed", "step", "diverged") else np.float64) for c in CURVE_COLUMNS
    }
