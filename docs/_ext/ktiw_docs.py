"""Sphinx extension that writes the code-derived parts of the docs at build time.

Everything under ``docs/_generated/`` (git-ignored) is rewritten on every build from
the code itself, so the site and the code cannot disagree:

* ``derivations/``: one page per entry of ``ktiw.theory.derivation.pages()`` (sympy ->
  LaTeX), plus the multi-head and classification pages of :data:`EXTRA_PAGES`;
* ``figures/two_stage.png`` and ``two_stage_table.md``: the exact 2-D copy flow
  (``ktiw.theory.flow.copy_flow``) integrated for several vocabulary sizes;
* ``stage_overlap_table.md``: how far KTIW has grown when attention starts to move (same flow);
* ``api/``: one autodoc page per public module of the ``ktiw`` packages;
* ``quickstart_commands.md``: the README's set-up commands, each ``ktiw`` step run now;
* ``verify_results.md``, ``verify_refuted.md``: the stored ``ktiw verify`` quick run under
  ``docs/data/quick/``, and ``verify_results_paper.md``: the stored paper-preset run under
  ``docs/data/paper/`` (both written by ``docs/scripts/store_verify.sh PRESET``).

The ``render_*`` functions need no Sphinx (the tests call them directly); only
:func:`setup` talks to Sphinx.  A part that cannot be generated becomes a Sphinx
warning, which ``sphinx-build -W`` turns into a failed build.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
GENERATED = "_generated"

# (import name, folder) of every package whose modules get an API page.
API_PACKAGES = (
    ("ktiw.core", "core"),
    ("ktiw.data", "data"),
    ("ktiw.theory", "theory"),
    ("ktiw.empirics", "empirics"),
    ("ktiw.runs", "runs"),
    ("ktiw.config", "config"),
    ("ktiw.comparator", "comparator"),
    ("ktiw.cli", "cli"),
)

# The two-stage figure: copying k words, vocabulary V, start (delta, gamma) = (eps, eps).
FLOW_K = 40
FLOW_CASES: tuple[tuple[int, float], ...] = ((40, 1e-3), (41, 0.0), (60, 0.0), (200, 0.0), (1000, 0.0))
FLOW_T_MAX = 2.0e4


def write_if_changed(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` unless it already holds exactly that (keeps mtimes stable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


def page_title(markdown: str, slug: str) -> str:
    """The ``# Title`` on the first line of a generated page (the contract of ``pages()``)."""
    first = markdown.lstrip().splitlines()[0] if markdown.strip() else ""
    if not first.startswith("# "):
        raise ValueError(f"derivation page {slug!r} must start with a '# Title' line, got {first[:60]!r}")
    return first[2:].strip()


EXTRA_PAGES = {
    "multihead": ("ktiw.theory.multihead", "multihead_page"),
    "classification": ("ktiw.theory.classification", "classification_page"),
}
"""Derivation pages written outside ``ktiw.theory.derivation`` (slug -> module, function)."""


def derivation_pages(module_name: str = "ktiw.theory.derivation") -> dict[str, str]:
    """All derivation pages, slug -> Markdown, in reading order, straight from the theory code."""
    pages = dict(importlib.import_module(module_name).pages())
    for slug, (module, function) in EXTRA_PAGES.items():
        pages.setdefault(slug, getattr(importlib.import_module(module), function)())
    return pages


def render_derivations(out: Path, module_name: str = "ktiw.theory.derivation") -> dict[str, Path]:
    """Write ``out/derivations/<slug>.md`` for every page and an index listing them in order."""
    folder = out / "derivations"
    pages = derivation_pages(module_name)
    written: dict[str, Path] = {}
    toc = []
    for slug, markdown in pages.items():
        if not slug or "/" in slug or slug == "index":
            raise ValueError(f"bad derivation page slug {slug!r}")
        page_title(markdown, slug)
        written[slug] = write_if_changed(folder / f"{slug}.md", markdown.rstrip() + "\n")
        toc.append(slug)
    for stale in folder.glob("*.md"):
        if stale.stem not in written and stale.stem != "index":
            stale.unlink()
    index = (
        "# Derivations\n\n"
        f"These pages are written at build time by `{module_name}.pages()`: every derived formula\n"
        "on them is `sympy.latex` of the expression the theory code computes with, so editing a\n"
        "formula in the code changes the page at the next build.\n\n"
        "```{toctree}\n:maxdepth: 1\n\n" + "\n".join(toc) + "\n```\n"
    )
    write_if_changed(folder / "index.md", index)
    return written


