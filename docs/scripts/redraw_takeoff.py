"""Redraw a stored run's ``takeoff.png`` from its ``verdicts.json`` with the current figure code.

    python docs/scripts/redraw_takeoff.py docs/data/paper     # from the repository root

The takeoff figure needs only what ``verdicts.json`` stores (the ``takeoff-order`` check's
predicted and measured takeoff per distribution, and the step budget), so it can be redrawn
without the run directories; the curve figures need the runs' ``curves.csv`` and cannot.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from types import SimpleNamespace

from ktiw.comparator.figures import takeoff_figure


def _number(value: object) -> float | None:
    """A stored number (``"inf"`` for never, ``None`` for none)."""
    if value is None:
        return None
    return math.inf if value == "inf" else float(value)  # type: ignore[arg-type]


def redraw(folder: Path) -> Path | None:
    doc = json.loads((folder / "verdicts.json").read_text())
    (check,) = [v for v in doc["verdicts"] if v["name"] == "takeoff-order"]
    specs = [
        SimpleNamespace(
            spec=item["spec"],
            takeoff=SimpleNamespace(
                predicted=_number(item["predicted_toy_steps"]),
                measured_median=_number(item["measured_median_step"]),
            ),
        )
        for item in check["numbers"]["items"]
    ]
    steps = int(doc["meta"]["preset_values"]["training"]["steps"])
    return takeoff_figure(specs, steps, folder / "takeoff.png")  # type: ignore[arg-type]


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["docs/data/paper"]:
        print(redraw(Path(arg)))
