"""Distributions: closed-form C == exact enumeration == Monte Carlo; samplers; data files."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ktiw.core.errors import DataFileError, SpecError
from ktiw.data.corpus import load_pairs
from ktiw.data.distribution import count_cooccurrence
from ktiw.data.families import from_spec

SMALL_SPECS = [
    "permutation:L=4",
    "subset:L=2,V=5",
    "subset:L=3,V=4",
    "iid:L=3,V=3",
    "iid:L=2,V=4",
    "translate:L=2,V=4",
    "translate:L=3,V=4,reorder=reverse,seed=3",
    "translate:L=3,V=5,reorder=random",
]


@pytest.mark.parametrize("spec", SMALL_SPECS)
def test_closed_form_cooccurrence_equals_enumeration(spec: str) -> None:
    dist = from_spec(spec)
    exact = dist.exact_support()
    assert exact is not None and exact.n_examples == dist.support_size()
    np.testing.assert_allclose(dist.cooccurrence().dense(), exact.cooccurrence().dense(), atol=1e-14)


@pytest.mark.parametrize("spec", SMALL_SPECS)
def test_samples_lie_in_support_with_correct_alignment(spec: str) -> None:
    dist = from_spec(spec)
    batch = dist.sample(200, np.random.default_rng(0))
    support = {(s, t) for s, t, _ in dist.enumerate()}
    for s, t, a in zip(batch.src, batch.tgt, batch.align, strict=True):
        assert (tuple(s), tuple(t)) in support
        if dist.name != "translate":
            np.testing.assert_array_equal(s[a], t)
        else:
            np.testing.assert_array_equal(dist.dictionary[s[a]], t)


@settings(max_examples=15, deadline=None)
@given(
    family=st.sampled_from(["subset", "iid", "translate"]),
    L=st.integers(1, 6),
    extra=st.integers(0, 6),
    seed=st.integers(0, 2**31),
)
def test_monte_carlo_cooccurrence_matches_exact(family: str, L: int, extra: int, seed: int) -> None:
    """Counting C over n samples is within 6 standard errors of the closed form.

    Each entry of the sampled C is a mean of n bounded terms |(n_i/L)(1[y_t=o]-1/|O|)| <= 1,
    so its standard error is at most 1/sqrt(n)."""
    V = L + extra
    dist = from_spec(f"{family}:L={L},V={V}")
    n = 20_000
    b = dist.sample(n, np.random.default_rng(seed))
    mc = count_cooccurrence(b.src, b.tgt, b.src_len, b.tgt_len, np.full(n, 1 / n), V, V).dense()
    exact = dist.cooccurrence().dense()
    assert np.max(np.abs(mc - exact)) < 6 / np.sqrt(n)
    assert np.allclose(exact.sum(axis=1), 0.0, atol=1e-12)


def test_sampling_is_reproducible_from_seed() -> None:
    dist = from_spec("translate:L=5,V=9,reorder=random")
    a = dist.sample(64, np.random.default_rng(7))
    b = dist.sample(64, np.random.default_rng(7))
    c = dist.sample(64, np.random.default_rng(8))
    np.testing.assert_array_equal(a.tgt, b.tgt)
    assert not np.array_equal(a.tgt, c.tgt)


def test_permutation_has_zero_cooccurrence_and_subset_positive_diagonal() -> None:
    assert np.all(from_spec("permutation:L=40").cooccurrence().dense() == 0)
    C = from_spec("subset:L=40,V=60").cooccurrence().dense()
    assert C[0, 0] == pytest.approx(20 / (40 * 3600))
    assert C[0, 1] == pytest.approx(-20 / (40 * 3600 * 59))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("blah:L=3", "unknown distribution family 'blah'; valid families: iid, keyword, permutation"),
        ("subset:L=3", "missing key(s) V"),
        ("subset:L=3,V=4,W=2", "unknown key(s) W for subset"),
        ("subset:L=5,V=4", "needs L <= V, got L=5, V=4"),
        ("subset:L=x,V=4", "L='x' is not an integer"),
        ("subset:L=0,V=4", "L must be >= 1"),
        ("subset:L=3,L=4", "key 'L' given twice"),
        ("subset:L3", "expected key=value"),
        ("translate:L=2,V=3,reorder=sideways", "reorder='sideways' is not one of none|reverse|random"),
        ("", "empty distribution spec"),
    ],
)
def test_malformed_specs_are_rejected_with_message(spec: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        from_spec(spec)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@settings(max_examples=25, deadline=None)
@given(
    family=st.sampled_from(["subset", "iid", "translate", "permutation"]),
    L=st.integers(1, 50),
    extra=st.integers(0, 50),
    reorder=st.sampled_from(["none", "reverse", "random"]),
)
def test_spec_round_trips(family: str, L: int, extra: int, reorder: str) -> None:
    spec = {
        "permutation": f"permutation:L={L}",
        "translate": f"translate:L={L},V={L + extra},reorder={reorder}",
    }.get(family, f"{family}:L={L},V={L + extra}")
    dist = from_spec(spec)
    again = from_spec(dist.spec)
    assert again.spec == dist.spec and again.values == dist.values


def test_data_file_counts_exactly(tmp_path) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_text("# comment\na b\tX Y\n\nb c c\tY\n")
    dist = load_pairs(path)
    assert dist.in_words == ["a", "b", "c"] and dist.out_words == ["X", "Y"]
    # By hand: C[i,o] = sum_e sum_t (n_i/L)(1[y_t=o] - 1/2) / sum_e T, sum T = 3.
    # e1 (L=2, y = X Y): the two terms cancel for every word. e2 (L=3, y = Y): n_b=1, n_c=2.
    C = dist.cooccurrence().dense()
    expect = np.array([[0.0, 0.0], [-1 / 6, 1 / 6], [-1 / 3, 1 / 3]]) / 3
    np.testing.assert_allclose(C, expect, atol=1e-15)
    batch = dist.sample(10, np.random.default_rng(0))
    assert batch.align is None and set(batch.src_len.tolist()) <= {2, 3}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a b c\n", "pairs.tsv:1: expected 'input tokens<TAB>output tokens', no TAB found"),
        ("a\tb\n\n# x\n  \tc\n", "pairs.tsv:4: the input side is empty"),
        ("", "has no pairs"),
        ("# only a comment\n", "has no pairs"),
    ],
)
def test_bad_data_files(tmp_path, content: str, message: str) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_text(content)
    with pytest.raises(DataFileError, match=message.replace("(", r"\(")):
        load_pairs(path)


def test_missing_and_binary_data_files(tmp_path) -> None:
    with pytest.raises(DataFileError, match="does not exist"):
        load_pairs(tmp_path / "nope.tsv")
    bad = tmp_path / "bin.tsv"
    bad.write_bytes(b"\xff\xfe\x00a\tb")
    with pytest.raises(DataFileError, match="not UTF-8"):
        load_pairs(bad)
