"""The theory's numpy simulation predicts the success probability of the torch toy model trained by
``ktiw train`` with the same optimizer, learning rate, batch size, initialisation and budget.

Both sides train 48 seeds from independent random streams; success = the gold attention mass
(``attn_mass``, evaluated every step) reaches 1/2 within the budget.  The two success rates are
compared with a two-proportion z-test at level 0.001 (|z| <= 3.29), so a correct simulation fails
this test in about one run in a thousand per example.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ktiw.core.training import Init, Training
from ktiw.data.families import from_spec
from ktiw.empirics.train_config import TrainConfig
from ktiw.empirics.trainer import train
from ktiw.runs import rundir
from ktiw.theory.simulate import simulate

torch.set_num_threads(1)

SEEDS = 48
Z_001 = 3.2905
"""Two-sided 0.1% quantile of the standard normal."""

# settings whose success probability lies well inside (0, 1), so the comparison has power
CASES = [
    ("permutation:L=4", "adam", 0.05, 0.3, 40),
    ("subset:L=4,V=6", "adam", 0.05, 1.0, 40),
    ("permutation:L=4", "sgd", 2.0, 1.0, 40),
    ("subset:L=6,V=9", "sgd", 2.0, 0.3, 40),
]


def toy_success_rate(spec: str, optimizer: str, lr: float, sigma: float, steps: int, out: Path) -> float:
    cfg = TrainConfig(
        spec=spec,
        model="toy",
        seeds=list(range(SEEDS)),
        steps=steps,
        batch_size=32,
        lr=lr,
        optimizer=optimizer,
        eval_every=1,
        eval_samples=8,
        proxy_steps=0,
        probe_every=0,
        checkpoint_every=steps,
        model_config={"init": "normal", "sigma": sigma},
    )
    run = rundir.load_run(train(cfg, out, progress=False))
    hits = [bool((run.curve(s, "attn_mass")[1] >= 0.5).any()) for s in run.seeds]
    return float(np.mean(hits))


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(CASES))
def test_simulated_success_probability_equals_trained_toy(case, tmp_path_factory) -> None:
    spec, optimizer, lr, sigma, steps = case
    training = Training(optimizer=optimizer, lr=lr, batch_size=32, init=Init("normal", sigma), steps=steps)
    sim = simulate(from_spec(spec), training, n_seeds=SEEDS)
    measured = toy_success_rate(spec, optimizer, lr, sigma, steps, tmp_path_factory.mktemp("toy") / "run")
    pooled = (sim.success_probability + measured) / 2
    se = math.sqrt(max(pooled * (1 - pooled), 1.0 / SEEDS) * 2 / SEEDS)
    assert abs(sim.success_probability - measured) <= Z_001 * se, (case, sim.success_probability, measured)
