"""``ktiw train`` against the plain-PyTorch reference (benchmarks/reference.py), interleaved in one run.

Workload: the paper's copying model (hidden 256, batch 128, Adam lr 1e-3) on
``permutation:L=40``.  ktiw trains ``S`` seeds as one stacked batch through the real
``ktiw.empirics.trainer.train`` (evaluation every 10 steps on 50 samples with every probe,
probe files at the schedule a 200-step run would use, checkpoints, the bag-of-words proxy);
the reference trains seed after seed with ``nn.LSTM`` and ``torch.optim.Adam``, evaluating
every 10 steps as the authors' script does.

Interleaving: after every ``--round-steps`` ktiw steps, a callback trains the reference for
``--ref-seeds`` seeds x ``--round-steps`` steps.  Each round gives one ratio of seed-steps/s
(ktiw / reference), so load from other jobs hits both alike; the script prints the median
ratio over rounds, and the whole-process ratio (ktiw's wall time from ``train()`` to the end,
set-up, compilation and proxy included, against the reference's total).  Phase 1 runs ktiw
with ``S = 1``, phase 2 with ``S = --seeds``.

``--precision bf16`` trains ktiw in bf16 mixed precision; ``--ref-precision bf16`` runs the
reference's forward pass under ``torch.autocast(bfloat16)`` (the user's alternative).

Reproduce:  python benchmarks/vs_reference.py [--threads 2] [--rounds 5] [--round-steps 10] [--seeds 20]
            [--precision fp32|bf16] [--ref-precision fp32|bf16]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ktiw.data.families import from_spec
from ktiw.empirics.train_config import TrainConfig, default_probe_every
from ktiw.empirics.trainer import Trainer, train

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference

SPEC, HIDDEN, BATCH, PAPER_STEPS = "permutation:L=40", 256, 128, 200


def phase(S: int, args: argparse.Namespace, out: Path) -> dict[str, float]:
    """Train ``S`` ktiw seeds for ``rounds x round_steps`` steps with reference rounds interleaved."""
    dist = from_spec(SPEC)
    steps = args.rounds * args.round_steps
    paper = TrainConfig(spec=SPEC, seeds=list(range(S)), steps=PAPER_STEPS, batch_size=BATCH)
    cfg = TrainConfig(
        spec=SPEC,
        seeds=list(range(S)),
        steps=steps,
        batch_size=BATCH,
        threads=args.threads,
        model_config={"hidden": HIDDEN},
        probe_every=default_probe_every(paper, 3, dist.tgt_len, dist.src_len),
        fused_cells=None if args.fused == "auto" else args.fused == "on",
        precision=args.precision,
    )
    ktiw_times: list[float] = []
    ref_times: list[float] = []
    loads: list[float] = []
    state = {"mark": 0.0, "seed": 1000}

    def between_rounds(tr: Trainer) -> None:
        if tr.step % args.round_steps:
            return
        now = time.perf_counter()
        ktiw_times.append(now - state["mark"])
        loads.append(os.getloadavg()[0])
        for _ in range(args.ref_seeds):
            reference.train_seed(
                dist,
                state["seed"],
                args.round_steps,
                hidden=HIDDEN,
                batch_size=BATCH,
                initial_eval=False,
                precision=args.ref_precision,
            )
            state["seed"] += 1
        ref_times.append(time.perf_counter() - now)
        print(
            f"  round {len(ref_times)}: ktiw {S * args.round_steps / ktiw_times[-1]:.3f}, reference "
            f"{args.ref_seeds * args.round_steps / ref_times[-1]:.3f} seed-steps/s, load {loads[-1]:.1f}",
            flush=True,
        )
        state["mark"] = time.perf_counter()

    t0 = time.perf_counter()
    state["mark"] = t0
    train(cfg, out / f"ktiw_S{S}", progress=False, callback=between_rounds)
    whole = time.perf_counter() - t0 - sum(ref_times)
    k_rate = np.array([S * args.round_steps / t for t in ktiw_times])
    r_rate = np.array([args.ref_seeds * args.round_steps / t for t in ref_times])
    ratios = k_rate / r_rate
    whole_ratio = (S * steps / whole) / (args.ref_seeds * args.rounds * args.round_steps / sum(ref_times))
    print(
        f"\nS={S}: {args.rounds} rounds of {args.round_steps} steps "
        f"(reference: {args.ref_seeds} seeds per round)"
    )
    print(f"  load average (1 min) at each round: {[round(x, 1) for x in loads]}")
    print(f"  ktiw seed-steps/s per round:      {np.round(k_rate, 3).tolist()}")
    print(f"  reference seed-steps/s per round: {np.round(r_rate, 3).tolist()}")
    print(f"  ratio per round: {np.round(ratios, 2).tolist()}   median ratio: {np.median(ratios):.2f}")
    print(
        f"  whole ktiw process (set-up, proxy, compilation, {steps} steps, evals, probes): {whole:.1f} s "
        f"for {S * steps} seed-steps; ratio to the reference: {whole_ratio:.2f}"
    )
    return {"median_ratio": float(np.median(ratios)), "whole_ratio": whole_ratio}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--round-steps", type=int, default=10)
    ap.add_argument("--ref-seeds", type=int, default=2, help="reference seeds trained per round")
    ap.add_argument("--seeds", type=int, default=20, help="ktiw's S in phase 2")
    ap.add_argument(
        "--fused",
        choices=["auto", "on", "off"],
        default="on",
        help="fused LSTM cells; 'on' is what 'auto' picks for a 200-step paper run with 20 seeds",
    )
    ap.add_argument("--skip-s1", action="store_true", help="only phase 2")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="ktiw's precision")
    ap.add_argument("--ref-precision", choices=["fp32", "bf16"], default="fp32", help="the reference's")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"machine: {platform.machine()} {platform.processor() or platform.platform()}, "
        f"{os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, threads {args.threads}; {SPEC}, hidden {HIDDEN}, batch {BATCH}; "
        f"precision ktiw {args.precision}, reference {args.ref_precision}"
    )
    print(f"load average before: {tuple(round(x, 2) for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_s1:
            phase(1, args, Path(tmp))
        phase(args.seeds, args, Path(tmp))
    print(f"load average after: {tuple(round(x, 2) for x in os.getloadavg())}")
    print(
        "reproduce: python benchmarks/vs_reference.py "
        f"--threads {args.threads} --rounds {args.rounds} --round-steps {args.round_steps} "
        f"--ref-seeds {args.ref_seeds} --seeds {args.seeds} --fused {args.fused} "
        f"--precision {args.precision} --ref-precision {args.ref_precision}"
    )


if __name__ == "__main__":
    main()
