"""Whether two trainings of the same runs (e.g. ``--precision fp32`` and ``bf16``, same seeds)
tell the same science.

For every run present in both (same name, same seeds), from each run directory's ``curves.csv``:

* **success counts**: seeds whose token accuracy reached :data:`~ktiw.empirics.curves.SUCCESS_ACCURACY`
  within the budget (:func:`~ktiw.empirics.curves.succeeded`); the two counts must not differ
  by Fisher's exact test (two-sided, :func:`~.stats.fisher_two_sided`) at :data:`~.thresholds.P_VALUE`;
* **takeoff steps**: per seed, the first evaluation step where the gold attention mass
  ``attn_mass`` reaches 1/2 (the theory's takeoff; ``inf`` if never).  A seed *agrees* when both
  are ``inf`` or they differ by at most one evaluation interval (``eval_every``); at least
  :data:`TAKEOFF_AGREEMENT` of all seeds (pooled over runs) must agree.  Runs without
  alignment (no ``attn_mass``) and uniform-attention runs take no part.

With the two ``verdicts.json`` of ``ktiw verify`` (optional), every ``(check, subject)`` must
have the same status.  :func:`compare` returns every number; ``same`` says whether all three
criteria hold.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ktiw.empirics.curves import first_reach, succeeded
from ktiw.runs.rundir import load_run

from .stats import fisher_two_sided
from .thresholds import P_VALUE

TAKEOFF_LEVEL = 0.5
"""Gold attention mass that marks a takeoff (the theory's definition, as in ``ktiw predict``)."""

TAKEOFF_AGREEMENT = 0.9
"""Share of seeds whose takeoff steps must agree within one evaluation interval.

Reason: fixed in the issue that introduced bf16 (issue 20), before any comparison was run."""


@dataclass
class RunComparison:
    """One run name: success counts, Fisher's p, and the per-seed takeoff steps of both."""

    name: str
    seeds: list[int]
    eval_every: int
    success_a: int
    success_b: int
    fisher_p: float
    takeoff_a: list[float]
    takeoff_b: list[float]
    takeoff_agree: int
    """Seeds whose takeoffs agree (both never, or within ``eval_every``)."""
    takeoff_compared: int
    """Seeds compared (0 for a run without alignment)."""


@dataclass
class Comparison:
    """All runs, the verdict differences and the three criteria."""

    runs: list[RunComparison]
    verdict_differences: list[dict[str, str]] = field(default_factory=list)
    verdicts_compared: int = 0

    @property
    def takeoff_share(self) -> float:
        n = sum(r.takeoff_compared for r in self.runs)
        return sum(r.takeoff_agree for r in self.runs) / n if n else float("nan")

    @property
    def success_counts_same(self) -> bool:
        """No run's success counts differ by Fisher's test at :data:`P_VALUE`."""
        return all(not (r.fisher_p < P_VALUE) for r in self.runs)

    @property
    def takeoffs_same(self) -> bool:
        return self.takeoff_share >= TAKEOFF_AGREEMENT

    @property
    def verdicts_same(self) -> bool:
        return not self.verdict_differences

    @property
    def same(self) -> bool:
        return self.success_counts_same and self.takeoffs_same and self.verdicts_same

    def to_dict(self) -> dict[str, Any]:
        def clean(x: Any) -> Any:
            if isinstance(x, float) and not math.isfinite(x):
                return None if math.isnan(x) else "inf"
            if isinstance(x, list):
                return [clean(v) for v in x]
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            return x

        return clean(
            {
                "same": self.same,
                "success_counts_same": self.success_counts_same,
                "takeoffs_same": self.takeoffs_same,
                "verdicts_same": self.verdicts_same,
                "takeoff_share": self.takeoff_share,
                "takeoff_agreement_needed": TAKEOFF_AGREEMENT,
                "p_value_level": P_VALUE,
                "verdicts_compared": self.verdicts_compared,
                "verdict_differences": self.verdict_differences,
                "runs": [asdict(r) for r in self.runs],
            }
        )


def seed_outcomes(run_dir: Path) -> tuple[list[int], int, list[bool], list[float]]:
    """``(seeds, eval_every, succeeded, takeoff step)`` of one run directory."""
    run = load_run(run_dir)
    ok, takeoff = [], []
    diverged = {int(s["seed"]): bool(s.get("diverged")) for s in run.summary.get("seeds", [])}
    # a uniform-attention model has no attention to learn: no takeoff to compare
    mass = run.curves.get("attn_mass")
    has_mass = not run.config.get("uniform") and mass is not None and bool(np.isfinite(mass).any())
    for seed in run.seeds:
        steps, acc = run.curve(seed, "token_acc")
        ok.append(succeeded(steps, acc, diverged.get(seed, False)))
        if has_mass:
            steps, mass = run.curve(seed, "attn_mass")
            takeoff.append(first_reach(steps, mass, TAKEOFF_LEVEL))
        else:
            takeoff.append(float("nan"))
    return run.seeds, int(run.config["eval_every"]), ok, takeoff


def compare_run(name: str, dir_a: Path, dir_b: Path) -> RunComparison:
    """One run trained twice (same seeds and evaluation schedule required)."""
    seeds_a, every_a, ok_a, t_a = seed_outcomes(dir_a)
    seeds_b, every_b, ok_b, t_b = seed_outcomes(dir_b)
    if seeds_a != seeds_b or every_a != every_b:
        raise ValueError(f"{name}: the two runs differ in seeds or eval_every; they are not the same runs")
    agree = compared = 0
    for a, b in zip(t_a, t_b, strict=True):
        if math.isnan(a) or math.isnan(b):
            continue
        compared += 1
        agree += (math.isinf(a) and math.isinf(b)) or abs(a - b) <= every_a
    n = len(seeds_a)
    return RunComparison(
        name=name,
        seeds=seeds_a,
        eval_every=every_a,
        success_a=sum(ok_a),
        success_b=sum(ok_b),
        fisher_p=fisher_two_sided(sum(ok_a), n, sum(ok_b), n),
        takeoff_a=t_a,
        takeoff_b=t_b,
        takeoff_agree=agree,
        takeoff_compared=compared,
    )


def verdict_differences(a: Path, b: Path) -> tuple[int, list[dict[str, str]]]:
    """``(number compared, differences)`` between two ``verdicts.json`` files: every
    ``(check, subject)`` of either, with its status in each (``missing`` if absent)."""

    def statuses(path: Path) -> dict[tuple[str, str], str]:
        data = json.loads(Path(path).read_text())
        return {(v["name"], v["subject"]): v["status"] for v in data["verdicts"]}

    sa, sb = statuses(a), statuses(b)
    keys = sorted(set(sa) | set(sb))
    diffs = [
        {"check": k[0], "subject": k[1], "a": sa.get(k, "missing"), "b": sb.get(k, "missing")}
        for k in keys
        if sa.get(k) != sb.get(k)
    ]
    return len(keys), diffs


def compare(
    runs_a: Mapping[str, Path],
    runs_b: Mapping[str, Path],
    verdicts_a: Path | None = None,
    verdicts_b: Path | None = None,
) -> Comparison:
    """Compare the runs present under the same name in both mappings (name -> run directory),
    and the verdicts when both files are given."""
    names = sorted(set(runs_a) & set(runs_b))
    result = Comparison([compare_run(n, Path(runs_a[n]), Path(runs_b[n])) for n in names])
    if verdicts_a is not None and verdicts_b is not None:
        result.verdicts_compared, result.verdict_differences = verdict_differences(verdicts_a, verdicts_b)
    return result


def verify_runs(out_dir: Path) -> dict[str, Path]:
    """The run directories of a ``ktiw verify`` output folder, by name (``OUT/runs/NAME``)."""
    runs = Path(out_dir) / "runs"
    return (
        {p.name: p for p in sorted(runs.iterdir()) if (p / "config.json").exists()} if runs.is_dir() else {}
    )
