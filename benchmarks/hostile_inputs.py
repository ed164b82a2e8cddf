"""Hostile-input census: run about 1,150 bad (and some legitimate) inputs in 20 families
through the ``ktiw`` console entry point and count, per family, clean exits against
tracebacks, hangs and silently wrong results.  The families of this file are the original
census (markup, sizes, options, specs, datafiles, outpaths, rundirs, cache);
``hostile_data.py`` and ``hostile_runtime.py`` add the twelve classes of issue 21.

Each case is one ``ktiw ...`` command in a fresh process (the real console script), with its
files prepared in a scratch directory.  A case is

* ``clean``     when stderr holds no Python traceback, stderr has at most one line, the
  process ended within its time limit, and the exit code is the expected one (2 for an input
  that must be refused; 0 for a legitimate one; for ``either`` cases 0 or 2);
* ``traceback`` when stderr holds ``Traceback (most recent call last)`` (or the process died
  of an uncaught signal / memory error);
* ``wrong``     when it exited 0 on input that must be refused, or non-2 / multi-line
  stderr otherwise (silently wrong or noisy, but no traceback), exited 2 without a word on
  stderr, or failed the case's own ``check`` (a silent loss: a lost stdout, a prediction
  that differs from the one made without a damaged cache, ...; see ``hostile_data.py``);
* ``hung``      when it ran past its time limit (a FIFO without writer, /dev/zero, ...).

Reproduce (about 40 minutes with ``--jobs 2`` on the shared 2-core machine at load 3-4; the
stored result, with its command, commit and load, is docs/data/hostile/README.md)::

    OMP_NUM_THREADS=1 python benchmarks/hostile_inputs.py [--jobs 2] [--family NAME] [--json out.json]

It prints the table ``family, inputs tried, clean, tracebacks, wrong, hung`` (and each case
that is not clean on stderr as it ends).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

KTIW = [sys.executable, "-c", "import sys; from ktiw.cli.app import main; sys.argv[0] = 'ktiw'; main()"]
TINY = [
    "--model",
    "toy",
    "--steps",
    "4",
    "--seeds",
    "2",
    "--eval-samples",
    "4",
    "--batch-size",
    "4",
    "--proxy-steps",
    "2",
    "--checkpoint-every",
    "2",
    "--quiet",
]
TINY_SPEC = "subset:L=3,V=4"
MODE_BITS = "refuse" if os.geteuid() != 0 else "either"
"""The expectation of a case that relies on mode bits (a chmod 0 file, a 0500 folder): root
reads and writes through them (DAC override), so as root the command rightly succeeds."""


@dataclass
class Case:
    family: str
    args: list[str]
    expect: str = "refuse"  # refuse | ok | either | verdict (a verify outcome that is no refutation: 0 or 3)
    setup: Callable[[Path], None] | None = None
    timeout: float = 60.0
    check_unchanged: str | None = None  # a path (relative to scratch) that must not change
    name: str = ""
    env: dict[str, str | None] | None = None  # variables set for this case (None: unset; "{dir}": scratch)
    stdout: str = "pipe"  # pipe | closed | full (/dev/full) | broken (a pipe whose reader has gone)
    stderr: str = "pipe"  # pipe | closed | full
    fsize: int | None = None  # RLIMIT_FSIZE in bytes for the case (ulimit -f): writes beyond it fail
    check: Callable[[Path, int, str, str], str | None] | None = None
    """Extra check ``(scratch dir, exit code, stdout, stderr) -> why the outcome is wrong, or None``."""
    result: dict[str, object] = field(default_factory=dict)


# ------------------------------------------------------------------ fixtures


def make_run(path: Path, *, steps: int = 6, interrupt_at: int | None = None, proxy: int = 2) -> None:
    """A tiny toy run directory (optionally interrupted after step ``interrupt_at``)."""
    code = textwrap.dedent(
        f"""
        from ktiw.empirics import trainer as tr
        from ktiw.empirics.train_config import TrainConfig
        cfg = TrainConfig(spec={TINY_SPEC!r}, model='toy', steps={steps}, seeds=[0, 1], batch_size=4,
                             eval_samples=4, eval_every=2, checkpoint_every=2, proxy_steps={proxy})
        def cb(t):
            if {interrupt_at!r} is not None and t.step == {interrupt_at!r}:
                raise KeyboardInterrupt
        try:
            tr.train(cfg, {str(path)!r}, progress=False, callback=cb)
        except KeyboardInterrupt:
            pass
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


