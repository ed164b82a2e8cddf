"""Training speed of the paper-sized LSTM (L=40, hidden 256, batch 128), S seeds at once.

Prints, for each S: seconds per step (wall and process CPU), seed-steps per second, achieved
GFLOP/s (matmul FLOPs of forward + backward, from the recorded products below), and
``achieved/ceiling``: the ceiling is the GFLOP/s of the step's *own* matrix products, every
``mm``/``bmm``/``addmm``/``baddbmm`` the step calls (recorded once by a dispatch mode, with
their shapes and dtype, so under ``--precision bf16`` the bfloat16 ones), replayed alone on
contiguous operands in the same round.  So ``achieved/ceiling`` = (time of the step's GEMMs
alone) / (step time): the share of the step that is GEMM work at the GEMMs' own speed, and
1 - it is everything else (pointwise cells, copies, Adam, data, Python).  The plain
``bmm 20x5248x256 @ 20x256x1024`` of earlier versions is printed as well.  Rounds alternate
the configurations and each figure is the median over rounds, so load from other jobs on a
shared CPU hits all of them alike.
Targets: on a 2-core CPU, S=20 gives >= 1.5x the seed-steps/s of S=1 (i.e. of 20
sequential single-seed runs) and >= half the matmul ceiling; on a GPU, S=20 costs at most 2x
the wall time of S=1.

Reproduce:  python benchmarks/train_speed.py [--threads 1|2] [--rounds 3] [--seeds 1,20] [--device cpu|cuda]
            [--precision fp32|bf16] [--fused on|off]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ktiw.data.families import from_spec
from ktiw.empirics import batched as bt
from ktiw.empirics.models import build_model
from ktiw.empirics.optim import SeedAdam
from ktiw.empirics.precision import autocast, check_precision


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_ceiling(device: str, dtype: torch.dtype, reps: int = 3) -> float:
    """GFLOP/s of bmm [20, 128*41, 256] x [20, 256, 1024] (the LSTM input projection at S=20)."""
    a = torch.randn(20, 128 * 41, 256, device=device, dtype=dtype)
    b = torch.randn(20, 256, 1024, device=device, dtype=dtype)
    torch.bmm(a, b)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        torch.bmm(a, b)
    sync(device)
    return 2 * a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2] * reps / (time.perf_counter() - t0) / 1e9


_GEMMS = {
    torch.ops.aten.mm: (0, 1),
    torch.ops.aten.bmm: (0, 1),
    torch.ops.aten.addmm: (1, 2),
    torch.ops.aten.baddbmm: (1, 2),
}


class GemmShapes(TorchDispatchMode):
    """Records ``(batch, m, k, n, dtype)`` of every matrix product called below autograd and
    autocast (so the shapes and dtypes the kernels really run)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, int, int, int, torch.dtype]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        where = _GEMMS.get(func._overloadpacket)
        if where is not None:
            a, b = args[where[0]], args[where[1]]
            batch = a.shape[0] if a.dim() == 3 else 1
            self.calls.append((batch, a.shape[-2], a.shape[-1], b.shape[-1], a.dtype))
        return func(*args, **(kwargs or {}))


class GemmReplay:
    """The recorded products on fresh contiguous operands (one set per distinct shape and dtype,
    run as many times as the step calls it): :meth:`seconds` times them all once."""

    def __init__(self, calls: list[tuple[int, int, int, int, torch.dtype]], device: str) -> None:
        counts: dict[tuple[int, int, int, int, torch.dtype], int] = {}
        for call in calls:
            counts[call] = counts.get(call, 0) + 1
        self.ops = []
        self.flops = 0
        for (batch, m, k, n, dtype), count in counts.items():
            a = torch.randn(batch, m, k, device=device).to(dtype)
            b = torch.randn(batch, k, n, device=device).to(dtype)
            self.ops.append((a, b, torch.empty(batch, m, n, device=device, dtype=dtype), count))
            self.flops += 2 * batch * m * k * n * count

    def seconds(self, device: str) -> float:
        for a, b, out, _ in self.ops:  # warm
            torch.bmm(a, b, out=out)
        sync(device)
        t0 = time.perf_counter()
        for a, b, out, count in self.ops:
            for _ in range(count):
                torch.bmm(a, b, out=out)
        sync(device)
        return time.perf_counter() - t0


