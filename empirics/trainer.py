"""Train ``S`` seeds of a model as one batched computation and record a run directory.

Per step every active seed ``s`` draws a fresh batch from its own data stream
(``np.random.default_rng([1, s])``), the trainer computes ``losses [S]`` in one batched
forward pass and minimises ``sum_s losses[s]`` over active seeds with :class:`SeedAdam` or
:class:`SeedSGD` (``optimizer``; elementwise, per-seed step counts), so seed ``s``'s
trajectory does not depend on which other seeds share the batch.  Seed ``s``'s initialisation comes from
``torch.Generator().manual_seed(s)`` on CPU.

A seed whose training loss is NaN or inf at step ``k`` is marked diverged at ``k`` and frozen
(its parameters and optimiser state stay as they were); the others go on.

Evaluation (step 0, every ``eval_every`` steps, and the last step) uses ``eval_samples``
fixed samples drawn once from ``np.random.default_rng([2, eval_seed])``, the same for every
seed; it writes one ``curves.csv`` row per seed and, at probe steps, the probe arrays
(format: :mod:`ktiw.runs.rundir`).  A checkpoint (parameters, optimiser state, data-stream
states, divergence state) is written every ``checkpoint_every`` steps, at the end and on
Ctrl-C; :func:`resume` continues from it and gives results identical to an uninterrupted run
on the same device.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.func import functional_call

from ktiw.core.errors import KtiwError
from ktiw.core.host_memory import keep_freed_memory
from ktiw.core.limits import (
    MAX_LR,
    MAX_SAMPLES,
    MAX_SEEDS,
    MAX_STEPS,
    MAX_TRAIN_SECONDS,
    TRAIN_FLOPS_PER_SECOND,
    TRAIN_STEP_SECONDS,
    check_memory,
    check_time,
)
from ktiw.core.paths import not_a_directory
from ktiw.core.provenance import provenance
from ktiw.core.training import Training, seed_list
from ktiw.core.validation import bounds, check_fields, check_instance
from ktiw.data.distribution import Batch, Distribution

from . import batched as bt
from . import runfiles
from .cpu_threads import default_threads
from .curves import SUCCESS_ACCURACY
from .models import Evaluation, SeedModel, build_model
from .models.base import activation_model
from .optim import OPTIMIZERS, SeedAdam, SeedSGD, seed_optimizer
from .precision import PRECISIONS, autocast, check_precision, full_precision
from .probes import COLUMNS, seed_metrics
from .probes import evaluate as evaluate_model

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


class _Interrupts:
    """First Ctrl-C (or SIGTERM, as clusters send): finish the current step, checkpoint, stop.
    Second one: stop now."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)


