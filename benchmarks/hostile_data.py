"""Census families for issue 21, classes 1, 7, 8, 9 and 11: caches, data read wrongly, the
environment, output streams and misleading messages.

Merged into :data:`hostile_inputs.FAMILIES` (run them with
``OMP_NUM_THREADS=1 python benchmarks/hostile_inputs.py --family caches ...``).  Each family
returns :class:`hostile_inputs.Case` objects; beyond the census's own rules (exit code, at
most one line on stderr, no traceback, no hang), most cases carry a ``check`` that catches a
silent loss: a prediction that differs from the one made without the damaged cache, a
refusal that does not name the column, a lost stdout with exit 0, a message longer than a
line, a run folder named after a character it replaced.

* ``caches``   (class 1): corpus-cache and derivation-cache entries truncated, flipped, replaced
  by garbage, by a valid entry of another file, by a FIFO, a directory, a link to /dev/zero;
  the cache's index and lock replaced likewise.  A damaged entry must be rebuilt with a
  one-line notice, the prediction must equal the one made from scratch, and the next run
  must be silent (the entry was rebuilt).
* ``datatypes`` (class 7): CSV/TSV with an unclosed quote (every place it can be, plain and
  compressed, CR LF and CR line ends), and Parquet/JSON Lines with struct, list, map, binary,
  temporal columns: refused in one line naming the line or the column; legitimate multi-line
  quoted values, doubled quotes, integer/boolean labels and dictionary-encoded text accepted.
* ``environ``  (class 8): KTIW_DEBUG, KTIW_MAX_MEMORY, KTIW_MAX_DATA_BYTES, KTIW_CACHE_DIR,
  XDG_CACHE_HOME, HOME, COLUMNS, locales and PYTHONIOENCODING without UTF-8.
* ``streams``  (class 9): stdout closed, full (/dev/full) or a broken pipe; stderr closed or full.
* ``messages`` (class 11): FIFOs, sockets and devices where a file or folder is expected,
  huge specs and paths, specs with non-ASCII digits (the run folder must be unique and
  readable), plots of diverged runs, an unreachable Hub.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from hostile_inputs import KTIW, TINY, TINY_SPEC, Case, copy_run, fifo, seq, write

Check = Callable[[Path, int, str, str], "str | None"]

# ------------------------------------------------------------------ checks


def all_of(*checks: Check | None) -> Check:
    def check(d: Path, rc: int, out: str, err: str) -> str | None:
        for c in checks:
            if c is not None and (why := c(d, rc, out, err)):
                return why
        return None

    return check


def says(*words: str) -> Check:
    """stderr holds every word (case-insensitive) when the case was refused."""

    def check(d: Path, rc: int, out: str, err: str) -> str | None:
        missing = [w for w in words if w.lower() not in err.lower()]
        return f"refusal does not mention {missing}" if rc == 2 and missing else None

    return check


def never_says(*words: str) -> Check:
    def check(d: Path, rc: int, out: str, err: str) -> str | None:
        found = [w for w in words if w.lower() in err.lower()]
        return f"stderr says {found}" if found else None

    return check


def bounded(limit: int = 1000) -> Check:
    def check(d: Path, rc: int, out: str, err: str) -> str | None:
        return f"stderr is {len(err)} characters long" if len(err) > limit else None

    return check


def stdout_has(*words: str) -> Check:
    def check(d: Path, rc: int, out: str, err: str) -> str | None:
        missing = [w for w in words if w not in out]
        return f"exit 0 but stdout lacks {missing}" if rc == 0 and missing else None

    return check


def run_finished(rel: str) -> Check:
    """The run ``rel`` (under the scratch dir) was saved and is finished, whatever the exit code."""

    def check(d: Path, rc: int, out: str, err: str) -> str | None:
        try:
            ok = json.loads((d / rel / "summary.json").read_text())["finished"] is True
        except (OSError, ValueError, KeyError, TypeError):
            ok = False
        return None if ok else f"the run {rel} was not saved as finished"

    return check


# ------------------------------------------------------------------ class 1: caches

DATA = "a b c\tb c a\nc a b\ta b c\nb a c\tc b a\n"
OTHER = "x y\ty x\ny x\tx y\n"
PREDICT_DATA = ["predict", "--data", "d.tsv", "--json"]
CACHE_ENV = {"KTIW_CACHE_DIR": "{dir}/cache"}


def ktiw(d: Path, args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``ktiw args`` in ``d`` (its cache ``d/cache`` unless ``env`` says otherwise)."""
    full = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "COLUMNS": "100",
        "KTIW_CACHE_DIR": str(d / "cache"),
        **(env or {}),
    }
    return subprocess.run(
        [*KTIW, *args], cwd=d, env=full, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )


_WARM: dict[str, Path] = {}
_WARM_LOCK = threading.Lock()


def warm_cache(root: Path) -> Path:
    """A derivation cache filled once per census (predict of a copy family), copied by each case."""
    with _WARM_LOCK:
        return _warm_cache(root)


def _warm_cache(root: Path) -> Path:
    if "derivations" not in _WARM:
        d = root / "_warm_cache"
        d.mkdir(parents=True, exist_ok=True)
        ktiw(d, ["predict", "permutation:L=6", "--json"])
        ktiw(d, ["predict", "subset:L=6,V=9", "--json"])
        _WARM["derivations"] = d / "cache"
    return _WARM["derivations"]


_PRIMED: dict[str, Path] = {}


