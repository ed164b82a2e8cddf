"""The paper's copying model in plain PyTorch, trained seed after seed: the speed baseline.

Nothing from ktiw's model code is used: ``nn.Embedding`` (shared by encoder and decoder),
``nn.LSTM`` encoder and decoder (torch's fused kernels), bilinear attention
``score[t, l] = (W s_t) . h_l``, context ``P sum_l alpha[t, l] h_l``, output
``log_softmax(U tanh(M [s_t; c_t]))``, ``F.cross_entropy`` and ``torch.optim.Adam``.  One
seed at a time: a fresh model and optimiser, a batch of fresh samples per step, evaluation
(token and attention accuracy) every ``eval_every`` steps on fixed samples.  This is how
the authors' script trains it.

The data are ktiw's (``Distribution.sample`` with the same streams as ``ktiw train``:
``default_rng([1, seed])`` for training, ``default_rng([2, eval_seed])`` for evaluation),
so with the same initial weights (:func:`load_ktiw_seed`) the reference and ``ktiw train``
follow the same trajectory up to floating-point rounding
(``tests/empirics/test_reference_benchmark.py``).  Fixed-length distributions only
(every pair has the family's ``L`` and ``T``; no padding).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ktiw.data.distribution import Batch, Distribution


class Seq2Seq(nn.Module):
    """Encoder-decoder LSTM with the paper's bilinear attention (see module docstring)."""

    def __init__(self, n_words: int, n_classes: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(n_words + 2, hidden)  # words, BOS, EOS
        self.enc = nn.LSTM(hidden, hidden, batch_first=True)
        self.dec = nn.LSTM(hidden, hidden, batch_first=True)
        self.W = nn.Linear(hidden, hidden, bias=False)
        self.P = nn.Linear(hidden, hidden, bias=False)
        self.M = nn.Linear(2 * hidden, hidden)
        self.U = nn.Linear(hidden, n_classes)

    def forward(self, src: Tensor, dec_in: Tensor) -> tuple[Tensor, Tensor]:
        """Class logits ``[B, T+1, C]`` and attention weights ``[B, T+1, L+1]``."""
        h, state = self.enc(self.embed(src))
        s, _ = self.dec(self.embed(dec_in), state)
        alpha = torch.softmax(self.W(s) @ h.transpose(1, 2), dim=-1)
        ctx = self.P(alpha @ h)
        return self.U(torch.tanh(self.M(torch.cat([s, ctx], dim=-1)))), alpha


def tensors(batch: Batch, n_words: int, n_out: int) -> tuple[Tensor, Tensor, Tensor]:
    """``src = x + EOS``, ``dec_in = BOS + y``, ``dec_out = y + EOS class`` (copy task vocabulary)."""
    B = len(batch)
    bos, eos = n_words, n_words + 1
    src = np.concatenate([batch.src, np.full((B, 1), eos)], axis=1)
    dec_in = np.concatenate([np.full((B, 1), bos), batch.tgt], axis=1)
    dec_out = np.concatenate([batch.tgt, np.full((B, 1), n_out)], axis=1)
    return torch.as_tensor(src), torch.as_tensor(dec_in), torch.as_tensor(dec_out)


def build(dist: Distribution, hidden: int, seed: int) -> Seq2Seq:
    """A model for ``dist`` (a copy task: shared vocabulary) with torch's default init from ``seed``."""
    if not dist.shared_vocab:
        raise ValueError("the reference model handles copy tasks (shared vocabulary) only")
    torch.manual_seed(seed)
    return Seq2Seq(dist.n_in, dist.n_out + 1, hidden)


def load_ktiw_seed(ref: Seq2Seq, ktiw_model: nn.Module, s: int) -> None:
    """Copy seed ``s``'s parameters of a ktiw ``LSTMSeq2Seq`` (1 layer, unidirectional) into ``ref``."""
    p = dict(ktiw_model.named_parameters())
    pairs = {
        "embed.weight": "embed",
        "W.weight": "attn_W",
        "P.weight": "proj_P",
        "M.weight": "out_M",
        "M.bias": "out_bM",
        "U.weight": "out_U",
        "U.bias": "out_bU",
    }
    for part in ("enc", "dec"):
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            pairs[f"{part}.{kind}_l0"] = f"{part}.{kind.replace('weight', 'w').replace('bias', 'b')}0"
    with torch.no_grad():
        for name, param in ref.named_parameters():
            param.copy_(p[pairs[name]][s])


def evaluate(model: Seq2Seq, batch: Batch, dist: Distribution) -> dict[str, float]:
    """Loss, token accuracy and attention accuracy on ``batch`` (no gradient)."""
    src, dec_in, dec_out = tensors(batch, dist.n_in, dist.n_out)
    T = batch.tgt.shape[1]
    with torch.no_grad():
        out, alpha = model(src, dec_in)
        loss = F.cross_entropy(out.flatten(0, 1), dec_out.flatten())
        token_acc = (out[:, :T].argmax(-1) == dec_out[:, :T]).double().mean()
        result = {"loss": float(loss), "token_acc": float(token_acc)}
        if batch.align is not None:
            gold = torch.as_tensor(batch.align)
            result["attn_acc"] = float((alpha[:, :T].argmax(-1) == gold).double().mean())
    return result


def train_seed(
    dist: Distribution,
    seed: int,
    steps: int,
    *,
    hidden: int = 256,
    batch_size: int = 128,
    lr: float = 1e-3,
    eval_every: int = 10,
    eval_samples: int = 50,
    eval_seed: int = 12345,
    model: Seq2Seq | None = None,
    initial_eval: bool = True,
    precision: str = "fp32",
) -> list[tuple[int, dict[str, float]]]:
    """Train one seed for ``steps`` steps; the evaluations at steps 0 (unless not
    ``initial_eval``), ``eval_every``, ... and the last step.  ``model``: start from these
    weights (default: :func:`build` with ``seed``).  ``precision="bf16"``: the forward pass and
    loss under ``torch.autocast("cpu", dtype=torch.bfloat16)``, as a PyTorch user would turn on
    mixed precision (evaluation stays float32)."""
    model = build(dist, hidden, seed) if model is None else model
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng([1, seed])
    eval_batch = dist.sample(eval_samples, np.random.default_rng([2, eval_seed]))
    history = [(0, evaluate(model, eval_batch, dist))] if initial_eval else []
    for step in range(1, steps + 1):
        src, dec_in, dec_out = tensors(dist.sample(batch_size, rng), dist.n_in, dist.n_out)
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out, _ = model(src, dec_in)
            loss = F.cross_entropy(out.flatten(0, 1), dec_out.flatten())
        loss.backward()
        opt.step()
        if step % eval_every == 0 or step == steps:
            history.append((step, evaluate(model, eval_batch, dist)))
    return history
