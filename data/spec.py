"""The text grammar of distribution specs: ``family:key=value,key=value``.

Parsing is purely syntactic here; each family checks its own keys and values
(:mod:`ktiw.data.families`).
"""

from __future__ import annotations

import re

from ktiw.core.errors import SpecError

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_spec(text: str) -> tuple[str, dict[str, str]]:
    """Split ``family:k=v,...`` into the family name and an ordered dict of raw values."""
    text = text.strip()
    if not text:
        raise SpecError("empty distribution spec")
    family, sep, rest = text.partition(":")
    family = family.strip()
    if not _KEY.match(family):
        raise SpecError(f"bad family name {family!r} in spec {text!r}")
    params: dict[str, str] = {}
    if sep and rest.strip():
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not eq or not key or not value:
                raise SpecError(f"expected key=value, got {item.strip()!r} in spec {text!r}")
            if not _KEY.match(key):
                raise SpecError(f"bad key {key!r} in spec {text!r}")
            if key in params:
                raise SpecError(f"key {key!r} given twice in spec {text!r}")
            params[key] = value
    return family, params


def format_spec(family: str, params: dict[str, object]) -> str:
    """Inverse of :func:`parse_spec` (values are written with ``str``)."""
    if not params:
        return family
    return family + ":" + ",".join(f"{k}={v}" for k, v in params.items())
