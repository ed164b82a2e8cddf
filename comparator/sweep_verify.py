"""``ktiw sweep --verify``: the ``ktiw verify`` copy experiment at every combination of the
sweep's ``--set`` values, one ``OUT/verify/<point>/`` report each and one ``OUT/verify.csv``
(the grid of trainings itself is :mod:`ktiw.runs.sweep`)."""

from __future__ import annotations

import csv
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ktiw.core.errors import KtiwError
from ktiw.runs.sweep import _value_text

VERIFY_CSV = "verify.csv"


def _cell(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value)
VERIFY_COLUMNS = ("check", "subject", "status", "measured", "expected")


@dataclass(frozen=True)
class VerifyPoint:
    """``--verify``: one combination of ``--set`` values, its name and the copy experiment's preset."""

    name: str
    settings: dict[str, Any]
    overrides: dict[str, Any]
    """The copy preset's fields this point replaces (``ktiw verify --set``)."""


def plan_verify(
    axes: Mapping[str, Sequence[Any]], seeds: Sequence[int], *, preset: str, model: str
) -> list[VerifyPoint]:
    """The ``ktiw verify`` copy experiment for every combination of ``--set`` values, checked
    before anything is trained: the preset ``preset`` with the values and ``len(seeds)``
    seeds, and no toy-fidelity setups (they do not depend on the training settings; ``ktiw
    verify`` runs them)."""
    from ktiw.config.presets import get_preset, with_overrides

    base = get_preset("copy", preset)
    if model != base.training.model:
        raise KtiwError(f"--verify runs the copy experiment, which trains {base.training.model}, not {model}")
    if list(seeds) != list(range(len(seeds))):
        raise KtiwError("--verify needs --seeds as a count (seeds 0..N-1), as ktiw verify uses them")
    points = []
    for combo in itertools.product(*axes.values()):
        settings = dict(zip(axes, combo, strict=True))
        overrides = {"fidelity": (), **settings, "seeds": len(seeds)}
        with_overrides(base, overrides)  # unknown keys and bad values: KtiwError now
        name = "-".join(f"{k}{_value_text(v)}" for k, v in settings.items()) or "preset"
        points.append(VerifyPoint(name, settings, overrides))
    return points


def run_verify_points(
    points: Sequence[VerifyPoint],
    specs: Sequence[str],
    out_dir: Path,
    executor: Any,
    *,
    preset: str,
    device: str,
    threads: int | None,
    precision: str | None = None,
    progress: bool = True,
    console: Any = None,
    data: Path | None = None,
) -> tuple[list[Any], Path]:
    """Run the copy experiment (on ``specs``, or on the data source ``data``) per point into
    ``OUT/verify/<point>/`` (its trainings on
    ``executor``; finished runs reused, interrupted ones resumed) and write ``OUT/verify.csv``:
    one row per point and verdict (the point's ``--set`` values, check, subject, status,
    measured, expected).  Returns the experiment results and the csv's path."""
    from functools import partial

    from .experiments import verify
    from .framework import execute_runs

    results, rows = [], []
    keys = list(dict.fromkeys(k for p in points for k in p.settings))
    for point in points:
        if progress and console is not None:
            from rich.markup import escape

            console.print(escape(f"verify {point.name}: {', '.join(specs) or data}"))
        result = verify(
            "copy",
            preset,
            specs=list(specs),
            data=data,
            overrides=point.overrides,
            precision=precision,
            device=device,
            threads=threads,
            out_dir=Path(out_dir) / "verify" / point.name,
            reuse=True,
            progress=progress,
            console=console,
            executor=partial(execute_runs, executor=executor),
        )
        results.append(result)
        for v in result.verdicts:
            row = {k: point.settings.get(k) for k in keys}
            row.update(check=v.name, subject=v.subject, status=str(v.status), measured=v.measured)
            row["expected"] = v.expected
            rows.append({"point": point.name, **row})
    path = Path(out_dir) / VERIFY_CSV
    tmp = path.with_name(path.name + ".tmp")
    from ktiw.empirics.runfiles import writing

    with writing(path, tmp):
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, ["point", *keys, *VERIFY_COLUMNS])
            w.writeheader()
            for row in rows:
                w.writerow({k: _cell(v) for k, v in row.items()})
        os.replace(tmp, path)
    return results, path
