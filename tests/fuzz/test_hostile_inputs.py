"""Hostile input never ends in a traceback: generated specs, option values, data files and
damaged run directories give exit 2 (or 0 where the input is legitimately fine), at most one
line on stderr, and leave an existing run directory untouched when they are refused.

The bulk runs in-process through typer's runner; a sample goes through the real console
entry point in a subprocess.  Example counts are modest here; ``--hypothesis-profile=long``
runs many more.  (benchmarks/hostile_inputs.py is the fixed census of about 400 cases.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ktiw.cli.app import main
from ktiw.empirics import trainer as tr

FAST = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ENTRY = [sys.executable, "-c", "import sys; from ktiw.cli.app import main; sys.argv[0] = 'ktiw'; main()"]
TINY = ["--model", "toy", "--steps", "2", "--seeds", "1", "--eval-samples", "2", "--batch-size", "2",
        "--proxy-steps", "0", "--quiet"]


class Result:
    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.exit_code, self.stdout, self.stderr = exit_code, stdout, stderr
        self.output = stdout + stderr


def invoke(args: list[str]) -> Result:
    """Run the console entry point :func:`ktiw.cli.app.main` in this process (its outer error
    boundary included), capturing stdout and stderr."""
    import contextlib
    import io
    import signal

    out, err = io.StringIO(), io.StringIO()
    old_argv, old_term = sys.argv, signal.getsignal(signal.SIGTERM)
    sys.argv = ["ktiw", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old_argv
        signal.signal(signal.SIGTERM, old_term)
    return Result(code, out.getvalue(), err.getvalue())


def check(res, allowed=(0, 2)) -> None:
    """The property: an allowed exit code, no traceback, at most one line on stderr."""
    stderr = res.stderr
    assert res.exit_code in allowed, (res.exit_code, res.output)
    assert "Traceback" not in res.output
    assert len([ln for ln in stderr.splitlines() if ln.strip()]) <= 1, stderr
    if res.exit_code == 2:
        assert stderr.startswith("error: ")


# ------------------------------------------------------------------ strategies

FAMILIES = ["subset", "permutation", "iid", "translate", "keyword", "nope", "", "SUBSET"]
value = st.one_of(
    st.integers(-5, 12).map(str),
    st.sampled_from(["", "abc", "1e9", "0x10", "3.5", "nan", "[/]", "1_0", "٣", "99999999999999999999"]),
)
item = st.tuples(st.sampled_from(["L", "V", "K", "reorder", "seed", "x", ""]), value).map("=".join)
specs = st.one_of(
    st.builds(lambda f, items, sep: f + sep + ",".join(items), st.sampled_from(FAMILIES),
              st.lists(item, max_size=4), st.sampled_from([":", "", "::", ": "])),
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=30),
)
numbers = st.one_of(
    st.integers(-3, 3).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "abc", "", "99999999999999999999999", "0.5", "[/]"]),
)
NUMERIC = ["--steps", "--batch-size", "--lr", "--eval-every", "--eval-samples", "--probe-every",
           "--checkpoint-every", "--proxy-steps", "--threads", "--toy-eps", "--seeds"]
opt_kv = st.builds(
    lambda k, v: f"{k}={v}",
    st.sampled_from(["hidden", "embedding", "layers", "bidirectional", "init", "eps", "nokey", ""]),
    st.sampled_from(["abc", "-1", "0", "1.5", "true", "null", "[1]", "{}", "NaN", "Infinity", "3", '"e"']),
)
WORDS = ["a", "b", "c", "dé", "[/]", "x" * 40]
words = st.lists(st.sampled_from(WORDS), min_size=0, max_size=6).map(" ".join)
SEPARATORS = ["\t", "\t\t", " ", "\t#", ""]
line = st.builds(lambda a, sep, b: f"{a}{sep}{b}", words, st.sampled_from(SEPARATORS), words)
text_file = st.builds(
    lambda lines, nl, bom: (b"\xef\xbb\xbf" if bom else b"") + nl.join(x.encode() for x in lines),
    st.lists(line, max_size=6), st.sampled_from([b"\n", b"\r\n", b"\r"]), st.booleans(),
)
data_bytes = st.one_of(
    text_file,
    st.binary(max_size=300),
    st.lists(line, min_size=1, max_size=4).map(lambda ls: "\n".join(ls).encode("latin-1", "replace")),
    st.just(("a " * 20_000 + "\tb\n").encode()),
)


# ------------------------------------------------------------------ properties


@FAST
@given(spec=specs)
def test_any_spec_predict(spec) -> None:
    check(invoke(["predict", "--model", "toy", spec]))


@FAST
@given(opt=st.sampled_from(NUMERIC), val=numbers, kv=opt_kv)
def test_any_train_option(tmp_path_factory, opt, val, kv) -> None:
    out = tmp_path_factory.mktemp("o") / "run"
    res = invoke(["train", "subset:L=3,V=4", *TINY, "--opt", kv, opt, val, "--out", str(out)])
    check(res)


@FAST
@given(data=data_bytes, command=st.sampled_from(["predict", "--model", "toy", "train"]))
def test_any_data_file(tmp_path_factory, data, command) -> None:
    d = tmp_path_factory.mktemp("d")
    (d / "f.txt").write_bytes(data)
    args = ["predict", "--model", "toy", "--data", str(d / "f.txt")] if command == "predict" else [
        "train", "--data", str(d / "f.txt"), *TINY, "--out", str(d / "run")]
    check(invoke(args))


@pytest.mark.parametrize("kind", ["fifo", "directory", "dev-zero", "missing"])
def test_special_files_are_refused_without_blocking(tmp_path, kind) -> None:
    path = {"fifo": tmp_path / "f", "directory": tmp_path, "dev-zero": Path("/dev/zero"),
            "missing": tmp_path / "nope"}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    res = invoke(["predict", "--model", "toy", "--data", str(path)])
    check(res, allowed=(2,))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    cfg = dict(spec="subset:L=3,V=4", model="toy", steps=6, seeds=[0, 1], batch_size=2, eval_samples=2,
               eval_every=2, checkpoint_every=2, proxy_steps=2)
    run = tmp_path_factory.mktemp("pristine") / "run"

    def stop(t: tr.Trainer) -> None:
        if t.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tr.train(cfg, run, progress=False, callback=stop)
    return run


def snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


FILES = ["config.json", "curves.csv", "summary.json", "checkpoint.pt", "checkpoint.prev.pt",
         "probes/proxy.npz", "probes/step_000002.npz"]
damage = st.tuples(
    st.sampled_from(FILES),
    st.sampled_from(["truncate", "flip", "delete", "empty", "json-edit"]),
    st.floats(0, 1),
)


def apply(run: Path, name: str, how: str, at: float) -> None:
    p = run / name
    if not p.exists():
        return
    data = p.read_bytes()
    if how == "truncate":
        p.write_bytes(data[: int(len(data) * at)])
    elif how == "flip":
        i = min(int(len(data) * at), max(len(data) - 1, 0))
        p.write_bytes(data[:i] + bytes(b ^ 0xFF for b in data[i : i + 8]) + data[i + 8 :])
    elif how == "delete":
        p.unlink()
    elif how == "empty":
        p.write_bytes(b"")
    else:
        p.write_bytes(data.replace(b'"seeds"', b'"sEEds"').replace(b'"steps": 6', b'"steps": "6"'))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damages=st.lists(damage, min_size=1, max_size=3), command=st.sampled_from(["resume", "plot", "out"]))
def test_any_damaged_run_directory(tmp_path_factory, pristine, damages, command) -> None:
    run = tmp_path_factory.mktemp("dmg") / "run"
    shutil.copytree(pristine, run)
    for name, how, at in damages:
        apply(run, name, how, at)
    before = snapshot(run)
    args = {
        "resume": ["train", "--resume", str(run), "--quiet"],
        "plot": ["plot", str(run), "--out", str(run.parent / "plots")],
        "out": ["train", "subset:L=3,V=5", *TINY, "--out", str(run)],
    }[command]
    res = invoke(args)
    check(res, allowed=(2,) if command == "out" else (0, 2))
    if res.exit_code == 2 or command == "plot":  # refused (or only read): the run is untouched
        assert snapshot(run) == before


@pytest.mark.parametrize(
    "args",
    [
        ["predict", "--model", "toy", "subset:L=6,V=9[/]"],
        ["train", "subset:L=5,V=1000000000", *TINY],
        ["train", "subset:L=3,V=4", *TINY, "--lr", "inf"],
        ["plot", "no[/]such"],
        ["verify", "--set", "hidden=abc"],
    ],
)
def test_console_entry_point_sample(tmp_path, args) -> None:
    """The same property through the real entry point (its own process, outer boundary)."""
    p = subprocess.run([*ENTRY, *args], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                       env=dict(os.environ, OMP_NUM_THREADS="1"), check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("error: ")
