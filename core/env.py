"""Every environment variable ktiw reads, parsed in one place with the rules its options follow.

A variable that is set but cannot be read is a one-line :class:`~ktiw.core.errors.KtiwError`
naming it (exit 2 at the CLI, like a bad option value), never an ``OverflowError`` or a silent
default.  An empty value means "not set".  :func:`check` reads them all once at start-up, so a
bad value is reported by every command, whether or not that command uses it.

=========================  =======  ==========================================================
variable                   kind     meaning
=========================  =======  ==========================================================
``KTIW_DEBUG``             flag     let unexpected exceptions through with their traceback
``KTIW_MAX_MEMORY``        size     the most memory one computation may plan (default 80% of RAM)
``KTIW_MAX_DATA_BYTES``    size     the largest data file opened (default 1 GiB)
``KTIW_CACHE_DIR``         path     the cache directory (default ``$XDG_CACHE_HOME/ktiw``)
``KTIW_SLOW_BF16``         flag     run ``--precision bf16`` where the hardware has no fast bf16
``COLUMNS``                width    the terminal width for tables (clamped to [40, 1000])
=========================  =======  ==========================================================

* **flag**: ``1 true yes on`` or ``0 false no off`` (any case, surrounding spaces ignored).
* **size**: a number of bytes, optionally with a suffix ``K M G T P`` (powers of 1024;
  ``KiB``, ``KB``, ``k`` read alike): ``8G``, ``512M``, ``1e12``, ``100000000``.  It must be
  finite and at least 1 byte; digits are ASCII digits.
* **width** (``COLUMNS``): a terminal width is never a reason to lose a message, so an
  unusable value (``0``, ``-1``, ``abc``) is ignored and a usable one is clamped.

Other variables whose name starts with ``KTIW_`` are probably misspelt: :func:`check` names
them in one notice (they are not an error, so a script that sets its own ``KTIW_*`` still runs).
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from pathlib import Path

from .errors import KtiwError

VARIABLES: dict[str, str] = {
    "KTIW_DEBUG": "flag",
    "KTIW_MAX_MEMORY": "size",
    "KTIW_MAX_DATA_BYTES": "size",
    "KTIW_CACHE_DIR": "path",
    "KTIW_SLOW_BF16": "flag",
}
"""The ``KTIW_*`` variables ktiw reads, with their kind (see the module docstring)."""

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")
MIN_COLUMNS = 40
MAX_COLUMNS = 1000
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?([KMGTP]?)(?:I?B)?", re.IGNORECASE)
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "P": 2**50}
MAX_SIZE = 2**62


def raw(name: str) -> str | None:
    """The stripped value of ``name``, ``None`` when unset or empty."""
    value = os.environ.get(name, "").strip()
    return value or None


def flag(name: str) -> bool:
    """A boolean variable (see the module docstring); unset -> ``False``."""
    value = raw(name)
    if value is None:
        return False
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise KtiwError(f"{name} must be one of {', '.join(TRUE)} or {', '.join(FALSE)}, got {_short(value)}")


def size(name: str) -> int | None:
    """A size in bytes (see the module docstring); unset -> ``None``."""
    value = raw(name)
    if value is None:
        return None
    m = _SIZE.fullmatch(value)
    if m is None or not value.isascii():
        raise KtiwError(f"{name} must be a size such as 8G, 512M or 1000000 (bytes), got {_short(value)}")
    number, exponent, unit = m.groups()
    try:
        amount = float(number) * 10.0 ** int(exponent or 0) * _UNITS[unit.upper()]
    except OverflowError:
        amount = math.inf
    if not 1 <= amount <= MAX_SIZE:
        raise KtiwError(f"{name} must be between 1 byte and {MAX_SIZE} bytes, got {_short(value)}")
    return int(amount)


def path(name: str) -> Path | None:
    """A path variable; unset -> ``None``."""
    value = os.environ.get(name, "")
    return Path(value) if value.strip() else None


def columns() -> int | None:
    """The terminal width ``COLUMNS`` asks for, clamped to [:data:`MIN_COLUMNS`,
    :data:`MAX_COLUMNS`]; 80 when it is set to something that is no width (``0``, ``-1``,
    ``abc``); ``None`` when unset (the console asks the terminal)."""
    value = raw("COLUMNS")
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or int(value) < 1:
        return 80
    return min(max(int(value), MIN_COLUMNS), MAX_COLUMNS)


def normalise_columns() -> None:
    """Write the :func:`columns` width back to ``COLUMNS``, so that every console (ktiw's,
    typer's help, rich's progress bars) reads a usable width: ``COLUMNS=0`` must not swallow
    every message."""
    width = columns()
    if width is not None:
        os.environ["COLUMNS"] = str(width)


def settle_tempdir() -> None:
    """Give :func:`tempfile.gettempdir` an answer under a file-size limit.

    It chooses the first of ``$TMPDIR``, ``$TEMP``, ``$TMP``, ``/tmp``, ``/var/tmp``,
    ``/usr/tmp`` and the working directory in which it can *write* a small file; under
    ``ulimit -f 0`` every such write fails (``EFBIG``), and the library that asks first (torch's
    import of ``dill``, matplotlib) raises ``FileNotFoundError: No usable temporary directory``.
    Then the first of them that is a directory this process may write to is chosen without
    writing to it: a later write there fails like any other write over the limit, and the
    writer names the file in one line."""
    try:
        tempfile.gettempdir()
        return
    except OSError:
        pass
    names = [os.environ.get(v) for v in ("TMPDIR", "TEMP", "TMP")]
    for cand in [*(n for n in names if n), "/tmp", "/var/tmp", "/usr/tmp", os.getcwd()]:
        if os.path.isdir(cand) and os.access(cand, os.W_OK | os.X_OK):
            tempfile.tempdir = os.path.abspath(cand)
            return


def check() -> list[str]:
    """Read every variable of :data:`VARIABLES` (a one-line :class:`KtiwError` for the first
    bad one); return the names of other ``KTIW_*`` variables that are set (probably typos)."""
    readers = {"flag": flag, "size": size, "path": path}
    for name, kind in VARIABLES.items():
        readers[kind](name)
    return sorted(n for n in os.environ if n.startswith("KTIW_") and n not in VARIABLES)


def _short(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[: limit - 3] + "...")
