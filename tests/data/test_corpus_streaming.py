"""Streaming readers: counts over many small batches equal an exact reference written from
the definitions, whichever path (pyarrow kernels or Python) each batch takes; the one size cap.

The reference below reads the whole file with ``str.splitlines``/``str.split``/``re.findall``,
applies the vocabulary cap by hand (the ``max_vocab`` most frequent words, ties by spelling,
the rest one ``<unk>``) and counts ``C[i, o] = E[sum_t (n_i/L)(1[y_t = o] - 1/|O|)] / E[T]``
(uniform rows) with Python loops: nothing is shared with the code under test."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ktiw.core.errors import DataFileError, KtiwError
from ktiw.data import datafile, tabular
from ktiw.data.corpus import UNK, load_distribution
from ktiw.data.tokenize import ODD_SPACE, ODD_SPACE_RE, tokenize_texts

pa = pytest.importorskip("pyarrow")


def capped(rows: list[list[str]], max_vocab: int | None) -> tuple[list[list[str]], list[str]]:
    counts = Counter(w for r in rows for w in r)
    keep = sorted(counts, key=lambda w: (-counts[w], w))[:max_vocab] if max_vocab else list(counts)
    out = [[w if w in keep else UNK for w in r] for r in rows]
    return out, sorted({w for r in out for w in r})


def reference(pairs: list[tuple[list[str], list[str]]], max_vocab: int | None):
    src, in_words = capped([a for a, _ in pairs], max_vocab)
    tgt, out_words = capped([b for _, b in pairs], max_vocab)
    C = np.zeros((len(in_words), len(out_words)))
    n_out, mean_T = len(out_words), sum(len(y) for y in tgt) / len(tgt)
    for x, y in zip(src, tgt, strict=True):
        for i in set(x):
            for t in y:
                for o in range(n_out):
                    C[in_words.index(i), o] += (
                        x.count(i) / len(x) * ((out_words[o] == t) - 1 / n_out) / len(pairs) / mean_T
                    )
    return in_words, out_words, src, C


def check(dist, pairs, max_vocab: int | None) -> None:
    in_words, out_words, src, C = reference(pairs, max_vocab)
    assert dist.in_words == in_words and dist.out_words == out_words
    got = [[dist.in_words[i] for i in row[:n]] for row, n in zip(dist.src_arr, dist.src_lens, strict=True)]
    assert got == src
    np.testing.assert_allclose(dist.cooccurrence().dense(), C, rtol=0, atol=1e-14)


def tsv_pairs(text: str) -> list[tuple[list[str], list[str]]]:
    """The headerless format by its definition: lines, ``#`` comments, whitespace tokens."""
    pairs = []
    for line in text.removeprefix("\ufeff").splitlines():
        if line.strip() and not line.strip().startswith("#"):
            left, _, right = line.partition("\t")
            pairs.append((left.split(), right.split()))
    return pairs


def lines(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(12)] + ["é", "Straße"]
    out = []
    for k in range(n):
        a = " ".join(rng.choice(vocab, rng.integers(1, 6)))
        b = "  ".join(rng.choice(vocab, rng.integers(1, 4)))
        out.append(f"{a}\t{b}")
        if k % 17 == 3:
            out.append("  # a comment\twith a TAB")
        if k % 23 == 5:
            out.append("   ")
    return out


@pytest.mark.parametrize("with_pyarrow", [True, False])
@pytest.mark.parametrize("max_vocab", [None, 5])
def test_headerless_tsv_in_many_blocks_counts_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_pyarrow: bool, max_vocab: int | None
) -> None:
    body = lines(150, seed=3)
    # Blocks taking the exact Python path amid the vectorised ones: a no-break space (a
    # token separator for str.split) and a form feed (a line end for str.splitlines).
    body[40] = body[40].replace(" ", "\u00a0", 1)
    body[90] = body[90] + "\x0cw1\tw2"
    text = "\ufeff" + "\r\n".join(body[:60]) + "\r\n" + "\n".join(body[60:])  # BOM, CR LF, no final LF
    f = tmp_path / "d.tsv"
    f.write_text(text, encoding="utf-8", newline="")
    monkeypatch.setattr(datafile, "TAB_BLOCK_BYTES", 64)
    if not with_pyarrow:
        monkeypatch.setitem(sys.modules, "pyarrow", None)
    blocks = list(datafile.iter_tab_lines(f))
    assert len(blocks) > 20
    assert {"pyarrow" in type(b[1][0]).__module__ for b in blocks} == (
        {True, False} if with_pyarrow else {False}
    )
    source = f"{f}?max_vocab={max_vocab}" if max_vocab else str(f)
    dist = load_distribution(source)
    pairs = tsv_pairs(text)
    check(dist, pairs, max_vocab)
    if max_vocab:
        assert UNK in dist.in_words and len(dist.in_words) == max_vocab + 1


