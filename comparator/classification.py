"""``ktiw verify --experiment classification``: attention goes to the salient words.

Runs (:mod:`ktiw.empirics.models.classifier`, one batched run each, same seeds, same fixed
evaluation samples): the normally trained classifier and the uniform-attention one, on a
``keyword`` distribution (or a ``label<TAB>tokens`` data file).  Theory
(:mod:`ktiw.theory.classification`): stage 1, the word scores of a uniform model move along
the word-label co-occurrence ``c_i = C[i, pos]``; stage 2, attention drifts to the
positions with the largest ``C[x_l, y]``.

Checks, all on the evaluation samples at the last step, pooled over seeds:

* ``uniform-scores-cooccurrence``: the uniform model's score of word ``i`` (mean over its
  occurrences of the log-odds of ``pos`` with the attention one-hot on that position,
  ``W h_l``; from the ``beta_uf`` probe) against ``c_i``: Kendall's tau-b over the words seen
  (scipy, ties handled).  Passes when ``tau > MIN_KENDALL_TAU`` and the two-sided p-value
  is below :data:`~ktiw.comparator.thresholds.P_VALUE` (association beyond chance); refuted otherwise.
* ``attention-to-salient-words``: the normal model's attention ``alpha`` against the theory's
  stage-2 ranking ``C[x_l, y]`` (:func:`ktiw.theory.classification.stage2_scores`): top-5%
  match ``A(alpha, theory)`` must exceed its shuffled baseline by ``AGREEMENT_MIN_LIFT``;
  the mean per-example Kendall tau is reported beside that of the shuffled ranking.
* ``agreement-table``: the paper's table (``A(alpha, beta_uf)``, ``A(beta_uf, beta_px)``,
  ``A(Delta, beta_uf)``, ``A(alpha, beta)``) through :func:`ktiw.comparator.checks.check_agreement_table`.
  For this one-logit classifier ``A(Delta, beta_uf) = 1`` by construction: the uniform
  model's ``-grad_l = (y - sigmoid(z)) p_l (W h_l - z)`` is, for either label, an increasing
  function of ``beta_uf[l] = (2y - 1) W h_l``, so both have the same argmax.
* ``classifier-accuracy`` (reported): the normal and uniform models' final accuracies.

Entry point: :func:`run_classification`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from ktiw.theory.errors import KtiwError

from . import checks as ck
from . import thresholds as th
from .experiment import ExperimentResult, provenance_meta, run_config, write_outputs
from .presets import replace_fields


@dataclass(frozen=True)
class ClassificationPreset:
    """Sizes of the classification experiment."""

    name: str
    spec: str
    hidden: int
    seeds: int
    steps: int
    batch_size: int
    lr: float
    eval_every: int
    eval_samples: int
    proxy_steps: int = 200
    bidirectional: bool = False
    """Bidirectional classifier encoder (the ``classifier`` model's option)."""

    def with_overrides(self, **fields: object) -> ClassificationPreset:
        return replace_fields(self, fields, "classification preset")


PRESETS: dict[str, ClassificationPreset] = {
    "quick": ClassificationPreset(
        name="quick",
        spec="keyword:L=20,V=60,K=6",
        hidden=32,
        seeds=4,
        steps=200,
        batch_size=64,
        lr=1e-3,
        eval_every=10,
        eval_samples=200,
    ),
    "paper": ClassificationPreset(
        name="paper",
        spec="keyword:L=40,V=1000,K=20",
        hidden=256,
        seeds=20,
        steps=400,
        batch_size=128,
        lr=1e-3,
        eval_every=20,
        eval_samples=500,
    ),
}


def get_preset(name: str) -> ClassificationPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise KtiwError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}") from None


# --------------------------------------------------------------------------- measurements