_RUN_CACHE: dict[str, Path] = {}


def base_run(kind: str, root: Path) -> Path:
    """A pristine run made once per kind (finished / interrupted), copied by each case."""
    if kind not in _RUN_CACHE:
        path = root / f"_base_{kind}"
        make_run(path, interrupt_at=3 if kind == "interrupted" else None)
        _RUN_CACHE[kind] = path
    return _RUN_CACHE[kind]


def copy_run(kind: str, dest: Path) -> None:
    shutil.copytree(base_run(kind, dest.parent.parent), dest)


def write(rel: str, data: bytes | str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)

    return setup


def seq(*fns: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        for f in fns:
            f(d)

    return setup


def intact_if_resumed(rel: str) -> Callable[[Path, int, str, str], str | None]:
    """A check: a run that ``--resume`` completed (exit 0) reads back whole and is complete
    (:func:`ktiw.runs.rundir.check_intact`), so no damaged file was certified as the run's."""

    def check(d: Path, rc: int, out: str, err: str) -> str | None:
        if rc != 0:
            return None
        code = "import sys; from ktiw.runs.rundir import check_intact; print(check_intact(sys.argv[1]) or '')"
        cmd = [sys.executable, "-c", code, str(d / rel)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        why = p.stdout.strip() or (p.stderr.strip().splitlines() or [""])[-1]
        return f"resumed with exit 0, but the run is not intact: {why}"[:300] if why else None

    return check


def damaged_run(kind: str, damage: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        copy_run(kind, d / "run")
        damage(d / "run")

    return setup


def truncate(rel: str, keep: float) -> Callable[[Path], None]:
    def f(run: Path) -> None:
        p = run / rel
        data = p.read_bytes()
        p.write_bytes(data[: int(len(data) * keep)])

    return f


def flip(rel: str, at: float) -> Callable[[Path], None]:
    def f(run: Path) -> None:
        p = run / rel
        data = bytearray(p.read_bytes())
        i = int(len(data) * at)
        for j in range(i, min(i + 16, len(data))):
            data[j] ^= 0xFF
        p.write_bytes(bytes(data))

    return f


def delete(rel: str) -> Callable[[Path], None]:
    def f(run: Path) -> None:
        p = run / rel
        shutil.rmtree(p) if p.is_dir() else p.unlink()

    return f


def edit_json(rel: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    def f(run: Path) -> None:
        p = run / rel
        obj = json.loads(p.read_text())
        change(obj)
        p.write_text(json.dumps(obj))

    return f


def replace_text(rel: str, text: str) -> Callable[[Path], None]:
    def f(run: Path) -> None:
        (run / rel).write_text(text)

    return f


# ------------------------------------------------------------------ families


def markup_cases() -> list[Case]:
    bad = ["[/]", "[bold]", "[red]x[/red]", "[/bold]", "[link=x]", "[[", "]", "\\[x]", "[/ ]", "[b"]
    cases = []
    for b in bad:
        cases.append(Case("markup", ["predict", f"subset:L=6,V=9{b}"]))
        cases.append(Case("markup", ["predict", "--data", f"d{b}.txt"]))
        cases.append(Case("markup", ["train", f"subset:L=3{b}", *TINY]))
        cases.append(Case("markup", ["plot", f"nonexistent{b}"]))
    cases.append(Case("markup", ["train", "--data", "x[/].txt", *TINY]))
    cases.append(Case("markup", ["train", TINY_SPEC, *TINY, "--out", "f[/]"], setup=write("f[/]", "x")))
    cases.append(Case("markup", ["train", TINY_SPEC, *TINY, "--out", "o[/]"], expect="ok"))
    cases.append(Case("markup", ["verify", "permutation:L=3[/]", "--steps", "2", "--seeds", "2"]))
    cases.append(Case("markup", ["verify", "--preset", "q[/]"]))
    cases.append(Case("markup", ["train", TINY_SPEC, "--model", "m[/]"]))
    return cases


def size_cases() -> list[Case]:
    cases = []
    for spec in [
        "subset:L=1000000000,V=1000000000",
        "subset:L=5,V=1000000000",
        "iid:L=100000000,V=5",
        "permutation:L=100000",
        "translate:L=5,V=1000000000",
        "iid:L=3,V=10000000000000000000000",
    ]:
        cases.append(Case("sizes", ["train", spec, *TINY]))
        cases.append(Case("sizes", ["predict", spec], expect="either", timeout=60))
    for opt, val in [
        ("--steps", "99999999999999999999999"),
        ("--seeds", "99999999999999999999"),
        ("--seeds", "100000000"),
        ("--batch-size", "1000000000000"),
        ("--eval-samples", "10000000000"),
        ("--opt", "hidden=100000000"),
        ("--opt", "embedding=1000000000"),
        ("--hidden", "1000000000"),
        ("--layers", "100000000"),
        ("--threads", "100000000000000000000"),
        ("--steps", "1e30"),
    ]:
        args = ["train", TINY_SPEC, *TINY]
        # the last given value of an option wins in click
        cases.append(Case("sizes", [*args, opt, val]))
    cases.append(Case("sizes", ["train", TINY_SPEC, *TINY, "--model", "lstm", "--hidden", "1000000"]))
    # a 2.5-million-word line is valid input: predict reads it in ~40 MB, and training is refused
    # only when its memory estimate (1.5 GiB here) is over the limit (80% of RAM or
    # KTIW_MAX_MEMORY), so the outcome depends on the machine; with a 256 MiB limit it is refused
    big = ("a " * 2_500_000).strip()
    big_pair, big_src = write("big.txt", f"{big}\t{big}\n"), write("big.txt", f"{big}\tb\n")
    cases.append(Case("sizes", ["predict", "--data", "big.txt"], expect="either", setup=big_pair))
    cases.append(Case("sizes", ["train", "--data", "big.txt", *TINY], expect="either", setup=big_src))
    cases.append(
        Case("sizes", ["train", "--data", "big.txt", *TINY], setup=big_src, env={"KTIW_MAX_MEMORY": "256M"})
    )
    wide = " ".join(f"w{i}" for i in range(200_000))
    cases.append(
        Case("sizes", ["predict", "--data", "wide.txt"], setup=write("wide.txt", f"{wide}\t{wide}\n"))
    )
    cases.append(Case("sizes", ["verify", "--seeds", "100000000000", "--steps", "2"]))
    cases.append(Case("sizes", ["verify", "--steps", "99999999999999999999999"]))
    cases.append(Case("sizes", ["verify", "--set", "hidden=100000000", "--steps", "2", "--seeds", "2"]))
    cases.append(Case("sizes", ["predict", "subset:L=40,V=60", "--eps", "1e-400"], expect="either"))
    return cases


def option_cases() -> list[Case]:
    cases = []
    numeric = {
        "--steps": ["-1", "abc", "0.5"],
        "--batch-size": ["0", "-5", "nan"],
        "--lr": ["inf", "nan", "-1", "0", "-inf", "1e309"],
        "--eval-every": ["0", "-1"],
        "--eval-samples": ["0", "-3"],
        "--probe-every": ["-1", "-100"],
        "--checkpoint-every": ["0", "-1"],
        "--proxy-steps": ["-1"],
        "--hidden": ["0", "-4"],
        "--layers": ["0", "-1"],
        "--heads": ["0", "-2"],
        "--toy-eps": ["nan", "inf", "-inf"],
        "--threads": ["0", "-1"],
        "--seeds": ["0", "-1", "1,1", "a,b", ",", "-2,3", ""],
        "--dtype": ["float16", "int"],
        "--device": ["tpu", "cuda:x", ""],
        "--toy-init": ["bogus"],
        "--preset": ["huge", ""],
        "--model": ["bogus", ""],
    }
    for opt, vals in numeric.items():
        for v in vals:
            model = (
                "toy"
                if opt.startswith("--toy")
                else (
                    "multihead" if opt == "--heads" else "lstm" if opt in ("--hidden", "--layers") else "toy"
                )
            )
            args = ["train", TINY_SPEC, *TINY, "--model", model, opt, v]
            cases.append(Case("options", args))
    for kv in [
        "hidden=abc",
        "hidden=-1",
        "hidden=0",
        "hidden=1.5",
        "hidden=true",
        "hidden=null",
        "embedding=abc",
        "embedding=-3",
        "layers=abc",
        "bidirectional=maybe",
        "nokey=1",
        "=3",
        "hidden",
        "hidden=[1,2]",
        "hidden={}",
        "hidden=NaN",
        "layers=Infinity",
    ]:
        cases.append(Case("options", ["train", TINY_SPEC, *TINY, "--model", "lstm", "--opt", kv]))
    for kv in ["eps=nan", "eps=abc", "init=bogus", "eps=-Infinity"]:
        cases.append(Case("options", ["train", TINY_SPEC, *TINY, "--opt", kv]))
    for kv in [
        "hidden=abc",
        "hidden=-1",
        "steps=0",
        "seeds=abc",
        "lr=NaN",
        "lr=-1",
        "batch_size=0",
        "eval_every=0",
        "probe_every=-1",
        "eps=abc",
        "nosuch=1",
        "specs=3",
        "hidden=1.5",
        "eval_samples=abc",
    ]:
        cases.append(Case("options", ["verify", "--steps", "2", "--seeds", "2", "--set", kv], timeout=90))
    for extra in [
        ["--threads", "0"],
        ["--seeds", "0"],
        ["--steps", "0"],
        ["--steps", "-1"],
        ["--experiment", "bogus"],
        ["--device", "tpu"],
    ]:
        cases.append(Case("options", ["verify", *extra], timeout=90))
    for eps in ["nan", "inf", "-1", "0", "abc", "-inf"]:
        cases.append(Case("options", ["predict", "subset:L=6,V=6", "--eps", eps]))
    return cases


def spec_cases() -> list[Case]:
    specs = [
        "",
        ":",
        "subset",
        "subset:",
        "subset:L=",
        "subset:L=3,V",
        "subset:L=3,,V=4",
        "subset:L=3,V=4,L=3",
        "subset:L=-1,V=4",
        "subset:L=0,V=4",
        "subset:L=5,V=4",
        "subset:L=3.5,V=4",
        "subset:L=abc,V=4",
        "subset:L=0x10,V=20",
        "SUBSET:L=3,V=4",
        "subset:l=3,v=4",
        "nope:L=3",
        "permutation:L=1",
        "permutation:V=3",
        "translate:L=3,V=4,reorder=sideways",
        "translate:L=3,V=4,seed=-1",
        "subset:L=3,V=4,extra=1",
        "subset : L = 3 , V = 4",
        "subset:L=3\x01,V=4",
        "subset:L=٣,V=٤",
        "subset:L=1_000,V=2_000",
        "subset:L=+3,V=4",
        "keyword:L=3",
        "iid:L=3,V=1",
        "subset:L=3;V=4",
        "\u00e9:L=3",
        "subset:L=3,V=4\n",
    ]
    cases = []
    for s in specs:
        cases.append(Case("specs", ["predict", s], expect="either"))
        cases.append(Case("specs", ["train", s, *TINY], expect="either"))
    return cases


def fifo(rel: str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        os.mkfifo(d / rel)

    return setup


def datafile_cases() -> list[Case]:
    good = "a b c\tb c a\nc a b\ta b c\n"
    files: dict[str, tuple[Callable[[Path], None] | None, str, str]] = {
        "binary": (write("d.txt", bytes(range(256)) * 4), "d.txt", "refuse"),
        "latin1": (write("d.txt", "caf\xe9 a\tb c\n".encode("latin-1")), "d.txt", "refuse"),
        "bom": (write("d.txt", b"\xef\xbb\xbf" + good.encode()), "d.txt", "ok"),
        "crlf": (write("d.txt", good.replace("\n", "\r\n")), "d.txt", "ok"),
        "empty": (write("d.txt", ""), "d.txt", "refuse"),
        "only-comments": (write("d.txt", "# x\n\n"), "d.txt", "refuse"),
        "no-tab": (write("d.txt", "a b c\n"), "d.txt", "refuse"),
        "empty-left": (write("d.txt", "\ta b\n"), "d.txt", "refuse"),
        "empty-right": (write("d.txt", "a b\t\n"), "d.txt", "refuse"),
        "extra-tab": (write("d.txt", "a b\tb a\tc\n"), "d.txt", "refuse"),
        "nul": (write("d.txt", "a\x00b\tb a\n"), "d.txt", "either"),
        "fifo": (fifo("d.txt"), "d.txt", "refuse"),
        "directory": (lambda d: (d / "dd").mkdir(), "dd", "refuse"),
        "missing": (None, "nope.txt", "refuse"),
        "dev-zero": (None, "/dev/zero", "refuse"),
        "dev-null": (None, "/dev/null", "refuse"),
        "proc": (None, "/proc/self/mem", "refuse"),
        "unreadable": (seq(write("d.txt", good), lambda d: os.chmod(d / "d.txt", 0)), "d.txt", MODE_BITS),
        "utf16": (write("d.txt", good.encode("utf-16")), "d.txt", "refuse"),
        "lone-surrogate": (write("d.txt", b"a \xed\xa0\x80\tb\n"), "d.txt", "refuse"),
        "whitespace-only": (write("d.txt", "   \t   \n"), "d.txt", "refuse"),
        "tab-only": (write("d.txt", "\t\n"), "d.txt", "refuse"),
        "single-line": (write("d.txt", "a\tb\n"), "d.txt", "either"),
        # valid input (one word 300,000 times): read, and trained where the memory estimate fits
        "long-line": (write("d.txt", "a " * 300_000 + "\tb\n"), "d.txt", "either"),
    }
    cases = []
    for name, (setup, path, expect) in files.items():
        for cmd in (["predict", "--data", path], ["train", "--data", path, *TINY]):
            timeout = 20.0 if name in ("fifo", "dev-zero") else 90.0
            c = Case("datafiles", cmd, expect=expect, setup=setup, timeout=timeout, name=name)
            cases.append(c)
    return cases


def outpath_cases() -> list[Case]:
    cases = []
    file_ = write("f", "x")
    for cmd in (["train", TINY_SPEC, *TINY], ["plot", "run"], ["verify", "--steps", "2", "--seeds", "2"]):
        pre = (lambda d: copy_run("finished", d / "run")) if cmd[0] == "plot" else None
        for out, setup in [
            ("f", file_),
            ("f/sub", file_),
            ("/proc/x", None),
            ("/sys/x", None),
            ("/proc/x/y", None),
            ("", None),
            ("ro/x", lambda d: (d / "ro").mkdir(mode=0o500)),
            ("/", None),
            ("/dev/null", None),
        ]:
            setup_all = seq(*(f for f in (pre, setup) if f))
            expect = MODE_BITS if out == "ro/x" else "refuse"
            cases.append(Case("outpaths", [*cmd, "--out", out], expect=expect, setup=setup_all, timeout=120))
    # existing non-run dir with files; other-configuration run; run of same config; --resume oddities
    cases.append(
        Case(
            "outpaths",
            ["train", TINY_SPEC, *TINY, "--out", "notrun"],
            setup=write("notrun/keep.txt", "precious"),
            check_unchanged="notrun",
        )
    )
    cases.append(
        Case(
            "outpaths",
            ["train", "subset:L=3,V=5", *TINY, "--out", "run"],
            setup=lambda d: copy_run("finished", d / "run"),
            check_unchanged="run",
        )
    )
    cases.append(
        Case(
            "outpaths",
            ["train", TINY_SPEC, *TINY, "--out", "run"],
            setup=lambda d: copy_run("finished", d / "run"),
            check_unchanged="run",
        )
    )
    cases.append(Case("outpaths", ["train", "--resume", "f"], setup=file_))
    cases.append(Case("outpaths", ["train", "--resume", ""]))
    cases.append(Case("outpaths", ["train", "--resume", "/proc"]))
    cases.append(Case("outpaths", ["train", "--resume", "empty"], setup=lambda d: (d / "empty").mkdir()))
    cases.append(Case("outpaths", ["plot", "f"], setup=file_))
    cases.append(Case("outpaths", ["plot", ""]))
    cases.append(Case("outpaths", ["plot", "/"]))
    return cases


def rundir_cases() -> list[Case]:
    damages: dict[str, Callable[[Path], None]] = {
        "ckpt-half": truncate("checkpoint.pt", 0.5),
        "ckpt-zero": truncate("checkpoint.pt", 0.0),
        "ckpt-flip": flip("checkpoint.pt", 0.6),
        "ckpt-garbage": replace_text("checkpoint.pt", "garbage" * 100),
        "ckpt-missing": delete("checkpoint.pt"),
        "proxy-trunc": truncate("probes/proxy.npz", 0.5),
        "proxy-flip": flip("probes/proxy.npz", 0.5),
        "probe-trunc": truncate("probes/step_000002.npz", 0.3),
        "probes-missing": delete("probes"),
        "curves-missing": delete("curves.csv"),
        "curves-trunc": truncate("curves.csv", 0.6),
        "curves-garbage": replace_text("curves.csv", "seed,step\nx,y\n"),
        "curves-header-only": replace_text("curves.csv", "seed,step,loss\n"),
        "config-garbage": replace_text("config.json", "{not json"),
        "config-no-seeds": edit_json("config.json", lambda c: c.pop("seeds")),
        "config-other-spec": edit_json("config.json", lambda c: c.update(spec="subset:L=3,V=6")),
        "config-other-model": edit_json("config.json", lambda c: c.update(model="lstm", model_config={})),
        "config-bad-steps": edit_json("config.json", lambda c: c.update(steps="many")),
        "config-list": replace_text("config.json", "[1, 2]"),
        "config-nan": edit_json("config.json", lambda c: c.update(lr=float("nan"))),
        "summary-garbage": replace_text("summary.json", "{{"),
        "summary-list": replace_text("summary.json", "[]"),
        "config-missing": delete("config.json"),
    }
    cases = []
    for name, damage in damages.items():
        for kind in ("interrupted", "finished"):
            cases.append(
                Case(
                    "rundirs",
                    ["train", "--resume", "run", "--quiet"],
                    expect="either",
                    setup=damaged_run(kind, damage),
                    check=intact_if_resumed("run"),
                    name=f"{name}/{kind}/resume",
                )
            )
        cases.append(
            Case(
                "rundirs",
                ["plot", "run", "--out", "plots"],
                expect="either",
                setup=damaged_run("finished", damage),
                name=f"{name}/plot",
            )
        )
    return cases


def cache_cases() -> list[Case]:
    """Planted derivation-cache entries: a cache dir other users may write to must be refused,
    and an entry this code did not write must never run."""

    def plant(mode: int, body: str, pattern: str) -> Callable[[Path], None]:
        def setup(d: Path) -> None:
            src = Path(os.environ.get("KTIW_CACHE_DIR") or Path.home() / ".cache" / "ktiw")
            c = d / "cache"
            c.mkdir()
            for p in src.glob("*"):
                if p.is_file():
                    shutil.copy(p, c / p.name)
            for p in c.glob(pattern):
                p.write_text(body)
            if not list(c.glob(pattern)):
                (c / pattern.replace("*", "0000000000000000")).write_text(body)
            os.chmod(c, mode)

        return setup

    evil = "import pathlib; pathlib.Path('PWNED').write_text('x')\n" + "def rhs(*a): return (0.0, 0.0)\n"
    cases = []
    for mode in (0o777, 0o775, 0o700):
        cases.append(
            Case(
                "cache",
                ["predict", "permutation:L=6"],
                setup=plant(mode, evil, "copy_reduction_*.py"),
                expect="refuse" if mode != 0o700 else "either",
                name=f"code-{oct(mode)}",
            )
        )
        cases.append(
            Case(
                "cache",
                ["predict", "subset:L=6,V=9", "--json"],
                setup=plant(mode, '{"6,9,0.001": 1.0}', "takeoff_*.json"),
                expect="refuse" if mode != 0o700 else "either",
                name=f"takeoff-{oct(mode)}",
            )
        )
        cases.append(
            Case(
                "cache",
                ["predict", "permutation:L=6", "--derivation"],
                setup=plant(mode, "{broken", "derivation_pages_*.json"),
                expect="refuse" if mode != 0o700 else "either",
                name=f"pages-{oct(mode)}",
            )
        )
    return cases


FAMILIES = {
    "markup": markup_cases,
    "sizes": size_cases,
    "options": option_cases,
    "specs": spec_cases,
    "datafiles": datafile_cases,
    "outpaths": outpath_cases,
    "rundirs": rundir_cases,
    "cache": cache_cases,
}
sys.modules.setdefault("hostile_inputs", sys.modules[__name__])  # the families below import this module
FAMILIES.update(import_module("hostile_data").FAMILIES)  # issue 21, classes 1, 7, 8, 9, 11
FAMILIES.update(import_module("hostile_runtime").FAMILIES)  # issue 21, classes 2, 3, 4, 5, 6, 10, 12


# ------------------------------------------------------------------ running


def snapshot(path: Path) -> dict[str, bytes]:
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def classify(
    case: Case, rc: int | None, stderr: str, pwned: bool, changed: bool, why: str | None = None
) -> str:
    """The outcome of one case (see the module docstring); ``why``: what ``case.check`` found wrong."""
    if rc is None:
        return "hung"
    if "Traceback (most recent call last)" in stderr or rc < 0 or "MemoryError" in stderr:
        return "traceback"
    if pwned or changed or why:
        return "wrong"
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    ok_codes = {"refuse": {2}, "ok": {0}, "either": {0, 2}, "verdict": {0, 3}}[case.expect]
    if rc not in ok_codes or len(lines) > 1:
        return "wrong"
    if rc == 2 and case.stderr == "pipe" and not lines:  # refused without a word
        return "wrong"
    return "clean"


def command(case: Case) -> list[str]:
    """The case's command line, wrapped in ``sh`` where its stdout/stderr must be closed,
    full or a broken pipe (exit code: the command's own)."""
    redirect = {"pipe": "", "closed": "{n}>&-", "full": "{n}>/dev/full"}
    if case.stdout == "pipe" and case.stderr == "pipe":
        return [*KTIW, *case.args]
    tail = " ".join(
        r.format(n=n) for n, r in ((1, redirect.get(case.stdout, "")), (2, redirect[case.stderr]))
    )
    if case.stdout == "broken":  # the reader exits at once: every write to stdout is EPIPE
        script = f'("$@" {tail}; echo $? > .rc) | true; exit $(cat .rc)'
    else:
        script = f'exec "$@" {tail}'
    return ["sh", "-c", script, "sh", *KTIW, *case.args]


def run_case(case: Case, root: Path, index: int) -> None:
    d = root / f"case{index:04d}"
    d.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", COLUMNS="100")
    if case.family == "cache":
        env["KTIW_CACHE_DIR"] = str(d / "cache")
    for key, value in (case.env or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value.replace("{dir}", str(d))
    try:
        if case.setup is not None:
            case.setup(d)
    except Exception as exc:  # a fixture that cannot be built here (no mkfifo, ...)
        case.result = {"outcome": "skipped", "why": repr(exc)}
        return
    before = snapshot(d / case.check_unchanged) if case.check_unchanged else None
    t0 = time.perf_counter()
    try:
        p = subprocess.run(
            command(case),
            cwd=d,
            env=env,
            capture_output=True,
            text=True,
            timeout=case.timeout,
            errors="replace",
            stdin=subprocess.DEVNULL,
            preexec_fn=None if case.fsize is None else _fsize_limit(case.fsize),
        )
        rc, stdout, stderr = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as exc:
        rc, stdout, stderr = (
            None,
            "",
            (exc.stderr or b"").decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else "",
        )
    wall = time.perf_counter() - t0
    changed = before is not None and snapshot(d / case.check_unchanged) != before
    pwned = (d / "PWNED").exists()
    why = case.check(d, rc, stdout, stderr) if case.check is not None and rc is not None else None
    outcome = classify(case, rc, stderr, pwned, changed, why)
    last = stderr.strip().splitlines()[-1][:200] if stderr.strip() else ""
    case.result = {
        "outcome": outcome,
        "rc": rc,
        "wall_s": round(wall, 2),
        "stderr_last": last,
        "stderr_lines": len(stderr.strip().splitlines()),
        "pwned": pwned,
        "changed": changed,
        **({"why": why} if why else {}),
    }
    for p in d.rglob("*"):  # let the scratch dir be removed (chmod'ed fixtures)
        try:
            if p.is_dir() and not p.is_symlink():
                os.chmod(p, 0o700)
        except OSError:
            pass


def _fsize_limit(nbytes: int) -> Callable[[], None]:
    def preexec() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return preexec


def safe_run_case(case: Case, root: Path, index: int) -> None:
    try:
        run_case(case, root, index)
    except Exception as exc:  # a harness problem must not stop the census
        case.result = {"outcome": "skipped", "why": repr(exc)}
    r = case.result
    if r["outcome"] != "clean":  # as it happens, so a long census can be watched
        why = r.get("why") or r.get("stderr_last", "")
        label = case.name or " ".join(case.args)[:80]
        print(f"{r['outcome']}: {case.family}/{label} {r.get('wall_s', '')} s: {why}"[:300], file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--family", action="append", choices=sorted(FAMILIES))
    ap.add_argument("--json", type=Path, help="write every case and its outcome here")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--every", type=int, default=1, help="run every N-th case only (a quicker sample)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ktiw-hostile-"))
    (root / "x").mkdir()
    cases = [c for fam in (args.family or FAMILIES) for c in FAMILIES[fam]()][:: args.every]
    # build the shared run fixtures before the pool starts
    base_run("finished", root)
    base_run("interrupted", root)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda ic: safe_run_case(ic[1], root / "x", ic[0]), enumerate(cases)))
    table: dict[str, Counter] = defaultdict(Counter)
    for c in cases:
        table[c.family][c.result["outcome"]] += 1
    print(
        f"{'family':<10} {'tried':>5} {'clean':>5} {'traceback':>9} {'wrong':>5} {'hung':>4} {'skipped':>7}"
    )
    total: Counter = Counter()
    for fam, cnt in table.items():
        n = sum(cnt.values())
        total.update(cnt)
        print(
            f"{fam:<10} {n:>5} {cnt['clean']:>5} {cnt['traceback']:>9} {cnt['wrong']:>5} {cnt['hung']:>4} "
            f"{cnt['skipped']:>7}"
        )
    print(
        f"{'total':<10} {sum(total.values()):>5} {total['clean']:>5} {total['traceback']:>9} "
        f"{total['wrong']:>5} {total['hung']:>4} {total['skipped']:>7}"
    )
    print(
        f"({time.perf_counter() - t0:.0f} s; "
        "reproduce: OMP_NUM_THREADS=1 python benchmarks/hostile_inputs.py)"
    )
    if args.json:  # the scratch folder is named $SCRATCH: a stored census names no machine's paths
        rows = [
            {"family": c.family, "name": c.name, "args": c.args, "expect": c.expect, **c.result}
            for c in cases
        ]
        text = json.dumps(rows, indent=1)
        args.json.write_text(text.replace(json.dumps(str(root))[1:-1], "$SCRATCH"))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
