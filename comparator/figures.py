"""The reports' figures (matplotlib, Agg backend, PNG).

Shared: :func:`rate_bars` (success rates with Wilson 95% intervals) and :func:`save`.
Copying experiment (:func:`copy_figures`):

* ``takeoff.png``: predicted takeoff (the toy model's Adam steps) against the measured median
  takeoff step; *takeoff* is always the first step at which the gold attention mass (the
  ``attn_mass`` curve column) reaches 1/2;
* ``curves_<slug>.png``: per-seed token accuracy and gold attention mass of the trained model,
  with the theory's ``p_correct`` and ``alpha_d`` (its gold attention mass) in rescaled time (one
  shared factor, :func:`ktiw.comparator.experiments.copy.time_scale`, fitted to the same takeoffs);
  one colour per seed;
* ``success.png``: success rates; ``agreement.png``: the agreement table with its shuffled
  baselines; ``fidelity.png``: the toy model's gradient descent against the flow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from ktiw.empirics.runfiles import save_figure
from ktiw.runs.rundir import run_name

from .measures import AGREEMENT_PAIRS
from .result import Figure
from .stats import wilson_interval

if TYPE_CHECKING:
    from .checks import FidelityTrace
    from .copy_measurement import CopyMeasurement, SpecMeasurement


def save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path


def rate_bars(
    ax: plt.Axes, labels: Sequence[str], counts: Sequence[tuple[int, int]], colours: Sequence[str]
) -> None:
    """Bars of ``k/n`` with Wilson 95% intervals and the count written inside."""
    for x, ((k, n), colour) in enumerate(zip(counts, colours, strict=True)):
        iv = wilson_interval(k, n)
        ax.bar(x, iv.rate, color=colour)
        ax.errorbar(x, iv.rate, yerr=[[iv.rate - iv.low], [iv.high - iv.rate]], color="k", capsize=5)
        ax.text(x, 0.02, f"{k}/{n}", ha="center", fontsize=8, color="white")
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate (Wilson 95%)")


def seed_colours(n: int) -> list[tuple[float, float, float, float]]:
    """``n`` distinct colours, one per seed: ``tab20`` up to 20 seeds (matplotlib's default
    cycle has 10, so seeds 11-16 would repeat seeds 1-6), evenly spaced ``turbo`` beyond."""
    if n <= 20:
        return [plt.get_cmap("tab20")(i) for i in range(n)]
    return [plt.get_cmap("turbo")(x) for x in np.linspace(0.0, 1.0, n)]


def _plain(value: float, _pos: object = None) -> str:
    """A tick label as a plain number (``560``, ``1e+04``), never ``5.62x10^2``."""
    return f"{value:g}"


def readable_x_axis(ax: plt.Axes, values: Sequence[float]) -> None:
    """Log x axis when ``values`` span at least a factor 10, else linear; labelled ticks are
    plain numbers, at most about six of them, and unlabelled minor ticks (on a narrow log axis
    matplotlib labels every minor tick, and the labels overlap)."""
    lo, hi = min(values), max(values)
    if lo > 0 and hi / lo >= 10:
        ax.set_xscale("log")
        subs = (1.0, 2.0, 5.0) if hi / lo < 100 else (1.0,)
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs, numticks=8))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.xaxis.set_major_formatter(FuncFormatter(_plain))


def takeoff_figure(specs: list[SpecMeasurement], steps: int, path: Path) -> Path | None:
    """Predicted takeoff (toy-model Adam steps) vs measured median takeoff step (gold attention
    mass 1/2); "never" drawn at the top."""
    items = [e for e in specs if e.takeoff.predicted is not None and math.isfinite(e.takeoff.predicted)]
    if not items:
        return None
    finite = [e.takeoff.measured_median for e in items if math.isfinite(e.takeoff.measured_median)]
    top = max([*finite, steps]) * 1.15
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for e in items:
        y = e.takeoff.measured_median
        never = not math.isfinite(y)
        ax.scatter(e.takeoff.predicted, top if never else y, marker="^" if never else "o", s=50)
        ax.annotate(
            e.spec + (" (never)" if never else ""),
            (e.takeoff.predicted, top if never else y),
            textcoords="offset points",
            xytext=(5, 5),
            fontsize=8,
        )
    ax.axhline(steps, color="grey", lw=0.8, ls=":", label="training budget")
    readable_x_axis(ax, [e.takeoff.predicted for e in items])
    ax.margins(x=0.3, y=0.1)
    ax.set_xlabel("predicted takeoff step (toy model, Adam)")
    ax.set_ylabel("measured median takeoff step")
    ax.set_title("takeoff: predicted vs measured (gold attention mass 1/2)", fontsize=9)
    ax.legend(fontsize=8)
    return save(fig, path)


def curves_figure(e: SpecMeasurement, scale: float | None, steps: int, path: Path) -> Path:
    """Per-seed token accuracy and gold attention mass, one colour per seed, with the theory's
    ``p_correct`` and ``alpha_d`` in rescaled time.  The right panel shows the gold attention
    mass, the quantity ``alpha_d`` is and the time scale was fitted to (runs recorded before the
    ``attn_mass`` column show argmax attention accuracy, and say so)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    has_mass = bool(e.seeds) and all(
        s.attn_mass is not None and np.isfinite(s.attn_mass).any() for s in e.seeds
    )
    for s, colour in zip(e.seeds, seed_colours(len(e.seeds)), strict=True):
        attention = s.attn_mass if has_mass else s.attn_acc
        axes[0].plot(s.steps, s.token_acc, lw=0.9, alpha=0.8, color=colour)
        axes[1].plot(s.steps, attention, lw=0.9, alpha=0.8, color=colour)
    if e.theory is not None and scale:
        step = e.theory.t / scale
        axes[0].plot(step, e.theory.p_correct, "k--", lw=2, label="theory p_correct")
        axes[1].plot(step, e.theory.alpha_d, "k--", lw=2, label="theory alpha_d")
        for ax in axes:
            ax.legend(fontsize=8, loc="lower right")
    right = "gold attention mass" if has_mass else "attention accuracy (argmax)"
    for ax, what in zip(axes, ("token accuracy", right), strict=True):
        ax.set_xlim(0, steps)
        ax.set_xlabel("training step" + (f"  (theory: t = {scale:.3g} x step)" if scale else ""))
        ax.set_title(f"{e.spec} ({e.regime}): {what}", fontsize=9)
    axes[0].set_ylim(-0.02, 1.02)
    return save(fig, path)


