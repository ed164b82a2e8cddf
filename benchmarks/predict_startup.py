"""How fast `ktiw predict subset:L=40,V=60` answers (target: well under a second after start-up).

Measures, each as the median of several runs:

* the whole command in a fresh process (``ktiw predict SPEC --json``), and a bare
  ``python -c pass`` for the interpreter's own start-up;
* inside one process, after imports: ``predict(from_spec(SPEC))``;

and checks that neither torch nor sympy gets imported on that path.  The first run ever on a
machine derives the copy reduction with sympy and caches it (see ``ktiw.core.cache``); the
warm-up run below does that, so the figures are for a warm cache.

Reproduce: python benchmarks/predict_startup.py [SPEC] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

CHECK = """
import sys, time, json
t0 = time.perf_counter()
from ktiw.data.families import from_spec
from ktiw.theory.predict import predict
t1 = time.perf_counter()
p = predict(from_spec(sys.argv[1]))
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "predict_s": t2 - t1, "regime": p.regime,
                  "torch": "torch" in sys.modules, "sympy": "sympy" in sys.modules}))
"""


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec", nargs="?", default="subset:L=40,V=60")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    ktiw = ["ktiw"]
    subprocess.run([*ktiw, "predict", args.spec, "--json"], check=True, capture_output=True)  # warm the cache
    bare = statistics.median(wall([sys.executable, "-c", "pass"]) for _ in range(args.runs))
    cli = statistics.median(wall([*ktiw, "predict", args.spec, "--json"]) for _ in range(args.runs))
    inner = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", CHECK, args.spec], check=True, capture_output=True, text=True
            ).stdout
        )
        for _ in range(args.runs)
    ]
    imp = statistics.median(r["import_s"] for r in inner)
    pred = statistics.median(r["predict_s"] for r in inner)
    first = inner[0]
    print(f"spec: {args.spec}  (median of {args.runs} runs, warm cache)")
    print(f"  python -c pass                      {bare * 1000:7.1f} ms")
    print(f"  ktiw predict {args.spec} --json   {cli * 1000:7.1f} ms  (whole process)")
    print(f"  import ktiw.theory predict path     {imp * 1000:7.1f} ms")
    print(f"  predict(from_spec(spec))            {pred * 1000:7.1f} ms")
    print(f"  regime: {first['regime']}; torch imported: {first['torch']}; sympy imported: {first['sympy']}")
    print(f"reproduce: python benchmarks/predict_startup.py {args.spec} --runs {args.runs}")


if __name__ == "__main__":
    main()
