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
    RUN_DIR/checkpoint.pt      last checkpoint, torch.load(weights_only=True); it records the
                               hash of the config it belongs to (:func:`config_hash`)
    RUN_DIR/checkpoint.prev.pt the checkpoint before it (the fallback when the last is damaged)
    RUN_DIR/summary.json       {"seeds": [{"seed", "reached_95", "step_95", "diverged",
                                "diverged_step", "stopped_step", "final_token_acc"}], "finished",
                                "interrupted", "last_step", "complete"}

``step`` counts completed optimiser updates (step 0 = the initial model).  ``T`` indexes the
scored target tokens (not EOS), ``L`` the source word positions (not EOS); probe entries
outside ``src_len``/``tgt_len`` are NaN.  For a ``uniform`` run ``beta`` is ``beta_uf``.
``align`` is all ``-1`` when the distribution has no gold alignment.  Files are written
atomically (temporary file, then rename) and curves row by row, so an interrupted run
keeps everything recorded so far.

A finished run proves it is complete: its summary's ``complete`` record (written last, by
:func:`completion_record`) holds each seed's last evaluation step and the size and SHA-256 of
``config.json``, ``curves.csv`` and every probe file.  :func:`load_run` checks a finished run
against it (config: checksum; curves: size, checksum, last step per seed; probe files:
present, with their size and checksum), so a config edited afterwards or a probe file
swapped for another valid one is caught even by readers that never open it, such as ``ktiw
plot`` (hashing costs about 0.1 s for the 19 MB of probes of a paper run).  A run written
before the record existed is checked against what its summary says already: every seed's curve must end at
the run's last step (a stopped seed at its stop step) with the summary's final token accuracy,
so a ``curves.csv`` that lost its tail, even at a line boundary, is caught.  A finished run
that fails the check is :func:`damaged` (one line naming the file).

Every reader validates what it reads and names the damaged file in a one-line
:class:`~ktiw.core.errors.KtiwError`.  A process that writes a run holds an exclusive lock
on the directory (:class:`~ktiw.empirics.runfiles.RunLock`), so two ``ktiw train`` processes
never write the same run.  The trainer writes and reads the files through
:mod:`ktiw.empirics.runfiles`; this module reads a whole run (:func:`load_run`) and names run
directories.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ktiw.core.errors import KtiwError
from ktiw.core.paths import not_a_directory
from ktiw.empirics.runfiles import (
    SAMPLE_ARRAYS,
    damaged,
    file_digest,
    last_steps,
    probe_path,
    read_config,
    read_curves,
    read_json_object,
    read_npz,
)

MAX_NAME_BYTES = 96
"""Longest label part of a run folder name, in UTF-8 bytes (file systems allow 255)."""


TRAIN_RUNS = Path("ktiw-runs")
"""Where ``ktiw train`` (and :func:`ktiw.train`) put a run without ``--out``: beside
``ktiw-verify/`` and ``ktiw-sweep/``, and never inside the ``runs`` package of a source checkout."""


def run_label(spec: str | None, data: str | Path | None) -> str:
    """What a run is named by (:func:`run_name`): its distribution spec, or for ``--data`` the
    data file's name without its folder, suffix and ``?options`` (``corpus/en-fr.tsv?max_len=9``
    -> ``en-fr``)."""
    return spec if spec is not None else Path(str(data).partition("?")[0]).stem


def run_name(label: str, model: str, uniform: bool = False) -> str:
    """The directory name of a run, the same for ``ktiw train`` and ``ktiw verify``:
    ``<label>-<model>[-uniform]`` with the label made file-name safe
    (``subset:L=10,V=15`` -> ``subset-L10-V15-lstm``; a user model ``mypkg.models:build`` ->
    ``mypkg.models_build``).

    Two different labels never get one name, and names stay readable: a spec written with
    other than ASCII characters, or with characters a name cannot hold, is named by its
    canonical form (``subset:L=٣,V=٤``, ``subset : L = 3, V = 4`` -> ``subset-L3-V4``);
    letters and digits of any script are kept (``données``); any other
    character becomes ``_``, and then, or when the label is longer than
    :data:`MAX_NAME_BYTES`, the name ends with 8 hex digits of the label's SHA-256."""
    model = re.sub(r"[^A-Za-z0-9_.-]", "_", model)
    text = _plain(label)
    if not label.isascii() or not _is_safe(text):
        label = _canonical_spec(label)
        text = _plain(label)
    safe = "".join(c if _is_safe(c) else "_" for c in text)
    if safe != text or len(safe.encode()) > MAX_NAME_BYTES:
        cut = safe.encode()[:MAX_NAME_BYTES].decode("utf-8", "ignore")
        safe = f"{cut}-{hashlib.sha256(label.encode()).hexdigest()[:8]}"
    return f"{safe}-{model}" + ("-uniform" if uniform else "")