def render_two_stage_figure(out: Path, module_name: str = "ktiw.theory.flow") -> tuple[Path, Path]:
    """Integrate the 2-D copy flow for :data:`FLOW_CASES`, plot delta and alpha_d, tabulate takeoff.

    Returns the PNG and a Markdown table of the time at which ``alpha_d`` reaches 1/2.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    copy_flow = importlib.import_module(module_name).copy_flow
    fig, (ax_b, ax_a) = plt.subplots(2, 1, figsize=(7.5, 6.0), sharex=True, dpi=110)
    rows = []
    for V, eps in FLOW_CASES:
        flow = copy_flow(FLOW_K, V, eps=eps, t_max=FLOW_T_MAX, n_points=600)
        label = f"V={V}" + (f" (start {eps:g})" if eps else "")
        (line,) = ax_b.plot(flow.t, flow.delta, label=label)
        ax_a.plot(flow.t, flow.alpha_d, color=line.get_color(), label=label)
        takeoff = flow.takeoff_time
        if takeoff is not None and 0 < takeoff < float("inf"):
            ax_a.axvline(takeoff, color=line.get_color(), lw=0.6, ls=":")
        rows.append(f"| {V} | {eps:g} | {'never' if takeoff is None else format(takeoff, '.4g')} |")
    ax_b.set_ylabel("KTIW  $\\delta = b_d - b_o$")
    ax_a.set_ylabel("attention  $\\alpha_d$")
    ax_a.axhline(0.5, color="grey", lw=0.6)
    ax_a.set_xlabel("gradient-flow time $\\tau$")
    ax_b.set_title(f"copying k={FLOW_K} words: the exact 2-D flow")
    ax_b.legend(fontsize=8)
    fig.tight_layout()
    png = out / "figures" / "two_stage.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    plt.close(fig)
    table = (
        f"| V (k = {FLOW_K}) | start $\\delta=\\gamma$ | time for $\\alpha_d$ to reach 1/2 |\n"
        "| ---: | ---: | ---: |\n" + "\n".join(rows) + "\n"
    )
    return png, write_if_changed(out / "two_stage_table.md", table)


OVERLAP_CASES: tuple[tuple[int, float], ...] = ((40, 1e-3), (40, 1e-6), (41, 0.0), (60, 0.0), (1000, 0.0))


def first_time(t: Any, curve: Any, level: float) -> float:
    """First ``t`` at which ``curve >= level`` (``inf`` if never), linearly interpolated."""
    import numpy as np

    t, curve = np.asarray(t, dtype=float), np.asarray(curve, dtype=float)
    hit = np.nonzero(curve >= level)[0]
    if not len(hit):
        return float("inf")
    j = int(hit[0])
    if j == 0:
        return float(t[0])
    frac = (level - curve[j - 1]) / (curve[j] - curve[j - 1])
    return float(t[j - 1] + frac * (t[j] - t[j - 1]))


def render_stage_overlap(out: Path, module_name: str = "ktiw.theory.flow") -> Path:
    """How much the two stages overlap in the exact 2-D copy flow, as a Markdown table.

    For each case: the time attention on the correct word doubles from its uniform value
    ``1/k`` (stage 2 has visibly started), the KTIW contrast ``delta`` at that time, and
    ``delta`` at takeoff (``alpha_d = 1/2``).
    """
    import numpy as np

    copy_flow = importlib.import_module(module_name).copy_flow
    rows = []
    for V, eps in OVERLAP_CASES:
        f = copy_flow(FLOW_K, V, eps=eps, t_max=4 * FLOW_T_MAX, n_points=4000)
        t_start = first_time(f.t, f.alpha_d, 2.0 / FLOW_K)
        t_half = first_time(f.t, f.alpha_d, 0.5)
        d_start = float(np.interp(t_start, f.t, f.delta)) if np.isfinite(t_start) else float("nan")
        d_half = float(np.interp(t_half, f.t, f.delta)) if np.isfinite(t_half) else float("nan")
        rows.append(f"| {V} | {eps:g} | {t_start:.4g} | {d_start:.3g} | {t_half:.4g} | {d_half:.3g} |")
    table = (
        f"| V (k = {FLOW_K}) | start $\\delta=\\gamma$ | $\\alpha_d$ reaches $2/k$ at $\\tau$ | "
        "$\\delta$ then | $\\alpha_d$ reaches 1/2 at $\\tau$ | $\\delta$ then |\n"
        "| ---: | ---: | ---: | ---: | ---: | ---: |\n" + "\n".join(rows) + "\n"
    )
    return write_if_changed(out / "stage_overlap_table.md", table)


def public_modules(package: str, folder: str) -> list[str]:
    """Import names of the package and its modules and sub-packages (recursively), skipping
    ``_private`` ones; ``folder`` is relative to the repository root."""
    names = [package]
    for info in pkgutil.iter_modules([str(ROOT / folder)]):
        if info.name.startswith("_"):
            continue
        if info.ispkg:
            names += public_modules(f"{package}.{info.name}", f"{folder}/{info.name}")
        else:
            names.append(f"{package}.{info.name}")
    return names


def render_api(out: Path) -> list[Path]:
    """One autodoc page per public module (new modules appear without editing the docs)."""
    folder = out / "api"
    written = []
    toc = []
    for package, path in API_PACKAGES:
        for name in public_modules(package, path):
            # autodoc emits reStructuredText, so it runs inside eval-rst (MyST would misread it)
            # :ignore-module-all: documents each object once, where it is defined (not re-exports)
            options = ":members:", ":ignore-module-all:", ":show-inheritance:"
            directive = f".. automodule:: {name}\n" + "".join(f"   {o}\n" for o in options)
            page = f"# `{name}`\n\n```{{eval-rst}}\n{directive}```\n"
            written.append(write_if_changed(folder / f"{name}.md", page))
            toc.append(name)
    index = "# API reference\n\n```{toctree}\n:maxdepth: 1\n\n" + "\n".join(toc) + "\n```\n"
    written.append(write_if_changed(folder / "index.md", index))
    for stale in set(folder.glob("*.md")) - set(written):
        stale.unlink()  # a module that was removed or renamed
    return written


def readme_commands(readme: Path = ROOT / "README.md") -> list[str]:
    """The shell commands of the README's set-up block (comments dropped), in order."""
    match = re.search(r"^## Set-up.*?```bash\n(.*?)```", readme.read_text(encoding="utf-8"), re.S | re.M)
    if match is None:
        raise ValueError(f"{readme} has no '## Set-up' section with a ```bash block")
    return [line.strip() for line in match.group(1).splitlines() if line.strip() and not line.startswith("#")]


