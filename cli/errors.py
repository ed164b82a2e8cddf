"""One mechanism for bad input: every command is wrapped by :func:`user_errors`.

A :class:`~ktiw.theory.errors.KtiwError` (malformed spec, unreadable data file,
impossible parameters, ...) or a Ctrl-C becomes one line on stderr and exit code 2,
never a traceback.  Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from ktiw.theory.errors import KtiwError

err_console = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_BAD_INPUT = 2


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit-2 exception to raise."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    return typer.Exit(EXIT_BAD_INPUT)


def is_usage_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the option parser's ``UsageError`` (click's, or typer's vendored copy)."""
    return any(cls.__name__ == "UsageError" for cls in type(exc).__mro__)


def fail_usage(exc: Exception) -> int:
    """Print a usage error as one line (``error: ... (see 'ktiw X --help')``); return exit code 2."""
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None)
    where = f" (see '{path} --help')" if path else ""
    text = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    err_console.print(f"[bold red]error:[/] {' '.join(text.split())}{where}", markup=True)
    return EXIT_BAD_INPUT


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so user errors and interrupts exit 2 with a one-line message."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KtiwError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted") from None

    return wrapper
