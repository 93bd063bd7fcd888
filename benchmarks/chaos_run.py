"""Chaos run: the real bot against the fakes, SIGKILLed at random around leader changes.

    python benchmarks/chaos_run.py --kills 200 --seed 1 --out /tmp/chaos

Prints kills, doubled orders, missed closes and drift left at the end (target 0 / 0 / 0) and
exits 1 if any of them is not 0. See lightspeed_cli/sim/chaos.py for what it does.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from lightspeed_cli.sim.chaos import run_chaos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs in the run (200)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument("--traders", type=int, default=2, choices=(1, 2), help="leaders (2)")
    parser.add_argument("--faults", type=float, default=0.5, help="fault chance per round")
    parser.add_argument("--max-kill-delay", type=float, default=1.5, help="seconds (1.5)")
    parser.add_argument(
        "--early-kills", type=float, default=0.3, help="chance of a kill while starting (0.3)"
    )
    parser.add_argument("--out", type=Path, default=None, help="work dir (default: a temp dir)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every round")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="lightspeed-chaos-"))
    print(f"chaos run in {out}", flush=True)

    def log(line: str) -> None:
        if args.verbose:
            print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)

    report = run_chaos(
        out,
        kills=args.kills,
        seed=args.seed,
        traders=args.traders,
        fault_probability=args.faults,
        max_kill_delay=args.max_kill_delay,
        early_kill_probability=args.early_kills,
        log=log,
    )
    print(report.line())
    for detail in report.details:
        print(f"  {detail}")
    bad = report.doubled + report.missed_closes + report.drift_left + report.missing_from_journal
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
