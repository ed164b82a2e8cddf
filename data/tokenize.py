"""Tokenisation shared by theory and empirics: text -> word sequences.

Tokenisers (chosen by name or by a model file):

* ``words`` (default for text columns): lowercase the text, then every maximal run of
  letters and digits is a word (``re.findall(r"[^\\W_]+", text.lower())``: Unicode letters
  and digits; punctuation, whitespace and ``_`` separate words and are dropped).  So
  ``"Don't STOP-me, 2x!"`` gives ``don t stop me 2x``.
* ``whitespace``: split on whitespace, case kept.  The default for the headerless
  ``input<TAB>output`` files, whose sides are already tokens.
* a SentencePiece model (``*.model``, extra ``[sentencepiece]``) or a Hugging Face
  ``tokenizers`` file (``*.json``, extra ``[tokenizers]``): their pieces are the words.

:func:`tokenize_texts` turns a batch of strings into one flat token list plus the number of
tokens of each string, so that callers can assign ids and lengths vectorised.  Given a pyarrow
string array (the streaming readers' batches) it tokenises with pyarrow's vectorised string
kernels and returns the tokens as one pyarrow array: the same tokens as the Python
definitions above, because the kernels are only used where they provably agree with them
(``words``: ASCII rows, where ``str.lower`` and ``[^\\W_]`` are ``[a-z]`` folding and
``[a-z0-9]``; ``whitespace``: rows without :data:`ODD_SPACE`, where ``str.split()`` splits on
ASCII whitespace only); every other row goes through the Python function.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ktiw.core.errors import KtiwError
from ktiw.core.paths import not_a_file

WORD_PATTERN = r"[^\W_]+"
"""The ``words`` tokeniser's regex (applied to the lowercased text)."""

BUILTIN = ("words", "whitespace")

_WORD = re.compile(WORD_PATTERN)

ODD_SPACE = ((0x0B, 0x0C), (0x1C, 0x1F), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A))
ODD_SPACE += ((0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000))
"""Code-point ranges of the characters ``str.isspace()`` accepts besides space, TAB, LF and CR
(every line break of ``str.splitlines()`` except LF and CR is among them).  Where a text has
none of them, Python's whitespace is exactly ASCII whitespace (tests/theory check the list)."""
ODD_SPACE_RE = re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ODD_SPACE) + "]")
_ODD_SPACE_RE2 = "[" + "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ODD_SPACE) + "]"


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _whitespace(text: str) -> list[str]:
    return text.split()


def _missing(extra: str, what: str) -> KtiwError:
    return KtiwError(f'{what} needs the optional extra: pip install -e ".[{extra}]"')


@cache
def _model_tokenizer(path: str) -> Callable[[str], list[str]]:
    """A SentencePiece (``.model``) or ``tokenizers`` (``.json``) file as a text -> pieces function."""
    file = Path(path)
    problem = not_a_file(file)
    if problem is not None:
        raise KtiwError(f"tokeniser model {path} {problem}")
    if file.suffix == ".model":
        try:
            import sentencepiece as spm
        except ImportError:
            raise _missing("sentencepiece", "a SentencePiece tokeniser") from None
        try:
            proc = spm.SentencePieceProcessor(model_file=str(file))
        except (OSError, RuntimeError) as exc:
            raise KtiwError(f"{path} is not a SentencePiece model ({str(exc).splitlines()[0]})") from None
        return lambda text: list(proc.encode(text, out_type=str))
    if file.suffix == ".json":
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise _missing("tokenizers", "a Hugging Face tokenizers file") from None
        try:
            tok = Tokenizer.from_file(str(file))
        except Exception as exc:  # the Rust library raises a plain Exception
            raise KtiwError(f"{path} is not a tokenizers file ({str(exc).splitlines()[0]})") from None
        return lambda text: list(tok.encode(text, add_special_tokens=False).tokens)
    raise KtiwError(
        f"unknown tokeniser {path!r}: give words, whitespace, a SentencePiece .model or a tokenizers .json"
    )


def check_tokenizer(name: str) -> None:
    """Raise :class:`KtiwError` when ``name`` is neither built in nor a readable model file."""
    if name not in BUILTIN:
        _model_tokenizer(name)


