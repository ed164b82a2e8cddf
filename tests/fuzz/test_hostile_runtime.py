"""Issue 21 (classes 5 and 6) in the fuzz suite: Hypothesis over ``--resume`` options and over
damaged files of a finished run.  ``--resume`` with any options either applies them (exit 0,
a finished, intact run) or refuses in one line and leaves the run as it was; any change to
``curves.csv`` or a probe file of a finished run is caught by ``plot`` in one line.  Example
counts are modest (the whole file runs in well under 30 s on 2 cores)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ktiw.core.errors import KtiwError
from ktiw.empirics import trainer as tr
from ktiw.runs import rundir

from .test_hostile_inputs import check, invoke

FAST = settings(max_examples=7, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CFG = dict(
    spec="subset:L=3,V=4",
    model="toy",
    steps=4,
    seeds=[0, 1],
    batch_size=4,
    eval_samples=4,
    eval_every=2,
    checkpoint_every=2,
    proxy_steps=0,
)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    return tr.train(dict(CFG), tmp_path_factory.mktemp("fin") / "run", progress=False)


def snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


OPTION_VALUES = {
    "--steps": st.sampled_from(["1", "2", "4", "5", "6", "0", "-1", "1e9", "abc"]),
    "--lr": st.sampled_from(["0.001", "1e-3", "0.5", "1e308", "nan", "0"]),
    "--batch-size": st.sampled_from(["4", "8", "0"]),
    "--seeds": st.sampled_from(["2", "0,1", "3", "1,0", "0"]),
    "--dtype": st.sampled_from(["float32", "float64", "bf16"]),
    "--model": st.sampled_from(["toy", "lstm", "nope"]),
    "--eval-every": st.sampled_from(["2", "3"]),
    "--threads": st.sampled_from(["1", "2", "0"]),
    "--device": st.sampled_from(["cpu", "auto", "cuda:9"]),
    "--out": st.sampled_from(["run", "other", "."]),
    "--opt": st.sampled_from(["init=zero", "init=eps", "eps=1e300", "x=1"]),
    "--toy-init": st.sampled_from(["zero", "normal"]),
    "--format": st.sampled_from(["csv", "tsv"]),
    "--stop-at": st.sampled_from(["0.5", "1"]),
}
options = st.dictionaries(st.sampled_from(sorted(OPTION_VALUES)), st.none(), max_size=3).flatmap(
    lambda keys: st.tuples(*[st.tuples(st.just(k), OPTION_VALUES[k]) for k in keys])
)


@FAST
@given(opts=options)
def test_resume_applies_or_refuses_every_option(tmp_path_factory, finished, opts) -> None:
    work = tmp_path_factory.mktemp("resume")
    run = work / "run"
    shutil.copytree(finished, run)
    before = snapshot(run)
    args = [a for kv in opts for a in kv]
    res = invoke(
        [
            "train",
            "--resume",
            str(run),
            "--quiet",
            *[str(work / a) if a in ("run", "other") else a for a in args],
        ]
    )
    check(res)
    if res.exit_code == 2:
        assert snapshot(run) == before, args
        assert not (work / "other").exists()
    else:
        assert rundir.check_intact(run) is None
        summary = json.loads((run / "summary.json").read_text())
        assert summary["finished"], args
        given_steps = dict(opts).get("--steps")
        assert summary["last_step"] == (int(given_steps) if given_steps else CFG["steps"])


def _cut_lines(text: bytes, n: int) -> bytes:
    lines = text.splitlines(keepends=True)
    return b"".join(lines[: max(1, len(lines) - n)])


damage = st.one_of(
    st.tuples(st.just("lines"), st.integers(1, 6)),
    st.tuples(st.just("bytes"), st.integers(1, 40)),
    st.tuples(st.just("flip"), st.floats(0.0, 0.999)),
    st.tuples(st.just("append"), st.sampled_from([b"0,4,0.1,0.5,0.5,0.5,0.5,0.5,0.5,0\n", b"\n", b"x"])),
    st.tuples(st.just("swap"), st.just(b"")),  # another valid probe archive of the same run
)


@FAST
@given(
    target=st.sampled_from(["curves.csv", "probes/last", "probes/first"]), how=damage, legacy=st.booleans()
)
def test_any_change_to_a_finished_runs_files_is_caught(
    tmp_path_factory, finished, target, how, legacy
) -> None:
    run = tmp_path_factory.mktemp("damaged") / "run"
    shutil.copytree(finished, run)
    if legacy:  # written before the completion record: curves are checked against the summary
        if target != "curves.csv" or how[0] in ("flip", "swap"):
            return  # (a legacy run's probe contents and edited values have no record to check against)
        summary = json.loads((run / "summary.json").read_text())
        del summary["complete"]
        (run / "summary.json").write_text(json.dumps(summary))
    probes = sorted((run / "probes").glob("step_*.npz"))
    path = {"curves.csv": run / "curves.csv", "probes/last": probes[-1], "probes/first": probes[0]}[target]
    data = path.read_bytes()
    kind, arg = how
    if kind == "lines":
        new = _cut_lines(data, arg)
    elif kind == "bytes":
        new = data[: max(1, len(data) - arg)]
    elif kind == "flip":
        i = int(len(data) * arg)
        new = data[:i] + bytes([data[i] ^ 0x5A]) + data[i + 1 :]
    elif kind == "swap":
        if target == "curves.csv":
            return
        new = (probes[0] if path == probes[-1] else probes[-1]).read_bytes()
    else:
        new = data + arg
    if legacy and kind == "append" and arg == b"\n":
        return  # an empty trailing line changes no row
    path.write_bytes(new)
    # plot reads only the curves, but a finished run proves every file it recorded (load_run)
    res = invoke(["plot", str(run), "--out", str(run.parent / "figs")])
    check(res)
    assert res.exit_code == 2, (target, how, legacy, res.output)
    if target != "curves.csv":  # what verify and reuse read: every probe file is checked against the record
        assert rundir.check_intact(run) is not None
        with pytest.raises(KtiwError, match="damaged"):
            loaded = rundir.load_run(run)
            step = int(path.stem.split("_")[1])
            loaded.probes(step)
