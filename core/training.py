"""One training, described once: the model and its options, the seeds, the optimiser, the
budget and the evaluation schedule (:class:`~ktiw.core.training.Training`), read by every layer.

The theory predicts for it (:func:`ktiw.theory.predict.predict`), the presets of ``ktiw
verify`` hold one each (:data:`ktiw.config.presets.PRESETS`), and the trainer turns it into
the record of one run (:meth:`ktiw.empirics.train_config.TrainConfig.from_training`, which adds the
distribution, device, precision and file settings).  Its defaults are the ``quick`` preset's
copy LSTM, the training ``ktiw train`` runs with no options: Adam, lr 1e-3, batch 64,
120 steps, 16 seeds, hidden size 64 (the LSTM's default), evaluation every 10 steps on 50
samples.  It lives in ``core`` because both ``theory`` and ``empirics`` read it and neither
may import the other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import KtiwError
from .limits import MAX_INIT_SCALE, MAX_LR, MAX_SAMPLES, MAX_SEEDS, MAX_STEPS

OPTIMIZERS = ("gd", "sgd", "adam")


def seed_list(seeds: int | list[int] | tuple[int, ...]) -> list[int]:
    """The seeds a training runs: ``0 .. n-1`` for a count ``n`` (``--seeds 16``), a list as
    given (``--seeds 3,5,7``).  A count outside ``[1, MAX_SEEDS]``, an empty list, a repeated
    or a negative seed is a one-line :class:`KtiwError`."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if not 1 <= seeds <= MAX_SEEDS:
            raise KtiwError(f"a seed count must be in [1, {MAX_SEEDS}], got {seeds}")
        return list(range(seeds))
    out = list(seeds)
    integers = all(isinstance(s, int) and not isinstance(s, bool) for s in out)
    if not out or not integers or len(set(out)) != len(out) or min(out) < 0:
        raise KtiwError(f"seeds must be distinct non-negative integers, got {out}")
    if len(out) > MAX_SEEDS:
        raise KtiwError(f"at most {MAX_SEEDS} seeds, got {len(out)}")
    return out


@dataclass(frozen=True)
class Init:
    """A parsed ``--init``: ``kind`` in ``zero``/``eps``/``normal`` and its ``value`` (0 for zero)."""

    kind: str
    value: float = 0.0

    def __str__(self) -> str:
        return "zero" if self.kind == "zero" else f"{self.kind}:{self.value:g}"

    @property
    def symmetric(self) -> bool:
        """Whether the start lies on the copy-symmetric subspace (``zero`` and ``eps``)."""
        return self.kind != "normal"


