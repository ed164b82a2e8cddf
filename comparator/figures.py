"""The report's figures (matplotlib, Agg backend, PNG).

* ``takeoff.png``: predicted takeoff time against measured median step to 50% attention accuracy.
* ``curves_<slug>.png``: per-seed token and attention accuracy of the trained model, with the
  theory's ``p_correct`` and ``alpha_d`` in rescaled time (one shared factor, see
  :func:`ktiw.comparator.evidence.time_scale`).
* ``success.png``: success rates with Wilson 95% intervals.
* ``agreement.png``: the agreement table as grouped bars with the shuffled baselines.
* ``fidelity.png``: the toy model's gradient descent against the flow.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from .checks import AGREEMENT_PAIRS, FidelityTrace
from .evidence import SpecEvidence, time_scale
from .stats import wilson_interval


def slug(spec: str) -> str:
    """A file-name-safe form of a spec: ``subset:L=10,V=15`` -> ``subset-L10-V15``."""
    s = re.sub(r"[:,]", "-", spec).replace("=", "")
    return re.sub(r"[^A-Za-z0-9_.-]", "_", s)


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def takeoff_figure(evidence: list[SpecEvidence], path: Path) -> Path | None:
    """Predicted takeoff (theory time) vs measured median step; "never" drawn at the top."""
    items = [e for e in evidence if e.takeoff.predicted is not None and math.isfinite(e.takeoff.predicted)]
    if not items:
        return None
    finite = [e.takeoff.measured_median for e in items if math.isfinite(e.takeoff.measured_median)]
    steps = max((max(s.steps) for e in items for s in e.seeds), default=1.0)
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
    ax.set_xscale("log")
    ax.margins(x=0.3, y=0.1)
    ax.set_xlabel("predicted takeoff time (gradient-flow time, alpha_d = 1/2)")
    ax.set_ylabel("measured median step to 50% attention accuracy")
    ax.set_title("predicted vs measured takeoff")
    ax.legend(fontsize=8)
    return _save(fig, path)


def curves_figure(e: SpecEvidence, scale: float | None, path: Path) -> Path:
    """Per-seed accuracy and attention accuracy with the theory's curves in rescaled time."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for s in e.seeds:
        axes[0].plot(s.steps, s.token_acc, lw=0.9, alpha=0.7)
        axes[1].plot(s.steps, s.attn_acc, lw=0.9, alpha=0.7)
    if e.theory is not None and scale:
        step = e.theory.t / scale
        axes[0].plot(step, e.theory.p_correct, "k--", lw=2, label="theory p_correct")
        axes[1].plot(step, e.theory.alpha_d, "k--", lw=2, label="theory alpha_d")
        for ax in axes:
            ax.legend(fontsize=8, loc="lower right")
    last = max((s.steps[-1] for s in e.seeds), default=1)
    for ax, what in zip(axes, ("token accuracy", "attention accuracy"), strict=True):
        ax.set_xlim(0, last)
        ax.set_xlabel("training step" + (f"  (theory: t = {scale:.3g} x step)" if scale else ""))
        ax.set_title(f"{e.spec} ({e.regime}): {what}", fontsize=9)
    axes[0].set_ylim(-0.02, 1.02)
    return _save(fig, path)


def success_figure(evidence: list[SpecEvidence], path: Path) -> Path:
    """Success rates with Wilson 95% intervals."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    xs = np.arange(len(evidence))
    for x, e in zip(xs, evidence, strict=True):
        iv = wilson_interval(e.success.k, e.success.n)
        ax.bar(x, iv.rate, color="tab:blue" if e.regime == "drift" else "tab:orange")
        ax.errorbar(x, iv.rate, yerr=[[iv.rate - iv.low], [iv.high - iv.rate]], color="k", capsize=5)
        ax.text(x, 0.02, f"{e.success.k}/{e.success.n}", ha="center", fontsize=8, color="white")
    ax.set_xticks(xs, [f"{e.spec}\n({e.regime})" for e in evidence], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of seeds reaching 95% token accuracy")
    ax.set_title("success rate (Wilson 95% interval)")
    return _save(fig, path)


def agreement_figure(evidence: list[SpecEvidence], path: Path) -> Path | None:
    """Grouped bars: each agreement ``A(u, v)`` next to its shuffled baseline."""
    items = [e for e in evidence if e.agreements]
    if not items:
        return None
    fig, ax = plt.subplots(figsize=(max(5.5, 3 * len(items)), 3.8))
    width = 0.8 / len(AGREEMENT_PAIRS)
    for i, name in enumerate(AGREEMENT_PAIRS):
        xs = np.arange(len(items)) + i * width
        vals = [e.agreements.get(name, np.nan) for e in items]
        base = [e.baselines.get(name, np.nan) for e in items]
        ax.bar(xs, vals, width, label=name)
        ax.scatter(
            xs, base, marker="_", s=200, color="k", zorder=3, label="shuffled baseline" if i == 0 else None
        )
    ax.set_xticks(np.arange(len(items)) + 0.4 - width / 2, [e.spec for e in items], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("top-5% match")
    ax.set_title("agreement table")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


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
    return _save(fig, path)


def write_figures(evidence: list[SpecEvidence], traces: list[FidelityTrace], out: Path) -> dict[str, Path]:
    """Draw every figure into ``out`` and return them by key (absent figures are left out)."""
    out.mkdir(parents=True, exist_ok=True)
    figs: dict[str, Path | None] = {
        "fidelity": fidelity_figure(traces, out / "fidelity.png"),
        "takeoff": takeoff_figure(evidence, out / "takeoff.png"),
        "success": success_figure(evidence, out / "success.png") if evidence else None,
        "agreement": agreement_figure(evidence, out / "agreement.png"),
    }
    scale = time_scale(evidence)
    for e in evidence:
        figs[f"curves:{e.spec}"] = curves_figure(e, scale, out / f"curves_{slug(e.spec)}.png")
    return {k: v for k, v in figs.items() if v is not None}
