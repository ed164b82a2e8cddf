"""toy-fidelity on the real toy model: gradient descent follows the flow for a drift and a
saddle distribution, and the check catches a wrong time scale."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ktiw.comparator.checks import check_toy_fidelity
from ktiw.comparator.fidelity import fidelity_trace
from ktiw.comparator.verdict import Status
from ktiw.config.presets import PRESETS, FidelitySetup
from ktiw.core.errors import KtiwError
from ktiw.data.families import from_spec
from ktiw.empirics.full_batch import toy_gradient_descent


@pytest.fixture(scope="module")
def traces():
    return [fidelity_trace(s) for s in PRESETS[("copy", "lstm", "quick")].fidelity if s.optimizer == "gd"]


def test_descent_follows_flow_for_drift_and_saddle(traces) -> None:
    assert [t.regime for t in traces] == ["drift", "saddle"]
    for tr in traces:
        v = check_toy_fidelity(tr)
        assert v.status is Status.PASS, v.sentence
        # both took off within the horizon, so the comparison covers the whole takeoff
        assert tr.alpha_gd[0] < 0.5 < tr.alpha_gd[-1]


def test_start_is_uniform_attention(traces) -> None:
    drift, saddle = traces
    assert drift.alpha_gd[0] == pytest.approx(1 / 4)  # B = 0, a = 0: alpha_d = 1/k
    # a = eps I: alpha_d = e^eps / (e^eps + k - 1)
    assert saddle.alpha_gd[0] == pytest.approx(np.exp(1e-3) / (np.exp(1e-3) + 3))


def test_wrong_time_scale_is_refuted(traces) -> None:
    for tr in traces:
        stretched = replace(tr, t_gd=tr.t_gd * 1.2)
        assert check_toy_fidelity(stretched).status is Status.REFUTED


def test_gap_is_euler_error_halving_with_lr() -> None:
    gaps = []
    for lr in (0.4, 0.2):
        tr = fidelity_trace(FidelitySetup("subset:L=3,V=4", eps=0.0, lr=lr, steps=int(60 / lr)))
        gaps.append(check_toy_fidelity(tr).numbers["max_abs_diff"])
    assert 1.6 < gaps[0] / gaps[1] < 2.4


def test_rejects_non_copy_and_large_support() -> None:
    with pytest.raises(KtiwError):
        fidelity_trace(FidelitySetup("iid:L=2,V=3", 0.0, 0.1, 1))
    with pytest.raises(KtiwError):
        toy_gradient_descent(from_spec("subset:L=8,V=12"), 0.0, 0.1, 1)


def test_presets_hold_an_optimizer_matched_drift_and_saddle_pair() -> None:
    matched = [s for s in PRESETS[("copy", "lstm", "quick")].fidelity if s.optimizer != "gd"]
    assert {s.optimizer for s in matched} == {"adam"}
    assert sorted(s.spec.split(":")[0] for s in matched) == ["permutation", "subset"]


@pytest.mark.parametrize("spec", ["subset:L=4,V=6", "permutation:L=4"])
def test_optimizer_matched_fidelity_passes_on_the_real_toy_model(spec: str) -> None:
    """Adam from eps on a copy task: the reduced map is exact (permutation) or nearly so, so the
    trained toy model's takeoff step is the predicted one and every seed takes off."""
    from ktiw.comparator.checks import check_step_fidelity
    from ktiw.comparator.fidelity import step_fidelity
    from ktiw.core.training import Training

    block = Training(
        model="toy", seeds=8, steps=80, batch_size=32, lr=0.05, eval_every=1, eval_samples=8, model_config={}
    )
    setup = FidelitySetup(spec, eps=1e-2, lr=0.05, steps=80, optimizer="adam", init="eps:1e-2")
    f = step_fidelity(setup, block)
    v = check_step_fidelity(f)
    assert v.status is Status.PASS, v.sentence
    assert f.method == "reduced-map" and f.successes == 8
    late = replace(f, predicted_step=f.predicted_step * 1.3)  # a 30% wrong prediction is caught
    assert check_step_fidelity(late).status is Status.REFUTED