class Trainer:
    """One run: model, optimiser, data streams and the run directory it writes."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, *, resume: bool = False) -> None:
        cfg.validate()
        torch.set_num_threads(cfg.threads if cfg.threads is not None else default_threads())
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.dist = load_distribution(cfg)
        self.device = resolve_device(cfg.device)
        self.seeds = list(cfg.seeds)
        check_training_memory(cfg, self.dist)
        check_time(
            f"training {len(self.seeds)} seed(s) of {cfg.model} on {self.dist.spec} for {cfg.steps} steps",
            estimate_training_seconds(cfg, self.dist),
            MAX_TRAIN_SECONDS,
            "reduce --steps, --seeds, --batch-size or the model size",
        )
        self.run_dir = prepare_run_dir(self.run_dir, resume=resume)
        self.lock = runfiles.RunLock(self.run_dir)
        try:
            self._setup(resume)
        except BaseException:
            self.lock.release()
            raise

    def _setup(self, resume: bool) -> None:
        cfg, S = self.cfg, len(self.seeds)
        keep_freed_memory()  # a step's large tensors reuse the last step's pages
        model, model_cfg = build_model(cfg.model, cfg.model_config, self.dist, S, uniform=cfg.uniform)
        self.model: SeedModel = model.to(DTYPES[cfg.dtype])
        for k, seed in enumerate(self.seeds):
            self.model.init_seed(k, torch.Generator().manual_seed(seed))
        self.model.to(self.device)
        self.model_config = asdict(model_cfg) if is_dataclass(model_cfg) else dict(model_cfg)
        self.fused_cells = bt.fuse_cells(self._want_fused_cells())
        self.opt: SeedAdam | SeedSGD = seed_optimizer(
            cfg.optimizer, self.model.named_parameters(), S, cfg.lr, cfg.momentum
        )
        self.rngs = [np.random.default_rng([1, seed]) for seed in self.seeds]
        self.eval_batch = self.dist.sample(cfg.eval_samples, np.random.default_rng([2, cfg.eval_seed]))
        self.eval_inputs = self.model.prepare([self.eval_batch] * S)
        self.active = torch.ones(S, dtype=torch.bool, device=self.device)
        self._active = [True] * S  # host copy of ``active`` (no device sync to read it)
        self.diverged_step = [-1] * S
        self.stopped_step = [-1] * S
        self._eval_inputs_by_count: dict[int, Any] = {S: self.eval_inputs}
        self.step = 0
        self.history: dict[int, list[tuple[int, float]]] = {s: [] for s in self.seeds}
        self.beta_px: np.ndarray | None = None
        self.interrupted = False
        self.failed = False
        self.probe_every = self._probe_every()
        if resume and self._load_checkpoint():
            self._check_curves()
            self.curves = runfiles.CurveWriter(self.run_dir, keep_until=self.step)
            self._history_from_curves()
        else:  # a fresh run, or a resume of one stopped before its first checkpoint: from step 0
            if not resume:
                runfiles.write_json(self.run_dir / "config.json", self.config_record())
            self.curves = runfiles.CurveWriter(self.run_dir)
        self._load_or_train_proxy()

    # ------------------------------------------------------------ records

    def config_record(self) -> dict[str, Any]:
        record = asdict(self.cfg)
        record["spec"] = self.dist.spec if self.cfg.data is None else self.cfg.spec
        record["device"] = self.device
        record["device_requested"] = self.cfg.device
        record["model_config"] = self.model_config
        record["probe_every"] = self.probe_every
        record["threads_used"] = torch.get_num_threads()
        record["fused_cells_used"] = self.fused_cells
        record["seed_path"] = getattr(self.model, "path", "stacked")
        record.update(provenance())
        return record

    def config_hash(self, *, with_steps: bool = False) -> str:
        """SHA-256 of everything in ``config.json`` that determines the numbers (not the
        provenance, not the thread count, not the step budget, which only says where training
        stops: ``--resume --steps`` may move it): a checkpoint belongs to exactly one config.
        ``with_steps``: the hash checkpoints written before ``--resume --steps`` existed hold."""
        record = self.config_record()
        for key in ("versions", "git_commit", "threads_used", "threads", "fused_cells_used", "seed_path"):
            record.pop(key, None)
        if record.get("precision") == "fp32":  # the default: checkpoints from before the field still fit
            record.pop("precision")
        if not with_steps:
            record.pop("steps", None)
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()

    def _want_fused_cells(self) -> bool:
        cfg = self.cfg
        if cfg.fused_cells is not None:
            return cfg.fused_cells
        hidden = int(self.model_config.get("hidden", 0) or 0)
        return len(self.seeds) * cfg.batch_size * hidden * cfg.steps >= 2**24

    def _probe_every(self) -> int:
        return default_probe_every(self.cfg, self.model.probe_arrays, self.dist.tgt_len, self.dist.src_len)

    def is_eval_step(self, step: int) -> bool:
        return step % self.cfg.eval_every == 0 or step == self.cfg.steps

    def eval_steps(self) -> set[int]:
        return set(range(0, self.cfg.steps + 1, self.cfg.eval_every)) | {self.cfg.steps}

    def is_probe_step(self, step: int) -> bool:
        if step == self.cfg.steps:
            return True
        return self.probe_every > 0 and step % self.probe_every == 0

    def summary(self) -> dict[str, Any]:
        seeds = []
        for k, seed in enumerate(self.seeds):
            hist = self.history[seed]
            reached = [st for st, acc in hist if acc >= SUCCESS_ACCURACY]
            seeds.append(
                {
                    "seed": seed,
                    "reached_95": bool(reached),
                    "step_95": reached[0] if reached else None,
                    "diverged": self.diverged_step[k] >= 0,
                    "diverged_step": self.diverged_step[k] if self.diverged_step[k] >= 0 else None,
                    "stopped_step": self.stopped_step[k] if self.stopped_step[k] >= 0 else None,
                    "final_token_acc": hist[-1][1] if hist else None,
                }
            )
        finished = (
            (self.step >= self.cfg.steps or self.all_stopped()) and not self.interrupted and not self.failed
        )
        out: dict[str, Any] = {
            "seeds": seeds,
            "finished": finished,
            "interrupted": self.interrupted,
            "last_step": self.step,
        }
        if finished:  # the proof that the run is complete, written last (runs.rundir.check_complete)
            out["complete"] = runfiles.completion_record(self.run_dir)
        return out

    def _check_curves(self) -> None:
        """Resume needs every evaluation row up to the checkpoint: they cannot be recomputed."""
        path = self.run_dir / "curves.csv"
        if not path.exists():
            raise KtiwError(
                f"{path} is missing: the rows up to step {self.step} are lost and cannot be recomputed "
                f"from the checkpoint; train again with another --out"
            )
        curves = runfiles.read_curves(path, torn_tail_ok=True)
        have = set(zip(curves["seed"].tolist(), curves["step"].tolist(), strict=True))
        stopped = getattr(self, "stopped_step", [-1] * len(self.seeds))
        for step in range(0, self.step + 1, self.cfg.eval_every):
            for seed, stop in zip(self.seeds, stopped, strict=True):
                if 0 <= stop < step:  # a seed stopped early (--stop-at) has no later rows
                    continue
                if (seed, step) not in have:
                    raise runfiles.damaged(
                        path, f"no row for seed {seed} at step {step} (up to the checkpoint at {self.step})"
                    )

    def _history_from_curves(self) -> None:
        curves = runfiles.read_curves(self.curves.path)
        for seed, step, acc in zip(curves["seed"], curves["step"], curves["token_acc"], strict=True):
            self.history.setdefault(int(seed), []).append((int(step), float(acc)))

    # ------------------------------------------------------------ checkpoints

    def checkpoint(self) -> None:
        state = {
            "step": self.step,
            "seeds": list(self.seeds),
            "params": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.opt.state_dict(),
            "active": self.active.cpu(),
            "diverged_step": torch.tensor(self.diverged_step, dtype=torch.int64),
            "stopped_step": torch.tensor(self.stopped_step, dtype=torch.int64),
            "rng": [json.dumps(r.bit_generator.state) for r in self.rngs],
            "config_hash": self.config_hash(),
        }
        path = self.run_dir / runfiles.CHECKPOINT
        tmp = path.with_name(runfiles.CHECKPOINT + ".tmp")
        with runfiles.writing(path, tmp):  # disk full / ulimit -f: one line, the last checkpoint kept
            with tmp.open("wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            if path.exists():  # keep the previous one: the fallback if this one is ever damaged
                os.replace(path, self.run_dir / runfiles.PREVIOUS_CHECKPOINT)
            os.replace(tmp, path)

    def _load_checkpoint(self) -> bool:
        """Restore the last good checkpoint (falling back to the previous one); ``False`` when
        the run never wrote one (it stopped during set-up: it restarts from step 0)."""
        paths = [self.run_dir / runfiles.CHECKPOINT, self.run_dir / runfiles.PREVIOUS_CHECKPOINT]
        present = [p for p in paths if p.exists()]
        if not present:
            return False
        problems = []
        for path in present:
            try:
                self._apply_checkpoint(path)
                return True
            except BeyondStepsError:
                raise
            except KtiwError as exc:
                problems.append(str(exc))
        raise KtiwError("; ".join(problems) + " (no good checkpoint to resume from)")

    def _apply_checkpoint(self, path: Path) -> None:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a torn or garbage file
            what = "empty (0 bytes)" if path.stat().st_size == 0 else f"{type(exc).__name__}"
            raise runfiles.damaged(path, f"not a readable checkpoint ({what})") from None
        if not isinstance(state, dict):
            raise runfiles.damaged(path, "not a checkpoint dictionary")
        at = state.get("step")
        if isinstance(at, int) and not isinstance(at, bool) and at > self.cfg.steps >= 0:
            raise BeyondStepsError(
                f"--steps {self.cfg.steps}: {self.run_dir} is already at step {at} (its checkpoint); "
                f"give --steps {at} or more, or train a new run with another --out"
            )
        if state.get("config_hash") not in (None, self.config_hash(), self.config_hash(with_steps=True)):
            raise KtiwError(
                f"{path} belongs to another configuration: config.json was changed after the run "
                "started; restore it or train the new configuration into another --out"
            )
        try:
            if list(state["seeds"]) != self.seeds:
                raise KtiwError(f"checkpoint seeds {state['seeds']} do not match config seeds {self.seeds}")
            self.model.load_state_dict(state["params"])
            self.opt.load_state_dict(state["optimizer"] if "optimizer" in state else state["adam"])
            self.active.copy_(state["active"])
            self.diverged_step = [int(x) for x in state["diverged_step"]]
            self._active = [bool(a) for a in self.active.tolist()]
            if "stopped_step" in state:
                self.stopped_step = [int(x) for x in state["stopped_step"]]
            if len(state["rng"]) != len(self.rngs) or len(self.diverged_step) != len(self.seeds):
                raise ValueError("seed count differs")
            for r, st in zip(self.rngs, state["rng"], strict=True):
                r.bit_generator.state = json.loads(st)
            step = int(state["step"])
            if not 0 <= step <= self.cfg.steps:
                raise ValueError(f"step {step} outside 0..{self.cfg.steps}")
            self.step = step
        except KtiwError:
            raise
        except Exception as exc:
            raise runfiles.damaged(
                path, f"does not fit config.json ({type(exc).__name__}: {str(exc)[:120]})"
            ) from None

    def _load_or_train_proxy(self) -> None:
        if self.cfg.proxy_steps == 0:
            return
        path = self.run_dir / "probes" / "proxy.npz"
        if path.exists():
            try:  # a damaged proxy file is simply recomputed below (it is deterministic)
                beta_px = runfiles.read_npz(path)["beta_px"]
                if beta_px.ndim == 3 and beta_px.shape[0] == self.cfg.eval_samples:
                    self.beta_px = beta_px
                    return
            except (KtiwError, KeyError):
                pass
        try:
            from . import proxy
        except ImportError:  # pragma: no cover - the proxy module ships with the package
            return
        M = proxy.train_bow_proxy(
            self.dist,
            steps=self.cfg.proxy_steps,
            batch_size=self.cfg.batch_size,
            lr=self.cfg.lr,
            seed=self.cfg.eval_seed,
            device=self.device,
        )
        self.beta_px = proxy.beta_px(M, self.eval_batch.src, self.eval_batch.tgt)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name("proxy.tmp.npz")
        with runfiles.writing(path, tmp):
            np.savez(tmp, M=M, beta_px=self.beta_px)
            tmp.replace(path)

    # ------------------------------------------------------------ training

    def all_stopped(self) -> bool:
        """True when no seed trains any more and at least one stopped early (``stop_at``)."""
        return not any(self._active) and any(st >= 0 for st in self.stopped_step)

    def train_step(self) -> None:
        """One optimiser update of every active seed; inactive seeds (diverged or stopped) draw
        no batch and take no part in the computation."""
        k = self.step + 1
        running = [i for i, a in enumerate(self._active) if a]
        if running:
            self._train_seeds(running, k)
        self.step = k

    def _train_seeds(self, running: list[int], k: int) -> None:
        """Forward, backward and Adam for seeds ``running`` (positions), as one stacked batch."""
        batches: list[Batch] = [self.dist.sample(self.cfg.batch_size, self.rngs[i]) for i in running]
        inputs = self.model.prepare(batches)
        everyone = len(running) == len(self.seeds)
        if everyone:
            self.model.zero_grad(set_to_none=True)
            leaves = dict(self.model.named_parameters())
            with autocast(self.cfg.precision, self.device):
                losses = self.model.losses(inputs)
        else:  # the running seeds' slices as leaves of their own: the others cost nothing
            rows = torch.as_tensor(running, device=self.device)
            leaves = {n: p.detach()[rows].requires_grad_(True) for n, p in self.model.named_parameters()}
            with autocast(self.cfg.precision, self.device):
                losses = functional_call(self.model, leaves, (inputs,))
        losses = full_precision(losses)  # a model computing its loss in bf16: summed in float32
        finite = torch.isfinite(losses.detach()).tolist()  # the step's one host-device sync
        for pos, i in enumerate(running):
            if not finite[pos]:
                self.diverged_step[i] = k
                self._active[i] = False
        ok = [pos for pos, f in enumerate(finite) if f]
        if ok:
            total = losses.sum() if len(ok) == len(running) else losses[ok].sum()
            total.backward()
            grads = {n: t.grad for n, t in leaves.items() if t.grad is not None}
            if everyone and len(ok) == len(running):
                self.opt.update(None, grads)
            else:
                pos_t = torch.as_tensor(ok, device=self.device)
                self.opt.update([running[p] for p in ok], {n: g[pos_t] for n, g in grads.items()})
        if len(ok) < len(running):
            self.active.copy_(torch.as_tensor(self._active))

    def _eval_inputs_for(self, n: int) -> Any:
        if n not in self._eval_inputs_by_count:
            self._eval_inputs_by_count[n] = self.model.prepare([self.eval_batch] * n)
        return self._eval_inputs_by_count[n]

    def evaluate(self) -> dict[str, np.ndarray]:
        """Evaluate every seed that has not stopped, append the curves, stop the seeds that
        reached ``stop_at``, save probes if due (and at every step where a seed stops)."""
        seeds = [k for k in range(len(self.seeds)) if self.stopped_step[k] < 0]
        if len(seeds) == len(self.seeds):
            ev = evaluate_model(self.model, self.eval_inputs)
        else:
            ev = evaluate_model(self.model, self._eval_inputs_for(len(seeds)), seeds=seeds)
        metrics = seed_metrics(ev, self.eval_batch.tgt_len, self.eval_batch.align)
        rows = []
        stopping = False
        for pos, k in enumerate(seeds):
            seed = self.seeds[k]
            row: dict[str, Any] = {"seed": seed, "step": self.step}
            row.update({c: float(metrics[c][pos]) for c in COLUMNS})
            row["diverged"] = int(self.diverged_step[k] >= 0)
            rows.append(row)
            self.history[seed].append((self.step, row["token_acc"]))
            stop_at = self.cfg.stop_at
            if stop_at is not None and self._active[k] and row["token_acc"] >= stop_at:
                self.stopped_step[k] = self.step
                self._active[k] = False
                stopping = True
        self.curves.write(rows)
        if stopping:
            self.active.copy_(torch.as_tensor(self._active))
        if self.is_probe_step(self.step) or stopping:
            self._save_probes(_all_seeds(ev, seeds, len(self.seeds)))
        return {c: _all_seeds_metric(metrics[c], seeds, len(self.seeds)) for c in metrics}

    def _save_probes(self, ev: Any) -> None:
        b = self.eval_batch
        N = len(b)
        arrays: dict[str, np.ndarray] = {
            "src": b.src,
            "tgt": b.tgt,
            "align": b.align if b.align is not None else np.full(b.tgt.shape, -1, np.int64),
            "src_len": b.src_len,
            "tgt_len": b.tgt_len,
            "seeds": np.asarray(self.seeds, np.int64),
        }
        T, L = b.tgt.shape[1], b.src.shape[1]
        for name in ("alpha", "beta", "grad"):
            value = getattr(ev, name)
            if value is None:
                value = np.full((len(self.seeds), N, T, L), np.nan)
            arrays[name] = value.astype(np.float32)
        for name, value in ev.extra.items():
            arrays[name] = value
        if self.beta_px is not None:
            arrays["beta_px"] = self.beta_px.astype(np.float32)
        runfiles.save_probes(self.run_dir, self.step, arrays)

    def run(self, progress: bool = True, callback: Callable[[Trainer], None] | None = None) -> Path:
        """Train to ``steps``; on Ctrl-C checkpoint, write the summary and re-raise KeyboardInterrupt."""
        cfg = self.cfg
        consistent = True
        bar = _Progress(progress, cfg.steps, self.step, self._label())
        try:
            with _Interrupts() as interrupts, bar:
                if self.step == 0 and not self.history[self.seeds[0]]:
                    bar.update(self.step, self.evaluate())
                    self.checkpoint()
                while self.step < cfg.steps and not self.all_stopped():
                    consistent = False
                    self.train_step()
                    consistent = True
                    metrics = self.evaluate() if self.is_eval_step(self.step) else None
                    bar.update(self.step, metrics)
                    if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps or self.all_stopped():
                        self.checkpoint()
                    if callback is not None:
                        callback(self)
                    if interrupts.requested:
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            self.interrupted = True
            if consistent:
                self.checkpoint()
            raise
        except BaseException:
            self.failed = True  # a write that failed (disk full) or a crash: the run is not finished
            raise
        finally:
            try:
                runfiles.write_json(self.run_dir / "summary.json", self.summary())
            except KtiwError:
                if not (self.failed or self.interrupted):
                    raise  # else the first failure is the one to report
            finally:
                self.lock.release()
        return self.run_dir

    def _label(self) -> str:
        name = self.cfg.model + (" uniform" if self.cfg.uniform else "")
        return f"{self.dist.spec} {name} x{len(self.seeds)}"


def _all_seeds_metric(values: np.ndarray, seeds: list[int], S: int) -> np.ndarray:
    """``values`` of seeds ``seeds`` placed in an array over all ``S`` seeds (NaN elsewhere)."""
    out = np.full(S, np.nan)
    out[seeds] = values
    return out


def _all_seeds(ev: Evaluation, seeds: list[int], S: int) -> Evaluation:
    """An evaluation of seeds ``seeds`` widened to all ``S`` seeds: probe arrays are NaN for the
    others (stopped seeds)."""
    if len(seeds) == S:
        return ev

    def widen(arr: np.ndarray | None) -> np.ndarray | None:
        if arr is None:
            return None
        dtype = arr.dtype if arr.dtype.kind == "f" else np.float64
        out = np.full((S, *arr.shape[1:]), np.nan, dtype=dtype)
        out[seeds] = arr
        return out

    return Evaluation(
        loss=widen(ev.loss),  # type: ignore[arg-type]
        correct=ev.correct,
        attn_argmax=ev.attn_argmax,
        alpha=widen(ev.alpha),
        beta=widen(ev.beta),
        grad=widen(ev.grad),
        extra={k: widen(v) for k, v in ev.extra.items()},  # type: ignore[misc]
    )


class _Progress:
    """A rich progress bar showing the mean token accuracy of the last evaluation (or nothing)."""

    def __init__(self, enabled: bool, total: int, done: int, label: str) -> None:
        self.enabled, self.total, self.done, self.label = enabled, total, done, label
        self.acc = float("nan")
        self._bar: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}", markup=False),  # the label holds user text
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("acc {task.fields[acc]}"),
                TimeRemainingColumn(),
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.total, completed=self.done, acc="-")
        return self

    def update(self, step: int, metrics: dict[str, np.ndarray] | None) -> None:
        if self._bar is None:
            return
        fields_: dict[str, Any] = {}
        if metrics is not None:
            fields_["acc"] = f"{float(np.nanmean(metrics['token_acc'])):.3f}"
        self._bar.update(self._task, completed=step, **fields_)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def train(
    config: TrainConfig | dict[str, Any],
    out_dir: str | Path,
    progress: bool = True,
    callback: Callable[[Trainer], None] | None = None,
) -> Path:
    """Train a fresh run into ``out_dir`` and return it (see the module docstring).

    ``callback(trainer)`` is called after every completed step (tests use it).  Ctrl-C keeps
    what was recorded, checkpoints, and re-raises :class:`KeyboardInterrupt`.
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    return Trainer(cfg, Path(out_dir)).run(progress, callback)


