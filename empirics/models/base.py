"""The model interface the trainer uses (the registry, :data:`ktiw.empirics.models.MODELS`,
is in the package).

A model trains ``S`` independent seeds at once.  To plug a new model into ``ktiw train``
(a multi-head GRU, an attention classifier, ...) without touching the trainer:

1. Write a config dataclass (its fields are the model's options; every field has a
   default; presets may override them) and a subclass of :class:`SeedModel`.
2. Every ``nn.Parameter`` has the seed axis first, ``[S, ...]``; seed ``s`` may only read
   and write slice ``[s]``.  Use the stacked-seed helpers of :mod:`ktiw.empirics.batched`.
3. Implement

   * ``__init__(self, cfg, dist, n_seeds, *, uniform: bool)``: build parameters (any values);
   * :meth:`SeedModel.init_seed` ``(s, gen)``: initialise slice ``[s]`` from the CPU generator
     ``gen`` only (the trainer seeds ``gen`` with the seed's number);
   * :meth:`SeedModel.prepare` ``(batches)``: turn ``S`` numpy :class:`~ktiw.data.distribution.Batch`
     objects (one per seed, all of the same size) into whatever tensors the model consumes,
     on ``device``/``dtype`` given;
   * :meth:`SeedModel.losses` ``(inputs, cache=None) -> Tensor[S]``: each seed's loss (token mean for
     sequence models).  The trainer minimises ``sum_s losses[s]`` over active seeds, so seeds
     stay independent as long as ``losses[s]`` depends only on slice ``[s]``;
   * :meth:`SeedModel.targets` ``(inputs) -> Tensor [S, B, T']``: the class each decoder
     position should predict (for the accuracy and the ``beta`` probe).

   Models with attention pass their intermediate tensors through the hook points of
   :mod:`ktiw.empirics.models.hooks` (attention logits and weights, the readout's state and
   per-position values, the class logits) and implement :meth:`SeedModel.readout`; then
   :func:`ktiw.empirics.probes.evaluate` (read from outside the model, the model never
   imports it) computes the loss, the accuracy and the probe arrays ``alpha``, ``beta``,
   ``grad`` (``[S, N, T, L]``) with no probe code in the model.  A model without attention
   exposes only ``OUT`` and gets ``None`` probes; a multi-head model's heads axis gives the
   mean over heads plus the per-head arrays ``alpha_heads`` and ``grad_heads`` (saved in the
   probe ``.npz``).  A classifier uses ``T = 1``.

4. Register it: one line ``"name": ModelSpec(ConfigClass, ModelClass, "one-line summary")`` in
   the dict :data:`ktiw.empirics.models.MODELS`.

Conventions for the probe arrays (see :mod:`ktiw.empirics.probes`): ``T`` indexes the
*scored target tokens* ``tgt[:, :T]`` of the batch (for seq2seq models: the copied or
translated tokens, not EOS), ``L`` the *source word positions* ``src[:, :L]`` (not EOS),
so ``Batch.align`` indexes ``L`` directly.  Entries outside ``src_len``/``tgt_len`` are NaN.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ktiw.data.distribution import Batch, Distribution

from .hooks import Cache


@dataclass
class Evaluation:
    """What one evaluation of ``S`` seeds on ``N`` fixed samples returns (numpy, on CPU).

    ``loss [S]``: each seed's loss (the training objective) on the samples.
    ``correct [S, N, T]`` bool: the model's argmax equals the target at scored token ``t``.
    ``attn_argmax [S, N, T]``: argmax of the attention over *all* attended positions
    (including EOS; a position ``>= src_len`` never equals a gold position), or ``None``.
    ``alpha``/``beta``/``grad [S, N, T, L]``: attention weights, the KTIW probe (log-odds of
    the correct token with the context replaced by one source position), and the gradient of
    the loss with respect to the attention logits; ``None`` where the model has none.
    """

    loss: np.ndarray
    correct: np.ndarray
    attn_argmax: np.ndarray | None = None
    alpha: np.ndarray | None = None
    beta: np.ndarray | None = None
    grad: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)


class SeedModel(nn.Module, ABC):
    """``S`` independent seeds of one model, parameters stacked on axis 0 (see module docstring)."""

    n_seeds: int

    @abstractmethod
    def init_seed(self, s: int, gen: torch.Generator) -> None:
        """Initialise every parameter's slice ``[s]`` from ``gen`` (a CPU generator)."""

    @abstractmethod
    def prepare(self, batches: Sequence[Batch]) -> Any:
        """Tensors for ``S`` batches (``batches[s]`` is seed ``s``'s data)."""

    @abstractmethod
    def losses(self, inputs: Any, cache: Cache | None = None) -> torch.Tensor:
        """Each seed's loss, shape ``[S]`` (differentiable); named tensors go to ``cache``."""

    @abstractmethod
    def targets(self, inputs: Any) -> torch.Tensor:
        """The target class of every decoder position, ``[S, B, T']`` (int64)."""

    def readout(self, pre: torch.Tensor, seeds: slice | torch.Tensor = slice(None)) -> torch.Tensor:
        """Class logits from the readout input ``pre [S', ...]`` of seeds ``seeds`` (a slice or
        an index tensor of the seed axis; see
        :mod:`.hooks`); the identity unless the model has an output layer."""
        return pre

    @property
    def probe_arrays(self) -> int:
        """How many ``[S, N, T, L]`` arrays one evaluation saves (alpha, beta, grad + extras);
        the trainer sizes its probe schedule with it."""
        return 3

    def forward(self, inputs: Any, cache: Cache | None = None) -> torch.Tensor:
        """Same as :meth:`losses` (so ``torch.func.functional_call`` works on any model)."""
        return self.losses(inputs, cache)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def seed_state(self, s: int) -> dict[str, torch.Tensor]:
        """Seed ``s``'s parameters (slices, detached copies)."""
        return {k: v[s].detach().clone() for k, v in self.named_parameters()}


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its config dataclass, its class and a one-line summary."""

    config: type
    cls: Callable[..., SeedModel]
    """``cls(config, dist, n_seeds, uniform=...)``: a :class:`SeedModel` subclass, or for a model
    written for one seed :func:`ktiw.empirics.models.module_seeds.seeds_of` of its factory."""
    summary: str
    data_format: str = "pairs"
    """How ``--data`` files are read: ``pairs`` (``input<TAB>output``, :func:`ktiw.data.corpus.load_pairs`)
    or ``labelled`` (``label<TAB>tokens``, :func:`ktiw.data.corpus.load_labelled`)."""


def nan_outside(arr: np.ndarray, src_len: np.ndarray, tgt_len: np.ndarray) -> np.ndarray:
    """Set ``arr[..., n, t, l]`` to NaN where ``t >= tgt_len[n]`` or ``l >= src_len[n]``."""
    T, L = arr.shape[-2:]
    bad = (np.arange(T)[None, :, None] >= tgt_len[:, None, None]) | (
        np.arange(L)[None, None, :] >= src_len[:, None, None]
    )
    return np.where(bad, np.nan, arr)


def log_odds(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``z_y - logsumexp_{o != y} z_o`` = ``log p(y) - log(1 - p(y))`` along the last axis.

    ``target`` has the shape of ``logits`` without its last axis (values in range)."""
    z_y = logits.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    others = logits.scatter(-1, target.unsqueeze(-1), float("-inf"))
    return z_y - torch.logsumexp(others, dim=-1)


