"""Classification theory: keyword family (closed form vs enumeration vs sampling), labelled
data files, stage 1 and stage 2 against exact gradients, the warm-up toy's closed form vs
solve_ivp."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from ktiw.core.errors import DataFileError, SpecError
from ktiw.data.corpus import load_labelled
from ktiw.data.distribution import count_cooccurrence
from ktiw.data.families import from_spec
from ktiw.data.keyword import NEG, POS
from ktiw.theory.classification import (
    classification_page,
    classifier_gradients,
    derive_warmup,
    keyword_cooccurrence_symbolic,
    stage2_scores,
    warmup_closed_form,
    warmup_linear_flow,
    warmup_softmax_flow,
    word_label_signal,
)

SMALL = [
    "keyword:L=3,V=5,K=2",
    "keyword:L=3,V=6,K=3,kw=2,noise=0.2,zipf=0.5",
    "keyword:L=2,V=4,K=4,kw=2",  # keywords only
    "keyword:L=4,V=5,K=2,noise=0.5",  # pure noise: no signal at all
]


@pytest.mark.parametrize("spec", SMALL)
def test_closed_form_cooccurrence_equals_enumeration(spec: str) -> None:
    dist = from_spec(spec)
    exact = dist.exact_support()
    assert exact is not None
    assert exact.weights.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(dist.cooccurrence().dense(), exact.cooccurrence().dense(), atol=1e-15)
    assert dist.out_words == ["neg", "pos"] and len(dist.in_words) == dist.n_in


def test_symbolic_cooccurrence_matches_closed_form() -> None:
    dist = from_spec("keyword:L=7,V=20,K=5,kw=3,noise=0.15")
    sym = keyword_cooccurrence_symbolic()
    s = sym["symbols"]
    at = {
        s["L"]: 7,
        s["kw"]: 3,
        s["K+"]: 3,
        s["K-"]: 2,
        s["eta"]: sp.Rational(15, 100),
        s["q"]: sp.Rational(1, 7),
    }
    c = word_label_signal(dist.cooccurrence())
    assert c[0] == pytest.approx(float(sym["C_pos"]["positive keyword"].subs(at)))
    assert c[3] == pytest.approx(float(sym["C_pos"]["negative keyword"].subs(at)))
    assert sym["C_pos"]["distractor"] == 0 and np.all(c[5:] == 0)


def test_sampler_matches_the_enumerated_probabilities() -> None:
    dist = from_spec("keyword:L=2,V=4,K=2,noise=0.1,zipf=2")
    exact = dist.exact_support()
    assert exact is not None
    n = 40_000
    b = dist.sample(n, np.random.default_rng(0))
    assert b.align is None and b.tgt.shape == (n, 1)
    counts = Counter(zip(map(tuple, b.src.tolist()), b.tgt[:, 0].tolist(), strict=True))
    probs = {
        (tuple(s), int(y)): w
        for s, y, w in zip(exact.src_arr.tolist(), exact.tgt_arr[:, 0], exact.weights, strict=True)
    }
    assert set(counts) <= set(probs)
    for outcome, p in probs.items():
        assert abs(counts[outcome] / n - p) < 5 * math.sqrt(p * (1 - p) / n) + 1e-9


@settings(max_examples=10, deadline=None)
@given(
    L=st.integers(2, 8),
    K=st.integers(2, 6),
    extra=st.integers(1, 10),
    kw_frac=st.floats(0, 1),
    noise=st.sampled_from([0.0, 0.1, 0.3]),
    seed=st.integers(0, 2**31),
)
def test_monte_carlo_cooccurrence_matches_closed_form(
    L: int, K: int, extra: int, kw_frac: float, noise: float, seed: int
) -> None:
    kw = 1 + round(kw_frac * (L - 1))
    dist = from_spec(f"keyword:L={L},V={K + extra},K={K},kw={kw},noise={noise}")
    n = 20_000
    b = dist.sample(n, np.random.default_rng(seed))
    mc = count_cooccurrence(b.src, b.tgt, b.src_len, b.tgt_len, np.full(n, 1 / n), dist.n_in, 2).dense()
    assert np.max(np.abs(mc - dist.cooccurrence().dense())) < 6 / math.sqrt(n)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("keyword:L=3,V=4,K=5", "K <= V"),
        ("keyword:L=3,V=8,K=2,kw=4", "kw <= L"),
        ("keyword:L=3,V=2,K=2", "V > K"),
        ("keyword:L=3,V=8,K=1", "K must be >= 2"),
        ("keyword:L=3,V=8,K=2,noise=0.7", "noise must lie in [0, 0.5]"),
        ("keyword:L=3,V=8,K=2,zipf=x", "zipf='x' is not a number"),
        ("keyword:L=3,V=8,K=2,zipf=nan", "zipf must lie in"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        from_spec(spec)


def test_spec_round_trip_shows_non_defaults() -> None:
    dist = from_spec("keyword:L=5,V=9,K=2,noise=0.25")
    assert dist.spec == "keyword:L=5,V=9,K=2,noise=0.25"
    assert from_spec(dist.spec).cooccurrence().dense().tolist() == dist.cooccurrence().dense().tolist()


# --------------------------------------------------------------------------- data files


def test_load_labelled(tmp_path: Path) -> None:
    f = tmp_path / "reviews.tsv"
    f.write_text(
        "# label<TAB>tokens\npos\tgreat film\nneg\tdull film , dull\n\npos\tgreat\n", encoding="utf-8"
    )
    dist = load_labelled(f)
    assert dist.out_words == ["neg", "pos"]
    assert dist.in_words == [",", "dull", "film", "great"]
    assert dist.src_lens.tolist() == [2, 4, 1]
    assert dist.tgt_arr[:, 0].tolist() == [POS, NEG, POS]
    assert dist.src_arr[0].tolist() == [3, 2, -1, -1]
    # C[i, pos] = E[(n_i / L)(y - 1/2)] by hand, each line with probability 1/3
    c = word_label_signal(dist.cooccurrence())
    expected = {
        ",": (1 / 4) * (-0.5) / 3,
        "dull": (2 / 4) * (-0.5) / 3,
        "film": ((1 / 2) * 0.5 + (1 / 4) * (-0.5)) / 3,
        "great": ((1 / 2) * 0.5 + 1 * 0.5) / 3,
    }
    np.testing.assert_allclose(c, [expected[w] for w in dist.in_words], atol=1e-15)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pos\tgood\nneg\tbad\nmeh\tso so\n", "exactly 2 distinct labels, found 3"),
        ("pos\tgood\npos\tfine\n", "exactly 2 distinct labels, found 1"),
        ("very pos\tgood\nneg\tbad\n", ":1: the label must be one token"),
        ("pos good\n", ":1: expected 'label tokens<TAB>input tokens'"),
        ("pos\t \n", ":1: the input side is empty"),
        ("# nothing\n", "has no pairs"),
    ],
)
def test_load_labelled_errors(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "bad.tsv"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(DataFileError, match=message):
        load_labelled(f)
    with pytest.raises(DataFileError, match="does not exist"):
        load_labelled(tmp_path / "missing.tsv")


# --------------------------------------------------------------------------- stages 1 and 2


def test_classifier_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(0)
    src = rng.integers(0, 6, size=(5, 4))
    src_len = np.array([4, 2, 3, 4, 1])
    src[np.arange(4)[None, :] >= src_len[:, None]] = -1
    y = np.array([1, 0, 1, 1, 0])
    b, a = rng.normal(size=6), rng.normal(size=(5, 4))
    _, db, da = classifier_gradients(b, a, src, y, src_len)
    h = 1e-6
    for i in range(6):
        e = np.zeros(6)
        e[i] = h
        fd = (
            classifier_gradients(b + e, a, src, y, src_len)[0]
            - classifier_gradients(b - e, a, src, y, src_len)[0]
        ) / (2 * h)
        assert db[i] == pytest.approx(fd, abs=1e-8)
    for n, l in [(0, 0), (1, 1), (2, 2), (4, 0)]:
        e = np.zeros((5, 4))
        e[n, l] = h
        fd = (
            classifier_gradients(b, a + e, src, y, src_len)[0]
            - classifier_gradients(b, a - e, src, y, src_len)[0]
        ) / (2 * h)
        assert da[n, l] == pytest.approx(fd, abs=1e-8)
    assert np.all(da[1, 2:] == 0)


@pytest.mark.parametrize("spec", ["keyword:L=3,V=6,K=3,kw=2,noise=0.2,zipf=0.5", "keyword:L=3,V=5,K=2"])
def test_stage1_velocity_is_word_label_cooccurrence(spec: str) -> None:
    dist = from_spec(spec)
    ex = dist.exact_support()
    assert ex is not None
    N = ex.n_examples
    _, db, _ = classifier_gradients(
        np.zeros(dist.n_in), np.zeros((N, 3)), ex.src_arr, ex.tgt_arr[:, 0], weights=ex.weights
    )
    np.testing.assert_allclose(-db, word_label_signal(dist.cooccurrence()), atol=1e-15)


def test_stage2_first_order_push_is_towards_cooccurrence_with_the_label() -> None:
    """At b = tau c with uniform attention, -dloss/da = (tau/2) w alpha (C[x_l, y] - mean) + O(tau^2)."""
    dist = from_spec("keyword:L=3,V=6,K=3,kw=2,noise=0.2,zipf=0.5")
    ex = dist.exact_support()
    assert ex is not None
    C = dist.cooccurrence()
    tau = 1e-4
    N, L = ex.src_arr.shape
    b = tau * word_label_signal(C)
    _, _, da = classifier_gradients(b, np.zeros((N, L)), ex.src_arr, ex.tgt_arr[:, 0], weights=ex.weights)
    score = stage2_scores(C, ex.src_arr, ex.tgt_arr)[:, 0, :]
    predicted = tau / 2 * ex.weights[:, None] / L * (score - score.mean(axis=1, keepdims=True))
    np.testing.assert_allclose(-da, predicted, rtol=1e-3, atol=1e-3 * np.abs(predicted).max())


def test_keywords_rank_highest_under_stage2() -> None:
    dist = from_spec("keyword:L=12,V=40,K=6,kw=2,noise=0.3")
    b = dist.sample(500, np.random.default_rng(1))
    score = stage2_scores(dist.cooccurrence(), b.src, b.tgt)[:, 0, :]
    is_kw = dist.keyword_mask(b.src)
    has_pos_keyword = dist.polarity()[b.src].max(axis=1) > 0  # all keywords of an example share polarity
    honest = has_pos_keyword == (b.tgt[:, 0] == POS)  # keywords carry the observed label's polarity
    assert 0.5 < honest.mean() < 0.9  # noise 0.3 flips about 30% of labels
    kw_min = np.where(is_kw, score, np.inf).min(axis=1)
    kw_max = np.where(is_kw, score, -np.inf).max(axis=1)
    other_max = np.where(is_kw, -np.inf, score).max(axis=1)
    other_min = np.where(is_kw, np.inf, score).min(axis=1)
    assert np.all(kw_min[honest] > other_max[honest])  # every keyword above every distractor
    assert np.all(kw_max[~honest] < other_min[~honest])  # flipped label: keywords pushed below
    assert np.all(is_kw[honest, np.argmax(score[honest], axis=1)])


def test_stage2_scores_padding_and_dense_input() -> None:
    C = np.array([[0.1, -0.1], [-0.2, 0.2], [0.0, 0.0]])
    s = stage2_scores(C, np.array([[0, 1, -1]]), np.array([[1]]))
    assert s[0, 0, :2].tolist() == [-0.1, 0.2] and np.isneginf(s[0, 0, 2])


# --------------------------------------------------------------------------- warm-up toy


def test_warmup_closed_form_solves_the_flow_symbolically() -> None:
    d = derive_warmup()
    at = {sp.Function(name)(d.t): expr for name, expr in d.solution.items()}
    for eq in d.odes:
        assert sp.simplify((eq.lhs - eq.rhs).subs(at).doit()) == 0
    assert [d.solution[k].subs(d.t, 0) for k in ("beta_0", "beta_1", "p")] == [0, 0, sp.Rational(1, 2)]
    assert sp.simplify((d.solution["p"].subs(d.t, d.breakdown_time) - 1).rewrite(sp.exp)) == 0


def test_warmup_closed_form_matches_solve_ivp() -> None:
    t = np.linspace(0, 1.5, 31)
    closed = warmup_closed_form(t)
    num = warmup_linear_flow(t)
    np.testing.assert_allclose(num.beta0, closed["beta_0"], atol=1e-9)
    np.testing.assert_allclose(num.beta1, closed["beta_1"], atol=1e-9)
    np.testing.assert_allclose(num.p, closed["p"], atol=1e-9)
    # BRIEF's literal sign: mirror image in beta, same attention
    lit = warmup_closed_form(t, literal_sign=True)
    np.testing.assert_allclose(lit["beta_1"], -closed["beta_1"], atol=1e-12)
    np.testing.assert_allclose(lit["p"], closed["p"], atol=1e-12)
    np.testing.assert_allclose(warmup_linear_flow(t, literal_sign=True).beta0, -closed["beta_0"], atol=1e-9)


def test_warmup_softmax_flow() -> None:
    d = derive_warmup()
    assert d.invariant_rate == 0
    t = np.linspace(0, 6, 61)
    flow = warmup_softmax_flow(t)
    delta, gamma = flow.beta1 - flow.beta0, flow.a1 - flow.a0
    np.testing.assert_allclose(delta**2 / 2, gamma + np.expm1(gamma), atol=1e-8)  # first integral I = 0
    assert np.all(np.diff(flow.p) > 0) and np.all((flow.p >= 0.5) & (flow.p < 1))
    # same start as the unconstrained flow (delta' = 2p = 1), but p rises 8x slower: p'' = 1/8 vs 1
    early = warmup_softmax_flow(np.array([0.0, 1e-2]))
    lin = warmup_closed_form(np.array([1e-2]))
    assert early.beta1[1] - early.beta0[1] == pytest.approx(lin["beta_1"][0] - lin["beta_0"][0], rel=1e-3)
    assert (early.p[1] - 0.5) / (lin["p"][0] - 0.5) == pytest.approx(1 / 8, rel=1e-3)
    # the p-form of the flow equals the full form
    A0, A1 = sp.symbols("a_0 a_1", real=True)
    point = {d.beta0: 0.3, d.beta1: 1.1, A0: -0.4, A1: 0.9}
    p_val = 1 / (1 + math.exp(-(0.9 + 0.4)))
    for full, in_p in zip(d.softmax_odes, d.softmax_odes_in_p, strict=True):
        assert float(full.rhs.subs(point)) == pytest.approx(float(in_p.rhs.subs({**point, d.p: p_val})))


def test_classification_page_uses_the_live_expressions() -> None:
    page = classification_page()
    assert page.startswith("# ")
    d = derive_warmup()
    assert sp.latex(d.solution["p"]) in page
    assert sp.latex(d.invariant) in page
    assert sp.latex(keyword_cooccurrence_symbolic()["C_pos"]["positive keyword"]) in page