class BeyondStepsError(KtiwError):
    """``--resume --steps N`` below the step the run's checkpoint is at."""


RESUME_APPLIES = ("steps", "threads")
"""Options ``--resume`` applies: the step budget (extended, or shortened down to the step of
the checkpoint) and the CPU thread count (it does not change the numbers).  Every other
training option determines the run's numbers and is taken from ``config.json``: given with
``--resume``, it must equal the recorded value."""


def _recorded(config: dict[str, Any], name: str) -> Any:
    """The value ``config.json`` records for field ``name`` (``model_config.KEY`` for a model
    field), or a marker when it records none."""
    if name.startswith("model_config."):
        return dict(config.get("model_config") or {}).get(name.split(".", 1)[1], _MISSING)
    return config.get(name, _MISSING)


_MISSING = object()


def _same(given: Any, stored: Any) -> bool:
    if isinstance(given, bool) or isinstance(stored, bool):
        return given is stored
    if isinstance(given, (int, float)) and isinstance(stored, (int, float)):
        return float(given) == float(stored)
    return json.loads(json.dumps(given)) == stored


def resume_options(
    run_dir: Path, config: dict[str, Any], options: dict[str, tuple[str, Any]]
) -> dict[str, Any]:
    """Check the options given with ``--resume`` against the run's ``config.json``.

    ``options``: option as the user wrote it (``--steps``) -> (config field, value).  Returns
    the fields to apply (:data:`RESUME_APPLIES`); any other option whose value differs from the
    recorded one is a one-line :class:`KtiwError` naming the option and the recorded value."""
    apply: dict[str, Any] = {}
    for flag, (name, value) in options.items():
        if name in RESUME_APPLIES:
            apply[name] = value
            continue
        stored = _recorded(config, name)
        if name == "device" and value in (config.get("device_requested"), config.get("device")):
            continue
        if stored is not _MISSING and _same(value, stored):
            continue
        shown = "not recorded" if stored is _MISSING else json.dumps(stored)
        given = value if isinstance(value, str) else json.dumps(value)
        raise KtiwError(
            f"{flag} {given}: --resume continues {run_dir} as recorded ({name} = {shown} "
            "in its config.json); to change it, train a new run with another --out"
        )
    return apply


