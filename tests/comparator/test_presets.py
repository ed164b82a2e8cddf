"""Presets: `paper` is BRIEF section 3's configuration; overrides are validated."""

from __future__ import annotations

import pytest

from ktiw.comparator.pipeline import train_config
from ktiw.comparator.presets import PRESETS, get_preset
from ktiw.theory.errors import KtiwError


def test_paper_preset_is_brief_section_3() -> None:
    p = PRESETS["paper"]
    assert p.specs == ("permutation:L=40", "subset:L=40,V=60")
    assert (p.seeds, p.steps, p.batch_size, p.lr, p.eval_every, p.eval_samples, p.hidden) == (
        20,
        200,
        128,
        1e-3,
        10,
        50,
        256,
    )
    cfg = train_config("subset:L=40,V=60", p, uniform=True, device="cpu")
    assert cfg["model"] == "lstm" and cfg["uniform"] is True and cfg["seeds"] == list(range(20))
    assert cfg["model_config"] == {"hidden": 256, "embedding": None, "layers": 1, "bidirectional": False}


def test_quick_preset_contrasts_a_saddle_with_a_drift() -> None:
    from ktiw.theory.families import from_spec
    from ktiw.theory.predict import predict

    regimes = [predict(from_spec(s)).regime for s in PRESETS["quick"].specs]
    assert regimes == ["saddle", "drift"]


def test_overrides() -> None:
    p = get_preset("quick").with_overrides(seeds=3, steps=7)
    assert (p.seeds, p.steps) == (3, 7)
    with pytest.raises(KtiwError, match="--steps must be >= 1"):
        get_preset("quick").with_overrides(steps=0)
    with pytest.raises(KtiwError, match="unknown preset field"):
        get_preset("quick").with_overrides(colour="red")
    with pytest.raises(KtiwError, match="valid presets: quick, paper"):
        get_preset("fast")
