"""The agreement table with a uniform run of fewer seeds than the normal run (a preset's
``uniform_seeds``): normal seed k is paired with uniform seed k mod S_u, every uniform seed
weighted equally."""

from __future__ import annotations

import numpy as np
import pytest

from ktiw.comparator.measures import agreement_table
from ktiw.core.errors import KtiwError


def _probes(S: int, rng: np.random.Generator, N: int = 6, T: int = 4, L: int = 5) -> dict[str, np.ndarray]:
    src = np.tile(np.arange(L), (N, 1))
    return {
        "src": src,
        "tgt": src[:, :T],
        "src_len": np.full(N, L),
        "tgt_len": np.full(N, T),
        "align": np.tile(np.arange(T), (N, 1)),
        "alpha": rng.random((S, N, T, L)),
        "beta": rng.random((S, N, T, L)),
        "grad": rng.standard_normal((S, N, T, L)),
    }


def _values(normal: dict[str, np.ndarray], uniform: dict[str, np.ndarray]) -> dict[str, float]:
    return {a.pair: a.value for a in agreement_table(normal, uniform, np.random.default_rng(0))}


def test_fewer_uniform_seeds_weigh_every_pair_equally() -> None:
    rng = np.random.default_rng(3)
    normal, uniform = _probes(4, rng), _probes(2, rng)
    whole = _values(normal, uniform)
    halves = [
        _values({**normal, **{k: normal[k][sl] for k in ("alpha", "beta", "grad")}}, uniform)
        for sl in (slice(0, 2), slice(2, 4))
    ]
    assert set(whole) == set(halves[0])
    for pair, value in whole.items():  # equal token counts per half: the pooled value is their mean
        assert value == pytest.approx((halves[0][pair] + halves[1][pair]) / 2, abs=1e-12)


def test_uniform_seeds_that_do_not_divide_are_refused() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(KtiwError, match="3 seeds do not divide the normal run's 4"):
        agreement_table(_probes(4, rng), _probes(3, rng), rng)
