"""Engine benchmarks (issue 7): snapshot-received → order-sent overhead, and CPU / peak RSS while
following 200 traders; the figures go to BENCHMARKS.md under "## Engine" (only that section).

1. Overhead: 1,000 signals (after a warm-up) through the real engine, BinanceSource and
   BybitBroker (ccxt), against the fake Binance and the fake Bybit, each in its own process.
   See engine_overhead.py for exactly what is timed. Then the same with two what-ifs (the Bybit
   reads served from memory) to size the fixes; the intent commits at synchronous=FULL.
2. Follow: `Engine.run` for 60 s on 200 demo traders at a 1 s interval against the fake Binance
   (own process, 50 ms added per answer), in a fresh child per broker: the real BybitBroker
   against the fake Bybit, and a broker that never imports ccxt. See engine_follow.py.

This process pins itself to core 0 and the fakes to the last core when there are two or more.

    python benchmarks/bench_engine.py [--signals 1000] [--seconds 60] [--only overhead|follow]
                                      [--product-only] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from engine_breakdown import breakdown, timed_steps
from engine_breakdown import render as render_breakdown
from engine_follow import run_child
from engine_overhead import TRADERS, WhatIf, measure, pct, render_rows, summarize
from fakeprocs import fake_binance_demo, fake_bybit
from mdsection import write_section

from lightspeed_cli.sim.binance import demo_traders

SECTION = "## Engine"
TARGET_P99_MS = 5.0
TARGET_RSS_MB = 200.0
WHAT_IFS = (
    WhatIf(),
    WhatIf(cached_reads=True),
)


def commit_latency(sync: str, autocheckpoint: int, commits: int = 3000) -> tuple[float, ...]:
    """p50 / p99 / max ms of a small committed transaction (a row of ~1 KB plus its index) in
    WAL mode on the journal's disk; enough commits to cross several auto-checkpoints."""
    with tempfile.TemporaryDirectory(prefix="ls-bench-") as tmp:
        db = sqlite3.connect(Path(tmp) / "probe.sqlite3", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={sync}")
        db.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")
        db.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")
        db.execute("CREATE INDEX tb ON t (b)")
        took = []
        for _ in range(commits):
            started = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO t (b) VALUES (?)", (os.urandom(500).hex(),))
            db.execute("COMMIT")
            took.append((time.perf_counter() - started) * 1000)
        db.close()
    return pct(took, 50), pct(took, 99), max(took)


def overhead_part(args: argparse.Namespace) -> str:
    lines = [
        f"### Snapshot received → order sent ({args.signals:,} signals)",
        "",
        f"{len(TRADERS)} traders × 3 symbols, each poll moves one position one step (open,"
        " increase, reduce, close, round robin), so every snapshot is exactly one signal and one"
        f" order; {args.warmup} warm-up signals are not counted. Real engine, BinanceSource and"
        " BybitBroker (ccxt 4.5) on this process's asyncio loop; the fake Binance and the fake"
        " Bybit each in their own process; journal on the local ext4 disk; INFO logging to"
        " /dev/null through `logsetup.configure`.",
        "",
        "What is timed (`time.perf_counter()`, per signal): **t0** = `Engine.handle_snapshot`"
        " entered (snapshot fetched and parsed); **execute** = `broker.execute` entered (where"
        " `Engine.signal_overhead_ms` stops); **on the wire** = aiohttp wrote the"
        " /v5/order/create request to the socket (trace hook `on_request_chunk_sent`, after ccxt"
        " built and signed it). Bybit round trips in between are aiohttp `on_request_start` →"
        " `on_request_end` of each request (aiohttp's own send work for them counts as round trip,"
        " ccxt's signing / parsing / retry wrapper around them counts as the bot's work)."
        " **Own work = (on the wire − t0) − those round trips.**",
        "",
    ]
    for what_if in WHAT_IFS[:1] if args.product_only else WHAT_IFS:
        result = asyncio.run(measure(args.signals, args.warmup, what_if))
        summary = summarize(result)
        rows = summary["rows"]
        own_p99 = rows[0][2]
        verdict = "met" if own_p99 < TARGET_P99_MS else "**missed**"
        trips = ", ".join(f"{path} ×{n}" for path, n in sorted(summary["round_trips"].items()))
        per = result["cpu_s"] / max(1, result["orders"]) * 1000
        lines += [
            f"#### {what_if.label}"
            + ("" if what_if == WhatIf() else " (what-if, not the product)"),
            "",
            render_rows(rows).rstrip("\n"),
            "",
            f"Signals measured: {summary['signals']}; polls without exactly one order:"
            f" {result['misses']}; refusals: {result['refusals']}. Round trips before the order:"
            f" {trips or 'none'}. CPU for the whole loop (poll, signal, order, fill lookup,"
            f" journal): {per:.1f} ms per signal.",
            f"Target own-work p99 < {TARGET_P99_MS:g} ms: {verdict} ({own_p99:.2f} ms).",
            "",
        ]
        print(f"overhead [{what_if.label}]: own p50 {rows[0][1]:.2f} p99 {own_p99:.2f} ms")
    if args.repeats:
        again = []
        for _ in range(args.repeats):
            rows = summarize(asyncio.run(measure(args.signals, args.warmup)))["rows"]
            again.append(f"p50 {rows[0][1]:.2f} / p99 {rows[0][2]:.2f} ms")
        lines += [
            f"The product as it is, own work in {args.repeats} more runs of {args.signals:,}"
            f" signals (run-to-run spread on this shared machine): {'; '.join(again)}.",
            "",
        ]
    with timed_steps() as events:
        result = asyncio.run(measure(args.signals, args.warmup))
    lines += [
        "#### Where the engine's part goes (the product as it is; a separate run with timers)",
        "",
        render_breakdown(breakdown(result["timings"], events)).rstrip("\n"),
        "",
    ]
    probes = []
    for sync, auto in (("FULL", 1000), ("NORMAL", 1000), ("FULL", 0), ("NORMAL", 0)):
        p50, p99, top = commit_latency(sync, auto)
        probes.append(
            f"synchronous={sync}, wal_autocheckpoint={auto}: p50 {p50:.2f} / p99 {p99:.2f} /"
            f" max {top:.1f} ms"
        )
    lines += [
        "A small SQLite WAL commit on this disk (3,000 commits of a ~1 KB row; the commit that"
        " crosses wal_autocheckpoint pages runs the checkpoint itself): " + "; ".join(probes) + ".",
        "",
    ]
    return "\n".join(lines)


def follow_part(args: argparse.Namespace) -> str:
    spec = {
        "traders": args.traders,
        "trader_list": demo_traders(args.traders),  # the fake's ids; the child skips importing it
        "interval": args.interval,
        "seconds": args.seconds,
    }
    with fake_binance_demo(args.traders, args.latency) as binance, fake_bybit() as bybit:
        runs = [run_child(kind, binance, bybit, spec) for kind in ("bybit", "none")]
    lines = [
        f"### Following {args.traders} traders at a {args.interval:g} s interval for"
        f" {args.seconds:g} s",
        "",
        f"`Engine.run` in a fresh child process pinned to core 0; the fake Binance in its own"
        f" process ({args.traders} demo traders, half leaderboard v2 with a session, half"
        f" copy-trade; {args.latency * 1000:g} ms added to every answer); request budget"
        f" {2 * args.traders / args.interval:g}/s. Books never change after the first poll (a"
        " baseline), so this is the steady state: poll, journal the poll, diff against the"
        " journal's book. CPU = `time.process_time()` over the run; peak RSS = VmHWM of the"
        " child at the end (`ru_maxrss` is not used: Linux carries it over from the parent"
        " across fork + exec).",
        "",
        "| broker | ccxt imported | polls | polls/s | CPU s | CPU % of a core"
        " | CPU ms per poll | RSS after start MB | peak RSS MB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    names = {"bybit": "BybitBroker → fake Bybit", "none": "no-ccxt stand-in"}
    for r in runs:
        share = 100 * r["cpu_s"] / r["wall_s"]
        lines.append(
            f"| {names[r['broker']]} | {'yes' if r['ccxt_imported'] else 'no'} | {r['polls']}"
            f" | {r['polls_per_s']} | {r['cpu_s']} | {share:.0f} % | {r['cpu_s_per_1000_polls']}"
            f" | {r['rss_ready_mb']} | {r['peak_rss_mb']} |"
        )
        print(f"follow [{r['broker']}]: {r}")
    peak = max(r["peak_rss_mb"] for r in runs)
    verdict = "met" if peak < TARGET_RSS_MB else "**missed**"
    statuses = "; ".join(f"{r['broker']}: {r['statuses']}" for r in runs)
    steps = "; ".join(
        f"{r['broker']}: " + ", ".join(f"{k} {v:.3f}" for k, v in r["steps_ms_per_poll"].items())
        for r in runs
    )
    lines += [
        "",
        f"Time per poll spent in the engine's synchronous steps (ms, on the event loop): {steps}."
        " The rest of the CPU per poll is the source's fetch (httpx, JSON, Snapshot) and the"
        " loop.",
        "Full (generation 2) garbage collections during the run, CPU ms each"
        " (`gc.callbacks`, thread time; each stops the loop): "
        + "; ".join(f"{r['broker']}: {r['full_gc_ms']}" for r in runs)
        + ".",
        f"Poll outcomes: {statuses}. Target peak RSS < {TARGET_RSS_MB:g} MB: {verdict}"
        f" ({peak} MB).",
        "",
    ]
    return "\n".join(lines)


def header(command: str) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{SECTION}\n\nCommand: `{command}`; {os.cpu_count()} cores (nproc),"
        f" Python {platform.python_version()}, {platform.machine()},"
        f" {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Load average at the end: {load}.\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2, help="extra runs as the product is")
    parser.add_argument("--traders", type=int, default=200)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--latency", type=float, default=0.05, help="fake Binance, seconds")
    parser.add_argument("--only", choices=("overhead", "follow"))
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--product-only", action="store_true", help="no what-if runs")
    args = parser.parse_args()
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    parts = []
    if args.only in (None, "overhead"):
        parts.append(overhead_part(args))
    if args.only in (None, "follow"):
        parts.append(follow_part(args))
    command = "python " + " ".join(["benchmarks/bench_engine.py", *sys.argv[1:]])
    text = header(command) + "\n" + "\n".join(parts)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
        print("written to BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
