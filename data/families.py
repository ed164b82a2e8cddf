"""The named distribution families and the spec registry (:data:`FAMILIES`, :func:`from_spec`).

Every family is a uniform distribution over a finite set of sequences, so it can
sample in closed form, enumerate small supports exactly, and state ``C`` in
closed form.  Closed forms (``c_d`` on the "translating" entries, ``c_o``
elsewhere; derived symbolically in :mod:`ktiw.theory.closed_forms` and checked
against enumeration in the tests):

* ``subset:L,V`` (``permutation:L`` is ``V = L``): ``c_d = (V-L)/(L V^2)``,
  ``c_o = -(V-L)/(L V^2 (V-1))``.
* ``iid:L,V``: ``c_d = (V-1)/(L V^2)``, ``c_o = -1/(L V^2)``.
* ``translate:L,V,reorder``: the subset matrix with its columns permuted by the
  dictionary (reordering the output does not change a bag-of-words statistic).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator

import numpy as np

from ktiw.core.errors import SpecError, listed, shown

from .distribution import Batch, Cooccurrence, ordered_subsets
from .family import _REQUIRED, Family, Param
from .keyword import Keyword
from .spec import parse_spec


class Subset(Family):
    """Copy ``L`` distinct words drawn from ``V``, in random order."""

    name = "subset"
    params = (Param("L", int, help="sequence length"), Param("V", int, help="vocabulary size"))
    summary = "L distinct words out of V, random order; output = input"
    shared_vocab = True

    def __init__(self, **values: object) -> None:
        super().__init__(**values)
        self.n_in = self.n_out = int(self.V)  # type: ignore[arg-type]
        self.src_len = self.tgt_len = int(self.L)  # type: ignore[arg-type]

    def validate(self) -> None:
        if self.L > self.V:  # type: ignore[operator]
            raise SpecError(f"{self.name} needs L <= V, got L={self.L}, V={self.V}")

    def sample(self, n: int, rng: np.random.Generator) -> Batch:
        L, V = self.src_len, self.n_in
        src = np.argsort(rng.random((n, V)), axis=1)[:, :L]
        return self._copy_batch(src, src, np.broadcast_to(np.arange(L), (n, L)))

    def support_size(self) -> int:
        return math.perm(self.n_in, self.src_len)

    def enumerate(self) -> Iterator[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
        align = tuple(range(self.src_len))
        for x in ordered_subsets(self.n_in, self.src_len):
            yield x, x, align

    def cooccurrence(self) -> Cooccurrence:
        L, V = self.src_len, self.n_in
        c_d = (V - L) / (L * V**2)
        c_o = -(V - L) / (L * V**2 * (V - 1)) if V > 1 else 0.0
        return self._two_value_cooccurrence(c_d, c_o, np.arange(V))

    def same_bag_for_every_example(self) -> bool:
        return self.src_len == self.n_in


class Permutation(Subset):
    """Copy a random permutation of all ``L`` words: ``subset`` with ``V = L``."""

    name = "permutation"
    params = (Param("L", int, help="sequence length = vocabulary size"),)
    summary = "a random permutation of the L words; output = input"

    def __init__(self, **values: object) -> None:
        Family.__init__(self, **values)
        self.n_in = self.n_out = self.src_len = self.tgt_len = int(self.L)  # type: ignore[arg-type]

    def validate(self) -> None:
        """Every ``L >= 1`` is a valid permutation length."""


class IID(Family):
    """Copy ``L`` words drawn independently and uniformly from ``V`` (repetition allowed)."""

    name = "iid"
    params = (Param("L", int, help="sequence length"), Param("V", int, help="vocabulary size"))
    summary = "L words drawn independently from V (repetition allowed); output = input"
    shared_vocab = True

    def __init__(self, **values: object) -> None:
        super().__init__(**values)
        self.n_in = self.n_out = int(self.V)  # type: ignore[arg-type]
        self.src_len = self.tgt_len = int(self.L)  # type: ignore[arg-type]

    def sample(self, n: int, rng: np.random.Generator) -> Batch:
        L = self.src_len
        src = rng.integers(0, self.n_in, size=(n, L))
        return self._copy_batch(src, src, np.broadcast_to(np.arange(L), (n, L)))

    def support_size(self) -> int:
        return self.n_in**self.src_len

    def enumerate(self) -> Iterator[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
        align = tuple(range(self.src_len))
        for x in itertools.product(range(self.n_in), repeat=self.src_len):
            yield x, x, align

    def cooccurrence(self) -> Cooccurrence:
        L, V = self.src_len, self.n_in
        return self._two_value_cooccurrence((V - 1) / (L * V**2), -1 / (L * V**2), np.arange(V))

    def same_bag_for_every_example(self) -> bool:
        return self.n_in == 1


class Translate(Family):
    """Translate ``L`` distinct words out of ``V`` with a fixed random bijective dictionary,
    then reorder the output (``none``, ``reverse``, or a fresh ``random`` order per example).
    """

    name = "translate"
    params = (
        Param("L", int, help="sequence length"),
        Param("V", int, help="vocabulary size (input and output)"),
        Param("reorder", str, default="none", choices=("none", "reverse", "random")),
        Param("seed", int, default=0, minimum=0, help="seed of the dictionary"),
    )
    summary = "L distinct words out of V, translated word by word by a fixed dictionary, reordered"

    def __init__(self, **values: object) -> None:
        super().__init__(**values)
        self.n_in = self.n_out = int(self.V)  # type: ignore[arg-type]
        self.src_len = self.tgt_len = int(self.L)  # type: ignore[arg-type]

    @functools.cached_property
    def dictionary(self) -> np.ndarray:
        """``d[i]``: the output word of input word ``i``, a random permutation of the ``V`` words.

        Built on first use, so a spec with an impossible ``V`` is refused by the size checks
        of ``predict``/``train`` before ``V`` numbers are drawn."""
        return np.random.default_rng(int(self.seed)).permutation(self.n_in)  # type: ignore[arg-type]

    def validate(self) -> None:
        if self.L > self.V:  # type: ignore[operator]
            raise SpecError(f"{self.name} needs L <= V, got L={self.L}, V={self.V}")

    def _orders(self) -> list[tuple[int, ...]]:
        L = self.src_len
        if self.reorder == "none":
            return [tuple(range(L))]
        if self.reorder == "reverse":
            return [tuple(range(L - 1, -1, -1))]
        return list(itertools.permutations(range(L)))

    def sample(self, n: int, rng: np.random.Generator) -> Batch:
        L, V = self.src_len, self.n_in
        src = np.argsort(rng.random((n, V)), axis=1)[:, :L]
        if self.reorder == "none":
            align = np.broadcast_to(np.arange(L), (n, L))
        elif self.reorder == "reverse":
            align = np.broadcast_to(np.arange(L)[::-1], (n, L))
        else:
            align = np.argsort(rng.random((n, L)), axis=1)
        tgt = self.dictionary[np.take_along_axis(src, align, axis=1)]
        return self._copy_batch(src, tgt, align)

    def support_size(self) -> int:
        orders = math.factorial(self.src_len) if self.reorder == "random" else 1
        return math.perm(self.n_in, self.src_len) * orders

    def enumerate(self) -> Iterator[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
        orders = self._orders()
        for x in ordered_subsets(self.n_in, self.src_len):
            for a in orders:
                yield x, tuple(int(self.dictionary[x[j]]) for j in a), a

    def cooccurrence(self) -> Cooccurrence:
        L, V = self.src_len, self.n_in
        c_d = (V - L) / (L * V**2)
        c_o = -(V - L) / (L * V**2 * (V - 1)) if V > 1 else 0.0
        return self._two_value_cooccurrence(c_d, c_o, self.dictionary)

    def same_bag_for_every_example(self) -> bool:
        return self.src_len == self.n_in


FAMILIES: dict[str, type[Family]] = {
    "permutation": Permutation,
    "subset": Subset,
    "iid": IID,
    "translate": Translate,
    "keyword": Keyword,
}
"""Every family a spec may name, by name: the one registry (adding a family is one module with a
:class:`~ktiw.data.family.Family` subclass and one line here; ``docs/extending.md``)."""


def from_spec(text: str) -> Family:
    """Build the distribution a spec names, or raise :class:`SpecError` saying what is wrong."""
    family, raw = parse_spec(text)
    cls = FAMILIES.get(family)
    if cls is None:
        raise SpecError(
            f"unknown distribution family {shown(family)}; valid families: {', '.join(sorted(FAMILIES))}"
        )
    names = [p.name for p in cls.params]
    extra = [k for k in raw if k not in names]
    if extra:
        raise SpecError(f"unknown key(s) {listed(extra)} for {family}; valid keys: {', '.join(names)}")
    missing = [p.name for p in cls.params if p.default is _REQUIRED and p.name not in raw]
    if missing:
        raise SpecError(f"missing key(s) {', '.join(missing)} in spec {shown(text.strip())}")
    values = {
        p.name: p.convert(raw[p.name], text.strip()) if p.name in raw else p.default for p in cls.params
    }
    dist = cls(**values)
    dist.validate()
    return dist
