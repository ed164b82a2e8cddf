"""Where one training step of the paper-sized LSTM spends its time, and its matmul FLOPs.

Runs one step (prepare, forward, backward, Adam) of ``S`` stacked seeds on ``permutation:L=40``
(hidden 256, batch 128) under ``torch.profiler`` and prints the operators by self CPU time,
after counting the matmul FLOPs of one seed's forward + backward (``torch.utils.flop_counter``).

Reproduce:  python benchmarks/profile_step.py [--seeds 4] [--threads 2] [--fused on|off]
            [--precision fp32|bf16]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from ktiw.data.families import from_spec
from ktiw.empirics import batched as bt
from ktiw.empirics.models import build_model
from ktiw.empirics.optim import SeedAdam
from ktiw.empirics.precision import autocast, check_precision


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fused", choices=["on", "off"], default="on")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    args = ap.parse_args()
    check_precision(args.precision, "cpu")
    torch.set_num_threads(args.threads)
    dist = from_spec("permutation:L=40")

    def model(S: int) -> torch.nn.Module:
        m, _ = build_model("lstm", {"hidden": 256}, dist, S, uniform=False)
        for s in range(S):
            m.init_seed(s, torch.Generator().manual_seed(s))
        return m

    one = model(1)
    with FlopCounterMode(display=False) as counter:
        one.losses(one.prepare([dist.sample(128, np.random.default_rng(0))])).sum().backward()
    print(f"matmul GFLOP per seed-step (forward + backward): {counter.get_total_flops() / 1e9:.1f}")
    # fuse only now: a compiled function first called under FlopCounterMode is skipped by
    # dynamo for the rest of the process, so counting after fusing would profile eager cells
    fused = bt.fuse_cells(args.fused == "on")
    S = args.seeds
    m = model(S)
    opt = SeedAdam(m.named_parameters(), S)
    active = torch.ones(S, dtype=torch.bool)
    rngs = [np.random.default_rng([1, s]) for s in range(S)]

    def step() -> None:
        inputs = m.prepare([dist.sample(128, r) for r in rngs])
        m.zero_grad(set_to_none=True)
        with autocast(args.precision, "cpu"):
            losses = m.losses(inputs)
        losses.float().sum().backward()
        opt.step(active)

    step()
    step()  # warm: compiled cells, allocator
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        step()
        wall = time.perf_counter() - t0
    print(
        f"S={S}, threads {args.threads}, fused cells {fused}, {args.precision}: one step {wall:.2f} s, "
        f"load average {tuple(round(x, 1) for x in os.getloadavg())}"
    )
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=14))
    print(
        "reproduce: python benchmarks/profile_step.py "
        f"--seeds {S} --threads {args.threads} --fused {args.fused} --precision {args.precision}"
    )


if __name__ == "__main__":
    main()
