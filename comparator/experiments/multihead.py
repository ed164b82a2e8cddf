"""``ktiw verify --experiment multihead``: does one good head rescue otherwise bad heads?

Procedure, with the ``multihead`` model (:mod:`ktiw.empirics.models.multihead`) on the
permutation task:

1. **Classify single heads.**  Bank heads ``j = 0 .. candidates-1`` are each trained alone
   (``heads = 1``, all other parameters from the fixed ``base_seed``) on ``data_seeds``
   data seeds (trainer seeds ``data_seeds*j .. data_seeds*j + data_seeds-1``; batched runs of
   at most ``max_seeds_per_run`` seeds).  A head is **good** when every one of its runs
   succeeds (:data:`~ktiw.empirics.curves.SUCCESS_ACCURACY` within the budget), **bad** when
   every run stays below :data:`~ktiw.comparator.thresholds.HEAD_BAD_ACCURACY` at every
   evaluation, else neither.
2. **Combine.**  ``combinations`` models of ``H`` heads per group: ``all-bad`` (``H`` bad
   heads), ``one-good`` (``H-1`` bad + 1 good), ``random`` (``H`` fresh, unclassified bank
   heads).  Heads are drawn from the pools without replacement within a model (with
   replacement only when a pool is smaller than ``H``).  Combination ``i`` of every group
   uses the same data seed ``1000 + i`` (paired groups).
3. **Checks** (:func:`rescue_verdicts`):

   * ``head-pools`` (reported): how many good / bad / neither heads the candidates gave.
   * ``rescue``: ``one-good`` succeeds more often than ``all-bad``: passes when Fisher's exact
     test rejects equal rates at :data:`~ktiw.comparator.thresholds.P_VALUE`; refuted only when
     the one-sided Fisher test shows ``one-good`` succeeding *less* often at that level (a
     difference ``<= 0`` alone, e.g. 0/2 against 0/2, is no evidence); inconclusive otherwise,
     or when a pool is empty.
   * ``rescue-accuracy``: final token accuracy of ``one-good`` against ``all-bad``, paired by
     data seed (Wilcoxon signed-rank test): passes when higher at ``P_VALUE`` (two-sided),
     refuted only when significantly lower (one-sided).
   * ``random-heads`` (reported): the success rate of random combinations.
   * ``toy-rescue``: the theory's multi-head toy flow (:func:`ktiw.theory.multihead.rescue_flow`,
     permutation of 4 words): a head started at exactly zero takes off next to one head with
     broken symmetry, while a lone head at zero never moves.  Deterministic (the integrated
     flow, no sampling): its condition alone decides, both ways.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ktiw.config.presets import MultiheadPreset
from ktiw.core.errors import KtiwError
from ktiw.empirics.train_config import TrainConfig

from .. import thresholds as th
from ..framework import Figure, PlannedRun, Request
from ..stats import fisher_less, signed_rank, wilson_interval
from ..verdict import Status, Verdict, fmt

if TYPE_CHECKING:
    from ktiw.runs.rundir import Run

GROUPS = ("all-bad", "one-good", "random")
COMBO_DATA_SEED = 1000
"""Combination ``i`` of every group trains on data seed ``COMBO_DATA_SEED + i``."""


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


@dataclass(frozen=True)
class ToyRescue:
    """Takeoff times of the theory's two-head toy flow (``None``: never within the horizon)."""

    broken_head: float | None
    zero_next_to_broken: float | None
    lone_zero: float | None