def resume(
    run_dir: str | Path,
    progress: bool = True,
    callback: Callable[[Trainer], None] | None = None,
    options: dict[str, tuple[str, Any]] | None = None,
) -> Path:
    """Continue ``run_dir`` from its last checkpoint (identical results to an uninterrupted run).

    ``options`` (:func:`resume_options`): what the user gave with ``--resume``; ``steps`` moves
    the step budget (an extended run equals an uninterrupted run of the new length, except for
    an extra evaluation row at the old last step when it lies off the ``eval_every`` grid),
    ``threads`` sets the CPU threads; any other option must equal its recorded value."""
    run_dir = Path(run_dir)
    problem = not_a_directory(run_dir)
    if problem is not None:
        raise KtiwError(f"--resume {run_dir}: the run directory {problem}")
    config = runfiles.read_config(run_dir)
    try:
        cfg = TrainConfig.from_dict(config)
        cfg.device = config.get("device_requested", cfg.device)
        cfg.validate()
    except KtiwError as exc:
        raise runfiles.damaged(run_dir / "config.json", str(exc)) from None
    apply = resume_options(run_dir, config, options or {})
    for name, value in apply.items():
        setattr(cfg, name, value)
    cfg.validate()
    trainer = Trainer(cfg, run_dir, resume=True)
    if cfg.steps != config.get("steps"):  # the new budget is the run's from now on
        try:
            runfiles.write_json(run_dir / "config.json", {**config, "steps": cfg.steps})
        except BaseException:
            trainer.lock.release()
            raise
    return trainer.run(progress, callback)