def primed(args: list[str], data: dict[str, str], derivations: bool = False) -> Callable[[Path], None]:
    """Write the data files and a cache filled by running ``args`` once (made once per census
    for each command, then copied), and keep its stdout as the expected output of every later
    run (``expected.out``)."""
    key = json.dumps([args, data, derivations])

    def setup(d: Path) -> None:
        for name, text in data.items():
            (d / name).write_text(text)
        with _WARM_LOCK:
            if key not in _PRIMED:
                base = d.parent.parent / f"_primed_{len(_PRIMED)}"
                base.mkdir()
                for name, text in data.items():
                    (base / name).write_text(text)
                if derivations:
                    shutil.copytree(_warm_cache(d.parent.parent), base / "cache", dirs_exist_ok=True)
                first = ktiw(base, args)
                if first.returncode != 0:
                    raise RuntimeError(f"priming failed: {first.stderr[-300:]}")
                (base / "expected.out").write_text(first.stdout)
                _PRIMED[key] = base
        base = _PRIMED[key]
        shutil.copytree(base / "cache", d / "cache", symlinks=True, dirs_exist_ok=True)
        shutil.copy(base / "expected.out", d / "expected.out")

    return setup


def same_output_and_rebuilt(args: list[str], damaged: bool = True) -> Check:
    """stdout equals the prediction made from scratch; a damaged entry was named in a notice;
    a second run is silent (the entry was rebuilt) and gives the same output."""

    def check(d: Path, rc: int, out: str, err: str) -> str | None:
        if rc != 0:
            return None
        if not same_numbers(out, (d / "expected.out").read_text()):
            return "stdout differs from the output made without the damaged cache"
        if damaged and "cache" not in err.lower():
            return "a damaged cache entry was used or replaced without a notice"
        again = ktiw(d, args)
        if again.returncode != 0 or again.stdout != out:
            return "the second run differs"
        if again.stderr.strip():
            return f"the second run is not silent: {again.stderr.strip()[:120]}"
        return None

    return check


def _entries(d: Path, pattern: str) -> list[Path]:
    found = sorted((d / "cache").rglob(pattern))
    if not found:
        raise RuntimeError(f"no cache entry {pattern}")
    return found


def damage(pattern: str, how: Callable[[Path, Path], None]) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        for p in _entries(d, pattern):
            how(d, p)

    return setup


def _truncate(keep: float) -> Callable[[Path, Path], None]:
    def f(d: Path, p: Path) -> None:
        data = p.read_bytes()
        p.write_bytes(data[: int(len(data) * keep)])

    return f


def _flip(at: float) -> Callable[[Path, Path], None]:
    def f(d: Path, p: Path) -> None:
        data = bytearray(p.read_bytes())
        i = min(int(len(data) * at), len(data) - 1)
        for j in range(i, min(i + 8, len(data))):
            data[j] ^= 0xFF
        p.write_bytes(bytes(data))

    return f


def _text(body: str) -> Callable[[Path, Path], None]:
    return lambda d, p: p.write_text(body)


def _fifo(d: Path, p: Path) -> None:
    p.unlink()
    os.mkfifo(p)


def _directory(d: Path, p: Path) -> None:
    p.unlink()
    p.mkdir()
    (p / "x").write_text("x")


def _link(target: str) -> Callable[[Path, Path], None]:
    def f(d: Path, p: Path) -> None:
        p.unlink()
        p.symlink_to(target)

    return f


def _socket(d: Path, p: Path) -> None:
    p.unlink()
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(p))
    finally:
        s.close()


def _npz(arrays: dict[str, object]) -> Callable[[Path, Path], None]:
    """A well-formed .npz with other arrays (wrong shapes, ids beyond the vocabulary, ...)."""

    def f(d: Path, p: Path) -> None:
        import numpy as np

        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
        p.write_bytes(buf.getvalue())

    return f


def _other_file(d: Path, p: Path) -> None:
    """Replace every corpus entry by the (valid, consistent) entries of another data file."""
    other = d / "_other"
    other.mkdir()
    (other / "d.tsv").write_text(OTHER)
    ktiw(other, ["predict", "--data", "d.tsv", "--json"], env={"KTIW_CACHE_DIR": str(other / "cache")})
    for q in (other / "cache" / "corpora").glob(f"*{p.suffix}"):
        shutil.copy(q, p)


NPZ_DAMAGE: dict[str, Callable[[Path, Path], None]] = {
    "trunc0": _truncate(0.0),
    "trunc50": _truncate(0.5),
    "flip10": _flip(0.1),
    "flip50": _flip(0.5),
    "garbage": _text("garbage" * 50),
    "fifo": _fifo,
    "directory": _directory,
    "socket": _socket,
    "dev-zero": _link("/dev/zero"),
    "dangling": _link("/nonexistent/x"),
    "other-file": _other_file,
    "neg-offsets": _npz({"src_ids": [0, 1], "src_off": [0, 5, 2], "tgt_ids": [0, 1], "tgt_off": [0, 1, 2]}),
    "ids-beyond": _npz({"src_ids": [99, 1], "src_off": [0, 1, 2], "tgt_ids": [0, 77], "tgt_off": [0, 1, 2]}),
    "float-ids": _npz({"src_ids": [0.5, 1], "src_off": [0, 1, 2], "tgt_ids": [0, 1], "tgt_off": [0, 1, 2]}),
    "missing-array": _npz({"src_ids": [0, 1], "src_off": [0, 1, 2]}),
    "empty-arrays": _npz({"src_ids": [], "src_off": [0], "tgt_ids": [], "tgt_off": [0]}),
}
JSON_DAMAGE: dict[str, Callable[[Path, Path], None]] = {
    "trunc50": _truncate(0.5),
    "flip50": _flip(0.5),
    "not-json": _text("{oops"),
    "list": _text("[1, 2]"),
    "words-int": _text('{"in_words": 5, "out_words": ["a"]}'),
    "words-ints": _text('{"in_words": [1, 2, 3], "out_words": [4, 5, 6]}'),
    "too-few-words": _text('{"in_words": ["a"], "out_words": ["a"]}'),
    "swapped-words": _text('{"in_words": ["c", "b", "a"], "out_words": ["c", "b", "a"]}'),
    "fifo": _fifo,
    "directory": _directory,
    "dev-zero": _link("/dev/zero"),
    "other-file": _other_file,
    "huge-string": _text('{"in_words": ["' + "a" * 100_000 + '"], "out_words": []}'),
}