def ktiw_part(command: str) -> list[str] | None:
    """The ``ktiw ...`` step of a ``a && b && ktiw ...`` command line as argv (without ``ktiw``)."""
    for part in command.split("&&"):
        argv = shlex.split(part)
        if argv and argv[0] == "ktiw":
            return argv[1:]
    return None


def run_ktiw(argv: list[str], width: int = 88) -> str:
    """Run the ``ktiw`` command line in-process (typer's runner) and return what it prints."""
    from typer.testing import CliRunner

    from ktiw.cli.app import app

    # the runner sets these only for the call and restores the environment afterwards
    result = CliRunner(env={"COLUMNS": str(width), "NO_COLOR": "1", "TERM": "dumb"}).invoke(app, argv)
    if result.exit_code != 0:
        raise RuntimeError(
            f"`ktiw {shlex.join(argv)}` exited {result.exit_code}: {result.output.strip()[:300]}"
        )
    return result.output


def render_quickstart(out: Path, readme: Path = ROOT / "README.md") -> Path:
    """The README's set-up commands; each ``ktiw`` step is run now and its output shown."""
    blocks = []
    for command in readme_commands(readme):
        blocks.append(f"```bash\n{command}\n```\n")
        argv = ktiw_part(command)
        if argv is not None:
            shown = "ktiw " + shlex.join(argv)
            blocks.append(
                f"prints (`{shown}`, run while this page was built):\n\n```text\n{run_ktiw(argv)}```\n"
            )
    return write_if_changed(out / "quickstart_commands.md", "\n".join(blocks))