def prepare_run_dir(run_dir: Path, *, resume: bool) -> Path:
    """Check (and for a fresh run create) the run directory; one-line :class:`KtiwError` for an
    empty path, a file, a directory holding other files or another run, or an unwritable place."""
    runfiles.check_out_name(run_dir)
    if resume:
        return run_dir
    if (run_dir / "config.json").exists():
        raise KtiwError(
            f"--out {run_dir} already holds a run; continue it with --resume {run_dir} "
            "or choose another --out"
        )
    runfiles.check_out_dir(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".ktiw-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise KtiwError(f"cannot write run directory {run_dir}: {exc.strerror or exc}") from None
    return run_dir


def check_training_memory(cfg: TrainConfig, dist: Distribution) -> None:
    """Refuse (one line, size and limit) a run whose dominant arrays cannot fit in memory.

    Counted, for the model actually built: parameters with their gradient and two Adam moments
    (the model is built on the ``meta`` device first, so nothing is allocated), one step's
    sampled data (families draw a random key per vocabulary word), the activations -- twice the
    bytes autograd saves for the forward pass, ``S x fixed + S x max(batch, eval_samples) x
    per_example`` with both measured on one seed of the model at batches 2 and 4
    (:func:`~ktiw.empirics.models.base.activation_model`; twice: the saved tensors and their
    gradients in the backward pass) -- and one evaluation's probe arrays.  Before the model exists, the output
    logits ``S x batch x (L + T) x |O|`` and the ``T x L`` attention stand for the activations."""
    S, B, N = len(cfg.seeds), cfg.batch_size, cfg.eval_samples
    L, T, n_in, n_out = int(dist.src_len), int(dist.tgt_len), int(dist.n_in), int(dist.n_out)
    width = 4 if cfg.dtype == "float32" else 8
    what = f"training {S} seed(s) of {cfg.model} on {dist.spec} (L={L}, |I|={n_in}, |O|={n_out})"
    hint = "reduce the vocabulary, the length, --seeds, --batch-size or the model size"
    rows = S * max(B, N)
    parts = {  # first without the model: sizes too large even to describe as tensors stop here
        "data": 16.0 * rows * (n_in + L + T),
        "activations": 3.0 * width * rows * ((L + T + 2) * n_out + T * L),
        # probes: one evaluation's [S, N, T, L] arrays, and a beta probe that may score every
        # output word at every (target, source) pair
        "probes": 8.0 * S * N * T * L + width * S * N * T * L * n_out,
    }
    check_memory(what, sum(parts.values()), f"mostly {max(parts, key=parts.__getitem__)}; {hint}")
    with torch.device("meta"):
        model, _ = build_model(cfg.model, cfg.model_config, dist, S, uniform=cfg.uniform)
    parts["parameters"] = 4.0 * width * sum(p.numel() for p in model.parameters())
    parts["probes"] += 8.0 * model.probe_arrays * S * N * T * L
    check_memory(what, sum(parts.values()), f"mostly {max(parts, key=parts.__getitem__)}; {hint}")
    # built for real (its parameters fit: checked above); measured on seed 0's slice
    model, _ = build_model(cfg.model, cfg.model_config, dist, S, uniform=cfg.uniform)
    model = model.to(DTYPES[cfg.dtype])
    model.init_seed(0, torch.Generator().manual_seed(cfg.seeds[0]))  # as the trainer will
    fixed, per_example = activation_model(model, dist)
    parts["activations"] = max(parts["activations"], 2.0 * (S * fixed + rows * per_example))
    check_memory(what, sum(parts.values()), f"mostly {max(parts, key=parts.__getitem__)}; {hint}")


def estimate_training_seconds(cfg: TrainConfig, dist: Distribution) -> float:
    """A deliberately long estimate of one training's time on one CPU thread: the ``6 N D`` rule
    (forward and backward cost about six floating-point operations per parameter and token;
    ``N``: the parameters of all seeds, from the model built on the ``meta`` device; ``D``: the
    ``batch x (L + T)`` tokens each seed sees per step) over ``steps``, at
    :data:`~ktiw.core.limits.TRAIN_FLOPS_PER_SECOND`, plus
    :data:`~ktiw.core.limits.TRAIN_STEP_SECONDS` per step.  Its job is to catch ``--steps 1e9``
    before it starts, not to schedule."""
    numel = _parameter_count(cfg, dist)
    tokens = float(cfg.batch_size) * (int(dist.src_len) + int(dist.tgt_len))
    L_T = int(dist.src_len) + int(dist.tgt_len)
    evals = (cfg.steps // cfg.eval_every + 2) * 2.0 * numel * cfg.eval_samples * L_T
    flops = 6.0 * numel * tokens * cfg.steps + evals
    return flops / TRAIN_FLOPS_PER_SECOND + cfg.steps * TRAIN_STEP_SECONDS


_PARAMETER_COUNTS: dict[str, float] = {}
""":func:`_parameter_count` per model, model configuration, distribution shape, seed count and
attention mode: a sweep estimates thousands of runs that share a few models (building each on
the ``meta`` device took about 1 ms a run: 3,000 runs in 3 s)."""


def _parameter_count(cfg: TrainConfig, dist: Distribution) -> float:
    """Parameters of all seeds of ``cfg``'s model on ``dist``, built once on the ``meta`` device."""
    shape = (dist.spec, dist.n_in, dist.n_out, dist.src_len, dist.tgt_len, dist.aligned, dist.shared_vocab)
    key = repr((cfg.model, sorted(cfg.model_config.items()), shape, len(cfg.seeds), cfg.uniform))
    if key not in _PARAMETER_COUNTS:
        with torch.device("meta"):
            model, _ = build_model(cfg.model, cfg.model_config, dist, len(cfg.seeds), uniform=cfg.uniform)
        _PARAMETER_COUNTS[key] = float(sum(p.numel() for p in model.parameters()))
    return _PARAMETER_COUNTS[key]
