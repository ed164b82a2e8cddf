"""The on-disk cache: built once, reused, keyed by its source files' contents, and never an
error when the cache directory cannot be written."""

from __future__ import annotations

from ktiw.core import cache


def _sources(tmp_path, monkeypatch, text: str) -> list[str]:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "formula.py").write_text(text)
    monkeypatch.setattr(cache, "THEORY", src)
    return ["formula.py"]


def test_text_is_built_once_and_keyed_by_its_sources(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KTIW_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[int] = []

    def build() -> str:
        calls.append(1)
        return f"built {len(calls)}"

    sources = _sources(tmp_path, monkeypatch, "x = 1")
    first, path = cache.cached_text("page", sources, build)
    again, _ = cache.cached_text("page", sources, build)
    _sources(tmp_path, monkeypatch, "x = 2")  # the formula's source changed
    changed, other = cache.cached_text("page", sources, build)
    assert (first, again, changed) == ("built 1", "built 1", "built 2")
    assert path.read_text() == "built 1" and other != path and len(calls) == 2
    assert cache.cached_values("table", sources, "k", lambda: 3.5) == 3.5
    assert cache.cached_values("table", sources, "k", lambda: 99.0) == 3.5  # read back, not rebuilt


def test_unwritable_cache_still_answers(tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("KTIW_CACHE_DIR", str(blocker / "ktiw"))  # mkdir below a file fails
    sources = _sources(tmp_path, monkeypatch, "x = 1")
    text, path = cache.cached_text("page", sources, lambda: "fresh")
    assert text == "fresh" and not path.exists()
    assert cache.cached_values("table", sources, "k", lambda: 1.25) == 1.25
