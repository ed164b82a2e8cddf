"""``--reuse`` finds a run directory only when the config that determines the numbers is equal."""

from __future__ import annotations

import json
from pathlib import Path

from ktiw.empirics.runfiles import CURVE_COLUMNS
from ktiw.runs.reuse import find_matching, find_reusable, same_config

BASE = {
    "spec": "subset:L=4,V=6",
    "model": "lstm",
    "uniform": False,
    "seeds": [0, 1],
    "steps": 20,
    "lr": 1e-3,
    "model_config": {"hidden": 16},
}


def _run(root: Path, name: str, config: dict, finished: bool = True) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({**config, "versions": {"torch": "x"}, "git_commit": "abc"}))
    (d / "summary.json").write_text(json.dumps({"seeds": [], "finished": finished, "interrupted": False}))
    header = ",".join(CURVE_COLUMNS)
    rows = "".join(f"{s}," + ",".join(["0"] * (len(CURVE_COLUMNS) - 1)) + "\n" for s in config["seeds"])
    (d / "curves.csv").write_text(f"{header}\n{rows}")
    return d


def test_same_config_ignores_provenance_only() -> None:
    assert same_config(BASE, {**BASE, "preset": "quick", "git_commit": "other", "versions": {}})
    assert same_config({**BASE, "seeds": (0, 1)}, BASE)  # tuples vs JSON lists
    assert not same_config({**BASE, "steps": 21}, BASE)
    assert not same_config(BASE, {**BASE, "model_config": {"hidden": 32}})
    assert not same_config({**BASE, "dtype": "float64"}, BASE)  # a field the record lacks


def test_find_reusable_needs_equal_config_and_finished_run(tmp_path: Path) -> None:
    _run(tmp_path, "a-other", {**BASE, "uniform": True})
    _run(tmp_path, "b-unfinished", BASE, finished=False)
    assert find_reusable(BASE, tmp_path.iterdir()) is None
    good = _run(tmp_path, "c-good", BASE)
    (tmp_path / "d-broken").mkdir()
    (tmp_path / "d-broken" / "config.json").write_text("{not json")
    assert find_reusable(BASE, tmp_path.iterdir()) == good


def test_unfinished_run_with_checkpoint_is_offered_for_resuming(tmp_path: Path) -> None:
    half = _run(tmp_path, "a-half", BASE, finished=False)
    assert find_matching(BASE, tmp_path.iterdir()) is None  # no checkpoint: nothing to resume
    (half / "checkpoint.pt").write_bytes(b"")
    match = find_matching(BASE, tmp_path.iterdir())
    assert match is not None and match.path == half and not match.finished
    done = _run(tmp_path, "b-done", BASE)
    assert find_matching(BASE, tmp_path.iterdir()).path == done  # a finished run wins


def test_requested_none_matches_the_resolved_value() -> None:
    assert same_config({**BASE, "probe_every": None}, {**BASE, "probe_every": 10})
    assert not same_config({**BASE, "probe_every": 5}, {**BASE, "probe_every": 10})
def test_damaged_run_is_not_reused(tmp_path: Path, capsys) -> None:
    bad = _run(tmp_path, "a-damaged", BASE)
    (bad / "curves.csv").write_text("seed,step\n")
    assert find_reusable(BASE, tmp_path.iterdir()) is None
    err = capsys.readouterr().err
    assert "not reusing" in err and "curves.csv is damaged" in err and "training a new run instead" in err


def test_finished_run_cut_at_a_line_boundary_is_neither_reused_nor_resumed(tmp_path: Path, capsys) -> None:
    """Issue 21, class 6: ``verify --reuse`` must not read a run whose curves lost their tail."""
    from ktiw.empirics import trainer as tr
    from ktiw.runs.reuse import find_matching

    cfg = dict(spec="subset:L=3,V=4", model="toy", steps=4, seeds=[0], batch_size=4, eval_samples=4,
               eval_every=2, checkpoint_every=2, proxy_steps=0)  # fmt: skip
    run = tr.train(cfg, tmp_path / "a", progress=False)
    recorded = json.loads((run / "config.json").read_text())
    assert find_matching(recorded, [run]) is not None
    lines = (run / "curves.csv").read_text().splitlines(keepends=True)
    (run / "curves.csv").write_text("".join(lines[:-1]))
    assert find_matching(recorded, [run]) is None
    assert "not reusing" in capsys.readouterr().err
