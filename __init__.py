"""ktiw's Python API: predict, train and verify from a notebook, with typed results.

::

    from ktiw import Training, predict, train, verify

    p = predict("subset:L=8,V=12")[0]          # ktiw.theory.predict.Prediction
    run = train("subset:L=8,V=12", Training(seeds=4, steps=60))   # ktiw.runs.rundir.Run
    steps, acc = run.curve(0, "token_acc")     # numpy arrays, ready to plot
    result = verify("copy", seeds=4, steps=60)  # ktiw.comparator.result.ExperimentResult

Each function is what the command of the same name does, minus the printing: the same
defaults (:class:`~ktiw.core.training.Training`'s, the ``quick`` preset's), the same checks
(bad input raises :class:`~ktiw.core.errors.KtiwError` with the one-line message the command
prints) and the same files.  Importing ``ktiw`` loads nothing heavy: each function imports
its layer when called (``predict`` never loads torch).

This module is the top of the layers (``docs/architecture.md``): it may import every layer,
and no layer imports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ktiw.core.errors import KtiwError
from ktiw.core.training import Init, Training

if TYPE_CHECKING:
    from ktiw.comparator.result import ExperimentResult
    from ktiw.data.distribution import Distribution
    from ktiw.runs.rundir import Run
    from ktiw.theory.predict import Prediction

__all__ = ["Init", "KtiwError", "Training", "load_run", "predict", "train", "verify"]


def _distribution(item: str | Distribution, task: str) -> Distribution:
    """A spec (``family:key=value,...``), a data source (``data:PATH`` or a path to a file), or
    a distribution object as it is."""
    if not isinstance(item, str):
        return item
    from ktiw.data.corpus import load_labelled, load_pairs
    from ktiw.data.families import from_spec

    if item.startswith("data:"):
        path = item[len("data:") :]
        return load_labelled(path) if task == "classification" else load_pairs(path)
    return from_spec(item)


def predict(
    *specs: str | Distribution,
    training: Training | None = None,
    eps: float = 1e-3,
    task: str = "seq2seq",
) -> list[Prediction]:
    """``ktiw predict``: the theory's prediction for each distribution, for ``training``
    (default: :class:`Training`'s defaults, what ``ktiw train`` runs).

    ``specs``: distribution specs (``"subset:L=8,V=12"``), data sources written
    ``"data:PATH"`` (``task="classification"`` reads ``label<TAB>tokens``), or distribution
    objects.  Returns one :class:`~ktiw.theory.predict.Prediction` per distribution."""
    from ktiw.theory.predict import predict as predict_one

    if not specs:
        raise KtiwError("give at least one distribution spec, e.g. predict('subset:L=40,V=60')")
    if task not in ("seq2seq", "classification"):
        raise KtiwError(f"task must be seq2seq or classification, got {task!r}")
    training = (training or Training()).validate()
    return [predict_one(_distribution(s, task), eps=eps, training=training) for s in specs]


def train(
    spec: str | None = None,
    training: Training | None = None,
    *,
    data: str | Path | None = None,
    seeds: int | Sequence[int] | None = None,
    uniform: bool = False,
    out: str | Path | None = None,
    device: str = "auto",
    threads: int | None = None,
    progress: bool = False,
    **options: Any,
) -> Run:
    """``ktiw train``: train the seeds of ``training`` (default: :class:`Training`'s defaults,
    the ``quick`` preset's LSTM) on a spec or a data file, and return the loaded run.

    ``seeds``: a count ``n`` (seeds ``0 .. n-1``) or a list, replacing ``training.seeds``.
    ``options``: any other :class:`~ktiw.empirics.train_config.TrainConfig` field (``dtype``,
    ``checkpoint_every``, ...).  ``out``: the run directory (default ``ktiw-runs/<spec>-<model>``,
    numbered ``-2``, ``-3``, ... when it exists, as ``ktiw train`` does).  Returns the
    :class:`~ktiw.runs.rundir.Run` (``run.curve(seed, "token_acc")``, ``run.summary``,
    ``run.probes(step)``)."""
    import dataclasses

    from ktiw.empirics.train_config import TrainConfig
    from ktiw.empirics.trainer import train as train_run
    from ktiw.runs.rundir import TRAIN_RUNS, fresh_dir, load_run, run_label, run_name

    if (spec is None) == (data is None):
        raise KtiwError("give either a distribution spec or data=FILE")
    training = (training or Training()).validate()
    cfg = TrainConfig.from_training(
        training,
        preset="api",
        spec=spec,
        data=data,
        uniform=uniform,
        seeds=None if seeds is None else (seeds if isinstance(seeds, int) else list(seeds)),
        device=device,
        threads=threads,
    )
    if options:
        cfg = TrainConfig.from_dict({**dataclasses.asdict(cfg), **options})
    cfg.validate()
    name = run_name(run_label(spec, data), training.model, uniform)
    run_dir = Path(out) if out is not None else fresh_dir(TRAIN_RUNS, name)
    return load_run(train_run(cfg, run_dir, progress=progress))


def verify(
    experiment: str = "copy",
    preset: str = "quick",
    *,
    specs: Sequence[str] = (),
    data: str | Path | None = None,
    seeds: int | Sequence[int] | None = None,
    steps: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    reuse: bool = False,
    device: str = "auto",
    threads: int | None = None,
    progress: bool = False,
) -> ExperimentResult:
    """``ktiw verify``: run an experiment of the theory against trained models and return its
    :class:`~ktiw.comparator.result.ExperimentResult` (``result.verdicts``: the checks with
    their status; ``result.measurement``: the typed numbers behind them; ``result.figures``;
    ``result.exit_code``).  ``overrides`` are ``--set KEY=VALUE`` pairs; the report, the
    figures and the runs are written to ``out`` (default ``ktiw-verify[-EXPERIMENT]``)."""
    from ktiw.comparator.experiments import verify as run_verify

    return run_verify(
        experiment,
        preset,
        specs=tuple(specs),
        data=None if data is None else Path(data),
        seeds=seeds,
        steps=steps,
        overrides=overrides,
        device=device,
        threads=threads,
        out_dir=None if out is None else Path(out),
        reuse=reuse,
        progress=progress,
    )


def load_run(path: str | Path) -> Run:
    """A run directory written by ``ktiw train`` or :func:`train`, loaded (``ktiw plot`` reads it)."""
    from ktiw.runs.rundir import load_run as load

    return load(path)
