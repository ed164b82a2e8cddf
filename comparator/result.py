"""The one result type of ``ktiw verify`` (:class:`ExperimentResult`) and its figures
(:class:`Figure`): written by the driver (:mod:`ktiw.comparator.framework`), read by the
report (:mod:`ktiw.comparator.report`) and the figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .verdict import Verdict, exit_code


@dataclass(frozen=True)
class Figure:
    """A figure file and its caption."""

    path: Path
    caption: str


@dataclass
class ExperimentResult:
    """The one result type: verdicts, the measurement behind them, and where the files went."""

    experiment: str
    title: str
    verdicts: list[Verdict]
    measurement: Any
    meta: dict[str, Any]
    out_dir: Path
    figures: dict[str, Figure] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return exit_code(self.verdicts)
