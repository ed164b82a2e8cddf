"""One error boundary for the whole CLI: every command is wrapped by :func:`user_errors`,
and :func:`ktiw.cli.app.main` catches whatever escapes the command layer.

* A :class:`~ktiw.core.errors.KtiwError` (malformed spec, unreadable data file,
  impossible parameters, ...), a Ctrl-C or SIGTERM: one line on stderr, exit code 2.
* Any other exception: one line with its type and message and the path of a log holding the
  full traceback (under the cache directory, see :func:`write_log`); exit code 2 when it is
  an input error the code did not anticipate (``OSError`` on a user path, ``MemoryError``,
  ``OverflowError``), 1 for an internal error.
* ``ktiw --debug ...`` (or ``KTIW_DEBUG=1``, read by :mod:`ktiw.core.env`) lets the
  traceback through instead.

Every message goes through :func:`say`, which escapes rich markup: text that came from the
user (a spec, a path) is printed as it is, never interpreted; a message longer than
:data:`MAX_MESSAGE` characters keeps its start and its end (the hint) and says how long it was.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from ktiw.core import env
from ktiw.core.errors import KtiwError

err_console = Console(stderr=True, highlight=False, soft_wrap=True, width=env.columns())

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
INPUT_ERRORS: tuple[type[BaseException], ...] = (OSError, MemoryError, OverflowError, RecursionError)
"""Exceptions that mean "this input is beyond what can be done", not "ktiw has a bug"."""
LOGS_KEPT = 20

MAX_MESSAGE = 600
"""Longest error message printed, in characters (a longer one is cut in the middle)."""

_state: dict[str, bool | None] = {"debug": None}


def _env_debug() -> bool:
    try:
        return env.flag("KTIW_DEBUG")
    except KtiwError:  # reported by main() through env.check()
        return False


def set_debug(on: bool) -> None:
    """``--debug``: let unexpected exceptions through with their traceback."""
    _state["debug"] = on or _env_debug()


def debug() -> bool:
    if _state["debug"] is None:
        _state["debug"] = _env_debug()
    return bool(_state["debug"])


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines too) collapsed to one space."""
    return " ".join(str(text).split())


def bounded(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` cut in the middle to at most about ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    tail = limit // 4
    return f"{text[: limit - tail - 40]} ... {text[-tail:]} ({len(text)} characters in all)"


def say(message: str) -> None:
    """Print ``error: message`` on stderr as one line, ``message`` escaped (never markup).
    Best effort: an unwritable stderr never changes what the command does or its exit code."""
    with contextlib.suppress(OSError, ValueError):
        err_console.print(f"[bold red]error:[/] {escape(bounded(one_line(message)))}", markup=True)


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit-2 exception to raise."""
    say(message)
    return typer.Exit(EXIT_BAD_INPUT)


def is_usage_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the option parser's ``UsageError`` (click's, or typer's vendored copy)."""
    return any(cls.__name__ == "UsageError" for cls in type(exc).__mro__)


def is_cli_control(exc: BaseException) -> bool:
    """typer's own control-flow exceptions (``Exit``, ``Abort``, usage errors): not failures."""
    return any(cls.__module__.split(".")[0] in ("typer", "click") for cls in type(exc).__mro__[:-2])


def fail_usage(exc: Exception) -> int:
    """Print a usage error as one line (``error: ... (see 'ktiw X --help')``); return exit code 2."""
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None)
    where = f" (see '{path} --help')" if path else ""
    text = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    say(f"{text}{where}")
    return EXIT_BAD_INPUT


def write_log(exc: BaseException) -> Path | None:
    """Write the full traceback of ``exc`` (with the command line) to a new file under
    ``<cache dir>/logs`` (else the temporary directory) and return its path; ``None`` if no
    log can be written.  Only the newest :data:`LOGS_KEPT` logs are kept."""
    from ktiw.core.cache import cache_dir

    text = f"ktiw {' '.join(sys.argv[1:])}\n{time.strftime('%Y-%m-%d %H:%M:%S %z')}\n\n" + "".join(
        traceback.format_exception(exc)
    )
    uid = os.getuid() if hasattr(os, "getuid") else 0
    for directory in (cache_dir() / "logs", Path(tempfile.gettempdir()) / f"ktiw-logs-{uid}"):
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if directory.stat().st_mode & 0o022 or (hasattr(os, "getuid") and directory.stat().st_uid != uid):
                continue
            path = directory / f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
            path.write_text(text, encoding="utf-8")
            for old in sorted(directory.glob("error-*.log"))[:-LOGS_KEPT]:
                old.unlink(missing_ok=True)
            return path
        except OSError:
            continue
    return None


def describe(exc: BaseException) -> str:
    """``Type: message`` of an unexpected exception (an ``OSError`` as ``strerror: filename``)."""
    if isinstance(exc, OSError) and exc.strerror:
        names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
        message = exc.strerror + (f": {' -> '.join(names)}" if names else "")
    else:
        message = str(exc) or "(no message)"
    if len(message) > 300:
        message = message[:297] + "..."
    return f"{type(exc).__name__}: {message}"


def report_unexpected(exc: BaseException) -> int:
    """One line for an exception no command anticipated; the exit code (2 input, 1 internal)."""
    log = write_log(exc)
    where = f" (full log: {log}; rerun with --debug for the traceback)" if log else ""
    if isinstance(exc, INPUT_ERRORS):
        say(f"{describe(exc)}{where}")
        return EXIT_BAD_INPUT
    say(f"internal error, please report it: {describe(exc)}{where}")
    return EXIT_INTERNAL


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so that nothing but one line reaches the user (see module docstring)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KtiwError as exc:
            if debug():
                raise
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted") from None
        except Exception as exc:
            if is_cli_control(exc) or debug():
                raise
            raise typer.Exit(report_unexpected(exc)) from None

    return wrapper
