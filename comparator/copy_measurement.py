"""What the copy experiment (:mod:`ktiw.comparator.experiments.copy`) measures, as typed
dataclasses: read by the experiment's checks and sections and by its figures
(:func:`ktiw.comparator.figures.copy_figures`), so both import it and neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ktiw.theory.predict import Prediction

from . import checks as ck
from .measures import Agreement, SeedCurve

if TYPE_CHECKING:
    from ktiw.matched.predict import ModelPrediction


@dataclass
class TheoryCurve:
    """The 2-D flow's curves for one copy distribution, in gradient-flow time ``t``."""

    t: np.ndarray
    alpha_d: np.ndarray
    p_correct: np.ndarray


@dataclass
class SpecMeasurement:
    """Everything measured for one distribution."""

    spec: str
    regime: str
    prediction: Prediction
    seeds: list[SeedCurve]
    uniform_seeds: list[SeedCurve]
    success: ck.SuccessCount
    takeoff: ck.Takeoff
    token_share: ck.TokenShare | None
    agreements: list[Agreement]
    xi: dict[str, float | None]
    xi_star: float | None
    runs: dict[str, str]
    theory: TheoryCurve | None = None
    matched: ModelPrediction | None = None


@dataclass
class CopyMeasurement:
    specs: list[SpecMeasurement]
    fidelity: list[ck.FidelityTrace]
    steps: int
    step_fidelity: list[ck.StepFidelity] = field(default_factory=list)
    """Optimizer-matched toy-fidelity comparisons (``adam``/``sgd`` setups of the preset)."""
    time_scale: float | None = None
    """Theory time per training step (see :func:`time_scale`)."""
    model: str = "model"
    """The model trained (names the figures)."""
    notes: list[str] = field(default_factory=list)
