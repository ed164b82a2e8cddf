"""Every cache entry is verified before it is used (issue 21, class 1).

The corpus cache was trusted as it was found: a truncated ``.npz`` gave ``BadZipFile`` on
every later run, and a FIFO where an entry should be blocked forever.  Now every entry is read
through :func:`ktiw.core.cache.open_verified` (regular file, never blocking, SHA-256 against
the index); a damaged one is rebuilt with one ``note:`` line, and the result equals the one
made without a cache.
"""

from __future__ import annotations

import io
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from ktiw.core import cache, console
from ktiw.data.corpus import load_corpus

DATA = "a b c\tb c a\nc a b\ta b c\nb a c\tc b a\n"
OTHER = "x y\ty x\ny x\tx y\n"


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    src = tmp_path / "src"  # the source files derivation-cache entries are keyed by
    src.mkdir()
    (src / "formula.py").write_text("x = 1")
    monkeypatch.setattr(cache, "THEORY", src)
    monkeypatch.setenv("KTIW_CACHE_DIR", str(tmp_path / "cache"))
    console._NOTED.clear()
    return tmp_path / "cache"


@pytest.fixture(autouse=True)
def deadline() -> Iterator[None]:
    """A read that blocks (a FIFO opened for reading) fails the test instead of hanging it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def boom(signum: int, frame: object) -> None:
        raise TimeoutError("blocked")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def corpus_of(path: Path) -> tuple:
    c, _ = load_corpus(str(path), "pairs")
    return (
        c.src_ids.tolist(),
        c.src_off.tolist(),
        c.tgt_ids.tolist(),
        c.tgt_off.tolist(),
        c.in_words,
        c.out_words,
    )


def truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def flip(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))


def fifo(p: Path) -> None:
    p.unlink()
    os.mkfifo(p)


def directory(p: Path) -> None:
    p.unlink()
    (p / "x").mkdir(parents=True)


def link_dev_zero(p: Path) -> None:
    p.unlink()
    p.symlink_to("/dev/zero")


def consistent_lie(p: Path) -> None:
    """A well-formed entry with other numbers: only the hash can tell."""
    if p.suffix == ".npz":
        buf = io.BytesIO()
        np.savez(buf, src_ids=np.array([0, 1, 2] * 3, np.int32), src_off=np.array([0, 3, 6, 9]),
                 tgt_ids=np.array([2, 1, 0] * 3, np.int32), tgt_off=np.array([0, 3, 6, 9]))  # fmt: skip
        p.write_bytes(buf.getvalue())
    else:
        p.write_text('{"in_words": ["c", "b", "a"], "out_words": ["c", "b", "a"]}')


DAMAGES: dict[str, Callable[[Path], None]] = {
    "truncated": truncate,
    "flipped": flip,
    "fifo": fifo,
    "directory": directory,
    "dev-zero": link_dev_zero,
    "consistent-lie": consistent_lie,
}


@pytest.mark.parametrize("suffix", [".npz", ".json"])
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_corpus_entry_is_rebuilt_with_one_note(
    cache_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str, suffix: str
) -> None:
    data = tmp_path / "d.tsv"
    data.write_text(DATA)
    fresh = corpus_of(data)
    (entry,) = (cache_dir / "corpora").glob("?" * 32 + suffix)  # not the index_*.json
    DAMAGES[damage](entry)
    capsys.readouterr()
    assert corpus_of(data) == fresh
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"note: corpus cache entry {entry}") and "rebuilding" in err[0]
    console._NOTED.clear()
    assert corpus_of(data) == fresh  # rebuilt: read from the cache, silently
    assert capsys.readouterr().err == ""
    assert entry.is_file() and not entry.is_symlink()


def test_entry_of_another_file_is_not_taken(
    cache_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = tmp_path / "a" / "d.tsv", tmp_path / "b" / "d.tsv"
    a.write_text(DATA)
    b.write_text(OTHER)
    fresh_a = corpus_of(a)
    before = {p.name for p in (cache_dir / "corpora").glob("?" * 32 + ".*")}
    fresh_b = corpus_of(b)
    new = [
        p for p in (cache_dir / "corpora").iterdir() if p.name not in before and p.suffix in (".npz", ".json")
    ]
    for p in new:  # b's valid entries copied over a's
        (cache_dir / "corpora" / next(q for q in before if q.endswith(p.suffix))).write_bytes(p.read_bytes())
    capsys.readouterr()
    assert corpus_of(a) == fresh_a != fresh_b
    assert "was changed after it was written" in capsys.readouterr().err


def test_entry_unknown_to_the_index_is_a_plain_miss(cache_dir: Path, tmp_path: Path) -> None:
    entry = cache_dir / "e.bin"
    cache_dir.mkdir(mode=0o700)
    entry.write_bytes(b"not written through the index")
    assert cache.open_verified(entry) == (None, None)
    assert cache.store_file(entry, lambda f: f.write(b"recorded"))
    f, why = cache.open_verified(entry)
    assert why is None and f is not None and f.read() == b"recorded"
    f.close()


@pytest.mark.parametrize("what", ["entry", "index", "lock"])
@pytest.mark.parametrize("damage", ["fifo", "directory", "dev-zero"])
def test_derivation_cache_never_blocks(cache_dir: Path, what: str, damage: str) -> None:
    """A FIFO (or a directory, a device) where an entry, the index or the lock should be."""
    _, path = cache.cached_text("page", ["formula.py"], lambda: "built")
    target = {
        "entry": path,
        "index": cache._index_path(cache_dir),
        "lock": cache_dir / f"index_{cache.CODE}.lock",
    }[what]
    target.touch()
    DAMAGES[damage](target)
    assert cache.cached_text("page", ["formula.py"], lambda: "rebuilt")[0] in ("built", "rebuilt")
    assert cache.cached_values("table", ["formula.py"], "k", lambda: 1.5) == 1.5


def test_fetched_dataset_is_checked_against_its_meta(cache_dir: Path) -> None:
    """A fetched dataset is a cache entry too: data.parquet must have the SHA-256 meta.json
    records; a FIFO where meta.json should be never blocks."""
    import hashlib
    import json

    from ktiw.core.errors import KtiwError
    from ktiw.data import datasets
    from ktiw.data.corpus import DataSource

    pa = pytest.importorskip("pyarrow")
    path = datasets.data_path("rotten-tomatoes")
    path.parent.mkdir(parents=True)
    datasets.write_parquet([{"label": "fresh", "text": "good"}, {"label": "rotten", "text": "bad"}], path)
    meta = path.parent / "meta.json"
    meta.write_text(json.dumps({"file_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}))
    assert datasets.resolve(DataSource("rotten-tomatoes")).location == str(path)
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"label": ["fresh", "fresh"], "text": ["good", "bad"]}), path)
    with pytest.raises(KtiwError, match=r"rotten-tomatoes in the cache is damaged .* fetch it again"):
        datasets.resolve(DataSource("rotten-tomatoes"))
    fifo(meta)
    assert datasets.meta("rotten-tomatoes") is None
    with pytest.raises(KtiwError, match=r"has no readable meta\.json; fetch it again"):
        datasets.resolve(DataSource("rotten-tomatoes"))
