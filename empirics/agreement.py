"""The paper's agreement metrics between two per-token attention-like score arrays.

Every score array ``u`` has shape ``[N, T, L]`` (or ``[T, L]`` for one example):
``u[n, t, l]`` scores source position ``l`` for target token ``t`` of example ``n``
(attention weights ``alpha``, KTIW probes ``beta``, ``beta_uf``, ``beta_px``,
gradient influence ``Delta``, gold attention).  Two things can be excluded:

* ``src_len[n]`` (ragged source lengths): only positions ``l < src_len[n]`` exist;
  the values at the other positions are never read (they may be ``-inf`` or NaN).
* ``mask[n, t]`` (bool): only target tokens with ``mask`` True are scored (padding,
  tokens without a gold position, ...).  NaN at a scored, existing entry is an error.

Metrics (``L_n`` = ``src_len[n]``, ``k_n = ceil(frac * L_n)``):

* **top match** ``A(u, v)`` = mean over scored tokens of ``1[argmax_l u[t, l] is among
  the top k_n positions of v[t, :]]``.  Ties are resolved as the expectation over
  uniformly random tie-breaking, in ``u`` (which position is the argmax) and in ``v``
  (which tied positions make the top ``k``): with ``G`` = number of positions whose
  ``v`` is strictly larger than ``v[l]`` and ``E`` = number with equal ``v``
  (``l`` included), position ``l`` is in the top ``k`` with probability
  ``clip(k - G, 0, E) / E``.  Without ties this is the plain indicator.  This choice
  makes the shuffled baseline's expectation exactly ``k_n / L_n`` for every ``v``.
* **shuffled baseline**: ``A(u, v')`` with ``v'`` = ``v`` permuted uniformly at random
  along ``l`` (independently per token, existing positions only);
  its expectation is :func:`baseline_expectation` = mean of ``k_n / L_n``.
* **Kendall tau**: mean over scored tokens of Kendall's tau-b between ``u[t, :]`` and
  ``v[t, :]`` over the existing positions,
  ``tau_b = sum_{i<j} s^u_ij s^v_ij / sqrt(sum_{i<j} |s^u_ij| * sum_{i<j} |s^v_ij|)``
  with ``s^u_ij = sign(u_i - u_j)``; tokens where ``u`` or ``v`` is constant have no
  tau (as in :func:`scipy.stats.kendalltau`) and are left out of the mean.
* ``xi`` and ``xi*``: see :func:`xi`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .curves import first_reach

_CHUNK_ELEMENTS = 1 << 22
"""Pairwise ``[tokens, L, L]`` comparisons are done in chunks of about this many elements."""


def _prepare(
    u: np.ndarray, v: np.ndarray, src_len: np.ndarray | None, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate and flatten to scored tokens: ``(u [M, L], v [M, L], valid [M, L], L_m [M])``."""
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    if u.shape != v.shape:
        raise ValueError(f"u and v must have the same shape, got {u.shape} and {v.shape}")
    if u.ndim == 2:
        u, v = u[None], v[None]
        if src_len is not None:
            src_len = np.atleast_1d(np.asarray(src_len))
        if mask is not None:
            mask = np.asarray(mask)[None]
    if u.ndim != 3:
        raise ValueError(f"expected arrays of shape [N, T, L] or [T, L], got {u.shape}")
    N, T, L = u.shape
    if L == 0:
        raise ValueError("the source axis is empty")
    lens = np.full(N, L, np.int64) if src_len is None else np.asarray(src_len, dtype=np.int64)
    if lens.shape != (N,):
        raise ValueError(f"src_len must have shape ({N},), got {lens.shape}")
    if np.any(lens < 1) or np.any(lens > L):
        raise ValueError(f"src_len must lie in [1, {L}]")
    scored = np.ones((N, T), bool) if mask is None else np.asarray(mask, dtype=bool)
    if scored.shape != (N, T):
        raise ValueError(f"mask must have shape ({N}, {T}), got {scored.shape}")
    if scored.all():
        uu, vv, L_m = u.reshape(N * T, L), v.reshape(N * T, L), np.repeat(lens, T)
    else:
        n_idx, t_idx = np.nonzero(scored)
        if n_idx.size == 0:
            raise ValueError("no target token is scored (mask is all False)")
        uu, vv, L_m = u[n_idx, t_idx], v[n_idx, t_idx], lens[n_idx]
    valid = np.arange(L)[None, :] < L_m[:, None]
    if (np.isnan(uu) & valid).any() or (np.isnan(vv) & valid).any():
        raise ValueError("NaN in a scored token at an existing source position")
    return uu, vv, valid, L_m


