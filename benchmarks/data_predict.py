"""Benchmark: ``ktiw predict --data`` on generated corpora of 1M and 10M tokens.

Writes headerless ``input<TAB>output`` TSV files of lines of ``--length`` tokens over
``--vocab`` words (and, with ``--formats csv parquet jsonl``, the same rows with named columns
``input``/``output``, read with the ``words`` tokeniser, which gives the same tokens), then
runs ``ktiw predict --data FILE`` as a subprocess with an empty corpus cache and again with
the tokenised corpus cached, and prints its wall time and peak resident memory (``wait4``
of the child alone), beside the command that reproduces it.  Words are drawn
Zipf-distributed (exponent ``--zipf``, 1.0 like natural text; 0 gives uniform words, whose
co-occurrence matrix is nearly dense).

Targets (issue 12): 1M tokens in under 3 s and 500 MB, 10M tokens in under 30 s; each line
says whether its cold run meets them.  ``--repeat N`` prints medians of N runs.
``--reference REV`` also times ``ktiw predict`` of git revision REV (``git archive`` into a
temporary folder, run through ``PYTHONPATH``) on the TSV corpora, alternating with this tree's
runs, for a ratio on a machine whose speed varies (d11a9da: the reader before issue 12;
a818b60: the reader before the streamed headerless TSV).

    python benchmarks/data_predict.py [--tokens 1000000 10000000] [--zipf 1.0] [--dir DIR] \
        [--formats csv parquet jsonl] [--repeat 3] [--reference a818b60] [--read-only]

``--read-only`` times reading and tokenising alone (``load_corpus`` without cache, in a
subprocess), to show that big files stream: its peak follows the token ids kept, not the file.
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def write_columns(tsv: Path, path: Path, fmt: str) -> None:
    """The rows of ``tsv`` with columns ``input``/``output`` as CSV, Parquet or JSON Lines (streamed)."""
    import json

    import pyarrow as pa
    from pyarrow import csv, parquet

    read = csv.ReadOptions(column_names=["input", "output"], block_size=16 << 20)
    parse = csv.ParseOptions(delimiter="\t", quote_char=False)
    reader = csv.open_csv(tsv, read_options=read, parse_options=parse)
    if fmt == "jsonl":
        with path.open("w", encoding="utf-8") as f:
            for batch in reader:
                rows = zip(*batch.to_pydict().values(), strict=True)
                f.write("".join(json.dumps({"input": a, "output": b}) + "\n" for a, b in rows))
    elif fmt == "parquet":
        with parquet.ParquetWriter(path, reader.schema) as writer:
            for batch in reader:
                writer.write_table(pa.Table.from_batches([batch]))
    else:
        with csv.CSVWriter(path, reader.schema) as writer:
            for batch in reader:
                writer.write(batch)


TARGETS = {1_000_000: (3.0, 500 * 1e6 / 2**20), 10_000_000: (30.0, None)}
"""tokens -> (seconds, MiB or None) of issue 12 (500 MB = 476.8 MiB)."""


def verdict(tokens: int, wall: float, mib: float) -> str:
    if tokens not in TARGETS:
        return ""
    secs, mem = TARGETS[tokens]
    ok = wall < secs and (mem is None or mib < mem)
    want = f"< {secs:g} s" + ("" if mem is None else " and < 500 MB")
    return f"  [target {want}: {'met' if ok else 'MISSED'}]"


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """``(wall seconds, peak RSS MiB of this child alone (wait4), exit code)``."""
    t = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t
    child.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, child.returncode


def cold_and_cached(cmd: list[str], extra: dict[str, str]) -> list[tuple[float, float, int]]:
    """One run with an empty corpus cache, then one served from the cache it filled."""
    env = dict(os.environ, KTIW_CACHE_DIR=tempfile.mkdtemp(prefix="ktiw-cache-"), OMP_NUM_THREADS="1")
    env.update(extra)
    return [run(cmd, env), run(cmd, env)]


def median(runs: list[tuple[float, float, int]]) -> tuple[float, float, bool]:
    """Median wall time and median peak over repeats, and whether every run succeeded."""
    return (
        statistics.median(r[0] for r in runs),
        statistics.median(r[1] for r in runs),
        all(r[2] == 0 for r in runs),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--length", type=int, default=40)
    ap.add_argument("--vocab", type=int, default=5000)
    ap.add_argument("--zipf", type=float, default=1.0)
    ap.add_argument("--dir", type=Path, default=None, help="where to write the corpora (default: a temp dir)")
    ap.add_argument("--formats", nargs="*", default=[], choices=["csv", "parquet", "jsonl"])
    ap.add_argument("--repeat", type=int, default=1, help="runs per figure (medians are printed)")
    ap.add_argument("--reference", default=None, help="git revision to time on the TSV corpora too")
    ap.add_argument(
        "--read-only",
        action="store_true",
        help="time reading and tokenising alone (load_corpus without cache), not ktiw predict",
    )
    args = ap.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="ktiw-data-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    ktiw = [str(Path(sys.executable).with_name("ktiw"))]
    ref = reference_tree(args.reference) if args.reference else None
    print(
        f"load average {os.getloadavg()[0]:.2f} at start; python {sys.version.split()[0]}; "
        f"medians of {args.repeat} run(s)"
    )
    for n in args.tokens:
        path = base / f"pairs-{n}-zipf{args.zipf:g}.tsv"
        if not path.exists():
            write_corpus(path, n, args.length, args.vocab, args.zipf)
        files: list[tuple[Path, list[str]]] = [(path, [])]
        for fmt in args.formats:
            other = path.with_suffix(f".{fmt}")
            if not other.exists():
                write_columns(path, other, fmt)
            files.append((other, ["--input-col", "input", "--output-col", "output"]))
        for file, cols in files:
            cmd = [*ktiw, "predict", "--data", str(file), *cols]
            if args.read_only:
                read_only(file, cols, ref, args.reference)
                continue
            runs, old = [], []
            for _ in range(args.repeat):  # this tree and the reference alternate: same load for both
                runs.append(cold_and_cached(cmd, {}))
                if ref is not None and not cols:
                    code = "from ktiw.cli.app import main; main()"
                    old_cmd = [sys.executable, "-c", code, "predict", "--data", str(file)]
                    old.append(cold_and_cached(old_cmd, {"PYTHONPATH": str(ref)})[0])
            cold, warm = median([r[0] for r in runs]), median([r[1] for r in runs])
            size = file.stat().st_size / 2**20
            print(
                f"{n:>10,} tokens ({n // args.length} lines x {args.length}, {args.vocab} words, "
                f"zipf {args.zipf:g}; {file.suffix[1:]} {size:.0f} MiB): "
                f"cold {cold[0]:.2f} s / peak {cold[1]:.0f} MiB, "
                f"cached {warm[0]:.2f} s / peak {warm[1]:.0f} MiB"
                f"{'' if cold[2] and warm[2] else '  (FAILED)'}{verdict(n, cold[0], cold[1])}"
            )
            shown = " ".join([str(file), *cols])
            print(f"    command: KTIW_CACHE_DIR=$(mktemp -d) ktiw predict --data {shown}")
            if old:
                was = median(old)
                print(
                    f"    reference {args.reference} (same run, cold): "
                    f"{was[0]:.2f} s / peak {was[1]:.0f} MiB "
                    f"-> this tree is {was[0] / cold[0]:.1f}x faster, {was[1] / cold[1]:.1f}x less memory"
                    f"{'' if was[2] else '  (reference FAILED)'}"
                )
    print(f"load average {os.getloadavg()[0]:.2f} at end")


READ = (
    "import sys\ntry:\n from ktiw.data.corpus import DataSource, load_corpus\n"
    "except ImportError:\n from ktiw.theory.corpus import DataSource, load_corpus  # before the layer move\n"
    "c, _ = load_corpus(DataSource.parse(sys.argv[1]), 'pairs', use_cache=False); "
    "print(c.src_ids.nbytes + c.tgt_ids.nbytes + c.src_off.nbytes + c.tgt_off.nbytes)"
)
"""Read and tokenise a data source into its flat id arrays (no cache); print their bytes."""


def read_only(file: Path, cols: list[str], ref: Path | None, rev: str | None) -> None:
    """Time :func:`ktiw.data.corpus.load_corpus` alone (this tree, then ``rev``) on ``file``."""
    source = str(file) + ("?input=input&output=output" if cols else "")
    size = file.stat().st_size / 2**20
    for name, extra in [("this tree", {})] + ([(rev, {"PYTHONPATH": str(ref)})] if ref else []):
        env = dict(os.environ, OMP_NUM_THREADS="1", **extra)
        t = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", READ, source], env=env, stdout=subprocess.PIPE)
        out = child.stdout.read() if child.stdout else b""
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - t
        ok = os.waitstatus_to_exitcode(status) == 0
        print(
            f"    read only, {name}: {file.suffix[1:]} {size:.0f} MiB -> "
            f"{int(out) / 2**20 if ok else 0:.0f} MiB of ids in {wall:.1f} s, "
            f"peak {usage.ru_maxrss / 1024:.0f} MiB{'' if ok else '  (FAILED)'}"
        )


LAYERS = ("core", "data", "theory", "empirics", "runs", "config", "comparator", "cli")
"""The package folders of ``ktiw`` (a revision before the layer move has only some of them)."""


def reference_tree(rev: str) -> Path:
    """A folder importable as ``ktiw`` holding the sources of git revision ``rev``."""
    root = Path(__file__).resolve().parents[1]
    out = Path(tempfile.mkdtemp(prefix="ktiw-ref-"))
    src = out / "src"
    src.mkdir()
    listing = ["git", "-C", str(root), "ls-tree", "--name-only", rev]
    present = set(subprocess.run(listing, capture_output=True, text=True, check=True).stdout.split())
    names = [n for n in LAYERS if n in present]
    cmd = ["git", "-C", str(root), "archive", rev, *names]
    archive = subprocess.run(cmd, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    pkg = out / "pkg" / "ktiw"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name in names:
        (pkg / name).symlink_to(src / name)
    return out / "pkg"


if __name__ == "__main__":
    main()
