"""Synthetic evidence with known verdicts, shared by the comparator tests (fixture ``make_result``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit

from ktiw.comparator.checks import (
    AGREEMENT_PAIRS,
    FidelityTrace,
    SeedCurve,
    SuccessCount,
    check_success_rates,
    check_toy_fidelity,
    measured_takeoff,
)
from ktiw.comparator.evidence import SpecEvidence, TheoryCurve, VerifyResult


def seed_curve(seed: int, t0: float, succeeded: bool, steps: int = 200) -> SeedCurve:
    s = np.arange(0, steps + 1, 10, dtype=float)
    return SeedCurve(
        seed, s, expit((s - t0 - 10) / 8), expit((s - t0) / 8), expit((s - t0 + 10) / 8), succeeded
    )


def evidence(spec: str, regime: str, t0s: list[float], predicted: float) -> SpecEvidence:
    seeds = [seed_curve(i, t0, t0 < 180) for i, t0 in enumerate(t0s)]
    t = np.linspace(0, 3 * predicted, 300)
    theory = TheoryCurve(
        t, expit((t - predicted) / (0.1 * predicted)), expit((t - predicted) / (0.1 * predicted)), predicted
    )
    return SpecEvidence(
        spec=spec,
        regime=regime,
        prediction={"spec": spec, "regime": regime, "takeoff_time": predicted},
        seeds=seeds,
        uniform_seeds=seeds,
        success=SuccessCount(spec, regime, sum(s.succeeded for s in seeds), len(seeds)),
        takeoff=measured_takeoff(spec, predicted, seeds),
        agreements=dict.fromkeys(AGREEMENT_PAIRS, 0.6),
        baselines=dict.fromkeys(AGREEMENT_PAIRS, 0.1),
        xi=dict.fromkeys(AGREEMENT_PAIRS, 0.5),
        xi_star=1.0,
        beta_uf_share=0.8,
        beta_uf_baseline=0.1,
        theory=theory,
        runs={"normal": f"runs/{regime}"},
    )


def result(out_dir: Path, contrast: bool = True) -> VerifyResult:
    """Two distributions; with ``contrast`` the saddle fails more often (every check passes),
    without it both succeed equally (the saddle's success-rate verdict fails)."""
    ev = [
        evidence("subset:L=4,V=6", "drift", [40, 50, 60], 100.0),
        evidence("permutation:L=4", "saddle", [90, 500, 500] if contrast else [40, 50, 60], 400.0),
    ]
    t = np.linspace(0, 100, 201)
    trace = FidelityTrace("subset:L=4,V=6", "drift", 0.5, t, expit(t / 10), t, expit(t / 10))
    verdicts = [check_toy_fidelity(trace), *check_success_rates([e.success for e in ev])]
    return VerifyResult(verdicts, ev, [trace], {"preset": "test", "wall_time_s": 1.0}, out_dir)


@pytest.fixture
def make_result() -> Callable[..., VerifyResult]:
    return result