def tokenizer_fn(name: str) -> Callable[[str], list[str]]:
    """The function ``text -> tokens`` of tokeniser ``name`` (see module docstring)."""
    if name == "words":
        return _words
    if name == "whitespace":
        return _whitespace
    return _model_tokenizer(name)


def tokenize_texts(texts: Sequence[str] | Sequence[list[str]] | Any, name: str) -> tuple[Any, np.ndarray]:
    """``(flat tokens, tokens per text)`` of a batch of texts under tokeniser ``name``.

    Texts already split on whitespace (lists of strings) are taken as they are by
    ``whitespace`` and joined with spaces first by every other tokeniser.  A pyarrow string
    array (nulls count as empty texts) gives the tokens as a pyarrow string array, vectorised
    for the built-in tokenisers (see the module docstring)."""
    if is_arrow(texts):
        return _tokenize_arrow(texts, name)
    if texts and not isinstance(texts[0], str):
        if name == "whitespace":
            lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
            return list(itertools.chain.from_iterable(texts)), lengths
        texts = [" ".join(t) for t in texts]
    if name == "whitespace":
        parts = [t.split() for t in texts]  # type: ignore[union-attr]
        lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        return list(itertools.chain.from_iterable(parts)), lengths
    if name == "words":
        lowered = [t.lower() for t in texts]
        lengths = np.fromiter((len(_WORD.findall(t)) for t in lowered), dtype=np.int64, count=len(texts))
        return _WORD.findall("\n".join(lowered)), lengths
    fn = tokenizer_fn(name)
    pieces = [fn(t) for t in texts]
    lengths = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(texts))
    return [w for p in pieces for w in p], lengths


def is_arrow(values: object) -> bool:
    """Whether ``values`` is a pyarrow array (without importing pyarrow)."""
    return type(values).__module__.startswith("pyarrow")


def _tokenize_arrow(texts: Any, name: str) -> tuple[Any, np.ndarray]:
    """:func:`tokenize_texts` of a pyarrow string array: vectorised rows + Python rows, merged."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(texts)
    if name == "words":
        fast = pc.string_is_ascii(texts)
    elif name == "whitespace":
        fast = pc.invert(pc.match_substring_regex(texts, _ODD_SPACE_RE2))
    else:
        fast = pa.array(np.zeros(n, dtype=bool))
    fast_np = fast.fill_null(True).to_numpy(zero_copy_only=False)
    if fast_np.all():
        return _split_arrow(texts, name)
    slow_texts = ["" if t is None else t for t in texts.filter(pc.invert(fast_np)).to_pylist()]
    slow, slow_len = tokenize_texts(slow_texts, name)
    if not fast_np.any():
        return pa.array(slow, type=texts.type), slow_len
    tokens, fast_len = _split_arrow(texts.filter(fast_np), name)
    lengths = np.empty(n, dtype=np.int64)
    lengths[fast_np], lengths[~fast_np] = fast_len, slow_len
    start = np.cumsum(lengths) - lengths  # first token of each row in the merged order
    order = np.empty(int(lengths.sum()), dtype=np.int64)
    order[_positions(start[fast_np], fast_len)] = np.arange(int(fast_len.sum()))
    order[_positions(start[~fast_np], slow_len)] = fast_len.sum() + np.arange(int(slow_len.sum()))
    merged = pa.concat_arrays([tokens, pa.array(slow, type=tokens.type)]).take(pa.array(order))
    return merged, lengths


def _positions(start: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``[start[k] + j for k for j < lengths[k]]`` vectorised."""
    first = np.cumsum(lengths) - lengths
    return np.repeat(start - first, lengths) + np.arange(int(lengths.sum()))


def _split_arrow(texts: Any, name: str) -> tuple[Any, np.ndarray]:
    """Tokens of rows the kernels handle exactly: ``words`` on ASCII, ``whitespace`` without ODD_SPACE."""
    import pyarrow.compute as pc

    if name == "words":
        lists = pc.split_pattern_regex(pc.ascii_lower(texts), "[^a-z0-9]+")
    else:
        lists = pc.ascii_split_whitespace(texts)
    flat = lists.flatten()  # separators at either end leave empty strings: drop them
    keep = pc.greater(pc.binary_length(flat), 0).to_numpy(zero_copy_only=False)
    parent = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    lengths = np.bincount(parent[keep], minlength=len(texts)).astype(np.int64)
    return flat.filter(keep), lengths