def cache_cases() -> list[Case]:
    cases = []
    data = {"d.tsv": DATA}
    csv_data = {"d.csv": "input,output\na b c,b c a\nc a b,a b c\n"}
    csv_args = ["predict", "--data", "d.csv", "--json"]
    for target, damages in (("*.npz", NPZ_DAMAGE), ("*.json", JSON_DAMAGE)):
        for name, how in damages.items():
            for args, files in ((PREDICT_DATA, data), (csv_args, csv_data)):
                if args is csv_args and name not in ("trunc50", "flip50", "fifo", "other-file"):
                    continue
                cases.append(
                    Case(
                        "caches",
                        args,
                        expect="ok",
                        setup=seq(primed(args, files), damage(f"corpora/{'?' * 32}{target[1:]}", how)),
                        env=CACHE_ENV,
                        timeout=30,
                        check=same_output_and_rebuilt(args),
                        name=f"corpus{target[1:]}-{name}-{args[2]}",
                    )
                )
    train = ["train", "--data", "d.tsv", *TINY, "--out", "r"]
    for name in ("trunc50", "fifo", "other-file"):
        cases.append(
            Case(
                "caches",
                train,
                expect="ok",
                setup=seq(primed(PREDICT_DATA, data), damage("corpora/*.npz", NPZ_DAMAGE[name])),
                env=CACHE_ENV,
                timeout=60,
                check=all_of(run_finished("r"), says()),
                name=f"corpus-train-{name}",
            )
        )
    # the cache's folders and index replaced
    for where, how in (
        ("corpora", "file"),
        ("corpora", "fifo"),
        ("corpora", "dev-null"),
        ("corpora", "unwritable"),
    ):
        cases.append(
            Case(
                "caches",
                PREDICT_DATA,
                expect="ok",
                setup=seq(primed(PREDICT_DATA, data), _replace_dir(where, how)),
                env=CACHE_ENV,
                timeout=30,
                check=_same_output(),
                name=f"{where}-is-{how}",
            )
        )
    # derivation cache: entries, index and lock replaced by what blocks or misleads
    spec_args = ["predict", "permutation:L=6", "--json"]
    for pattern, damages in (
        ("copy_reduction_*.py", ("fifo", "directory", "garbage", "dev-zero", "socket")),
        ("takeoff_*.json", ("fifo", "garbage", "trunc50")),
        ("index_*.json", ("fifo", "directory", "garbage", "dev-zero")),
        ("index_*.lock", ("fifo", "directory", "dev-zero")),
    ):
        for name in damages:
            how = NPZ_DAMAGE.get(name) or {"garbage": _text("garbage")}[name]
            cases.append(
                Case(
                    "caches",
                    spec_args,
                    expect="ok",
                    setup=seq(primed(spec_args, {}, derivations=True), damage(pattern, how)),
                    env=CACHE_ENV,
                    timeout=120,
                    check=_same_output(),
                    name=f"derivation-{pattern.split('_')[0]}-{name}",
                )
            )
    return cases


