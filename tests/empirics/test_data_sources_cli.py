"""`ktiw train` and `ktiw verify` read CSV/JSONL/Parquet through the same data sources as
`ktiw predict`: the run records the source string, and the model is built on its vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ktiw.cli.app import app
from ktiw.data.corpus import load_distribution

pa = pytest.importorskip("pyarrow")

runner = CliRunner()
TINY_TRAIN = ["--steps", "2", "--seeds", "1", "--hidden", "8", "--batch-size", "4", "--eval-samples", "4",
              "--proxy-steps", "2", "--quiet"]  # fmt: skip


def test_train_on_jsonl_records_the_source_and_its_vocabulary(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KTIW_CACHE_DIR", str(tmp_path / "cache"))
    f = tmp_path / "pairs.jsonl"
    rows = [
        {"en": "the cat", "fr": "le chat"},
        {"en": "a Dog!", "fr": "un chien"},
        {"en": "cat", "fr": "chat"},
    ]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    res = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(f),
            "--input-col",
            "en",
            "--output-col",
            "fr",
            "--out",
            str(out),
            *TINY_TRAIN,
        ],
    )
    assert res.exit_code == 0, res.output
    source = json.loads((out / "config.json").read_text())["data"]
    assert source == f"{f}?input=en&output=fr"
    d = load_distribution(source)
    assert d.in_words == ["a", "cat", "dog", "the"] and d.out_words == ["chat", "chien", "le", "un"]


def test_verify_classification_on_a_csv_with_named_columns(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KTIW_CACHE_DIR", str(tmp_path / "cache"))
    f = tmp_path / "reviews.csv"
    f.write_text(
        "sentiment,review\n"
        + "".join(f'{y},"{t}"\n' for y, t in [("pos", "Great film, a b"), ("neg", "dull film c d")] * 3)
    )
    tiny = ["--set", "hidden=8", "--set", "seeds=1", "--set", "steps=4", "--set", "batch_size=4",
            "--set", "eval_every=2", "--set", "eval_samples=6", "--set", "proxy_steps=2"]  # fmt: skip
    out = tmp_path / "v"
    res = runner.invoke(
        app,
        ["verify", "--experiment", "classification", "--data", str(f), "--text-col", "review",
         "--label-col", "sentiment", "--device", "cpu", "--out", str(out), "--json", *tiny],
    )  # fmt: skip
    assert res.exit_code in (0, 1, 3), res.output
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        "reviews-classifier",
        "reviews-classifier-uniform",
    ]
    config = json.loads((out / "runs" / "reviews-classifier" / "config.json").read_text())
    assert config["data"] == f"{f}?text=review&label=sentiment"
    verdicts = json.loads(res.stdout)
    assert "agreement-table" in json.dumps(verdicts) and "labelled:" + config["data"] in json.dumps(verdicts)
