"""``ktiw verify`` end to end: predict, train (or reuse) the runs, measure, compare, report.

For every distribution: the theory's :func:`~ktiw.theory.predict.predict`, one normally
trained LSTM run and one uniform-attention LSTM run (:func:`ktiw.empirics.trainer.train`,
all seeds batched), both evaluated on the same fixed samples (the trainer draws them from
its ``eval_seed``, so seed ``s`` of one run pairs with seed ``s`` of the other example by
example). Then the six checks of :mod:`ktiw.comparator.checks`, the report
(:mod:`ktiw.comparator.report`) and the exit code.

Measurements taken from the runs (all at the last step unless said otherwise):

* success: ``summary.json``'s ``reached_95`` per seed (a diverged seed has not succeeded);
* ``beta_uf`` share: top-1 match of the uniform run's ``beta`` probe with the gold position,
  pooled over seeds and tokens; its baseline: the same with ``beta`` shuffled along ``l``;
* timing (checks 3 and 5): the ``beta_acc``/``attn_acc`` columns of the normal run's curves;
* agreements (top-5% match, shuffled baselines): ``A(alpha, beta_uf)`` (normal ``alpha``,
  uniform ``beta``), ``A(beta_uf, beta_px)``, ``A(Delta, beta_uf)`` with ``Delta = -grad`` of
  the uniform run (the direction gradient descent moves the attention logits), and
  ``A(alpha, beta)`` (the normal run's own probe);
* ``xi``: the mean token accuracy of the normal run at the first probe step where its
  ``A(alpha, gold)`` reaches each agreement value; ``xi*`` its best mean token accuracy.
"""

from __future__ import annotations

import math
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from ktiw.theory.errors import KtiwError
from ktiw.theory.families import from_spec
from ktiw.theory.predict import predict

from . import checks as ck
from . import thresholds as th
from .evidence import SpecEvidence, TheoryCurve, VerifyResult
from .figures import slug
from .presets import VerifyPreset, get_preset
from .report import write_report
from .reuse import find_reusable
from .stats import first_reach


def train_config(spec: str, preset: VerifyPreset, *, uniform: bool, device: str) -> dict[str, Any]:
    """The trainer's config for one run, complete as ``config.json`` records it (for ``--reuse``)."""
    from ktiw.empirics.models import MODELS
    from ktiw.empirics.trainer import TrainConfig, resolve_device

    model_config = asdict(MODELS["lstm"].config(hidden=preset.hidden))
    cfg = TrainConfig(
        spec=from_spec(spec).spec,
        model="lstm",
        uniform=uniform,
        preset=preset.name,
        seeds=list(range(preset.seeds)),
        steps=preset.steps,
        batch_size=preset.batch_size,
        lr=preset.lr,
        eval_every=preset.eval_every,
        eval_samples=preset.eval_samples,
        probe_every=preset.probe_every,
        # beta_px is read from the normal run (same samples); the uniform run need not train it again
        proxy_steps=0 if uniform else TrainConfig.proxy_steps,
        device=resolve_device(device),
        model_config=model_config,
    )
    cfg.validate()
    record = asdict(cfg)
    record["device_requested"] = cfg.device
    return record


def obtain_run(
    config: dict[str, Any], runs_dir: Path, name: str, reuse: bool, progress: bool
) -> tuple[Path, bool]:
    """A finished run directory for ``config``: reused (``--reuse`` and an equal config under
    ``runs_dir``) or freshly trained into ``runs_dir/name`` (``name-2``, ... if taken)."""
    from ktiw.empirics.trainer import TrainConfig, train

    runs_dir.mkdir(parents=True, exist_ok=True)
    if reuse:
        found = find_reusable(config, (p for p in runs_dir.iterdir() if p.is_dir()))
        if found is not None:
            return found, True
    target = runs_dir / name
    k = 2
    while target.exists():
        target = runs_dir / f"{name}-{k}"
        k += 1
    cfg = TrainConfig.from_dict({k_: v for k_, v in config.items() if k_ != "device_requested"})
    return train(cfg, target, progress=progress), False


# --- measurements from run directories ---------------------------------------------------


def seed_curves(run: Any) -> list[ck.SeedCurve]:
    """Per-seed curves of a loaded run; a seed succeeded if its evaluated token accuracy
    reached ``SUCCESS_ACCURACY`` within the budget and it did not diverge."""
    diverged = {s["seed"]: bool(s["diverged"]) for s in run.summary.get("seeds", [])}
    out = []
    for seed in run.seeds:
        steps, token = run.curve(seed, "token_acc")
        _, attn = run.curve(seed, "attn_acc")
        _, beta = run.curve(seed, "beta_acc")
        _, div = run.curve(seed, "diverged")
        reached = math.isfinite(first_reach(steps, token, th.SUCCESS_ACCURACY))
        ok = reached and not diverged.get(seed, False) and not bool(np.any(div))
        out.append(ck.SeedCurve(seed, steps.astype(float), token, attn, beta, ok))
    return out