def saved_bytes(model: SeedModel, dist: Distribution, batch: int) -> float:
    """Bytes of the tensors autograd saves for the backward pass of ONE seed's training forward
    pass over ``batch`` examples of ``dist`` (seed 0 of ``model``; measured with
    :func:`torch.autograd.graph.saved_tensors_hooks`, each tensor once, the parameters not)."""
    import numpy as np
    from torch.func import functional_call

    b = dist.sample(batch, np.random.default_rng([3, 0]))
    leaves = {k: v.detach()[:1].clone().requires_grad_(True) for k, v in model.named_parameters()}
    inputs = model.prepare([b])
    sizes: dict[int, int] = {}
    keep: list[torch.Tensor] = []  # alive until counted, so no id is reused

    def pack(t: torch.Tensor) -> torch.Tensor:
        keep.append(t)
        sizes[id(t)] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        functional_call(model, leaves, (inputs,))
    own = {id(v) for v in leaves.values()}
    return float(sum(n for k, n in sizes.items() if k not in own))


def activation_model(model: SeedModel, dist: Distribution) -> tuple[float, float]:
    """``(fixed, per_example)``: one seed's saved-for-backward bytes are ``fixed + per_example *
    batch``, fitted through the measurements at batches 2 and 4 (:func:`saved_bytes`; the
    activations are linear in the batch, the fixed part holds e.g. per-vocabulary tables)."""
    two, four = saved_bytes(model, dist, 2), saved_bytes(model, dist, 4)
    per_example = max((four - two) / 2, 0.0)
    return max(two - 2 * per_example, 0.0), per_example
