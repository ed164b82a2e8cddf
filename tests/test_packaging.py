"""Every package folder is declared in pyproject (else a non-editable install misses it)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(config["packages"])
    found = set()
    for top, name in config["package-dir"].items():
        if not name:  # the root's __init__.py is `ktiw` itself (the API); its folders are mapped above
            found.add(top)
            continue
        for init in (ROOT / name).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / name).parts
            found.add(".".join((top, *rel)))
    assert found == declared


def test_theory_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, ktiw.theory, ktiw.cli.app; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_no_layer_imports_the_api() -> None:
    """``ktiw`` itself (the root's __init__.py, the Python API) is the top: no module of a layer imports it
    (import-linter checks the layers below; the API is not one of its root packages)."""
    import ast

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    layers = {name: folder for name, folder in config["package-dir"].items() if name != "ktiw"}
    offenders = []
    for folder in layers.values():
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import) and any(a.name == "ktiw" for a in node.names):
                    offenders.append(str(path.relative_to(ROOT)))
                top = isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "ktiw"
                if top and any(f"ktiw.{a.name}" not in layers for a in node.names):
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
