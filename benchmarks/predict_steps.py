"""How fast `ktiw predict` answers in optimizer steps, for L <= 40 (target: under 5 s each).

Runs the whole command in a fresh process (``ktiw predict SPEC ... --json``) for each case
below and prints its wall time, the method that answered and the simulated seed count, with
``python -c pass`` measured in the same run as the interpreter's start-up reference.  The cases
cover every method: the default training (Adam lr 1e-3, batch 128, zero init, 200 steps), the
issue's "done" training (lr 0.01, eps:1e-3), and random initialisation (``normal:0.1``), which is
always simulated, at L = 12 and L = 40.  A warm-up run fills the derivation cache first.

Reproduce: python benchmarks/predict_steps.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

CASES = [
    ("permutation:L=40", []),
    ("subset:L=40,V=60", []),
    ("permutation:L=12", ["--lr", "0.01", "--init", "eps:1e-3"]),
    ("subset:L=12,V=18", ["--lr", "0.01", "--init", "eps:1e-3"]),
    ("subset:L=40,V=60", ["--lr", "0.01", "--init", "eps:1e-3"]),
    ("subset:L=12,V=18", ["--lr", "0.01", "--init", "normal:0.1"]),
    ("permutation:L=12", ["--lr", "0.01", "--init", "normal:0.1"]),
    ("subset:L=40,V=60", ["--lr", "0.01", "--init", "normal:0.1"]),
    ("permutation:L=40", ["--lr", "0.01", "--init", "normal:0.1"]),
]


def timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    subprocess.run(["ktiw", "predict", "permutation:L=4", "--derivation"], check=True, capture_output=True)
    bare = statistics.median(timed([sys.executable, "-c", "pass"])[0] for _ in range(args.runs))
    print(f"python -c pass: {bare:.3f} s (median of {args.runs})")
    print(f"{'spec':<20} {'options':<32} {'wall s':>7} {'method':>12} {'seeds':>6} {'step':>6}")
    worst = 0.0
    for spec, opts in CASES:
        runs = [timed(["ktiw", "predict", spec, *opts, "--json"]) for _ in range(args.runs)]
        wall = statistics.median(r[0] for r in runs)
        (row,) = json.loads(runs[0][1])
        worst = max(worst, wall)
        seeds = row.get("simulated_seeds") or "-"
        step = "-" if row["takeoff_step"] is None else f"{row['takeoff_step']:.0f}"
        label = " ".join(opts) or "(defaults)"
        print(f"{spec:<20} {label:<32} {wall:7.2f} {row['method']:>12} {seeds:>6} {step:>6}")
    print(f"slowest case: {worst:.2f} s (target < 5 s)")
    print("reproduce: python benchmarks/predict_steps.py --runs", args.runs)


if __name__ == "__main__":
    main()
