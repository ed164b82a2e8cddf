"""Hypothesis over the data families of issue 21 (see benchmarks/hostile_data.py for the census):

* tables whose columns are of any pyarrow type: read when every column read holds text,
  else one :class:`DataFileError` naming the first column that does not, and its type;
* CSV files with quotes anywhere: either refused in one line, or read with exactly the rows
  Python's strict ``csv`` reader finds (no row ever merged silently);
* damaged corpus-cache entries (cut, flipped or overwritten bytes): the corpus read is the one
  made without a cache, with at most one ``note:`` line.

Example counts are modest (the whole module runs in a few seconds)."""

from __future__ import annotations

import csv
import datetime
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ktiw.core import console
from ktiw.core.errors import DataFileError
from ktiw.data.corpus import load_corpus

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
WORDS = ["a b", "b c", "c a"]

COLUMN_KINDS = {
    "string": (True, lambda: pa.array(WORDS)),
    "large_string": (True, lambda: pa.array(WORDS, type=pa.large_string())),
    "dict_string": (True, lambda: pa.array(WORDS).dictionary_encode()),
    "int": (True, lambda: pa.array([1, 2, 3])),
    "bool": (True, lambda: pa.array([True, False, True])),
    "float": (True, lambda: pa.array([0.5, 1.0, 2.0])),
    "struct": (False, lambda: pa.array([{"k": w} for w in WORDS])),
    "list": (False, lambda: pa.array([w.split() for w in WORDS])),
    "map": (False, lambda: pa.array([[("k", w)] for w in WORDS], type=pa.map_(pa.string(), pa.string()))),
    "binary": (False, lambda: pa.array([w.encode() for w in WORDS])),
    "date": (False, lambda: pa.array([datetime.date(2020, 1, d) for d in (1, 2, 3)])),
    "timestamp": (False, lambda: pa.array([datetime.datetime(2020, 1, d) for d in (1, 2, 3)])),
}


@FAST
@given(
    st.sampled_from(sorted(COLUMN_KINDS)),
    st.sampled_from(sorted(COLUMN_KINDS)),
    st.sampled_from(["parquet", "jsonl"]),
)
def test_typed_columns_are_read_as_text_or_refused_by_name(
    tmp_path: Path, left: str, right: str, fmt: str
) -> None:
    table = pa.table({"input": COLUMN_KINDS[left][1](), "output": COLUMN_KINDS[right][1]()})
    path = tmp_path / f"d.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, path)
    else:
        rows = table.to_pylist()  # dates and bytes become strings in JSON, as a user's export would
        path.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows))
    schema = pq.read_schema(path) if fmt == "parquet" else None
    texts = {c: COLUMN_KINDS[k][0] for c, k in (("input", left), ("output", right))}
    if fmt == "jsonl":  # JSON infers its own types: judge by what the reader will see
        from pyarrow import json as pj

        schema = pj.read_json(path).schema
        from ktiw.data.tabular import is_text_type

        texts = {c: is_text_type(schema.field(c).type) for c in texts}
    try:
        c, _ = load_corpus(f"{path}?input=input&output=output", "pairs", use_cache=False)
    except DataFileError as exc:
        first_bad = next((col for col in ("output", "input") if not texts[col]), None)
        if first_bad is None:
            assert "has no tokens" in str(exc) or "no rows" in str(exc), str(exc)
            return
        message = str(exc)
        assert "values, not text" in message and "\n" not in message
        assert any(f"column {col!r} holds" in message for col in texts if not texts[col])
        return
    assert all(texts.values()), (left, right)
    assert c.n_rows == 3


cell = st.text(alphabet='ab "\n,', min_size=0, max_size=6)


def strict_records(body: str) -> tuple[int, int | None]:
    """``(records read, line where the first badly quoted record starts or None)`` by Python's
    strict ``csv`` reader (blank lines are no records)."""
    reader = csv.reader(io.StringIO(body, newline=""), strict=True)
    records, start = 0, 1
    try:
        for row in reader:
            records += bool(row)
            start = reader.line_num + 1
    except csv.Error:
        return records, start
    return records, None


@FAST
@given(st.lists(st.tuples(cell, cell), min_size=1, max_size=8))
def test_csv_rows_are_never_merged_silently(tmp_path: Path, rows: list[tuple[str, str]]) -> None:
    """Accepted means: every record the strict reader finds, or all of them and one more when
    the only bad quote opens on the last line (it swallows no line)."""
    body = "input,output\n" + "".join(f"{a},{b}\n" for a, b in rows)
    path = tmp_path / "d.csv"
    path.write_text(body)
    records, bad = strict_records(body)
    try:
        c, _ = load_corpus(str(path), "pairs", use_cache=False)
    except DataFileError as exc:
        assert "\n" not in str(exc)
        return
    last = body.count("\n")
    assert bad is None or bad == last, f"rows merged from line {bad} were read"
    assert c.n_rows == records - 1 + (bad is not None)


DATA = "a b c\tb c a\nc a b\ta b c\nb a c\tc b a\n"


@FAST
@given(
    st.sampled_from([".npz", ".json"]),
    st.sampled_from(["cut", "flip", "overwrite"]),
    st.floats(0, 1),
    st.binary(min_size=1, max_size=64),
)
def test_damaged_corpus_cache_is_rebuilt(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    suffix: str,
    how: str,
    at: float,
    junk: bytes,
) -> None:
    case = tmp_path / f"c{abs(hash((suffix, how, at, junk)))}"
    case.mkdir()
    monkeypatch.setenv("KTIW_CACHE_DIR", str(case / "cache"))
    (case / "d.tsv").write_text(DATA)
    fresh, _ = load_corpus(str(case / "d.tsv"), "pairs")
    (entry,) = (case / "cache" / "corpora").glob("?" * 32 + suffix)
    data = bytearray(entry.read_bytes())
    i = min(int(at * len(data)), len(data) - 1)
    if how == "cut":
        data = data[:i]
    elif how == "flip":
        data[i] ^= 0xFF
    else:
        data[i : i + len(junk)] = junk
    entry.write_bytes(bytes(data))
    console._NOTED.clear()
    capsys.readouterr()
    again, _ = load_corpus(str(case / "d.tsv"), "pairs")
    assert (again.src_ids.tolist(), again.tgt_ids.tolist(), again.in_words, again.out_words) == (
        fresh.src_ids.tolist(),
        fresh.tgt_ids.tolist(),
        fresh.in_words,
        fresh.out_words,
    )
    assert len(capsys.readouterr().err.strip().splitlines()) <= 1
