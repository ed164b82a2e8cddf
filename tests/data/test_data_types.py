"""Data read wrongly without a word (issue 21, class 7).

* A CSV with an unclosed quote made the reader take every following line into one value,
  with exit 0.  Now the file is refused in one line naming where the quote opens and the
  lines it swallows; a properly quoted value that spans lines is still read, every row kept.
* Struct, list, map, binary and temporal columns were printed into tokens (a key name became a
  token of every row, ``b'a b'`` became ``b a b``).  Now they are refused in one line naming
  the column and its type; strings, numbers and booleans (labels) are read.
"""

from __future__ import annotations

import bz2
import datetime
import gzip
import json
from pathlib import Path

import pytest

from ktiw.core.errors import DataFileError
from ktiw.data.corpus import load_corpus

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

ROWS = ["a b,c d", "e f,g h", "i j,k l", "m n,o p"]
HEAD = "input,output\n"
UNCLOSED = {
    "swallows to the end": (HEAD + 'a b,"c d\n' + "\n".join(ROWS[1:]) + "\n", 2),
    "first column": (HEAD + '"a b,c d\n' + "\n".join(ROWS[1:]) + "\n", 2),
    "middle row": (HEAD + "\n".join(ROWS[:2]) + '\nx y,"z w\n' + "\n".join(ROWS[2:]) + "\n", 4),
    "closed on a later line": (HEAD + 'a b,"c d\ne f,g h\ni j,"k l"\n', 2),
    "unselected column": ('input,note,output\na b,"oops,c d\ne f,n,g h\ni j,n,k l\n', 2),
    "after blank lines": (HEAD + 'a b,c d\n\n\ne f,"g h\n' + "\n".join(ROWS[2:]) + "\n", 5),
}


def read(path: Path, **columns: str) -> tuple[int, list[str], list[str]]:
    source = str(path) + ("?" + "&".join(f"{k}={v}" for k, v in columns.items()) if columns else "")
    c, _ = load_corpus(source, "labelled" if "label" in columns else "pairs", use_cache=False)
    return c.n_rows, c.in_words, c.out_words


@pytest.mark.parametrize("case", sorted(UNCLOSED))
@pytest.mark.parametrize("form", ["plain", "crlf", "gz", "bz2", "tsv"])
def test_unclosed_quote_is_refused_naming_its_line(tmp_path: Path, case: str, form: str) -> None:
    text, line = UNCLOSED[case]
    name = {"gz": "d.csv.gz", "bz2": "d.csv.bz2", "tsv": "d.tsv"}.get(form, "d.csv")
    if form == "crlf":
        text = text.replace("\n", "\r\n")
    if form == "tsv":
        text = text.replace(",", "\t")
    data = text.encode()
    data = gzip.compress(data) if form == "gz" else bz2.compress(data) if form == "bz2" else data
    (tmp_path / name).write_bytes(data)
    columns = {"input": "input", "output": "output"} if form == "tsv" else {}
    with pytest.raises(DataFileError, match=rf"line {line}: a quoted value is not closed properly") as info:
        read(tmp_path / name, **columns)
    assert "would merge lines" in str(info.value) and "\n" not in str(info.value)


def test_unclosed_quote_in_a_big_file(tmp_path: Path) -> None:
    text = HEAD + "".join(f"w{i} x,y{i} z\n" for i in range(3000))
    (tmp_path / "d.csv").write_text(text.replace("w1500 x,y1500", 'w1500 x,"y1500', 1))
    with pytest.raises(DataFileError, match="line 1502: a quoted value"):
        read(tmp_path / "d.csv")


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        (HEAD + 'a b,"c d\ne f"\ng h,i j\n', 2),
        (HEAD + 'a b,"c ""d"" e"\nf g,h i\n', 2),
        (HEAD + "a b,c d\n\n\ne f,g h\n", 2),
        (HEAD + 'a 5" b,c d\ne f,g h\n', 2),
        (HEAD + "".join(f'w{i},"x\ny{i}"\n' for i in range(50)), 50),
        ((HEAD + 'a b,"c d\ne f"\ng h,i j\n').replace("\n", "\r\n"), 2),
        (HEAD + "\n".join(ROWS) + '\nx y,"z w\n', 5),  # open at the very end: it merges nothing
    ],
)
def test_sound_quoting_keeps_every_row(tmp_path: Path, text: str, rows: int) -> None:
    (tmp_path / "d.csv").write_text(text)
    assert read(tmp_path / "d.csv")[0] == rows