class Bench:
    """One S-seed model with optimiser and data streams; :meth:`step` is one training step."""

    def __init__(
        self, S: int, device: str, dtype: torch.dtype, spec: str, hidden: int, precision: str = "fp32"
    ) -> None:
        self.S, self.device, self.precision = S, device, precision
        self.dist = from_spec(spec)
        model, _ = build_model("lstm", {"hidden": hidden}, self.dist, S, uniform=False)
        self.model = model.to(dtype)
        for s in range(S):
            self.model.init_seed(s, torch.Generator().manual_seed(s))
        self.model.to(device)
        self.opt = SeedAdam(self.model.named_parameters(), S)
        self.active = torch.ones(S, dtype=torch.bool, device=device)
        self.rngs = [np.random.default_rng([1, s]) for s in range(S)]
        with GemmShapes() as shapes:
            self.step()
        self.gemms = GemmReplay(shapes.calls, device)
        self.flops = self.gemms.flops  # forward + backward matmul FLOPs (what FlopCounterMode counts)

    def step(self) -> None:
        inputs = self.model.prepare([self.dist.sample(128, r) for r in self.rngs])
        self.model.zero_grad(set_to_none=True)
        with autocast(self.precision, self.device):
            losses = self.model.losses(inputs)
        losses.float().sum().backward()
        self.opt.step(self.active)

    def timed(self, steps: int) -> tuple[float, float]:
        """(wall seconds, process CPU seconds) per step."""
        sync(self.device)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            self.step()
        sync(self.device)
        return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps


