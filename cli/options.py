"""Parsing of repeatable ``KEY=VALUE`` options (``ktiw train --opt``, ``ktiw verify --set``,
``ktiw sweep --set KEY=V1,V2,...``)."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, TypeVar

import typer

from ktiw.core.errors import KtiwError


def parse_value(raw: str) -> Any:
    """VALUE read as JSON when it parses (``3``, ``true``, ``[[0,1]]``), else kept as a string."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


F = TypeVar("F", bound=Callable[..., Any])


def with_options(table: Mapping[str, tuple[Any, Any]], names: tuple[str, ...], into: str) -> Callable[[F], F]:
    """Give a typer command the options ``names`` of ``table`` (parameter name -> typer
    annotation and default: one definition for every command that takes them) in place of its
    parameter ``into``; the command receives them as one dict ``into`` (name -> value, the
    default when not given)."""

    def wrap(func: F) -> F:
        sig = inspect.signature(func, eval_str=True)
        params: list[inspect.Parameter] = []
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        for p in sig.parameters.values():
            if p.name != into:
                params.append(p)
                continue
            params += [inspect.Parameter(n, kind, annotation=table[n][0], default=table[n][1]) for n in names]

        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            given = {n: kwargs.pop(n, table[n][1]) for n in names}
            return func(*args, **{into: given}, **kwargs)

        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command  # type: ignore[return-value]

    return wrap


def _split_item(item: str, option: str) -> tuple[str, str]:
    key, eq, raw = item.partition("=")
    if not eq or not key.strip():
        raise KtiwError(f"{option} expects KEY=VALUE, got {item!r}")
    return key.strip(), raw


def parse_key_values(items: list[str], option: str) -> dict[str, Any]:
    """``KEY=VALUE`` strings -> a dict (values: :func:`parse_value`).  A malformed item is a
    :class:`KtiwError` naming ``option``."""
    out: dict[str, Any] = {}
    for item in items:
        key, raw = _split_item(item, option)
        out[key] = parse_value(raw)
    return out


def _top_level_split(raw: str) -> list[str]:
    """Split at commas outside brackets, braces and double quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, c in enumerate(raw):
        if c == '"' and (i == 0 or raw[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and c in "[{":
            depth += 1
        elif not quoted and c in "]}":
            depth -= 1
        elif not quoted and depth == 0 and c == ",":
            parts.append(raw[start:i])
            start = i + 1
    parts.append(raw[start:])
    return parts


def parse_key_value_lists(items: list[str], option: str) -> dict[str, list[Any]]:
    """``KEY=V1,V2,...`` strings -> ``{KEY: [V1, V2, ...]}`` in the order given; each value as
    :func:`parse_value` reads it (commas inside ``[...]``, ``{...}`` or quotes do not split).
    A malformed item, an empty value or a key given twice is a :class:`KtiwError` naming ``option``."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, raw = _split_item(item, option)
        if key in out:
            raise KtiwError(f"{option} {key} is given twice; list its values once: {key}=V1,V2")
        parts = _top_level_split(raw)
        if any(not p.strip() for p in parts):
            raise KtiwError(f"{option} {key}: empty value in {raw!r}")
        out[key] = [parse_value(p.strip()) for p in parts]
    return out


AllowLargeOption = Annotated[
    bool,
    typer.Option(
        "--allow-large",
        help="run work estimated beyond the limits (ktiw.core.limits: a prediction over 10 min, "
        "a training or sweep over a week of CPU time)",
        show_default=False,
    ),
]
"""``--allow-large``: the one option that lets every estimated-too-large computation run
(:data:`ktiw.core.limits.ALLOW_FLAG`)."""


@contextlib.contextmanager
def long_work(allow: bool) -> Iterator[None]:
    """The block a command's work runs in: ``--allow-large`` applied, and a progress line on
    stderr for long computations when stderr is a terminal (nothing otherwise)."""
    from ktiw.core.limits import allow_large, progress_to

    reporter = _StderrProgress() if sys.stderr.isatty() else None
    try:
        with allow_large(allow), progress_to(reporter):
            yield
    finally:
        if reporter is not None:
            reporter.close()


class _StderrProgress:
    """``what: done/total`` rewritten in place on stderr, at most twice a second."""

    def __init__(self) -> None:
        self.last, self.shown = 0.0, False

    def __call__(self, what: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.5 and done < total:
            return
        self.last, self.shown = now, True
        sys.stderr.write(f"\r{what}: {done}/{total} ({100 * done / max(total, 1):.0f}%)\033[K")
        sys.stderr.flush()

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
