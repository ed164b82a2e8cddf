"""The ``ktiw-under-uniform`` check on finished uniform-attention runs, without the normal runs.

    python docs/scripts/uniform_share.py RUN_DIR [RUN_DIR ...] --out docs/data/bow

``ktiw verify`` (copy experiment) computes this check from the uniform run alone: the share of
scored target tokens whose ``beta`` argmax is the gold source position, pooled over seeds, at
the run's last probe step (stopped seeds at their stop step), its shuffled baseline, and the
verdict for the distribution's regime.  This script calls the very same functions
(:func:`ktiw.comparator.copying.token_share`, :func:`ktiw.comparator.checks.check_ktiw_under_uniform`,
:func:`ktiw.theory.predict.predict` for the regime) on run directories trained by
``ktiw train SPEC --uniform ...`` with the config verify would use, so the numbers are the
check's numbers at a fraction of the cost (no normal runs, no proxy, no fidelity runs).

It adds, for reading only (no verdict depends on them): the number of scored tokens, the
number matched, an exact one-sided binomial p-value of that count against the shuffled
baseline's rate (scipy), the per-seed final token accuracy of the uniform model, and which
seeds stopped early.  Writes ``verdicts.json`` and ``report.md`` in ``--out``, with each run's
``config.json`` under ``configs/`` and the provenance (command, git commit, versions, load).
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
from ktiw.comparator.copying import token_share
from ktiw.comparator.measures import last_probes, scored, tile
from ktiw.comparator.verdict import fmt, jsonable
from ktiw.empirics.rundir import load_run
from ktiw.theory.families import from_spec
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
        "verdict": verdict.to_dict(),
    }


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
        "| verdict | tokens | p (binomial, vs baseline) | final token acc (per seed) |",
        "| --- " * 13 + "|",
    ]
    for r in rows:
        v = r["verdict"]
        num = v["numbers"]
        acc = ", ".join(fmt(a, 2) for a in r["final_token_acc_per_seed"])
        lines.append(
            f"| {r['run']} | `{r['spec']}` | {r['encoder']} | {r['hidden']} | {len(r['seeds'])} "
            f"| {r['steps']} | {fmt(num['share'])} | {fmt(num['baseline'])} | {v['expected']} "
            f"| {v['status']} | {r['matched_tokens']}/{r['scored_tokens']} "
            f"| {float(r['binomial_p_vs_baseline']):.2g} | {acc} |"
        )
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