def top_k_size(L: np.ndarray | int, frac: float = 0.05) -> np.ndarray:
    """``k = ceil(frac * L)`` (at least 1), robust to floating-point noise in ``frac * L``."""
    if not 0 < frac <= 1:
        raise ValueError(f"frac must lie in (0, 1], got {frac}")
    L = np.asarray(L, dtype=np.int64)
    return np.maximum(np.ceil(frac * L - 1e-9).astype(np.int64), 1)


def _chunks(M: int, L: int) -> list[slice]:
    """Slices of the token axis so that one ``[chunk, L, L]`` comparison stays small."""
    step = max(1, _CHUNK_ELEMENTS // max(L * L, 1))
    return [slice(s, s + step) for s in range(0, M, step)]


def _credit_at(v: np.ndarray, ok: np.ndarray, k: np.ndarray, v_at: np.ndarray) -> np.ndarray:
    """``P(rank < k)`` under random tie-breaking for a position whose value is ``v_at[m, j]``:
    ``clip(k - G, 0, E) / E`` with ``G``/``E`` the counts of existing values ``>``/``==`` it."""
    greater = ((v[:, None, :] > v_at[:, :, None]) & ok[:, None, :]).sum(axis=2)
    equal = np.maximum(((v[:, None, :] == v_at[:, :, None]) & ok[:, None, :]).sum(axis=2), 1)
    return np.clip(k[:, None] - greater, 0, equal) / equal


def _top_credit(uu: np.ndarray, vv: np.ndarray, valid: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Per scored token: probability (random tie-breaking) that argmax u is in the top k of v."""
    M, L = uu.shape
    u_m = np.where(valid, uu, -np.inf)
    is_max = valid & (u_m == u_m.max(axis=1, keepdims=True))
    out = np.empty(M)
    single = is_max.sum(axis=1) == 1
    # one argmax (the usual case): O(L) per token
    idx = np.nonzero(single)[0]
    v_star = vv[idx, np.argmax(u_m[idx], axis=1)][:, None]
    out[idx] = _credit_at(vv[idx], valid[idx], k[idx], v_star)[:, 0]
    # tied argmax (e.g. exactly uniform attention): average over the tied positions
    tied = np.nonzero(~single)[0]
    for e in _chunks(tied.size, L):
        m = tied[e]
        credit = _credit_at(vv[m], valid[m], k[m], vv[m])
        out[m] = (credit * is_max[m]).sum(axis=1) / is_max[m].sum(axis=1)
    return out


def top_match_tokens(
    u: np.ndarray,
    v: np.ndarray,
    frac: float = 0.05,
    src_len: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Per-token top-``frac`` match credit, shape ``[N, T]`` (NaN where not scored).

    Credit is 1 or 0 without ties (see the module docstring for ties).
    """
    u_arr = np.asarray(u)
    shape = u_arr.shape[:-1] if u_arr.ndim == 3 else (1, *u_arr.shape[:-1])
    scored = np.ones(shape, bool) if mask is None else np.asarray(mask, bool).reshape(shape)
    uu, vv, valid, L_m = _prepare(u, v, src_len, mask)
    out = np.full(shape, np.nan)
    out[scored] = _top_credit(uu, vv, valid, top_k_size(L_m, frac))
    return out if u_arr.ndim == 3 else out[0]


def top_match(
    u: np.ndarray,
    v: np.ndarray,
    frac: float = 0.05,
    src_len: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> float:
    """``A(u, v)``: fraction of scored target tokens whose ``argmax_l u[t, l]`` lies among the
    top ``ceil(frac * L_n)`` positions of ``v[t, :]`` (random tie-breaking in expectation)."""
    uu, vv, valid, L_m = _prepare(u, v, src_len, mask)
    return float(_top_credit(uu, vv, valid, top_k_size(L_m, frac)).mean())


def shuffle_along_source(
    v: np.ndarray, rng: np.random.Generator, src_len: np.ndarray | None = None
) -> np.ndarray:
    """``v`` with each token's existing positions ``l < src_len[n]`` permuted uniformly at random."""
    v = np.asarray(v, dtype=np.float64)
    squeeze = v.ndim == 2
    if squeeze:
        v = v[None]
        if src_len is not None:
            src_len = np.atleast_1d(np.asarray(src_len))
    N, _, L = v.shape
    lens = np.full(N, L, np.int64) if src_len is None else np.asarray(src_len, dtype=np.int64)
    keys = rng.random(v.shape)
    keys[np.broadcast_to(np.arange(L)[None, None, :] >= lens[:, None, None], v.shape)] = np.inf
    # existing positions form the prefix l < L_n; sorting the keys puts a random
    # permutation of them first and leaves the missing positions in place
    out = np.take_along_axis(v, np.argsort(keys, axis=-1, kind="stable"), axis=-1)
    return out[0] if squeeze else out


def shuffled_baseline(
    u: np.ndarray,
    v: np.ndarray,
    rng: np.random.Generator,
    frac: float = 0.05,
    src_len: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    repeats: int = 1,
) -> float:
    """The random baseline: :func:`top_match` of ``u`` against ``v`` shuffled along ``l``
    per token (averaged over ``repeats`` independent shuffles drawn from ``rng``).

    Its expectation is :func:`baseline_expectation` exactly.
    """
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    vals = [top_match(u, shuffle_along_source(v, rng, src_len), frac, src_len, mask) for _ in range(repeats)]
    return float(np.mean(vals))


def baseline_expectation(
    shape: tuple[int, ...],
    frac: float = 0.05,
    src_len: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> float:
    """Expected shuffled baseline for score arrays of ``shape`` ``[N, T, L]``:
    the mean over scored tokens of ``ceil(frac * L_n) / L_n``."""
    if len(shape) == 2:
        shape = (1, *shape)
        mask = None if mask is None else np.asarray(mask)[None]
        src_len = None if src_len is None else np.atleast_1d(np.asarray(src_len))
    N, T, L = shape
    lens = np.full(N, L, np.int64) if src_len is None else np.asarray(src_len, dtype=np.int64)
    scored = np.ones((N, T), bool) if mask is None else np.asarray(mask, bool)
    per_example = top_k_size(lens, frac) / lens
    weights = scored.sum(axis=1)
    if weights.sum() == 0:
        raise ValueError("no target token is scored (mask is all False)")
    return float(np.dot(per_example, weights) / weights.sum())


def _pair_signs(a: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """``sign(a_i - a_j)`` (int8) over pairs of existing positions (0 elsewhere), shape ``[M, L, L]``.

    Built from comparisons, not differences, so that equal infinities count as ties.
    """
    pair = ok[:, :, None] & ok[:, None, :]
    sign = (a[:, :, None] > a[:, None, :]).view(np.int8) - (a[:, :, None] < a[:, None, :]).view(np.int8)
    sign *= pair
    return sign


def kendall_tau_tokens(
    u: np.ndarray, v: np.ndarray, src_len: np.ndarray | None = None, mask: np.ndarray | None = None
) -> np.ndarray:
    """Kendall's tau-b per target token, shape ``[N, T]`` (NaN where unscored or undefined)."""
    u_arr = np.asarray(u)
    shape = u_arr.shape[:-1] if u_arr.ndim == 3 else (1, *u_arr.shape[:-1])
    scored = np.ones(shape, bool) if mask is None else np.asarray(mask, bool).reshape(shape)
    uu, vv, valid, _ = _prepare(u, v, src_len, mask)
    M, L = uu.shape
    tau = np.empty(M)
    for e in _chunks(M, L):
        a, b, ok = uu[e], vv[e], valid[e]
        su, sv = _pair_signs(a, ok), _pair_signs(b, ok)
        num = (su * sv).sum(axis=(1, 2), dtype=np.int64)
        den = np.sqrt(
            (su != 0).sum(axis=(1, 2), dtype=np.int64).astype(np.float64)
            * (sv != 0).sum(axis=(1, 2), dtype=np.int64)
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            tau[e] = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    out = np.full(shape, np.nan)
    out[scored] = tau
    return out if u_arr.ndim == 3 else out[0]


def kendall_tau(
    u: np.ndarray, v: np.ndarray, src_len: np.ndarray | None = None, mask: np.ndarray | None = None
) -> float:
    """Mean over scored target tokens of Kendall's tau-b between ``u[t, :]`` and ``v[t, :]``.

    Tokens where ``u`` or ``v`` is constant over the existing positions have no tau and are
    left out; the result is NaN when no scored token has one.
    """
    tau = kendall_tau_tokens(u, v, src_len, mask)
    defined = tau[~np.isnan(tau)]
    return float(defined.mean()) if defined.size else math.nan


def xi(
    agreement_curve: Sequence[float] | np.ndarray,
    performance_curve: Sequence[float] | np.ndarray,
    target: float,
) -> float | None:
    """``xi``: the performance a normally trained model has when its attention first agrees
    with the gold attention as well as the agreement being interpreted.

    ``agreement_curve[k]`` is ``A(alpha_k, gold)`` of the normally trained model at its
    ``k``-th evaluation checkpoint (in training order), ``performance_curve[k]`` its
    performance there (e.g. token accuracy), and ``target`` the agreement to interpret
    (``A(u, v)``, e.g. ``A(alpha, beta_uf)``).  With
    ``k* = min{k : agreement_curve[k] >= target}``, ``xi = performance_curve[k*]``;
    ``None`` when the curve never reaches ``target``.  No interpolation between checkpoints.
    """
    perf = np.asarray(performance_curve, dtype=np.float64)
    if perf.shape != np.shape(agreement_curve):
        raise ValueError("agreement_curve and performance_curve must have the same length")
    k = first_reach(np.arange(perf.size), agreement_curve, target)
    return None if math.isinf(k) else float(perf[int(k)])


def xi_star(performance_curve: Sequence[float] | np.ndarray) -> float:
    """``xi*``: the best performance the normally trained model reaches (max over checkpoints)."""
    perf = np.asarray(performance_curve, dtype=np.float64)
    if perf.size == 0:
        raise ValueError("empty performance curve")
    return float(np.nanmax(perf))


def gold_attention(align: np.ndarray, L: int) -> np.ndarray:
    """One-hot gold attention ``[N, T, L]`` (float64) from gold positions ``align[n, t]``;
    tokens with ``align < 0`` (no gold position, padding) get an all-zero row: mask them
    with :func:`gold_mask`."""
    align = np.asarray(align, dtype=np.int64)
    if np.any(align >= L):
        raise ValueError(f"gold position >= L={L}")
    return (np.arange(L) == align[..., None]).astype(np.float64)


def gold_mask(align: np.ndarray) -> np.ndarray:
    """Target tokens that have a gold source position (``align >= 0``)."""
    return np.asarray(align) >= 0
