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
Ctrl-C; :func:`ktiw.empirics.resume.resume` continues from it and gives results identical to
an uninterrupted run on the same device.  The run's record is
:class:`~ktiw.empirics.train_config.TrainConfig`; its cost is estimated before it starts by
:mod:`ktiw.empirics.training_cost`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.func import functional_call

from ktiw.core.errors import KtiwError
from ktiw.core.host_memory import keep_freed_memory
from ktiw.core.limits import (
    MAX_TRAIN_SECONDS,
    check_time,
)
from ktiw.core.provenance import provenance
from ktiw.data.distribution import Batch

from . import batched as bt
from . import runfiles
from .cpu_threads import default_threads
from .curves import SUCCESS_ACCURACY
from .interrupts import Interrupts
from .models import Evaluation, SeedModel, build_model
from .optim import SeedAdam, SeedSGD, seed_optimizer
from .precision import autocast, full_precision
from .probes import COLUMNS, seed_metrics
from .probes import evaluate as evaluate_model
from .progress import TrainProgress
from .train_config import DTYPES, TrainConfig, default_probe_every, load_distribution, resolve_device
from .training_cost import check_training_memory, estimate_training_seconds


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
            self._check_probes()
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
        self._check_recorded_curves(path)
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

    def _check_recorded_curves(self, path: Path) -> None:
        """A finished run's ``curves.csv`` must be the one its completion record hashed: resuming
        keeps its rows and records them anew, so an edited or cut file would be certified."""
        summary_path = self.run_dir / "summary.json"
        try:
            summary = runfiles.read_json_object(summary_path) if summary_path.exists() else {}
        except KtiwError:
            return  # a damaged summary is written again at the end; its record is lost
        record = summary.get("complete") if summary.get("finished") else None
        want = record.get("curves") if isinstance(record, dict) else None
        if isinstance(want, dict) and runfiles.file_digest(path)["sha256"] != want.get("sha256"):
            raise runfiles.damaged(
                path,
                "its contents differ from what summary.json recorded at the finish (edited or cut); "
                "its rows cannot be recomputed from the checkpoint; train again with another --out",
            )

    def _check_probes(self) -> None:
        """The probe files up to the checkpoint are kept, and a finished run records them anew:
        each must be the one the run wrote (its SHA-256 in the completion record of a finished
        run; for a run stopped before its finish, or whose summary is damaged, an archive that
        reads back), else resuming would certify a damaged or swapped file as the run's.  The
        proxy (``proxy.npz``) is deterministic and recomputed when damaged, so it is not needed."""
        summary_path = self.run_dir / "summary.json"
        try:  # a damaged summary is written again at the end; without its record, read the files back
            summary = runfiles.read_json_object(summary_path) if summary_path.exists() else {}
        except KtiwError:
            summary = {}
        record = summary.get("complete") if summary.get("finished") else None
        recorded = dict(record.get("probes", {})) if isinstance(record, dict) else None
        again = (
            f"it cannot be recomputed from the checkpoint at step {self.step}; train again with another --out"
        )
        if recorded is not None:
            for name, want in recorded.items():
                if not name.startswith("step_"):  # proxy.npz: recomputed identically when damaged
                    continue
                path = self.run_dir / "probes" / name
                if not path.is_file():
                    raise runfiles.damaged(path, f"missing (summary.json recorded it at the finish); {again}")
                try:
                    got = runfiles.file_digest(path)
                except OSError as exc:
                    raise runfiles.damaged(path, f"unreadable ({exc.strerror or exc}); {again}") from None
                if not isinstance(want, dict) or got["sha256"] != want.get("sha256"):
                    raise runfiles.damaged(
                        path, f"its contents differ from what summary.json recorded; {again}"
                    )
            return
        for path in sorted((self.run_dir / "probes").glob("step_*.npz")):
            try:
                step = int(path.stem.split("_")[1])
            except (IndexError, ValueError):
                continue
            if step <= self.step:
                try:
                    runfiles.read_npz(path)
                except KtiwError as exc:
                    raise KtiwError(f"{exc}; {again}") from None

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
        bar = TrainProgress(progress, cfg.steps, self.step, self._label())
        try:
            with Interrupts() as interrupts, bar:
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
