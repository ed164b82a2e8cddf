"""The training loss every seq2seq model shares (one definition)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..precision import full_precision


def token_mean_nll(logits: Tensor, targets: Tensor, valid: Tensor) -> Tensor:
    """Each seed's mean negative log-likelihood over its valid target tokens, ``[S]``.

    ``logits [S, B, T, C]``, ``targets [S, B, T]`` (int64), ``valid [S, B, T]`` (bool):
    ``sum_{b,t valid} -log softmax(logits)[target] / #valid``, in float32 when ``logits`` come
    from a bf16 autocast region (:func:`ktiw.empirics.precision.full_precision`).
    """
    logits = full_precision(logits)
    nll = -torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    nll = torch.where(valid, nll, torch.zeros_like(nll))
    return nll.sum(dim=(1, 2)) / valid.sum(dim=(1, 2)).to(nll.dtype)
