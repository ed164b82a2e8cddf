"""The bag-of-words proxy ``beta_px``: what a model that sees only the input's bag of
words learns to translate.

Model (the paper's proxy): ``h(x) = (1/L_x) sum_l E[x_l]`` (mean input word embedding),
``log p(o | x) = log_softmax(W h(x) + b)[o]``, trained with Adam on fresh samples to
predict every output word of the pair (token-mean negative log-likelihood over the
target tokens of the batch).  Its word-translation matrix is
``M[i, o] = softmax_o(E W^T)[i, o]``: the output distribution the proxy gives a bag
holding only word ``i``, without the bias ``b`` (which only models the output marginal).

Initialisation: ``E = 0`` (so ``M`` starts uniform and every row difference of ``E``
comes from training, like the toy model's ``B = 0``), ``W`` uniform in
``+-1/sqrt(dim)`` (``nn.Linear``'s default scale) from ``torch.Generator`` seeded by
``seed``, ``b = 0``.  Consequence: words that always occur together (the permutation
task) receive identical gradients at every step, so their rows of ``E`` and of ``M``
stay identical: the proxy cannot tell them apart, exactly as the theory's stage 1 says.

Data: ``dist.sample(batch_size, rng)`` with ``rng = np.random.default_rng(seed)``, one
fresh batch per step.  Same seed, same device: same ``M``.
"""

from __future__ import annotations

import numpy as np
import torch

from ktiw.data.distribution import Batch, Distribution


def default_dim(n_in: int, n_out: int) -> int:
    """Embedding size that lets ``E W^T`` be any ``|I| x |O|`` matrix for vocabularies up to 256."""
    return min(256, max(n_in, n_out))


def bag_and_targets(batch: Batch, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """``(bag [B, |I|], counts [B, |O|])`` with ``bag[n, i] = n_i(x_n) / L_n`` and
    ``counts[n, o]`` = number of target tokens ``o`` in ``y_n`` (padding ignored)."""
    B = len(batch)
    smask = np.arange(batch.src.shape[1])[None, :] < batch.src_len[:, None]
    tmask = np.arange(batch.tgt.shape[1])[None, :] < batch.tgt_len[:, None]
    bag = np.zeros((B, n_in))
    rows = np.broadcast_to(np.arange(B)[:, None], batch.src.shape)
    weight = np.broadcast_to(1.0 / np.maximum(batch.src_len, 1)[:, None], batch.src.shape)
    np.add.at(bag, (rows[smask], batch.src[smask]), weight[smask])
    counts = np.zeros((B, n_out))
    trows = np.broadcast_to(np.arange(B)[:, None], batch.tgt.shape)
    np.add.at(counts, (trows[tmask], batch.tgt[tmask]), 1.0)
    return bag, counts


def bow_nll(
    E: torch.Tensor, W: torch.Tensor, b: torch.Tensor, bag: torch.Tensor, counts: torch.Tensor
) -> torch.Tensor:
    """Token-mean negative log-likelihood of the proxy:
    ``-sum_{n,o} counts[n, o] log_softmax(W (bag[n] E) + b)[o] / sum counts``.

    At ``E = 0``, ``b = 0`` and over a whole finite distribution its gradient is
    ``dNLL/dE = -C W`` with ``C`` the centred co-occurrence matrix (stage 1 of the theory).
    """
    logp = torch.log_softmax((bag @ E) @ W.T + b, dim=-1)
    return -(counts * logp).sum() / counts.sum()


def train_bow_proxy(
    dist: Distribution,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: str = "cpu",
    dim: int | None = None,
) -> np.ndarray:
    """Train the bag-of-words proxy on ``dist`` and return ``M = softmax(E W^T)``,
    float64 of shape ``[|I|, |O|]`` (rows sum to 1)."""
    if steps < 0 or batch_size < 1 or lr <= 0:
        raise ValueError("need steps >= 0, batch_size >= 1 and lr > 0")
    n_in, n_out = dist.n_in, dist.n_out
    d = default_dim(n_in, n_out) if dim is None else int(dim)
    gen = torch.Generator().manual_seed(seed)
    bound = 1.0 / d**0.5
    W0 = (torch.rand(n_out, d, generator=gen, dtype=torch.float32) * 2 - 1) * bound
    E = torch.zeros(n_in, d, device=device, requires_grad=True)
    W = W0.to(device).requires_grad_(True)
    b = torch.zeros(n_out, device=device, requires_grad=True)
    opt = torch.optim.Adam([E, W, b], lr=lr)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        bag_np, counts_np = bag_and_targets(dist.sample(batch_size, rng), n_in, n_out)
        bag = torch.as_tensor(bag_np, dtype=torch.float32, device=device)
        counts = torch.as_tensor(counts_np, dtype=torch.float32, device=device)
        loss = bow_nll(E, W, b, bag, counts)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        M = torch.softmax(E.double() @ W.double().T, dim=-1)
    return M.cpu().numpy()


def beta_px(M: np.ndarray, src: np.ndarray, tgt: np.ndarray) -> np.ndarray:
    """``beta_px[n, t, l] = M[src[n, l], tgt[n, t]]``, float64 ``[N, T, L]``.

    ``src`` ``[N, L]`` and ``tgt`` ``[N, T]`` are padded with negative ids (``PAD = -1``,
    as in :class:`~ktiw.data.distribution.Batch`): entries at a padded source position or
    a padded target token are ``-inf`` (never an argmax; pass ``src_len`` and a token mask to
    the agreement metrics, which then never read them).
    """
    M = np.asarray(M, dtype=np.float64)
    src = np.asarray(src, dtype=np.int64)
    tgt = np.asarray(tgt, dtype=np.int64)
    if src.ndim != 2 or tgt.ndim != 2 or src.shape[0] != tgt.shape[0]:
        raise ValueError(f"expected src [N, L] and tgt [N, T], got {src.shape} and {tgt.shape}")
    if src.max(initial=-1) >= M.shape[0] or tgt.max(initial=-1) >= M.shape[1]:
        raise ValueError(f"word id out of range for M of shape {M.shape}")
    vals = M[np.maximum(src, 0)[:, None, :], np.maximum(tgt, 0)[:, :, None]]
    padded = (src < 0)[:, None, :] | (tgt < 0)[:, :, None]
    return np.where(padded, -np.inf, vals)
