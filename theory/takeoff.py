"""The gradient-flow takeoff time of the copy reduction (:func:`ktiw.theory.flow.takeoff_time`),
memoised on disk, so that repeated predictions need no ODE solve (and ``ktiw predict`` need not
import scipy's integrators or the reduction when the value is cached)."""

from __future__ import annotations

from ktiw.core.cache import cached_values

_FLOW_SOURCES = ("flow.py", "reduction.py", "toy_model.py")


def cached_takeoff(k: int, V: int, eps: float) -> float | None:
    """:func:`ktiw.theory.flow.takeoff_time`, memoised on disk so repeated predictions need no ODE solve."""

    def solve() -> float | None:
        from .flow import takeoff_time

        return takeoff_time(k, V, eps)

    value = cached_values("takeoff", _FLOW_SOURCES, f"{k},{V},{eps!r}", solve)
    return None if value is None else float(value)  # type: ignore[arg-type]
