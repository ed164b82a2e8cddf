"""The default torch thread count: the cores idle at the start (ktiw.empirics.cpu_threads)."""

from __future__ import annotations

import pytest


def test_default_threads_are_the_idle_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    from ktiw.empirics import cpu_threads as ct

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(ct, "cpus_allowed", lambda: 2)
    for share, want in ((1.0, 2), (0.8, 2), (0.5, 1), (0.3, 1), (0.0, 1)):
        monkeypatch.setattr(ct, "idle_share", lambda share=share: share)
        assert ct.default_threads() == want
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # an explicit setting wins
    assert ct.default_threads() == 3
    share = ct.__dict__["_cpu_times"]()
    assert share is None or 0 <= share[0] <= share[1]