def rescue_verdicts(
    pools: dict[str, int],
    successes: dict[str, tuple[int, int]],
    toy: ToyRescue | None = None,
    subject: str = "permutation",
    final_acc: dict[str, list[float]] | None = None,
) -> list[Verdict]:
    """The verdicts from the head pool sizes, each group's ``(k successes, n models)``, the
    toy flow's takeoffs and, optionally, each group's final token accuracies (combination
    ``i`` of every group shares data seed ``i``, so they are compared pair by pair)."""
    n_good, n_bad, total = pools.get("good", 0), pools.get("bad", 0), sum(pools.values())
    out = [
        Verdict(
            "head-pools",
            subject,
            Status.REPORTED,
            f"good {n_good}, bad {n_bad}, neither {pools.get('neither', 0)} of {total}",
            "none (reported)",
            f"Of {total} single heads trained alone, {n_good} learned on every data seed (good) and "
            f"{n_bad} on "
            f"none (bad: below {th.HEAD_BAD_ACCURACY} accuracy throughout).",
            dict(pools),
        )
    ]
    out.append(_rescue(successes, n_good, n_bad, total, subject))
    if successes.get("random", (0, 0))[1] > 0:
        k, n = successes["random"]
        out.append(
            Verdict(
                "random-heads",
                subject,
                Status.REPORTED,
                f"{k}/{n}",
                "none (reported)",
                f"Models made of fresh random heads learned in {k} of {n} cases.",
                wilson_interval(k, n).to_dict(),
            )
        )
    if final_acc and final_acc.get("one-good") and final_acc.get("all-bad"):
        out.append(paired_accuracy_verdict(final_acc["one-good"], final_acc["all-bad"], subject))
    if toy is not None:
        out.append(_toy_verdict(toy))
    return out


def _rescue(
    successes: dict[str, tuple[int, int]], n_good: int, n_bad: int, total: int, subject: str
) -> Verdict:
    expected = f"rate(one-good) > rate(all-bad), Fisher p < {th.P_VALUE}"
    one, bad = successes.get("one-good", (0, 0)), successes.get("all-bad", (0, 0))
    if one[1] == 0 or bad[1] == 0:
        missing = "good" if n_good == 0 else "bad" if n_bad == 0 else "combination"
        words = (
            f"No {missing} heads were found among the {total} candidates, so the groups cannot be "
            "formed (raise `candidates`)."
        )
        return Verdict("rescue", subject, Status.INCONCLUSIVE, "no comparison", expected, words)
    p = fisher_less(bad[0], bad[1], one[0], one[1])
    d = one[0] / one[1] - bad[0] / bad[1]
    numbers = {"one-good": one, "all-bad": bad, "difference": d, "fisher_p": p}
    measured = f"{one[0]}/{one[1]} vs {bad[0]}/{bad[1]} (p = {fmt(p, 2)})"
    what = (
        f"Models with one good head among bad ones learned in {one[0]} of {one[1]} cases, "
        f"models of bad heads only in {bad[0]} of {bad[1]}"
    )
    if d <= 0:
        # the claim is "more often"; it is refuted only when the data show "less often"
        p_against = fisher_less(one[0], one[1], bad[0], bad[1])
        numbers["fisher_p_against"] = p_against
        evidence = (
            f"difference {d:+.2f}, one-sided Fisher p = {fmt(p_against, 2)} for 'less often' over "
            f"{one[1]} and {bad[1]} models"
        )
        if p_against < th.P_VALUE:
            return Verdict(
                "rescue",
                subject,
                Status.REFUTED,
                measured,
                expected,
                f"{what}: significantly less often ({evidence}); the paper says one good head rescues "
                "the others.",
                numbers,
            )
        return Verdict(
            "rescue",
            subject,
            Status.INCONCLUSIVE,
            measured,
            expected,
            f"{what}: not more often, but not significantly less often either ({evidence}, level "
            f"{th.P_VALUE}), so these models neither show nor refute a rescue.",
            numbers,
        )
    if p < th.P_VALUE:
        return Verdict(
            "rescue",
            subject,
            Status.PASS,
            measured,
            expected,
            what + ", as the paper says (Fisher's exact test).",
            numbers,
        )
    return Verdict(
        "rescue",
        subject,
        Status.INCONCLUSIVE,
        measured,
        expected,
        what + f": more, but not significantly at level {th.P_VALUE}; more combinations are needed.",
        numbers,
    )


