"""A corpus from user data: where it is, which columns, how it is tokenised -> an
:class:`~ktiw.data.distribution.EmpiricalDistribution` (one outcome per row).

A data source is written as one string, so that a run's config records it exactly and
theory (``ktiw predict``) and empirics (``ktiw train``/``verify``) read the same thing::

    LOCATION[?key=value&key=value...]

``LOCATION`` is a file path (format by extension, :mod:`ktiw.data.tabular`), a dataset
name from :mod:`ktiw.data.datasets` (``rotten-tomatoes``) or ``hf:NAME[:CONFIG][:SPLIT]``.
Keys: ``format``, ``input``/``output`` (seq2seq columns), ``text``/``label``
(classification columns), ``tokenizer`` (:mod:`ktiw.data.tokenize`), ``max_vocab`` (keep
the ``max_vocab`` most frequent words of each side, ties by spelling; every other word
becomes the one word ``<unk>``), ``max_len`` (keep the first ``max_len`` tokens of every
sequence).

Two kinds: ``pairs`` (input tokens -> output tokens, separate vocabularies) and
``labelled`` (text -> one of exactly two labels; output word ids are the sorted labels, the
second plays ``pos``).  Word ids are the sorted spellings, so they do not depend on row order.

Reading is streamed batch by batch; tokens get ids through one dictionary as they arrive,
and the result is kept as flat integer arrays, never as per-row Python lists.  The
tokenised corpus is cached (``<cache>/corpora``, :func:`ktiw.core.cache.cache_dir`) under
the SHA-256 of the file's bytes, the options and this code's source.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import numpy as np

from ktiw.core.errors import DataFileError, KtiwError, shown
from ktiw.core.limits import check_memory

from . import datasets, tabular
from .datafile import open_data_file
from .distribution import PAD, EmpiricalDistribution
from .tabular import FORMATS
from .tokenize import BUILTIN, check_tokenizer, is_arrow, tokenize_texts

UNK = "<unk>"
KINDS = ("pairs", "labelled")
MAX_LABELS_SHOWN = 8
_SOURCES = ("corpus.py", "tabular.py", "tokenize.py", "datafile.py")
CODE = hashlib.sha256(b"".join((Path(__file__).parent / s).read_bytes() for s in _SOURCES)).hexdigest()[:16]


@dataclass(frozen=True)
class DataSource:
    """Where a corpus is and how to read it (see the module docstring for every field)."""

    location: str
    format: str | None = None
    input: str | None = None
    output: str | None = None
    text: str | None = None
    label: str | None = None
    tokenizer: str | None = None
    max_vocab: int | None = None
    max_len: int | None = None
    align: str | None = None
    """``theory``: attach the theory's predicted alignment (:func:`ktiw.theory.stages.predicted_alignment`)
    as the gold alignment, so alignment-free parallel data can be scored against it."""

    @staticmethod
    def parse(text: str) -> DataSource:
        """Read ``LOCATION[?key=value&...]``; a ``?`` followed by no known key is part of the path."""
        location, q, query = str(text).rpartition("?")
        if not q:
            return DataSource(str(text))
        try:
            items = parse_qsl(query, strict_parsing=True, keep_blank_values=True)
        except ValueError:
            return DataSource(str(text))
        names = {f.name for f in fields(DataSource)} - {"location"}
        if not items or any(k not in names for k, _ in items):
            return DataSource(str(text))
        values: dict[str, Any] = {}
        for key, raw in items:
            if key in ("max_vocab", "max_len"):
                try:
                    values[key] = int(raw)
                except ValueError:
                    raise KtiwError(
                        f"{key} must be an integer, got {shown(raw)} in data source {shown(text)}"
                    ) from None
            else:
                values[key] = raw
        return DataSource(location, **values).checked()

    def __str__(self) -> str:
        opts = {k: v for k, v in asdict(self).items() if k != "location" and v is not None}
        return self.location + ("?" + urlencode(opts) if opts else "")

    def with_options(self, **options: Any) -> DataSource:
        """This source with the options that are not ``None`` replaced."""
        return replace(self, **{k: v for k, v in options.items() if v is not None}).checked()

    def checked(self) -> DataSource:
        if self.format is not None and self.format not in FORMATS:
            raise KtiwError(f"unknown data format {self.format!r}; valid formats: {', '.join(FORMATS)}")
        for key in ("max_vocab", "max_len"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise KtiwError(f"{key.replace('_', '-')} must be >= 1, got {value}")
        if self.align not in (None, "theory"):
            raise KtiwError(f"align must be 'theory', got {self.align!r}")
        if (self.input or self.output) and (self.text or self.label):
            raise KtiwError(
                "give seq2seq columns (--input-col/--output-col) or classification columns "
                "(--text-col/--label-col), not both"
            )
        return self

    def kind(self, default: str) -> str:
        """``labelled`` for classification columns, ``pairs`` for seq2seq columns, else ``default``."""
        if self.text or self.label:
            return "labelled"
        if self.input or self.output:
            return "pairs"
        return default


@dataclass(frozen=True)
class Corpus:
    """A tokenised corpus as flat arrays: row ``k`` of side ``s`` is ``s_ids[s_off[k]:s_off[k+1]]``."""

    src_ids: np.ndarray
    src_off: np.ndarray
    tgt_ids: np.ndarray
    tgt_off: np.ndarray
    in_words: list[str]
    out_words: list[str]

    @property
    def n_rows(self) -> int:
        return int(self.src_off.size - 1)


# ------------------------------------------------------------------ reading


class _Vocab:
    """Ids in order of first appearance; flat id arrays per batch."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def encode(self, tokens: Any) -> np.ndarray:
        """Ids of ``tokens``: a list of words, or a pyarrow string array (dictionary-encoded in
        C, so that Python only sees the distinct words of the batch)."""
        ids = self.ids
        if is_arrow(tokens):
            encoded = tokens.dictionary_encode()
            distinct = encoded.dictionary.to_pylist()
            known = np.fromiter(
                (ids.setdefault(w, len(ids)) for w in distinct), dtype=np.int32, count=len(distinct)
            )
            return known[encoded.indices.to_numpy(zero_copy_only=False)]
        for word in dict.fromkeys(tokens):  # new words of this batch, in order (C-speed dedup)
            if word not in ids:
                ids[word] = len(ids)
        return np.fromiter(map(ids.__getitem__, tokens), dtype=np.int32, count=len(tokens))

    def finish(self, parts: list[np.ndarray], max_vocab: int | None) -> tuple[np.ndarray, list[str]]:
        """Sorted-spelling ids (with the ``max_vocab`` cap) of the batches ``parts`` joined into
        one array (``parts`` is emptied as they are copied), and the word list."""
        words = np.array(list(self.ids), dtype=object)
        counts = np.zeros(len(words), dtype=np.int64)
        for part in parts:
            counts += np.bincount(part, minlength=len(words))
        keep = counts > 0  # words cut off by max_len alone are not in the corpus
        if max_vocab is not None and keep.sum() > max_vocab:
            order = sorted(np.flatnonzero(keep), key=lambda i: (-counts[i], words[i]))
            keep[:] = False
            keep[order[:max_vocab]] = True
        unk = [UNK] if (~keep & (counts > 0)).any() else []
        kept = sorted(words[keep].tolist() + unk)
        new_id = {w: i for i, w in enumerate(kept)}
        unk = new_id.get(UNK, -1)
        remap = np.array([new_id[w] if k else unk for w, k in zip(words, keep, strict=True)], dtype=np.int32)
        return _join(parts, remap), kept


