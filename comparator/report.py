"""Write the outcome of an experiment: ``verdicts.json`` (every number), ``report.md``
(verdict table with a sentence per row, what is refuted, what is inconclusive, the
experiment's own sections, figures); and the verdict table for the terminal.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.markup import escape
from rich.table import Table

from . import thresholds as th
from .verdict import OUTCOMES, Status, Verdict, counts, jsonable

if TYPE_CHECKING:
    from .result import ExperimentResult

STYLE = {
    Status.PASS: "green",
    Status.REFUTED: "bold red",
    Status.INCONCLUSIVE: "yellow",
    Status.REPORTED: "dim",
}


def verdict_table(verdicts: Sequence[Verdict], title: str = "ktiw verify") -> Table:
    """The terminal table: one short row per verdict (check, subject, verdict, measured).  What
    each check expected and its plain-words sentence are in ``report.md``; :func:`verdict_notes`
    gives the sentences of the verdicts that need reading (refuted or inconclusive)."""
    table = Table(title=escape(title), box=box.SIMPLE_HEAD)
    table.add_column("check", style="bold", no_wrap=True)
    table.add_column("subject", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("measured", overflow="fold")
    for v in verdicts:
        status = f"[{STYLE[v.status]}]{v.status}[/]"
        table.add_row(v.name, escape(v.subject), status, escape(v.measured))
    return table


def verdict_notes(verdicts: Sequence[Verdict]) -> list[str]:
    """``check (subject): sentence`` for every refuted or inconclusive verdict (rich markup)."""
    return [
        f"[{STYLE[v.status]}]{v.status}[/] {escape(v.name)} ({escape(v.subject)}): {escape(v.sentence)}"
        for v in verdicts
        if v.status in (Status.REFUTED, Status.INCONCLUSIVE)
    ]


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def verdict_markdown(verdicts: Sequence[Verdict]) -> list[str]:
    """The verdict table as Markdown lines: one line per verdict, whatever the width (also
    what the terminal gets when stdout is a file or a pipe)."""
    lines = [
        "| check | subject | verdict | measured | expected | in words |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for v in verdicts:
        mark = f"**{v.status}**" if v.status is Status.REFUTED else str(v.status)
        lines.append(
            f"| {v.name} | `{v.subject}` | {mark} | {_md(v.measured)} | {_md(v.expected)} "
            f"| {_md(v.sentence)} |"
        )
    return lines


def outcome_line(result: ExperimentResult) -> str:
    c = counts(result.verdicts)
    tally = ", ".join(f"{n} {s}" for s, n in c.items() if n)
    return f"{OUTCOMES[result.exit_code]} ({tally}; exit code {result.exit_code})"


def thresholds() -> dict[str, object]:
    """Every constant of :mod:`ktiw.comparator.thresholds`."""
    return {k: getattr(th, k) for k in th.__all__}


def _relative_path(text: str, base: Path) -> str:
    """``text`` as a path relative to ``base`` when it names ``base`` or something inside it
    (absolute, or relative to the working directory), else unchanged."""
    if os.sep not in text and text != str(base):
        return text
    try:
        target = Path(text).resolve()
        root = base.resolve()
    except (OSError, RuntimeError, ValueError):
        return text
    if target != root and root not in target.parents:
        return text
    return Path(os.path.relpath(target, root)).as_posix()


def relative_to_report(value: object, base: Path) -> object:
    """``value`` (JSON-like) with every path inside the report folder ``base`` written relative
    to it, so a stored report names its runs wherever it is copied; a command line is rewritten
    word by word (``--out /abs/out`` -> ``--out ../out``).  Paths outside ``base`` stay as given."""
    if isinstance(value, str):
        if " " in value and value.startswith("ktiw "):
            # the folder itself as ../NAME: `--out .` is refused, `--out ../NAME` runs from inside it
            words = [_relative_path(word, base) for word in value.split(" ")]
            return " ".join(f"../{base.resolve().name}" if w == "." else w for w in words)
        return _relative_path(value, base)
    if isinstance(value, dict):
        return {k: relative_to_report(v, base) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [relative_to_report(v, base) for v in value]
    return value


def write_json(result: ExperimentResult) -> dict[str, object]:
    doc = {
        "experiment": result.experiment,
        "exit_code": result.exit_code,
        "outcome": OUTCOMES[result.exit_code],
        "counts": counts(result.verdicts),
        "meta": result.meta,
        "thresholds": thresholds(),
        "verdicts": [v.to_dict() for v in result.verdicts],
        "measurement": result.measurement,
        "figures": {k: f.path.relative_to(result.out_dir).as_posix() for k, f in result.figures.items()},
    }
    from ktiw.empirics.runfiles import writing

    doc = relative_to_report(jsonable(doc), result.out_dir)  # type: ignore[assignment]
    path = result.out_dir / "verdicts.json"
    with writing(path):  # disk full: one line naming the file
        path.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    return doc


def render_markdown(result: ExperimentResult, sections: Sequence[str]) -> str:
    """The text of ``report.md`` (figures, runs and the command's paths relative to the report)."""
    meta: dict = relative_to_report(result.meta, result.out_dir)  # type: ignore[assignment]
    lines = [
        f"# ktiw verify --experiment {result.experiment}",
        "",
        f"{result.title}",
        "",
        f"**Outcome: {outcome_line(result)}.**",
        "",
        f"Command: `{meta.get('command')}`  ",
        f"Preset: `{meta.get('preset')}`; wall time: {float(meta.get('wall_time_s', 0.0)):.0f} s; "
        f"device: {meta.get('device')}; git commit: `{meta.get('git_commit')}`",
        "",
        "## Verdicts",
        "",
        *verdict_markdown(result.verdicts),
    ]
    for status, head, none in (
        (Status.REFUTED, "What the data refute", "Nothing: no check refutes a prediction."),
        (Status.INCONCLUSIVE, "What the data cannot decide", "Nothing: every check that applies is decided."),
    ):
        rows = [v for v in result.verdicts if v.status is status]
        lines += ["", f"## {head}", ""]
        lines += [f"* **{v.name}** (`{v.subject}`): {v.sentence}" for v in rows] or [none]
    lines.append("")
    for sec in sections:
        lines += [sec, ""]
    if result.figures:
        lines += ["## Figures", ""]
        for key, fig in result.figures.items():
            lines += [
                f"![{key}]({fig.path.relative_to(result.out_dir).as_posix()})",
                "",
                f"*{fig.caption}*",
                "",
            ]
    lines += ["## Runs used", ""]
    lines += [f"* {name} ({r['how']}): `{r['path']}`" for name, r in meta.get("runs", {}).items()]
    lines += [
        "",
        "## Thresholds",
        "",
        "Every threshold and test level lives in `comparator/thresholds.py` with the reason for its value; "
        "they were fixed before any comparison and are never tuned to make a result pass.",
        "",
    ]
    lines += [f"* `{k}` = {v}" for k, v in thresholds().items()]
    return "\n".join(lines) + "\n"


def write_report(result: ExperimentResult, sections: Sequence[str] = ()) -> None:
    """Write ``verdicts.json`` and ``report.md`` into ``result.out_dir`` (figures are drawn by
    the experiment before)."""
    result.out_dir.mkdir(parents=True, exist_ok=True)
    write_json(result)
    from ktiw.empirics.runfiles import writing

    path = result.out_dir / "report.md"
    with writing(path):
        path.write_text(render_markdown(result, sections))
