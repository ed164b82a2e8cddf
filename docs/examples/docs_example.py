"""The worked example of docs/models.md: a small attention seq2seq model for ONE seed.

Train it with ``ktiw train permutation:L=8 --model docs_example:build`` (this folder on
PYTHONPATH, or the module inside your own installed package).
"""

import torch
from torch import nn

from ktiw.empirics.models.hooks import hook_point


class TinyAttention(nn.Module):
    """Encoder: token + position embeddings and an MLP; decoder: the same for the target prefix,
    then one dot-product attention over the source and a readout MLP."""

    def __init__(self, n_tokens: int, n_classes: int, positions: int, d: int) -> None:
        super().__init__()
        self.tok = nn.Embedding(n_tokens, d)
        self.pos = nn.Embedding(positions, d)
        self.enc = nn.Sequential(nn.Linear(d, d), nn.Tanh())
        self.dec = nn.Sequential(nn.Linear(2 * d, d), nn.Tanh())
        self.query = nn.Linear(d, d, bias=False)
        self.value = nn.Linear(d, d, bias=False)
        self.out = nn.Sequential(nn.Tanh(), nn.Linear(d, n_classes))

    def forward(self, src, src_mask, tgt_in):
        L, T = src.shape[1], tgt_in.shape[1]
        h = self.enc(self.tok(src) + self.pos.weight[:L])  # [B, L, d]
        prev = torch.cumsum(self.tok(tgt_in), dim=1)  # the decoder sees the target prefix
        s = self.dec(torch.cat([prev, self.pos.weight[:T].expand_as(prev)], dim=-1))  # [B, T, d]
        scores = hook_point("attn_logits", self.query(s) @ h.transpose(1, 2))  # before masking
        scores = scores.masked_fill(~src_mask[:, None, :], float("-inf"))
        attn = hook_point("attn", torch.softmax(scores, dim=-1))  # [B, T, L]
        state = hook_point("readout_state", s)  # the decoder's part of the readout input
        values = hook_point("readout_values", self.value(h))  # each source position's part
        return self.readout(state + attn @ values)  # [B, T, n_classes]

    def readout(self, pre):
        """Class logits from one position's readout input (used for the beta probe too)."""
        return self.out(pre)


def build(task, d: int = 32):
    """ktiw calls this once per seed (under that seed's torch.manual_seed)."""
    positions = max(task.src_positions, task.tgt_positions)
    return TinyAttention(task.n_tokens, task.n_classes, positions, d)
