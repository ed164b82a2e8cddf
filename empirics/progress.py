"""The training progress bar (rich): steps done of the budget and the mean token accuracy of the
last evaluation."""

from __future__ import annotations

from typing import Any

import numpy as np


class TrainProgress:
    """A rich progress bar showing the mean token accuracy of the last evaluation (or nothing)."""

    def __init__(self, enabled: bool, total: int, done: int, label: str) -> None:
        self.enabled, self.total, self.done, self.label = enabled, total, done, label
        self.acc = float("nan")
        self._bar: Any = None

    def __enter__(self) -> TrainProgress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}", markup=False),  # the label holds user text
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("acc {task.fields[acc]}"),
                TimeRemainingColumn(),
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.total, completed=self.done, acc="-")
        return self

    def update(self, step: int, metrics: dict[str, np.ndarray] | None) -> None:
        if self._bar is None:
            return
        fields_: dict[str, Any] = {}
        if metrics is not None:
            fields_["acc"] = f"{float(np.nanmean(metrics['token_acc'])):.3f}"
        self._bar.update(self._task, completed=step, **fields_)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
