"""The one abstraction shared by theory and empirics: a distribution over
(input sequence, output sequence) pairs.

A :class:`Distribution` can

* sample batches reproducibly from a :class:`numpy.random.Generator`
  (:meth:`Distribution.sample`), and
* give its co-occurrence statistics (:meth:`Distribution.cooccurrence`): in closed
  form for the named families, by exact enumeration where the support is small,
  and by counting for finite data.

Co-occurrence is defined so that it *is* the stage-1 velocity of the toy model's
KTIW matrix at ``B = 0``, ``a = 0`` under the token-mean loss::

    C[i, o] = E[ sum_t (n_i(x) / L_x) (1[y_t = o] - 1/|O|) ] / E[T_y]

(``n_i(x)`` counts word ``i`` in ``x``; for fixed lengths this is
``E[mean_t (n_i(x)/L) (1[y_t = o] - 1/|O|)]``).  Every row of ``C`` sums to zero
over ``o``, so ``C`` is already row-centred: ``C~ = C``.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ktiw.core.limits import check_memory

PAD = -1
"""Padding value in :class:`Batch` arrays (only data files have ragged lengths)."""


@dataclass(frozen=True)
class Batch:
    """A batch of ``n`` pairs as padded integer arrays.

    ``src[k, :src_len[k]]`` are input word ids in ``[0, n_in)``, ``tgt[k, :tgt_len[k]]``
    output word ids in ``[0, n_out)``; padding is :data:`PAD`.  ``align[k, t]`` is the
    gold source position of target token ``t`` (``-1`` where there is none), or the
    whole field is ``None`` when the distribution has no known alignment.
    """

    src: np.ndarray
    tgt: np.ndarray
    src_len: np.ndarray
    tgt_len: np.ndarray
    align: np.ndarray | None

    def __len__(self) -> int:
        return int(self.src.shape[0])


@dataclass(frozen=True)
class Cooccurrence:
    """The centred co-occurrence matrix ``C = P - r 1^T / |O|`` kept in factored form.

    ``P[i, o] = E[sum_t (n_i/L) 1[y_t = o]] / E[T]`` is sparse, ``r[i] = E[T n_i / L] / E[T]``
    is its row sum, so that large vocabularies never need a dense ``|I| x |O|`` array.
    ``method`` says how it was obtained: ``closed-form``, ``enumeration`` or ``counting``.
    """

    P: sp.csr_array
    r: np.ndarray
    method: str

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.P.shape[0]), int(self.P.shape[1]))

    def dense(self) -> np.ndarray:
        """``C`` as a dense float64 array of shape ``(|I|, |O|)``."""
        n_out = self.shape[1]
        return np.asarray(self.P.toarray(), dtype=np.float64) - self.r[:, None] / n_out

    def entries(self, i: np.ndarray, o: np.ndarray) -> np.ndarray:
        """``C[i, o]`` elementwise for integer arrays ``i`` and ``o`` of the same shape."""
        i = np.asarray(i, dtype=np.int64)
        o = np.asarray(o, dtype=np.int64)
        vals = np.asarray(self.P[i.ravel(), o.ravel()]).reshape(i.shape)
        return vals - self.r[i] / self.shape[1]

    @staticmethod
    def from_dense(C: np.ndarray, method: str) -> Cooccurrence:
        """Wrap a dense ``C`` whose rows sum to zero (``r = 0`` after folding it into P)."""
        return Cooccurrence(sp.csr_array(np.asarray(C, dtype=np.float64)), np.zeros(C.shape[0]), method)


def count_cooccurrence(
    src: np.ndarray,
    tgt: np.ndarray,
    src_len: np.ndarray,
    tgt_len: np.ndarray,
    weights: np.ndarray,
    n_in: int,
    n_out: int,
    method: str = "counting",
) -> Cooccurrence:
    """Exact ``C`` of the weighted finite distribution given by padded arrays
    (:func:`count_cooccurrence_flat` of their unpadded tokens)."""
    src_len = np.asarray(src_len, dtype=np.int64)
    tgt_len = np.asarray(tgt_len, dtype=np.int64)
    smask = np.arange(src.shape[1])[None, :] < src_len[:, None]
    tmask = np.arange(tgt.shape[1])[None, :] < tgt_len[:, None]
    return count_cooccurrence_flat(
        src[smask], _offsets(src_len), tgt[tmask], _offsets(tgt_len), weights, n_in, n_out, method
    )


def _offsets(lengths: np.ndarray) -> np.ndarray:
    off = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=off[1:])
    return off


def count_cooccurrence_flat(
    src_ids: np.ndarray,
    src_off: np.ndarray,
    tgt_ids: np.ndarray,
    tgt_off: np.ndarray,
    weights: np.ndarray,
    n_in: int,
    n_out: int,
    method: str = "counting",
) -> Cooccurrence:
    """Exact ``C`` of the weighted finite distribution whose example ``e`` has the input words
    ``src_ids[src_off[e]:src_off[e+1]]`` and output words ``tgt_ids[tgt_off[e]:tgt_off[e+1]]``.

    With ``N[e, i] = n_i(x_e)`` and ``M[e, o]`` = count of ``o`` in ``y_e``:
    ``P = N^T diag(w/L) M / sum_e w_e T_e`` and ``r = N^T (w T / L) / sum_e w_e T_e``.
    Sparse from the start: ``M`` is the CSR array of the flat target arrays as they are, and
    ``N^T diag(w/L)`` is built as CSR from the flat source arrays (no padding); the one sparse
    product costs ``sum_e (distinct words of x_e) x (distinct words of y_e)`` multiply-adds.
    """
    n = src_off.size - 1
    w = np.asarray(weights, dtype=np.float64)
    src_len = np.diff(src_off)
    tgt_len = np.diff(tgt_off)
    total = float(np.dot(w, tgt_len))
    scale = w / np.maximum(src_len, 1) / total
    # P has at most min(|I| |O|, sum_e L_e T_e) entries (12 bytes each, twice while scipy
    # builds it); the sparse inputs take about 32 bytes per token
    entries = min(float(n_in) * float(n_out), float(np.dot(src_len, tgt_len)))
    check_memory(
        f"counting the co-occurrence of {n} examples ({src_ids.size + tgt_ids.size} tokens, "
        f"{n_in} x {n_out} words)",
        24 * entries + 32 * (src_ids.size + tgt_ids.size),
        "cap the vocabulary with --max-vocab or use fewer rows",
    )
    # 32-bit indices where they fit (scipy keeps the widest index type it is given)
    index = np.int32 if max(src_ids.size, tgt_ids.size, n, n_in, n_out) < 2**31 else np.int64
    rows = np.repeat(np.arange(n, dtype=index), src_len)
    NtS = sp.csr_array((scale[rows], (src_ids.astype(index, copy=False), rows)), shape=(n_in, n))
    del rows  # duplicates (i, e) are summed above; free the temporaries before the product
    M = sp.csr_array(
        (np.ones(tgt_ids.size), tgt_ids.astype(index, copy=False), tgt_off.astype(index)), shape=(n, n_out)
    )
    M.sum_duplicates()  # counts m_o(y_e): a row-local sort of T words
    P = sp.csr_array(NtS @ M)
    del M
    P.sum_duplicates()  # canonical (sorted, no duplicates) in place: lookups need no copy
    r = NtS @ tgt_len.astype(np.float64)
    return Cooccurrence(P, np.asarray(r, dtype=np.float64), method)


class Distribution(ABC):
    """A distribution over (input sequence, output sequence) pairs.

    Attributes: ``spec`` (the text that recreates it), ``n_in`` = ``|I|``,
    ``n_out`` = ``|O|``, ``src_len`` and ``tgt_len`` (maximum lengths),
    ``aligned`` (whether :meth:`sample` returns gold alignments), ``shared_vocab``,
    ``in_words``/``out_words`` (names of the word ids).
    """

    spec: str
    n_in: int
    n_out: int
    src_len: int
    tgt_len: int
    aligned: bool = True
    shared_vocab: bool = False
    """True when output word ``o`` *is* input word ``o`` (copy tasks): models may share one embedding."""

    @property
    def in_words(self) -> list[str]:
        return [str(i) for i in range(self.n_in)]

    @property
    def out_words(self) -> list[str]:
        return [str(o) for o in range(self.n_out)]

    @abstractmethod
    def sample(self, n: int, rng: np.random.Generator) -> Batch:
        """Draw ``n`` independent pairs using only ``rng`` (same state, same batch)."""

    def support_size(self) -> int | None:
        """Number of (ordered) outcomes if known, for deciding on enumeration."""
        return None

    def enumerate(self) -> Iterator[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
        """Yield every outcome as ``(src, tgt, align)`` with equal probability.

        Only families with a uniform finite support implement this.
        """
        raise NotImplementedError(f"{self.spec} cannot enumerate its support")

    def exact_support(self, limit: int = 200_000) -> EmpiricalDistribution | None:
        """The whole support as an :class:`EmpiricalDistribution` if it has at most ``limit`` outcomes."""
        size = self.support_size()
        if size is None or size > limit:
            return None
        rows = list(self.enumerate())
        src = np.array([r[0] for r in rows], dtype=np.int64)
        tgt = np.array([r[1] for r in rows], dtype=np.int64)
        align = np.array([r[2] for r in rows], dtype=np.int64)
        return EmpiricalDistribution(
            src,
            tgt,
            n_in=self.n_in,
            n_out=self.n_out,
            align=align,
            spec=f"{self.spec} (enumerated)",
            method="enumeration",
        )

    @abstractmethod
    def cooccurrence(self) -> Cooccurrence:
        """The exact centred co-occurrence matrix ``C`` (see module docstring)."""

    def same_bag_for_every_example(self) -> bool | None:
        """Whether every input has the same bag of words (``None`` if unknown)."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec}>"


