"""Stage 1 (KTIW from co-occurrence) and stage 2 (attention drift) for any distribution, numerically.

Stage 1: under uniform attention ``B(tau) ~ tau C`` (:mod:`ktiw.theory.toy_model`), with ``C``
the centred co-occurrence matrix (already row-centred, so ``C~ = C``).

Stage 2: with ``B = tau C`` and uniform attention the attention logit of position ``l`` for
target token ``t`` moves at rate ``(tau/L) (C[x_l, y_t] - mean_l' C[x_l', y_t]) + O(tau^2)``
(the stage-2 gradient with ``g_l = tau C~[x_l, y_t]``), so attention drifts towards
``argmax_l C[x_l, y_t]``.

Per target token ``(e, t)`` with the correct source word ``w*`` (the aligned one, or for
distributions without alignment the drift's target):

* KTIW margin: ``C[w*, y] - max_{w in x, w != w*} C[w, y]``;
* margin velocity: ``C[w*, y] - mean_{w in x, w != w*} C[w, y]``, the initial rate at which
  the correct word's logit pulls away from the average other input word (for copying
  ``k`` of ``V`` words this is ``d delta/d tau (0)`` of :mod:`ktiw.theory.reduction`).

Whether the signal *identifies* a word is decided on the per-occurrence co-occurrence
``C'[i, o] = C[i, o] / r_i`` (``r_i`` = expected share of word ``i`` in the input): a word that
occurs twice as often gets twice the raw push for every target alike, which is frequency,
not knowledge of what it translates to.  Positions holding the same word are one word:
nothing that sees a bag of words can tell them apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ktiw.data.distribution import Cooccurrence, Distribution, EmpiricalDistribution

DENSE_LIMIT = 2_000_000
"""Use a dense ``C`` when ``|I| * |O|`` is at most this; otherwise look entries up sparsely."""

ANALYSIS_PAIRS = 1_000_000
"""Most (target token x input position) pairs analysed per distribution: a bigger data file is
analysed on a seed-0 sample of its rows (``exact`` is then False).  ``C`` itself is always
counted on every row."""

CHUNK = 2_000_000
"""Target-token x position pairs evaluated at once (bounds memory for big data files)."""

REL_TOL = 1e-9
"""Values of ``C'`` closer than ``REL_TOL * max(max|C'|, 1/|O|)`` count as tied."""


@dataclass(frozen=True)
class StageAnalysis:
    """Per-distribution summary of stages 1 and 2 over the analysed examples.

    ``n_tokens``: target tokens analysed; ``exact``: whether these are the whole support
    (or the data file) rather than a fixed-seed sample; ``has_signal``: some token's
    ``C'`` differs between its input words; ``identified``: share of tokens whose ``C'``
    singles out one word (the aligned one where known; a token whose input holds a single
    word counts as identified); ``ambiguity``: share whose drift maximum is tied between
    different words; ``competing``: share whose input holds more than one word;
    ``correct_mean``: mean of ``C[w*, y]``, the initial velocity of the correct logit;
    ``margin_min``/``margin_mean`` and ``velocity_mean`` as in the module docstring
    (``None`` without any token that has a competing word); ``target``: predicted attention
    target position per token, the first position of ``argmax_l C[x_l, y_t]`` (raw ``C``: the
    toy model's actual drift; ``-1`` for a tie between different words or padding), shape
    ``(n, T)``.
    """

    n_tokens: int
    exact: bool
    aligned: bool
    has_signal: bool
    identified: float
    ambiguity: float
    competing: float
    correct_mean: float
    margin_min: float | None
    margin_mean: float | None
    velocity_mean: float | None
    target: np.ndarray


def rows_sample(dist: EmpiricalDistribution, m: int) -> np.ndarray:
    """``m`` row indices drawn with seed 0 (by weight; without replacement for equal weights), sorted."""
    rng = np.random.default_rng(0)
    w = dist.weights
    if np.all(w == w[0]):
        return np.sort(rng.choice(dist.n_examples, size=m, replace=False))
    return np.sort(rng.choice(dist.n_examples, size=m, p=w))


def _subset(dist: EmpiricalDistribution, rows: np.ndarray) -> EmpiricalDistribution:
    return EmpiricalDistribution(
        dist.src_arr[rows],
        dist.tgt_arr[rows],
        n_in=dist.n_in,
        n_out=dist.n_out,
        src_len=dist.src_lens[rows],
        tgt_len=dist.tgt_lens[rows],
        align=None if dist.align_arr is None else dist.align_arr[rows],
    )


def examples(
    dist: Distribution, limit: int = 5000, n_sample: int = 128, max_pairs: int | None = ANALYSIS_PAIRS
) -> tuple[EmpiricalDistribution, bool]:
    """The examples to analyse: the data itself (a seed-0 sample of its rows beyond ``max_pairs``
    token x position pairs; ``None``: every row), the whole support if small, else a seed-0 sample."""
    if isinstance(dist, EmpiricalDistribution):
        per_row = max(1, dist.src_len * dist.tgt_len)
        if max_pairs is None or dist.n_examples * per_row <= max_pairs:
            return dist, True
        rows = rows_sample(dist, max(1, max_pairs // per_row))
        return _subset(dist, rows), False
    exact = dist.exact_support(limit)
    if exact is not None:
        return exact, True
    b = dist.sample(n_sample, np.random.default_rng(0))
    sampled = EmpiricalDistribution(
        b.src, b.tgt, n_in=dist.n_in, n_out=dist.n_out, src_len=b.src_len, tgt_len=b.tgt_len, align=b.align
    )
    return sampled, False


class SparseLookup:
    """``C[i, o]`` for many index pairs at once without densifying: binary search of the
    flattened keys ``i * |O| + o`` of the stored entries of ``P`` with the queries sorted first
    (several times faster than scipy's fancy indexing for millions of pairs), minus ``r_i / |O|``."""

    def __init__(self, cooc: Cooccurrence) -> None:
        P = cooc.P
        if not P.has_canonical_format:
            P = P.tocsr(copy=True)
            P.sum_duplicates()
        self.n_out = cooc.shape[1]
        key_type = np.int32 if P.shape[0] * self.n_out < 2**31 else np.int64
        rows = np.repeat(np.arange(P.shape[0], dtype=key_type), np.diff(P.indptr))
        rows *= key_type(self.n_out)
        rows += P.indices.astype(key_type, copy=False)
        self.keys = rows  # flattened i * |O| + o, sorted (canonical CSR)
        self.vals = np.asarray(P.data, dtype=np.float64)
        self.shift = cooc.r / self.n_out

    def __call__(self, i: np.ndarray, o: np.ndarray) -> np.ndarray:
        key = np.asarray(i, dtype=np.int64) * self.n_out + np.asarray(o, dtype=np.int64)
        if self.keys.size == 0:
            return -self.shift[i]
        flat = key.ravel()
        order = np.argsort(flat)  # sorted needles: cache-friendly binary search
        pos = np.empty_like(order)
        pos[order] = np.searchsorted(self.keys, flat[order])
        pos = np.minimum(pos, self.keys.size - 1).reshape(key.shape)
        return np.where(self.keys[pos] == key, self.vals[pos], 0.0) - self.shift[i]


def _lookup(
    lookup: SparseLookup | None, dense: np.ndarray | None, i: np.ndarray, o: np.ndarray
) -> np.ndarray:
    return dense[i, o] if dense is not None else lookup(i, o)  # type: ignore[misc]


def predicted_alignment(dist: EmpiricalDistribution) -> np.ndarray:
    """The theory's alignment of every row of a data file: for each target token the source
    position its attention drifts to first, ``argmax_l C[x_l, y_t]`` (``-1`` for a tie between
    different words and for padding); shape ``(rows, T)``."""
    return analyse(dist, max_pairs=None).target


def analyse(dist: Distribution, max_pairs: int | None = ANALYSIS_PAIRS) -> StageAnalysis:
    """Stage-1 margins and stage-2 drift targets of ``dist`` (exact ``C``; see module docstring);
    data files beyond ``max_pairs`` token x position pairs are analysed on a sample of rows."""
    cooc = dist.cooccurrence()
    n_in, n_out = cooc.shape
    dense = cooc.dense() if n_in * n_out <= DENSE_LIMIT else None
    lookup = SparseLookup(cooc) if dense is None else None
    r = np.where(cooc.r > 0, cooc.r, 1.0)
    ex, exact = examples(dist, max_pairs=max_pairs)
    src, tgt = ex.src_arr, ex.tgt_arr
    n, L = src.shape
    T = tgt.shape[1]
    if dense is not None:
        scale = float(np.max(np.abs(dense / r[:, None]), initial=0.0))
    else:  # |C'| = |P/r - 1/|O|| <= max(P/r) + 1/|O|
        P = cooc.P  # entries >= 0 (weighted counts): per-row maxima without a COO copy
        nonempty = np.flatnonzero(np.diff(P.indptr))
        row_max = np.maximum.reduceat(P.data, P.indptr[nonempty]) if nonempty.size else np.zeros(0)
        scale = float(np.max(row_max / r[nonempty], initial=0.0)) + 1.0 / n_out
    tol = REL_TOL * max(scale, 1.0 / n_out)  # C' = P/r - 1/|O|: rounding is relative to 1/|O| at least

    targets = np.full((n, T), -1, dtype=np.int64)
    n_tok = 0
    n_signal = n_ident = n_amb = n_comp = 0
    correct_sum = 0.0
    margins: list[np.ndarray] = []
    velocities: list[np.ndarray] = []
    step = max(1, CHUNK // max(1, T * L))
    for start in range(0, n, step):
        sl = slice(start, min(n, start + step))
        s, y = src[sl], tgt[sl]
        slen, tlen = ex.src_lens[sl], ex.tgt_lens[sl]
        m = s.shape[0]
        smask = np.arange(L)[None, :] < slen[:, None]  # (m, L)
        tmask = np.arange(T)[None, :] < tlen[:, None]  # (m, T)
        valid = tmask[:, :, None] & smask[:, None, :]  # (m, T, L)
        words = np.broadcast_to(np.maximum(s, 0)[:, None, :], (m, T, L))
        outs = np.broadcast_to(np.maximum(y, 0)[:, :, None], (m, T, L))
        raw = _lookup(lookup, dense, words, outs)
        per = raw / r[words]
        lo = np.where(valid, per, np.inf).min(axis=2)
        hi = np.where(valid, per, -np.inf).max(axis=2)
        signal = (hi - lo > tol) & tmask
        at_max = valid & (per >= hi[:, :, None] - tol)
        first = np.argmax(at_max, axis=2)
        first_word = np.take_along_axis(words, first[:, :, None], axis=2)[:, :, 0]
        tied = (at_max & (words != first_word[:, :, None])).any(axis=2) & tmask
        # the toy model's own drift follows raw C (frequency included): its argmax is the target
        raw_hi = np.where(valid, raw, -np.inf).max(axis=2)
        raw_max = valid & (raw >= raw_hi[:, :, None] - tol * r.max())
        raw_first = np.argmax(raw_max, axis=2)
        raw_word = np.take_along_axis(words, raw_first[:, :, None], axis=2)[:, :, 0]
        raw_tied = (raw_max & (words != raw_word[:, :, None])).any(axis=2)
        targets[sl] = np.where(raw_tied | ~tmask, -1, raw_first)
        if ex.align_arr is not None:
            al = np.maximum(ex.align_arr[sl], 0)
            correct = np.take_along_axis(s, al, axis=1)  # (m, T) correct source word
        else:
            correct = first_word
        wrong = valid & (words != correct[:, :, None])
        has_wrong = wrong.any(axis=2) & tmask
        c_raw = _lookup(lookup, dense, np.maximum(correct, 0), np.maximum(y, 0))
        c_per = c_raw / r[np.maximum(correct, 0)]
        best_wrong_per = np.where(wrong, per, -np.inf).max(axis=2)
        ident = has_wrong & (c_per > best_wrong_per + tol)
        if ex.align_arr is None:
            ident &= ~tied
        best_wrong = np.where(wrong, raw, -np.inf).max(axis=2)
        mean_wrong = np.where(wrong, raw, 0.0).sum(axis=2) / np.maximum(wrong.sum(axis=2), 1)
        margins.append((c_raw - best_wrong)[has_wrong])
        velocities.append((c_raw - mean_wrong)[has_wrong])
        n_tok += int(tmask.sum())
        n_signal += int(signal.sum())
        n_ident += int((ident | (tmask & ~has_wrong)).sum())
        n_amb += int(tied.sum())
        n_comp += int(has_wrong.sum())
        correct_sum += float(c_raw[tmask].sum())
    margin = np.concatenate(margins)
    velocity = np.concatenate(velocities)
    return StageAnalysis(
        n_tokens=n_tok,
        exact=exact,
        aligned=ex.align_arr is not None,
        has_signal=n_signal > 0,
        identified=n_ident / n_tok,
        ambiguity=n_amb / n_tok,
        competing=n_comp / n_tok,
        correct_mean=correct_sum / n_tok,
        margin_min=float(margin.min()) if margin.size else None,
        margin_mean=float(margin.mean()) if margin.size else None,
        velocity_mean=float(velocity.mean()) if velocity.size else None,
        target=targets,
    )