def word_scores(
    beta_uf: np.ndarray, src: np.ndarray, label: np.ndarray, src_len: np.ndarray, n_in: int
) -> np.ndarray:
    """Per-word uniform-model score: mean over seeds and occurrences of the log-odds of ``pos``.

    ``beta_uf [S, N, 1, L]`` is the log-odds of the *correct* label, so the log-odds of ``pos``
    is ``beta_uf * (2y - 1)``.  Words never seen get NaN.
    """
    sign = (2 * np.asarray(label) - 1).astype(np.float64)  # [N]
    pos = np.asarray(beta_uf, dtype=np.float64)[:, :, 0, :] * sign[None, :, None]  # [S, N, L]
    valid = np.arange(src.shape[1])[None, :] < np.asarray(src_len)[:, None]
    total = np.zeros(n_in)
    count = np.zeros(n_in)
    for s in range(pos.shape[0]):
        np.add.at(total, src[valid], pos[s][valid])
        np.add.at(count, src[valid], 1.0)
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def score_association(scores: np.ndarray, signal: np.ndarray) -> dict[str, float]:
    """Kendall's tau-b (scipy, with its p-value) between word scores and ``c_i`` over seen words."""
    from scipy.stats import kendalltau

    seen = ~np.isnan(scores)
    if seen.sum() < 2 or np.ptp(signal[seen]) == 0 or np.ptp(scores[seen]) == 0:
        return {
            "tau": float("nan"),
            "p_value": float("nan"),
            "words": int(seen.sum()),
            "tau_max": float("nan"),
        }
    res = kendalltau(scores[seen], signal[seen])
    # the largest tau-b any scores can reach against these (tied) signal values: a perfect
    # ranking, ties of the signal broken by an arbitrary strict order
    ranks = np.argsort(np.argsort(signal[seen], kind="stable"), kind="stable")
    best = kendalltau(ranks, signal[seen]).statistic
    return {
        "tau": float(res.statistic),
        "p_value": float(res.pvalue),
        "words": int(seen.sum()),
        "tau_max": float(best),
    }


def check_uniform_scores(spec: str, assoc: dict[str, float]) -> ck.Verdict:
    """``uniform-scores-cooccurrence`` from :func:`score_association`'s numbers."""
    tau, p = assoc["tau"], assoc["p_value"]
    expected = f"tau > {th.MIN_KENDALL_TAU}, p < {th.P_VALUE}"
    if np.isnan(tau):
        return ck.Verdict(
            "uniform-scores-cooccurrence",
            spec,
            "tau undefined",
            expected,
            None,
            "the word scores or the co-occurrence signal are constant over the words seen",
            assoc,
        )
    passed = tau > th.MIN_KENDALL_TAU and p < th.P_VALUE
    detail = (
        f"the uniform model's word scores rank words like the word-label co-occurrence "
        f"(tau {tau:.2f}, p {p:.2g}, {assoc['words']} words; the largest tau these tied co-occurrence "
        f"values allow is {assoc['tau_max']:.2f})"
        if passed
        else f"REFUTED: stage 1 says a uniform model's word scores follow the word-label co-occurrence, but "
        f"tau = {tau:.2f} (p = {p:.2g}) over {assoc['words']} words"
    )
    return ck.Verdict(
        "uniform-scores-cooccurrence", spec, f"tau = {tau:.2f} (p = {p:.2g})", expected, passed, detail, assoc
    )


def check_attention_salient(
    spec: str,
    agreement: float,
    baseline: float,
    tau: float,
    tau_shuffled: float,
    placement: dict[str, float] | None = None,
) -> ck.Verdict:
    """``attention-to-salient-words``: ``A(alpha, theory)`` at least ``AGREEMENT_MIN_LIFT`` above baseline."""
    lift = agreement - baseline
    numbers = {
        "A(alpha,theory)": agreement,
        "baseline": baseline,
        "lift": lift,
        "kendall_tau": tau,
        "kendall_tau_shuffled": tau_shuffled,
        "min_lift": th.AGREEMENT_MIN_LIFT,
        "argmax_vs_theory_top": placement or {},
    }
    passed = lift >= th.AGREEMENT_MIN_LIFT
    measured = f"A = {agreement:.2f} vs baseline {baseline:.2f}; tau {tau:.2f} vs {tau_shuffled:.2f}"
    detail = (
        "the trained attention goes to the words the theory ranks highest"
        if passed
        else "REFUTED: stage 2 says attention drifts to the words with the strongest co-occurrence with "
        f"the label, but A(alpha, theory) = {agreement:.2f} is only {lift:.2f} above its shuffled "
        f"baseline {baseline:.2f} "
        f"(needs {th.AGREEMENT_MIN_LIFT})"
    )
    if placement:
        detail += (
            f"; attention argmax before / at / after the theory's top word: {placement['before']:.2f} / "
            f"{placement['same']:.2f} / {placement['after']:.2f}"
        )
    return ck.Verdict(
        "attention-to-salient-words",
        spec,
        measured,
        f"A ≥ baseline + {th.AGREEMENT_MIN_LIFT}",
        passed,
        detail,
        numbers,
    )