def parse_init(text: str) -> Init:
    """``zero`` | ``eps:VALUE`` | ``normal:SIGMA`` (VALUE, SIGMA > 0) -> :class:`Init`."""
    text = text.strip()
    if text == "zero":
        return Init("zero")
    kind, sep, raw = text.partition(":")
    if kind not in ("eps", "normal") or not sep:
        raise KtiwError(f"--init must be zero, eps:VALUE or normal:SIGMA, got {text!r}")
    try:
        value = float(raw)
    except ValueError:
        raise KtiwError(f"--init {kind}:VALUE needs a number, got {raw!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise KtiwError(f"--init {kind}:VALUE needs a positive finite value, got {raw}")
    if value > MAX_INIT_SCALE:
        raise KtiwError(f"--init {kind}:VALUE must be <= {MAX_INIT_SCALE:g} (softmax saturates), got {raw}")
    return Init(kind, value)


@dataclass(frozen=True)
class Training:
    """One training (defaults: the ``quick`` preset's copy LSTM; see the module docstring).

    ``seeds`` is a count (seeds ``0 .. seeds-1``) or a tuple of seeds (``ktiw verify --seeds
    3,5,7``); :attr:`seed_list` gives the seeds, :attr:`n_seeds` their number.
    ``init`` is the toy model's initialisation the theory predicts from (a string such as
    ``"eps:1e-3"`` is parsed); ``beta1``/``beta2``/``adam_eps`` are Adam's constants."""

    model: str = field(default="lstm", metadata={"meaning": "model trained (ktiw train --model)"})
    seeds: int | tuple[int, ...] = field(
        default=16,
        metadata={
            "meaning": "seeds per run: a count n (seeds 0..n-1) or a list; trained as one batch",
            "min": 1,
            "max": MAX_SEEDS,
            "max_items": MAX_SEEDS,
        },
    )
    steps: int = field(
        default=120, metadata={"meaning": "optimiser steps per run (the budget)", "min": 1, "max": MAX_STEPS}
    )
    batch_size: int = field(default=64, metadata={"meaning": "fresh samples per step and seed", "min": 1})
    lr: float = field(default=1e-3, metadata={"meaning": "learning rate", "gt": 0})
    eval_every: int = field(default=10, metadata={"meaning": "evaluate every this many steps", "min": 1})
    eval_samples: int = field(default=50, metadata={"meaning": "fixed evaluation samples", "min": 1})
    model_config: Mapping[str, Any] = field(
        default_factory=dict,
        metadata={"meaning": "the model's options (hidden size, heads, ...; empty: the model's defaults)"},
    )
    probe_every: int | None = field(
        metadata={"meaning": "save probe arrays every this many steps (None: automatic)"}, default=None
    )
    proxy_steps: int = field(
        metadata={"meaning": "training steps of the bag-of-words proxy beta_px (0: none)"}, default=200
    )
    stop_at: float | None = field(
        metadata={
            "meaning": "verify stops a seed at its first evaluation with token accuracy >= this "
            "(None: full budget; ktiw train: --stop-at)",
            "gt": 0,
            "max": 1,
        },
        default=None,
    )
    precision: str = field(
        metadata={
            "meaning": "fp32, or bf16 mixed precision for training (ktiw train/verify/sweep --precision)",
            "choices": ("fp32", "bf16"),
        },
        default="fp32",
    )
    optimizer: str = field(default="adam", metadata={"meaning": "adam | sgd (| gd: the theory only)"})
    momentum: float = field(default=0.0, metadata={"meaning": "sgd: heavy-ball momentum", "min": 0})
    init: Init = field(
        default=Init("zero"), metadata={"meaning": "the toy initialisation the theory starts from"}
    )
    beta1: float = field(default=0.9, metadata={"meaning": "Adam's beta1"})
    beta2: float = field(default=0.999, metadata={"meaning": "Adam's beta2"})
    adam_eps: float = field(default=1e-8, metadata={"meaning": "Adam's epsilon"})

    def __post_init__(self) -> None:
        if isinstance(self.seeds, list):
            object.__setattr__(self, "seeds", tuple(self.seeds))
        if isinstance(self.init, str):
            object.__setattr__(self, "init", parse_init(self.init))

    def train_values(self) -> dict[str, Any]:
        """The :class:`~ktiw.empirics.train_config.TrainConfig` fields this block sets (``ktiw train``
        and ``ktiw sweep`` fill what the user did not give from these)."""
        return {
            "seeds": self.seed_list,
            "steps": self.steps,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "eval_every": self.eval_every,
            "eval_samples": self.eval_samples,
            "model_config": dict(self.model_config),
            "precision": self.precision,
        }

    def validate(self) -> Training:
        """Raise :class:`KtiwError` for impossible values; return ``self``."""
        if self.optimizer not in OPTIMIZERS:
            raise KtiwError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise KtiwError(f"--lr must be a positive finite number, got {self.lr}")
        if self.lr > MAX_LR:
            raise KtiwError(f"--lr must be <= {MAX_LR:g} (limits.MAX_LR), got {self.lr:g}")
        if not 1 <= self.batch_size <= MAX_SAMPLES:
            raise KtiwError(f"--batch-size must be in 1..{MAX_SAMPLES}, got {self.batch_size}")
        if not 1 <= self.steps <= MAX_STEPS:
            raise KtiwError(f"--steps must be in 1..{MAX_STEPS}, got {self.steps}")
        seed_list(self.seeds)
        if not (0.0 <= self.momentum < 1.0):
            raise KtiwError(f"--momentum must be in [0, 1), got {self.momentum}")
        return self

    @property
    def seed_list(self) -> list[int]:
        """The seeds trained (:func:`seed_list`)."""
        return seed_list(self.seeds)

    @property
    def n_seeds(self) -> int:
        """How many seeds are trained."""
        return len(self.seed_list)

    @property
    def full_batch(self) -> bool:
        return self.optimizer == "gd"
