"""Data sources: formats, columns, tokenisation, caps, cache and one-line errors.

Every format must give exactly the distribution that the same rows give as a headerless
TSV (word ids, lengths, and therefore the counted co-occurrence matrix)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ktiw.cli.app import app
from ktiw.core.errors import DataFileError, KtiwError
from ktiw.data import corpus, tabular
from ktiw.data.corpus import DataSource, load_distribution, load_labelled, load_pairs
from ktiw.data.tokenize import tokenize_texts

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

runner = CliRunner()

ROWS = [
    ("the cat sat", "le chat assis"),
    ("the dog", "le chien"),
    ("a cat, a dog!", "un chat un chien"),
    ("Dog sat", "chien assis"),
]
"""Seq2seq rows; the words tokeniser makes them lowercase word sequences."""


def words(text: str) -> list[str]:
    """The documented reference: ``re.findall(r"[^\\W_]+", text.lower())``."""
    return re.findall(r"[^\W_]+", text.lower())


def write(path: Path, fmt: str, columns: dict[str, list[str]]) -> Path:
    table = pa.table(columns)
    if fmt == "parquet":
        pq.write_table(table, path, row_group_size=2)
    elif fmt == "jsonl":
        n = len(next(iter(columns.values())))
        path.write_text("".join(json.dumps({k: v[i] for k, v in columns.items()}) + "\n" for i in range(n)))
    else:
        from pyarrow import csv

        csv.write_csv(table, path, csv.WriteOptions(delimiter="\t" if fmt == "tsv" else ","))
    return path


def reference_tsv(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    ref = tmp_path / "ref.tsv"
    ref.write_text("".join(" ".join(words(a)) + "\t" + " ".join(words(b)) + "\n" for a, b in rows))
    return ref


def same(a, b) -> None:
    assert a.in_words == b.in_words and a.out_words == b.out_words
    np.testing.assert_array_equal(a.src_arr, b.src_arr)
    np.testing.assert_array_equal(a.tgt_arr, b.tgt_arr)
    np.testing.assert_array_equal(a.src_lens, b.src_lens)
    np.testing.assert_allclose(a.cooccurrence().dense(), b.cooccurrence().dense(), rtol=0, atol=1e-15)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_every_format_gives_the_headerless_tsv_distribution(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path / f"d.{fmt}", fmt, {"en": [a for a, _ in ROWS], "fr": [b for _, b in ROWS]})
    got = load_distribution(f"{path}?input=en&output=fr")
    same(got, load_pairs(reference_tsv(tmp_path, ROWS)))
    assert got.in_words == sorted({w for a, _ in ROWS for w in words(a)})


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_streaming_in_many_small_batches_gives_the_same_result(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(1)
    vocab = [f"w{i}" for i in range(30)]
    rows = [(" ".join(rng.choice(vocab, 5)), " ".join(rng.choice(vocab, 3))) for _ in range(400)]
    path = write(tmp_path / f"d.{fmt}", fmt, {"input": [a for a, _ in rows], "output": [b for _, b in rows]})
    monkeypatch.setattr(tabular, "BLOCK_BYTES", 1024)  # dozens of CSV/JSON blocks
    monkeypatch.setattr(tabular, "PARQUET_BATCH_ROWS", 7)
    batches = list(tabular.iter_columns(path, fmt, ["input", "output"]))
    assert len(batches) > 5
    assert [r for rows_, _ in batches for r in rows_] == list(range(1, 401))
    same(load_distribution(DataSource(str(path)), "pairs"), load_pairs(reference_tsv(tmp_path, rows)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="aBc é_1'-,\n\t.Z", max_size=25), min_size=1, max_size=8))
def test_words_tokeniser_matches_its_documented_regex(texts: list[str]) -> None:
    flat, lengths = tokenize_texts(texts, "words")
    assert flat == [w for t in texts for w in words(t)]
    assert lengths.tolist() == [len(words(t)) for t in texts]


def test_max_vocab_keeps_the_most_frequent_words_and_maps_the_rest_to_unk(tmp_path: Path) -> None:
    f = tmp_path / "d.tsv"
    f.write_text("a a a b b c\tx\nb d e\ty\n")  # counts a3 b3 c1 d1 e1
    d = load_distribution(f"{f}?max_vocab=2")
    assert d.in_words == ["<unk>", "a", "b"]
    assert d.src_arr[0].tolist() == [1, 1, 1, 2, 2, 0] and d.src_arr[1, :3].tolist() == [2, 0, 0]
    full = load_pairs(f)
    # C of the capped corpus = C of the full corpus with c, d, e summed into one row
    merged = full.cooccurrence().dense()
    idx = {w: i for i, w in enumerate(full.in_words)}
    want = np.stack([merged[[idx["c"], idx["d"], idx["e"]]].sum(0), merged[idx["a"]], merged[idx["b"]]])
    np.testing.assert_allclose(d.cooccurrence().dense(), want, atol=1e-15)


def test_max_len_truncates_every_sequence(tmp_path: Path) -> None:
    f = tmp_path / "d.tsv"
    f.write_text("a b c d\tx y z\nb\ty\n")
    d = load_distribution(f"{f}?max_len=2")
    assert d.src_lens.tolist() == [2, 1] and d.tgt_lens.tolist() == [2, 1]
    assert [d.in_words[i] for i in d.src_arr[0]] == ["a", "b"]
    assert "c" not in d.in_words and "z" not in d.out_words


def test_labelled_columns_and_label_order(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.parquet",
        "parquet",
        {"review": ["Great fun!", "Dull.", "great"], "y": ["pos", "neg", "pos"]},
    )
    d = load_labelled(f"{path}?text=review&label=y")
    assert d.out_words == ["neg", "pos"] and d.tgt_arr[:, 0].tolist() == [1, 0, 1]
    assert d.in_words == ["dull", "fun", "great"]
    # stage 1: c_i = E[(n_i/L)(1[y=pos] - 1/2)] by hand
    c = d.cooccurrence().dense()[:, 1]
    np.testing.assert_allclose(c, [(1 / 1) * -0.5 / 3, (1 / 2) * 0.5 / 3, (1 / 2 + 1) * 0.5 / 3], atol=1e-15)


def test_numeric_labels_are_read_as_labels(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"text": "good", "label": 1}\n{"text": "bad", "label": 0}\n')
    assert load_labelled(str(path)).out_words == ["0", "1"]


@pytest.mark.parametrize(
    ("name", "content", "args", "message"),
    [
        (
            "d.csv",
            "a,b\nx,y\n",
            ["--input-col", "src"],
            r"has no column 'src', 'output'; columns there: a, b",
        ),
        (
            "l.csv",
            "text,label\ngood,pos\nbad,neg\nmeh,neutral\n",
            ["--text-col", "text"],
            r"exactly 2 distinct labels, found 3: 'neg', 'neutral', 'pos'",
        ),
        ("l.csv", "text,label\ngood,pos\nbad,\n", ["--text-col", "text"], r"row 2: the label is empty"),
        ("c.parquet", "PAR1 this is not parquet", [], r"is not valid PARQUET"),
        ("d.csv", "input,output\n,y\n", [], r"row 1: the input column 'input' has no tokens"),
        ("d.xyz", "", [], r"cannot tell the format .* give --format"),
        ("d.csv", "a\n", ["--format", "xml"], r"unknown data format 'xml'"),
        ("d.csv", "a\n", ["--max-vocab", "0"], r"max-vocab must be >= 1"),
    ],
)
def test_bad_input_is_one_line_with_exit_2(
    tmp_path: Path, name: str, content: str, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KTIW_CACHE_DIR", str(tmp_path / "cache"))
    f = tmp_path / name
    f.write_text(content)
    res = runner.invoke(app, ["predict", "--model", "toy", "--data", str(f), *args])
    assert res.exit_code == 2, res.output
    err = res.stderr if hasattr(res, "stderr") else res.output
    assert re.search(message, " ".join(err.split())), err
    assert "Traceback" not in res.output and len(err.strip().splitlines()) <= 2


def test_missing_pyarrow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "d.csv"
    f.write_text("input,output\na,b\n")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(KtiwError, match=r'needs pyarrow: pip install -e "\.\[data\]"'):
        load_distribution(str(f), "pairs")


def test_corpus_cache_is_keyed_by_content_and_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KTIW_CACHE_DIR", str(tmp_path / "cache"))
    f = tmp_path / "d.tsv"
    f.write_text("a b\tx\n")
    first = load_pairs(f)
    calls = []
    real = corpus.read_corpus
    monkeypatch.setattr(corpus, "read_corpus", lambda *a, **k: calls.append(1) or real(*a, **k))
    same(load_pairs(f), first)
    assert calls == []  # served from the cache
    load_distribution(f"{f}?max_vocab=1")
    assert calls == [1]  # other options: another entry
    f.write_text("a c\tx\n")
    assert load_pairs(f).in_words == ["a", "c"] and calls == [1, 1]  # new content: re-read


def test_data_source_text_round_trips() -> None:
    src = DataSource("dir/my file.csv", input="src col", output="tgt", max_vocab=100)
    assert DataSource.parse(str(src)) == src
    assert DataSource.parse("plain/path.tsv") == DataSource("plain/path.tsv")
    assert DataSource.parse("odd?name.tsv") == DataSource("odd?name.tsv")


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(DataFileError, match="not a regular file"):
        load_distribution(f"{fifo}?input=a&output=b")
