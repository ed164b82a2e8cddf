"""Errors that mean "the user's input is wrong".

The CLI turns every :class:`KtiwError` into one line on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class KtiwError(Exception):
    """Bad user input (spec, data file, parameters). The message is one line."""


class SpecError(KtiwError):
    """A distribution spec such as ``subset:L=40,V=60`` is malformed or impossible."""


class DataFileError(KtiwError):
    """A user-supplied data file cannot be read or parsed."""


class NumericOverflowError(KtiwError):
    """A computation left the range its floating-point type can hold (the options asked for
    numbers too large): an error, never read as a result such as "no takeoff"."""


class TooLargeError(KtiwError):
    """The work asked for is estimated beyond the limits of :mod:`ktiw.core.limits` (time or
    memory): refused before it starts, never turned into a partial result."""


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` for a message, cut in the middle when longer than ``limit`` characters
    (a spec of 85 KB must not make an 85 KB error line)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    half = (limit - 5) // 2
    return f"{text[:half]} ... {text[-half:]} ({len(str(value))} characters)"


def listed(names: list[str], most: int = 5) -> str:
    """``a, b, c`` or ``a, b, c, d, e, ... (12000 in all)``: a list for a message, bounded."""
    shown_names = [shown(n, 30) if len(n) > 30 else n for n in names[:most]]
    more = f", ... ({len(names)} in all)" if len(names) > most else ""
    return ", ".join(shown_names) + more
