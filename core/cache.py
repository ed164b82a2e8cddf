"""A small disk cache for results derived with sympy, so that fast paths never import sympy.

Entries are text files under ``$KTIW_CACHE_DIR``, else ``$XDG_CACHE_HOME/ktiw``, else
``~/.cache/ktiw``, named by the entry and a hash of the source files they are derived from
(and the sympy version), so editing a formula in code invalidates them.  An unwritable
cache directory only costs re-deriving next time.

Some entries are Python source that :mod:`ktiw.theory.reduction` executes, so the cache is
guarded like code:

* the directory must belong to the user and must not be group- or world-writable (else a
  one-line :class:`~ktiw.core.errors.KtiwError`); it is created with mode ``0700``;
* every write records the entry's SHA-256 in ``index_<code>.json``, where ``<code>`` hashes
  this module's own source, and an entry is only used when its content hash matches the
  index written by the same code (anything else is a miss and is rebuilt);
* writes (entry and index) happen under an exclusive lock on ``index_<code>.lock`` and by
  temporary file + rename, so concurrent cold-cache processes neither corrupt an entry nor
  lose each other's index records.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .errors import KtiwError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: writes are still atomic, just unlocked
    fcntl = None  # type: ignore[assignment]

THEORY = Path(__file__).parent.parent / "theory"
"""The folder of the theory modules whose sources key the entries (``ktiw.theory``, beside this layer)."""
CODE = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
"""Hash of this module's source: an index written by other code is not trusted."""


def cache_dir() -> Path:
    """The cache directory (not created here)."""
    if os.environ.get("KTIW_CACHE_DIR"):
        return Path(os.environ["KTIW_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ktiw"


def check_dir(path: Path) -> None:
    """Refuse (one-line :class:`KtiwError`) a cache directory another user could write to.

    A missing directory is fine (it is created private); so is a path that is not a
    directory (the cache is then simply not used)."""
    try:
        st = os.stat(path)
    except OSError:
        return
    if not stat.S_ISDIR(st.st_mode):
        return
    hint = "fix it with `chmod go-w` or point KTIW_CACHE_DIR at a private directory"
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise KtiwError(f"derivation cache {path} belongs to another user (uid {st.st_uid}); {hint}")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise KtiwError(
            f"derivation cache {path} is writable by other users (mode {stat.S_IMODE(st.st_mode):o}) "
            f"and holds code that ktiw runs; {hint}"
        )


def entry_path(name: str, sources: Iterable[str], suffix: str) -> Path:
    """Where entry ``name`` derived from the theory modules ``sources`` (file names) lives."""
    h = hashlib.sha256()
    for src in sources:
        h.update((THEORY / src).read_bytes())
    h.update(importlib.metadata.version("sympy").encode())
    return cache_dir() / f"{name}_{h.hexdigest()[:16]}{suffix}"


def _index_path(directory: Path) -> Path:
    return directory / f"index_{CODE}.json"


def _read_index(directory: Path) -> dict[str, str]:
    try:
        index = json.loads(_index_path(directory).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return index if isinstance(index, dict) else {}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_verified(path: Path) -> str | None:
    """The text of entry ``path`` if the index written by this code records its exact content
    (a regular file owned by the user); ``None`` otherwise (a miss)."""
    check_dir(path.parent)
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if _read_index(path.parent).get(path.name) != _digest(data):
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    fd = os.open(directory / f"index_{CODE}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def update(path: Path, make: Callable[[str | None], str]) -> str:
    """Under the cache lock, replace entry ``path`` by ``make(current verified text or None)``
    and record its hash in the index; return the new text.  A cache that cannot be written
    (read-only home, full disk) is skipped, never an error: the text is still returned."""
    directory = path.parent
    check_dir(directory)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        check_dir(directory)
        with _locked(directory):
            text = make(read_verified(path))
            data = text.encode("utf-8")
            _write_atomic(path, data)
            index = _read_index(directory)
            index[path.name] = _digest(data)
            _write_atomic(_index_path(directory), json.dumps(index, indent=0).encode())
            return text
    except OSError:
        return make(None)


def store(path: Path, text: str) -> None:
    """Write entry ``path`` (atomically, recorded in the index); best effort, never an error."""
    update(path, lambda _old: text)


def cached_values(name: str, sources: Iterable[str], key: str, build: Callable[[], object]) -> object:
    """A JSON value memoised under ``key`` in the entry ``name`` (a dict on disk), built on a miss.

    For deterministic numbers that are slow to recompute (e.g. an ODE solve) but cheap to look up.
    """
    path = entry_path(name, sources, ".json")
    table = _as_table(read_verified(path))
    if key in table:
        return table[key]
    value = build()

    def merge(current: str | None) -> str:  # keep what other processes added meanwhile
        merged = _as_table(current)
        merged[key] = value
        return json.dumps(merged)

    update(path, merge)
    return value


def lookup(name: str, sources: Iterable[str], key: str) -> object | None:
    """The value :func:`cached_values` stored under ``key`` in entry ``name``, or ``None``."""
    return _as_table(read_verified(entry_path(name, sources, ".json"))).get(key)


def _as_table(text: str | None) -> dict[str, object]:
    try:
        table = json.loads(text) if text is not None else {}
    except ValueError:
        return {}
    return table if isinstance(table, dict) else {}


def cached_text(
    name: str, sources: Iterable[str], build: Callable[[], str], suffix: str = ".txt"
) -> tuple[str, Path]:
    """The cached text of entry ``name``, building (and storing) it with ``build()`` if absent
    or not verified against the index."""
    path = entry_path(name, sources, suffix)
    text = read_verified(path)
    if text is not None:
        return text, path
    text = build()
    store(path, text)
    return text, path
