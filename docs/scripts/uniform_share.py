"""The ``ktiw-under-uniform`` check on finished uniform-attention runs, without the normal runs.

    python docs/scripts/uniform_share.py RUN_DIR [RUN_DIR ...] --out docs/data/bow

``ktiw verify`` (copy experiment) computes this check from the uniform run alone: the share of
scored target tokens whose ``beta`` argmax is the gold source position, pooled over seeds, at
the run's last probe step (stopped seeds at their stop step), its shuffled baseline, and the
verdict for the distribution's regime.  This script calls the very same functions
(:func:`ktiw.comparator.experiments.copy.token_share`,
:func:`ktiw.comparator.checks.check_ktiw_under_uniform`, :func:`ktiw.theory.predict.predict`
for the regime) on run directories trained by
``ktiw train SPEC --uniform ...`` with the config verify would use, so the numbers are the
check's numbers at a fraction of the cost (no normal runs, no proxy, no fidelity runs).

It adds, for reading only (no verdict depends on them): the number of scored tokens, the
number matched, an exact one-sided binomial p-value of that count against the shuffled
baseline's rate (scipy), the per-seed final token accuracy of the uniform model, which
seeds stopped early, and (:func:`not_yet_emitted`) how often the ``beta`` argmax is a source
word the target has not emitted yet, against the rate of a uniformly random position: a
decoder that knows which words it has already written can point the probe away from them
without any word-translation knowledge.  Writes ``verdicts.json`` and ``report.md`` in
``--out``, with each run's ``config.json`` under ``configs/`` and the provenance (command,
git commit, versions, load).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

from ktiw.comparator import checks as ck
from ktiw.comparator.experiments.copy import token_share
from ktiw.comparator.measures import last_probes, scored, tile
from ktiw.comparator.verdict import fmt, jsonable
from ktiw.data.families import from_spec
from ktiw.runs.rundir import load_run
from ktiw.theory.predict import predict


def measure(run_dir: Path) -> dict[str, object]:
    run = load_run(run_dir)
    cfg = run.config
    if not cfg.get("uniform"):
        raise SystemExit(f"{run_dir} is not a uniform-attention run (train it with --uniform)")
    dist = from_spec(cfg["spec"])
    regime = predict(dist).regime
    probes = last_probes(run)
    m = token_share(probes, np.random.default_rng(1))  # the rng verify uses
    verdict = ck.check_ktiw_under_uniform(dist.spec, regime, m)
    S = probes["beta"].shape[0]
    n_tokens = int(tile(scored(probes) & (probes["align"] >= 0), S).sum())
    matched = round(m.share * n_tokens)
    p = binomtest(matched, n_tokens, m.baseline, alternative="greater").pvalue
    fresh, fresh_chance, gold_fresh_chance = not_yet_emitted(probes)
    last = max(int(s) for s in run.curves["step"])
    acc = run.frozen_curve("token_acc", last)
    return {
        "run": run_dir.name,
        "spec": dist.spec,
        "encoder": cfg["model_config"].get("encoder", "recurrent"),
        "hidden": cfg["model_config"]["hidden"],
        "seeds": cfg["seeds"],
        "steps": cfg["steps"],
        "batch_size": cfg["batch_size"],
        "lr": cfg["lr"],
        "probe_step": run.probe_steps[-1],
        "stopped_steps": run.stopped_steps(),
        "scored_tokens": n_tokens,
        "matched_tokens": matched,
        "binomial_p_vs_baseline": p,
        "final_token_acc_per_seed": acc.tolist(),
        "argmax_not_yet_emitted": fresh,
        "argmax_not_yet_emitted_chance": fresh_chance,
        "gold_share_if_uniform_among_not_yet_emitted": gold_fresh_chance,
        "verdict": verdict.to_dict(),
    }


def not_yet_emitted(probes: dict[str, np.ndarray]) -> tuple[float, float, float]:
    """Over scored tokens with a gold position: the share whose ``beta`` argmax is a position
    that is not the gold position of an earlier target token (a word not yet emitted), its
    chance rate ``E[(L_n - #earlier) / L_n]``, and the chance rate of the gold match given
    such a guess uniform among the not-yet-emitted positions, ``E[1 / (L_n - #earlier)]``."""
    beta, align, src_len = probes["beta"], probes["align"], probes["src_len"]
    S, N, T, L = beta.shape
    argmax = np.nanargmax(np.where(np.isnan(beta), -np.inf, beta), axis=-1)  # [S, N, T]
    mask = scored(probes) & (align >= 0)  # [N, T]
    earlier = np.zeros((N, T, L), bool)
    for t in range(1, T):
        earlier[:, t] = earlier[:, t - 1]
        prev = align[:, t - 1]
        ok = (prev >= 0) & (t - 1 < probes["tgt_len"])
        earlier[np.flatnonzero(ok), t, prev[ok]] = True
    hit = ~np.take_along_axis(earlier[None].repeat(S, 0), argmax[..., None], axis=-1)[..., 0]
    n_earlier = earlier.sum(-1)  # [N, T]
    left = src_len[:, None] - n_earlier
    chance = (left / src_len[:, None])[mask].mean()
    gold_chance = (1.0 / np.maximum(left, 1))[mask].mean()
    return float(hit[:, mask].mean()), float(chance), float(gold_chance)


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def report(rows: list[dict[str, object]], command: str) -> str:
    lines = [
        "# ktiw-under-uniform by encoder",
        "",
        f"Command: `{command}`",
        "",
        "| run | spec | encoder | hidden | seeds | steps | share | baseline | allowed (saddle) "
        "| verdict | tokens | p (binomial, vs baseline) | final token acc (per seed) "
        "| argmax not yet emitted (chance) |",
        "| --- " * 14 + "|",
    ]
    for r in rows:
        v = r["verdict"]
        num = v["numbers"]
        acc = ", ".join(fmt(a, 2) for a in r["final_token_acc_per_seed"])
        lines.append(
            f"| {r['run']} | `{r['spec']}` | {r['encoder']} | {r['hidden']} | {len(r['seeds'])} "
            f"| {r['steps']} | {fmt(num['share'])} | {fmt(num['baseline'])} | {v['expected']} "
            f"| {v['status']} | {r['matched_tokens']}/{r['scored_tokens']} "
            f"| {float(r['binomial_p_vs_baseline']):.2g} | {acc} "
            f"| {fmt(r['argmax_not_yet_emitted'])} ({fmt(r['argmax_not_yet_emitted_chance'])}) |"
        )
    lines += [
        "",
        "*argmax not yet emitted*: share of tokens whose `beta` argmax is a source word the target "
        "has not emitted before this token (chance: a uniformly random position). A decoder that "
        "only knows which words it already wrote, guessing uniformly among the rest, would match "
        "the gold position for "
        + ", ".join(f"{fmt(r['gold_share_if_uniform_among_not_yet_emitted'])} ({r['run']})" for r in rows)
        + " of tokens.",
    ]
    lines += ["", "Sentences of the check:", ""]
    lines += [f"* **{r['run']}** ({r['encoder']}): {r['verdict']['sentence']}" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rows = [measure(r) for r in args.runs]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "configs").mkdir(exist_ok=True)
    for r in args.runs:
        shutil.copy(r / "config.json", args.out / "configs" / f"{r.name}.json")
    command = "python docs/scripts/uniform_share.py " + " ".join(r.name for r in args.runs)
    import torch

    provenance = {
        "command": command,
        "runs": {r.name: f"configs/{r.name}.json" for r in args.runs},
        "git_commit": git_commit(),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    (args.out / "verdicts.json").write_text(json.dumps(jsonable(rows), indent=1) + "\n")
    (args.out / "provenance_measure.json").write_text(json.dumps(provenance, indent=1) + "\n")
    (args.out / "report.md").write_text(report(rows, command))
    sys.stdout.write(report(rows, command))


if __name__ == "__main__":
    main()
