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

The same index guards every other cache (the tokenised corpora of
:mod:`ktiw.data.corpus`): :func:`open_verified` is the one place that reads an entry.  It
opens only a regular file of the user's, never following a link and never blocking (a FIFO
or a device where an entry should be is refused without being opened for reading), and
hands it out only when its SHA-256 is the one the index recorded.  An entry that is there
but fails a check is *damaged*: the caller rebuilds it and says so in one ``note:`` line
(:func:`ktiw.core.console.note`); :func:`store_file` replaces it (a directory in its place
is removed).  An entry the index does not know (written by other code) is a plain miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from . import env
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
    given = env.path("KTIW_CACHE_DIR")
    if given is not None:
        return given
    base = env.path("XDG_CACHE_HOME") or Path.home() / ".cache"
    return base / "ktiw"


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


MAX_INDEX_BYTES = 64 << 20
BLOCK = 1 << 20
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(mode: int) -> str:
    kind = next((name for test, name in _KINDS if test(mode)), "a device")
    return f"is not a regular file ({kind})"


def _open_regular(path: Path) -> tuple[BinaryIO | None, str | None]:
    """``(binary file, None)`` for a regular file of the user's; ``(None, None)`` when there is
    nothing at ``path``; ``(None, why)`` when something else is there.  Never follows a link,
    never blocks on a FIFO or a device."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None, None
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    if not stat.S_ISREG(st.st_mode):
        return None, _not_regular(st.st_mode)
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return None, f"belongs to another user (uid {st.st_uid})"
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    f = os.fdopen(fd, "rb")
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):  # replaced between lstat and open
        f.close()
        return None, _not_regular(mode)
    os.set_blocking(fd, True)
    return f, None


def read_regular(path: Path, limit: int = MAX_INDEX_BYTES) -> bytes | None:
    """At most ``limit`` bytes of ``path`` if it is a regular file of the user's (read without
    following a link or blocking); ``None`` otherwise."""
    f, _why = _open_regular(path)
    if f is None:
        return None
    try:
        with f:
            return f.read(limit)
    except OSError:
        return None


def _read_index(directory: Path) -> dict[str, str]:
    """The index of ``directory`` (``{}`` when there is none; a damaged one is named in a
    notice, and every entry it recorded is then rebuilt)."""
    path = _index_path(directory)
    f, why = _open_regular(path)
    if f is None:
        if why is not None:
            damaged_note("cache index", path, why)
        return {}
    try:
        with f:
            index = json.loads(f.read(MAX_INDEX_BYTES).decode("utf-8"))
    except (OSError, ValueError):
        index = None
    if not isinstance(index, dict):
        damaged_note("cache index", path, "is not a JSON object of entry hashes")
        return {}
    return index


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_digest(f: BinaryIO) -> str:
    h = hashlib.sha256()
    while block := f.read(BLOCK):
        h.update(block)
    return h.hexdigest()


def open_verified(path: Path) -> tuple[BinaryIO | None, str | None]:
    """Open cache entry ``path`` for reading, checked against the index (module docstring).

    ``(file at offset 0, None)``: a verified entry (the caller closes it); ``(None, None)``: a
    plain miss (nothing there, or an entry the index written by this code does not know);
    ``(None, why)``: a damaged entry, ``why`` saying what is wrong with it."""
    check_dir(path.parent)
    f, why = _open_regular(path)
    if f is None:
        return None, why
    expected = _read_index(path.parent).get(path.name)
    try:
        actual = _file_digest(f) if expected is not None else None
        f.seek(0)
    except OSError as exc:
        f.close()
        return None, f"cannot be read ({exc.strerror or exc})"
    if expected is None:
        f.close()
        return None, None
    if actual != expected:
        f.close()
        return None, "was changed after it was written (its SHA-256 differs from the cache index)"
    return f, None


def damaged_note(what: str, path: Path, why: str) -> None:
    """The one-line notice for a damaged entry that is being rebuilt."""
    from .console import note

    note(f"{what} {path} {why}; rebuilding it")


def read_verified(path: Path) -> str | None:
    """The text of entry ``path`` if the index written by this code records its exact content
    (a regular file owned by the user); ``None`` otherwise (a miss; a damaged entry is named
    in a notice)."""
    f, why = open_verified(path)
    if f is None:
        if why is not None:
            damaged_note("derivation cache entry", path, why)
        return None
    with f:
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        damaged_note("derivation cache entry", path, "is not UTF-8 text")
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
    _clear(path)
    tmp.replace(path)


def _clear(path: Path) -> None:
    """Remove a directory standing where an entry is to be written (a rename cannot replace
    it); a FIFO, socket or link there is replaced by the rename itself."""
    with contextlib.suppress(OSError):
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path, ignore_errors=True)


def store_file(path: Path, write: Callable[[BinaryIO], None]) -> bool:
    """Write entry ``path`` with ``write(binary file)`` (a temporary file, then a rename) and
    record its SHA-256 in the index, under the cache lock.  Best effort: ``False`` when the
    cache cannot be written (read-only, full disk, a file where the folder should be)."""
    directory = path.parent
    check_dir(directory)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        check_dir(directory)
        with _locked(directory):
            with open(tmp, "wb") as f:
                write(f)
            with open(tmp, "rb") as f:
                digest = _file_digest(f)
            _clear(path)
            os.replace(tmp, path)
            index = _read_index(directory)
            index[path.name] = digest
            _write_atomic(_index_path(directory), json.dumps(index, indent=0).encode())
            return True
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False


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