def paired_accuracy_verdict(one: list[float], bad: list[float], subject: str) -> Verdict:
    """``rescue-accuracy``: final token accuracy of ``one-good`` vs ``all-bad``, paired by data
    seed, Wilcoxon signed-rank test (:func:`~ktiw.comparator.stats.signed_rank`).  Passes when
    the mean paired difference is positive, the two-sided ``p < P_VALUE`` and the one-sided test
    of "higher with the good head" agrees (``p < P_VALUE``; a positive mean over ranks that lean
    the other way is no evidence); refuted when it is
    ``<= 0`` and the one-sided test of "lower with the good head" gives ``p < P_VALUE`` (5 pairs
    at the least); inconclusive otherwise."""
    n = min(len(one), len(bad))
    diff = np.asarray(one[:n], dtype=np.float64) - np.asarray(bad[:n], dtype=np.float64)
    mean = float(diff.mean())
    p = signed_rank(diff, "two-sided")
    a, b = float(np.mean(one[:n])), float(np.mean(bad[:n]))
    numbers = {"mean_one_good": a, "mean_all_bad": b, "mean_difference": mean, "p_value": p, "pairs": n}
    measured = f"{a:.2f} vs {b:.2f} (paired diff {mean:+.2f}, p = {fmt(p, 2)})"
    expected = f"diff > 0, p < {th.P_VALUE}"
    what = (
        f"On the same {n} data seeds, final token accuracy with one good head averaged {a:.2f}, "
        f"with bad heads only {b:.2f}"
    )
    if mean <= 0:
        p_less = signed_rank(diff, "less")
        numbers["p_value_against"] = p_less
        evidence = f"paired difference {mean:+.2f}, one-sided Wilcoxon p = {fmt(p_less, 2)} over {n} pairs"
        if p_less < th.P_VALUE:
            status, tail = (
                Status.REFUTED,
                f"; the paper says the good head raises it, and it is significantly lower ({evidence}).",
            )
        else:
            status, tail = (
                Status.INCONCLUSIVE,
                f": not higher, but not significantly lower either ({evidence}, level {th.P_VALUE}).",
            )
    elif p < th.P_VALUE and signed_rank(diff, "greater") < th.P_VALUE:
        # two-sided p below the level, and the ranks (not only the mean) in the paper's direction
        status, tail = Status.PASS, " (Wilcoxon signed-rank test), as the paper says."
    else:
        status, tail = Status.INCONCLUSIVE, f": higher, but not significantly (p = {fmt(p, 2)})."
    return Verdict("rescue-accuracy", subject, status, measured, expected, what + tail, numbers)


def _toy_verdict(toy: ToyRescue) -> Verdict:
    ok = toy.lone_zero is None and toy.zero_next_to_broken is not None
    rescued = fmt(toy.zero_next_to_broken) if toy.zero_next_to_broken is not None else "never"
    lone = fmt(toy.lone_zero) if toy.lone_zero is not None else "never"
    words = (
        f"In the theory's toy model a head started at exactly zero takes off at t = {rescued} next to a head "
        f"with broken symmetry, and at {lone} alone"
        + (
            ", as the rescue argument says."
            if ok
            else "; the rescue argument says: finite next to it, never alone."
        )
    )
    return Verdict(
        "toy-rescue",
        "toy permutation k=4",
        Status.PASS if ok else Status.REFUTED,
        f"next to broken: {rescued}; alone: {lone}",
        "alone: never; next to a broken head: finite",
        words,
        {
            "broken_head": toy.broken_head,
            "zero_next_to_broken": toy.zero_next_to_broken,
            "lone_zero": toy.lone_zero,
        },
    )


# --------------------------------------------------------------------------- the experiment


@dataclass(frozen=True)
class MultiheadSetup:
    preset: MultiheadPreset
    spec: str
    device: str
    threads: int | None


@dataclass
class GroupCurves:
    steps: np.ndarray
    token_acc: np.ndarray
    """``[models, evaluations]``."""