def measure(
    normal: dict[str, np.ndarray], uniform: dict[str, np.ndarray], C: np.ndarray, seed: int = 0
) -> dict[str, Any]:
    """Every number the checks need from the last-step probes of the two runs and ``C [|I|, 2]``."""
    from ktiw.empirics import agreement as ag
    from ktiw.theory.classification import stage2_scores, word_label_signal

    for key in ("src", "tgt"):
        if not np.array_equal(normal[key], uniform[key]):
            raise KtiwError(
                "the normal and uniform runs were evaluated on different samples (eval_seed differs)"
            )
    S = normal["alpha"].shape[0]
    src, tgt, src_len = normal["src"], normal["tgt"], normal["src_len"]
    n_in = C.shape[0]
    signal = word_label_signal(C)
    scores = word_scores(uniform["beta"], np.maximum(src, 0), tgt[:, 0], src_len, n_in)
    assoc = score_association(scores, signal)

    def pool(x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64).reshape(-1, *x.shape[2:])

    def tile(x: np.ndarray) -> np.ndarray:
        return np.concatenate([x] * S, axis=0)

    lens = tile(src_len)
    theory = tile(stage2_scores(C, src, tgt))
    alpha, beta = pool(normal["alpha"]), pool(normal["beta"])
    beta_uf, delta = pool(uniform["beta"]), -pool(uniform["grad"])
    rng = np.random.default_rng(seed)
    a_theory = ag.top_match(alpha, theory, th.TOP_FRACTION, lens)
    b_theory = ag.shuffled_baseline(alpha, theory, rng, th.TOP_FRACTION, lens)
    tau = ag.kendall_tau(alpha, theory, lens)
    tau_shuf = ag.kendall_tau(alpha, ag.shuffle_along_source(theory, rng, lens), lens)
    # where the attention's argmax lies relative to the theory's top position (first if tied):
    # a unidirectional encoder carries a word's evidence to every later position
    L = alpha.shape[-1]
    valid = np.arange(L)[None, None, :] < lens[:, None, None]
    top = np.where(valid, theory, -np.inf).argmax(-1)
    arg = np.where(valid, alpha, -np.inf).argmax(-1)
    placement = {
        "before": float(np.mean(arg < top)),
        "same": float(np.mean(arg == top)),
        "after": float(np.mean(arg > top)),
    }
    pairs = {
        "A(alpha,beta_uf)": (alpha, beta_uf),
        "A(beta_uf,beta_px)": (beta_uf, tile(normal["beta_px"]) if "beta_px" in normal else None),
        "A(Delta,beta_uf)": (delta, beta_uf),
        "A(alpha,beta)": (alpha, beta),
    }
    agreements, baselines = {}, {}
    for name, (u, v) in pairs.items():
        if v is None:
            continue
        agreements[name] = ag.top_match(u, v, th.TOP_FRACTION, lens)
        baselines[name] = ag.shuffled_baseline(u, v, rng, th.TOP_FRACTION, lens)
    return {
        "word_scores": scores,
        "signal": signal,
        "association": assoc,
        "A(alpha,theory)": a_theory,
        "A(alpha,theory) baseline": b_theory,
        "tau(alpha,theory)": tau,
        "tau(alpha,shuffled theory)": tau_shuf,
        "argmax_vs_theory_top": placement,
        "agreements": agreements,
        "baselines": baselines,
    }


def classification_verdicts(
    spec: str, regime: str, m: dict[str, Any], acc: dict[str, float]
) -> list[ck.Verdict]:
    """The checks from :func:`measure`'s numbers and the final mean accuracies ``{"normal", "uniform"}``."""
    return [
        ck.Verdict(
            "classifier-accuracy",
            spec,
            f"normal {acc['normal']:.2f}, uniform {acc['uniform']:.2f}",
            "none (reported)",
            None,
            "mean final accuracy over seeds on the evaluation samples",
            dict(acc),
        ),
        check_uniform_scores(spec, m["association"]),
        check_attention_salient(
            spec,
            m["A(alpha,theory)"],
            m["A(alpha,theory) baseline"],
            m["tau(alpha,theory)"],
            m["tau(alpha,shuffled theory)"],
            m.get("argmax_vs_theory_top"),
        ),
        ck.check_agreement_table(spec, regime, m["agreements"], m["baselines"]),
    ]


# --------------------------------------------------------------------------- pipeline


