"""``S`` seeds of a plain single-seed ``nn.Module``: the one mechanism behind ``--model
transformer`` and ``--model mypkg.models:build``.

The user (or a built-in model such as :mod:`.transformer`) writes a factory
``build(task: SeqTask, **options) -> nn.Module`` for ONE seed, the usual way.  The module's
``forward(src, src_mask, tgt_in)`` takes

* ``src [B, L+1]`` (int64): source tokens ``x_1 .. x_L, EOS`` (EOS also pads),
* ``src_mask [B, L+1]`` (bool): True at the positions that exist (``l <= src_len``),
* ``tgt_in [B, T+1]`` (int64): decoder input ``BOS, y_1 .. y_T`` (teacher forcing),

and returns class logits ``[B, T+1, n_classes]`` for the targets ``y_1 .. y_T, EOS``
(:mod:`.seq_inputs`; token ids index one shared table of ``task.n_tokens`` rows).  ktiw
computes the loss (mean token NLL, :func:`.loss.token_mean_nll`).  The module passes its
cross-attention through :func:`.hooks.hook_point` at ``attn_logits`` (before masking),
``attn``, ``readout_state`` and ``readout_values`` and has a method ``readout(pre)`` with
``forward(...) == readout(readout_state + attn @ readout_values)``; then every probe works
(:mod:`ktiw.empirics.probes`).

How the seeds are trained (:class:`ModuleSeeds`, a :class:`~.base.SeedModel`):

* the factory is called once per seed under ``torch.manual_seed(k)`` with ``k`` drawn from the
  seed's generator; the parameters (and buffers) are stacked on a new axis 0 (as
  ``torch.func.stack_module_state`` does) and replace the module's own, so the trainer's
  :class:`~ktiw.empirics.optim.SeedAdam` / ``SeedSGD`` (per-seed state and step counts) see
  ordinary ``[S, ...]`` parameters;
* the forward pass is ``torch.vmap(functional_call(module, seed_params, args))`` over the seed
  axis (path ``vmap``) when every op of the module has a batching rule, else a Python loop over
  the seeds (path ``loop``; e.g. ``nn.LSTM`` / ``nn.GRU``, pytorch#105982, #134606).  The path is
  chosen once from a tiny forward pass and recorded (``ModuleSeeds.path``, ``config.json``);
* a forward pass of two seeds on two examples checks the contract (output shape, every hook
  point, the readout identity).

A factory that raises, returns something that is not an ``nn.Module``, builds parameters whose
shapes change from one call to the next (they must not depend on the seed or on how many seeds
are trained), or a module missing a hook point, is a one-line :class:`KtiwError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from ktiw.core.errors import KtiwError
from ktiw.data.distribution import Batch, Distribution

from . import hooks
from .base import SeedModel
from .hooks import Cache, Recorder, recording
from .loss import token_mean_nll
from .seq_inputs import SeqInputs, seq2seq_inputs

REQUIRED_HOOKS = (hooks.ATTN_LOGITS, hooks.ATTN, hooks.READOUT_VALUES)
"""Hook points the probes need (``readout_state`` is optional: absent means zero)."""


@dataclass(frozen=True)
class SeqTask:
    """What a factory needs to know to build one seed's seq2seq model.

    ``n_tokens``: rows of the shared token table (input words, output words unless the
    vocabulary is shared, then BOS and EOS); ``bos``/``eos``: their ids; ``n_classes``: output
    words plus EOS (class ``n_classes - 1``); ``src_positions = L + 1`` and ``tgt_positions =
    T + 1``: the longest source (with EOS) and decoder input (with BOS); ``out_offset``: the id
    of output word 0 in the table (0 when the vocabulary is shared)."""

    n_tokens: int
    n_classes: int
    bos: int
    eos: int
    src_positions: int
    tgt_positions: int
    out_offset: int = 0


def seq_task(dist: Distribution) -> SeqTask:
    """The :class:`SeqTask` of a distribution (the same token layout as the LSTM, :mod:`.lstm`)."""
    shared = bool(dist.shared_vocab)
    n_words = dist.n_in if shared else dist.n_in + dist.n_out
    return SeqTask(
        n_tokens=n_words + 2,
        n_classes=dist.n_out + 1,
        bos=n_words,
        eos=n_words + 1,
        src_positions=int(dist.src_len) + 1,
        tgt_positions=int(dist.tgt_len) + 1,
        out_offset=0 if shared else dist.n_in,
    )


Factory = Callable[[SeqTask], nn.Module]


class _Method(nn.Module):
    """``forward`` = ``inner.<name>``, so ``functional_call`` can call any method of a module."""

    def __init__(self, inner: nn.Module, name: str) -> None:
        super().__init__()
        self.inner = inner
        self.name = name

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.inner, self.name)(*args, **kwargs)


def _shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in [*module.named_parameters(), *module.named_buffers()]}


def _set_tensor(module: nn.Module, name: str, value: Tensor, *, buffer: bool) -> None:
    owner_name, _, leaf = name.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    delattr(owner, leaf)
    if buffer:
        owner.register_buffer(leaf, value)
    else:
        owner.register_parameter(leaf, nn.Parameter(value))


class ModuleSeeds(SeedModel):
    """``S`` seeds of the single-seed module ``factory(task)`` (see the module docstring)."""

    def __init__(
        self,
        factory: Factory,
        dist: Distribution,
        n_seeds: int,
        *,
        uniform: bool = False,
        name: str = "model",
    ) -> None:
        super().__init__()
        self.factory, self.name, self.n_seeds, self.uniform = factory, name, n_seeds, uniform
        self.task = seq_task(dist)
        self.dist = dist
        net = self._build()
        if not any(True for _ in net.parameters()):
            raise KtiwError(f"model {name}: the module has no parameters to train")
        self.shapes = _shapes(net)
        other = self._build()
        if _shapes(other) != self.shapes:
            diff = next(
                k for k in {**self.shapes, **_shapes(other)} if self.shapes.get(k) != _shapes(other).get(k)
            )
            raise KtiwError(
                f"model {name}: parameter {diff} has shape {self.shapes.get(diff)} in one build and "
                f"{_shapes(other).get(diff)} in the next; the factory must build one seed's model with the "
                "same shapes every time (they must not depend on the seed or the seed count)"
            )
        for key, value in [*net.named_parameters(), *net.named_buffers()]:
            stacked = value.detach().unsqueeze(0).repeat(n_seeds, *([1] * value.dim()))
            _set_tensor(net, key, stacked, buffer=key in dict(net.named_buffers()))
        self.net = net
        self.path = "vmap"
        if net_device(net) != torch.device("meta"):
            self._check_contract()

    # ------------------------------------------------------------ building

    def _build(self) -> nn.Module:
        try:
            net = self.factory(self.task)
        except KtiwError:
            raise
        except Exception as exc:
            raise KtiwError(
                f"model {self.name}: the factory raised {type(exc).__name__}: {first_line(exc)}"
            ) from None
        if not isinstance(net, nn.Module):
            raise KtiwError(
                f"model {self.name}: the factory returned {type(net).__name__}, not a torch.nn.Module"
            )
        return net

    def init_seed(self, s: int, gen: torch.Generator) -> None:
        """Seed ``s``'s slice: the factory's own initialisation under ``torch.manual_seed(k)``,
        ``k`` drawn from ``gen``."""
        k = int(torch.randint(0, 2**62, (1,), generator=gen))
        with torch.random.fork_rng(devices=[]), torch.device("cpu"):
            torch.manual_seed(k)
            one = self._build()
        if _shapes(one) != self.shapes:
            raise KtiwError(
                f"model {self.name}: seed {s}'s build has other parameter shapes than the first; they must "
                "not depend on the seed or the seed count"
            )
        mine = dict([*self.net.named_parameters(), *self.net.named_buffers()])
        with torch.no_grad():
            for key, value in [*one.named_parameters(), *one.named_buffers()]:
                mine[key][s].copy_(value)

    def prepare(self, batches: Sequence[Batch]) -> SeqInputs:
        t = self.task
        return seq2seq_inputs(
            batches,
            src_eos=t.eos,
            bos=t.bos,
            tgt_eos=t.eos,
            n_out=t.n_classes - 1,
            out_offset=t.out_offset,
            device=self.device,
        )

    def targets(self, inputs: SeqInputs) -> Tensor:
        return inputs.dec_out

    # ------------------------------------------------------------ running the seeds

    def _stacked(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """The module's stacked parameters and buffers (whatever ``functional_call`` put there)."""
        return dict(self.net.named_parameters()), dict(self.net.named_buffers())

    def _one(
        self,
        params: dict[str, Tensor],
        buffers: dict[str, Tensor],
        args: tuple[Tensor, ...],
        replace: dict[str, Tensor],
        record: bool,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """One seed's forward pass (also called inside vmap, then on batched tensors)."""
        with recording(Recorder(uniform=self.uniform, record=record, replace=replace)) as rec:
            out = functional_call(self.net, (params, buffers), args)
        return out, dict(rec.seen)

    def run_seeds(
        self,
        args: tuple[Tensor, ...],
        *,
        record: bool = False,
        replace: dict[str, Tensor] | None = None,
        path: str | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Every seed's output ``[S, B, T+1, C]`` and (``record``) hooked tensors ``[S, ...]``;
        ``args`` and ``replace`` carry the seed axis first."""
        params, buffers = self._stacked()
        replace = replace or {}
        if (path or self.path) == "vmap":
            return torch.vmap(self._one, in_dims=(0, 0, 0, 0, None), randomness="different")(
                params, buffers, args, replace, record
            )
        outs, seen = [], []
        for s in range(args[0].shape[0]):
            o, r = self._one(
                {k: v[s] for k, v in params.items()},
                {k: v[s] for k, v in buffers.items()},
                tuple(a[s] for a in args),
                {k: v[s] for k, v in replace.items()},
                record,
            )
            outs.append(o)
            seen.append(r)
        return torch.stack(outs), {k: torch.stack([r[k] for r in seen]) for k in seen[0]}

    @staticmethod
    def args(inputs: SeqInputs) -> tuple[Tensor, ...]:
        return inputs.src_ids, inputs.src_valid, inputs.dec_in

    def losses(self, inputs: SeqInputs, cache: Cache | None = None) -> Tensor:
        """Each seed's mean token NLL; with a ``cache``: the hook points and ``out`` go there,
        a name in ``cache.grad_of`` as a leaf the forward pass reads (two passes: the first
        finds its value)."""
        args = self.args(inputs)
        if cache is None:
            out, _ = self.run_seeds(args)
            return token_mean_nll(out, inputs.dec_out, inputs.dec_valid)
        replace: dict[str, Tensor] = {}
        if cache.grad_of:
            with torch.no_grad():
                _, first = self.run_seeds(args, record=True)
            replace = {k: first[k].detach().clone().requires_grad_(True) for k in cache.grad_of if k in first}
        out, seen = self.run_seeds(args, record=True, replace=replace)
        for k, v in seen.items():
            cache.put(k, replace.get(k, v))
        cache.put(hooks.OUT, out)
        return token_mean_nll(out, inputs.dec_out, inputs.dec_valid)

    def readout(self, pre: Tensor, seeds: slice | Tensor = slice(None)) -> Tensor:
        """The module's ``readout`` for seeds ``seeds`` (``pre [S', ..., K]``), vmapped or looped."""
        params, buffers = self._stacked()
        state = {f"inner.{k}": v[seeds] for k, v in {**params, **buffers}.items()}
        wrapper = _Method(self.net, "readout")

        def one(p: dict[str, Tensor], x: Tensor) -> Tensor:
            return functional_call(wrapper, p, (x,))

        if self.path == "vmap":
            return torch.vmap(one)(state, pre)
        return torch.stack([one({k: v[s] for k, v in state.items()}, pre[s]) for s in range(pre.shape[0])])

    # ------------------------------------------------------------ the contract, checked once

    def _tiny_inputs(self, n_seeds: int, batch: int = 2) -> SeqInputs:
        b = self.dist.sample(batch, np.random.default_rng([3, 0]))
        return self.prepare([b] * n_seeds)

    def _check_contract(self) -> None:
        """Run 2 seeds on 2 examples: output shape, hook points, readout identity, vmap or loop."""
        if not callable(getattr(self.net, "readout", None)):
            raise KtiwError(
                f"model {self.name}: the module has no method readout(pre) (class logits from "
                "readout_state + attn @ readout_values; needed by the beta probe)"
            )
        n = min(2, self.n_seeds)
        inp = self._tiny_inputs(n)
        args = self.args(inp)
        subset = {
            k: v[:n]
            for k, v in {**dict(self.net.named_parameters()), **dict(self.net.named_buffers())}.items()
        }
        wrapper = _Method(self, "run_seeds")
        with torch.no_grad():
            try:
                out, seen = self._vmap_or_loop(wrapper, subset, args)
            except KtiwError:
                raise
            except Exception as exc:
                raise KtiwError(
                    f"model {self.name}: forward(src, src_mask, tgt_in) failed: {type(exc).__name__}: "
                    f"{first_line(exc)}"
                ) from None
        B, T1 = inp.dec_in.shape[1:]
        want = (n, B, T1, self.task.n_classes)
        if tuple(out.shape) != want:
            raise KtiwError(
                f"model {self.name}: forward returned shape {tuple(out.shape[1:])}, expected "
                f"[B, T+1, n_classes] = {want[1:]}"
            )
        for k in REQUIRED_HOOKS:
            if k not in seen:
                raise KtiwError(
                    f"model {self.name}: missing hook point {k!r} (the module never calls "
                    f"hook_point({k!r}, ...)); the probes need {', '.join(REQUIRED_HOOKS)}"
                )
        pre = (
            torch.matmul(seen[hooks.ATTN], seen[hooks.READOUT_VALUES])
            if seen[hooks.ATTN].dim() == 4
            else (torch.einsum("sbhtl,sbhlk->sbtk", seen[hooks.ATTN], seen[hooks.READOUT_VALUES]))
        )
        if hooks.READOUT_STATE in seen:
            pre = pre + seen[hooks.READOUT_STATE]
        with torch.no_grad():
            again = functional_call(
                _Method(self, "readout"), {f"inner.net.{k}": v for k, v in subset.items()}, (pre,)
            )
        gap = float((again - out).abs().max())
        scale = float(out.abs().max()) + 1.0
        if not gap <= 1e-4 * scale:
            raise KtiwError(
                f"model {self.name}: readout(readout_state + attn @ readout_values) differs from the "
                f"output by {gap:.3g}; the hooked tensors must be the ones the output is computed from"
            )

    def _vmap_or_loop(
        self, wrapper: nn.Module, subset: dict[str, Tensor], args: tuple[Tensor, ...]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Try the vmap path on the tiny batch; fall back to the loop (recorded in ``path``) when
        an op has no batching rule (an error, or vmap's slow-fallback warning)."""
        state = {f"inner.net.{k}": v for k, v in subset.items()}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = functional_call(wrapper, state, (args,), {"record": True, "path": "vmap"})
                slow = any(
                    "fallback" in str(w.message).lower() or "batching rule" in str(w.message).lower()
                    for w in caught
                )
                if not slow:
                    self.path = "vmap"
                    return result
            except Exception:
                pass
        self.path = "loop"
        return functional_call(wrapper, state, (args,), {"record": True, "path": "loop"})


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 200 characters)."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else ""


def net_device(net: nn.Module) -> torch.device:
    return next(net.parameters()).device


def seeds_of(build: Callable[..., nn.Module], name: str) -> Callable[..., ModuleSeeds]:
    """A model class for :class:`~.base.ModelSpec` from a single-seed factory ``build(task, cfg)``
    (a built-in model with a config dataclass: ``ModelSpec(Config, seeds_of(build, "name"), ...)``)."""

    def make(cfg: Any, dist: Distribution, n_seeds: int, *, uniform: bool = False) -> ModuleSeeds:
        return ModuleSeeds(lambda task: build(task, cfg), dist, n_seeds, uniform=uniform, name=name)

    return make
