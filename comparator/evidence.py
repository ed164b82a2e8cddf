"""What a ``ktiw verify`` run measured, in one structure: the input of the report writer.

Kept free of torch and of run-directory parsing so that reports can be written (and
tested) from synthetic evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .checks import FidelityTrace, Outcome, SeedCurve, SuccessCount, Takeoff, Verdict


@dataclass
class TheoryCurve:
    """The 2-D flow's curves for one copy distribution, in gradient-flow time ``t``."""

    t: np.ndarray
    alpha_d: np.ndarray
    p_correct: np.ndarray
    takeoff_time: float | None


@dataclass
class SpecEvidence:
    """Everything measured and predicted for one distribution."""

    spec: str
    regime: str
    prediction: dict[str, object]
    seeds: list[SeedCurve]
    uniform_seeds: list[SeedCurve]
    success: SuccessCount
    takeoff: Takeoff
    agreements: dict[str, float] = field(default_factory=dict)
    baselines: dict[str, float] = field(default_factory=dict)
    xi: dict[str, float | None] = field(default_factory=dict)
    xi_star: float | None = None
    beta_uf_share: float = float("nan")
    beta_uf_baseline: float = float("nan")
    theory: TheoryCurve | None = None
    runs: dict[str, str] = field(default_factory=dict)
    """Run directories used: ``{"normal": path, "uniform": path}``."""


@dataclass
class VerifyResult(Outcome):
    """The whole outcome: verdicts, the evidence behind them, and how it was produced."""

    verdicts: list[Verdict]
    evidence: list[SpecEvidence]
    fidelity: list[FidelityTrace]
    meta: dict[str, object]
    out_dir: Path


def time_scale(evidence: list[SpecEvidence]) -> float | None:
    """Theory time per training step, one factor shared by all distributions.

    For every distribution with a finite predicted takeoff time ``t*`` and a finite
    measured median step ``s*`` to 50% attention accuracy, ``t*/s*`` is one estimate;
    the factor is their geometric mean (``None`` if there is none). Used only to draw the
    theory's curves over the measured ones in rescaled time; no verdict depends on it.
    """
    ratios = [
        e.takeoff.predicted / e.takeoff.measured_median
        for e in evidence
        if e.takeoff.predicted is not None
        and math.isfinite(e.takeoff.predicted)
        and math.isfinite(e.takeoff.measured_median)
        and e.takeoff.measured_median > 0
        and e.takeoff.predicted > 0
    ]
    if not ratios:
        return None
    return float(np.exp(np.mean(np.log(ratios))))
