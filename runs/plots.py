"""Curves of run directories as PNG files (matplotlib, Agg backend: no display needed).

One figure per metric: ``accuracy.png`` (token accuracy), ``attention.png`` (attention
accuracy against the gold position), ``beta.png`` (argmax accuracy of the KTIW probe
``beta``), ``loss.png``.  One run: one line per seed (diverged seeds dashed).  A value
that is not finite (a diverged seed's NaN or infinite loss) is left out of its line and of
the mean, explicitly, so no numpy or matplotlib warning is printed; one ``note:`` line says
which seeds of which run diverged and from which step (:func:`diverged_note`).  Several runs
(e.g. normal against uniform attention): one colour per run, thin lines per seed and a thick
line for the mean over seeds.  Every accuracy figure draws its chance level (dotted):
:func:`chance_levels`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ktiw.core.console import note
from ktiw.core.errors import KtiwError
from ktiw.empirics.runfiles import check_out_dir, save_figure

from .rundir import Run

FIGURES = (
    ("accuracy.png", "token_acc", "token accuracy", "share of target tokens predicted correctly"),
    (
        "attention.png",
        "attn_acc",
        "attention accuracy",
        "share of tokens whose attention argmax = gold position",
    ),
    ("beta.png", "beta_acc", "beta accuracy", "share of tokens whose KTIW-probe argmax = gold position"),
    ("loss.png", "loss", "loss", "token-mean cross-entropy"),
)


def label(run: Run) -> str:
    """``<spec or data file> <model>[ uniform]``."""
    cfg = run.config
    return (
        f"{cfg.get('spec') or cfg.get('data')} {cfg.get('model')}{' uniform' if cfg.get('uniform') else ''}"
    )


def chance_levels(run: Run) -> dict[str, float]:
    """Accuracy of guessing uniformly at random on the run's evaluation samples: token accuracy
    ``1 / |O|`` (output words); attention and ``beta`` accuracy the mean over scored tokens of
    ``1 / L_n`` (a uniform pick among the example's source positions).  The samples are the
    trainer's own (drawn from ``eval_seed``)."""
    from ktiw.core.errors import KtiwError
    from ktiw.empirics.train_config import TrainConfig, load_distribution

    cfg = TrainConfig.from_dict(run.config)
    try:
        dist = load_distribution(cfg)
    except KtiwError:  # the data file moved: no chance line rather than a wrong one
        return {}
    batch = dist.sample(cfg.eval_samples, np.random.default_rng([2, cfg.eval_seed]))
    weights = batch.tgt_len.astype(np.float64)  # every scored token of example n has 1 / L_n
    position = float(np.sum(weights / batch.src_len) / np.sum(weights))
    return {"token_acc": 1.0 / dist.n_out, "attn_acc": position, "beta_acc": position}


def plot_runs(runs: Sequence[Run], out_dir: Path | None = None) -> list[Path]:
    """Draw :data:`FIGURES` for one run, or overlaid for several, into ``out_dir`` (default
    ``RUN_DIR/plots`` for one run, ``plots`` for several); return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not runs:
        raise ValueError("no runs to plot")
    out = (
        Path(out_dir)
        if out_dir is not None
        else (runs[0].path / "plots" if len(runs) == 1 else Path("plots"))
    )
    # a folder of its own: new, empty, or holding an earlier `ktiw plot` (its figures are replaced)
    check_out_dir(out, ours=tuple(f[0] for f in FIGURES), what="ktiw plot figures")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KtiwError(f"cannot create plot directory {out}: {exc.strerror or exc}") from None
    chance = chance_levels(runs[0])
    message = diverged_note(runs)
    if message:
        note(message)
    paths = []
    for name, column, ylabel, meaning in FIGURES:
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
        if len(runs) == 1:
            _seed_lines(ax, runs[0], column)
            title = label(runs[0])
        else:
            for k, run in enumerate(runs):
                _mean_lines(ax, run, column, f"C{k}")
            ax.legend(fontsize=7)
            title = " vs ".join(label(r) for r in runs)
        if column in chance:
            ax.axhline(chance[column], color="k", ls=":", lw=1.0, label="chance")
            ax.annotate("chance", (0, chance[column]), xytext=(2, 2), textcoords="offset points", fontsize=7)
            ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}\n{meaning}", fontsize=8)
        fig.tight_layout()
        path = save_figure(fig, out / name)
        plt.close(fig)
        paths.append(path)
    return paths


def diverged_steps(run: Run) -> dict[int, int]:
    """``{seed: first step}`` of the seeds that diverged: marked so in ``summary.json`` or in
    ``curves.csv``, or holding a value that is not finite."""
    out: dict[int, int] = {}
    for s in run.summary.get("seeds", []):
        if isinstance(s, dict) and s.get("diverged"):
            step = s.get("diverged_step")
            out[int(s["seed"])] = int(step) if isinstance(step, int | float) and math.isfinite(step) else -1
    values = np.stack([run.curves[c] for _f, c, _y, _m in FIGURES if c in run.curves], axis=1)
    bad = ~np.isfinite(values).all(axis=1) | (run.curves["diverged"] > 0)
    for seed, step in zip(run.curves["seed"][bad].tolist(), run.curves["step"][bad].tolist(), strict=True):
        if out.get(seed, -1) < 0 or step < out[seed]:
            out[seed] = step
    return out


def diverged_note(runs: Sequence[Run]) -> str:
    """One line naming the diverged seeds of every run, or ``""`` when none diverged."""
    parts = []
    for run in runs:
        steps = diverged_steps(run)
        if steps:
            seeds = ", ".join(
                f"{seed} (step {step})" if step >= 0 else str(seed) for seed, step in sorted(steps.items())
            )
            parts.append(f"{run.path}: seed{'s' if len(steps) > 1 else ''} {seeds}")
    if not parts:
        return ""
    return "diverged, drawn up to their last finite values: " + "; ".join(parts)


def _finite(values: np.ndarray) -> np.ndarray:
    """``values`` with every NaN or infinity as NaN (a gap in the line, never a warning)."""
    return np.where(np.isfinite(values), values, np.nan)


def _seed_lines(ax: object, run: Run, column: str) -> None:
    diverged = diverged_steps(run)
    for seed in run.seeds:
        steps, values = run.curve(seed, column)
        ax.plot(
            steps, _finite(values), lw=1.0, alpha=0.8, ls="--" if seed in diverged else "-", label=str(seed)
        )  # type: ignore[attr-defined]
    if len(run.seeds) <= 10:
        ax.legend(title="seed", fontsize=7, ncols=2)  # type: ignore[attr-defined]


def _mean_lines(ax: object, run: Run, column: str, colour: str) -> None:
    curves = [run.curve(seed, column) for seed in run.seeds]
    for steps, values in curves:
        ax.plot(steps, _finite(values), color=colour, lw=0.6, alpha=0.25)  # type: ignore[attr-defined]
    # every evaluation step of the run; a seed that stopped early (--stop-at) counts with its
    # value at its stop step (Run.frozen_curve), so the mean runs to the end over all seeds;
    # the mean at a step is over the seeds with a finite value there (none: a gap)
    steps = np.unique(run.curves["step"])
    table = np.stack([run.frozen_curve(column, int(s)) for s in steps])
    finite = np.isfinite(table)
    count = finite.sum(axis=1)
    total = np.where(finite, table, 0.0).sum(axis=1)
    mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    ax.plot(steps, mean, color=colour, lw=2.0, label=f"{label(run)} (mean of {len(curves)})")  # type: ignore[attr-defined]


def plot_run(run: Run, out_dir: Path | None = None) -> list[Path]:
    """:func:`plot_runs` for one run."""
    return plot_runs([run], out_dir)
