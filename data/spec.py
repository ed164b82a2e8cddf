"""The text grammar of distribution specs: ``family:key=value,key=value``.

Parsing is purely syntactic here; each family checks its own keys and values
(:mod:`ktiw.data.families`).
"""

from __future__ import annotations

import re

from ktiw.core.errors import SpecError, shown

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_spec(text: str) -> tuple[str, dict[str, str]]:
    """Split ``family:k=v,...`` into the family name and an ordered dict of raw values."""
    text = text.strip()
    if not text:
        raise SpecError("empty distribution spec")
    family, sep, rest = text.partition(":")
    family = family.strip()
    if not _KEY.match(family):
        raise SpecError(f"bad family name {shown(family)} in spec {shown(text)}")
    params: dict[str, str] = {}
    if sep and rest.strip():
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not eq or not key or not value:
                raise SpecError(f"expected key=value, got {shown(item.strip())} in spec {shown(text)}")
            if not _KEY.match(key):
                raise SpecError(f"bad key {shown(key)} in spec {shown(text)}")
            if key in params:
                raise SpecError(f"key {shown(key)} given twice in spec {shown(text)}")
            params[key] = value
    return family, params


def format_spec(family: str, params: dict[str, object]) -> str:
    """Inverse of :func:`parse_spec` (values are written with ``str``)."""
    if not params:
        return family
    return family + ":" + ",".join(f"{k}={v}" for k, v in params.items())
