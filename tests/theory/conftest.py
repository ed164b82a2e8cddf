"""Run the theory tests against a fresh derivation cache, so they exercise the sympy path."""

from __future__ import annotations

import pytest

from ktiw.theory import derivation, reduction


@pytest.fixture(autouse=True, scope="session")
def _fresh_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("KTIW_CACHE_DIR", str(tmp_path_factory.mktemp("ktiw-cache")))
    reduction.numeric.cache_clear()
    derivation._rendered.cache_clear()
    yield
    mp.undo()
    reduction.numeric.cache_clear()
    derivation._rendered.cache_clear()
