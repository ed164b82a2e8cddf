"""Curves of a run directory as PNG files (matplotlib, Agg backend: no display needed).

One figure per metric, one line per seed (diverged seeds dashed):
``accuracy.png`` (token accuracy), ``attention.png`` (attention accuracy against the gold
position), ``beta.png`` (argmax accuracy of the KTIW probe ``beta``), ``loss.png``.
"""

from __future__ import annotations

from pathlib import Path

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


def plot_run(run: Run, out_dir: Path | None = None) -> list[Path]:
    """Draw :data:`FIGURES` for ``run`` into ``out_dir`` (default ``RUN_DIR/plots``); return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir) if out_dir is not None else run.path / "plots"
    out.mkdir(parents=True, exist_ok=True)
    cfg = run.config
    title = (
        f"{cfg.get('spec') or cfg.get('data')}  {cfg.get('model')}{' uniform' if cfg.get('uniform') else ''}"
    )
    diverged = {s["seed"] for s in run.summary.get("seeds", []) if s.get("diverged")}
    paths = []
    for name, column, ylabel, meaning in FIGURES:
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
        for seed in run.seeds:
            steps, values = run.curve(seed, column)
            ax.plot(steps, values, lw=1.0, alpha=0.8, ls="--" if seed in diverged else "-", label=str(seed))
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}\n{meaning}", fontsize=9)
        if column != "loss":
            ax.set_ylim(-0.02, 1.02)
        if len(run.seeds) <= 10:
            ax.legend(title="seed", fontsize=7, ncols=2)
        fig.tight_layout()
        path = out / name
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths
