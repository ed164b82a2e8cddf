"""Provenance recorded with every result: package versions and the git commit of the source tree.

Reads versions from the installed package metadata, so this layer never imports torch.
"""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:  # pragma: no cover - not installed
        return "unknown"


def provenance() -> dict[str, Any]:
    """Package versions and the git commit of the source tree (``unknown`` outside git)."""
    ktiw_version = _version("ktiw")
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    return {
        "versions": {
            "python": platform.python_version(),
            "torch": _version("torch"),
            "numpy": np.__version__,
            "ktiw": ktiw_version,
        },
        "git_commit": (commit + ("-dirty" if dirty else "")) if commit else "unknown",
    }
