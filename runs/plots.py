"""Curves of run directories as PNG files (matplotlib, Agg backend: no display needed).

One figure per metric: ``accuracy.png`` (token accuracy), ``attention.png`` (attention
accuracy against the gold position), ``beta.png`` (argmax accuracy of the KTIW probe
``beta``), ``loss.png``.  One run: one line per seed (diverged seeds dashed).  Several runs
(e.g. normal against uniform attention): one colour per run, thin lines per seed and a thick
line for the mean over seeds.  Every accuracy figure draws its chance level (dotted):
:func:`chance_levels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ktiw.core.errors import KtiwError
from ktiw.empirics.runfiles import check_out_dir

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
    from ktiw.empirics.trainer import TrainConfig, load_distribution

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
        path = out / name
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


def _seed_lines(ax: object, run: Run, column: str) -> None:
    diverged = {s["seed"] for s in run.summary.get("seeds", []) if s.get("diverged")}
    for seed in run.seeds:
        steps, values = run.curve(seed, column)
        ax.plot(steps, values, lw=1.0, alpha=0.8, ls="--" if seed in diverged else "-", label=str(seed))  # type: ignore[attr-defined]
    if len(run.seeds) <= 10:
        ax.legend(title="seed", fontsize=7, ncols=2)  # type: ignore[attr-defined]


def _mean_lines(ax: object, run: Run, column: str, colour: str) -> None:
    curves = [run.curve(seed, column) for seed in run.seeds]
    for steps, values in curves:
        ax.plot(steps, values, color=colour, lw=0.6, alpha=0.25)  # type: ignore[attr-defined]
    # every evaluation step of the run; a seed that stopped early (--stop-at) counts with its
    # value at its stop step (Run.frozen_curve), so the mean runs to the end over all seeds
    steps = np.unique(run.curves["step"])
    mean = np.nanmean(np.stack([run.frozen_curve(column, int(s)) for s in steps]), axis=1)
    ax.plot(steps, mean, color=colour, lw=2.0, label=f"{label(run)} (mean of {len(curves)})")  # type: ignore[attr-defined]


def plot_run(run: Run, out_dir: Path | None = None) -> list[Path]:
    """:func:`plot_runs` for one run."""
    return plot_runs([run], out_dir)
