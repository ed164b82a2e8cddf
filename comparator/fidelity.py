"""``toy-fidelity``: does the torch toy model follow the theory, for the training it gets?

* ``gd`` setups: trained by full-batch gradient descent, against the integrated copy flow
  (:func:`fidelity_trace`);
* ``adam``/``sgd`` setups (optimizer-matched): trained as ``ktiw train --model toy`` trains it
  (the preset's seeds and batch size, the setup's optimizer, learning rate, initialisation and
  budget), against ``ktiw predict`` for that same training (:func:`step_fidelity`): median
  step at which the gold attention mass reaches 1/2, and the share of seeds that get there.

For a copy distribution (``subset:L=k,V=V`` or ``permutation:L=k``) whose support is small
enough to enumerate, :func:`ktiw.empirics.full_batch.toy_gradient_descent` trains the toy
model on the whole support (step ``n`` sits at flow time ``t = lr * n``) and
:func:`ktiw.theory.flow.copy_flow` integrates the 2-D flow from ``delta = gamma = eps``;
:func:`ktiw.comparator.checks.check_toy_fidelity` compares the two curves of attention on the
correct word.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ktiw.config.presets import FidelitySetup
from ktiw.core.errors import KtiwError
from ktiw.core.training import Training, parse_init
from ktiw.data.families import Subset, from_spec
from ktiw.theory.flow import copy_flow
from ktiw.theory.predict import predict

from .checks import FidelityTrace, StepFidelity


def fidelity_trace(setup: FidelitySetup, record_every: int = 5) -> FidelityTrace:
    """Gradient descent and flow for one :class:`FidelitySetup`, ready for the check."""
    from ktiw.empirics.full_batch import toy_gradient_descent

    dist = from_spec(setup.spec)
    if not isinstance(dist, Subset):
        raise KtiwError(f"toy-fidelity needs a subset or permutation copy distribution, got {setup.spec!r}")
    regime = predict(dist, eps=setup.eps if setup.eps > 0 else 1e-3).regime
    t_gd, alpha_gd = toy_gradient_descent(dist, setup.eps, setup.lr, setup.steps, record_every)
    flow = copy_flow(dist.src_len, dist.n_in, eps=setup.eps, t_max=float(t_gd[-1]), n_points=4001)
    return FidelityTrace(setup.spec, regime, setup.lr, t_gd, alpha_gd, flow.t, flow.alpha_d)


def step_fidelity(
    setup: FidelitySetup, training: Training, device: str = "cpu", threads: int | None = None
) -> StepFidelity:
    """Train the toy model as ``setup`` says (in a temporary run directory, evaluated every
    step) and pair its per-seed takeoff steps with ``ktiw predict``'s for the same training."""
    import tempfile

    from ktiw.empirics.curves import first_reach
    from ktiw.empirics.train_config import TrainConfig
    from ktiw.empirics.trainer import train
    from ktiw.runs import rundir

    dist = from_spec(setup.spec)
    init = parse_init(setup.init)
    run_training = dataclasses.replace(
        training,
        model="toy",
        model_config={},
        optimizer=setup.optimizer,
        lr=setup.lr,
        init=init,
        steps=setup.steps,
    )
    p = predict(dist, eps=setup.eps if setup.eps > 0 else 1e-3, training=run_training)
    model_config: dict[str, object] = {"init": init.kind}
    if init.kind == "eps":
        model_config["eps"] = init.value
    elif init.kind == "normal":
        model_config["sigma"] = init.value
    cfg = TrainConfig(
        spec=dist.spec,
        model="toy",
        seeds=training.seed_list,
        steps=setup.steps,
        batch_size=training.batch_size,
        lr=setup.lr,
        optimizer=setup.optimizer,
        eval_every=1,
        eval_samples=8,
        probe_every=0,
        proxy_steps=0,
        checkpoint_every=setup.steps,
        device=device,
        threads=threads,
        model_config=model_config,
    )
    with tempfile.TemporaryDirectory(prefix="ktiw-fidelity-") as tmp:
        run = rundir.load_run(train(cfg, Path(tmp) / "toy", progress=False))
        per_seed = tuple(first_reach(*run.curve(s, "attn_mass"), 0.5) for s in run.seeds)
    return StepFidelity(
        spec=dist.spec,
        regime=p.regime,
        optimizer=setup.optimizer,
        lr=setup.lr,
        batch_size=training.batch_size,
        init=str(init),
        steps=setup.steps,
        predicted_step=p.takeoff_step,
        predicted_probability=p.success_probability,
        predicted_interval=tuple(p.success_interval) if p.success_interval else None,
        method=p.method,
        measured_per_seed=per_seed,
    )