def _join(parts: list[np.ndarray], remap: np.ndarray | None = None) -> np.ndarray:
    """``concatenate([remap[p] for p in parts])``, emptying ``parts`` as it goes, so that a
    corpus's ids are held about once, not twice or three times, while they are joined."""
    out = np.empty(sum(p.size for p in parts), dtype=np.int32 if remap is not None else parts[0].dtype)
    start = 0
    parts.reverse()
    while parts:
        part = parts.pop()
        out[start : start + part.size] = part if remap is None else remap[part]
        start += part.size
    return out


def _offsets(lengths: np.ndarray) -> np.ndarray:
    off = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=off[1:])
    return off


def _columns(src: DataSource, fmt: str, kind: str) -> list[str]:
    if fmt == "tsv" and not (src.input or src.output or src.text or src.label):
        return []  # headerless left<TAB>right lines
    if kind == "labelled":
        return [src.label or "label", src.text or "text"]
    return [src.input or "input", src.output or "output"]


def _texts(values: Any, tokenizer: str, headerless: bool) -> Any:
    """Column values as texts for :func:`tokenize_texts` (``None`` -> ``""``; pre-split token
    lists kept).  The headerless TAB reader's pyarrow sides are whitespace-split here for the
    model tokenisers, which then see the tokens joined by single spaces, as from its Python path."""
    if is_arrow(values):
        if not (headerless and tokenizer not in BUILTIN):
            return values
        values = [v.split() for v in values.to_pylist()]
    return [v if isinstance(v, str | list) else ("" if v is None else str(v)) for v in values]


