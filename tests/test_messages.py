"""Messages that mislead (issue 21, class 11).

* a FIFO given as a data file, a tokeniser or a run directory is named as what it is, not
  "does not exist";
* two different labels never share a run folder, and a spec written with non-ASCII digits
  names its folder with ASCII ones (``subset:L=٣,V=٤`` -> ``subset-L3-V4``);
* ``ktiw plot`` of a diverged run prints no numpy warning and says in one line what diverged.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ktiw.core import console
from ktiw.core.errors import DataFileError, KtiwError, SpecError
from ktiw.data.families import from_spec
from ktiw.empirics.train_config import TrainConfig
from ktiw.empirics.trainer import train
from ktiw.runs.plots import diverged_note, plot_runs
from ktiw.runs.rundir import load_run, run_name


def test_fifo_is_named_as_a_pipe_everywhere(tmp_path: Path) -> None:
    from ktiw.data.corpus import load_distribution
    from ktiw.empirics.resume import resume

    for name in ("d.tsv", "t.model", "run"):
        os.mkfifo(tmp_path / name)
    with pytest.raises(DataFileError, match="is not a regular file"):
        load_distribution(str(tmp_path / "d.tsv"))
    (tmp_path / "ok.tsv").write_text("a\tb\n")
    with pytest.raises(KtiwError, match=r"t\.model is not a regular file \(a named pipe\)"):
        load_distribution(f"{tmp_path / 'ok.tsv'}?tokenizer={tmp_path / 't.model'}")
    with pytest.raises(KtiwError, match=r"the run directory is not a directory \(a named pipe\)"):
        resume(tmp_path / "run", progress=False)
    with pytest.raises(KtiwError, match=r"run directory .* is not a directory \(a named pipe\)"):
        load_run(tmp_path / "run")


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("subset:L=٣,V=٤", "subset-L3-V4-toy"),  # Arabic-Indic
        ("subset:L=۳,V=۵", "subset-L3-V5-toy"),  # Persian
        ("subset:L=३,V=५", "subset-L3-V5-toy"),  # Devanagari
        ("subset:L=３,V=６", "subset-L3-V6-toy"),  # full width
        ("subset : L = 3 , V = 4", "subset-L3-V4-toy"),
        ("subset:L=10,V=15", "subset-L10-V15-toy"),  # names of stored runs do not change
        ("translate:L=6,V=9,reorder=reverse", "translate-L6-V9-reorderreverse-toy"),
    ],
)
def test_specs_name_their_folder_readably(spec: str, name: str) -> None:
    assert run_name(spec, "toy") == name


def test_different_specs_never_share_a_folder() -> None:
    """Before: both were ``subset-L_-V_-toy``."""
    assert run_name("subset:L=٣,V=٩", "toy") != run_name("subset:L=٤,V=٩", "toy")


def _canonical(label: str) -> str:
    try:
        return from_spec(label).spec
    except SpecError:
        return label


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12), st.text(max_size=12))
def test_run_names_are_unique_and_safe(a: str, b: str) -> None:
    """Distinct labels get distinct names unless they are the same spec; a name is one path
    component of at most 255 bytes."""
    na, nb = run_name(a, "toy"), run_name(b, "toy")
    for n in (na, nb):
        assert "/" not in n and "\x00" not in n and n not in (".", "..") and len(n.encode()) <= 255
    if _canonical(a) != _canonical(b) and a != b:
        assert na != nb, (a, b)


def test_long_labels_are_cut_and_stay_unique() -> None:
    a, b = "x" * 300 + "a", "x" * 300 + "b"
    assert run_name(a, "toy") != run_name(b, "toy") and len(run_name(a, "toy").encode()) < 130


@pytest.fixture(scope="module")
def diverged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose two seeds' loss went NaN at step 2, written as the trainer writes one (a tiny
    run whose later rows are marked so: no learning rate within MAX_LR makes a tiny run
    diverge reliably)."""
    cfg = TrainConfig(
        spec="subset:L=3,V=4", model="lstm", seeds=[0, 1], steps=4, batch_size=4, eval_every=2,
        eval_samples=4, proxy_steps=0, threads=1, model_config={"hidden": 8},
    )  # fmt: skip
    run = train(cfg, tmp_path_factory.mktemp("div") / "run", progress=False)
    lines = (run / "curves.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [line.split(",") for line in lines[1:]]
    for row in rows:
        if int(row[header.index("step")]) >= 2:
            row[header.index("loss")] = "nan"  # as the trainer records a diverged seed
            row[header.index("diverged")] = "1"
    (run / "curves.csv").write_text("\n".join([lines[0], *(",".join(r) for r in rows)]) + "\n")
    summary = json.loads((run / "summary.json").read_text())
    for s in summary["seeds"]:
        s.update(diverged=True, diverged_step=2)
    summary.pop("complete", None)  # the completeness record hashes curves.csv: as an older run
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def test_plot_of_a_diverged_run_says_so_without_warnings(
    diverged: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: the overlay printed numpy's "Mean of empty slice" and said nothing of divergence."""
    run = load_run(diverged)
    assert not np.isfinite(run.curves["loss"]).all()
    console._NOTED.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot_runs([run], tmp_path / "one")
        plot_runs([run, run], tmp_path / "two")
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"note: {diverged_note([run])}", f"note: {diverged_note([run, run])}"]
    assert (
        err[0].startswith("note: diverged, drawn up to their last finite values:")
        and "seeds 0 (step" in err[0]
    )
