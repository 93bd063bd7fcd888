"""Own work (snapshot received → order on the wire, minus Bybit round trips) of two source
trees, measured alternately on the same machine at the same time: a paired comparison that
still means something when the machine is loaded and absolute figures do not.

    python benchmarks/bench_engine_pair.py BASE_SRC NEW_SRC [--signals 500] [--rounds 2]

Each measurement is engine_overhead.measure() ("the product as it is") in a fresh child with
PYTHONPATH=<tree>, pinned to core 0; it prints p50 / p99 / max, the round trips before each
order and the load average.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

CHILD = """
import asyncio, os, sys
sys.path.insert(0, {bench!r})
from engine_overhead import WhatIf, measure, summarize
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {{0}})
r = asyncio.run(measure({signals}, 50, WhatIf()))
s = summarize(r)
_, p50, p99, top = s["rows"][0][:4]
trips = ", ".join(f"{{k}} x{{v}}" for k, v in sorted(s["round_trips"].items()))
load = ", ".join(f"{{x:.1f}}" for x in os.getloadavg())
print(f"p50 {{p50:.2f}} ms, p99 {{p99:.2f}} ms, max {{top:.2f}} ms; round trips: {{trips}};"
      f" polls without one order: {{r['misses']}}; load {{load}}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs=2, metavar="SRC", help="two src/ directories")
    parser.add_argument("--signals", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    bench = str(Path(__file__).resolve().parent)
    code = CHILD.format(bench=bench, signals=args.signals)
    for _ in range(args.rounds):
        for tree in args.trees:
            env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve())}
            out = subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True
            )
            print(f"{tree}: {out.stdout.strip() or out.stderr.strip()[-500:]}", flush=True)


if __name__ == "__main__":
    main()