def _plain(label: str) -> str:
    return re.sub(r"[:,]", "-", label).replace("=", "")


def _is_safe(text: str) -> bool:
    return all(c.isalnum() or c in "_.-" for c in text)


def _canonical_spec(label: str) -> str:
    """``label`` written as its family writes it (ASCII digits), if it is a valid spec."""
    from ktiw.core.errors import SpecError
    from ktiw.data.families import from_spec

    try:
        return from_spec(label).spec
    except SpecError:
        return label


def fresh_dir(parent: Path, name: str) -> Path:
    """``parent/name``, or ``parent/name-2``, ``-3``, ... when that already exists."""
    target, k = Path(parent) / name, 2
    while target.exists():
        target, k = Path(parent) / f"{name}-{k}", k + 1
    return target


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
        record = self.summary.get("complete") if self.summary.get("finished") else None
        want = dict(record.get("probes", {})).get(path.name) if isinstance(record, dict) else None
        if isinstance(want, dict) and file_digest(path)["sha256"] != want.get("sha256"):
            raise damaged(path, "its contents differ from what summary.json recorded at the finish")
        return read_npz(path)

    def stopped_steps(self) -> dict[int, int]:
        """``{seed: step}`` of the seeds that stopped early (``ktiw train --stop-at``)."""
        return {
            int(s["seed"]): int(s["stopped_step"])
            for s in self.summary.get("seeds", [])
            if s.get("stopped_step") is not None
        }

    def frozen_probes(self, step: int) -> dict[str, np.ndarray]:
        """The probes at ``step`` with every seed that stopped before ``step`` filled in from
        its stop step.

        A stopped seed takes no further update, so its parameters at any later step are
        those at its stop step, and its evaluation on the fixed samples is the same: the
        per-seed arrays (``alpha``, ``beta``, ``grad``, a model's named tensors; axis 0 =
        seed) at its stop step *are* its arrays at ``step``.  The trainer saves probes at
        every step where a seed stops, so they are always on disk."""
        p = self.probes(step)
        stops = self.stopped_steps()
        late = {k: stops[seed] for k, seed in enumerate(self.seeds) if stops.get(seed, step) < step}
        if not late:
            return p
        out = {name: (a.copy() if name not in SAMPLE_ARRAYS else a) for name, a in p.items()}
        for stop in sorted(set(late.values())):  # each stop step's file read once
            if stop not in self.probe_steps:
                raise damaged(probe_path(self.path, stop), f"missing: seeds stopped at step {stop}")
            at_stop = self.probes(stop)
            rows = [k for k, s in late.items() if s == stop]
            for name, a in out.items():
                if name not in SAMPLE_ARRAYS and name in at_stop:
                    a[rows] = at_stop[name][rows]
        return out

    def frozen_curve(self, column: str, step: int) -> np.ndarray:
        """``column`` of every seed at evaluation step ``step``, ``[S]``; a seed that stopped
        before ``step`` (no row there) holds its value at its stop step (see
        :meth:`frozen_probes`)."""
        stops = self.stopped_steps()
        out = np.full(len(self.seeds), np.nan)
        for k, seed in enumerate(self.seeds):
            at = min(step, stops.get(seed, step))
            sel = (self.curves["seed"] == seed) & (self.curves["step"] == at)
            if sel.any():
                out[k] = float(self.curves[column][sel][-1])
        return out