def _labels(values: Any, headerless: bool, labels: dict[str, int], at: Callable[[int], str]) -> np.ndarray:
    """Label ids (``labels`` maps each label to its id, by first appearance) of one batch.

    A label must be non-empty (after stripping), and one token in headerless TSV; the checks
    run once per distinct value, and a failure names the first row holding that value."""
    if is_arrow(values):
        encoded = values.dictionary_encode()
        distinct: list[Any] = [*encoded.dictionary.to_pylist(), None]  # the last stands for null
        index = encoded.indices.fill_null(len(distinct) - 1).to_numpy(zero_copy_only=False)
    else:
        seen: dict[Any, int] = {}
        keys = [  # hashable stand-ins that print as the value does
            tuple(v)
            if isinstance(v, list)
            else v
            if v is None or isinstance(v, str | int | float)
            else str(v)
            for v in values
        ]
        index = np.fromiter((seen.setdefault(k, len(seen)) for k in keys), dtype=np.int64, count=len(keys))
        distinct = list(seen)
    ids = np.zeros(len(distinct), dtype=np.int32)
    problems: dict[int, str] = {}
    for j, value in enumerate(distinct):
        if isinstance(value, str) and headerless:
            value = value.split()
        v = (
            ""
            if value is None
            else (" ".join(value) if isinstance(value, tuple | list) else str(value)).strip()
        )
        if not v:
            problems[j] = "the label is empty"
        elif headerless and len(v.split()) != 1:
            problems[j] = f"the label must be one token, got {v!r}"
        else:
            ids[j] = labels.setdefault(v, len(labels))
    if problems:
        bad = np.flatnonzero(np.isin(index, list(problems)))
        if bad.size:
            k = int(bad[0])
            raise DataFileError(f"{at(k)}: {problems[int(index[k])]}")
    return ids[index]


