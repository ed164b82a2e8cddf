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
