"""The experiments ``ktiw verify`` can run, by name, and :func:`verify`, the entry point.

Adding an experiment: write one module with an object that follows
:class:`~ktiw.comparator.framework.Experiment`, add its presets to
:data:`ktiw.config.presets.PRESETS`, and add one line to :data:`EXPERIMENTS`
(``docs/extending.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from ktiw.config.presets import get_preset, with_overrides
from ktiw.core.errors import KtiwError
from ktiw.core.training import seed_list

from ..framework import Executor, Experiment, ExperimentResult, Request, execute_runs, run_experiment
from . import classification, multihead, translation
from . import copy as copying

EXPERIMENTS: dict[str, Experiment] = {
    "copy": copying.EXPERIMENT,
    "multihead": multihead.EXPERIMENT,
    "classification": classification.EXPERIMENT,
    "translation": translation.EXPERIMENT,
}
"""Every experiment ``ktiw verify --experiment`` may name, by name: the one registry."""


PROBE_SPEC = {"classification": "keyword:L=4,V=6,K=2"}
"""A tiny distribution per experiment on which a model's hook points are listed
(default ``permutation:L=4``); which hook points a model writes does not depend on the data."""


def check_model(experiment: str, model: str, options: dict[str, Any]) -> None:
    """One-line :class:`KtiwError` when ``model`` cannot serve ``experiment``: the multihead
    experiment needs a model whose heads it can re-draw (``init_head``); the others need the
    hook points the probes read (:data:`ktiw.empirics.probes.PROBE_HOOKS`), named when missing."""
    from ktiw.data.families import from_spec
    from ktiw.empirics.models import MODELS
    from ktiw.empirics.probes import PROBE_HOOKS, missing_hook_points

    if experiment == "multihead":
        spec = MODELS.get(model)
        if spec is None or not hasattr(spec.cls, "init_head"):
            raise KtiwError(
                f"the multihead experiment needs a model with attention heads it can re-draw "
                f"(init_head, as multihead has); model {model} has none"
            )
        return
    missing = missing_hook_points(model, options, from_spec(PROBE_SPEC.get(experiment, "permutation:L=4")))
    if missing:
        raise KtiwError(
            f"model {model} lacks the hook point {missing[0]!r} the {experiment} experiment's probes read "
            f"(needed: {', '.join(PROBE_HOOKS)})"
        )


def verify(
    experiment: str = "copy",
    preset: str = "quick",
    *,
    specs: tuple[str, ...] | list[str] = (),
    data: Path | None = None,
    seeds: int | Sequence[int] | None = None,
    steps: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    precision: str | None = None,
    device: str = "auto",
    threads: int | None = None,
    out_dir: Path | None = None,
    reuse: bool = False,
    progress: bool = True,
    console: Console | None = None,
    executor: Executor = execute_runs,
    model: str | None = None,
) -> ExperimentResult:
    """Run ``experiment`` with preset ``preset`` of ``model`` (default: the experiment's model;
    ``overrides`` and ``--seeds``/``--steps`` applied; ``seeds`` is a count or a list of seeds,
    a list only where the experiment's seed field is the training's seeds) and write its report
    into ``out_dir`` (default ``ktiw-verify`` for ``copy``, ``ktiw-verify-EXPERIMENT`` otherwise).  Bad input
    raises :class:`KtiwError` before any training."""
    if experiment not in EXPERIMENTS:
        raise KtiwError(f"unknown experiment {experiment!r}; valid experiments: {', '.join(EXPERIMENTS)}")
    values = dict(overrides or {})
    if precision is not None:
        if "precision" in values:
            raise KtiwError("--precision and --set precision=... both set precision; give one of them")
        values["precision"] = precision
    seeds_field = EXPERIMENTS[experiment].seeds_field
    if seeds is not None and not isinstance(seeds, int):
        listed = seed_list(seeds)
        if listed == list(range(len(listed))):
            seeds = len(listed)  # 0..n-1 is the count n: the same runs, the same report
        elif seeds_field != "seeds":
            raise KtiwError(
                f"--seeds for --experiment {experiment} is a count (it sets {seeds_field}), got a list"
            )
        else:
            seeds = tuple(listed)
    for flag, key, value in (("--seeds", seeds_field, seeds), ("--steps", "steps", steps)):
        if value is not None:
            if isinstance(value, int) and value < 1:
                raise KtiwError(f"{flag} must be >= 1, got {value}")
            if key in values:
                raise KtiwError(f"{flag} and --set {key}=... both set {key}; give one of them")
            values[key] = value
    chosen = with_overrides(get_preset(experiment, preset, model), values)
    check_model(experiment, chosen.training.model, dict(chosen.training.model_config))
    request = Request(chosen, tuple(specs), data, device, threads)
    out = (
        Path(out_dir)
        if out_dir is not None
        else Path("ktiw-verify" + ("" if experiment == "copy" else f"-{experiment}"))
    )
    return run_experiment(
        EXPERIMENTS[experiment],
        request,
        out,
        reuse=reuse,
        progress=progress,
        console=console,
        executor=executor,
    )
