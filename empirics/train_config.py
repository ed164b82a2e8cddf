"""The record of one run: :class:`TrainConfig` (the training, the distribution or data file,
the device, precision and file settings; ``config.json`` holds it with the versions and git
commit), built from the one :class:`~ktiw.core.training.Training` by
:meth:`TrainConfig.from_training`, and what follows from it alone: the distribution it names
(:func:`load_distribution`), the device (:func:`resolve_device`) and the probe schedule
(:func:`default_probe_every`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from ktiw.core.errors import KtiwError
from ktiw.core.limits import (
    MAX_LR,
    MAX_SAMPLES,
    MAX_SEEDS,
    MAX_STEPS,
)
from ktiw.core.training import Training, seed_list
from ktiw.core.validation import bounds, check_fields, check_instance
from ktiw.data.distribution import Distribution

from .optim import OPTIMIZERS
from .precision import PRECISIONS, check_precision

DTYPES = {"float32": torch.float32, "float64": torch.float64}


PROBE_BUDGET_BYTES = 256 * 2**20
"""Default probe schedule: every evaluation if all probe files fit in this, else every 5th."""


_DEFAULT = Training()
"""The one set of defaults (the ``quick`` preset's copy LSTM): :class:`TrainConfig` takes its
shared fields from here."""


@dataclass
class TrainConfig:
    """Everything that determines a run (written to ``config.json``).

    The training fields (model, seeds, steps, batch size, learning rate, optimiser, evaluation,
    model options) default to :class:`ktiw.core.training.Training`'s, the ``quick`` preset's copy
    LSTM that ``ktiw train`` runs with no options: ``TrainConfig(spec="subset:L=8,V=12")``
    trains 16 seeds of the LSTM with hidden size 64, Adam lr 1e-3, batch 64, for 120 steps,
    evaluating every 10 steps on 50 samples, on ``device="auto"`` (CUDA when torch sees one).
    :meth:`from_training` builds one from a :class:`~ktiw.core.training.Training`.  ``seeds``
    takes a list or a count ``n`` (seeds ``0 .. n-1``)."""

    spec: str | None = None
    """Distribution spec (``family:key=value,...``); ignored when ``data`` is given."""
    data: str | None = None
    """Path of a data file (``input tokens<TAB>output tokens`` per line)."""
    model: str = _DEFAULT.model
    uniform: bool = False
    preset: str = "quick"
    seeds: list[int] = field(
        default_factory=lambda: list(range(_DEFAULT.seeds)), metadata=bounds(max_items=MAX_SEEDS)
    )
    steps: int = field(default=_DEFAULT.steps, metadata=bounds(min=0, max=MAX_STEPS))
    batch_size: int = field(default=_DEFAULT.batch_size, metadata=bounds(min=1, max=MAX_SAMPLES))
    lr: float = field(default=_DEFAULT.lr, metadata=bounds(gt=0, max=MAX_LR))
    optimizer: str = _DEFAULT.optimizer
    """``adam`` (:class:`~ktiw.empirics.optim.SeedAdam`) or ``sgd``
    (:class:`~ktiw.empirics.optim.SeedSGD`)."""
    momentum: float = field(default=_DEFAULT.momentum, metadata=bounds(min=0))
    """SGD's heavy-ball momentum (``sgd`` only)."""
    eval_every: int = field(default=_DEFAULT.eval_every, metadata=bounds(min=1))
    eval_samples: int = field(default=_DEFAULT.eval_samples, metadata=bounds(min=1, max=MAX_SAMPLES))
    eval_seed: int = field(default=12345, metadata=bounds(min=0))
    probe_every: int | None = field(default=_DEFAULT.probe_every, metadata=bounds(min=0))
    """Save probe arrays at evaluation steps that are multiples of this (and the last step);
    ``None``: every evaluation if they fit in 256 MiB, else every 5th; ``0``: last step only."""
    checkpoint_every: int = field(default=50, metadata=bounds(min=1))
    proxy_steps: int = field(default=_DEFAULT.proxy_steps, metadata=bounds(min=0, max=MAX_STEPS))
    """Training steps of the bag-of-words proxy ``beta_px`` (0: do not compute it)."""
    device: str = "auto"
    dtype: str = field(default="float32", metadata=bounds(choices=("float32", "float64")))
    precision: str = field(default=_DEFAULT.precision, metadata=bounds(choices=PRECISIONS))
    """``fp32``, or ``bf16`` mixed precision for the training forward pass (bfloat16 matrix
    products; parameters, optimiser state, softmaxes, losses, evaluation and probes in float32;
    :mod:`ktiw.empirics.precision`).  Refused on hardware without fast bfloat16."""
    threads: int | None = field(default=None, metadata=bounds(min=1, max=4096))
    """CPU threads for torch (``None``: the cores idle when the run starts,
    :func:`ktiw.empirics.cpu_threads.default_threads`).  On a CPU shared with other jobs, more
    threads than idle cores can be many times slower (see benchmarks/README.md)."""
    model_config: dict[str, Any] = field(default_factory=lambda: dict(_DEFAULT.model_config))
    stop_at: float | None = _DEFAULT.stop_at
    """Stop a seed at the first evaluation where its token accuracy is ``>= stop_at``: it leaves
    the stacked batch (no more training or evaluation), its curve ends at that step, and the
    summary records ``stopped_step``.  ``None``: train every seed for ``steps``."""
    fused_cells: bool | None = None
    """Fuse the LSTM's pointwise cell with ``torch.compile`` (:func:`ktiw.empirics.batched.fuse_cells`;
    ~20-40 s of compilation once, then several times fewer kernels per step).  ``None``: when
    ``seeds x batch_size x hidden x steps >= 2**24`` (e.g. the paper preset with 20 seeds)."""

    def __post_init__(self) -> None:
        self.seeds = seed_list(self.seeds)

    @classmethod
    def from_training(
        cls,
        training: Training,
        *,
        preset: str,
        spec: str | None = None,
        data: Path | str | None = None,
        uniform: bool = False,
        seeds: list[int] | int | None = None,
        model_config: Mapping[str, Any] | None = None,
        proxy_steps: int | None = None,
        device: str = "auto",
        threads: int | None = None,
    ) -> TrainConfig:
        """The trainer's config of one run of ``training`` (``seeds`` default ``0 .. seeds-1``;
        ``model_config`` replaces the block's options; the model's defaults fill the rest so
        that the config equals what ``config.json`` records, for ``--reuse``)."""
        from ktiw.empirics.models import MODELS

        options = dict(training.model_config if model_config is None else model_config)
        spec_ = MODELS.get(training.model)
        full = dataclasses.asdict(spec_.config(**options)) if spec_ is not None else options
        return cls(
            spec=spec,
            data=None if data is None else str(data),
            model=training.model,
            uniform=uniform,
            preset=preset,
            seeds=training.seed_list if seeds is None else seed_list(seeds),
            steps=training.steps,
            batch_size=training.batch_size,
            lr=training.lr,
            optimizer=training.optimizer,
            momentum=training.momentum,
            eval_every=training.eval_every,
            eval_samples=training.eval_samples,
            probe_every=training.probe_every,
            proxy_steps=training.proxy_steps if proxy_steps is None else proxy_steps,
            stop_at=training.stop_at,
            device=resolve_device(device),
            threads=threads,
            model_config=full,
            precision=training.precision,
        )

    def validate(self) -> None:
        """Raise :class:`KtiwError` for impossible values (types and ranges: the field declarations)."""
        check_instance(self)
        if self.spec is None and self.data is None:
            raise KtiwError("give a distribution SPEC or --data FILE")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise KtiwError(f"seeds must be distinct non-negative integers, got {self.seeds}")
        for name in ("steps", "eval_samples", "checkpoint_every", "proxy_steps"):
            if getattr(self, name) < 0:
                raise KtiwError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("batch_size", "eval_every"):
            if getattr(self, name) < 1:
                raise KtiwError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.threads is not None and self.threads < 1:
            raise KtiwError(f"threads must be >= 1, got {self.threads}")
        if self.eval_samples < 1:
            raise KtiwError("eval_samples must be >= 1")
        if self.stop_at is not None and not 0 < self.stop_at <= 1:
            raise KtiwError(f"stop_at must be in (0, 1], got {self.stop_at}")
        if not self.lr > 0:
            raise KtiwError(f"lr must be > 0, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise KtiwError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if not 0.0 <= self.momentum < 1.0:
            raise KtiwError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.momentum and self.optimizer != "sgd":
            raise KtiwError("momentum applies to --optimizer sgd only")
        if self.dtype not in DTYPES:
            raise KtiwError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.device not in ("cpu", "cuda", "auto") and not self.device.startswith("cuda:"):
            raise KtiwError(f"device must be cpu, cuda or auto, got {self.device!r}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise KtiwError("device cuda requested but torch sees no CUDA device")
        if self.precision != "fp32" and self.dtype != "float32":
            raise KtiwError(f"--precision {self.precision} needs --dtype float32 (parameters stay float32)")
        check_precision(self.precision, resolve_device(self.device))

    @staticmethod
    def from_dict(values: dict[str, Any]) -> TrainConfig:
        """From a dict of fields (a ``config.json`` too: its record-only keys are skipped)."""
        known = {f.name for f in fields(TrainConfig)}
        unknown = sorted(set(values) - known - RECORD_ONLY)
        if unknown:
            raise KtiwError(
                f"unknown training option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}"
            )
        picked = {k: v for k, v in values.items() if k in known}
        if "seeds" in picked and isinstance(picked["seeds"], int) and not isinstance(picked["seeds"], bool):
            picked["seeds"] = seed_list(picked["seeds"])
        given = check_fields(TrainConfig, picked, "training option")
        return TrainConfig(**given)


RECORD_ONLY = frozenset(
    {"versions", "git_commit", "device_requested", "threads_used", "fused_cells_used", "seed_path"}
)
"""Keys ``config.json`` holds besides the :class:`TrainConfig` fields."""


def default_probe_every(cfg: TrainConfig, probe_arrays: int, T: int, L: int) -> int:
    """``cfg.probe_every`` when set, else every evaluation if the run's probe files (``probe_arrays``
    float32 arrays ``[S, N, T, L]`` per evaluation) fit in :data:`PROBE_BUDGET_BYTES`, else every 5th."""
    if cfg.probe_every is not None:
        return cfg.probe_every
    n_evals = cfg.steps // cfg.eval_every + 2
    size = probe_arrays * 4 * len(cfg.seeds) * cfg.eval_samples * T * L
    return cfg.eval_every if size * n_evals <= PROBE_BUDGET_BYTES else 5 * cfg.eval_every


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_distribution(cfg: TrainConfig) -> Distribution:
    """The distribution a config names (data file or spec)."""
    if cfg.data is not None:
        from ktiw.data.corpus import load_labelled, load_pairs
        from ktiw.empirics.models import MODELS

        spec = MODELS.get(cfg.model)
        labelled = spec is not None and spec.data_format == "labelled"
        return (load_labelled if labelled else load_pairs)(cfg.data)
    from ktiw.data.families import from_spec

    return from_spec(str(cfg.spec))