def agreement_figure(specs: list[SpecMeasurement], path: Path) -> Path | None:
    """Grouped bars: each agreement ``A(u, v)`` next to its shuffled baseline."""
    items = [e for e in specs if e.agreements]
    if not items:
        return None
    fig, ax = plt.subplots(figsize=(max(5.5, 3 * len(items)), 3.8))
    width = 0.8 / len(AGREEMENT_PAIRS)
    for i, name in enumerate(AGREEMENT_PAIRS):
        xs = np.arange(len(items)) + i * width
        got = [{a.pair: a for a in e.agreements}.get(name) for e in items]
        ax.bar(xs, [a.value if a else np.nan for a in got], width, label=name)
        base = [a.baseline if a else np.nan for a in got]
        ax.scatter(
            xs, base, marker="_", s=200, color="k", zorder=3, label="shuffled baseline" if i == 0 else None
        )
    ax.set_xticks(np.arange(len(items)) + 0.4 - width / 2, [e.spec for e in items], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("top-5% match")
    ax.set_title("agreement table")
    ax.legend(fontsize=7, ncol=2)
    return save(fig, path)


def fidelity_figure(traces: list[FidelityTrace], path: Path) -> Path | None:
    """The toy model's full-batch gradient descent against the integrated 2-D flow."""
    if not traces:
        return None
    fig, axes = plt.subplots(1, len(traces), figsize=(5 * len(traces), 3.6), squeeze=False)
    for ax, tr in zip(axes[0], traces, strict=True):
        ax.plot(tr.t_flow, tr.alpha_flow, "k-", lw=2, label="theory flow")
        ax.plot(tr.t_gd, tr.alpha_gd, "r--", lw=1.2, label=f"toy GD, t = {tr.lr:g} x step")
        ax.set_xlim(0, tr.t_gd[-1])
        ax.set_xlabel("gradient-flow time t")
        ax.set_ylabel("attention on the correct word")
        ax.set_title(f"{tr.spec} ({tr.regime})", fontsize=9)
        ax.legend(fontsize=8)
    return save(fig, path)


def copy_figures(m: CopyMeasurement, out: Path) -> dict[str, Figure]:
    """Every figure of the copying experiment, by key (absent figures are left out)."""
    figs: dict[str, Figure] = {}

    def add(key: str, path: Path | None, caption: str) -> None:
        if path is not None:
            figs[key] = Figure(path, caption)

    add(
        "fidelity",
        fidelity_figure(m.fidelity, out / "fidelity.png"),
        "Toy model: full-batch gradient descent (time = lr x step) against the theory's flow.",
    )
    add(
        "takeoff",
        takeoff_figure(m.specs, m.steps, out / "takeoff.png"),
        "Takeoff (gold attention mass 1/2): the toy model's predicted step against the measured "
        "median step.",
    )
    if m.specs:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        colours = ["tab:blue" if e.regime == "drift" else "tab:orange" for e in m.specs]
        labels = [f"{e.spec}\n({e.regime})" for e in m.specs]
        rate_bars(ax, labels, [(e.success.k, e.success.n) for e in m.specs], colours)
        ax.set_title("seeds reaching 95% token accuracy")
        add(
            "success",
            save(fig, out / "success.png"),
            "Share of seeds reaching 95% token accuracy within the budget, Wilson 95% intervals.",
        )
    add(
        "agreement",
        agreement_figure(m.specs, out / "agreement.png"),
        "Agreement table (top-5% match) with shuffled baselines (black marks).",
    )
    note = (
        f"theory curves in rescaled time t = {m.time_scale:.3g} x step (one factor fitted to the takeoffs)"
        if m.time_scale
        else "no theory overlay: no distribution took off (gold attention mass 1/2) to fix the time scale"
    )
    for e in m.specs:
        path = curves_figure(e, m.time_scale, m.steps, out / f"curves_{run_name(e.spec, m.model)}.png")
        add(f"curves:{e.spec}", path, f"{e.spec}: per-seed curves; {note}.")
    return figs