def _figure(m: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    seen = ~np.isnan(m["word_scores"])
    ax1.scatter(m["signal"][seen], m["word_scores"][seen], s=12)
    ax1.set_xlabel("word-label co-occurrence c_i (theory, stage 1)")
    ax1.set_ylabel("uniform model's word score (log-odds of pos)")
    names = ["A(alpha,theory)", *m["agreements"]]
    vals = [m["A(alpha,theory)"], *m["agreements"].values()]
    base = [m["A(alpha,theory) baseline"], *m["baselines"].values()]
    ax2.bar(range(len(vals)), vals)
    ax2.scatter(range(len(vals)), base, color="k", marker="_", s=300, label="shuffled baseline")
    ax2.set_xticks(range(len(vals)), [n[2:-1] for n in names], rotation=20, fontsize=8)
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("top-5% match")
    ax2.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_classification(
    preset: str = "quick",
    *,
    spec: str | None = None,
    device: str = "auto",
    out_dir: Path = Path("ktiw-verify-classification"),
    reuse: bool = False,
    progress: bool = True,
    console: Console | None = None,
    overrides: dict[str, Any] | None = None,
) -> ExperimentResult:
    """Run the classification experiment (module docstring) on ``spec`` (default: the preset's
    keyword distribution), write ``report.md``/``verdicts.json``/``figures/classification.png``
    into ``out_dir`` and return the result (``exit_code`` 0 or 1)."""
    import ktiw.empirics.models.classifier as clf
    from ktiw.empirics.rundir import load_run
    from ktiw.theory.families import from_spec

    from .pipeline import obtain_run

    start = time.perf_counter()
    console = console or Console(stderr=True)
    pre = get_preset(preset).with_overrides(**(overrides or {}))
    dist = from_spec(spec or pre.spec)  # SpecError before any work
    if dist.n_out != 2 or dist.tgt_len != 1:
        raise KtiwError(
            f"{dist.spec}: the classification experiment needs a two-label distribution (keyword:...)"
        )
    out_dir = Path(out_dir)
    runs_dir = out_dir / "runs"
    runs: dict[str, Any] = {}
    for uniform in (False, True):
        kind = "uniform" if uniform else "normal"
        config = run_config(
            dist.spec,
            "classifier",
            clf.ClassifierConfig(hidden=pre.hidden, bidirectional=pre.bidirectional),
            preset=pre.name,
            seeds=list(range(pre.seeds)),
            steps=pre.steps,
            batch_size=pre.batch_size,
            lr=pre.lr,
            eval_every=pre.eval_every,
            eval_samples=pre.eval_samples,
            device=device,
            uniform=uniform,
            proxy_steps=pre.proxy_steps if not uniform else 0,
        )
        if progress:
            console.print(f"classification: training the {kind} classifier on {dist.spec} ...")
        path, _ = obtain_run(config, runs_dir, f"classifier-{kind}", reuse, progress)
        runs[kind] = load_run(path)
    C = dist.cooccurrence().dense()
    regime = "drift" if np.any(np.abs(C) > 0) else "saddle"
    normal, uniform_run = runs["normal"], runs["uniform"]
    m = measure(normal.probes(normal.probe_steps[-1]), uniform_run.probes(uniform_run.probe_steps[-1]), C)
    acc = {}
    for kind, run in runs.items():
        acc[kind] = float(np.mean([s["final_token_acc"] for s in run.summary["seeds"]]))
    verdicts = classification_verdicts(dist.spec, regime, m, acc)
    numbers = {
        "spec": dist.spec,
        "regime": regime,
        "accuracy": acc,
        **{k: v for k, v in m.items() if k not in ("word_scores", "signal")},
        "word_scores": m["word_scores"],
        "cooccurrence_pos": m["signal"],
        "runs": {k: str(r.path) for k, r in runs.items()},
    }
    meta = provenance_meta(
        "classification", pre, time.perf_counter() - start, normal.config.get("device", device)
    )
    result = ExperimentResult("classification", verdicts, numbers, meta, out_dir)
    result.figures["classification"] = _figure(m, out_dir / "figures" / "classification.png")
    rows = ["## Agreement table", "", "| pair | A | shuffled baseline |", "| --- | --- | --- |"]
    rows.append(f"| A(alpha, theory) | {m['A(alpha,theory)']:.3f} | {m['A(alpha,theory) baseline']:.3f} |")
    rows += [f"| {k} | {v:.3f} | {m['baselines'][k]:.3f} |" for k, v in m["agreements"].items()]
    rows += ["", f"Runs: {', '.join(f'{k}: `{r.path}`' for k, r in runs.items())}"]
    write_outputs(result, ["\n".join(rows)])
    return result
