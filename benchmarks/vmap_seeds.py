"""S seeds of one single-seed module: ktiw's vmapped path against a plain loop of seeds.

The vmapped path is what ``ktiw train --model transformer`` runs
(:class:`ktiw.empirics.models.module_seeds.ModuleSeeds`: stacked parameters,
``torch.vmap(functional_call)``, :class:`~ktiw.empirics.optim.SeedAdam`).  The reference is
the usual way: ``S`` separate modules, each with its own ``torch.optim.Adam``, one after the
other, the same loss (mean token NLL) on the same batches.  Both are timed in the same process,
alternating step by step, so they see the same load.  Figure: median seconds per training step
(forward + backward + Adam for all S seeds) and the ratio loop / vmap (> 1: vmap faster).

    python benchmarks/vmap_seeds.py                       # quick and paper-like sizes, S = 1 and 20
    python benchmarks/vmap_seeds.py --sizes quick --steps 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

from ktiw.data.families import from_spec
from ktiw.empirics.models import build_model
from ktiw.empirics.models.loss import token_mean_nll
from ktiw.empirics.models.transformer import Transformer, TransformerConfig
from ktiw.empirics.optim import SeedAdam

SIZES = {
    # the copy experiment's quick preset for the transformer
    "quick": ("permutation:L=8", 64, {"d_model": 64, "n_layer": 1, "n_head": 4}),
    # the paper's copy sizes (L = 40, batch 128) with the paper preset's transformer
    "paper": ("permutation:L=40", 128, {"d_model": 256, "n_layer": 2, "n_head": 8}),
}


def bench(size: str, S: int, steps: int) -> tuple[float, float]:
    spec, batch, options = SIZES[size]
    dist = from_spec(spec)
    model, _ = build_model("transformer", options, dist, S, uniform=False)
    for s in range(S):
        model.init_seed(s, torch.Generator().manual_seed(s))
    opt = SeedAdam(model.named_parameters(), S, 1e-3)
    # the usual way: S modules with the same initial weights, S Adams
    cfg = TransformerConfig(**options)
    nets = []
    for s in range(S):
        net = Transformer(model.task, cfg)
        net.load_state_dict({k: v[s] for k, v in model.net.state_dict().items()})
        nets.append(net)
    adams = [torch.optim.Adam(n.parameters(), lr=1e-3) for n in nets]
    rngs = [np.random.default_rng([1, s]) for s in range(S)]
    t_vmap, t_loop = [], []
    for _ in range(steps + 1):  # the first step of each is a warm-up
        inp = model.prepare([dist.sample(batch, r) for r in rngs])
        t0 = time.perf_counter()
        model.zero_grad(set_to_none=True)
        model.losses(inp).sum().backward()
        opt.update(None, {n: p.grad for n, p in model.named_parameters()})
        t1 = time.perf_counter()
        for s, (net, adam) in enumerate(zip(nets, adams, strict=True)):
            adam.zero_grad(set_to_none=True)
            out = net(inp.src_ids[s], inp.src_valid[s], inp.dec_in[s])
            token_mean_nll(out[None], inp.dec_out[s : s + 1], inp.dec_valid[s : s + 1]).sum().backward()
            adam.step()
        t2 = time.perf_counter()
        t_vmap.append(t1 - t0)
        t_loop.append(t2 - t1)
    return statistics.median(t_vmap[1:]), statistics.median(t_loop[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 20])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print("command: python " + " ".join(sys.argv))
    print(
        f"load before: {os.getloadavg()[0]:.1f} (1-min average), {os.cpu_count()} CPUs, "
        f"{args.threads} thread(s)"
    )
    print("size   S   vmap s/step   loop s/step   loop/vmap")
    for size in args.sizes:
        for S in args.seeds:
            v, lo = bench(size, S, args.steps)
            print(f"{size:6s} {S:3d}   {v:10.3f}   {lo:10.3f}   {lo / v:8.2f}", flush=True)
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
