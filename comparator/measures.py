"""Measurements every experiment shares, from run directories and probe arrays to typed numbers.

* :func:`seed_curves`: one :class:`SeedCurve` per seed of a run (success by
  :func:`ktiw.empirics.curves.succeeded`, the one success criterion);
* :func:`agreement_table`: the paper's agreement table, one definition for every experiment:
  ``A(alpha, beta_uf)`` (normal attention, uniform run's ``beta``), ``A(beta_uf, beta_px)``,
  ``A(Delta, beta_uf)`` with ``Delta = -grad`` of the uniform run (the direction gradient
  descent moves the attention logits) and ``A(alpha, beta)`` (the normal run's own probe),
  each with its shuffled baseline (:mod:`ktiw.empirics.agreement`, top-5% match);
* :func:`xi_values`: the paper's ``xi`` for each agreement and ``xi*``, against a gold attention
  (:func:`gold_alignment`: the data's gold positions; :func:`gold_final_attention`: the run's
  own final attention, for data with no gold alignment such as classification);
* :func:`pool`, :func:`tile`, :func:`scored`: probe arrays ``[S, N, T, L]`` pooled over seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ktiw.core.errors import KtiwError

from . import thresholds as th

if TYPE_CHECKING:
    from ktiw.runs.rundir import Run

Probes = dict[str, np.ndarray]
"""The arrays of one probe file (:mod:`ktiw.runs.rundir`)."""

AGREEMENT_PAIRS = ("A(alpha,beta_uf)", "A(beta_uf,beta_px)", "A(Delta,beta_uf)", "A(alpha,beta)")


@dataclass(frozen=True)
class SeedCurve:
    """One seed's evaluation curve."""

    seed: int
    steps: np.ndarray
    token_acc: np.ndarray
    attn_acc: np.ndarray
    beta_acc: np.ndarray
    succeeded: bool
    attn_mass: np.ndarray | None = None
    """Mean attention weight on the gold position (NaN for runs recorded before the column)."""


@dataclass(frozen=True)
class Agreement:
    """One agreement ``A(u, v)`` (top-5% match) and its shuffled baseline."""

    pair: str
    value: float
    baseline: float
    per_seed: tuple[float, ...] = ()
    """The agreement of each seed alone (the unit of a refutation's test, :func:`~.stats.share_beyond`)."""
    tokens: int = 0
    """Scored target tokens pooled over seeds."""

    @property
    def lift(self) -> float:
        return self.value - self.baseline


def seed_curves(run: Run) -> list[SeedCurve]:
    """Per-seed curves of a loaded run (a diverged seed has not succeeded)."""
    from ktiw.empirics.curves import succeeded

    diverged = {s["seed"]: bool(s["diverged"]) for s in run.summary.get("seeds", [])}
    out = []
    for seed in run.seeds:
        steps, token = run.curve(seed, "token_acc")
        _, attn = run.curve(seed, "attn_acc")
        _, beta = run.curve(seed, "beta_acc")
        _, mass = run.curve(seed, "attn_mass")
        _, div = run.curve(seed, "diverged")
        ok = succeeded(steps, token, diverged.get(seed, False) or bool(np.any(div)))
        out.append(SeedCurve(seed, steps.astype(float), token, attn, beta, ok, mass))
    return out


def last_probes(run: Run) -> Probes:
    """The probe arrays of the run's last probe step, each seed that stopped early
    (``--stop-at``) at its stop step (:meth:`~ktiw.runs.rundir.Run.frozen_probes`)."""
    if not run.probe_steps:
        raise KtiwError(f"{run.path} has no probe files")
    return same_width(run.frozen_probes(run.probe_steps[-1]))


def paired_seeds(arr: np.ndarray, S: int) -> np.ndarray:
    """A per-seed array ``[S_u, ...]`` of a run with fewer seeds, spread over ``S`` seeds: seed
    ``k`` of the other run is paired with seed ``k mod S_u``.  Seeds of two runs are independent
    models, so which pairs with which is arbitrary; this pairing uses each seed equally often
    (``S_u`` must divide ``S`` for exactly equal weights)."""
    if arr.shape[0] == S:
        return arr
    return arr[np.arange(S) % arr.shape[0]]


def same_width(p: Probes) -> Probes:
    """Crop the per-position arrays to the models' source width.

    Models drop the padding columns beyond the evaluation batch's longest input, while ``src``
    (and ``beta_px``, computed on it) keep the data's full padded width; on data with lines of
    different lengths the two differ, and the extra columns are padding only."""
    width = next((p[k].shape[-1] for k in ("alpha", "beta") if k in p), None)
    if width is None or p["src"].shape[1] <= width or int(np.max(p["src_len"], initial=0)) > width:
        return p
    out = dict(p)
    out["src"] = p["src"][:, :width]
    if "beta_px" in p:
        out["beta_px"] = p["beta_px"][..., :width]
    return out


def scored(p: Probes) -> np.ndarray:
    """Target tokens inside the target length, ``[N, T]``."""
    T = p["tgt"].shape[1]
    return np.arange(T)[None, :] < p["tgt_len"][:, None]


def pool(x: np.ndarray) -> np.ndarray:
    """``[S, N, ...] -> [S*N, ...]`` (float64)."""
    return np.asarray(x, dtype=np.float64).reshape(-1, *x.shape[2:])


def tile(x: np.ndarray, S: int) -> np.ndarray:
    """Per-example array ``[N, ...]`` repeated for every seed, pooled like :func:`pool`."""
    return np.concatenate([x] * S, axis=0)


