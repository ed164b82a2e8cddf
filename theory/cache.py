"""A small disk cache for results derived with sympy, so that fast paths never import sympy.

Entries are text files under ``$KTIW_CACHE_DIR``, else ``$XDG_CACHE_HOME/ktiw``, else
``~/.cache/ktiw``, named by the entry and a hash of the source files they are derived from
(and the sympy version), so editing a formula in code invalidates them.  An unwritable
cache directory only costs re-deriving next time.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

THEORY = Path(__file__).parent


def cache_dir() -> Path:
    """The cache directory (not created here)."""
    if os.environ.get("KTIW_CACHE_DIR"):
        return Path(os.environ["KTIW_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ktiw"


def entry_path(name: str, sources: Iterable[str], suffix: str) -> Path:
    """Where entry ``name`` derived from the theory modules ``sources`` (file names) lives."""
    h = hashlib.sha256()
    for src in sources:
        h.update((THEORY / src).read_bytes())
    h.update(importlib.metadata.version("sympy").encode())
    return cache_dir() / f"{name}_{h.hexdigest()[:16]}{suffix}"


def store(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file + rename); a cache that cannot be
    written (read-only home, full disk) is skipped, never an error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass


def cached_values(name: str, sources: Iterable[str], key: str, build: Callable[[], object]) -> object:
    """A JSON value memoised under ``key`` in the entry ``name`` (a dict on disk), built on a miss.

    For deterministic numbers that are slow to recompute (e.g. an ODE solve) but cheap to look up.
    """
    path = entry_path(name, sources, ".json")
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        table = {}
    if key in table:
        return table[key]
    value = build()
    table[key] = value
    store(path, json.dumps(table))
    return value


def cached_text(
    name: str, sources: Iterable[str], build: Callable[[], str], suffix: str = ".txt"
) -> tuple[str, Path]:
    """The cached text of entry ``name``, building (and storing) it with ``build()`` if absent."""
    path = entry_path(name, sources, suffix)
    try:
        return path.read_text(encoding="utf-8"), path
    except OSError:
        pass
    text = build()
    store(path, text)
    return text, path
