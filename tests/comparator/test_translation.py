"""``--experiment translation``: the theory's predicted alignment on a small parallel corpus
made here, and the copying checks run against it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ktiw.comparator.experiments import verify
from ktiw.core.errors import KtiwError
from ktiw.data.corpus import load_distribution

pytest.importorskip("pyarrow")


def parallel_corpus(path: Path, rows: int = 60, seed: int = 0) -> tuple[Path, np.ndarray]:
    """A dictionary translation of 3 distinct words out of 8, target in reversed order (CSV);
    the true alignment of target token t is source position 2 - t."""
    rng = np.random.default_rng(seed)
    en = [f"e{i}" for i in range(8)]
    de = [f"d{i}" for i in range(8)]
    lines = ["en,de"]
    for _ in range(rows):
        idx = rng.choice(8, size=3, replace=False)
        lines.append(" ".join(en[i] for i in idx) + "," + " ".join(de[i] for i in idx[::-1]))
    path.write_text("\n".join(lines) + "\n")
    return path, np.tile([2, 1, 0], (rows, 1))


def test_predicted_alignment_recovers_a_dictionary_translation(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KTIW_CACHE_DIR", str(tmp_path / "cache"))
    f, truth = parallel_corpus(tmp_path / "p.csv")
    d = load_distribution(f"{f}?input=en&output=de&align=theory")
    # C[e_i, d_j] is largest for j = i (each word co-occurs with its translation in every example)
    assert d.aligned and np.array_equal(d.align_arr, truth)


def test_translation_experiment_runs_the_copy_checks_on_the_predicted_alignment(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KTIW_CACHE_DIR", str(tmp_path / "cache"))
    f, _ = parallel_corpus(tmp_path / "p.csv")
    tiny = dict(hidden=8, seeds=2, steps=4, batch_size=8, eval_every=2, eval_samples=10, proxy_steps=3)
    r = verify(
        "translation", data=Path(f"{f}?input=en&output=de"), device="cpu", out_dir=tmp_path / "t",
        progress=False, overrides=tiny,
    )  # fmt: skip
    names = {v.name for v in r.verdicts}
    assert {"ktiw-under-uniform", "agreement-table"} <= names
    assert all(v.subject.endswith("align=theory") for v in r.verdicts if v.name == "agreement-table")
    # the authors' translation LSTM: 2 layers with dropout 0.5 between them, for both runs
    for run in (tmp_path / "t" / "runs").iterdir():
        model = json.loads((run / "config.json").read_text())["model_config"]
        assert (model["layers"], model["dropout"]) == (2, 0.5)
    with pytest.raises(KtiwError, match="takes one --data PARALLEL"):
        verify("translation", specs=["subset:L=3,V=5"], out_dir=tmp_path / "u", progress=False)