class RefBench:
    """The plain-PyTorch reference (benchmarks/reference.py: ``nn.LSTM``, ``torch.optim.Adam``),
    one seed, training steps without evaluation; ``bf16``: forward and loss under
    ``torch.autocast(bfloat16)``.  Seeds one after another, so its seed-steps/s is its steps/s."""

    def __init__(self, spec: str, hidden: int, precision: str) -> None:
        import reference  # benchmarks/reference.py

        self.ref, self.precision, self.S = reference, precision, 1
        self.dist = from_spec(spec)
        self.model = reference.build(self.dist, hidden, 0)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.rng = np.random.default_rng([1, 0])

    def timed(self, steps: int) -> tuple[float, float]:
        import torch.nn.functional as F

        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            src, dec_in, dec_out = self.ref.tensors(
                self.dist.sample(128, self.rng), self.dist.n_in, self.dist.n_out
            )
            self.opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
                out, _ = self.model(src, dec_in)
                loss = F.cross_entropy(out.flatten(0, 1), dec_out.flatten())
            loss.backward()
            self.opt.step()
        return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1, help="steps per round for S > 1 (S = 1 does 4x as many)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seeds", default="1,20", help="comma list of S values")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--spec", default="subset:L=40,V=60")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--precision", default="fp32", help="fp32, bf16 or both (fp32,bf16), interleaved")
    ap.add_argument("--fused", default="on", choices=["on", "off"], help="fused LSTM cells")
    ap.add_argument(
        "--reference", action="store_true", help="also time the plain-PyTorch reference in each precision"
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    precisions = args.precision.split(",")
    for p in precisions:
        check_precision(p, args.device)
    dtype = getattr(torch, args.dtype)
    dev_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor()
    print(
        f"machine: {platform.machine()} {dev_name or platform.platform()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}, {args.dtype}, "
        f"precision {args.precision}"
    )
    load0 = os.getloadavg()
    sizes = [int(x) for x in args.seeds.split(",")]
    # shapes recorded (under the dispatch mode) before the cells are compiled: a compiled
    # function first called under a mode is skipped by dynamo for the rest of the process
    benches: dict[tuple[str, str], Any] = {
        (p, f"S={S}"): Bench(S, args.device, dtype, args.spec, args.hidden, p)
        for p in precisions
        for S in sizes
    }
    if args.reference:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        for p in precisions:
            benches[(p, "reference")] = RefBench(args.spec, args.hidden, p)
    fused = bt.fuse_cells(args.fused == "on")
    for b in benches.values():
        b.timed(1)  # compile, warm
    walls: dict[tuple[str, str], list[float]] = {k: [] for k in benches}
    cpus: dict[tuple[str, str], list[float]] = {k: [] for k in benches}
    gemm: dict[tuple[str, str], list[float]] = {k: [] for k in benches}
    ceilings = []
    for _ in range(args.rounds):
        ceilings.append(matmul_ceiling(args.device, dtype))
        for k, b in benches.items():
            wall, cpu = b.timed(args.steps if b.S > 1 else 4 * args.steps)
            walls[k].append(wall)
            cpus[k].append(cpu)
            if isinstance(b, Bench):
                gemm[k].append(b.gemms.seconds(args.device))
    ceiling = float(np.median(ceilings))
    print(f"fused cells: {fused}")
    print(
        f"plain bmm 20x5248x256 @ 20x256x1024 ({args.dtype}, median of {args.rounds}): {ceiling:.1f} GFLOP/s"
    )
    cols = ("s/step", "cpu-s/step", "seed-steps/s", "GFLOP/s", "ceiling GF/s", "achvd/ceil")
    print(f"{'precision':>9} {'run':>9} " + " ".join(f"{c:>12}" for c in cols))
    rates = {}
    for (p, name), b in benches.items():
        wall, cpu = float(np.median(walls[(p, name)])), float(np.median(cpus[(p, name)]))
        rates[(p, name)] = b.S / wall
        if isinstance(b, Bench):
            gflops = f"{b.flops / wall / 1e9:12.1f}"
            own = b.gemms.flops / float(np.median(gemm[(p, name)])) / 1e9  # the step's own GEMMs, alone
            extra = f"{gflops} {own:>12.1f} {b.gemms.flops / wall / 1e9 / own:>12.2f}"
        else:
            extra = f"{'-':>12} {'-':>12} {'-':>12}"
        print(f"{p:>9} {name:>9} {wall:>12.3f} {cpu:>12.3f} {b.S / wall:>12.3f} {extra}")
    pairs = []  # (numerator, denominator): ktiw against the reference, bf16 against fp32
    for p in precisions:
        for S in sizes:
            pairs += [
                ((p, f"S={S}"), (q, "reference")) for q in dict.fromkeys(["fp32", p]) if q in precisions
            ]
            if p == "bf16" and "fp32" in precisions:
                pairs.append(((p, f"S={S}"), ("fp32", f"S={S}")))
        if p == "bf16" and "fp32" in precisions:
            pairs.append(((p, "reference"), ("fp32", "reference")))
    for a, b in pairs:
        if a in rates and b in rates:
            print(f"ratio {' '.join(a)} / {' '.join(b)}: {rates[a] / rates[b]:.2f} (seed-steps/s, medians)")
    print(
        f"load average (1, 5, 15 min) before: {tuple(round(x, 2) for x in load0)}, "
        f"after: {tuple(round(x, 2) for x in os.getloadavg())}; cpu-s/step = process CPU time, all threads"
    )
    print(
        f"reproduce: python benchmarks/train_speed.py --steps {args.steps} --rounds {args.rounds} "
        f"--seeds {args.seeds} --threads {torch.get_num_threads()} --device {args.device} "
        f"--dtype {args.dtype} --precision {args.precision} --fused {args.fused}"
        + (" --reference" if args.reference else "")
    )


if __name__ == "__main__":
    main()
