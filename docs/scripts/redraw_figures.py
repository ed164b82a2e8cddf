"""Redraw a stored copy report's ``takeoff.png`` and ``curves_*.png`` from its
``verdicts.json`` with the current figure code, without the run directories.

    python docs/scripts/redraw_figures.py docs/data/paper docs/data/quick   # from the repository root

``verdicts.json`` stores what both figures draw: the ``takeoff-order`` check's predicted and
measured takeoff per distribution, and the measurement (every seed's evaluation curve, the
theory's curves and the fitted time scale ``t = scale x step``).  The numbers are the stored
ones; only the drawing is new.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ktiw.comparator.copy_measurement import TheoryCurve
from ktiw.comparator.figures import curves_figure, takeoff_figure
from ktiw.comparator.measures import SeedCurve
from ktiw.runs.rundir import run_name


def _number(value: object) -> float | None:
    """A stored number (``"inf"`` for never, ``None`` for none)."""
    if value is None:
        return None
    return math.inf if value == "inf" else float(value)  # type: ignore[arg-type]


def _array(values: list[object] | None) -> np.ndarray | None:
    return None if values is None else np.array([np.nan if v is None else _number(v) for v in values], float)


def _seed(item: dict[str, object]) -> SeedCurve:
    return SeedCurve(
        seed=int(item["seed"]),  # type: ignore[call-overload]
        steps=_array(item["steps"]),  # type: ignore[arg-type]
        token_acc=_array(item["token_acc"]),  # type: ignore[arg-type]
        attn_acc=_array(item["attn_acc"]),  # type: ignore[arg-type]
        beta_acc=_array(item["beta_acc"]),  # type: ignore[arg-type]
        succeeded=bool(item["succeeded"]),
        attn_mass=_array(item.get("attn_mass")),  # type: ignore[arg-type]
    )


def redraw(folder: Path) -> list[Path]:
    doc = json.loads((folder / "verdicts.json").read_text())
    steps = int(doc["meta"]["preset_values"]["training"]["steps"])
    (check,) = [v for v in doc["verdicts"] if v["name"] == "takeoff-order"]
    takeoffs = [
        SimpleNamespace(
            spec=item["spec"],
            takeoff=SimpleNamespace(
                predicted=_number(item["predicted_toy_steps"]),
                measured_median=_number(item["measured_median_step"]),
            ),
        )
        for item in check["numbers"]["items"]
    ]
    out = [takeoff_figure(takeoffs, steps, folder / "takeoff.png")]  # type: ignore[arg-type]
    m = doc["measurement"]
    model = doc["meta"]["preset_values"]["training"]["model"]
    for item in m["specs"]:
        theory = item.get("theory")
        keys = ("t", "alpha_d", "p_correct")
        curves = None if theory is None else [np.asarray(theory[k], float) for k in keys]
        spec = SimpleNamespace(
            spec=item["spec"],
            regime=item["regime"],
            seeds=[_seed(s) for s in item["seeds"]],
            theory=None if curves is None else TheoryCurve(*curves),
        )
        path = folder / f"curves_{run_name(item['spec'], model)}.png"
        out.append(curves_figure(spec, _number(m.get("time_scale")), steps, path))  # type: ignore[arg-type]
    return [p for p in out if p is not None]


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["docs/data/paper"]:
        for path in redraw(Path(arg)):
            print(path)
