"""``--reuse``: find a run directory whose recorded config equals the requested one.

Two configs are *the same run* when every field that determines the numbers is equal:
the training config's own fields, compared after a JSON round trip (tuples become lists),
except :data:`IGNORED` (labels and provenance that do not change the numbers); the precision
(``fp32``/``bf16``) is one of these fields, so runs of different precisions are never mixed.  A requested
``None`` (``probe_every``: automatic) matches whatever the trainer resolved it to.  A run
counts as finished when its ``summary.json`` says ``"finished": true``; an unfinished one
that has a checkpoint can be resumed.  A run that says it finished but fails its completeness
check (:func:`damage`) is neither reused nor resumed: a new run is trained, with one line on
stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ktiw.empirics import runfiles

IGNORED = frozenset({"preset", "versions", "git_commit", "out_dir", "progress", "device_requested"})
"""Config fields that do not change a run's numbers: the preset's name (its values are
recorded field by field), package versions and git commit (provenance; recorded in the
report), and output-only options."""


ADDED_LATER = {"precision": "fp32"}
"""Training fields added after runs had been stored, with the value every run recorded without
the field was trained with (so ``--reuse`` still finds those runs, and only those, for it)."""


def normalise(config: dict[str, object]) -> dict[str, object]:
    """The config as JSON would store it, without the ignored fields."""
    return {k: v for k, v in json.loads(json.dumps(config)).items() if k not in IGNORED}


def same_config(requested: dict[str, object], recorded: dict[str, object]) -> bool:
    """Whether a recorded ``config.json`` describes the requested run.

    Every non-ignored, non-``None`` field of ``requested`` must be present in ``recorded``
    with an equal value (fields the recorder adds on its own, such as versions, are not
    required back).
    """
    want, have = normalise(requested), {**ADDED_LATER, **normalise(recorded)}
    return all(k in have and have[k] == v for k, v in want.items() if v is not None)


def claims_finished(run_dir: Path) -> bool:
    """``summary.json`` exists and says the run finished (not interrupted); nothing else checked."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(summary, dict):
        return False
    return bool(summary.get("finished")) and not summary.get("interrupted", False)


def damage(run_dir: Path) -> str | None:
    """Why a run that claims to be finished cannot be trusted (:func:`ktiw.runs.rundir.check_intact`:
    every file reads back, and the run is complete against the record its summary holds), or ``None``."""
    from ktiw.runs.rundir import check_intact

    return check_intact(run_dir)


def is_finished(run_dir: Path, *, notice: str = "training it again") -> bool:
    """``summary.json`` exists and records a finished (not interrupted) run, and every file of
    the run reads back intact and complete (:func:`damage`).  A damaged run is not reused: one
    line on stderr says so (``notice`` says what the caller does instead)."""
    if not claims_finished(run_dir):
        return False
    problem = damage(run_dir)
    if problem is not None:
        print(f"not reusing {run_dir}: {problem}; {notice}", file=sys.stderr)
        return False
    return True


@dataclass(frozen=True)
class Match:
    path: Path
    finished: bool


def find_matching(requested: dict[str, object], candidates: Iterable[Path]) -> Match | None:
    """A directory among ``candidates`` whose config equals ``requested``: the first finished
    one, else the first unfinished one with a checkpoint to resume from, else ``None``."""
    resumable = None
    for run_dir in sorted(candidates):
        try:
            recorded = json.loads((run_dir / "config.json").read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(recorded, dict) or not same_config(requested, recorded):
            continue
        if claims_finished(run_dir):
            if is_finished(run_dir, notice="training a new run instead"):
                return Match(run_dir, True)
            continue  # a damaged finished run: its checkpoint is at the end, nothing to resume
        if resumable is None and runfiles.has_checkpoint(run_dir):
            resumable = Match(run_dir, False)
    return resumable


def find_reusable(requested: dict[str, object], candidates: Iterable[Path]) -> Path | None:
    """The first finished directory among ``candidates`` whose config equals ``requested``."""
    match = find_matching(requested, candidates)
    return match.path if match is not None and match.finished else None
