"""``--reuse``: find a finished run directory whose recorded config equals the requested one.

Two configs are *the same run* when every field that determines the numbers is equal:
the training config's own fields, compared after a JSON round trip (tuples become lists),
except :data:`IGNORED` (labels and provenance that do not change the numbers). A run
counts as finished when its ``summary.json`` says ``"finished": true``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

IGNORED = frozenset({"preset", "versions", "git_commit", "out_dir", "progress"})
"""Config fields that do not change a run's numbers: the preset's name (its values are
recorded field by field), package versions and git commit (provenance; recorded in the
report), and output-only options."""


def normalise(config: dict[str, object]) -> dict[str, object]:
    """The config as JSON would store it, without the ignored fields."""
    return {k: v for k, v in json.loads(json.dumps(config)).items() if k not in IGNORED}


def same_config(requested: dict[str, object], recorded: dict[str, object]) -> bool:
    """Whether a recorded ``config.json`` describes the requested run.

    Every non-ignored field of ``requested`` must be present in ``recorded`` with an equal
    value (fields the recorder adds on its own, such as versions, are not required back).
    """
    want, have = normalise(requested), normalise(recorded)
    return all(k in have and have[k] == v for k, v in want.items())


def is_finished(run_dir: Path) -> bool:
    """``summary.json`` exists and records a finished (not interrupted) run."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(summary.get("finished")) and not summary.get("interrupted", False)


def find_reusable(requested: dict[str, object], candidates: Iterable[Path]) -> Path | None:
    """The first finished directory among ``candidates`` whose config equals ``requested``."""
    for run_dir in sorted(candidates):
        try:
            recorded = json.loads((run_dir / "config.json").read_text())
        except (OSError, ValueError):
            continue
        if same_config(requested, recorded) and is_finished(run_dir):
            return run_dir
    return None
