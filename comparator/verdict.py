"""What every check returns: a :class:`Verdict` with one of four statuses, and the exit code
of a list of verdicts.

Statuses:

* ``pass``: the check's test rejects its null hypothesis at the level stated in
  :mod:`ktiw.comparator.thresholds` (or, for deterministic checks, the measured number is
  inside the stated tolerance): the data support the prediction.
* ``refuted``: the data contradict the prediction (the measured effect is absent or points
  the other way, or is outside the stated tolerance).
* ``inconclusive``: the evidence is too weak to pass or refute: too few seeds or
  distributions, an effect in the predicted direction that is not significant, or a budget
  in which the reference case did not learn.
* ``reported``: the theory makes no prediction for this subject (a number reported only).

Exit codes (:func:`exit_code`): 0 when nothing is refuted and at least one check passes,
1 when a prediction is refuted, 3 when nothing passes or is refuted (everything
inconclusive or reported); 2 is bad input, raised before any check runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

EXIT_OK = 0
EXIT_REFUTED = 1
EXIT_BAD_INPUT = 2
EXIT_INCONCLUSIVE = 3


class Status(StrEnum):
    PASS = "pass"
    REFUTED = "refuted"
    INCONCLUSIVE = "inconclusive"
    REPORTED = "reported"


@dataclass
class Verdict:
    """One row of the verdict table: a named check applied to one subject (a spec or ``all``).

    ``measured``/``expected`` are short codes; ``sentence`` says in plain words what was
    compared and what came out, for a reader of the paper rather than of the code.
    """

    name: str
    subject: str
    status: Status
    measured: str
    expected: str
    sentence: str
    numbers: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "subject": self.subject,
            "status": str(self.status),
            "measured": self.measured,
            "expected": self.expected,
            "sentence": self.sentence,
            "numbers": jsonable(self.numbers),
        }


def exit_code(verdicts: Sequence[Verdict]) -> int:
    """1 if any verdict is refuted, else 0 if any passes, else 3 (see the module docstring)."""
    statuses = {v.status for v in verdicts}
    if Status.REFUTED in statuses:
        return EXIT_REFUTED
    return EXIT_OK if Status.PASS in statuses else EXIT_INCONCLUSIVE


OUTCOMES = {
    EXIT_OK: "no prediction is refuted and at least one passes",
    EXIT_REFUTED: "the data refute a prediction",
    EXIT_INCONCLUSIVE: "inconclusive: nothing passed or was refuted",
}


def counts(verdicts: Sequence[Verdict]) -> dict[str, int]:
    """How many verdicts have each status."""
    return {str(s): sum(v.status is s for v in verdicts) for s in Status}


def jsonable(obj: object) -> object:
    """Numbers for JSON: numpy scalars and arrays to Python, inf/NaN to strings JSON can hold,
    dataclasses to dicts, enums to their value."""
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, StrEnum):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        x = float(obj)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    if hasattr(obj, "__fspath__"):
        return str(obj)
    return obj


def fmt(x: float | None, digits: int = 3) -> str:
    """A number for a verdict text: ``n/a`` for None/NaN, ``never`` for inf."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if math.isinf(x):
        return "never"
    return f"{x:.{digits}g}"