def check_complete(run: Run) -> None:
    """:func:`damaged` unless the finished ``run`` is complete (module docstring): the curves and
    every probe file hashed against the record."""
    summary = run.summary
    if not summary.get("finished"):
        return
    curves_path = run.path / "curves.csv"
    last = last_steps(run.curves)
    record = summary.get("complete")
    if isinstance(record, dict):
        want = record.get("curves", {})
        got = file_digest(curves_path)
        if want.get("bytes") != got["bytes"] or want.get("sha256") != got["sha256"]:
            raise damaged(
                curves_path,
                f"{got['bytes']} bytes that do not match the {want.get('bytes')} bytes summary.json "
                "recorded when the run finished (cut short or edited)",
            )
        want_config = record.get("config")  # recorded since issue 21 (older records lack it)
        if isinstance(want_config, dict) and file_digest(run.path / "config.json") != {
            k: want_config.get(k) for k in ("bytes", "sha256")
        }:
            raise damaged(run.path / "config.json", "edited after the run finished (see summary.json)")
        for seed, step in dict(record.get("last_step", {})).items():
            if last.get(int(seed)) != int(step):
                raise damaged(curves_path, f"seed {seed} ends at step {last.get(int(seed))}, not {step}")
        for name, want_p in dict(record.get("probes", {})).items():
            path = run.path / "probes" / name
            if not path.is_file():
                raise damaged(path, "missing: summary.json recorded it when the run finished")
            try:
                got_p = file_digest(path)
            except OSError as exc:
                raise damaged(path, f"unreadable ({exc.strerror or exc})") from None
            if got_p["bytes"] != want_p.get("bytes") or got_p["sha256"] != want_p.get("sha256"):
                raise damaged(path, "its contents differ from what summary.json recorded at the finish")
        return
    # a run written before the record: check the curves against the summary itself
    end = summary.get("last_step")
    for s in summary.get("seeds", []):
        if not isinstance(s, dict) or not isinstance(s.get("seed"), int):
            continue
        seed = s["seed"]
        stop = s.get("stopped_step")
        want_step = stop if isinstance(stop, int) else end
        if isinstance(want_step, int) and last.get(seed) != want_step:
            raise damaged(
                curves_path, f"seed {seed} ends at step {last.get(seed)}, but summary.json says {want_step}"
            )
        final = s.get("final_token_acc")
        if isinstance(final, (int, float)) and seed in last:
            _, acc = run.curve(seed, "token_acc")
            if acc.size and not (acc[-1] == final or (np.isnan(acc[-1]) and np.isnan(final))):
                raise damaged(
                    curves_path,
                    f"seed {seed} ends with token accuracy {acc[-1]!r}, but summary.json says {final!r}",
                )


def load_run(path: str | Path) -> Run:
    """Read and check a run directory; a one-line :class:`KtiwError` naming the file if it is
    missing, not a run, or damaged (see :func:`read_config`, :func:`read_curves`)."""
    path = Path(path)
    problem = not_a_directory(path)
    if problem is not None:
        raise KtiwError(f"run directory {path} {problem}")
    config = read_config(path)
    summary_path = path / "summary.json"
    summary = read_json_object(summary_path) if summary_path.exists() else {}
    curves = read_curves(path / "curves.csv")
    if curves["seed"].size == 0:
        raise KtiwError(f"{path / 'curves.csv'} holds no rows (the run stopped before its first evaluation)")
    strangers = sorted(set(curves["seed"].tolist()) - set(config["seeds"]))
    if strangers:
        raise damaged(path / "curves.csv", f"rows for seeds {strangers} that config.json does not list")
    steps = []
    for p in (path / "probes").glob("step_*.npz"):
        try:
            steps.append(int(p.stem.split("_")[1]))
        except (IndexError, ValueError):
            continue
    run = Run(path, config, curves, summary, sorted(steps))
    check_complete(run)
    return run


def check_intact(run_dir: Path) -> str | None:
    """``None`` if every file of the run reads back (config, curves, summary, each probe
    archive in full) and a finished run is complete (:func:`check_complete`, by
    :func:`load_run`), else the one-line reason it is damaged."""
    try:
        run = load_run(run_dir)
        for step in run.probe_steps:
            read_npz(probe_path(run.path, step))
        proxy = Path(run_dir) / "probes" / "proxy.npz"
        if proxy.exists():
            read_npz(proxy)
    except KtiwError as exc:
        return str(exc)
    return None