FIGURE_CAPTIONS = {
    "fidelity": "toy-fidelity: the torch toy model's full-batch gradient descent (time = lr x step) "
    "against the theory's 2-D flow.",
    "takeoff": "takeoff-order: the toy model's predicted takeoff step against the measured median "
    "takeoff step (takeoff: gold attention mass 1/2).",
    "success": "success-rate: share of seeds reaching 95% token accuracy, with Wilson 95% intervals.",
    "agreement": "agreement-table: top-5% agreements with their shuffled baselines.",
    "curves": "`{spec}`: per-seed accuracy and attention curves (the theory's curve overlaid in rescaled "
    "time where the run could fit a time scale).",
}

VERDICT_COLUMNS = ("name", "subject", "status", "measured", "expected")
REFUTED = ("refuted", "FAIL")
UNDECIDED = ("inconclusive", "n/a")


def in_words(row: dict[str, Any]) -> str:
    """A verdict's plain-words sentence (older stored runs call it ``detail``)."""
    return str(row.get("sentence") or row.get("detail") or "")


def verdict_rows(result: object) -> list[dict[str, Any]]:
    """The verdict rows of a ``verdicts.json``: the first list of objects with a ``name``."""
    if isinstance(result, list):
        return [r for r in result if isinstance(r, dict) and "name" in r]
    if isinstance(result, dict):
        for value in result.values():
            rows = verdict_rows(value) if isinstance(value, list | dict) else []
            if rows:
                return rows
    return []


def _suffix(preset: str) -> str:
    """File-name suffix of a stored run's generated page and figures (none for ``quick``)."""
    return "" if preset == "quick" else f"_{preset}"


def render_verify_results(out: Path, data: Path, preset: str = "quick") -> Path:
    """A stored ``ktiw verify --preset PRESET`` run: its verdicts as a table and its figures.

    ``data`` holds ``verdicts.json`` and PNGs written by ``docs/scripts/store_verify.sh PRESET``;
    the page is ``verify_results.md`` for ``quick`` and ``verify_results_PRESET.md`` otherwise.
    """
    page = out / f"verify_results{_suffix(preset)}.md"
    verdicts = data / "verdicts.json"
    if not verdicts.exists():
        text = (
            f"```{{note}}\nNo stored {preset} run yet: `bash docs/scripts/store_verify.sh {preset}`\n"
            f"writes one into `docs/data/{preset}/`, and this section then shows its verdicts and\n"
            "figures.\n```\n"
        )
        return write_if_changed(page, text)
    result = json.loads(verdicts.read_text(encoding="utf-8"))
    lines = [f"Stored run: `{verdicts.relative_to(ROOT)}` (figures next to it).", ""]
    rows = verdict_rows(result)
    if rows:
        keys = [k for k in VERDICT_COLUMNS if any(k in r for r in rows)]
        lines += ["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
        for row in rows:
            cells = [str(row.get(k, "")).replace("|", "\\|").replace("\n", " ") for k in keys]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "What each verdict rests on:", ""]
        lines += [f"* **{r.get('name')}** (`{r.get('subject')}`): {in_words(r)}" for r in rows]
        lines.append("")
    scalars = (
        {k: v for k, v in result.items() if not isinstance(v, list | dict)}
        if isinstance(result, dict)
        else {}
    )
    if isinstance(result, dict) and isinstance(result.get("meta"), dict):
        scalars.update({k: v for k, v in result["meta"].items() if not isinstance(v, list | dict)})
    provenance = data / "provenance.json"
    if provenance.exists():
        scalars.update(json.loads(provenance.read_text(encoding="utf-8")))
    if scalars:
        lines += ["| field | value |", "| --- | --- |"]
        lines += [f"| {k} | `{json.dumps(v)[:120]}` |" for k, v in scalars.items()]
        lines.append("")
    folder = f"verify_figures{_suffix(preset)}"
    figures = out / folder
    if figures.exists():
        shutil.rmtree(figures)
    keys = {Path(v).name: k for k, v in result.get("figures", {}).items()} if isinstance(result, dict) else {}
    for png in sorted(
        data.glob("*.png"),
        key=lambda p: (p.name not in keys, list(keys).index(p.name) if p.name in keys else 0),
    ):
        target = figures / png.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, target)
        key = keys.get(png.name, png.stem)
        caption = FIGURE_CAPTIONS.get(key.split(":")[0], "")
        if key.startswith("curves:"):
            caption = caption.format(spec=key.split(":", 1)[1])
        lines += [f"![{key}](/{GENERATED}/{folder}/{png.name})", ""]  # "/": from the source dir
        lines += [f"*{caption or key}*", ""]
    return write_if_changed(page, "\n".join(lines) + "\n")


