"""Derivation pages: rendered from the live sympy expressions, with assumptions, cache keyed by source."""

from __future__ import annotations

import json
import shutil

import sympy as sp

from ktiw.core import cache
from ktiw.data.families import from_spec
from ktiw.theory import derivation as dv
from ktiw.theory.closed_forms import family_cooccurrence
from ktiw.theory.reduction import derive as derive_reduction
from ktiw.theory.toy_model import derive as derive_toy


def test_pages_contain_the_live_expressions_and_assumptions() -> None:
    pages = dv.pages()
    assert set(pages) == {"toy-model", "stage-1", "stage-2", "copy-reduction", "families", "optimizers"}
    toy, red = derive_toy(), derive_reduction()
    assert sp.latex(toy.grad_x) in pages["toy-model"] and sp.latex(toy.grad_a) in pages["toy-model"]
    assert sp.latex(toy.stage1) in pages["stage-1"] and sp.latex(toy.stage2) in pages["stage-2"]
    assert sp.latex(red.loss) in pages["copy-reduction"]
    assert sp.latex(red.initial_velocity[0]) in pages["copy-reduction"]
    from ktiw.theory.adam_reduction import derive as derive_adam
    from ktiw.theory.adam_reduction import derive_sign_regime

    assert sp.latex(derive_sign_regime().rho) in pages["optimizers"]
    assert sp.latex(derive_adam().adam_map[0]) in pages["optimizers"]
    c_d, c_o = family_cooccurrence("subset")
    assert f"${sp.latex(c_d)}$" in pages["families"] and f"${sp.latex(c_o)}$" in pages["families"]
    for slug, page in pages.items():
        assert page.startswith("# "), slug
        assert "## Assumptions and where they break" in page, slug
        assert "$" in page, slug
    text = "\n".join(pages.values())
    for needle in ("purely local", "predicts* its attention", "stages overlap"):
        assert needle in text


def test_cached_pages_equal_a_fresh_rendering() -> None:
    assert json.loads(dv._render())["pages"] == dv.pages()


def test_cache_key_follows_the_source(tmp_path, monkeypatch) -> None:
    for name in dv._SOURCES:
        shutil.copy(cache.THEORY / name, tmp_path / name)
    monkeypatch.setattr(cache, "THEORY", tmp_path)
    before = cache.entry_path("derivation_pages", dv._SOURCES, ".json")
    with open(tmp_path / "toy_model.py", "a") as fh:
        fh.write("\n# a changed formula\n")
    assert cache.entry_path("derivation_pages", dv._SOURCES, ".json") != before


def test_derivation_for_a_drift_distribution_without_reduction() -> None:
    text = dv.derivation_for(from_spec("iid:L=3,V=4"))
    assert text.startswith("# Derivation for `iid:L=3,V=4`") and "**Regime: drift.**" in text
    assert "does not apply" in text and "## Co-occurrence of the named families" in text
    assert "## The exact 2-D reduction" not in text
