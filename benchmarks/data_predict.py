"""Benchmark: ``ktiw predict --data`` on generated corpora of 1M and 10M tokens.

Writes headerless ``input<TAB>output`` TSV files (and, with ``--formats``, the same rows as
CSV/JSONL/Parquet) of lines of ``--length`` tokens over ``--vocab`` words, then runs
``ktiw predict --data FILE`` as a subprocess with an empty corpus cache and prints its wall
time and peak resident memory (``getrusage`` of the child), beside the command that
reproduces it.  Words are drawn Zipf-distributed (exponent ``--zipf``, 1.0 like natural
text; 0 gives uniform words, whose co-occurrence matrix is nearly dense).

Targets (issue 12): 1M tokens in under 3 s and 500 MB, 10M tokens in under 30 s.
``--reference REV`` also times ``ktiw predict`` of git revision REV (``git archive`` into a
temporary folder, run through ``PYTHONPATH``) on the smallest corpus in the same run, for a
ratio on a machine whose speed varies (d11a9da: the reader before issue 12).

    python benchmarks/data_predict.py [--tokens 1000000 10000000] [--zipf 1.0] [--dir DIR] \
        [--reference d11a9da]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_corpus(path: Path, tokens: int, length: int, vocab: int, zipf: float, seed: int = 0) -> None:
    """``tokens`` input tokens in lines of ``length`` (outputs the same size), chunk by chunk."""
    rng = np.random.default_rng(seed)
    p = np.arange(1, vocab + 1, dtype=np.float64) ** -zipf
    p /= p.sum()
    words = np.array([f"w{i}" for i in range(vocab)])
    lines = tokens // length
    with path.open("w", encoding="utf-8") as f:
        for start in range(0, lines, 20_000):
            m = min(20_000, lines - start)
            src = words[rng.choice(vocab, size=(m, length), p=p)]
            tgt = words[rng.choice(vocab, size=(m, length), p=p)]
            f.write("".join(" ".join(a) + "\t" + " ".join(b) + "\n" for a, b in zip(src, tgt, strict=True)))


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """``(wall seconds, peak RSS MiB of this child alone (wait4), exit code)``."""
    t = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t
    child.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, child.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--length", type=int, default=40)
    ap.add_argument("--vocab", type=int, default=5000)
    ap.add_argument("--zipf", type=float, default=1.0)
    ap.add_argument("--dir", type=Path, default=None, help="where to write the corpora (default: a temp dir)")
    ap.add_argument("--reference", default=None, help="git revision to time on the smallest corpus too")
    args = ap.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="ktiw-data-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    ktiw = [str(Path(sys.executable).with_name("ktiw"))]
    for n in args.tokens:
        path = base / f"pairs-{n}-zipf{args.zipf:g}.tsv"
        if not path.exists():
            write_corpus(path, n, args.length, args.vocab, args.zipf)
        env = dict(os.environ, KTIW_CACHE_DIR=tempfile.mkdtemp(prefix="ktiw-cache-"), OMP_NUM_THREADS="1")
        cmd = [*ktiw, "predict", "--data", str(path)]
        cold = run(cmd, env)
        warm = run(cmd, env)  # second run: tokenised corpus from the cache
        print(
            f"{n:>10,} tokens ({n // args.length} lines x {args.length}, {args.vocab} words, "
            f"zipf {args.zipf:g}): "
            f"cold {cold[0]:.2f} s / peak {cold[1]:.0f} MiB, cached {warm[0]:.2f} s / peak {warm[1]:.0f} MiB"
            f"{'' if cold[2] == 0 and warm[2] == 0 else '  (FAILED)'}"
        )
        print(f"    command: KTIW_CACHE_DIR=$(mktemp -d) ktiw predict --data {path}")
        if args.reference and n == min(args.tokens):
            ref = reference_tree(args.reference)
            code = "from ktiw.cli.app import main; main()"
            old = run(
                [sys.executable, "-c", code, "predict", "--data", str(path)], dict(env, PYTHONPATH=str(ref))
            )
            print(
                f"    reference {args.reference} (same run): {old[0]:.2f} s / peak {old[1]:.0f} MiB "
                f"-> this tree is {old[0] / cold[0]:.1f}x faster cold, {old[1] / cold[1]:.1f}x less memory"
                f"{'' if old[2] == 0 else '  (reference FAILED)'}"
            )


def reference_tree(rev: str) -> Path:
    """A folder importable as ``ktiw`` holding the sources of git revision ``rev``."""
    root = Path(__file__).resolve().parents[1]
    out = Path(tempfile.mkdtemp(prefix="ktiw-ref-"))
    src = out / "src"
    src.mkdir()
    cmd = ["git", "-C", str(root), "archive", rev, "theory", "cli", "empirics", "comparator"]
    archive = subprocess.run(cmd, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    pkg = out / "pkg" / "ktiw"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name in ("theory", "cli", "empirics", "comparator"):
        (pkg / name).symlink_to(src / name)
    return out / "pkg"


if __name__ == "__main__":
    main()
