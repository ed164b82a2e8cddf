"""The ``keyword`` family: sentiment-like classification data in the toy model's terms.

An example is a word sequence ``x = (x_1..x_L)`` and a label ``y in {0 = neg, 1 = pos}``,
written as a distribution over pairs whose output is the one-token sequence ``(y,)`` with
output vocabulary ``['neg', 'pos']`` (so ``|O| = 2``).  The stage mathematics of
classification lives in :mod:`ktiw.theory.classification`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from ktiw.core.errors import SpecError

from .distribution import Batch, Cooccurrence, EmpiricalDistribution
from .family import Family, Param

NEG, POS = 0, 1
"""Output word ids of the labels (``out_words == ['neg', 'pos']``)."""


# --------------------------------------------------------------------------- family


@dataclass(frozen=True)
class FloatParam(Param):
    """A real-valued spec key with inclusive bounds ``[low, high]``."""

    low: float = -math.inf
    high: float = math.inf

    def convert(self, raw: str, spec: str) -> object:
        try:
            value = float(raw)
        except ValueError:
            raise SpecError(f"{self.name}={raw!r} is not a number in spec {spec!r}") from None
        if not (math.isfinite(value) and self.low <= value <= self.high):
            raise SpecError(
                f"{self.name} must lie in [{self.low:g}, {self.high:g}], got {raw} in spec {spec!r}"
            )
        return value


class Keyword(Family):
    """Sentiment-like classification: a few keywords decide the label, the rest are distractors.

    Words ``0 .. K+ - 1`` are positive keywords (``K+ = ceil(K/2)``), ``K+ .. K-1`` negative
    keywords (``K- = K - K+``), ``K .. V-1`` distractors with Zipf frequencies
    ``q_j ~ (j + 1)^-zipf`` (``j`` = rank among distractors).  An example: clean label
    ``c`` = pos or neg with probability 1/2; ``kw`` of the ``L`` positions (chosen uniformly)
    hold keywords drawn uniformly from ``c``'s group, the other positions distractors drawn
    from ``q``; the observed label is ``c`` flipped with probability ``noise``.

    Closed form (T = 1, ``eta = noise``): ``C[i, pos] = -C[i, neg] = kw (1 - 2 eta) / (4 L K+)``
    for a positive keyword, the negative of ``kw (1 - 2 eta) / (4 L K-)`` for a negative
    keyword, and ``0`` for every distractor (its frequency does not depend on the label).
    :func:`keyword_cooccurrence_symbolic` derives it; the tests compare it with exact
    enumeration.  Outcomes are not equally likely, so :meth:`support_size` is ``None`` and
    :meth:`exact_support` enumerates with weights instead.
    """

    name = "keyword"
    params = (
        Param("L", int, help="sequence length"),
        Param("V", int, help="vocabulary size (keywords + distractors)"),
        Param("K", int, minimum=2, help="number of keywords (half positive, half negative)"),
        Param("kw", int, default=1, help="keyword positions per example (keyword frequency)"),
        FloatParam("noise", float, default=0.0, low=0.0, high=0.5, help="label flip probability"),
        FloatParam("zipf", float, default=1.0, low=0.0, help="Zipf exponent of distractor frequencies"),
    )
    summary = (
        "L words; kw of them keywords of the label's polarity, the rest Zipf distractors; output = label"
    )
    aligned = False

    def __init__(self, **values: object) -> None:
        super().__init__(**values)
        self.n_in = int(self.V)  # type: ignore[arg-type]
        self.n_out = 2
        self.src_len = int(self.L)  # type: ignore[arg-type]
        self.tgt_len = 1
        self.k_pos = (int(self.K) + 1) // 2  # type: ignore[arg-type]
        self.k_neg = int(self.K) - self.k_pos  # type: ignore[arg-type]
        n_dist = self.n_in - int(self.K)  # type: ignore[arg-type]
        q = np.arange(1, max(n_dist, 0) + 1, dtype=np.float64) ** -float(self.zipf)  # type: ignore[arg-type]
        self.distractor_probs = q / q.sum() if n_dist > 0 else q

    def validate(self) -> None:
        L, V, K, kw = self.L, self.V, self.K, self.kw
        if K > V:  # type: ignore[operator]
            raise SpecError(f"keyword needs K <= V, got K={K}, V={V}")
        if kw > L:  # type: ignore[operator]
            raise SpecError(f"keyword needs kw <= L, got kw={kw}, L={L}")
        if kw < L and V == K:  # type: ignore[operator]
            raise SpecError(f"keyword needs distractors (V > K) when kw < L, got V=K={K}")

    @property
    def in_words(self) -> list[str]:
        K = int(self.K)  # type: ignore[arg-type]
        return (
            [f"pos{j}" for j in range(self.k_pos)]
            + [f"neg{j}" for j in range(self.k_neg)]
            + [f"w{j}" for j in range(self.n_in - K)]
        )

    @property
    def out_words(self) -> list[str]:
        return ["neg", "pos"]

    def polarity(self) -> np.ndarray:
        """``+1`` for positive keywords, ``-1`` for negative keywords, ``0`` for distractors."""
        pol = np.zeros(self.n_in)
        pol[: self.k_pos] = 1.0
        pol[self.k_pos : int(self.K)] = -1.0  # type: ignore[arg-type]
        return pol

    def keyword_mask(self, src: np.ndarray) -> np.ndarray:
        """Which entries of a (padded) ``src`` array are keywords."""
        src = np.asarray(src)
        return (src >= 0) & (src < int(self.K))  # type: ignore[arg-type]

    def sample(self, n: int, rng: np.random.Generator) -> Batch:
        L, K, kw = self.src_len, int(self.K), int(self.kw)  # type: ignore[arg-type]
        clean = rng.random(n) < 0.5  # True = pos
        slots = np.argsort(rng.random((n, L)), axis=1)[:, :kw]
        is_kw = np.zeros((n, L), bool)
        np.put_along_axis(is_kw, slots, True, axis=1)
        group = np.where(clean, self.k_pos, self.k_neg)[:, None]
        offset = np.where(clean, 0, self.k_pos)[:, None]
        keywords = offset + np.floor(rng.random((n, L)) * group).astype(np.int64)
        if self.n_in > K:
            distractors = K + rng.choice(self.n_in - K, size=(n, L), p=self.distractor_probs)
        else:
            distractors = np.zeros((n, L), np.int64)
        src = np.where(is_kw, keywords, distractors).astype(np.int64)
        label = clean ^ (rng.random(n) < float(self.noise))  # type: ignore[arg-type]
        return Batch(
            src, label.astype(np.int64)[:, None], np.full(n, L, np.int64), np.ones(n, np.int64), None
        )

    def _support_count(self) -> int:
        L, K, kw = self.src_len, int(self.K), int(self.kw)  # type: ignore[arg-type]
        per_label = [math.comb(L, kw) * g**kw * (self.n_in - K) ** (L - kw) for g in (self.k_pos, self.k_neg)]
        return sum(per_label) * (2 if float(self.noise) > 0 else 1)  # type: ignore[arg-type]

    def exact_support(self, limit: int = 200_000) -> EmpiricalDistribution | None:
        """Every outcome ``(x, y)`` with its probability, if there are at most ``limit``."""
        if self._support_count() > limit:
            return None
        L, K, kw = self.src_len, int(self.K), int(self.kw)  # type: ignore[arg-type]
        eta = float(self.noise)  # type: ignore[arg-type]
        srcs: list[tuple[int, ...]] = []
        labels: list[int] = []
        probs: list[float] = []
        distractor_ids = range(K, self.n_in)
        for clean, first, size in ((POS, 0, self.k_pos), (NEG, self.k_pos, self.k_neg)):
            base = 0.5 / math.comb(L, kw) / size**kw
            for slots in itertools.combinations(range(L), kw):
                rest = [l for l in range(L) if l not in slots]
                for words in itertools.product(range(first, first + size), repeat=kw):
                    for fill in itertools.product(distractor_ids, repeat=L - kw):
                        x = [0] * L
                        for l, w in zip(slots, words, strict=True):
                            x[l] = w
                        for l, w in zip(rest, fill, strict=True):
                            x[l] = w
                        p = base * float(np.prod([self.distractor_probs[w - K] for w in fill]))
                        for label, p_label in ((clean, 1 - eta), (1 - clean, eta)):
                            if p_label > 0:
                                srcs.append(tuple(x))
                                labels.append(label)
                                probs.append(p * p_label)
        return EmpiricalDistribution(
            np.array(srcs, dtype=np.int64),
            np.array(labels, dtype=np.int64)[:, None],
            n_in=self.n_in,
            n_out=2,
            weights=np.array(probs),
            in_words=self.in_words,
            out_words=self.out_words,
            spec=f"{self.spec} (enumerated)",
            method="enumeration",
        )

    def cooccurrence(self) -> Cooccurrence:
        L, K, kw = self.src_len, int(self.K), int(self.kw)  # type: ignore[arg-type]
        strength = kw * (1 - 2 * float(self.noise)) / (4 * L)  # type: ignore[arg-type]
        c = np.zeros(self.n_in)
        c[: self.k_pos] = strength / self.k_pos
        if self.k_neg:
            c[self.k_pos : K] = -strength / self.k_neg
        return Cooccurrence.from_dense(np.stack([-c, c], axis=1), "closed-form")

    def same_bag_for_every_example(self) -> bool:
        return False