def non_text() -> dict[str, object]:
    return {
        "struct<a: string, b: int64>": pa.array([{"a": "x y", "b": 1}] * 3),
        "list<item: string>": pa.array([["x", "y"], ["y"], ["x"]]),
        "large_list<item: string>": pa.array([["x"]] * 3, type=pa.large_list(pa.string())),
        "map<string, string>": pa.array([[("k", "v")]] * 3, type=pa.map_(pa.string(), pa.string())),
        "binary": pa.array([b"a b", b"b c", b"c a"]),
        "large_binary": pa.array([b"a b"] * 3, type=pa.large_binary()),
        "fixed_size_binary[2]": pa.array([b"ab"] * 3, type=pa.binary(2)),
        "date32[day]": pa.array([datetime.date(2020, 1, k) for k in (1, 2, 3)]),
        "timestamp[us]": pa.array([datetime.datetime(2020, 1, k) for k in (1, 2, 3)]),
        "duration[us]": pa.array([datetime.timedelta(k) for k in (1, 2, 3)]),
        "dictionary<values=binary, indices=int32, ordered=0>": pa.array(
            [b"a", b"b", b"a"]
        ).dictionary_encode(),
    }


@pytest.mark.parametrize("type_name", sorted(non_text()))
@pytest.mark.parametrize("column", ["input", "output"])
def test_non_text_parquet_column_is_refused_naming_it(tmp_path: Path, type_name: str, column: str) -> None:
    other = "output" if column == "input" else "input"
    pq.write_table(
        pa.table({column: non_text()[type_name], other: ["a b", "c", "d e"]}), tmp_path / "d.parquet"
    )
    with pytest.raises(DataFileError) as info:
        read(tmp_path / "d.parquet", input="input", output="output")
    message = str(info.value)  # Parquet names a list's or map's fields after the column
    assert (
        f"column {column!r} holds {type_name.partition('<')[0]}" in message and "values, not text" in message
    )


@pytest.mark.parametrize(
    ("rows", "column", "type_name"),
    [
        ([{"input": {"a": "x y"}, "output": "y"}], "input", "struct<a: string>"),
        ([{"input": ["x", "y"], "output": "y"}], "input", "list<item: string>"),
        ([{"input": "x", "output": [{"k": 1}]}], "output", "list<item: struct<k: int64>>"),
    ],
)
def test_non_text_jsonl_column_is_refused_naming_it(
    tmp_path: Path, rows: list, column: str, type_name: str
) -> None:
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataFileError, match=f"column {column!r} holds {type_name} values, not text"):
        read(tmp_path / "d.jsonl", input="input", output="output")


@pytest.mark.parametrize(
    "labels",
    [[0, 1, 0], [True, False, True], [0.0, 1.0, 0.0], pa.array(["p", "n", "p"]).dictionary_encode()],
)
def test_numbers_booleans_and_dictionary_text_are_read(tmp_path: Path, labels: object) -> None:
    text = pa.array(["a b", "b c", "c a"], type=pa.large_string())
    pq.write_table(pa.table({"label": labels, "text": text}), tmp_path / "d.parquet")
    n, in_words, out_words = read(tmp_path / "d.parquet", text="text", label="label")
    assert n == 3 and in_words == ["a", "b", "c"] and len(out_words) == 2


def test_hub_columns_must_hold_text() -> None:
    datasets = pytest.importorskip("datasets")
    from ktiw.data.hub import check_feature

    check_feature("hf:x", "text", datasets.Value("string"))
    check_feature("hf:x", "label", datasets.ClassLabel(names=["neg", "pos"]))
    check_feature("hf:x", "label", datasets.Value("int64"))
    for feature in (
        {"de": datasets.Value("string")},
        datasets.Value("binary"),
        datasets.Sequence(datasets.Value("string")),
    ):
        with pytest.raises(DataFileError, match=r"hf:x: column 'text' holds .* values, not text"):
            check_feature("hf:x", "text", feature)
