"""The derivation cache holds code that ``ktiw predict`` executes: planted or altered entries
never run, a cache directory other users can write to is refused, and concurrent cold-cache
processes neither corrupt entries nor lose each other's records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from ktiw.core import cache
from ktiw.core.errors import KtiwError


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    (src / "formula.py").write_text("x = 1")
    monkeypatch.setattr(cache, "THEORY", src)
    directory = tmp_path / "cache"
    monkeypatch.setenv("KTIW_CACHE_DIR", str(directory))
    return directory


def test_new_cache_dir_is_private(private_cache) -> None:
    cache.cached_text("page", ["formula.py"], lambda: "built")
    assert private_cache.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757, 0o722])
def test_cache_dir_writable_by_others_is_refused(private_cache, mode) -> None:
    private_cache.mkdir()
    os.chmod(private_cache, mode)
    with pytest.raises(KtiwError, match="writable by other users"):
        cache.cached_text("page", ["formula.py"], lambda: "built")
    with pytest.raises(KtiwError, match="writable by other users"):
        cache.cached_values("table", ["formula.py"], "k", lambda: 1.0)


def test_planted_or_edited_entries_are_rebuilt_not_used(private_cache) -> None:
    _, path = cache.cached_text("page", ["formula.py"], lambda: "honest")
    assert cache.cached_values("table", ["formula.py"], "k", lambda: 89.8) == 89.8
    path.write_text("planted")  # same name, content the index does not record
    table = cache.entry_path("table", ["formula.py"], ".json")
    table.write_text(json.dumps({"k": 1.0}))
    assert cache.cached_text("page", ["formula.py"], lambda: "honest again")[0] == "honest again"
    assert cache.cached_values("table", ["formula.py"], "k", lambda: 89.8) == 89.8
    # an entry whose name a stranger computed, with no index record at all
    stranger = cache.entry_path("other", ["formula.py"], ".py")
    stranger.write_text("raise SystemExit('ran planted code')")
    assert cache.read_verified(stranger) is None


def test_index_written_by_other_code_is_not_trusted(private_cache, monkeypatch) -> None:
    _, path = cache.cached_text("page", ["formula.py"], lambda: "v1")
    assert cache.read_verified(path) == "v1"
    monkeypatch.setattr(cache, "CODE", "0" * 16)
    assert cache.read_verified(path) is None


def test_planted_reduction_source_is_never_executed(tmp_path, monkeypatch) -> None:
    """The real entry point: a planted copy_reduction module in a private cache is ignored."""
    monkeypatch.setenv("KTIW_CACHE_DIR", str(tmp_path / "c"))
    path = cache.entry_path("copy_reduction", ("reduction.py", "toy_model.py"), ".py")
    path.parent.mkdir(mode=0o700)
    marker = tmp_path / "PWNED"
    path.write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    from ktiw.theory import reduction

    reduction.numeric.cache_clear()
    try:
        num = reduction.numeric()
    finally:
        reduction.numeric.cache_clear()
    assert not marker.exists()
    # the rebuilt entry is the derived one: the saddle eigenvalue of the 2-D flow at V = k = 4
    jac = num.jacobian(0.0, 0.0, 4, 4)
    assert abs(abs(jac[0]) - 0.0) < 1e-12 and abs(abs(jac[1]) - 1 / 16) < 1e-12


WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from ktiw.core import cache
    cache.THEORY = Path(sys.argv[1])
    who = sys.argv[2]
    for i in range(40):
        cache.cached_values("table", ["formula.py"], f"{who}-{i}", lambda: i * 1.5)
        cache.store(cache.entry_path("page", ["formula.py"], ".txt"), "same text " * 1000)
    """
)


def test_concurrent_cold_cache_processes_lose_nothing(private_cache) -> None:
    """Two processes fill the same cold cache at once: every key of both survives, and every
    entry verifies against the index (no torn writes, no lost index records)."""
    env = dict(os.environ, KTIW_CACHE_DIR=str(private_cache))
    src = str(cache.THEORY)
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, src, who], env=env) for who in ("a", "b", "c")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    table = json.loads(cache.read_verified(cache.entry_path("table", ["formula.py"], ".json")))
    assert table == {f"{w}-{i}": i * 1.5 for w in "abc" for i in range(40)}
    assert cache.read_verified(cache.entry_path("page", ["formula.py"], ".txt")) == "same text " * 1000
    assert not list(private_cache.glob("*.tmp"))
