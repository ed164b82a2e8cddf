"""The multihead and classification experiments: verdict logic on synthetic numbers with
known answers, and one tiny real end-to-end run of each."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from ktiw.comparator.experiments import classification as cl
from ktiw.comparator.experiments import multihead as mh
from ktiw.comparator.experiments import verify
from ktiw.comparator.verdict import Status

PASS, REFUTED, INCONCLUSIVE, REPORTED = Status.PASS, Status.REFUTED, Status.INCONCLUSIVE, Status.REPORTED
TOY = mh.ToyRescue(120.0, 185.0, None)

# --------------------------------------------------------------------------- multihead logic


@pytest.mark.parametrize(
    ("success", "best", "label"),
    [
        ([True, True, True], [0.97, 0.99, 1.0], "good"),
        ([True, True, False], [0.97, 0.99, 0.5], "neither"),
        ([False, False, False], [0.5, 0.59, 0.1], "bad"),
        ([False, False, False], [0.5, 0.6, 0.1], "neither"),  # 0.6 is not "below 0.6"
    ],
)
def test_classify_head(success: list[bool], best: list[float], label: str) -> None:
    assert mh.classify_head(success, best) == label


def _rescue(k_one: int, k_bad: int, n: int = 10, pools: dict | None = None) -> dict:
    vs = mh.rescue_verdicts(
        pools or {"good": 3, "bad": 4, "neither": 5},
        {"all-bad": (k_bad, n), "one-good": (k_one, n), "random": (5, n)},
        TOY,
    )
    return {v.name: v for v in vs}


def test_rescue_verdicts_known_answers() -> None:
    v = _rescue(9, 1)["rescue"]
    assert v.status is PASS and v.numbers["fisher_p"] < 0.05
    # a fall or no rise refutes only when Fisher's one-sided test shows "less often" (class 12):
    # 2/10 vs 5/10 (p = 0.17) and 4/10 vs 4/10 are no evidence; 0/10 vs 6/10 (p = 0.0054) is
    assert _rescue(2, 5)["rescue"].status is INCONCLUSIVE
    assert _rescue(4, 4)["rescue"].status is INCONCLUSIVE
    assert _rescue(0, 6)["rescue"].status is REFUTED
    assert _rescue(5, 4)["rescue"].status is INCONCLUSIVE  # rise inside the noise
    # 6/10 vs 2/10: Fisher's one-sided p = 0.085, not significant at 0.05
    assert _rescue(6, 2)["rescue"].status is INCONCLUSIVE
    v = _rescue(9, 1)
    assert v["head-pools"].status is REPORTED and v["random-heads"].status is REPORTED
    assert v["toy-rescue"].status is PASS
    assert "one good head rescues" in _rescue(0, 6)["rescue"].sentence


def test_paired_accuracy_verdict_known_answers() -> None:
    def verdict(one: list[float], bad: list[float]):  # type: ignore[no-untyped-def]
        vs = mh.rescue_verdicts({"good": 1, "bad": 2}, {}, final_acc={"one-good": one, "all-bad": bad})
        return next(v for v in vs if v.name == "rescue-accuracy")

    rise = verdict([0.9 + 0.001 * i for i in range(12)], [0.5 - 0.002 * i for i in range(12)])
    assert rise.status is PASS and rise.numbers["mean_difference"] == pytest.approx(
        0.4 + 0.003 * 5.5, abs=1e-9
    )
    assert verdict([0.5] * 6, [0.6] * 6).status is REFUTED  # 6 of 6 lower: one-sided p = 1/64
    assert verdict([0.5] * 3, [0.6] * 3).status is INCONCLUSIVE  # 3 of 3 lower: p = 1/8
    assert verdict([0.7, 0.5, 0.6], [0.6, 0.6, 0.55]).status is INCONCLUSIVE  # 3 pairs cannot reach p < 0.05


def test_rescue_without_good_heads_is_not_a_verdict() -> None:
    vs = mh.rescue_verdicts({"good": 0, "bad": 4, "neither": 8}, {"all-bad": (1, 10), "one-good": (0, 0)})
    rescue = next(v for v in vs if v.name == "rescue")
    assert rescue.status is INCONCLUSIVE and "No good heads" in rescue.sentence


def test_toy_rescue_fails_when_the_zero_head_stays() -> None:
    vs = mh.rescue_verdicts({"good": 1}, {}, mh.ToyRescue(100.0, None, None))
    assert next(v for v in vs if v.name == "toy-rescue").status is REFUTED


def test_choose_combinations_structure() -> None:
    good, bad = [3, 8], [1, 2, 5, 9]
    g = mh.choose_combinations(good, bad, 3, 6, 100, np.random.default_rng(0))
    assert all(len(r) == 3 and set(r) <= set(bad) and len(set(r)) == 3 for r in g["all-bad"])
    for r in g["one-good"]:
        assert sum(x in good for x in r) == 1 and sum(x in bad for x in r) == 2
    fresh = [x for r in g["random"] for x in r]
    assert len(set(fresh)) == 18 and min(fresh) >= 100
    assert mh.choose_combinations([], bad, 3, 2, 100, np.random.default_rng(0))["one-good"] == []


# --------------------------------------------------------------------------- classification logic


def test_word_scores_by_hand() -> None:
    src = np.array([[0, 1, 2], [1, 1, -1]])
    label = np.array([1, 0])
    src_len = np.array([3, 2])
    beta = np.zeros((2, 2, 1, 3))
    beta[0, 0, 0] = [1.0, 2.0, 3.0]  # label pos: log-odds of pos as is
    beta[0, 1, 0] = [4.0, 6.0, np.nan]  # label neg: sign flips
    beta[1] = beta[0] * 3
    got = cl.word_scores(beta, np.maximum(src, 0), label, src_len, 4)
    # word 1: seed0 {2, -4, -6}, seed1 {6, -12, -18} -> mean -32/6
    np.testing.assert_allclose(got[:3], [(1 + 3) / 2, -32 / 6, (3 + 9) / 2])
    assert np.isnan(got[3])


def test_score_association_and_its_verdict() -> None:
    signal = np.array([0.3, 0.2, 0.0, 0.0, -0.1, -0.4] * 3)
    good = signal * 5 + np.linspace(0, 0.01, 18)
    res = cl.score_association(good, signal)
    assert res.tau > 0.8 and res.p_value < 1e-4
    # a perfect ranking reaches the largest tau the tied signal allows
    perfect = cl.score_association(np.argsort(np.argsort(signal, kind="stable")).astype(float), signal)
    assert perfect.tau == pytest.approx(perfect.tau_max) and perfect.tau_max < 1
    assert cl.check_uniform_scores("k", res).status is PASS
    bad = cl.score_association(-good, signal)
    assert cl.check_uniform_scores("k", bad).status is REFUTED
    flat = cl.score_association(np.ones(18), signal)
    assert math.isnan(flat.tau) and cl.check_uniform_scores("k", flat).status is INCONCLUSIVE
    weak = cl.Association(tau=0.1, p_value=0.3, words=18, tau_max=0.9)
    assert cl.check_uniform_scores("k", weak).status is INCONCLUSIVE


def test_attention_salient_verdict() -> None:
    # a pass needs the per-seed test too (test_pass_evidence.py): a pooled number alone is no evidence
    pooled = cl.SalientAttention(0.5, 0.05, 0.3, 0.0, 0, 1, 0)
    assert cl.check_attention_salient("k", pooled).status is INCONCLUSIVE
    ok = cl.SalientAttention(0.5, 0.05, 0.3, 0.0, 0, 1, 0, (0.49, 0.5, 0.51), 3000)
    assert cl.check_attention_salient("k", ok).status is PASS
    # a shortfall refutes only on the per-seed test (test_refutation_evidence.py): a pooled
    # number without its seeds is no evidence
    short = cl.SalientAttention(0.1, 0.05, 0.0, 0.0, 0, 1, 0)
    assert cl.check_attention_salient("k", short).status is INCONCLUSIVE
    seeds = cl.SalientAttention(0.1, 0.05, 0.0, 0.0, 0, 1, 0, (0.09, 0.1, 0.11), 3000)
    assert cl.check_attention_salient("k", seeds).status is REFUTED


def _synthetic_probes(attend_keyword: bool) -> tuple[dict, dict, np.ndarray]:
    from ktiw.data.families import from_spec

    d = from_spec("keyword:L=8,V=20,K=4")
    b = d.sample(60, np.random.default_rng(0))
    C = d.cooccurrence().dense()
    kw = d.keyword_mask(b.src)  # [N, L], one keyword per example
    S, N, L = 2, 60, 8
    alpha = np.full((S, N, 1, L), 0.5 / (L - 1))
    target = kw if attend_keyword else np.roll(kw, 1, axis=1)
    alpha[:, target[:, None, :].repeat(1, 1)] = 0.5
    score_pos = C[b.src, 1]  # the uniform model's log-odds of pos per position, like the theory
    beta_uf = (score_pos * (2 * b.tgt[:, :1] - 1))[None, :, None, :].repeat(S, 0)
    common = {"src": b.src, "tgt": b.tgt, "src_len": b.src_len, "tgt_len": b.tgt_len}
    normal = {**common, "alpha": alpha, "beta": beta_uf.copy()}
    uniform = {**common, "alpha": np.full_like(alpha, 1 / L), "beta": beta_uf, "grad": -beta_uf}
    return normal, uniform, C


def from_spec_keyword_positions(probes: dict) -> np.ndarray:
    """Position of the (single) keyword of each example, tiled over the 2 seeds."""
    return np.tile((probes["src"] < 4).argmax(axis=1), 2)


def _measured(normal: dict, uniform: dict, C: np.ndarray) -> cl.ClassificationMeasurement:
    scores, signal, assoc, attention, agreements = cl.measure_probes(normal, uniform, C)
    return cl.ClassificationMeasurement(
        "k",
        "drift",
        None,
        1.0,
        0.9,
        scores,
        signal,
        assoc,
        attention,
        agreements,
        {},  # type: ignore[arg-type]
    )


def test_measure_on_synthetic_probes_with_known_answers() -> None:
    normal, uniform, C = _synthetic_probes(attend_keyword=True)
    m = _measured(normal, uniform, C)
    assert m.attention.agreement == pytest.approx(1.0)
    assert m.attention.same == 1.0
    assert m.attention.baseline < 0.4
    assert m.association.tau > 0.5
    vs = {v.name: v for v in cl.classification_verdicts(m)}
    assert vs["attention-to-salient-words"].status is PASS
    assert vs["uniform-scores-cooccurrence"].status is PASS
    assert vs["agreement-table"].status is PASS
    wrong, uniform2, _ = _synthetic_probes(attend_keyword=False)
    m2 = _measured(wrong, uniform2, C)
    assert m2.attention.agreement < 0.2
    # attention one position after the keyword (wrapping to 0 for a keyword at the end)
    kw_last = (from_spec_keyword_positions(wrong) == 7).mean()
    assert m2.attention.after == pytest.approx(1 - kw_last)
    assert m2.attention.before == pytest.approx(kw_last)
    vs2 = {v.name: v for v in cl.classification_verdicts(m2)}
    assert vs2["attention-to-salient-words"].status is REFUTED


# --------------------------------------------------------------------------- tiny real runs


def _check_outputs(result, names: set[str]) -> dict:  # type: ignore[no-untyped-def]
    doc = json.loads((result.out_dir / "verdicts.json").read_text())
    assert {v["name"] for v in doc["verdicts"]} == names
    assert doc["exit_code"] == result.exit_code
    report = (result.out_dir / "report.md").read_text()
    assert all(n in report for n in names)
    for f in result.figures.values():
        assert f.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return doc


def test_multihead_end_to_end_tiny(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # 6 training steps give no good heads; label the 3 candidates good, bad, bad by order
    # so that every group is trained (the classification rule itself is tested above)
    order = itertools.cycle(["good", "bad", "bad"])  # heads are labelled in order 0, 1, 2 each time
    monkeypatch.setattr(mh, "classify_head", lambda success, best: next(order))
    tiny = dict(
        spec="permutation:L=3",
        hidden=8,
        heads=2,
        steps=6,
        batch_size=16,
        eval_every=3,
        eval_samples=8,
        candidates=3,
        pool_size=2,
        combinations=2,
        data_seeds=2,
        max_seeds_per_run=4,  # 2 heads x 2 data seeds per run: candidates 0-1, then 2
    )
    r = verify("multihead", overrides=tiny, device="cpu", out_dir=tmp_path / "mh", progress=False)
    doc = _check_outputs(r, {"head-pools", "rescue", "rescue-accuracy", "random-heads", "toy-rescue"})
    m = doc["measurement"]
    assert m["labels"] == {"0": "good", "1": "bad", "2": "bad"}
    second = json.loads((tmp_path / "mh" / "runs" / "single-heads-1" / "config.json").read_text())
    assert second["seeds"] == [4, 5] and second["model_config"]["head_ids"] == [[2], [2]]
    assert m["good_pool"] == [0] and m["bad_pool"] == [1, 2]
    assert all(m["successes"][g][1] == 2 for g in ("all-bad", "one-good", "random"))
    assert all(0 in row for row in m["combinations"]["one-good"])
    # the one-good run really trained bank head 0 next to a bad head
    cfg = json.loads((tmp_path / "mh" / "runs" / "one-good" / "config.json").read_text())
    assert cfg["model_config"]["head_ids"] == m["combinations"]["one-good"]
    # --reuse finds every run again
    r2 = verify(
        "multihead", overrides=tiny, device="cpu", out_dir=tmp_path / "mh", reuse=True, progress=False
    )
    assert {x["how"] for x in r2.meta["runs"].values()} == {"reused"}
    assert {k: x["path"] for k, x in r2.meta["runs"].items()} == {
        k: x["path"] for k, x in r.meta["runs"].items()
    }


def test_classification_end_to_end_tiny(tmp_path) -> None:  # type: ignore[no-untyped-def]
    tiny = dict(hidden=8, seeds=2, steps=6, batch_size=16, eval_every=3, eval_samples=30, proxy_steps=5)
    r = verify(
        "classification",
        specs=["keyword:L=6,V=12,K=2"],
        device="cpu",
        out_dir=tmp_path / "cl",
        progress=False,
        overrides=tiny,
    )
    doc = _check_outputs(
        r,
        {
            "classifier-accuracy",
            "uniform-scores-cooccurrence",
            "attention-to-salient-words",
            "agreement-table",
        },
    )
    assert [a["pair"] for a in doc["measurement"]["agreements"]] == [
        "A(alpha,beta_uf)",
        "A(beta_uf,beta_px)",
        "A(Delta,beta_uf)",
        "A(alpha,beta)",
    ]
    assert doc["measurement"]["regime"] == "drift"  # from theory.predict, not a rule of its own
    # xi against each seed's final attention: A(alpha_k, final) reaches 1 at the last checkpoint,
    # so every agreement gets an xi, one of the checkpoints' mean accuracies; xi* the best of them
    from ktiw.empirics.runfiles import read_curves

    (normal,) = [p for p in (tmp_path / "cl" / "runs").iterdir() if not p.name.endswith("-uniform")]
    curves = read_curves(normal / "curves.csv")
    acc = [float(np.mean(curves["token_acc"][curves["step"] == k])) for k in np.unique(curves["step"])]
    xi = doc["measurement"]["xi"]
    assert set(xi) == {a["pair"] for a in doc["measurement"]["agreements"]}
    assert all(any(v == pytest.approx(a) for a in acc) for v in xi.values())
    assert doc["measurement"]["xi_star"] == pytest.approx(max(acc))


def test_bad_experiment_input(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ktiw.core.errors import KtiwError

    with pytest.raises(KtiwError, match="two-label"):
        verify("classification", specs=["permutation:L=4"], out_dir=tmp_path, progress=False)
    with pytest.raises(KtiwError, match="valid presets"):
        verify("multihead", "nope", out_dir=tmp_path, progress=False)


def test_classification_on_a_labelled_data_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "reviews.tsv"
    lines = ["pos\tgreat film a b", "neg\tdull film c d", "pos\ta great b c", "neg\td c dull a"]
    f.write_text("\n".join(lines) + "\n")
    tiny = dict(hidden=8, seeds=2, steps=4, batch_size=8, eval_every=2, eval_samples=10, proxy_steps=3)
    r = verify(
        "classification", data=f, device="cpu", out_dir=tmp_path / "cl", progress=False, overrides=tiny
    )
    assert sorted(p.name for p in (tmp_path / "cl" / "runs").iterdir()) == [
        "reviews-classifier",
        "reviews-classifier-uniform",
    ]
    assert r.measurement.spec == f"labelled:{f}" and r.measurement.regime == r.measurement.prediction.regime
