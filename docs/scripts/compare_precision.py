"""Store the comparison of two ``ktiw verify`` outputs of the same preset and seeds, one trained with
``--precision fp32`` and one with ``--precision bf16`` (docs/data/bf16/).

    python docs/scripts/compare_precision.py FP32_OUT BF16_OUT [DEST]   # DEST default docs/data/bf16

Writes ``DEST/comparison.json`` (every number: :func:`ktiw.comparator.equivalence.compare`),
``DEST/comparison.md`` (the table the Verifying page shows), the rows of both ``verdicts.json``
(``verdicts_fp32.json``, ``verdicts_bf16.json``) and copies any ``OUT.provenance.txt`` lying
next to the outputs.  Exit code 0 when bf16 tells the same science, 1 when it does not.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

from ktiw.comparator.equivalence import TAKEOFF_AGREEMENT, compare, verify_runs


def _steps(values: list[float]) -> str:
    return ", ".join("never" if math.isinf(v) else f"{v:.0f}" for v in values if not math.isnan(v))


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    fp32, bf16 = Path(sys.argv[1]), Path(sys.argv[2])
    dest = Path(sys.argv[3]) if len(sys.argv) == 4 else Path("docs/data/bf16")
    dest.mkdir(parents=True, exist_ok=True)
    result = compare(verify_runs(fp32), verify_runs(bf16), fp32 / "verdicts.json", bf16 / "verdicts.json")
    (dest / "comparison.json").write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    for name, side in (("fp32", fp32), ("bf16", bf16)):  # each verdict's row (the full files are ~0.7 MB)
        doc = json.loads((side / "verdicts.json").read_text())
        rows = [{k: v[k] for k in ("name", "subject", "status", "measured")} for v in doc["verdicts"]]
        keep = {"outcome": doc.get("outcome"), "meta": doc.get("meta"), "verdicts": rows}
        (dest / f"verdicts_{name}.json").write_text(json.dumps(keep, indent=1) + "\n")
    differences = result.verdict_differences
    lines = [
        "| run | seeds | success fp32 | success bf16 | Fisher p | takeoffs within one eval interval |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in result.runs:
        n = len(r.seeds)
        agree = f"{r.takeoff_agree}/{r.takeoff_compared}" if r.takeoff_compared else "- (uniform attention)"
        lines.append(
            f"| `{r.name}` | {n} | {r.success_a}/{n} | {r.success_b}/{n} | {r.fisher_p:.2g} | {agree} |"
        )
    lines += [
        "",
        f"Verdicts: {result.verdicts_compared} (check, subject) pairs compared, "
        + (
            "all with the same status."
            if result.verdicts_same
            else "different: "
            + "; ".join(f"{d['check']} {d['subject']}: {d['a']} -> {d['b']}" for d in differences)
        ),
        f"Takeoff steps (gold attention mass 1/2) equal within one evaluation interval: "
        f"{result.takeoff_share:.1%} of seeds (needed: {TAKEOFF_AGREEMENT:.0%}).",
        f"Same science: {'yes' if result.same else 'NO'}.",
        "",
        "Per-seed takeoff steps (fp32 | bf16):",
        "",
    ]
    for r in result.runs:
        if r.takeoff_compared:
            lines.append(f"* `{r.name}`: {_steps(r.takeoff_a)} | {_steps(r.takeoff_b)}")
    (dest / "comparison.md").write_text("\n".join(lines) + "\n")
    for side in (fp32, bf16):
        for p in side.parent.glob(f"{side.name}.provenance.txt"):
            shutil.copy(p, dest / p.name)
    print("\n".join(lines))
    return 0 if result.same else 1


if __name__ == "__main__":
    sys.exit(main())
