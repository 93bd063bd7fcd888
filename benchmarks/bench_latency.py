"""Detection latency against its floor (issue 15): the real bot, default settings, N traders.

`lightspeed simulate`'s machinery (sim/simulate.py: the real engine through `runner.run_bot`,
the fake Binance and fake Bybit on 127.0.0.1, each adding a fixed delay to every answer) with a
scenario of N copytrade traders, each on one of BTC / ETH / SOL: every step all of them open,
the next all close (10 of them per step from 20 traders on, so each trader's changes stay 2.85
polls apart). Each step lands at a random offset within one poll interval (scenario.Driver),
so every change meets its trader's poll at a uniformly random phase. Default settings: budget
mode, 20 requests/s, 0.1 s floor.

The bot runs in a process of its own (benchmarks/botproc.py, pinned to core 0; this process,
with the fakes and the driver, to the last core), so the fakes' work never takes the bot's CPU
or GIL; `--in-process` runs it in this process as `lightspeed simulate` does.

Per run: detection latency (leader's change applied at the fake Binance -> our order created
at the fake Bybit) p50 / p99 against the floor computed from the run's own settings (interval / 2 +
Binance RTT + own work + Bybit RTT), Bybit round trips between snapshot and order, the engine's
own work (snapshot received -> order handed to the broker) and the busiest one-second window of
Binance requests. Writes the "## Detection latency" section of BENCHMARKS.md.

    python benchmarks/bench_latency.py [--traders 5 50] [--seconds 60] [--binance-rtt 50]
                                       [--bybit-rtt 20] [--in-process] [--no-pin] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botproc import in_child_process, pin_self_to_last_core
from mdsection import write_section

from lightspeed_cli.config.sections import PollingSettings
from lightspeed_cli.decisions.fidelity import percentile
from lightspeed_cli.models import Side
from lightspeed_cli.sim.report import build_report
from lightspeed_cli.sim.scenario import SYMBOLS, Scenario, Step, TraderSpec, leg
from lightspeed_cli.sim.simulate import minimum_seconds, run_simulation
from lightspeed_cli.sources.schedule import configured_poll_rate, poll_interval

SECTION = "## Detection latency"
SIZES = {"BTCUSDT": "0.01", "ETHUSDT": "0.1", "SOLUSDT": "1"}  # x 0.1 = Bybit's minimum
OWN_WORK_TARGET_MS = 5.0


def scenario(traders: int, steps: int) -> Scenario:
    """Every step 10 of the traders (all of them, up to 10 traders) open or close: from 20
    traders on a trader's changes are traders / 10 steps of 1.5 s apart, 2.85 of its polls."""
    specs = tuple(TraderSpec(f"{4_200_000_000_000_000_000 + i}", f"t{i}") for i in range(traders))
    symbols = list(SIZES)
    groups = max(1, traders // 10)
    holding: dict[str, bool] = {t.id: False for t in specs}
    plays = []
    for n in range(steps):
        books: dict[str, tuple[Any, ...]] = {}
        for i, t in enumerate(specs):
            if i % groups != n % groups:
                continue
            holding[t.id] = not holding[t.id]
            symbol = symbols[i % len(symbols)]
            books[t.id] = (leg(symbol, Side.LONG, SIZES[symbol]),) if holding[t.id] else ()
        plays.append(Step(books))
    return Scenario(
        name=f"{traders} traders",
        traders=specs,
        symbols=tuple(s for s in SYMBOLS if s.binance_symbol in SIZES),
        steps=tuple(plays),
    )


def _margin(traders: int) -> float:
    """Time minimum_seconds does not count: the bot's own process starting (~1 s), the first
    round of polls and the leaders' first detail reads (an interval each), one step's random
    offset (an interval)."""
    interval = poll_interval(traders, configured_poll_rate(PollingSettings(), True), 0.1)
    return 1.0 + 3 * interval


async def one_run(traders: int, args: argparse.Namespace) -> dict[str, Any]:
    steps = 2
    while minimum_seconds(scenario(traders, steps + 2)) + _margin(traders) <= args.seconds:
        steps += 2
    seen: dict[str, float] = {}
    runner = None if args.in_process else in_child_process(not args.no_pin, seen)
    with tempfile.TemporaryDirectory(prefix="ls-latency-") as tmp:
        cpu0 = time.process_time()
        result = await run_simulation(
            args.seconds,
            scenario=scenario(traders, steps),
            data_dir=Path(tmp),
            binance_rtt_ms=args.binance_rtt,
            bybit_rtt_ms=args.bybit_rtt,
            bot_runner=runner,
        )
        cpu = time.process_time() - cpu0
    report, facts = result.report, result.facts
    if seen:  # the floor from the round trips as the bot's own process measured them
        rtts = {"binance_rtt_ms": seen["binance_rtt_ms"], "bybit_rtt_ms": seen["bybit_rtt_ms"]}
        facts = dataclasses.replace(facts, **rtts)
        report = build_report(facts, now=datetime.now(UTC))
    lat = report.latency
    direct = [ms for ms, trips in facts.hot_path if trips == 0]
    return {
        "traders": traders,
        "report": report,
        "lat": lat,
        "own_p50": percentile(direct, 50) if direct else None,
        "own_p99": percentile(direct, 99) if direct else None,
        "cpu_s": cpu,
        "steps": steps,
        "bot_rtt": seen,
        "bench_rtt": (result.facts.binance_rtt_ms, result.facts.bybit_rtt_ms),
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _where(args: argparse.Namespace) -> str:
    if args.in_process:
        return "Bot, fakes and driver in one process (the fakes in threads of their own)."
    pinned = " (pinned to core 0; the fakes and driver to the last core)" if not args.no_pin else ""
    return (
        f"The bot in a process of its own{pinned}, the fakes in threads of the benchmark's"
        " process with the scenario driver (benchmarks/botproc.py): the fakes never take the"
        " bot's CPU or GIL."
    )


def _rtt_where(args: argparse.Namespace) -> str:
    if args.in_process:
        return "(median of 5 GETs)"
    return "from the bot's process (median of 20 GETs, benchmarks/botproc.py)"


def _bench_rtt(run: dict[str, Any]) -> str:
    bench = run["bench_rtt"]
    if not run["bot_rtt"]:
        return ""
    return f" (from the benchmark's process {bench[0]:.1f} / {bench[1]:.1f})"


def render(runs: list[dict[str, Any]], args: argparse.Namespace, command: str) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        SECTION,
        "",
        f"Command: `{command}`; {os.cpu_count()} cores (nproc), Python"
        f" {platform.python_version()}, {platform.machine()}, {now}. Load average at the end:"
        f" {load} (a machine shared with other sessions' test suites).",
        "",
        "The real bot (`runner.run_bot`, as `lightspeed simulate` runs it) with the **default"
        " settings** (budget mode, `polling.requests_per_second = 20` of which 1/s is kept for"
        " the copy-trade leaders' detail and order-history reads, `min_interval_seconds = 0.1`,"
        " Bybit price cache every 1 s, max age 2 s) against the fake Binance (adds"
        f" {args.binance_rtt:g} ms to every answer) and the fake Bybit (adds {args.bybit_rtt:g} ms"
        f" to every answer). {_where(args)} N copytrade traders, each on BTC, ETH or SOL; every"
        " step 10 of them (all of them up to 10 traders) open or close, each step at a random"
        " offset within one poll interval, so every change meets its trader's poll at a"
        " uniformly random phase (steps start once every trader was read twice). Detection"
        " latency = the leader's change applied at the fake Binance → our order created at the"
        " fake Bybit (its order log; the fake adds its delay before it processes a request, so"
        " that is one full Bybit RTT after we sent it, as the floor counts). The floor is"
        " computed from the run's own settings: interval / 2 + Binance RTT + own work + Bybit"
        f" RTT, the RTTs measured at the start of the run {_rtt_where(args)}; own work = median"
        " snapshot received → order handed to the broker, over the orders with no Bybit request"
        " before them.",
        "",
        "| traders | interval | floor ms | p50 ms | p50 / floor | p99 ms | p99 target ms |"
        " orders | Bybit round trips before the order | own work p50 / p99 ms |"
        " busiest 1-s window (budget 20): polls / all requests | exact |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | --- |",
    ]
    for run in runs:
        lat, report = run["lat"], run["report"]
        p50, p99 = lat.on_bybit_median_ms, lat.on_bybit_p99_ms
        ratio = f"{p50 / lat.floor_ms:.2f}" if p50 and lat.floor_ms else "-"
        trips = (
            f"{lat.orders_without_round_trips} of {lat.round_trip_orders} orders: none;"
            f" max {lat.round_trips_max}"
        )
        own = f"{run['own_p50']:.2f} / {run['own_p99']:.2f}" if run["own_p50"] else "-"
        lines.append(
            f"| {run['traders']} | {lat.poll_interval_ms / 1000:g} s | {lat.floor_ms:.0f} |"
            f" {_ms(p50)} | {ratio} | {_ms(p99)} | {lat.p99_target_ms:.0f} |"
            f" {lat.samples} | {trips} | {own} |"
            f" {lat.busiest_second} / {lat.busiest_second_all} |"
            f" {'yes' if report.exact else 'NO'} |"
        )
    lines += [
        "",
        "RTTs measured per run (Binance / Bybit, ms; the floor's): "
        + "; ".join(
            f"{r['traders']} traders {r['lat'].binance_rtt_ms:.1f} / {r['lat'].bybit_rtt_ms:.1f}"
            + _bench_rtt(r)
            for r in runs
        )
        + ".",
        "",
        *verdicts(runs, args),
        "",
        *NOTES,
    ]
    return "\n".join(lines) + "\n"


def verdicts(runs: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    """Each target of issue 15 against this run's figures."""

    def met(ok: bool) -> str:
        return "**met**" if ok else "**missed**"

    out = ["Against the targets (this run):"]
    for r in runs:
        lat, n = r["lat"], r["traders"]
        p50, p99 = lat.on_bybit_median_ms, lat.on_bybit_p99_ms
        if p50 is None or p99 is None:
            out.append(f"- {n} traders: no orders measured")
            continue
        ratio = p50 / lat.floor_ms
        out.append(
            f"- {n} traders: p50 within 10 % of the floor {met(ratio <= 1.10)} ({ratio:.2f} x);"
            f" p99 <= one interval + both RTTs + 20 ms {met(p99 <= lat.p99_target_ms)}"
            f" ({p99:.0f} vs {lat.p99_target_ms:.0f} ms); own work p99 < {OWN_WORK_TARGET_MS:g}"
            f" ms {met((r['own_p99'] or 1e9) < OWN_WORK_TARGET_MS)} ({r['own_p99'] or 0:.2f} ms);"
            f" polls never over the budget {met(lat.busiest_second <= lat.budget_per_second)}"
            f" (busiest second {lat.busiest_second} polls, {lat.busiest_second_all} requests"
            f" with the leaders' reads); Bybit round trips before the order:"
            f" {lat.orders_without_round_trips} of {lat.round_trip_orders} orders none."
        )
        if n == 5 and args.binance_rtt == 50 and args.bybit_rtt == 20:
            rtts = lat.binance_rtt_ms + lat.bybit_rtt_ms
            out.append(
                f"- 5 traders p50 <= 200 ms at Binance RTT 50 / Bybit RTT 20: {met(p50 <= 200)}"
                f" ({p50:.0f} ms). Its floor here is {lat.floor_ms:.0f} ms: half the"
                f" {lat.poll_interval_ms:.0f} ms interval + {rtts:.1f} ms of measured round"
                f" trips (the fakes' {args.binance_rtt + args.bybit_rtt:g} ms plus"
                f" {rtts - args.binance_rtt - args.bybit_rtt:.1f} ms: loopback HTTP on both"
                " sides, the fakes' sleep, the machine's load) + own work. At exactly 50 / 20 ms"
                " and the whole budget for polls the floor would be 125 + 70 + own work ≈ 197 ms;"
                " the lane the leaders' reads keep (1/s) adds 6.6 ms, the loopback HTTP stack"
                " ~8 ms (4 per round trip on an idle machine, below), so on this rig the target"
                " is out of reach by construction, for any bot."
            )
    return out


NOTES = [
    "Found and fixed with this benchmark (2026-11-30): on a quiet machine the 50-trader p50 was"
    " 1.38 x its floor (1843 vs 1331 ms). The cause was the bot, not the benchmark: every copied"
    " change started an order-history read of the lead portfolio (leader_fills.py) and every"
    " trader's first snapshot a detail read, all through the same token bucket as the polls:"
    " in 61 s the fake Binance saw 1,061 position reads and 133 lead-portfolio reads (83"
    " order-history, 50 detail), each of those a poll turn lost, so the traders were read"
    " less often than every 2.5 s, the interval the schedule (and the floor) counted. With the"
    " leaders' reads switched off the same run gave 1.02 x. Now (sources/schedule.py,"
    " sources/binance.py) the leaders' reads have a lane of their own, 5 % of each exit's"
    " budget, and the polls are scheduled on the rest; a first detail read (leader_equity"
    " opens wait for it) and a mass close's order-history read (an order waits for it) go with"
    " the polls; reads waiting for their turn hold no connection slot; changes queued behind"
    " one history read share it. Second, the polls' bucket charged every wake-up's lateness to"
    " the next turn, so at load 2 each trader was read every 2711 ms instead of 2632 (3 %);"
    " it now lets a poll up to 5 ms late keep the schedule's turn (ratelimit.py). Third, the"
    " benchmark: a trader's changes came every 7.5 s = 3 of its 2.5 s polls, so each trader's"
    " changes met its poll at the same phase; the driver now puts each step at a uniformly"
    " random offset within one interval, starts after two reads of every trader (the start-up"
    " detail reads are over) and runs the bot in its own process.",
    "",
    "The fakes add exactly the requested delay: against an idle client the fake Binance"
    " answers in 2.7 ms with no delay and 54.2 ms with 50 ms (asyncio.sleep overshoots by"
    " ~0.4 ms; the rest is the loopback HTTP stack, httpx and aiohttp); the fake Bybit 2.6 /"
    " 24.1 ms with 0 / 20 ms. The same in a process of its own (`python -m"
    " lightspeed_cli.sim.binance --latency 0.05`: 54.1 ms). The delay is added after the"
    " request was read and answered from the book at arrival (Binance) / before the order is"
    " processed (Bybit). With the fakes in threads of the bot's own process (before), the RTTs"
    " measured 55-60 / 24-32 ms at load <= 3: 1-6 ms more, the fakes' threads and the bot"
    " sharing one GIL.",
    "",
    "Own work p99 of the 5-trader run is not the engine's CPU: the same benchmark with 3 traders"
    " (each on its own symbol) gave own work p50 / p99 0.99 / 1.69 ms, with 6 traders (two per"
    " symbol) 1.38 / 5.85 ms (`python benchmarks/bench_latency.py --traders 3 6 --seconds 40"
    " --no-write`, 2026-11-30 13:55 UTC, load 0.6). Own work (snapshot received → order handed"
    " to the broker) includes the wait for the per-symbol open lock (engine.py"
    " `_handle_signal`: opens on one Bybit symbol go one at a time, from reading the mirrored"
    " book to recording the fill), so when two traders open the same symbol within one step"
    " the second one's own work holds the first one's Bybit round trip.",
    "",
    "The price cache's cost: one refresh reads every linear perpetual; a real Bybit answer of"
    " 550 tickers (~310 KB) costs ~5.2 ms of CPU in `json.loads` plus ~1.3 ms to pick the last"
    " prices (measured here, `time.process_time()`, median of 50), on the event loop, once per"
    " `bybit.price_refresh_seconds` (default 1 s, so ~0.7 % of a core). A signal that arrives"
    " during a refresh waits for it: about 0.7 % of signals, so the p99 is untouched, but not"
    " by much; this is why the default is 1 s and not shorter. The fake Bybit lists 10"
    " instruments, so the simulated refreshes cost far less than real ones.",
]


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    return [await one_run(n, args) for n in args.traders]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traders", type=int, nargs="+", default=[5, 50])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--binance-rtt", type=float, default=50.0)
    parser.add_argument("--bybit-rtt", type=float, default=20.0)
    parser.add_argument("--in-process", action="store_true", help="the bot in this process")
    parser.add_argument("--no-pin", action="store_true", help="no CPU pinning")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if not args.in_process and not args.no_pin:
        pin_self_to_last_core()
    from lightspeed_cli.config import logsetup

    logsetup.configure("ERROR")
    runs = asyncio.run(main_async(args))
    flags = [f for f, on in (("--in-process", args.in_process), ("--no-pin", args.no_pin)) if on]
    command = "python benchmarks/bench_latency.py " + " ".join(
        f"--traders {' '.join(map(str, args.traders))} --seconds {args.seconds:g}"
        f" --binance-rtt {args.binance_rtt:g} --bybit-rtt {args.bybit_rtt:g}".split()
        + flags
    )
    text = render(runs, args, command)
    print(text)
    for run in runs:
        for note in run["report"].notes:
            print(f"note ({run['traders']} traders): {note}")
    if not args.no_write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
