"""Write the outcome of ``ktiw verify``: ``verdicts.json`` (every number), ``report.md``
(verdicts, refutations, embedded figures) and the figures themselves; and the rich
verdict table for the terminal.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from rich import box
from rich.table import Table

from . import thresholds as th
from .checks import AGREEMENT_PAIRS, CHECK_NAMES, Verdict, _jsonable
from .evidence import SpecEvidence, VerifyResult, time_scale
from .figures import write_figures


def verdict_table(verdicts: list[Verdict], title: str = "ktiw verify") -> Table:
    """The terminal table: one row per verdict."""
    table = Table(title=title, box=box.SIMPLE_HEAD, show_lines=True)
    table.add_column("check", style="bold", no_wrap=True)
    table.add_column("verdict", no_wrap=True, min_width=7)
    table.add_column("subject", overflow="fold", min_width=10)
    table.add_column("measured", overflow="fold", min_width=12)
    table.add_column("expected", overflow="fold", min_width=10)
    style = {True: "green", False: "bold red", None: "dim"}
    for v in verdicts:
        table.add_row(v.name, f"[{style[v.passed]}]{v.status}[/]", v.subject, v.measured, v.expected)
    return table


def verdict_markdown(verdicts: list[Verdict]) -> list[str]:
    """The verdict table as Markdown lines (header, rule, one row per verdict)."""
    lines = ["| check | subject | measured | expected | verdict |", "| --- | --- | --- | --- | --- |"]
    for v in verdicts:
        mark = {True: "pass", False: "**FAIL**", None: "n/a"}[v.passed]
        lines.append(
            f"| {v.name} | `{v.subject}` | {_md_escape(v.measured)} | {_md_escape(v.expected)} | {mark} |"
        )
    return lines


def _evidence_dict(e: SpecEvidence) -> dict[str, object]:
    return {
        "spec": e.spec,
        "regime": e.regime,
        "prediction": e.prediction,
        "runs": e.runs,
        "success": {"k": e.success.k, "n": e.success.n},
        "takeoff": {
            "predicted_time": e.takeoff.predicted,
            "measured_median_step": e.takeoff.measured_median,
            "measured_per_seed": list(e.takeoff.measured_per_seed),
        },
        "beta_uf_share": e.beta_uf_share,
        "beta_uf_baseline": e.beta_uf_baseline,
        "agreements": e.agreements,
        "baselines": e.baselines,
        "xi": e.xi,
        "xi_star": e.xi_star,
        "seeds": [
            {
                "seed": s.seed,
                "succeeded": s.succeeded,
                "steps": s.steps,
                "token_acc": s.token_acc,
                "attn_acc": s.attn_acc,
                "beta_acc": s.beta_acc,
            }
            for s in e.seeds
        ],
    }


def write_json(result: VerifyResult, figures: dict[str, Path]) -> Path:
    """``verdicts.json``: meta, overall outcome, every verdict with its numbers, the evidence."""
    doc = {
        "passed": result.passed,
        "exit_code": result.exit_code,
        "meta": result.meta,
        "thresholds": {k: getattr(th, k) for k in dir(th) if k.isupper()},
        "verdicts": [v.to_dict() for v in result.verdicts],
        "evidence": [_evidence_dict(e) for e in result.evidence],
        "time_scale": time_scale(result.evidence),
        "figures": {k: str(p.relative_to(result.out_dir)) for k, p in figures.items()},
    }
    path = result.out_dir / "verdicts.json"
    path.write_text(json.dumps(_jsonable(doc), indent=2, allow_nan=False) + "\n")
    return path


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _num(x: object) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        if math.isnan(x):
            return "n/a"
        if math.isinf(x):
            return "never"
        return f"{x:.3g}"
    return str(x)


def render_markdown(result: VerifyResult, figures: dict[str, Path]) -> str:
    """The text of ``report.md`` (figures referenced by paths relative to the report)."""
    rel = {k: p.relative_to(result.out_dir).as_posix() for k, p in figures.items()}
    meta = result.meta
    n_fail = sum(v.passed is False for v in result.verdicts)
    outcome = "every prediction holds" if result.passed else f"{n_fail} verdict(s) refute a prediction"
    specs = ", ".join(f"`{e.spec}`" for e in result.evidence)
    lines = [
        "# ktiw verify report",
        "",
        f"**Outcome: {outcome}** (exit code {result.exit_code}).",
        "",
        f"Command: `{meta.get('command', 'ktiw verify')}`  ",
        f"Preset: `{meta.get('preset')}`; distributions: {specs}  ",
        f"Wall time: {_num(meta.get('wall_time_s'))} s; device: {meta.get('device')}; "
        f"git commit: `{meta.get('git_commit')}`",
        "",
        "## Verdicts",
        "",
        *verdict_markdown(result.verdicts),
    ]
    refuted = [v for v in result.verdicts if v.passed is False]
    lines += ["", "## What the data refute", ""]
    if refuted:
        lines += [f"* **{v.name}** (`{v.subject}`): {v.detail}" for v in refuted]
    else:
        lines.append("Nothing: no check refutes a prediction.")
    lines += ["", "## Details", ""]
    lines += [f"* **{v.name}** (`{v.subject}`, {v.status}): {v.detail}" for v in result.verdicts]
    lines += ["", "## Figures", ""]
    captions = {
        "fidelity": "Toy model: full-batch gradient descent (time = lr x step) against the theory's flow.",
        "takeoff": "Predicted takeoff time against the measured median step to 50% attention accuracy.",
        "success": "Share of seeds reaching 95% token accuracy within the budget, Wilson 95% intervals.",
        "agreement": "Agreement table (top-5% match) with shuffled baselines (black marks).",
    }
    for key in ("fidelity", "takeoff", "success", "agreement"):
        if key in rel:
            lines += [f"![{key}]({rel[key]})", "", f"*{captions[key]}*", ""]
    scale = time_scale(result.evidence)
    for e in result.evidence:
        key = f"curves:{e.spec}"
        if key in rel:
            note = (
                f"theory curves in rescaled time t = {scale:.3g} x step (one factor fitted to the takeoffs)"
                if scale
                else "no theory overlay: no distribution reached 50% attention accuracy to fix the time scale"
            )
            lines += [f"![curves {e.spec}]({rel[key]})", "", f"*{e.spec}: per-seed curves; {note}.*", ""]
    lines += ["## Agreement table", ""]
    if any(e.agreements for e in result.evidence):
        cols = [c for c in AGREEMENT_PAIRS if any(c in e.agreements for e in result.evidence)]
        lines.append("Each cell: agreement (shuffled baseline); `xi` per agreement in the same order.")
        lines.append("")
        lines.append("| distribution | " + " | ".join(cols) + " | xi | xi* |")
        lines.append("| --- " * (len(cols) + 3) + "|")
        for e in result.evidence:
            if not e.agreements:
                continue
            cells = " | ".join(f"{_num(e.agreements.get(c))} ({_num(e.baselines.get(c))})" for c in cols)
            xi = ", ".join(_num(e.xi.get(c)) for c in cols) if e.xi else "n/a"
            lines.append(f"| `{e.spec}` | {cells} | {xi} | {_num(e.xi_star)} |")
    else:
        lines.append("No agreement table (no probes).")
    lines += ["", "## Runs used", ""]
    for e in result.evidence:
        for kind, path in e.runs.items():
            lines.append(f"* `{e.spec}` {kind}: `{path}`")
    lines += [
        "",
        "## Thresholds",
        "",
        "Every threshold lives in `comparator/thresholds.py` with the reason for its value; "
        "they were fixed before any comparison and are never tuned to make a result pass.",
        "",
    ]
    lines += [f"* `{k}` = {getattr(th, k)}" for k in dir(th) if k.isupper()]
    lines += ["", f"Checks: {', '.join(CHECK_NAMES)}.", ""]
    return "\n".join(lines)


def write_report(result: VerifyResult) -> dict[str, Path]:
    """Write figures, ``verdicts.json`` and ``report.md`` into ``result.out_dir``."""
    result.out_dir.mkdir(parents=True, exist_ok=True)
    figures = write_figures(result.evidence, result.fidelity, result.out_dir / "figures")
    json_path = write_json(result, figures)
    md_path = result.out_dir / "report.md"
    md_path.write_text(render_markdown(result, figures))
    return {"report": md_path, "verdicts": json_path, **figures}