def same_samples(normal: Probes, uniform: Probes) -> None:
    """:class:`KtiwError` unless both runs were evaluated on the same samples and the uniform
    run's seed count divides the normal run's (:func:`paired_seeds`)."""
    if not all(np.array_equal(normal[k], uniform[k]) for k in ("src", "tgt")):
        raise KtiwError("the normal and uniform runs were evaluated on different samples (eval_seed differs)")
    S, S_u = normal["alpha"].shape[0], uniform["beta"].shape[0]
    if S % S_u:
        raise KtiwError(
            f"the uniform run's {S_u} seeds do not divide the normal run's {S}: seeds cannot be paired evenly"
        )


def agreement_table(normal: Probes, uniform: Probes, rng: np.random.Generator) -> list[Agreement]:
    """The agreement table from the last-step probes of a normal and a uniform run (module
    docstring), pooled over seeds and scored target tokens; ``A(beta_uf, beta_px)`` only when
    the normal run computed the proxy."""
    from ktiw.empirics import agreement as ag

    same_samples(normal, uniform)
    S = normal["alpha"].shape[0]
    lens, mask = tile(normal["src_len"], S), tile(scored(normal), S)
    alpha, beta = pool(normal["alpha"]), pool(normal["beta"])
    # the uniform run may have fewer seeds than the normal one (a preset's ``uniform_seeds``)
    beta_uf, delta = pool(paired_seeds(uniform["beta"], S)), -pool(paired_seeds(uniform["grad"], S))
    beta_px = tile(normal["beta_px"].astype(np.float64), S) if "beta_px" in normal else None
    pairs = dict(
        zip(
            AGREEMENT_PAIRS,
            ((alpha, beta_uf), (beta_uf, beta_px), (delta, beta_uf), (alpha, beta)),
            strict=True,
        )
    )
    tokens = int(np.count_nonzero(mask))

    def per_seed(u: np.ndarray, v: np.ndarray) -> tuple[float, ...]:
        credit = ag.top_match_tokens(u, v, th.TOP_FRACTION, lens, mask).reshape(S, -1)
        return tuple(float(np.nanmean(row)) if np.isfinite(row).any() else float("nan") for row in credit)

    return [
        Agreement(
            name,
            ag.top_match(u, v, th.TOP_FRACTION, lens, mask),
            ag.shuffled_baseline(u, v, rng, th.TOP_FRACTION, lens, mask),
            per_seed(u, v),
            tokens,
        )
        for name, (u, v) in pairs.items()
        if v is not None
    ]


Gold = Callable[[Probes], "tuple[np.ndarray, np.ndarray] | None"]
"""A gold attention for one checkpoint's probe arrays: ``(gold [S*N, T, L], mask [S*N, T])``
pooled like :func:`pool` (``mask``: the scored tokens that have a gold position), or ``None``
when there is none."""


def gold_alignment(p: Probes) -> tuple[np.ndarray, np.ndarray] | None:
    """:data:`Gold` from the data's gold positions ``align`` (one-hot; ``None`` when no token
    has one)."""
    from ktiw.empirics import agreement as ag

    if not np.any(p["align"] >= 0):
        return None
    S, L = p["alpha"].shape[0], p["alpha"].shape[-1]
    gold = tile(ag.gold_attention(p["align"], L), S)
    return gold, tile(scored(p) & (p["align"] >= 0), S)


def gold_final_attention(final: Probes) -> Gold:
    """:data:`Gold` for data without a gold alignment: each seed's own attention ``alpha`` at
    the last checkpoint ``final``, one-hot on its argmax over the valid positions.

    For a one-token output (classification: the label) this is "where the trained model
    finally looks" in every example; ``A(alpha_k, gold)`` is then how far checkpoint ``k``'s
    attention has come towards it, and reaches 1 at the last checkpoint."""
    S, N, T, L = final["alpha"].shape
    alpha = np.where(np.isnan(final["alpha"]), -np.inf, final["alpha"].astype(np.float64))
    gold = (np.arange(L) == alpha.argmax(-1)[..., None]).astype(np.float64).reshape(S * N, T, L)
    mask = tile(scored(final), S)

    def at(p: Probes) -> tuple[np.ndarray, np.ndarray]:
        same_samples(final, p)
        return gold, mask

    return at


def xi_values(
    run: Run, agreements: list[Agreement], gold: Gold = gold_alignment
) -> tuple[dict[str, float | None], float | None]:
    """``xi`` for each agreement value and ``xi*`` of the normally trained ``run``.

    At every probe checkpoint ``k`` (in training order) of ``run``: ``A_k = A(alpha_k, gold)``
    (top-5% match, pooled over seeds and the tokens ``gold`` scores; a seed that stopped early
    counts with its stop step's arrays, :meth:`~ktiw.runs.rundir.Run.frozen_probes`) and
    the performance ``P_k`` = the mean over seeds of the evaluation accuracy (``token_acc``: token accuracy,
    or a classifier's accuracy).  ``xi(u, v) = P_k*`` with ``k*`` the first checkpoint where
    ``A_k >= A(u, v)`` (:func:`ktiw.empirics.agreement.xi`; ``None`` if never); ``xi* =
    max_k P_k``.  ``({}, None)`` when the run has no probes or ``gold`` gives none."""
    from ktiw.empirics import agreement as ag

    if not run.probe_steps:
        return {}, None
    curve, perf = [], []
    for step in run.probe_steps:
        p = same_width(run.frozen_probes(step))
        g = gold(p)
        if g is None:
            return {}, None  # no gold attention to follow
        S = p["alpha"].shape[0]
        curve.append(ag.top_match(pool(p["alpha"]), g[0], th.TOP_FRACTION, tile(p["src_len"], S), g[1]))
        perf.append(float(np.nanmean(run.frozen_curve("token_acc", step))))
    return {a.pair: ag.xi(curve, perf, a.value) for a in agreements}, ag.xi_star(perf)
