"""``ktiw verify --experiment multihead``: does one good head rescue otherwise bad heads?

Procedure (BRIEF section 3, issue 6), with the ``multihead`` model
(:mod:`ktiw.empirics.models.multihead`) on the permutation task:

1. **Classify single heads.**  Bank heads ``j = 0 .. candidates-1`` are each trained alone
   (``heads = 1``, all other parameters from the fixed ``base_seed``) on ``data_seeds``
   data seeds (trainer seeds ``data_seeds*j .. data_seeds*j + data_seeds-1``; batched runs of
   at most ``max_seeds_per_run`` seeds).  A head is **good** when every one of its runs reaches token accuracy
   ``>= SUCCESS_ACCURACY`` (0.95) within the budget, **bad** when every run stays below
   :data:`~ktiw.comparator.thresholds.HEAD_BAD_ACCURACY` (0.6) at every evaluation, else neither.
2. **Combine.**  ``combinations`` models of ``H`` heads per group: ``all-bad`` (``H`` bad
   heads), ``one-good`` (``H-1`` bad + 1 good), ``random`` (``H`` fresh, unclassified bank
   heads).  Heads are drawn from the pools without replacement within a model (with
   replacement only when a pool is smaller than ``H``; recorded).  Combination ``i`` of every
   group uses the same data seed ``1000 + i`` (paired groups).  Success = reaching 0.95.
3. **Checks** (:func:`rescue_verdicts`):

   * ``head-pools`` (reported): how many good / bad / neither heads the candidates gave.
   * ``rescue``: the success rate of ``one-good`` exceeds that of ``all-bad``.  Passes when
     the Newcombe 95% interval of the difference (built from the two Wilson intervals)
     lies above 0; **refuted** when the measured difference is ``<= 0``; ``n/a`` when the
     difference is positive but its interval still contains 0 (too few combinations), or
     when a pool is empty.
   * ``rescue-accuracy``: the same claim measured more finely: final token accuracy of
     ``one-good`` against ``all-bad``, paired by data seed (Wilcoxon signed-rank test; see
     :func:`_paired_accuracy_verdict`).
   * ``random-heads`` (reported): the success rate of random combinations.
   * ``toy-rescue``: the theory's multi-head toy flow (:func:`ktiw.theory.multihead.rescue_flow`,
     permutation of 4 words): a head started at exactly zero takes off next to one head with
     broken symmetry, while a lone head at zero never moves.

Entry point: :func:`run_multihead`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from ktiw.theory.errors import KtiwError

from . import thresholds as th
from .checks import Verdict, _fmt
from .experiment import ExperimentResult, provenance_meta, run_config, write_outputs
from .presets import replace_fields
from .stats import Interval, wilson_interval

GROUPS = ("all-bad", "one-good", "random")
COMBO_DATA_SEED = 1000
"""Combination ``i`` of every group trains on data seed ``COMBO_DATA_SEED + i``."""


@dataclass(frozen=True)
class MultiHeadPreset:
    """Sizes of the multi-head experiment."""

    name: str
    spec: str
    hidden: int
    heads: int
    steps: int
    batch_size: int
    lr: float
    eval_every: int
    eval_samples: int
    candidates: int
    """Single-head initialisations (bank heads ``0 .. candidates-1``) to classify."""
    pool_size: int
    """Keep at most this many good and this many bad heads (the paper: 20 each)."""
    combinations: int
    """Models per group (the paper: 50)."""
    data_seeds: int = 3
    max_seeds_per_run: int = 64
    """The single-head phase trains ``candidates * data_seeds`` seeds in runs of at most this many."""
    base_seed: int = 0
    combo_seed: int = 0
    """Seed of the random choice of heads for the combinations."""

    def with_overrides(self, **fields: object) -> MultiHeadPreset:
        for k, v in fields.items():
            if isinstance(v, int) and k not in ("base_seed", "combo_seed") and v < 1:
                raise KtiwError(f"multihead preset field {k} must be >= 1, got {v}")
        if "heads" in fields and int(fields["heads"]) < 2:  # type: ignore[call-overload]
            raise KtiwError("the multihead experiment needs heads >= 2")
        return replace_fields(self, fields, "multihead preset")


PRESETS: dict[str, MultiHeadPreset] = {
    "quick": MultiHeadPreset(
        name="quick",
        spec="permutation:L=10",
        hidden=64,
        heads=2,
        steps=100,
        batch_size=64,
        lr=1e-3,
        eval_every=10,
        eval_samples=50,
        candidates=12,
        pool_size=6,
        combinations=20,
    ),
    "paper": MultiHeadPreset(
        name="paper",
        spec="permutation:L=40",
        hidden=256,
        heads=8,
        steps=200,
        batch_size=128,
        lr=1e-3,
        eval_every=10,
        eval_samples=50,
        candidates=150,
        pool_size=20,
        combinations=50,
        max_seeds_per_run=60,
    ),
}


def get_preset(name: str) -> MultiHeadPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise KtiwError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}") from None


# --------------------------------------------------------------------------- pure logic


def classify_head(success: list[bool], max_acc: list[float]) -> str:
    """``good`` (every run succeeded), ``bad`` (every run's best accuracy < 0.6) or ``neither``."""
    if not success:
        raise ValueError("no runs for this head")
    if all(success):
        return "good"
    if all(a < th.HEAD_BAD_ACCURACY for a in max_acc):
        return "bad"
    return "neither"


def choose_combinations(
    good: list[int], bad: list[int], heads: int, n: int, fresh_start: int, rng: np.random.Generator
) -> dict[str, list[list[int]]]:
    """Bank head ids of every model in each group (see the module docstring)."""

    def draw(pool: list[int], k: int) -> list[int]:
        return [int(x) for x in rng.choice(pool, size=k, replace=len(pool) < k)]

    groups: dict[str, list[list[int]]] = {g: [] for g in GROUPS}
    for i in range(n):
        if bad:
            groups["all-bad"].append(draw(bad, heads))
        if bad and good:
            row = draw(bad, heads - 1) + draw(good, 1)
            groups["one-good"].append([row[k] for k in rng.permutation(heads)])
        groups["random"].append([fresh_start + i * heads + k for k in range(heads)])
    return groups


def newcombe_difference(a: Interval, b: Interval) -> tuple[float, float, float]:
    """Difference ``rate(a) - rate(b)`` with Newcombe's hybrid score 95% interval (method 10):
    ``low = d - sqrt((p_a - l_a)^2 + (u_b - p_b)^2)``, ``high = d + sqrt((u_a - p_a)^2 + (p_b - l_b)^2)``."""
    d = a.rate - b.rate
    low = d - math.sqrt((a.rate - a.low) ** 2 + (b.high - b.rate) ** 2)
    high = d + math.sqrt((a.high - a.rate) ** 2 + (b.rate - b.low) ** 2)
    return d, low, high


def rescue_verdicts(
    pools: dict[str, int],
    successes: dict[str, tuple[int, int]],
    toy: dict[str, float | None] | None = None,
    subject: str = "permutation",
    final_acc: dict[str, list[float]] | None = None,
) -> list[Verdict]:
    """The verdicts from the head pool sizes, each group's ``(k successes, n models)``, the
    toy flow's takeoffs (``{"lone_zero": t|None, "zero_next_to_broken": t|None, ...}``) and,
    optionally, each group's final token accuracies (combination ``i`` of every group shares
    data seed ``i``, so ``one-good`` and ``all-bad`` are compared pair by pair)."""
    out = []
    n_good, n_bad = pools.get("good", 0), pools.get("bad", 0)
    total = sum(pools.values())
    out.append(
        Verdict(
            "head-pools",
            subject,
            f"good {n_good}, bad {n_bad}, neither {pools.get('neither', 0)} of {total}",
            "none (reported)",
            None,
            "single heads classified on all their data seeds "
            "(good: >= 0.95 on every seed; bad: < 0.6 on every seed)",
            dict(pools),
        )
    )
    iv = {g: wilson_interval(*successes[g]) for g in successes if successes[g][1] > 0}
    numbers: dict[str, Any] = {g: i.to_dict() for g, i in iv.items()}
    if "one-good" not in iv or "all-bad" not in iv:
        missing = "good" if n_good == 0 else "bad" if n_bad == 0 else "combination"
        out.append(
            Verdict(
                "rescue",
                subject,
                "no comparison",
                "rate(one-good) > rate(all-bad)",
                None,
                f"no {missing} heads were found among the {total} candidates, "
                "so the groups cannot be formed; "
                "raise `candidates`",
                numbers,
            )
        )
    else:
        one, allb = iv["one-good"], iv["all-bad"]
        d, low, high = newcombe_difference(one, allb)
        numbers.update(difference=d, difference_low=low, difference_high=high)
        measured = f"{one.k}/{one.n} vs {allb.k}/{allb.n}: diff {d:+.2f} [{low:+.2f}, {high:+.2f}]"
        if d <= 0:
            passed: bool | None = False
            detail = (
                f"REFUTED: the paper says one good head lets bad heads learn, but combinations with one good "
                f"head succeeded in {_fmt(one.rate)} of runs vs {_fmt(allb.rate)} without "
                f"(difference {d:+.2f})"
            )
        elif low > 0:
            passed = True
            detail = (
                f"one good head raises the success rate by {d:+.2f} (95% interval [{low:+.2f}, {high:+.2f}])"
            )
        else:
            passed = None
            detail = (
                f"inconclusive: the success rate rises by {d:+.2f} but its 95% interval "
                f"[{low:+.2f}, {high:+.2f}] "
                "contains 0; more combinations are needed"
            )
        out.append(
            Verdict("rescue", subject, measured, "diff > 0 (95% interval above 0)", passed, detail, numbers)
        )
    if "random" in iv:
        r = iv["random"]
        out.append(
            Verdict(
                "random-heads",
                subject,
                f"{r.k}/{r.n} = {_fmt(r.rate)} [{r.low:.2f}, {r.high:.2f}]",
                "none (reported)",
                None,
                "success rate of combinations of fresh random heads",
                r.to_dict(),
            )
        )
    if final_acc and final_acc.get("one-good") and final_acc.get("all-bad"):
        out.append(_paired_accuracy_verdict(final_acc["one-good"], final_acc["all-bad"], subject))
    if toy is not None:
        lone, rescued = toy.get("lone_zero"), toy.get("zero_next_to_broken")
        passed_t = lone is None and rescued is not None
        out.append(
            Verdict(
                "toy-rescue",
                "toy permutation k=4",
                f"zero-init head takes off at t = {_fmt(rescued) if rescued is not None else 'never'}; "
                f"alone: {_fmt(lone) if lone is not None else 'never'}",
                "alone: never; next to a broken head: finite",
                passed_t,
                "the shared KTIW matrix learned through the broken head pushes the zero-init head's attention"
                if passed_t
                else "REFUTED in the toy model: the zero-init head does not take off next to the broken head "
                "(or a lone zero head moves)",
                dict(toy),
            )
        )
    return out


def _paired_accuracy_verdict(one: list[float], bad: list[float], subject: str) -> Verdict:
    """``rescue-accuracy``: final token accuracy of ``one-good`` vs ``all-bad``, paired by data
    seed, Wilcoxon signed-rank test (two-sided).  Passes when the mean paired difference is
    positive and ``p < th.P_VALUE``; refuted when it is ``<= 0``; ``n/a`` otherwise."""
    from scipy.stats import wilcoxon

    n = min(len(one), len(bad))
    diff = np.asarray(one[:n], dtype=np.float64) - np.asarray(bad[:n], dtype=np.float64)
    mean = float(diff.mean())
    p = float(wilcoxon(diff).pvalue) if n >= 2 and np.any(diff != 0) else float("nan")
    numbers = {
        "mean_one_good": float(np.mean(one[:n])),
        "mean_all_bad": float(np.mean(bad[:n])),
        "mean_difference": mean,
        "p_value": p,
        "pairs": n,
    }
    measured = f"{np.mean(one[:n]):.2f} vs {np.mean(bad[:n]):.2f} (paired diff {mean:+.2f}, p = {p:.2g})"
    expected = f"diff > 0, p < {th.P_VALUE}"
    if mean <= 0:
        passed: bool | None = False
        detail = (
            f"REFUTED: with one good head the final token accuracy is not higher than with only bad heads "
            f"(mean paired difference {mean:+.3f} over {n} data seeds)"
        )
    elif p < th.P_VALUE:
        passed = True
        detail = (
            f"one good head raises the final token accuracy by {mean:+.3f} on average "
            f"(p = {p:.2g}, {n} pairs)"
        )
    else:
        passed = None
        detail = f"inconclusive: the final accuracy rises by {mean:+.3f} but p = {p:.2g} over {n} pairs"
    return Verdict("rescue-accuracy", subject, measured, expected, passed, detail, numbers)


# --------------------------------------------------------------------------- pipeline


def _toy_numbers() -> dict[str, float | None]:
    from ktiw.theory.multihead import rescue_flow

    both = rescue_flow(k=4, head_eps=(1e-3, 0.0), t_max=1500.0, n_points=301)
    lone = rescue_flow(k=4, head_eps=(0.0,), t_max=1500.0, n_points=31)
    return {
        "broken_head": both.takeoff[0],
        "zero_next_to_broken": both.takeoff[1],
        "lone_zero": lone.takeoff[0],
    }


def _curves(run: Any, column: str = "token_acc") -> tuple[np.ndarray, np.ndarray]:
    """``(steps [E], values [S, E])`` of every seed of a loaded run."""
    per = [run.curve(s, column) for s in run.seeds]
    return per[0][0], np.stack([v for _, v in per])


def _figure(
    curves: dict[str, tuple[np.ndarray, np.ndarray]], successes: dict[str, tuple[int, int]], path: Path
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    colours = {"all-bad": "tab:red", "one-good": "tab:green", "random": "tab:blue"}
    for g, (steps, vals) in curves.items():
        for row in vals:
            ax1.plot(steps, row, color=colours[g], alpha=0.15, lw=0.8)
        ax1.plot(steps, vals.mean(axis=0), color=colours[g], lw=2, label=f"{g} (mean)")
    ax1.axhline(th.SUCCESS_ACCURACY, color="k", ls=":", lw=0.8)
    ax1.set_xlabel("step")
    ax1.set_ylabel("token accuracy")
    ax1.legend()
    names = [g for g in GROUPS if g in successes and successes[g][1] > 0]
    for x, g in enumerate(names):
        iv = wilson_interval(*successes[g])
        ax2.bar(x, iv.rate, color=colours[g])
        ax2.errorbar(x, iv.rate, yerr=[[iv.rate - iv.low], [iv.high - iv.rate]], color="k", capsize=4)
    ax2.set_xticks(range(len(names)), names)
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("success rate (Wilson 95%)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_multihead(
    preset: str = "quick",
    *,
    device: str = "auto",
    out_dir: Path = Path("ktiw-verify-multihead"),
    reuse: bool = False,
    progress: bool = True,
    console: Console | None = None,
    overrides: dict[str, Any] | None = None,
) -> ExperimentResult:
    """Run the multi-head experiment (module docstring), write ``report.md``/``verdicts.json``/
    ``figures/multihead.png`` into ``out_dir`` and return the result (``exit_code`` 0 or 1)."""
    import ktiw.empirics.models.multihead as mh
    from ktiw.empirics.rundir import load_run
    from ktiw.theory.families import from_spec

    from .pipeline import obtain_run

    start = time.perf_counter()
    console = console or Console(stderr=True)
    pre = get_preset(preset).with_overrides(**(overrides or {}))
    from_spec(pre.spec)  # SpecError before any work
    out_dir = Path(out_dir)
    runs_dir = out_dir / "runs"
    common = dict(
        preset=pre.name,
        steps=pre.steps,
        batch_size=pre.batch_size,
        lr=pre.lr,
        eval_every=pre.eval_every,
        eval_samples=pre.eval_samples,
        device=device,
    )

    # 1. single heads, in runs of at most max_seeds_per_run seeds
    per_run = max(1, pre.max_seeds_per_run // pre.data_seeds)
    chunks = [list(range(c, min(c + per_run, pre.candidates))) for c in range(0, pre.candidates, per_run)]
    if progress:
        console.print(
            f"multihead: classifying {pre.candidates} single heads x {pre.data_seeds} data seeds "
            f"in {len(chunks)} run(s) ..."
        )
    labels: dict[int, str] = {}
    runs: dict[str, str] = {}
    for c, heads in enumerate(chunks):
        seeds = [pre.data_seeds * j + d for j in heads for d in range(pre.data_seeds)]
        single_cfg = mh.MultiHeadConfig(
            hidden=pre.hidden,
            heads=1,
            head_ids=[[s // pre.data_seeds] for s in seeds],
            base_seed=pre.base_seed,
        )
        config = run_config(pre.spec, "multihead", single_cfg, seeds=seeds, **common)  # type: ignore[arg-type]
        name = "single-heads" if len(chunks) == 1 else f"single-heads-{c}"
        path, _ = obtain_run(config, runs_dir, name, reuse, progress)
        runs[name] = str(path)
        single = load_run(path)
        status = {s["seed"]: bool(s["reached_95"]) and not s["diverged"] for s in single.summary["seeds"]}
        for j in heads:
            own = [pre.data_seeds * j + d for d in range(pre.data_seeds)]
            best = [float(np.nanmax(single.curve(s, "token_acc")[1])) for s in own]
            labels[j] = classify_head([status[s] for s in own], best)
    good = [j for j, c in labels.items() if c == "good"][: pre.pool_size]
    bad = [j for j, c in labels.items() if c == "bad"][: pre.pool_size]
    pools = {c: sum(v == c for v in labels.values()) for c in ("good", "bad", "neither")}

    # 2. combinations
    rng = np.random.default_rng(pre.combo_seed)
    groups = choose_combinations(good, bad, pre.heads, pre.combinations, pre.candidates, rng)
    successes: dict[str, tuple[int, int]] = {}
    final_acc: dict[str, list[float]] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for g, rows in groups.items():
        if not rows:
            successes[g] = (0, 0)
            continue
        cfg = mh.MultiHeadConfig(hidden=pre.hidden, heads=pre.heads, head_ids=rows, base_seed=pre.base_seed)
        seeds = [COMBO_DATA_SEED + i for i in range(len(rows))]
        if progress:
            console.print(f"multihead: training {len(rows)} '{g}' combinations of {pre.heads} heads ...")
        p, _ = obtain_run(
            run_config(pre.spec, "multihead", cfg, seeds=seeds, **common), runs_dir, g, reuse, progress
        )  # type: ignore[arg-type]
        run = load_run(p)
        runs[g] = str(p)
        ok = [bool(s["reached_95"]) and not s["diverged"] for s in run.summary["seeds"]]
        successes[g] = (sum(ok), len(ok))
        curves[g] = _curves(run)
        final_acc[g] = [float(v) for v in curves[g][1][:, -1]]

    toy = _toy_numbers()
    verdicts = rescue_verdicts(pools, successes, toy, subject=from_spec(pre.spec).spec, final_acc=final_acc)
    numbers = {
        "labels": {str(j): c for j, c in labels.items()},
        "good_pool": good,
        "bad_pool": bad,
        "combinations": groups,
        "successes": {g: {"k": k, "n": n} for g, (k, n) in successes.items()},
        "final_token_acc": final_acc,
        "curves": {g: {"steps": s, "token_acc_mean": v.mean(axis=0)} for g, (s, v) in curves.items()},
        "toy": toy,
        "runs": runs,
    }
    meta = provenance_meta("multihead", pre, time.perf_counter() - start, config["device"])
    result = ExperimentResult("multihead", verdicts, numbers, meta, out_dir)
    if curves:
        result.figures["multihead"] = _figure(curves, successes, out_dir / "figures" / "multihead.png")
    table = ["## Groups", "", "| group | successes | rate | Wilson 95% |", "| --- | --- | --- | --- |"]
    for g, (k, n) in successes.items():
        iv = wilson_interval(k, n)
        table.append(f"| {g} | {k}/{n} | {_fmt(iv.rate)} | [{iv.low:.2f}, {iv.high:.2f}] |")
    table += ["", f"Runs: {', '.join(f'{k}: `{v}`' for k, v in runs.items())}"]
    write_outputs(result, ["\n".join(table)])
    return result