def _replace_dir(rel: str, how: str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        p = d / "cache" / rel
        shutil.rmtree(p)
        if how == "file":
            p.write_text("x")
        elif how == "fifo":
            os.mkfifo(p)
        elif how == "dev-null":
            p.symlink_to("/dev/null")
        elif how == "unwritable":
            p.mkdir(mode=0o500)

    return setup


_WALL_TIME = re.compile(r'("\w*_seconds": )[-+0-9.eE]+')


def same_numbers(a: str, b: str) -> bool:
    """Two outputs alike but for wall-clock fields (``"pilot_seconds"``: how long the
    model-matched pilot took when it was measured; a damaged cache makes it measured again, the
    same numbers in a new time)."""
    return _WALL_TIME.sub(r"\1*", a) == _WALL_TIME.sub(r"\1*", b)


def _same_output() -> Check:
    def check(d: Path, rc: int, out: str, err: str) -> str | None:
        if rc == 0 and not same_numbers(out, (d / "expected.out").read_text()):
            return "stdout differs from the output made without the damaged cache"
        return None

    return check


# ------------------------------------------------------------------ class 7: data read wrongly


def _gz(text: str) -> bytes:
    return gzip.compress(text.encode())


def _bz2(text: str) -> bytes:
    return bz2.compress(text.encode())


def _parquet(columns: dict[str, object], name: str = "d.parquet") -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({k: v() if callable(v) else v for k, v in columns.items()})
        pq.write_table(table, d / name)

    return setup


def _arrays() -> dict[str, Callable[[], object]]:
    """Non-text pyarrow columns of 3 rows, by the name of their type."""
    import datetime
    import decimal

    import pyarrow as pa

    return {
        "struct": lambda: pa.array([{"a": "x y", "b": 1}] * 3),
        "list": lambda: pa.array([["x", "y"], ["y"], ["x"]]),
        "large_list": lambda: pa.array([["x", "y"], ["y"], ["x"]], type=pa.large_list(pa.string())),
        "fixed_list": lambda: pa.array([["x", "y"]] * 3, type=pa.list_(pa.string(), 2)),
        "map": lambda: pa.array([[("k", "v")]] * 3, type=pa.map_(pa.string(), pa.string())),
        "binary": lambda: pa.array([b"a b", b"b c", b"c a"]),
        "large_binary": lambda: pa.array([b"a b", b"b c", b"c a"], type=pa.large_binary()),
        "fixed_binary": lambda: pa.array([b"ab", b"bc", b"ca"], type=pa.binary(2)),
        "date": lambda: pa.array([datetime.date(2020, 1, k) for k in (1, 2, 3)]),
        "timestamp": lambda: pa.array([datetime.datetime(2020, 1, k) for k in (1, 2, 3)]),
        "time": lambda: pa.array([datetime.time(k) for k in (1, 2, 3)]),
        "duration": lambda: pa.array([datetime.timedelta(k) for k in (1, 2, 3)]),
        "dict_binary": lambda: pa.array([b"a", b"b", b"a"]).dictionary_encode(),
        "decimal_list": lambda: pa.array([[decimal.Decimal("1.5")]] * 3),
        "null": lambda: pa.nulls(3),
    }


TEXT3 = ["a b c", "b c a", "c a b"]


def _jsonl(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def data_cases() -> list[Case]:
    cases: list[Case] = []
    seq2seq = ["--input-col", "input", "--output-col", "output"]
    quote = all_of(says("quote", "line"), bounded())

    def csv_case(
        name: str,
        file: str,
        body: bytes | str,
        expect: str,
        extra: list[str] | None = None,
        train: bool = False,
    ) -> None:
        check = quote if expect == "refuse" else None
        for cmd in (["predict", "--data", file], ["train", "--data", file, *TINY])[: 2 if train else 1]:
            cases.append(
                Case(
                    "datatypes",
                    [*cmd, *(extra or [])],
                    expect=expect,
                    setup=write(file, body),
                    name=name,
                    check=check,
                )
            )

    rows = ["a b,c d", "e f,g h", "i j,k l", "m n,o p"]
    head = "input,output\n"
    unclosed = {
        "last-col-first-row": head + 'a b,"c d\n' + "\n".join(rows[1:]) + "\n",
        "first-col-first-row": head + '"a b,c d\n' + "\n".join(rows[1:]) + "\n",
        "middle-row": head + "\n".join(rows[:2]) + '\nx y,"z w\n' + "\n".join(rows[2:]) + "\n",
        "closed-later": head + 'a b,"c d\ne f,g h\ni j,"k l"\n',
        "closed-later-mid": head + 'a b,"c d\ne f,g "h" i\nk l,m n\n',
        "after-blank-lines": head + "a b,c d\n\n\n" + 'e f,"g h\n' + "\n".join(rows[2:]) + "\n",
        "header": 'input,"output\n' + "\n".join(rows) + "\n",
        "stray-after-quote": head + 'a b,"c d"x\ne f,g h\n"i\nj",k l\n',
    }
    for name, text in unclosed.items():
        csv_case(f"csv-{name}", "d.csv", text, "refuse", train=name in ("last-col-first-row", "middle-row"))
    csv_case("csv-crlf", "d.csv", unclosed["last-col-first-row"].replace("\n", "\r\n"), "refuse")
    csv_case("csv-cr", "d.csv", unclosed["last-col-first-row"].replace("\n", "\r"), "refuse")
    csv_case("csv-gz", "d.csv.gz", _gz(unclosed["middle-row"]), "refuse")
    csv_case("csv-bz2", "d.csv.bz2", _bz2(unclosed["middle-row"]), "refuse")
    csv_case("tsv-named", "d.tsv", unclosed["middle-row"].replace(",", "\t"), "refuse", seq2seq)
    csv_case(
        "csv-unselected-col",
        "d.csv",
        'input,note,output\na b,"oops,c d\ne f,n,g h\ni j,n,k l\n',
        "refuse",
    )
    csv_case(
        "csv-labelled",
        "d.csv",
        'label,text\npos,"good film\nneg,bad film\npos,fine\nneg,awful\n',
        "refuse",
        ["--text-col", "text", "--label-col", "label"],
    )
    big = head + "".join(f"w{i} x,y{i} z\n" for i in range(3000))
    csv_case("csv-big-unclosed", "d.csv", big.replace("w1500 x,y1500", 'w1500 x,"y1500', 1), "refuse")
    # legitimate quoting: accepted, every row kept
    legit = {
        "multiline-closed": head + 'a b,"c d\ne f"\ng h,i j\n',
        "doubled-quotes": head + 'a b,"c ""d"" e"\nf g,h i\n',
        "blank-lines": head + "a b,c d\n\n\ne f,g h\n",
        "stray-quote-unquoted": head + 'a 5" b,c d\ne f,g h\n',
        "multiline-many": head + "".join(f'w{i},"x\ny{i}"\n' for i in range(50)),
        "quoted-commas": head + '"a, b","c, d"\ne f,g h\n',
        "crlf-multiline": (head + 'a b,"c d\ne f"\ng h,i j\n').replace("\n", "\r\n"),
        # a quote left open on the last line merges no row: every row is read as written
        "open-on-last-row": head + "\n".join(rows) + '\nx y,"z w\n',
        "open-on-last-row-no-newline": head + "\n".join(rows) + '\nx y,"z w',
    }
    for name, text in legit.items():
        csv_case(f"csv-ok-{name}", "d.csv", text, "ok")
    # Parquet / JSON Lines: non-text columns refused in one line naming the column and type
    for tname in _arrays():
        for column in ("input", "output"):
            other = "output" if column == "input" else "input"
            cols = {column: _arrays()[tname], other: TEXT3}
            for cmd in (["predict", "--data", "d.parquet"], ["train", "--data", "d.parquet", *TINY]):
                if cmd[0] == "train" and (column == "output" or tname not in ("struct", "binary", "list")):
                    continue
                cases.append(
                    Case(
                        "datatypes",
                        cmd,
                        setup=_parquet(cols),
                        name=f"parquet-{tname}-{column}",
                        check=all_of(says(column), says(*([] if tname == "null" else ["text"])), bounded()),
                    )
                )
    labelled = ["--text-col", "text", "--label-col", "label"]
    for tname in ("struct", "list", "binary", "map", "timestamp"):
        cases.append(
            Case(
                "datatypes",
                ["predict", "--data", "d.parquet", *labelled],
                setup=_parquet({"label": _arrays()[tname], "text": TEXT3}),
                name=f"parquet-label-{tname}",
                check=all_of(says("label"), bounded()),
            )
        )
    jsonl_bad = {
        "object": [{"input": {"a": "x y"}, "output": t} for t in TEXT3],
        "array": [{"input": ["x", "y"], "output": t} for t in TEXT3],
        "nested-array": [{"input": [["x"]], "output": t} for t in TEXT3],
        "object-output": [{"input": t, "output": {"k": t}} for t in TEXT3],
        "array-of-objects": [{"input": [{"k": 1}], "output": t} for t in TEXT3],
    }
    for name, rowsj in jsonl_bad.items():
        for cmd in (["predict", "--data", "d.jsonl"], ["train", "--data", "d.jsonl", *TINY])[
            : 2 if name == "object" else 1
        ]:
            col = "output" if "output" in name else "input"
            cases.append(
                Case(
                    "datatypes",
                    cmd,
                    setup=write("d.jsonl", _jsonl(rowsj)),
                    name=f"jsonl-{name}",
                    check=all_of(says(col, "text"), bounded()),
                )
            )
    # legitimate typed columns
    import pyarrow as pa

    ok_parquet = {
        "int-labels": {"label": [0, 1, 0], "text": TEXT3},
        "bool-labels": {"label": [True, False, True], "text": TEXT3},
        "large-string": {"label": ["p", "n", "p"], "text": pa.array(TEXT3, type=pa.large_string())},
        "dict-string": {"label": ["p", "n", "p"], "text": pa.array(TEXT3).dictionary_encode()},
        "float-labels": {"label": [0.0, 1.0, 0.0], "text": TEXT3},
    }
    for name, cols in ok_parquet.items():
        cases.append(
            Case(
                "datatypes",
                ["predict", "--data", "d.parquet", *labelled],
                expect="ok",
                setup=_parquet(cols),
                name=f"parquet-ok-{name}",
            )
        )
    cases.append(
        Case(
            "datatypes",
            ["predict", "--data", "d.jsonl", *labelled],
            expect="ok",
            setup=write("d.jsonl", _jsonl([{"label": k % 2, "text": t} for k, t in enumerate(TEXT3)])),
            name="jsonl-ok-int-labels",
        )
    )
    return cases


# ------------------------------------------------------------------ class 8: the environment

BAD_INPUT = ["predict", "nope:L=3"]
FAMILIES_CMD = ["families"]
PREDICT = ["predict", "subset:L=4,V=6"]
TRAIN_OUT = ["train", TINY_SPEC, *TINY]


def env_cases() -> list[Case]:
    cases: list[Case] = []

    def case(
        args: list[str], env: dict[str, str | None], expect: str, check: Check | None = None, **kw
    ) -> None:
        name = ",".join(f"{k}={v!r}" for k, v in env.items())
        cases.append(Case("environ", args, expect=expect, env=env, check=check, name=name, **kw))

    # KTIW_DEBUG: off values are off (refusals stay one line), on values run, nonsense is refused by
    # name; every variable is read at start-up, so the cheapest command shows a bad value
    for value in ("0", "false", "no", "off", "", " 0 ", "FALSE"):
        case(BAD_INPUT, {"KTIW_DEBUG": value}, "refuse", says("nope"))
    for value in ("1", "true", "yes", "on"):
        case(FAMILIES_CMD, {"KTIW_DEBUG": value}, "ok", stdout_has("subset"))
    for value in ("maybe", "2", "-1", "yes please", "0x1", "é"):
        case(FAMILIES_CMD, {"KTIW_DEBUG": value}, "refuse", says("KTIW_DEBUG"))
    # KTIW_MAX_MEMORY / KTIW_MAX_DATA_BYTES (and KTIW_SLOW_BF16): one grammar per kind
    data = write("d.tsv", DATA)
    bad_sizes = ("inf", "-inf", "nan", "1e400", "-1", "0", "abc", "8X", "9" * 400, "0.1", "1e-3",
                 "8 G", "G", "--8G", "0x10", "1_000", "½G", "Infinity")  # fmt: skip
    for value in bad_sizes:
        case(FAMILIES_CMD, {"KTIW_MAX_MEMORY": value}, "refuse", all_of(says("KTIW_MAX_MEMORY"), bounded()))
    for value in bad_sizes[:6]:
        case(
            ["predict", "--data", "d.tsv"],
            {"KTIW_MAX_DATA_BYTES": value},
            "refuse",
            says("KTIW_MAX_DATA_BYTES"),
            setup=data,
        )
        case([*TRAIN_OUT, "--out", "r"], {"KTIW_MAX_MEMORY": value}, "refuse", says("KTIW_MAX_MEMORY"))
    for value in ("maybe", "2"):
        case(FAMILIES_CMD, {"KTIW_SLOW_BF16": value}, "refuse", says("KTIW_SLOW_BF16"))
    for value in ("8G", "8GiB", "512m", "1e12", " 4G ", ""):
        case([*TRAIN_OUT, "--out", "r"], {"KTIW_MAX_MEMORY": value}, "ok", run_finished("r"))
        case(["predict", "--data", "d.tsv"], {"KTIW_MAX_DATA_BYTES": value}, "ok", setup=data)
    case([*TRAIN_OUT, "--out", "r"], {"KTIW_MAX_MEMORY": "1K"}, "refuse", says("memory"))
    case(
        ["predict", "--data", "d.tsv"],
        {"KTIW_MAX_DATA_BYTES": "10"},
        "refuse",
        says("KTIW_MAX_DATA_BYTES"),
        setup=data,
    )
    # the cache location: unusable places only cost the cache
    for var in ("KTIW_CACHE_DIR", "XDG_CACHE_HOME"):
        for value, setup in (
            ("{dir}/f", write("f", "x")),
            ("{dir}/fifo", fifo("fifo")),
            ("/dev/null", None),
            ("/proc/x", None),
            ("{dir}/deep/er/than/ever", None),
            ("rel", None),
            ("{dir}/ro", lambda d: (d / "ro").mkdir(mode=0o500)),
            ("", None),
        ):
            env = {var: value} if var == "KTIW_CACHE_DIR" else {var: value, "KTIW_CACHE_DIR": None}
            setups = seq(data, *(s for s in (setup,) if s))
            case(["predict", "--data", "d.tsv"], env, "ok", setup=setups, timeout=60)
    for home in ("/nonexistent", "", "/dev/null", None):
        case(["predict", "--data", "d.tsv"], {"HOME": home, "KTIW_CACHE_DIR": None, "XDG_CACHE_HOME": None},
             "ok", setup=data, timeout=60)  # fmt: skip
    # terminal width: never swallow a message or the table
    for value in ("0", "1", "5", "-1", "abc", "", "99999999", "1e3", " 80", "30"):
        case(BAD_INPUT, {"COLUMNS": value}, "refuse", says("nope"))
        case(FAMILIES_CMD, {"COLUMNS": value}, "ok", stdout_has("subset"))
    case(PREDICT, {"COLUMNS": "0"}, "ok", stdout_has("subset:L=4,V=6"))
    for var, value in (
        ("LINES", "0"),
        ("TERM", "dumb"),
        ("NO_COLOR", "1"),
        ("FORCE_COLOR", "1"),
        ("TERM", ""),
    ):
        case(FAMILIES_CMD, {var: value}, "ok", stdout_has("subset"))
    # no UTF-8: non-ASCII names and the ellipsis must print, never fail after the work is done
    encodings = (
        {"PYTHONIOENCODING": "ascii"},
        {"PYTHONIOENCODING": "latin-1"},
        {"PYTHONIOENCODING": "ascii:strict"},
        {"PYTHONIOENCODING": "cp1252"},
        {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"},
        {"LC_ALL": "POSIX", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": None},
    )
    for k, enc in enumerate(encodings):
        for name in ("runé", "运行", "r…n", "emoji-🚀")[: 4 if k == 0 else 1]:
            case([*TRAIN_OUT, "--out", name], enc, "ok", run_finished(name))
        if k < 2:
            case(
                ["train", TINY_SPEC, *TINY[:-1], "--out", "ré"],
                {**enc, "COLUMNS": "60"},
                "ok",
                run_finished("ré"),
            )
        case(["predict", "é:L=3"], enc, "refuse")
        case(["predict", "--data", "données.tsv"], enc, "ok", setup=write("données.tsv", DATA))
        case(
            ["predict", "--data", "d.tsv"], {**enc, "COLUMNS": "50"}, "ok", setup=write("d.tsv", "é ü\tà ö\n")
        )
        case(["plot", "runé"], enc, "ok", setup=lambda d: copy_run("finished", d / "runé"))
        case(FAMILIES_CMD, {**enc, "COLUMNS": "40"}, "ok", stdout_has("subset"))
    # unknown KTIW_* variables: named, never silently ignored, never fatal
    for var in ("KTIW_MAX_MEMOR", "KTIW_DEBGU", "KTIW_CACHEDIR"):
        case(FAMILIES_CMD, {var: "1"}, "ok", _notes(var))
    return cases


def _notes(word: str) -> Check:
    def check(d: Path, rc: int, out: str, err: str) -> str | None:
        return None if word in err else f"stderr does not name {word}"

    return check


# ------------------------------------------------------------------ class 9: output streams


def stream_cases() -> list[Case]:
    cases: list[Case] = []
    lost = says("stdout")
    main_output = [
        PREDICT,
        [*PREDICT, "--json"],
        ["predict", "--data", "d.tsv"],
        ["families"],
        ["presets"],
        ["data", "list"],
        ["--version"],
        ["--help"],
        ["predict", "--help"],
        ["plot", "run"],
    ]

    def setup_for(args: list[str]) -> Callable[[Path], None] | None:
        if "d.tsv" in args:
            return write("d.tsv", DATA)
        if args[:2] == ["plot", "run"]:
            return lambda d: copy_run("finished", d / "run")
        return None

    for args in main_output:
        for out in ("closed", "full", "broken"):
            cases.append(
                Case("streams", args, stdout=out, setup=setup_for(args), check=lost, name=f"stdout-{out}")
            )
    for out in ("closed", "full", "broken"):
        cases.append(
            Case(
                "streams",
                [*TRAIN_OUT, "--out", "r"],
                stdout=out,
                check=all_of(lost, run_finished("r")),
                name=f"train-stdout-{out}",
            )
        )
    for err in ("closed", "full"):
        for args in (PREDICT, [*PREDICT, "--json"], ["families"]):
            cases.append(Case("streams", args, expect="ok", stderr=err, name=f"stderr-{err}-ok"))
        for args in (
            BAD_INPUT,
            ["predict", "--data", "nope.tsv"],
            ["train", "--bogus"],
            ["verify", "--seeds", "0"],
        ):
            cases.append(Case("streams", args, expect="refuse", stderr=err, name=f"stderr-{err}-refused"))
        cases.append(
            Case(
                "streams",
                ["train", TINY_SPEC, *TINY[:-1], "--out", "r"],
                expect="ok",
                stderr=err,
                check=run_finished("r"),
                name=f"stderr-{err}-train-progress",
            )
        )
        for out in ("closed", "full", "broken"):
            cases.append(Case("streams", PREDICT, stdout=out, stderr=err, name=f"both-{out}-{err}"))
    return cases


# ------------------------------------------------------------------ class 11: messages that mislead


def _unix_socket(rel: str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.bind(str(d / rel))
        finally:
            s.close()

    return setup


def diverged_run(kind: str) -> Callable[[Path], None]:
    """A finished run whose loss went NaN / inf from step 2 on, as the trainer records a
    diverged seed (``diverged`` = 1 in ``curves.csv``, ``summary.json`` agrees; the
    completeness record, which hashes ``curves.csv``, dropped as in an older run)."""

    def setup(d: Path) -> None:
        copy_run("finished", d / "run")
        path = d / "run" / "curves.csv"
        lines = path.read_text().splitlines()
        header = lines[0].split(",")
        out = [lines[0]]
        seeds_hit: set[int] = set()
        for line in lines[1:]:
            row = line.split(",")
            seed, step = int(row[0]), int(row[1])
            if step >= 2 and (kind != "one-seed" or seed == 0):
                seeds_hit.add(seed)
                value = {"nan": "nan", "inf": "inf", "one-seed": "nan", "mixed": ("inf", "nan")[seed % 2]}[
                    kind
                ]
                row[header.index("loss")] = value
                row[header.index("diverged")] = "1"
            out.append(",".join(row))
        path.write_text("\n".join(out) + "\n")
        summary = json.loads((d / "run" / "summary.json").read_text())
        summary.pop("complete", None)
        for s in summary["seeds"]:
            if s["seed"] in seeds_hit:
                s.update(diverged=True, diverged_step=2)
        (d / "run" / "summary.json").write_text(json.dumps(summary))

    return setup


def message_cases() -> list[Case]:
    cases: list[Case] = []
    pipe = all_of(says("not a regular file"), never_says("does not exist"))

    def case(args: list[str], setup=None, expect: str = "refuse", check: Check | None = None, **kw) -> None:
        cases.append(Case("messages", args, expect=expect, setup=setup, check=check, timeout=120, **kw))

    # FIFOs, sockets, devices where a file or folder is expected
    for name in ("d.tsv", "d.csv", "d.jsonl", "d.parquet", "d.tsv.gz"):
        case(["predict", "--data", name], fifo(name), check=pipe, name=f"fifo-data-{name}")
        case(["train", "--data", name, *TINY], fifo(name), check=pipe, name=f"fifo-data-train-{name}")
    case(["predict", "--data", "s.tsv"], _unix_socket("s.tsv"), check=pipe, name="socket-data")
    for tok, setup, words in (
        ("t.model", fifo("t.model"), ("not a regular file",)),
        ("t.json", fifo("t.json"), ("not a regular file",)),
        ("/dev/null", None, ("not a regular file",)),
        ("td.model", lambda d: (d / "td.model").mkdir(), ("directory",)),
        ("s.model", _unix_socket("s.model"), ("not a regular file",)),
        ("missing.model", None, ("does not exist",)),
    ):
        case(
            ["predict", "--data", "d.tsv", "--tokenizer", tok],
            seq(write("d.tsv", DATA), *(s for s in (setup,) if s)),
            check=all_of(says(*words), *(() if "exist" in words[0] else (never_says("does not exist"),))),
            name=f"tokenizer-{tok}",
        )
    for args, setup in (
        (["train", "--resume", "f"], fifo("f")),
        (["train", "--resume", "f"], write("f", "x")),
        (["plot", "f"], fifo("f")),
        (["plot", "f"], write("f", "x")),
        (["train", "--resume", "/dev/null"], None),
        (["plot", "/dev/null"], None),
    ):
        case(args, setup, check=never_says("does not exist"), name=f"not-a-dir-{args[0]}")
    # messages bounded: huge specs, option values and paths give one short line
    keys = ",".join(f"k{i}=1" for i in range(12_000))
    long_specs = {
        "12k-unknown-keys": f"subset:L=3,V=4,{keys}",
        "12k-bare-keys": "subset:L=3,V=4," + ",".join(f"k{i}" for i in range(12_000)),
        "12k-duplicates": "subset:" + ",".join("L=3" for _ in range(12_000)),
        "5k-digit-value": "subset:L=3,V=" + "9" * 5000,
        "20k-family": "x" * 20_000,
        "20k-bad-value": "subset:L=3,V=" + "é" * 20_000,
        "long-key": "subset:L=3,V=4," + "k" * 20_000 + "=1",
        "many-commas": "subset:L=3" + "," * 20_000,
    }
    for name, spec in long_specs.items():
        for cmd in ("predict", "train"):
            case([cmd, spec, *(TINY if cmd == "train" else [])], check=bounded(), name=f"long-{name}-{cmd}")
    for args in (
        ["predict", "--data", "x" * 5000 + ".tsv"],
        ["predict", "--data", "/".join(["d"] * 3000) + ".tsv"],
        ["train", TINY_SPEC, *TINY, "--out", "o" * 5000],
        ["train", TINY_SPEC, *TINY, "--seeds", ",".join(map(str, range(20_000))) + ",1"],
        ["verify", "--set", ",".join(f"k{i}=1" for i in range(5000)), "--steps", "2", "--seeds", "2"],
        ["verify", *[a for i in range(2000) for a in ("--set", f"k{i}=1")], "--steps", "2"],
        [
            "train",
            TINY_SPEC,
            *TINY,
            "--model",
            "lstm",
            *[a for i in range(2000) for a in ("--opt", f"k{i}=1")],
        ],
        ["predict", "--data", "d.tsv", "--input-col", "c" * 20_000],
        ["train", TINY_SPEC, "--model", "m" * 20_000],
        ["plot", *[f"run{i}" for i in range(3000)]],
    ):
        case(args, write("d.tsv", DATA), check=bounded(), name=f"long-args-{args[0]}")
    # non-ASCII digits: read as numbers, the run folder named by the canonical spec
    digits = {
        "arabic-indic": ("subset:L=٣,V=٤", "subset-L3-V4-toy"),
        "persian": ("subset:L=۳,V=۴", "subset-L3-V4-toy"),
        "devanagari": ("subset:L=३,V=५", "subset-L3-V5-toy"),
        "fullwidth": ("subset:L=３,V=６", "subset-L3-V6-toy"),
        "mixed": ("subset:L=3,V=٥", "subset-L3-V5-toy"),
        "spaces": ("subset : L = 3 , V = 4", "subset-L3-V4-toy"),
        "leading-zero": ("subset:L=03,V=04", "subset-L03-V04-toy"),
        "plus": ("subset:L=+3,V=4", "subset-L3-V4-toy"),
        "underscore": ("subset:L=3,V=1_0", "subset-L3-V1_0-toy"),
    }
    for name, (spec, folder) in digits.items():
        case(["train", spec, *TINY], expect="ok", check=_run_folder(folder), name=f"digits-{name}")
    for spec in ("subset:L=³,V=4", "subset:L=½,V=4", "subset:L=٣٫٥,V=9"):
        case(["train", spec, *TINY], check=bounded(), name="digits-refused")
    # data files whose names are not ASCII: distinct names give distinct, readable folders
    for a, b in (
        ("é.tsv", "è.tsv"),
        ("données.tsv", "donnees.tsv"),
        ("a b.tsv", "a_b.tsv"),
        ("日本.tsv", "中国.tsv"),
    ):
        case(
            ["train", "--data", a, *TINY],
            seq(write(a, DATA), write(b, DATA)),
            expect="ok",
            check=_distinct_folders(a, b),
            name=f"data-names-{a}",
        )
    # plots of diverged runs: no numpy/matplotlib warnings, one line naming what diverged
    for kind in ("nan", "inf", "one-seed", "mixed"):
        case(["plot", "run"], diverged_run(kind), expect="ok", check=_diverged_note(), name=f"plot-{kind}")
        case(["plot", "run", "run2", "--out", "pp"],
             seq(diverged_run(kind), lambda d: copy_run("finished", d / "run2")),
             expect="ok", check=_diverged_note(), name=f"plot-overlay-{kind}")  # fmt: skip
    # an unreachable Hub: one line, no retry logs
    for endpoint in ("http://127.0.0.1:9", "http://10.255.255.1:80", "http://[::1]:9"):
        case(
            ["predict", "--data", "hf:someone/nothing", "--input-col", "a", "--output-col", "b"],
            expect="refuse",
            env={"HF_ENDPOINT": endpoint, "HF_HOME": "{dir}/hf"},
            check=bounded(600),
            name="hub-unreachable",
        )
    return cases


def _run_folder(folder: str) -> Check:
    def check(d: Path, rc: int, out: str, err: str) -> str | None:
        names = sorted(p.name for p in (d / "ktiw-runs").iterdir()) if (d / "ktiw-runs").is_dir() else []
        return None if names == [folder] else f"run folder {names}, expected [{folder!r}]"

    return check


def _distinct_folders(a: str, b: str) -> Check:
    """Train on ``b`` too: the two runs get different folders, neither named ``-2``."""

    def check(d: Path, rc: int, out: str, err: str) -> str | None:
        if rc != 0:
            return None
        second = ktiw(d, ["train", "--data", b, *TINY])
        if second.returncode != 0:
            return f"the second training failed: {second.stderr[-200:]}"
        names = sorted(p.name for p in (d / "ktiw-runs").iterdir())
        if len(names) != 2 or any(n.endswith("-2") for n in names):
            return f"runs of {a} and {b} share a name: {names}"
        return None

    return check


def _diverged_note() -> Check:
    def check(d: Path, rc: int, out: str, err: str) -> str | None:
        if rc != 0:
            return None
        if "warning" in err.lower():
            return "warnings printed"
        return None if "diverged" in err else "no line says what diverged"

    return check


FAMILIES: dict[str, Callable[[], list[Case]]] = {
    "caches": cache_cases,
    "datatypes": data_cases,
    "environ": env_cases,
    "streams": stream_cases,
    "messages": message_cases,
}

if __name__ == "__main__":  # pragma: no cover - run through hostile_inputs.py
    sys.exit("run: python benchmarks/hostile_inputs.py --family caches ...")