class EmpiricalDistribution(Distribution):
    """A finite distribution: explicit pairs with probabilities (uniform by default).

    Used for user data files (each line one outcome) and for enumerated supports.
    Sampling draws rows with replacement; :meth:`cooccurrence` counts exactly.
    """

    def __init__(
        self,
        src: np.ndarray,
        tgt: np.ndarray,
        *,
        n_in: int,
        n_out: int,
        src_len: np.ndarray | None = None,
        tgt_len: np.ndarray | None = None,
        weights: np.ndarray | None = None,
        align: np.ndarray | None = None,
        in_words: list[str] | None = None,
        out_words: list[str] | None = None,
        spec: str = "empirical",
        method: str = "counting",
        flat: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """``flat``: the same rows as ``(src ids, src offsets, tgt ids, tgt offsets)`` (see
        :func:`count_cooccurrence_flat`), when the caller has them: counting then reads them
        instead of unpadding ``src``/``tgt``."""
        self.src_arr = np.asarray(src, dtype=np.int64)
        self.tgt_arr = np.asarray(tgt, dtype=np.int64)
        n = self.src_arr.shape[0]
        if n == 0:
            raise ValueError("an empirical distribution needs at least one pair")
        self.src_lens = (
            np.full(n, self.src_arr.shape[1], np.int64) if src_len is None else np.asarray(src_len)
        )
        self.tgt_lens = (
            np.full(n, self.tgt_arr.shape[1], np.int64) if tgt_len is None else np.asarray(tgt_len)
        )
        w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, dtype=np.float64)
        self.weights = w / w.sum()
        self.align_arr = None if align is None else np.asarray(align, dtype=np.int64)
        self.aligned = self.align_arr is not None
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.src_len = int(self.src_lens.max())
        self.tgt_len = int(self.tgt_lens.max())
        self._in_words = in_words
        self._out_words = out_words
        self.spec = spec
        self._method = method
        self._flat = flat
        self._cooc: Cooccurrence | None = None

    @property
    def in_words(self) -> list[str]:
        return self._in_words if self._in_words is not None else super().in_words

    @property
    def out_words(self) -> list[str]:
        return self._out_words if self._out_words is not None else super().out_words

    @property
    def n_examples(self) -> int:
        return int(self.src_arr.shape[0])

    def sample(self, n: int, rng: np.random.Generator) -> Batch:
        idx = rng.choice(self.n_examples, size=n, p=self.weights)
        return Batch(
            self.src_arr[idx],
            self.tgt_arr[idx],
            self.src_lens[idx],
            self.tgt_lens[idx],
            None if self.align_arr is None else self.align_arr[idx],
        )

    def cooccurrence(self) -> Cooccurrence:
        if self._cooc is None and self._flat is not None:
            self._cooc = count_cooccurrence_flat(
                *self._flat, self.weights, self.n_in, self.n_out, self._method
            )
        if self._cooc is None:
            self._cooc = count_cooccurrence(
                self.src_arr,
                self.tgt_arr,
                self.src_lens,
                self.tgt_lens,
                self.weights,
                self.n_in,
                self.n_out,
                self._method,
            )
        return self._cooc

    def same_bag_for_every_example(self) -> bool:
        bags = {
            tuple(sorted(row[:length].tolist()))
            for row, length in zip(self.src_arr, self.src_lens, strict=True)
        }
        return len(bags) == 1

    def relabel(self, in_perm: np.ndarray, out_perm: np.ndarray) -> EmpiricalDistribution:
        """Rename input word ``i`` to ``in_perm[i]`` and output word ``o`` to ``out_perm[o]``."""
        in_perm = np.asarray(in_perm)
        out_perm = np.asarray(out_perm)
        src = np.where(self.src_arr >= 0, in_perm[np.maximum(self.src_arr, 0)], PAD)
        tgt = np.where(self.tgt_arr >= 0, out_perm[np.maximum(self.tgt_arr, 0)], PAD)
        return EmpiricalDistribution(
            src,
            tgt,
            n_in=self.n_in,
            n_out=self.n_out,
            src_len=self.src_lens,
            tgt_len=self.tgt_lens,
            weights=self.weights,
            align=self.align_arr,
            spec=f"{self.spec} (relabelled)",
            method=self._method,
        )


def ordered_subsets(V: int, L: int) -> Iterator[tuple[int, ...]]:
    """All ``V! / (V-L)!`` sequences of ``L`` distinct words out of ``V``."""
    return itertools.permutations(range(V), L)