def test_line_numbers_and_errors_are_those_of_the_whole_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(datafile, "TAB_BLOCK_BYTES", 32)
    body = lines(40, seed=5)
    body[30] = body[30].replace("\t", " ")  # no TAB
    f = tmp_path / "d.tsv"
    f.write_text("\n".join(body) + "\n")
    want = 31  # body[30]
    assert body[30].strip() and not body[30].lstrip().startswith("#")
    with pytest.raises(DataFileError, match=rf"d\.tsv:{want}: expected 'input tokens<TAB>output tokens'"):
        load_distribution(str(f))
    body[30] = body[30].replace(" ", "\t", 1) + "\tx"  # a second TAB
    body[12] = "\x0c" + body[12]  # a form feed before it: one more line for str.splitlines
    f.write_text("\n".join(body) + "\n")
    with pytest.raises(DataFileError, match=rf"d\.tsv:{want + 1}: more than one TAB"):
        load_distribution(str(f))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("max_vocab", [None, 4])
def test_columns_in_many_batches_count_exactly_with_the_words_tokeniser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, max_vocab: int | None
) -> None:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(7)
    vocab = ["Cat", "cat,", "DOG", "dög", "ÉTÉ", "x_y", "a-b", "Ωmega", "2x", "İs"]
    rows = [
        (" ".join(rng.choice(vocab, rng.integers(1, 5))), " ".join(rng.choice(vocab, rng.integers(1, 4))))
        for _ in range(300)
    ]
    table = pa.table({"input": [a for a, _ in rows], "output": [b for _, b in rows]})
    f = tmp_path / f"d.{fmt}"
    if fmt == "csv":
        pcsv.write_csv(table, f)
    else:
        pq.write_table(table, f, row_group_size=11)
    monkeypatch.setattr(tabular, "BLOCK_BYTES", 512)
    monkeypatch.setattr(tabular, "PARQUET_BATCH_ROWS", 13)
    dist = load_distribution(
        f"{f}?input=input&output=output" + (f"&max_vocab={max_vocab}" if max_vocab else "")
    )

    def words(text: str) -> list[str]:
        return re.findall(r"[^\W_]+", text.lower())

    check(dist, [(words(a), words(b)) for a, b in rows], max_vocab)


def test_arrow_tokeniser_gives_the_python_tokens_row_by_row() -> None:
    texts = ["Hello, World", None, "", "  a\u00a0b  c ", "ÉTÉ x_y", "tab\tsep\x1fz", "İs 2x"]
    for name in ("words", "whitespace"):
        tokens, lengths = tokenize_texts(pa.array(texts), name)
        want, want_len = tokenize_texts(["" if t is None else t for t in texts], name)
        assert tokens.to_pylist() == want and lengths.tolist() == want_len.tolist()


def test_odd_space_is_every_python_whitespace_but_space_tab_lf_cr() -> None:
    listed = {chr(c) for a, b in ODD_SPACE for c in range(a, b + 1)}
    every = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()} - set(" \t\n\r")
    assert listed == every
    assert all(ODD_SPACE_RE.fullmatch(c) for c in every)
    breaks = {chr(c) for c in range(sys.maxunicode + 1) if len(f"a{chr(c)}b".splitlines()) > 1}
    assert breaks - {"\n", "\r"} <= listed


@pytest.mark.parametrize("name", ["d.tsv", "d.csv", "d.parquet"])
def test_one_size_cap_for_every_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    f = tmp_path / name
    f.write_bytes(b"input,output\n" + b"a,b\n" * 50)
    monkeypatch.setenv("KTIW_MAX_DATA_BYTES", "100")
    with pytest.raises(
        DataFileError, match=r"has 213 bytes, more than the limit 100 \(KTIW_MAX_DATA_BYTES\)"
    ):
        load_distribution(f"{f}?input=input&output=output" if name != "d.tsv" else str(f))


def test_memory_is_estimated_before_padding_and_before_counting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "d.tsv"
    f.write_text("a b\tx\nc\ty\nd\tz\n")  # 3 rows, longest 2 + 1 tokens; 4 input, 3 output tokens
    monkeypatch.setenv("KTIW_MAX_MEMORY", "64")
    with pytest.raises(KtiwError, match=r"padded to the longest \(3 tokens per row\) needs about 72 B"):
        load_distribution(str(f))  # 8 bytes x 3 rows x 3
    monkeypatch.setenv("KTIW_MAX_MEMORY", "100")
    dist = load_distribution(str(f))
    # entries <= min(|I| |O| = 12, sum_e L_e T_e = 4): 24 x 4 + 32 x 7 tokens = 320 bytes
    with pytest.raises(
        KtiwError, match=r"co-occurrence of 3 examples \(7 tokens, 4 x 3 words\) needs about 320 B"
    ):
        dist.cooccurrence()


@pytest.mark.parametrize("suffix", [".gz", ".bz2"])
def test_compressed_headerless_tsv_is_the_plain_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    import bz2
    import gzip

    text = "\n".join(lines(60, seed=9)) + "\n"
    plain = tmp_path / "d.tsv"
    plain.write_text(text)
    packed = tmp_path / f"d.tsv{suffix}"
    packed.write_bytes((gzip.compress if suffix == ".gz" else bz2.compress)(text.encode()))
    monkeypatch.setattr(datafile, "TAB_BLOCK_BYTES", 100)
    check(load_distribution(str(packed)), tsv_pairs(text), None)
    packed.write_bytes(packed.read_bytes()[: len(packed.read_bytes()) // 2])  # cut short
    with pytest.raises(DataFileError, match=rf"cannot read data file .*d\.tsv\{suffix}: "):
        load_distribution(str(packed))
