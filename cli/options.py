"""Parsing of repeatable ``KEY=VALUE`` options (``ktiw train --opt``, ``ktiw verify --set``)."""

from __future__ import annotations

import json
from typing import Any

from ktiw.theory.errors import KtiwError


def parse_key_values(items: list[str], option: str) -> dict[str, Any]:
    """``KEY=VALUE`` strings -> a dict; VALUE is read as JSON when it parses (``3``, ``true``,
    ``[[0,1]]``), else kept as a string.  A malformed item is a :class:`KtiwError` naming ``option``."""
    out: dict[str, Any] = {}
    for item in items:
        key, eq, raw = item.partition("=")
        if not eq or not key.strip():
            raise KtiwError(f"{option} expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out
