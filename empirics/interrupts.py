"""Ctrl-C and SIGTERM during training: the first asks the trainer to finish its step,
checkpoint and stop; the second stops at once."""

from __future__ import annotations

import signal
import threading
from typing import Any


class Interrupts:
    """First Ctrl-C (or SIGTERM, as clusters send): finish the current step, checkpoint, stop.
    Second one: stop now."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