def _scored(p: dict[str, np.ndarray]) -> np.ndarray:
    """Tokens with a gold position inside the target length, ``[N, T]``."""
    T = p["tgt"].shape[1]
    return (p["align"] >= 0) & (np.arange(T)[None, :] < p["tgt_len"][:, None])


def _pool(x: np.ndarray) -> np.ndarray:
    """``[S, N, T, L] -> [S*N, T, L]``."""
    return x.reshape(-1, *x.shape[2:])


def _tile(x: np.ndarray, S: int) -> np.ndarray:
    """Per-example array ``[N, ...]`` repeated for every seed, pooled like :func:`_pool`."""
    return np.concatenate([x] * S, axis=0)


def _same_samples(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return all(np.array_equal(a[k], b[k]) for k in ("src", "tgt", "align"))


def measure_agreements(
    normal: dict[str, np.ndarray], uniform: dict[str, np.ndarray], seed: int = 0
) -> tuple[dict[str, float], dict[str, float], float, float, list[float]]:
    """Agreements, their shuffled baselines, and the ``beta_uf`` top-1 share (+ baseline, per seed).

    ``normal``/``uniform`` are the probe arrays of the last step of the two runs.
    """
    from ktiw.empirics import agreement as ag

    if not _same_samples(normal, uniform):
        raise KtiwError("the normal and uniform runs were evaluated on different samples (eval_seed differs)")
    S = normal["alpha"].shape[0]
    if uniform["beta"].shape[0] != S:
        raise KtiwError("the normal and uniform runs have different numbers of seeds")
    src_len, mask = _tile(normal["src_len"], S), _tile(_scored(normal), S)
    L = normal["src"].shape[1]
    gold = ag.gold_attention(normal["align"], L)
    alpha, beta = _pool(normal["alpha"]), _pool(normal["beta"])
    beta_uf, delta = _pool(uniform["beta"]), -_pool(uniform["grad"])
    beta_px = _tile(normal["beta_px"], S) if "beta_px" in normal else None
    pairs = {
        "A(alpha,beta_uf)": (alpha, beta_uf),
        "A(beta_uf,beta_px)": (beta_uf, beta_px),
        "A(Delta,beta_uf)": (delta, beta_uf),
        "A(alpha,beta)": (alpha, beta),
    }
    rng = np.random.default_rng(seed)
    agreements, baselines = {}, {}
    for name, (u, v) in pairs.items():
        if v is None:
            continue
        agreements[name] = ag.top_match(u, v, th.TOP_FRACTION, src_len, mask)
        baselines[name] = ag.shuffled_baseline(u, v, rng, th.TOP_FRACTION, src_len, mask)
    top1 = 1.0 / L  # ceil(L_n / L) = 1 position: exact argmax match with the gold position
    gold_all = _tile(gold, S)
    share = ag.top_match(beta_uf, gold_all, top1, src_len, mask)
    base = ag.shuffled_baseline(beta_uf, gold_all, rng, top1, src_len, mask)
    tok = ag.top_match_tokens(beta_uf, gold_all, top1, src_len, mask).reshape(S, -1)
    per_seed = [float(np.nanmean(row)) for row in tok]
    return agreements, baselines, share, base, per_seed


def xi_values(run: Any, agreements: dict[str, float]) -> tuple[dict[str, float | None], float | None]:
    """``xi`` for each agreement value and ``xi*`` (see the module docstring)."""
    from ktiw.empirics import agreement as ag

    steps = run.probe_steps
    if not steps:
        return {}, None
    curve, perf = [], []
    for step in steps:
        p = run.probes(step)
        S = p["alpha"].shape[0]
        L = p["src"].shape[1]
        gold = _tile(ag.gold_attention(p["align"], L), S)
        curve.append(
            ag.top_match(
                _pool(p["alpha"]), gold, th.TOP_FRACTION, _tile(p["src_len"], S), _tile(_scored(p), S)
            )
        )
        sel = run.curves["step"] == step
        perf.append(float(np.mean(run.curves["token_acc"][sel])))
    return {k: ag.xi(curve, perf, v) for k, v in agreements.items()}, ag.xi_star(perf)


def theory_curve(spec: str, eps: float, t_max: float) -> TheoryCurve | None:
    """The 2-D flow's curves for a copy distribution up to ``t_max`` (``None`` otherwise)."""
    from ktiw.theory.flow import copy_flow
    from ktiw.theory.predict import copy_reduction

    dist = from_spec(spec)
    kv = copy_reduction(dist)
    if kv is None or kv[0] < 2 or not math.isfinite(t_max) or t_max <= 0:
        return None
    k, V = kv
    flow = copy_flow(k, V, eps=eps if k == V else 0.0, t_max=t_max, n_points=600)
    return TheoryCurve(flow.t, flow.alpha_d, flow.p_correct, flow.takeoff_time)


# --- the whole pipeline ------------------------------------------------------------------


def run_verify(
    specs: list[str] | None,
    *,
    preset: str = "quick",
    seeds: int | None = None,
    steps: int | None = None,
    device: str = "auto",
    out_dir: Path = Path("ktiw-verify"),
    reuse: bool = False,
    progress: bool = True,
    console: Console | None = None,
    overrides: dict[str, Any] | None = None,
) -> VerifyResult:
    """Predict, train or reuse, check, and write the report; returns the :class:`VerifyResult`.

    ``overrides`` replaces preset fields (tests use it for tiny sizes). Bad input raises
    :class:`KtiwError` before anything is trained.
    """
    from .fidelity import fidelity_trace

    start = time.perf_counter()
    console = console or Console(stderr=True)
    pre = get_preset(preset).with_overrides(seeds=seeds, steps=steps, **(overrides or {}))
    spec_list = list(specs) if specs else list(pre.specs)
    dists = [from_spec(s) for s in spec_list]  # SpecError (exit 2) before any work
    for d in dists:
        if not d.aligned:
            raise KtiwError(f"{d.spec}: verify needs a distribution with a gold alignment")
    if len({d.spec for d in dists}) != len(dists):
        raise KtiwError("a distribution is named twice")
    configs = {
        d.spec: {u: train_config(d.spec, pre, uniform=u, device=device) for u in (False, True)} for d in dists
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs_dir = out_dir / "runs"

    predictions = {d.spec: predict(d, eps=pre.eps).to_dict() for d in dists}

    verdicts: list[ck.Verdict] = []
    traces = []
    for setup in pre.fidelity:
        if progress:
            console.print(f"toy-fidelity: full-batch gradient descent on {setup.spec} ...")
        trace = fidelity_trace(setup)
        traces.append(trace)
        verdicts.append(ck.check_toy_fidelity(trace))

    from ktiw.empirics.rundir import load_run

    evidence: list[SpecEvidence] = []
    reused: dict[str, bool] = {}
    for d in dists:
        regime = str(predictions[d.spec]["regime"])
        runs = {}
        for uniform, kind in ((False, "normal"), (True, "uniform")):
            name = f"{slug(d.spec)}-lstm" + ("-uniform" if uniform else "")
            path, was_reused = obtain_run(configs[d.spec][uniform], runs_dir, name, reuse, progress)
            if progress and was_reused:
                console.print(f"reusing {path} for {d.spec} ({kind})")
            runs[kind] = load_run(path)
            reused[f"{d.spec} {kind}"] = was_reused
        normal, uniform_run = runs["normal"], runs["uniform"]
        seeds_n = seed_curves(normal)
        seeds_u = seed_curves(uniform_run)
        last_n, last_u = normal.probe_steps[-1], uniform_run.probe_steps[-1]
        agreements, baselines, share, base, per_seed = measure_agreements(
            normal.probes(last_n), uniform_run.probes(last_u)
        )
        xi, xi_star = xi_values(normal, agreements)
        predicted = predictions[d.spec]["takeoff_time"]
        success = ck.SuccessCount(d.spec, regime, sum(s.succeeded for s in seeds_n), len(seeds_n))
        evidence.append(
            SpecEvidence(
                spec=d.spec,
                regime=regime,
                prediction=predictions[d.spec],
                seeds=seeds_n,
                uniform_seeds=seeds_u,
                success=success,
                takeoff=ck.measured_takeoff(d.spec, predicted, seeds_n),
                agreements=agreements,
                baselines=baselines,
                xi=xi,
                xi_star=xi_star,
                beta_uf_share=share,
                beta_uf_baseline=base,
                runs={k: str(r.path) for k, r in runs.items()},
            )
        )
        verdicts.append(ck.check_ktiw_under_uniform(d.spec, regime, share, base, per_seed))
        verdicts.append(ck.check_ktiw_before_attention(d.spec, seeds_n))

    verdicts += ck.check_success_rates([e.success for e in evidence])
    verdicts.append(ck.check_takeoff_order([e.takeoff for e in evidence]))
    for e in evidence:
        verdicts.append(
            ck.check_agreement_table(e.spec, e.regime, e.agreements, e.baselines, e.xi, e.xi_star)
        )
    order = {name: i for i, name in enumerate(ck.CHECK_NAMES)}
    verdicts.sort(key=lambda v: order[v.name])  # stable: subjects keep their order

    from .evidence import time_scale

    scale = time_scale(evidence)
    for e in evidence:
        if scale:
            last_step = max(float(s.steps[-1]) for s in e.seeds)
            e.theory = theory_curve(e.spec, pre.eps, scale * last_step)

    meta = {
        "command": "ktiw " + " ".join(sys.argv[1:]) if sys.argv and "ktiw" in sys.argv[0] else "ktiw verify",
        "preset": pre.name,
        "preset_values": asdict(pre),
        "specs": [d.spec for d in dists],
        "device": configs[dists[0].spec][False]["device"] if dists else device,
        "reused": reused,
        "git_commit": normal.config.get("git_commit") if dists else None,
        "versions": normal.config.get("versions") if dists else None,
        "python": platform.python_version(),
    }
    result = VerifyResult(verdicts, evidence, traces, meta, out_dir)
    meta["wall_time_s"] = time.perf_counter() - start
    write_report(result)
    return result
