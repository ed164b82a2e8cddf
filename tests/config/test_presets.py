"""The one preset registry: every preset `ktiw presets` lists builds (its distributions parse,
its runs' configs validate, its model builds), `ktiw train` shares the training block, and
overrides name the valid keys."""

from __future__ import annotations

import dataclasses

import pytest
from typer.testing import CliRunner

from ktiw.cli.app import app
from ktiw.config.presets import PRESETS, describe, get_preset, training_for, with_overrides
from ktiw.core.errors import KtiwError
from ktiw.empirics.train_config import TrainConfig


@pytest.mark.parametrize("key", list(PRESETS), ids=lambda k: "/".join(k))
def test_every_listed_preset_builds(key: tuple[str, str, str]) -> None:
    from ktiw.data.families import from_spec
    from ktiw.empirics.models import build_model

    experiment, model_name, name = key
    out = CliRunner().invoke(app, ["presets", experiment])
    assert out.exit_code == 0 and f"{experiment} / {model_name} / {name}" in out.output
    assert PRESETS[key].training.model == model_name
    preset = PRESETS[key]
    specs = getattr(preset, "specs", None) or (preset.spec,)
    for spec in specs:
        dist = from_spec(spec)
        cfg = TrainConfig.from_training(preset.training, preset=name, spec=dist.spec, device="cpu")
        cfg.validate()
        assert cfg.seeds == list(range(preset.training.seeds))
        options = dict(cfg.model_config)
        if experiment == "multihead":  # the experiment's models are built with a head bank
            options["head_ids"] = [list(range(options["heads"]))]
        model, _ = build_model(cfg.model, options, dist, 1, uniform=False)
        assert sum(p.numel() for p in model.parameters()) > 0
    rows = {f: v for f, v, _ in describe(preset)}
    assert rows["training.steps"] == str(preset.training.steps)


def test_paper_copy_preset_is_the_papers_configuration() -> None:
    p = get_preset("copy", "paper")
    t = p.training
    assert p.specs == ("permutation:L=40", "subset:L=40,V=60")
    assert (t.seeds, t.steps, t.batch_size, t.lr, t.eval_every, t.eval_samples) == (
        20,
        200,
        128,
        1e-3,
        10,
        50,
    )
    cfg = TrainConfig.from_training(t, preset="paper", spec="subset:L=40,V=60", uniform=True, device="cpu")
    assert cfg.model == "lstm" and cfg.uniform and cfg.seeds == list(range(20))
    assert cfg.model_config == {
        "hidden": 256,
        "embedding": None,
        "layers": 1,
        "bidirectional": False,
        "dropout": 0.0,
        "encoder": "recurrent",
    }


def test_quick_copy_preset_contrasts_a_saddle_with_a_drift() -> None:
    from ktiw.data.families import from_spec
    from ktiw.theory.predict import predict

    assert [predict(from_spec(s)).regime for s in get_preset("copy", "quick").specs] == ["saddle", "drift"]


def test_train_uses_the_same_block() -> None:
    assert training_for("quick", "lstm") is get_preset("copy", "quick").training
    assert training_for("paper", "classifier") is get_preset("classification", "paper").training
    toy = training_for("quick", "toy")
    assert (
        toy.model == "toy"
        and toy.model_config == {}
        and toy.steps == get_preset("copy", "quick").training.steps
    )
    with pytest.raises(KtiwError, match=r"valid presets for --model lstm: quick, paper$"):
        training_for("fast", "lstm")  # authors is the translation experiment's, not the LSTM's


def test_overrides_reach_every_level_and_unknown_keys_name_the_valid_ones() -> None:
    p = with_overrides(get_preset("copy", "quick"), {"hidden": 12, "steps": 7, "specs": ["subset:L=3,V=4"]})
    assert (
        p.training.model_config["hidden"] == 12 and p.training.steps == 7 and p.specs == ("subset:L=3,V=4",)
    )
    assert dataclasses.replace(p, name="x").name == "x"
    with pytest.raises(
        KtiwError, match=r"field\(s\): colour; valid: specs, eps, fidelity, uniform_seeds, seeds"
    ):
        with_overrides(get_preset("copy", "quick"), {"colour": "red"})
    with pytest.raises(KtiwError, match="valid presets: quick, paper"):
        get_preset("copy", "fast")
    with pytest.raises(KtiwError, match="valid experiments: copy, multihead, classification, translation"):
        get_preset("nope", "quick")


def test_presets_are_keyed_by_model_and_a_model_without_one_takes_the_default_block() -> None:
    t = get_preset("copy", "quick", "transformer").training
    assert t.model == "transformer" and t.model_config["d_model"] == 64
    assert get_preset("copy", "quick") is get_preset("copy", "quick", "lstm")
    derived = get_preset("translation", "quick", "transformer").training
    lstm = get_preset("translation", "quick").training
    assert derived.model == "transformer" and derived.model_config == {} and derived.steps == lstm.steps
    out = CliRunner().invoke(app, ["presets", "copy"])
    assert "copy / transformer / quick" in out.output and "copy / lstm / paper" in out.output
