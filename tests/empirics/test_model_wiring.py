"""Registered models, per-model data formats, generic --opt, and the model-sized probe budget."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ktiw.cli.app import app
from ktiw.cli.options import parse_key_values
from ktiw.core.errors import KtiwError
from ktiw.data.families import from_spec
from ktiw.empirics.models import MODELS, build_model
from ktiw.empirics.train_config import TrainConfig, load_distribution


def test_every_model_is_registered_with_its_data_format() -> None:
    assert {"lstm", "toy", "multihead", "classifier"} <= set(MODELS)
    assert MODELS["classifier"].data_format == "labelled"
    assert {MODELS[m].data_format for m in ("lstm", "toy", "multihead")} == {"pairs"}


def test_labelled_data_is_read_as_label_then_tokens(tmp_path) -> None:
    path = tmp_path / "lab.tsv"
    path.write_text("pos\tgood a b\nneg\tbad a\n")
    cls = load_distribution(TrainConfig(data=str(path), model="classifier"))
    assert cls.out_words == ["neg", "pos"] and cls.tgt_len == 1 and cls.src_len == 3
    pairs = load_distribution(TrainConfig(data=str(path), model="lstm"))
    assert pairs.in_words == ["neg", "pos"] and pairs.src_len == 1  # read the other way round


def test_parse_key_values() -> None:
    assert parse_key_values(["heads=3", "embedding=8", "head_ids=[[0,1,2]]", "init=eps"], "--opt") == {
        "heads": 3,
        "embedding": 8,
        "head_ids": [[0, 1, 2]],
        "init": "eps",
    }
    with pytest.raises(KtiwError, match="--set expects KEY=VALUE"):
        parse_key_values(["heads"], "--set")


@pytest.mark.parametrize(("heads", "arrays"), [(1, 5), (3, 9)])
def test_multihead_probe_budget_counts_per_head_arrays(heads: int, arrays: int) -> None:
    model, _ = build_model(
        "multihead", {"hidden": 4, "heads": heads}, from_spec("permutation:L=3"), 1, uniform=False
    )
    assert model.probe_arrays == arrays
    lstm, _ = build_model("lstm", {"hidden": 4}, from_spec("permutation:L=3"), 1, uniform=False)
    assert lstm.probe_arrays == 3


def test_cli_heads_and_opt_reach_the_model_config(tmp_path) -> None:
    out = tmp_path / "run"
    args = ["train", "permutation:L=3", "--model", "multihead", "--heads", "3", "--opt", "embedding=4"]
    args += ["--hidden", "8", "--steps", "2", "--seeds", "1", "--eval-every", "1", "--quiet"]
    args += ["--proxy-steps", "0", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    mc = json.loads((out / "config.json").read_text())["model_config"]
    assert (mc["heads"], mc["embedding"], mc["hidden"]) == (3, 4, 8)
    bad = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "r2"), "--opt", "nonsense=1"])
    assert bad.exit_code == 2 and "nonsense" in bad.output
