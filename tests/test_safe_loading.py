"""Every ``np.load`` in the tree passes ``allow_pickle=False`` and every ``torch.load``
``weights_only=True`` (a run directory or cache file must never be able to run code), and
nothing uses ``pickle``/``marshal`` loading at all.  Checked on the syntax tree of every
Python file of the repository, so a call split over several lines is still seen."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = {
    ("np", "load"): ("allow_pickle", False),
    ("numpy", "load"): ("allow_pickle", False),
    ("torch", "load"): ("weights_only", True),
}
FORBIDDEN = {("pickle", "load"), ("pickle", "loads"), ("marshal", "loads"), ("marshal", "load")}


def python_files() -> list[Path]:
    skip = {".venv", "build", "_build", ".git", "node_modules"}
    return [p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)]


def calls(tree: ast.AST) -> list[tuple[str, str, ast.Call]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name):
                out.append((owner.id, node.func.attr, node))
    return out


def test_loads_refuse_pickles() -> None:
    files = python_files()
    assert len(files) > 50  # the walk really covers the tree
    bad, seen = [], 0
    for path in files:
        for owner, attr, call in calls(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            if (owner, attr) in FORBIDDEN:
                bad.append(f"{where}: {owner}.{attr}")
            need = REQUIRED.get((owner, attr))
            if need is None:
                continue
            seen += 1
            kw = {k.arg: k.value for k in call.keywords}
            value = kw.get(need[0])
            if not (isinstance(value, ast.Constant) and value.value is need[1]):
                bad.append(f"{where}: {owner}.{attr} without {need[0]}={need[1]}")
    assert seen >= 3  # the project does load arrays and checkpoints
    assert not bad, "\n".join(bad)