def read_corpus(src: DataSource, kind: str, batches: Any, where: str, headerless: bool) -> Corpus:
    """Tokenise ``batches`` (``(row numbers, [left values, right values])``) into a :class:`Corpus`.

    ``labelled``: left = label (must be non-empty; one token in headerless TSV), right = text.
    ``pairs``: left = input, right = output.  Rows whose text/side has no tokens are errors.
    Values are pyarrow string arrays (tokenised and id-encoded vectorised) or Python lists."""
    tokenizer = src.tokenizer or ("whitespace" if headerless else "words")
    vin, vout = _Vocab(), _Vocab()
    labels: dict[str, int] = {}
    parts: dict[str, list[np.ndarray]] = {"si": [], "sl": [], "ti": [], "tl": []}

    for rows, (left, right) in batches:

        def at(k: int, rows: Any = rows) -> str:
            return f"{where}:{rows[k]}" if headerless else f"{where}: row {rows[k]}"

        if kind == "labelled":
            texts = right
            lab = _labels(left, headerless, labels, at)
            parts["ti"].append(lab)
            parts["tl"].append(np.ones(lab.size, dtype=np.int64))
        else:
            texts = left
            toks, tl = tokenize_texts(_texts(right, tokenizer, headerless), tokenizer)
            if (tl == 0).any():
                side = "output side" if headerless else f"output column {src.output or 'output'!r}"
                raise DataFileError(f"{at(int(np.argmin(tl)))}: the {side} has no tokens")
            ids, tl = _truncate(vout.encode(toks), tl, src.max_len)
            parts["ti"].append(ids)
            parts["tl"].append(tl)
        toks, sl = tokenize_texts(_texts(texts, tokenizer, headerless), tokenizer)
        if (sl == 0).any():
            if kind == "labelled":
                side = "input side" if headerless else f"text column {src.text or 'text'!r}"
            else:
                side = "input side" if headerless else f"input column {src.input or 'input'!r}"
            raise DataFileError(f"{at(int(np.argmin(sl)))}: the {side} has no tokens")
        ids, sl = _truncate(vin.encode(toks), sl, src.max_len)
        parts["si"].append(ids)
        parts["sl"].append(sl)
    if not parts["sl"] or sum(a.size for a in parts["sl"]) == 0:
        raise DataFileError(f"{where} has no rows")
    src_ids, in_words = vin.finish(parts["si"], src.max_vocab)
    src_lens, tgt_lens = _join(parts["sl"]), _join(parts["tl"])
    if kind == "labelled":
        names = list(labels)
        if len(names) != 2:
            shown = ", ".join(repr(n) for n in sorted(names)[:MAX_LABELS_SHOWN])
            more = "" if len(names) <= MAX_LABELS_SHOWN else f", ... ({len(names)} in all)"
            raise DataFileError(
                f"{where}: the binary classifier needs exactly 2 distinct labels, "
                f"found {len(names)}: {shown}{more}"
            )
        out_words = sorted(names)
        tgt_ids = _join(parts["ti"], np.array([out_words.index(n) for n in names], dtype=np.int32))
    else:
        tgt_ids, out_words = vout.finish(parts["ti"], src.max_vocab)
    return Corpus(src_ids, _offsets(src_lens), tgt_ids, _offsets(tgt_lens), in_words, out_words)


