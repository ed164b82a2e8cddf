"""Census families for issue 21, classes 2, 3, 4, 5, 6, 10 and 12: numbers that overflow, work
without bounds, remote executors that never answer, ``--resume`` options, damaged finished
runs, full disks and refutations without evidence.

Merged into :data:`hostile_inputs.FAMILIES` (run them with
``OMP_NUM_THREADS=1 python benchmarks/hostile_inputs.py --family overflow ...``).  Beyond the
census's own rules (exit code, at most one line on stderr, no traceback, no hang), cases carry
a ``check`` for the silent failures of each class: a numpy warning, a refusal that does not
name the option or ``--allow-large``, a resumed run whose record changed although its option
was refused, a damaged run read as finished, a run that claims to be finished after a failed
write, a refutation with exit 1 on no evidence.

* ``overflow``   (class 2): extreme learning rates, init scales, ``--eps``, steps and batch sizes
  for ``predict`` and ``train`` (1e308, 3.5e38, 1e39, 1e30, 1e7, NaN, inf, denormals): refused in
  one line, or legitimately run (exit 0) without numpy warnings.
* ``bounds``     (class 3): ``predict`` / ``train`` / ``sweep`` sized for hours, days or years:
  refused before they start, naming the estimate and ``--allow-large``, within seconds.
* ``remote``     (class 4): ``sweep``/``verify`` with ``--executor ray`` at closed local ports,
  malformed addresses and ``RAY_ADDRESS``: one line within seconds (no Ray needed).
* ``resume``     (class 5): every ``train`` option with ``--resume`` on a finished and on an
  interrupted run: applied (``--steps`` extended or shortened down to the checkpoint,
  ``--threads``, values equal to the record) or refused in one line naming the option, the run
  left as it was.
* ``finished``   (class 6): finished runs with ``curves.csv`` cut at line boundaries (with and
  without the completion record), edited, probe files swapped, deleted or cut, the record
  edited: ``plot`` refuses in one line, ``train --resume`` refuses or completes, ``sweep``
  trains the damaged run again with one line.
* ``diskfull``   (class 10): ``train``, ``--resume``, ``predict`` and ``sweep`` under ``ulimit -f``
  (RLIMIT_FSIZE) of 0 bytes to 200 kB: one line naming the file, exit 2, no partial temporary
  files, and no run that claims to be finished.
* ``refutation`` (class 12): tiny ``verify`` budgets in which nothing can be learned (the
  issue's example among them; the classification and multihead experiments too): never exit 1.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

from hostile_inputs import TINY, TINY_SPEC, Case, copy_run, intact_if_resumed, seq, write

Check = Callable[[Path, int, str, str], "str | None"]


def all_of(*checks: Check) -> Check:
    def check(d: Path, rc: int, out: str, err: str) -> str | None:
        for c in checks:
            if why := c(d, rc, out, err):
                return why
        return None

    return check


def no_warning(d: Path, rc: int, out: str, err: str) -> str | None:
    return "a Python warning reached stderr" if "Warning" in err else None


def says(*words: str) -> Check:
    def check(d: Path, rc: int, out: str, err: str) -> str | None:
        missing = [w for w in words if w not in err]
        return f"refusal does not mention {missing}" if rc == 2 and missing else None

    return check


def not_finished(rel: str) -> Check:
    """After a failed write the run ``rel`` must not claim to be finished."""

    def check(d: Path, rc: int, out: str, err: str) -> str | None:
        try:
            finished = json.loads((d / rel / "summary.json").read_text()).get("finished")
        except (OSError, ValueError, AttributeError):
            return None
        return f"{rel} claims to be finished after exit {rc}" if rc != 0 and finished else None

    return check


def no_tmp(rel: str) -> Check:
    def check(d: Path, rc: int, out: str, err: str) -> str | None:
        left = [p.name for p in (d / rel).rglob("*.tmp*")] if (d / rel).exists() else []
        return f"temporary files left: {left}" if left else None

    return check


def never_refuted(d: Path, rc: int, out: str, err: str) -> str | None:
    return "exit 1 (a refutation) in a budget where nothing can be learned" if rc == 1 else None


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ class 2: overflow

HUGE = ["1e308", "1.7e308", "3.5e38", "1e39", "1e30", "1e10", "1e7", "1e309", "inf", "-inf", "nan", "-1e308"]


def overflow_cases() -> list[Case]:
    cases = []
    check = all_of(no_warning, says("lr"))
    for v in HUGE:
        cases.append(Case("overflow", ["predict", "subset:L=6,V=9", "--lr", v], check=check, name=f"p-lr{v}"))
        cases.append(
            Case(
                "overflow",
                ["predict", "iid:L=4,V=6", "--optimizer", "sgd", "--lr", v],
                check=check,
                name=f"p-sgd-lr{v}",
            )
        )
        cases.append(
            Case(
                "overflow",
                ["train", TINY_SPEC, *TINY, "--lr", v, "--out", "run"],
                check=all_of(no_warning, says("lr")),
                name=f"t-lr{v}",
            )
        )
    for v in ["1e308", "1e200", "1e39", "1e7", "inf", "nan"]:
        for kind in ("eps", "normal"):
            cases.append(
                Case(
                    "overflow",
                    ["predict", "subset:L=6,V=9", "--init", f"{kind}:{v}"],
                    check=all_of(no_warning, says("--init")),
                    name=f"init-{kind}{v}",
                )
            )
        cases.append(
            Case(
                "overflow",
                ["predict", "permutation:L=6", "--eps", v],
                check=all_of(no_warning, says("--eps")),
                name=f"eps{v}",
            )
        )
        cases.append(
            Case(
                "overflow",
                ["train", "permutation:L=3", *TINY, "--toy-init", "eps", "--toy-eps", v, "--out", "run"],
                check=no_warning,
                name=f"toy-eps{v}",
            )
        )
        cases.append(
            Case(
                "overflow",
                ["train", TINY_SPEC, *TINY, "--toy-init", "normal", "--toy-sigma", v, "--out", "run"],
                check=no_warning,
                name=f"toy-sigma{v}",
            )
        )
    # large but representable: the reduced map / simulation overflows -> one line, never "no takeoff"
    for lr in ["1e5", "1e6"]:
        for spec in ("subset:L=6,V=9", "permutation:L=6", "iid:L=4,V=6"):
            cases.append(
                Case(
                    "overflow",
                    ["predict", spec, "--lr", lr],
                    expect="either",
                    check=no_warning,
                    name=f"big-{spec}-{lr}",
                )
            )
    for v in ["1e20", "99999999999999999999", "-1", "0"]:
        cases.append(Case("overflow", ["predict", "subset:L=6,V=9", "--steps", v], check=no_warning))
        cases.append(Case("overflow", ["predict", "subset:L=6,V=9", "--batch-size", v], check=no_warning))
    # legitimate extremes: tiny or denormal learning rates and a saturating lr that trains and diverges
    for lr in ["1e-300", "5e-324", "1e-12"]:
        cases.append(
            Case("overflow", ["predict", "subset:L=6,V=9", "--lr", lr], expect="ok", check=no_warning)
        )
    cases.append(
        Case(
            "overflow",
            ["train", TINY_SPEC, *TINY, "--lr", "1e6", "--out", "run"],
            expect="ok",
            check=no_warning,
            name="t-lr1e6-diverges",
        )
    )
    return cases


# ------------------------------------------------------------------ class 3: bounds

ALLOW = says("--allow-large", "estimated")


def bounds_cases() -> list[Case]:
    cases = []
    for steps in ["1000000000", "300000000"]:
        cases.append(
            Case(
                "bounds",
                ["predict", "subset:L=6,V=9", "--steps", steps, "--lr", "1e-9"],
                check=ALLOW,
                timeout=60,
                name=f"sign-sum{steps}",
            )
        )
    for steps in ["1000000", "5000000", "100000000"]:
        for spec in ("iid:L=4,V=6", "iid:L=8,V=20"):
            cases.append(
                Case(
                    "bounds",
                    ["predict", spec, "--optimizer", "sgd", "--lr", "1e-9", "--steps", steps],
                    check=ALLOW,
                    timeout=60,
                    name=f"sim-{spec}-{steps}",
                )
            )
    cases.append(
        Case(
            "bounds",
            ["predict", "iid:L=8,V=20", "--optimizer", "sgd", "--batch-size", "100000000", "--steps", "1000"],
            check=ALLOW,
            timeout=60,
        )
    )
    for steps in ["1000000000", "500000000"]:
        cases.append(
            Case(
                "bounds",
                ["train", TINY_SPEC, "--model", "toy", "--steps", steps, "--quiet", "--out", "run"],
                check=ALLOW,
                timeout=60,
            )
        )
    cases.append(
        Case(
            "bounds",
            ["train", "permutation:L=40", "--steps", "100000000", "--seeds", "20", "--quiet", "--out", "run"],
            check=ALLOW,
            timeout=60,
        )
    )
    for n in (300, 1000, 3000):
        lrs = ",".join(f"{0.0001 * (i + 1):.4f}" for i in range(n))
        cases.append(
            Case(
                "bounds",
                [
                    "sweep",
                    "permutation:L=3",
                    "--set",
                    f"lr={lrs}",
                    "--set",
                    "steps=100000",
                    "--seeds",
                    "3",
                    "--quiet",
                    "--out",
                    "sw",
                ],
                check=ALLOW,
                timeout=120,
                name=f"sweep{n}",
            )
        )
    # legitimate: a copy task is predicted by the reduced map's closed forms whatever the budget
    # (no simulation), and 1e7 steps of the sign-regime sum take about a minute: both run (exit 0).
    # The closed-form work does not grow with --steps (1e6 and 1e8 both about 7 s of CPU with the
    # caches warm, 18 s cold: the LSTM pilot, the sympy derivation and the toy's own 1e5-step
    # reduced map), so under the shared machine's load it is given the sign-sum case's 180 s.
    for steps in ["1000000", "100000000"]:
        args = ["predict", "subset:L=6,V=9", "--optimizer", "sgd", "--lr", "1e-9", "--steps", steps]
        cases.append(Case("bounds", args, expect="ok", timeout=180, name=f"copy-closed-form-{steps}"))
    args = ["predict", "subset:L=6,V=9", "--steps", "10000000", "--lr", "1e-9"]
    cases.append(Case("bounds", args, expect="ok", timeout=180, name="sign-sum-1e7"))
    # the same work with --allow-large is not refused (small enough to run here)
    cases.append(
        Case(
            "bounds",
            ["predict", "subset:L=6,V=9", "--steps", "300000", "--allow-large"],
            expect="ok",
            timeout=120,
        )
    )
    cases.append(
        Case(
            "bounds",
            [
                "sweep",
                TINY_SPEC,
                "--model",
                "toy",
                "--set",
                "lr=0.01,0.02",
                "--set",
                "steps=2",
                "--quiet",
                "--out",
                "sw",
                "--allow-large",
            ],
            expect="ok",
            timeout=120,
        )
    )
    return cases


# ------------------------------------------------------------------ class 4: remote

FAST_REMOTE = 45.0  # seconds: the probe's deadline is 5 s


def remote_cases() -> list[Case]:
    cases = []
    dead = [f"127.0.0.1:{closed_port()}" for _ in range(3)] + [
        "127.0.0.1:1",
        "ray://127.0.0.1:1",
        "[::1]:1",
        "localhost:1",
    ]
    bad = ["127.0.0.1:notaport", "127.0.0.1:0", "127.0.0.1:70000", ":6379", "ray://:1"]
    for addr in dead + bad:
        cases.append(
            Case(
                "remote",
                [
                    "sweep",
                    TINY_SPEC,
                    "--model",
                    "toy",
                    "--executor",
                    "ray",
                    "--ray-address",
                    addr,
                    "--quiet",
                    "--out",
                    "sw",
                ],
                timeout=FAST_REMOTE,
                check=all_of(says("--ray-address"), no_warning),
                name=f"sweep-{addr}",
            )
        )
        cases.append(
            Case(
                "remote",
                [
                    "verify",
                    "permutation:L=3",
                    "--seeds",
                    "2",
                    "--steps",
                    "2",
                    "--executor",
                    "ray",
                    "--ray-address",
                    addr,
                    "--out",
                    "v",
                ],
                timeout=FAST_REMOTE,
                name=f"verify-{addr}",
            )
        )
    for addr in dead[:3]:
        cases.append(
            Case(
                "remote",
                ["sweep", TINY_SPEC, "--model", "toy", "--executor", "ray", "--quiet", "--out", "sw"],
                env={"RAY_ADDRESS": addr},
                timeout=FAST_REMOTE,
                name=f"env-{addr}",
            )
        )
    return cases


# ------------------------------------------------------------------ class 5: resume options

REFUSED_OPTIONS = [
    ["--out", "other"],
    ["--dtype", "float64"],
    ["--lr", "0.5"],
    ["--batch-size", "8"],
    ["--seeds", "3"],
    ["--seeds", "0,5"],
    ["--model", "lstm"],
    ["--uniform"],
    ["--eval-every", "3"],
    ["--eval-samples", "5"],
    ["--checkpoint-every", "3"],
    ["--proxy-steps", "5"],
    ["--stop-at", "0.5"],
    ["--optimizer", "sgd"],
    ["--momentum", "0.5"],
    ["--toy-init", "eps"],
    ["--toy-eps", "0.5"],
    ["--opt", "init=eps"],
    ["--opt", "sigma=3"],
    ["--hidden", "9"],
    ["--layers", "2"],
    ["--heads", "2"],
    ["--preset", "paper"],
    ["--format", "csv"],
    ["--max-vocab", "3"],
    ["--max-len", "2"],
    ["--tokenizer", "whitespace"],
    ["--input-col", "a"],
    ["--probe-every", "1"],
    ["--steps", "1"],
    ["--steps", "0"],
]
APPLIED_OPTIONS = [
    ["--steps", "10"],
    ["--steps", "6"],
    ["--threads", "1"],
    ["--dtype", "float32"],
    ["--seeds", "2"],
    ["--model", "toy"],
    ["--lr", "0.001"],
    ["--opt", "init=zero"],
    ["--device", "cpu"],
    ["--out", "run"],
    ["--eval-every", "2"],
    ["--batch-size", "4"],
]


def _resumed(kind: str) -> Callable[[Path], None]:
    return lambda d: copy_run(kind, d / "run")


def resume_cases() -> list[Case]:
    cases = []
    for kind in ("finished", "interrupted"):
        for opt in REFUSED_OPTIONS:
            if kind == "interrupted" and opt[:2] == ["--steps", "1"]:
                opt = ["--steps", "1"]  # the checkpoint is at step 2: still refused
            cases.append(
                Case(
                    "resume",
                    ["train", "--resume", "run", "--quiet", *opt],
                    setup=_resumed(kind),
                    check_unchanged="run",
                    check=says(opt[0]),
                    name=f"{kind}{opt}",
                )
            )
        for opt in APPLIED_OPTIONS:
            cases.append(
                Case(
                    "resume",
                    ["train", "--resume", "run", "--quiet", *opt],
                    setup=_resumed(kind),
                    expect="ok",
                    name=f"{kind}{opt}",
                )
            )
    # SPEC / --data with --resume (refused before, still), a resume of nothing
    cases.append(
        Case(
            "resume",
            ["train", TINY_SPEC, "--resume", "run", "--quiet"],
            setup=_resumed("finished"),
            check_unchanged="run",
        )
    )
    cases.append(Case("resume", ["train", "--resume", "nothing", "--steps", "10", "--quiet"]))
    return cases


# ------------------------------------------------------------------ class 6: damaged finished runs


def _cut_lines(n: int, rel: str = "curves.csv") -> Callable[[Path], None]:
    def f(run: Path) -> None:
        lines = (run / rel).read_text().splitlines(keepends=True)
        (run / rel).write_text("".join(lines[:-n]))

    return f


def _legacy(run: Path) -> None:
    summary = json.loads((run / "summary.json").read_text())
    summary.pop("complete", None)
    (run / "summary.json").write_text(json.dumps(summary))


def _edit_value(run: Path) -> None:
    text = (run / "curves.csv").read_text()
    lines = text.splitlines(keepends=True)
    cells = lines[-1].split(",")
    cells[3] = "0.123456789"  # token accuracy of the last row
    lines[-1] = ",".join(cells)
    (run / "curves.csv").write_text("".join(lines))


def _swap_probe(run: Path) -> None:
    files = sorted((run / "probes").glob("step_*.npz"))
    shutil.copy(files[0], files[-1])


def _delete_last_probe(run: Path) -> None:
    sorted((run / "probes").glob("step_*.npz"))[-1].unlink()


def _cut_probe(run: Path) -> None:
    p = sorted((run / "probes").glob("step_*.npz"))[-1]
    p.write_bytes(p.read_bytes()[:-10])


def _edit_record(key: str, value: object) -> Callable[[Path], None]:
    def f(run: Path) -> None:
        summary = json.loads((run / "summary.json").read_text())
        summary["complete"][key] = value
        (run / "summary.json").write_text(json.dumps(summary))

    return f


def _drop_seed_rows(run: Path) -> None:
    lines = (run / "curves.csv").read_text().splitlines(keepends=True)
    (run / "curves.csv").write_text("".join(ln for ln in lines if not ln.startswith("1,")))


DAMAGES: dict[str, Callable[[Path], None]] = {
    **{f"cut{n}": _cut_lines(n) for n in (1, 2, 3, 4, 6)},
    **{f"legacy-cut{n}": seq(_legacy, _cut_lines(n)) for n in (1, 2, 3)},
    "edited": _edit_value,
    "legacy-edited": seq(_legacy, _edit_value),
    "seed-rows-gone": _drop_seed_rows,
    "probe-swapped": _swap_probe,
    "probe-deleted": _delete_last_probe,
    "probe-cut": _cut_probe,
    "record-steps": _edit_record("last_step", {"0": 99, "1": 99}),
    "record-size": _edit_record("curves", {"bytes": 1, "sha256": "0" * 64, "rows": 1}),
    "record-garbage": _edit_record("probes", {"step_000999.npz": {"bytes": 1, "sha256": "x"}}),
}


def _damaged(damage: Callable[[Path], None], dest: str = "run") -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        copy_run("finished", d / dest)
        damage(d / dest)

    return setup


def _sweep_damaged(damage: Callable[[Path], None]) -> Callable[[Path], None]:
    """A one-run sweep, finished, then its run damaged: the rerun must notice it."""

    def setup(d: Path) -> None:
        import subprocess

        from hostile_inputs import KTIW

        subprocess.run([*KTIW, *SWEEP], cwd=d, capture_output=True, check=True, timeout=300)
        run = next(p for p in (d / "sw").iterdir() if p.is_dir())
        damage(run)

    return setup


SWEEP = [
    "sweep",
    TINY_SPEC,
    "--model",
    "toy",
    "--set",
    "steps=4",
    "--set",
    "eval_every=2",
    "--quiet",
    "--out",
    "sw",
]


def _sweep_retrained(d: Path, rc: int, out: str, err: str) -> str | None:
    if rc != 0:
        return None
    damaged = [p for p in (d / "sw").iterdir() if p.name.endswith(".damaged") or ".damaged-" in p.name]
    return None if damaged and "not reusing" in err else "the damaged run was read as finished"


def finished_cases() -> list[Case]:
    cases = []
    for name, damage in DAMAGES.items():
        cases.append(
            Case(
                "finished",
                ["plot", "run", "--out", "figs"],
                setup=_damaged(damage),
                check=says("damaged"),
                name=f"plot-{name}",
            )
        )
        cases.append(
            Case(
                "finished",
                ["train", "--resume", "run", "--quiet"],
                setup=_damaged(damage),
                expect="either",
                check=intact_if_resumed("run"),
                name=f"resume-{name}",
            )
        )
    for name in ("cut1", "legacy-cut2", "edited", "probe-swapped", "probe-deleted", "record-steps"):
        cases.append(
            Case(
                "finished",
                SWEEP,
                setup=_sweep_damaged(DAMAGES[name]),
                expect="ok",
                check=_sweep_retrained,
                timeout=180,
                name=f"sweep-{name}",
            )
        )
    # intact runs, and intact legacy runs, are still read
    cases.append(
        Case("finished", ["plot", "run", "--out", "figs"], setup=_damaged(lambda r: None), expect="ok")
    )
    cases.append(Case("finished", ["plot", "run", "--out", "figs"], setup=_damaged(_legacy), expect="ok"))
    return cases


# ------------------------------------------------------------------ class 10: disk full


def diskfull_cases() -> list[Case]:
    cases = []
    lstm = [
        "--model",
        "lstm",
        "--hidden",
        "64",
        "--steps",
        "4",
        "--seeds",
        "2",
        "--eval-samples",
        "4",
        "--batch-size",
        "4",
        "--proxy-steps",
        "0",
        "--checkpoint-every",
        "2",
        "--quiet",
    ]
    for limit in (0, 100, 1000, 3000, 10_000, 150_000):
        for extra in (TINY, lstm):
            cases.append(
                Case(
                    "diskfull",
                    ["train", TINY_SPEC, *extra, "--out", "run"],
                    fsize=limit,
                    expect="either",
                    check=all_of(not_finished("run"), no_tmp("run")),
                    name=f"train-{extra[1]}-{limit}",
                )
            )
    for limit in (0, 1000, 150_000):
        cases.append(
            Case(
                "diskfull",
                ["train", "--resume", "run", "--quiet", "--steps", "10"],
                setup=lambda d: copy_run("interrupted", d / "run"),
                fsize=limit,
                expect="either",
                check=all_of(not_finished("run"), no_tmp("run")),
                name=f"resume-{limit}",
            )
        )
        cases.append(
            Case(
                "diskfull",
                ["sweep", TINY_SPEC, "--model", "toy", "--set", "steps=2", "--quiet", "--out", "sw"],
                fsize=limit,
                expect="either",
                check=no_tmp("sw"),
                name=f"sweep-{limit}",
            )
        )
        cases.append(
            Case(
                "diskfull",
                ["plot", "run", "--out", "figs"],
                setup=lambda d: copy_run("finished", d / "run"),
                fsize=limit,
                expect="either",
                name=f"plot-{limit}",
            )
        )
    cases.append(
        Case(
            "diskfull",
            ["predict", "subset:L=6,V=9", "--json"],
            fsize=0,
            expect="either",
            env={"KTIW_CACHE_DIR": "{dir}/cache"},
        )
    )
    cases.append(Case("diskfull", ["data", "fetch", "nothing"], fsize=0, expect="either"))
    return cases


# ------------------------------------------------------------------ class 12: refutations


def refutation_cases() -> list[Case]:
    base = ["--set", "proxy_steps=20"]
    specs = [["permutation:L=6", "subset:L=6,V=9"], ["permutation:L=4", "subset:L=4,V=6"]]
    cases = []
    for pair in specs:
        for seeds, steps in (("2", "20"), ("2", "10")):
            cases.append(
                Case(
                    "refutation",
                    [
                        "verify",
                        *pair,
                        "--seeds",
                        seeds,
                        "--steps",
                        steps,
                        "--set",
                        "hidden=8",
                        *base,
                        "--out",
                        "v",
                    ],
                    expect="verdict",
                    check=never_refuted,
                    timeout=400,
                    name=f"{pair[0]}-{seeds}x{steps}",
                )
            )
    # the classification experiment's checks (stage 1 word scores, stage 2 attention): budgets of
    # 1-4 steps; before the fix (a tau <= 0 or a lift short of 0.1 refuted, with no test and no
    # look at whether anything was learned) most of these exited 1
    for spec in ("keyword:L=4,V=8,K=2", "keyword:L=6,V=12,K=2", "keyword:L=8,V=20,K=4"):
        for seeds, steps in (("2", "1"), ("2", "2"), ("2", "4"), ("3", "2")):
            args = ["verify", "--experiment", "classification", spec, "--seeds", seeds, "--steps", steps]
            args += ["--set", "hidden=8", "--set", "proxy_steps=2", "--out", "v"]
            cases.append(
                Case(
                    "refutation",
                    args,
                    expect="verdict",
                    check=never_refuted,
                    timeout=400,
                    name=f"classification-{spec}-{seeds}x{steps}",
                )
            )
    # the multihead experiment in budgets where no head is good (rescue, rescue-accuracy: no
    # comparison; toy-rescue is deterministic): never a refutation
    for steps in ("6", "30"):
        args = ["verify", "--experiment", "multihead", "--seeds", "2", "--steps", steps]
        args += ["--set", "spec=permutation:L=4", "--set", "hidden=8", "--set", "candidates=4"]
        args += ["--set", "data_seeds=1", "--set", "eval_every=3", "--set", "eval_samples=8"]
        args += ["--quiet", "--out", "v"]  # its two planning phases draw two progress bars
        cases.append(
            Case(
                "refutation",
                args,
                expect="verdict",
                check=never_refuted,
                timeout=400,
                name=f"multihead-2x{steps}",
            )
        )
    return cases


def _patient(family: Callable[[], list[Case]], seconds: float) -> Callable[[], list[Case]]:
    """The family's cases with at least ``seconds`` to finish: on the shared, loaded 2-core
    machine importing torch alone can take tens of seconds, which is no hang.  (``remote``
    keeps a shorter limit: failing fast is what it checks.)"""

    def cases() -> list[Case]:
        out = family()
        for c in out:
            c.timeout = max(c.timeout, seconds)
        return out

    return cases


FAMILIES: dict[str, Callable[[], list[Case]]] = {
    "overflow": _patient(overflow_cases, 180),
    "bounds": _patient(bounds_cases, 120),
    "remote": _patient(remote_cases, 45),
    "resume": _patient(resume_cases, 180),
    "finished": _patient(finished_cases, 180),
    "diskfull": _patient(diskfull_cases, 180),
    "refutation": refutation_cases,
}

__all__ = ["FAMILIES", "write"]
