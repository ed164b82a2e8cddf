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
