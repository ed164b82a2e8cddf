"""Regimes and margins from C: hand-made distributions, invariances, data files."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ktiw.data.corpus import load_pairs
from ktiw.data.distribution import EmpiricalDistribution
from ktiw.data.families import from_spec
from ktiw.theory.closed_forms import evaluate
from ktiw.theory.flow import takeoff_time
from ktiw.theory.predict import predict
from ktiw.theory.stages import analyse


def test_done_criterion_permutation_saddle_subset_drift() -> None:
    perm, sub = predict(from_spec("permutation:L=40")), predict(from_spec("subset:L=40,V=60"))
    assert perm.regime == "saddle" and sub.regime == "drift"
    assert perm.fixed_point_eigenvalues == pytest.approx([-1 / 1600, 1 / 1600])
    assert not perm.attention_learnable and sub.attention_learnable
    assert sub.takeoff_time < perm.takeoff_time
    assert sub.initial_ktiw_velocity == pytest.approx(20 / (40 * 60 * 59))
    assert sub.takeoff_time == takeoff_time(40, 60) and perm.takeoff_time == takeoff_time(40, 40, 1e-3)
    again = predict(from_spec("permutation:L=40"))  # now from the disk memo
    assert again.takeoff_time == perm.takeoff_time


@pytest.mark.parametrize("spec", ["subset:L=3,V=5", "subset:L=4,V=9", "translate:L=3,V=6,reorder=reverse"])
def test_margin_is_c_d_minus_c_o(spec: str) -> None:
    dist = from_spec(spec)
    p = predict(dist)
    c_d, c_o = evaluate("subset", dist.src_len, dist.n_in)
    assert p.ktiw_margin == pytest.approx(c_d - c_o) and p.ktiw_margin_mean == pytest.approx(c_d - c_o)
    assert p.initial_ktiw_velocity == pytest.approx(c_d - c_o)
    assert p.regime == "drift" and p.ambiguity == 0.0 and p.exact


def test_iid_and_random_translate_drift_without_reduction() -> None:
    for spec in ("iid:L=3,V=4", "translate:L=3,V=5,reorder=random"):
        p = predict(from_spec(spec))
        assert p.regime == "drift" and p.takeoff_time is None and p.reduction is None
        assert "does not apply" in p.reason


def test_words_that_always_occur_together_are_ambiguous() -> None:
    """Words come in pairs {0,1}, {2,3}, {4,5} that always co-occur: C ties each pair."""
    bags = [(0, 1, 2, 3), (0, 1, 4, 5), (2, 3, 4, 5)]
    src = np.array([list(b) for b in bags for _ in range(2)])
    src[1::2] = src[1::2, ::-1]
    dist = EmpiricalDistribution(src, src, n_in=6, n_out=6, align=np.broadcast_to(np.arange(4), src.shape))
    p = predict(dist)
    assert p.regime == "ambiguous" and p.ambiguity == 1.0 and p.ktiw_margin == pytest.approx(0.0)
    assert p.ktiw_learnable  # the pair is learned, just not the word within it


def test_data_file_predicted_alignment(tmp_path) -> None:
    """All 3-word subsets of 6 words, translated by a dictionary and reversed: the drift of each
    target token goes to the position of its source word."""
    lines = []
    for idx, sub in enumerate(itertools.combinations(range(6), 3)):
        x = list(sub) if idx % 2 else list(sub)[::-1]
        lines.append(" ".join(f"w{i}" for i in x) + "\t" + " ".join(f"T{i}" for i in x[::-1]))
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n")
    dist = load_pairs(path)
    a = analyse(dist)
    np.testing.assert_array_equal(a.target, np.broadcast_to([2, 1, 0], a.target.shape))
    p = predict(dist)
    assert p.regime == "drift" and p.ambiguity == 0.0 and p.takeoff_time is None and p.exact
    assert p.predicted_alignment == [[2, 1, 0]] * 10


def random_empirical(draw, n_in: int, n_out: int, n: int, L: int, T: int, aligned: bool, seed: int):
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n_in, size=(n, L))
    if aligned:
        align = np.stack([rng.permutation(L)[:T] for _ in range(n)])
        tgt = np.take_along_axis(src, align, axis=1) % n_out
        return EmpiricalDistribution(src, tgt, n_in=n_in, n_out=n_out, align=align)
    return EmpiricalDistribution(src, rng.integers(0, n_out, size=(n, T)), n_in=n_in, n_out=n_out)


@settings(max_examples=25, deadline=None)
@given(
    n_in=st.integers(2, 6),
    n_out=st.integers(2, 6),
    n=st.integers(1, 12),
    L=st.integers(2, 5),
    aligned=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_relabelling_vocabulary_keeps_margin_and_regime(n_in, n_out, n, L, aligned, seed) -> None:
    T = L if aligned else max(1, L - 1)
    dist = random_empirical(None, n_in, n_out, n, L, T, aligned, seed)
    rng = np.random.default_rng(seed + 1)
    other = dist.relabel(rng.permutation(n_in), rng.permutation(n_out))
    p, q = predict(dist), predict(other)
    assert p.regime == q.regime
    assert p.ambiguity == q.ambiguity and p.identified == q.identified
    for x, y in [(p.ktiw_margin, q.ktiw_margin), (p.initial_ktiw_velocity, q.initial_ktiw_velocity)]:
        assert (x is None and y is None) or x == pytest.approx(y, abs=1e-15)


@settings(max_examples=25, deadline=None)
@given(
    bag=st.lists(st.integers(0, 5), min_size=2, max_size=6).filter(lambda b: len(set(b)) >= 2),
    n=st.integers(1, 10),
    copy=st.booleans(),
    n_out=st.integers(2, 5),
    seed=st.integers(0, 2**31),
)
def test_same_input_bag_is_never_drift(bag, n, copy, n_out, seed) -> None:
    """Every input is an ordering of one bag (with >= 2 different words, else there is nothing
    for attention to choose): co-occurrence cannot tell the words apart, so never drift."""
    rng = np.random.default_rng(seed)
    src = np.stack([rng.permutation(bag) for _ in range(n)])
    if copy:
        dist = EmpiricalDistribution(
            src, src, n_in=6, n_out=6, align=np.broadcast_to(np.arange(len(bag)), src.shape)
        )
    else:
        dist = EmpiricalDistribution(src, rng.integers(0, n_out, size=(n, 3)), n_in=6, n_out=n_out)
    assert dist.same_bag_for_every_example()
    assert predict(dist).regime in ("saddle", "ambiguous")
