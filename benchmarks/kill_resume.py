"""kill -9 at random moments, then ``ktiw train --resume``: is the run byte-identical to an
uninterrupted one?

Trains a tiny toy run once without interruption (the reference), then N times: starts the
same ``ktiw train`` in a fresh directory, sends SIGKILL (or ``--signal TERM``/``INT``) after a
random delay (so kills land anywhere: set-up, proxy training, a step, an evaluation, a
checkpoint write), resumes with ``ktiw train --resume`` (again and again if a resume is
killed too, never here), and compares ``curves.csv`` and every probe file byte for byte, and
checks ``curves.csv`` has no duplicate ``(seed, step)`` rows.

Reproduce (about a minute on a 2-core machine)::

    OMP_NUM_THREADS=1 python benchmarks/kill_resume.py --tries 10 [--signal KILL] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KTIW = [sys.executable, "-c", "import sys; from ktiw.cli.app import main; sys.argv[0] = 'ktiw'; main()"]
ARGS = [
    "train",
    "subset:L=4,V=6",
    "--model",
    "toy",
    "--steps",
    "60",
    "--seeds",
    "3",
    "--batch-size",
    "16",
    "--eval-samples",
    "8",
    "--eval-every",
    "5",
    "--checkpoint-every",
    "10",
    "--proxy-steps",
    "50",
    "--quiet",
]


def files(run: Path) -> dict[str, bytes]:
    names = ["curves.csv", *(f"probes/{p.name}" for p in sorted((run / "probes").glob("*.npz")))]
    return {n: (run / n).read_bytes() for n in names if (run / n).exists()}


def duplicates(run: Path) -> int:
    rows = (run / "curves.csv").read_text().splitlines()[1:]
    keys = [tuple(r.split(",")[:2]) for r in rows]
    return len(keys) - len(set(keys))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tries", type=int, default=10)
    ap.add_argument("--signal", default="KILL", choices=["KILL", "TERM", "INT"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    root = Path(tempfile.mkdtemp(prefix="ktiw-kill-"))
    t0 = time.perf_counter()
    subprocess.run([*KTIW, *ARGS, "--out", str(root / "ref")], env=env, check=True, capture_output=True)
    full = time.perf_counter() - t0
    ref = files(root / "ref")
    same = 0
    for k in range(args.tries):
        out = root / f"try{k}"
        delay = rng.uniform(0.05, full)
        p = subprocess.Popen(
            [*KTIW, *ARGS, "--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(delay)
        p.send_signal(getattr(signal, f"SIG{args.signal}"))
        p.wait()
        if not (out / "config.json").exists():  # killed before anything was written: start afresh
            r = subprocess.run([*KTIW, *ARGS, "--out", str(out)], env=env, capture_output=True, text=True)
        else:
            r = subprocess.run(
                [*KTIW, "train", "--resume", str(out), "--quiet"], env=env, capture_output=True, text=True
            )
        ok = r.returncode == 0 and files(out) == ref and duplicates(out) == 0
        same += ok
        print(
            f"try {k}: SIG{args.signal} after {delay:.2f} s (exit {p.returncode}); "
            f"resume exit {r.returncode}; "
            f"{'identical' if ok else 'DIFFERENT: ' + r.stderr.strip()[:200]}"
        )
    print(
        f"{same} of {args.tries} tries byte-identical to the uninterrupted run "
        f"(uninterrupted run {full:.1f} s; reproduce: OMP_NUM_THREADS=1 python benchmarks/kill_resume.py "
        f"--tries {args.tries} --signal {args.signal} --seed {args.seed})"
    )


if __name__ == "__main__":
    main()
