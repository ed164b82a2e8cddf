"""Rewrite a stored ``ktiw verify`` report so that it names its runs relative to its own folder.

    python docs/scripts/relative_report_paths.py docs/data/NAME [ORIGINAL_OUT]   # repository root

Reports written since issue 17 already do (``ktiw.comparator.report.relative_to_report``); this
rewrites older stored ones, and ones stored from another machine, with the same function.
ORIGINAL_OUT, the ``--out`` folder the run wrote into, defaults to the ``--out`` of the recorded
command, or to the common folder of the recorded run paths.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ktiw.comparator.report import relative_to_report


def original_out(doc: dict) -> Path:
    meta = doc.get("meta", {})
    words = str(meta.get("command", "")).split(" ")
    if "--out" in words and words.index("--out") + 1 < len(words):
        out = words[words.index("--out") + 1]
        if os.path.isabs(out):
            return Path(out)
    runs = [r["path"] for r in meta.get("runs", {}).values() if os.path.isabs(r["path"])]
    if not runs:
        raise SystemExit("no absolute paths to rewrite; give ORIGINAL_OUT")
    return Path(os.path.commonpath(runs)).parent  # OUT/runs/NAME -> OUT


def rewrite(folder: Path, base: Path | None = None) -> Path:
    verdicts = folder / "verdicts.json"
    doc = json.loads(verdicts.read_text())
    base = base or original_out(doc)
    verdicts.write_text(json.dumps(relative_to_report(doc, base), indent=2, allow_nan=False) + "\n")
    report = folder / "report.md"
    if report.exists():
        text = report.read_text().replace(f"{base}/", "")
        report.write_text(text.replace(f"--out {base}", f"--out ../{base.name}"))
    return base


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    print(rewrite(folder, Path(sys.argv[2]) if len(sys.argv) > 2 else None))
