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
tokens of each string, so that callers can assign ids and lengths vectorised.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import numpy as np

from .errors import KtiwError

WORD_PATTERN = r"[^\W_]+"
"""The ``words`` tokeniser's regex (applied to the lowercased text)."""

BUILTIN = ("words", "whitespace")

_WORD = re.compile(WORD_PATTERN)


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
    if not file.is_file():
        raise KtiwError(f"tokeniser model {path} does not exist")
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


def tokenize_texts(texts: Sequence[str] | Sequence[list[str]], name: str) -> tuple[list[str], np.ndarray]:
    """``(flat tokens, tokens per text)`` of a batch of texts under tokeniser ``name``.

    Texts already split on whitespace (lists of strings) are taken as they are by
    ``whitespace`` and joined with spaces first by every other tokeniser."""
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