def _truncate(flat: np.ndarray, lengths: np.ndarray, max_len: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Keep the first ``max_len`` entries of every row of a flat array (vectorised)."""
    if max_len is None or lengths.max(initial=0) <= max_len:
        return flat, lengths
    pos = np.arange(flat.size) - np.repeat(_offsets(lengths)[:-1], lengths)
    return flat[pos < max_len], np.minimum(lengths, max_len)


def padded(ids: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(PAD-filled [rows, longest] int64 array, lengths)`` of flat rows."""
    lengths = np.diff(off)
    out = np.full((lengths.size, int(lengths.max())), PAD, dtype=np.int64)
    mask = np.arange(out.shape[1])[None, :] < lengths[:, None]
    out[mask] = ids
    return out, lengths


# ------------------------------------------------------------------ cache


def file_digest(path: Path) -> str:
    """SHA-256 of a data file's bytes, read in 1 MiB blocks through the one opening function."""
    h = hashlib.sha256()
    with open_data_file(path) as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _cache_key(src: DataSource, kind: str, path: Path) -> str:
    opts = asdict(src) | {"location": None, "kind": kind, "code": CODE, "file": file_digest(path)}
    if src.tokenizer and src.tokenizer not in BUILTIN:
        opts["tokenizer_file"] = file_digest(Path(src.tokenizer))
    return hashlib.sha256(json.dumps(opts, sort_keys=True).encode()).hexdigest()[:32]


def _corpus_dir() -> Path | None:
    from ktiw.core.cache import cache_dir, check_dir

    base = cache_dir()
    check_dir(base)
    return base / "corpora"


ARRAYS = ("src_ids", "src_off", "tgt_ids", "tgt_off")


def _load_cached(directory: Path, key: str) -> Corpus | None:
    """The cached corpus ``key``, or ``None``: a miss, or a damaged entry (named in a notice;
    the caller rebuilds it).  Entries are read through :func:`ktiw.core.cache.open_verified`
    (hash-checked against the cache index, never blocking) and checked for their format."""
    from ktiw.core.cache import damaged_note, open_verified

    arrays, meta = directory / f"{key}.npz", directory / f"{key}.json"
    files = {}
    for path in (arrays, meta):
        f, why = open_verified(path)
        if f is None:
            for g in files.values():
                g.close()
            if why is not None:
                damaged_note("corpus cache entry", path, why)
            return None
        files[path] = f
    try:
        with files[meta] as f:
            words = json.loads(f.read().decode("utf-8"))
        with files[arrays] as f, np.load(f, allow_pickle=False) as z:
            corpus = Corpus(*(z[k] for k in ARRAYS), words["in_words"], words["out_words"])
        _check_corpus(corpus)
    except Exception as exc:  # np.load raises many types (BadZipFile, ValueError, EOFError, ...)
        why = str(exc).splitlines()[0][:120] if str(exc) else ""
        damaged_note("corpus cache entry", arrays, f"is malformed ({type(exc).__name__}: {why})")
        return None
    return corpus


def _check_corpus(c: Corpus) -> None:
    """Raise ``ValueError`` unless ``c`` is a well-formed corpus: 1-D integer arrays, offsets
    from 0 rising to the number of ids, the same rows on both sides, ids within the word lists."""
    for side, words in (("src", c.in_words), ("tgt", c.out_words)):
        ids, off = getattr(c, f"{side}_ids"), getattr(c, f"{side}_off")
        if not (isinstance(words, list) and all(isinstance(w, str) for w in words)):
            raise ValueError(f"{side} words are not a list of strings")
        for name, a in (("ids", ids), ("off", off)):
            if a.ndim != 1 or a.dtype.kind not in "iu":
                raise ValueError(f"{side}_{name} is not a 1-D integer array ({a.dtype}, {a.ndim}-D)")
        if off.size < 2 or off[0] != 0 or off[-1] != ids.size or (np.diff(off) < 0).any():
            raise ValueError(f"{side}_off is not a row index of {side}_ids")
        if ids.size and (ids.min() < 0 or ids.max() >= len(words)):
            raise ValueError(f"{side}_ids point beyond the {len(words)} words")
    if c.src_off.size != c.tgt_off.size:
        raise ValueError("the two sides have different numbers of rows")


def _store(directory: Path, key: str, corpus: Corpus) -> None:
    """Best effort (:func:`ktiw.core.cache.store_file`): an unwritable cache only costs
    re-reading next time."""
    from ktiw.core.cache import store_file

    words = json.dumps({"in_words": corpus.in_words, "out_words": corpus.out_words}).encode()
    if store_file(directory / f"{key}.npz", lambda f: np.savez(f, **{k: getattr(corpus, k) for k in ARRAYS})):
        store_file(directory / f"{key}.json", lambda f: f.write(words))


# ------------------------------------------------------------------ entry point


def load_corpus(source: DataSource | str, kind: str, use_cache: bool = True) -> tuple[Corpus, str]:
    """The tokenised corpus of ``source`` as ``kind`` and a label for it (cached for files)."""
    src = source if isinstance(source, DataSource) else DataSource.parse(source)
    if kind not in KINDS:
        raise KtiwError(f"unknown corpus kind {kind!r}")
    if src.tokenizer is not None:
        check_tokenizer(src.tokenizer)
    if src.location.startswith("hf:"):
        from .hub import iter_hf_columns

        cols = _columns(src, "hub", kind)
        return read_corpus(src, kind, iter_hf_columns(src.location, cols), src.location, False), src.location
    src = datasets.resolve(src)
    path = Path(src.location)
    fmt = tabular.detect_format(path, src.format)
    cols = _columns(src, fmt, kind)
    directory = _corpus_dir() if use_cache else None
    key = _cache_key(src, kind, path) if directory is not None else ""
    if directory is not None and (hit := _load_cached(directory, key)) is not None:
        return hit, str(path)
    corpus = read_corpus(
        src,
        kind,
        tabular.iter_columns(
            path, fmt, cols, ("label", "input") if kind == "labelled" else ("input", "output")
        ),
        str(path),
        headerless=not cols,
    )
    if directory is not None:
        _store(directory, key, corpus)
    return corpus, str(path)


def load_distribution(source: DataSource | str, default_kind: str = "pairs") -> EmpiricalDistribution:
    """An :class:`EmpiricalDistribution` (uniform over rows) of a data source.

    The kind comes from the source's columns, else the dataset's own kind, else ``default_kind``.
    Bad files, columns, labels or options raise a one-line :class:`KtiwError`."""
    src = source if isinstance(source, DataSource) else DataSource.parse(source)
    kind = src.kind(datasets.default_kind(src.location) or default_kind)
    corpus, _ = load_corpus(src, kind)
    longest = int(np.diff(corpus.src_off).max()) + int(np.diff(corpus.tgt_off).max())
    check_memory(
        f"the {corpus.n_rows} rows of {src.location} padded to the longest ({longest} tokens per row)",
        8 * corpus.n_rows * longest,
        "shorten the longest rows with --max-len",
    )
    src_arr, src_len = padded(corpus.src_ids, corpus.src_off)
    tgt_arr, tgt_len = padded(corpus.tgt_ids, corpus.tgt_off)
    prefix = "labelled" if kind == "labelled" else "file"
    dist = EmpiricalDistribution(
        src_arr,
        tgt_arr,
        n_in=len(corpus.in_words),
        n_out=len(corpus.out_words),
        src_len=src_len,
        tgt_len=tgt_len,
        in_words=corpus.in_words,
        out_words=corpus.out_words,
        spec=f"{prefix}:{src}",
        method="counting",
        flat=(corpus.src_ids, corpus.src_off, corpus.tgt_ids, corpus.tgt_off),
    )
    if src.align == "theory":
        from ktiw.theory.stages import predicted_alignment

        dist.align_arr = predicted_alignment(dist)
        dist.aligned = True
    return dist


def load_labelled(path: str | Path) -> EmpiricalDistribution:
    """Read a classification data source into an :class:`EmpiricalDistribution` of pairs
    whose output is the one-token label (one outcome per row).

    ``path`` is any data source of :mod:`ktiw.data.corpus`: a headerless
    ``label<TAB>tokens`` file, CSV/JSONL/Parquet with ``?text=..&label=..`` columns, or a
    named dataset such as ``rotten-tomatoes``.  There must be exactly two distinct labels;
    ``out_words`` are them sorted, and the second one plays ``pos`` (e.g. ``['neg', 'pos']``,
    ``['fresh', 'rotten']``).  Bad files raise :class:`DataFileError`.
    """
    return load_distribution(str(path), "labelled")


def load_pairs(path: str | Path) -> EmpiricalDistribution:
    """Read a data file into an :class:`EmpiricalDistribution` of seq2seq pairs (one outcome per row).

    ``path`` is any data source of :mod:`ktiw.data.corpus` (a headerless
    ``input<TAB>output`` file, CSV/JSONL/Parquet with ``?input=..&output=..`` columns, ...).
    Raises :class:`DataFileError` (one line, naming file and line) when the file cannot be
    read, a line has no TAB or an empty side, or no pairs remain.
    """
    return load_distribution(str(path), "pairs")
