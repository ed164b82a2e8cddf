"""Turning ``S`` numpy batches into the padded tensors a seq2seq model consumes.

Shared by every encoder-decoder model (:mod:`ktiw.empirics.models.lstm`,
:mod:`ktiw.empirics.models.multihead`).  For pair ``b`` of
seed ``s`` with source ``x_1..x_L`` and target ``y_1..y_T``:

* ``src_ids[s, b] = x_1 .. x_L, EOS, EOS ...`` (EOS at ``src_len`` and as padding);
* ``dec_in[s, b] = BOS, y_1 + offset, .., y_T + offset, EOS ...`` (teacher forcing; ``offset``
  moves output words into their own rows of a shared embedding table);
* ``dec_out[s, b] = y_1 .. y_T, n_out, 0 ...`` (classes; ``n_out`` is the EOS class);
* ``src_valid``/``dec_valid`` mark positions ``<= src_len`` / ``<= tgt_len``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ktiw.data.distribution import Batch


@dataclass
class SeqInputs:
    """Tensors for ``S`` seeds of ``B`` pairs (see the module docstring)."""

    src_ids: Tensor  # [S, B, L+1] embedding rows
    src_valid: Tensor  # [S, B, L+1] bool
    src_last: Tensor  # [S, B] index of the source EOS
    dec_in: Tensor  # [S, B, T+1] embedding rows
    dec_out: Tensor  # [S, B, T+1] classes
    dec_valid: Tensor  # [S, B, T+1] bool
    src_len: np.ndarray  # [S, B]
    tgt_len: np.ndarray  # [S, B]


def seq2seq_inputs(
    batches: Sequence[Batch],
    *,
    src_eos: int,
    bos: int,
    tgt_eos: int,
    n_out: int,
    out_offset: int = 0,
    device: torch.device | str = "cpu",
) -> SeqInputs:
    """Stack ``batches[s]`` (seed ``s``'s data, all of one size) into :class:`SeqInputs`."""
    S, B = len(batches), len(batches[0])
    L = max(b.src.shape[1] for b in batches)
    T = max(b.tgt.shape[1] for b in batches)
    src_ids = np.full((S, B, L + 1), src_eos, np.int64)
    dec_in = np.full((S, B, T + 1), tgt_eos, np.int64)
    dec_out = np.zeros((S, B, T + 1), np.int64)
    src_len = np.stack([b.src_len for b in batches]).astype(np.int64)
    tgt_len = np.stack([b.tgt_len for b in batches]).astype(np.int64)
    for s, b in enumerate(batches):
        src_ids[s, :, : b.src.shape[1]] = np.where(b.src >= 0, b.src, src_eos)
        dec_in[s, :, 1 : b.tgt.shape[1] + 1] = np.where(b.tgt >= 0, b.tgt + out_offset, tgt_eos)
        dec_out[s, :, : b.tgt.shape[1]] = np.maximum(b.tgt, 0)
    dec_in[:, :, 0] = bos
    dec_out[np.arange(T + 1)[None, None, :] == tgt_len[..., None]] = n_out

    def t(a: np.ndarray) -> Tensor:
        return torch.as_tensor(a, device=device)

    return SeqInputs(
        src_ids=t(src_ids),
        src_valid=t(np.arange(L + 1)[None, None, :] <= src_len[..., None]),
        src_last=t(src_len),
        dec_in=t(dec_in),
        dec_out=t(dec_out),
        dec_valid=t(np.arange(T + 1)[None, None, :] <= tgt_len[..., None]),
        src_len=src_len,
        tgt_len=tgt_len,
    )