@dataclass
class MultiheadMeasurement:
    labels: dict[int, str]
    good_pool: list[int]
    bad_pool: list[int]
    pools: dict[str, int]
    combinations: dict[str, list[list[int]]]
    successes: dict[str, tuple[int, int]]
    final_acc: dict[str, list[float]]
    curves: dict[str, GroupCurves]
    toy: ToyRescue


def _chunks(pre: MultiheadPreset) -> list[list[int]]:
    per_run = max(1, pre.max_seeds_per_run // pre.data_seeds)
    return [list(range(c, min(c + per_run, pre.candidates))) for c in range(0, pre.candidates, per_run)]


def _single_name(pre: MultiheadPreset, c: int) -> str:
    return "single-heads" if len(_chunks(pre)) == 1 else f"single-heads-{c}"


def _succeeded(run: Run) -> list[bool]:
    from ..measures import seed_curves

    return [s.succeeded for s in seed_curves(run)]


def head_labels(pre: MultiheadPreset, done: Mapping[str, Run]) -> dict[int, str]:
    """Each candidate head's class from its single-head runs."""
    labels: dict[int, str] = {}
    for c, heads in enumerate(_chunks(pre)):
        run = done[_single_name(pre, c)]
        status = dict(zip(run.seeds, _succeeded(run), strict=True))
        for j in heads:
            own = [pre.data_seeds * j + d for d in range(pre.data_seeds)]
            best = [float(np.nanmax(run.curve(s, "token_acc")[1])) for s in own]
            labels[j] = classify_head([status[s] for s in own], best)
    return labels


def _groups(
    pre: MultiheadPreset, labels: dict[int, str]
) -> tuple[list[int], list[int], dict[str, list[list[int]]]]:
    good = [j for j, c in labels.items() if c == "good"][: pre.pool_size]
    bad = [j for j, c in labels.items() if c == "bad"][: pre.pool_size]
    heads = int(pre.training.model_config["heads"])
    rng = np.random.default_rng(pre.combo_seed)
    return good, bad, choose_combinations(good, bad, heads, pre.combinations, pre.candidates, rng)


class MultiheadExperiment:
    name = "multihead"
    seeds_field = "combinations"
    """The preset field ``--seeds`` sets."""
    title = "The multi-head experiment: does one good attention head let otherwise bad heads learn?"

    def setup(self, request: Request) -> MultiheadSetup:
        from ktiw.data.families import from_spec

        pre = request.preset
        assert isinstance(pre, MultiheadPreset)
        if request.specs or request.data is not None:
            raise KtiwError(
                "the multihead experiment takes no SPEC or --data (its preset fixes the permutation task)"
            )
        if int(pre.training.model_config.get("heads", 0)) < 2:
            raise KtiwError("the multihead experiment needs heads >= 2")
        for name in ("candidates", "pool_size", "combinations", "data_seeds", "max_seeds_per_run"):
            if getattr(pre, name) < 1:
                raise KtiwError(f"multihead preset field {name} must be >= 1, got {getattr(pre, name)}")
        return MultiheadSetup(pre, from_spec(pre.spec).spec, request.device, request.threads)

    def _config(
        self, setup: MultiheadSetup, seeds: list[int], head_ids: list[list[int]], heads: int
    ) -> object:
        pre = setup.preset
        options = {
            **pre.training.model_config,
            "heads": heads,
            "head_ids": head_ids,
            "base_seed": pre.base_seed,
        }
        return TrainConfig.from_training(
            pre.training,
            preset=pre.name,
            spec=setup.spec,
            seeds=seeds,
            model_config=options,
            device=setup.device,
            threads=setup.threads,
        )

    def plan(self, setup: MultiheadSetup, done: Mapping[str, Run]) -> list[PlannedRun]:
        pre = setup.preset
        singles = []
        for c, heads in enumerate(_chunks(pre)):
            seeds = [pre.data_seeds * j + d for j in heads for d in range(pre.data_seeds)]
            cfg = self._config(setup, seeds, [[s // pre.data_seeds] for s in seeds], 1)
            singles.append(PlannedRun(_single_name(pre, c), cfg))  # type: ignore[arg-type]
        if any(r.name not in done for r in singles):
            return singles
        _, _, groups = _groups(pre, head_labels(pre, done))
        heads = int(pre.training.model_config["heads"])
        return singles + [
            PlannedRun(g, self._config(setup, [COMBO_DATA_SEED + i for i in range(len(rows))], rows, heads))  # type: ignore[arg-type]
            for g, rows in groups.items()
            if rows
        ]

    def measure(self, setup: MultiheadSetup, runs: Mapping[str, Run]) -> MultiheadMeasurement:
        pre = setup.preset
        labels = head_labels(pre, runs)
        good, bad, groups = _groups(pre, labels)
        successes, final_acc, curves = {}, {}, {}
        for g in GROUPS:
            if g not in runs:
                successes[g] = (0, 0)
                continue
            run = runs[g]
            ok = _succeeded(run)
            successes[g] = (sum(ok), len(ok))
            # a seed stopped early (stop_at) holds its stop-step value (Run.frozen_curve)
            steps = np.unique(run.curves["step"])
            acc = np.stack([run.frozen_curve("token_acc", int(k)) for k in steps], axis=1)
            curves[g] = GroupCurves(steps, acc)
            final_acc[g] = [float(v) for v in curves[g].token_acc[:, -1]]
        return MultiheadMeasurement(
            labels,
            good,
            bad,
            {c: sum(v == c for v in labels.values()) for c in ("good", "bad", "neither")},
            groups,
            successes,
            final_acc,
            curves,
            toy_rescue(),
        )

    def check(self, setup: MultiheadSetup, m: MultiheadMeasurement) -> list[Verdict]:
        return rescue_verdicts(m.pools, m.successes, m.toy, setup.spec, m.final_acc)

    def figures(self, setup: MultiheadSetup, m: MultiheadMeasurement, folder: Path) -> dict[str, Figure]:
        if not m.curves:
            return {}
        return {
            "multihead": Figure(
                _figure(m, folder / "multihead.png"),
                "Token accuracy per group (thin: single models) and success rates.",
            )
        }

    def sections(self, setup: MultiheadSetup, m: MultiheadMeasurement) -> list[str]:
        table = ["## Groups", "", "| group | successes | rate | Wilson 95% |", "| --- | --- | --- | --- |"]
        for g, (k, n) in m.successes.items():
            iv = wilson_interval(k, n)
            table.append(f"| {g} | {k}/{n} | {fmt(iv.rate)} | [{iv.low:.2f}, {iv.high:.2f}] |")
        return ["\n".join(table)]


def toy_rescue() -> ToyRescue:
    from ktiw.theory.multihead import rescue_flow

    both = rescue_flow(k=4, head_eps=(1e-3, 0.0), t_max=1500.0, n_points=301)
    lone = rescue_flow(k=4, head_eps=(0.0,), t_max=1500.0, n_points=31)
    return ToyRescue(both.takeoff[0], both.takeoff[1], lone.takeoff[0])


def _figure(m: MultiheadMeasurement, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from ..figures import rate_bars, save

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    colours = {"all-bad": "tab:red", "one-good": "tab:green", "random": "tab:blue"}
    for g, c in m.curves.items():
        for row in c.token_acc:
            ax1.plot(c.steps, row, color=colours[g], alpha=0.15, lw=0.8)
        ax1.plot(c.steps, c.token_acc.mean(axis=0), color=colours[g], lw=2, label=f"{g} (mean)")
    ax1.axhline(th.SUCCESS_ACCURACY, color="k", ls=":", lw=0.8)
    ax1.set_xlabel("step")
    ax1.set_ylabel("token accuracy")
    ax1.legend()
    names = [g for g in GROUPS if m.successes.get(g, (0, 0))[1] > 0]
    rate_bars(ax2, names, [m.successes[g] for g in names], [colours[g] for g in names])
    return save(fig, path)


EXPERIMENT = MultiheadExperiment()
