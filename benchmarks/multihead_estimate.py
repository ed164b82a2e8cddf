"""How long ``ktiw verify --experiment multihead --preset paper`` would take here, from measured steps.

The paper preset trains, on ``permutation:L=40`` (GRU hidden 256, batch 128, 200 steps):
``candidates x data_seeds`` single-head seeds (150 x 3 = 450, in batched runs of at most
``max_seeds_per_run`` = 60 seeds), then three groups (all-bad, one-good, random) of
``combinations`` = 50 eight-head models.  This script times training steps of the multihead
model at that size (S seeds stacked, heads 1 and 8, each precision asked for; evaluation
excluded, so the estimate is a lower bound), alternating the configurations over rounds, and
prints seed-steps/s (wall and process-CPU) and the total:

    hours = (450 x 200 / rate(heads=1) + 3 x 50 x 200 / rate(heads=8)) / 3600

Reproduce:  python benchmarks/multihead_estimate.py [--seeds 10] [--steps 2] [--rounds 2]
            [--threads 2] [--precisions fp32,bf16]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from ktiw.config.presets import get_preset
from ktiw.data.families import from_spec
from ktiw.empirics.models import build_model
from ktiw.empirics.optim import SeedAdam
from ktiw.empirics.precision import autocast, check_precision


class Step:
    """S seeds of the paper-size multihead model with ``heads`` heads, Adam, fresh batches."""

    def __init__(self, S: int, heads: int, precision: str, spec: str, hidden: int, batch: int) -> None:
        self.dist = from_spec(spec)
        self.batch, self.precision = batch, precision
        self.model, _ = build_model(
            "multihead", {"hidden": hidden, "heads": heads}, self.dist, S, uniform=False
        )
        for s in range(S):
            self.model.init_seed(s, torch.Generator().manual_seed(s))
        self.opt = SeedAdam(self.model.named_parameters(), S)
        self.active = torch.ones(S, dtype=torch.bool)
        self.rngs = [np.random.default_rng([1, s]) for s in range(S)]
        self.S = S

    def run(self, steps: int) -> tuple[float, float]:
        """(wall, process CPU) seconds per step."""
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            inputs = self.model.prepare([self.dist.sample(self.batch, r) for r in self.rngs])
            self.model.zero_grad(set_to_none=True)
            with autocast(self.precision, "cpu"):
                losses = self.model.losses(inputs)
            losses.float().sum().backward()
            self.opt.step(self.active)
        return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10, help="S stacked seeds timed")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precisions", default="fp32,bf16")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pre = get_preset("multihead", "paper")
    t = pre.training
    hidden, heads = int(t.model_config["hidden"]), int(t.model_config["heads"])
    singles = pre.candidates * pre.data_seeds * t.steps
    groups = 3 * pre.combinations * t.steps
    precisions = args.precisions.split(",")
    for p in precisions:
        check_precision(p, "cpu")
    load0 = os.getloadavg()
    steps = {
        (p, h): Step(args.seeds, h, p, pre.spec, hidden, t.batch_size) for p in precisions for h in (1, heads)
    }
    for s in steps.values():
        s.run(1)  # warm
    wall: dict[tuple[str, int], list[float]] = {k: [] for k in steps}
    cpu: dict[tuple[str, int], list[float]] = {k: [] for k in steps}
    for _ in range(args.rounds):
        for k, s in steps.items():
            w, c = s.run(args.steps)
            wall[k].append(w)
            cpu[k].append(c)
    print(
        f"multihead paper preset: {pre.spec}, hidden {hidden}, batch {t.batch_size}, {t.steps} steps; "
        f"{singles} single-head and {groups} {heads}-head seed-steps; S={args.seeds}, threads {args.threads}"
    )
    for p in precisions:
        rates = {}
        for h in (1, heads):
            w, c = float(np.median(wall[(p, h)])), float(np.median(cpu[(p, h)]))
            rates[h] = (args.seeds / w, args.seeds / c * args.threads)
            print(
                f"  {p} heads={h}: {w:.2f} s/step wall, {c:.2f} cpu-s/step; "
                f"{rates[h][0]:.2f} seed-steps/s (wall), {rates[h][1]:.2f} if the {args.threads} threads "
                "had their cores (cpu time)"
            )
        for i, what in enumerate(("at this run's wall speed", "with the cores to itself (cpu time)")):
            hours = (singles / rates[1][i] + groups / rates[heads][i]) / 3600
            print(f"  {p}: estimated training time {what}: {hours:.1f} h (evaluation not counted)")
    print(
        f"load average before {tuple(round(x, 1) for x in load0)}, "
        f"after {tuple(round(x, 1) for x in os.getloadavg())}"
    )
    print(
        f"reproduce: python benchmarks/multihead_estimate.py --seeds {args.seeds} --steps {args.steps} "
        f"--rounds {args.rounds} --threads {args.threads} --precisions {args.precisions}"
    )


if __name__ == "__main__":
    main()