def render_verify_refuted(out: Path, data: Path) -> Path:
    """The verdicts of the stored quick run that refute a prediction (or that none does)."""
    verdicts = data / "verdicts.json"
    if not verdicts.exists():
        text = "```{note}\nNo stored quick run yet (`bash docs/scripts/store_verify.sh` makes one).\n```\n"
        return write_if_changed(out / "verify_refuted.md", text)
    rows = verdict_rows(json.loads(verdicts.read_text(encoding="utf-8")))
    failed = [r for r in rows if r.get("status") in REFUTED or r.get("passed") is False]
    undecided = [r for r in rows if r.get("status") in UNDECIDED or ("passed" in r and r["passed"] is None)]
    lines = [f"From `{verdicts.relative_to(ROOT)}` ({len(rows)} verdicts).", ""]
    if failed:
        lines += [f"* **{r.get('name')}** (`{r.get('subject')}`): {in_words(r)}" for r in failed]
    else:
        lines.append("No verdict of the stored run refutes a prediction.")
    rates = [r for r in rows if r.get("name") == "success-rate"]
    if rates:
        lines += [
            "",
            "Success rates in the same run (seeds reaching the success accuracy):",
            "",
        ]
        lines += [f"* `{r.get('subject')}`: {r.get('measured')}" for r in rates]
    if undecided:
        lines += ["", "Verdicts the run could not decide:", ""]
        lines += [f"* **{r.get('name')}** (`{r.get('subject')}`): {in_words(r)}" for r in undecided]
    return write_if_changed(out / "verify_refuted.md", "\n".join(lines) + "\n")


def generate_all(srcdir: Path, derivation_module: str, flow_module: str, warn: Callable[[str], Any]) -> None:
    """Run every ``render_*``; a part that fails is reported through ``warn`` and says so on its page."""
    out = srcdir / GENERATED
    out.mkdir(exist_ok=True)
    steps: list[tuple[str, Callable[[], Any], Path]] = [
        ("derivations", lambda: render_derivations(out, derivation_module), out / "derivations" / "index.md"),
        ("two-stage figure", lambda: render_two_stage_figure(out, flow_module), out / "two_stage_table.md"),
        (
            "stage-overlap table",
            lambda: render_stage_overlap(out, flow_module),
            out / "stage_overlap_table.md",
        ),
        ("API reference", lambda: render_api(out), out / "api" / "index.md"),
        ("quickstart output", lambda: render_quickstart(out), out / "quickstart_commands.md"),
        (
            "verify results",
            lambda: render_verify_results(out, srcdir / "data" / "quick"),
            out / "verify_results.md",
        ),
        (
            "paper-preset results",
            lambda: render_verify_results(out, srcdir / "data" / "paper", "paper"),
            out / "verify_results_paper.md",
        ),
        (
            "refuted verdicts",
            lambda: render_verify_refuted(out, srcdir / "data" / "quick"),
            out / "verify_refuted.md",
        ),
    ]
    for what, step, page in steps:
        try:
            step()
        except Exception as exc:  # reported as a build warning (an error under -W)
            message = f"ktiw docs: could not generate the {what}: {type(exc).__name__}: {exc}"
            warn(message)
            if not page.exists():
                title = (
                    "# Derivations\n\n"
                    if what == "derivations"
                    else ("# API reference\n\n" if "API" in what else "")
                )
                write_if_changed(page, f"{title}```{{error}}\n{message}\n```\n")


def _on_builder_inited(app: Any) -> None:
    from sphinx.util import logging

    logger = logging.getLogger("ktiw_docs")
    generate_all(
        Path(app.srcdir), app.config.ktiw_derivation_module, app.config.ktiw_flow_module, logger.warning
    )


def setup(app: Any) -> dict[str, Any]:
    """Register the generator: it runs once per build, before Sphinx reads the sources."""
    app.add_config_value("ktiw_derivation_module", "ktiw.theory.derivation", "env")
    app.add_config_value("ktiw_flow_module", "ktiw.theory.flow", "env")
    app.connect("builder-inited", _on_builder_inited)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
