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
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botproc import in_child_process, pin_self_to_last_core
from mdsection import write_section

from lightspeed_cli.fidelity import percentile
from lightspeed_cli.models import Side
from lightspeed_cli.settings import PollingSettings
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


def _bot_rtt(seen: dict[str, float]) -> str:
    if not seen:
        return ""
    return f" (from the bot's process {seen['binance_rtt_ms']:.1f} / {seen['bybit_rtt_ms']:.1f})"


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
        " RTT, the RTTs measured (median of 5 GETs) at the start of the run; own work = median"
        " snapshot received → order handed to the broker, over the orders with no Bybit request"
        " before them.",
        "",
        "| traders | interval | floor ms | p50 ms | p50 / floor | p99 ms | p99 target ms |"
        " orders | Bybit round trips before the order | own work p50 / p99 ms |"
        " busiest 1-s window (budget 20) | exact |",
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
            f" {lat.samples} | {trips} | {own} | {lat.busiest_second} |"
            f" {'yes' if report.exact else 'NO'} |"
        )
    lines += [
        "",
        "RTTs measured per run (Binance / Bybit, ms; the floor's): "
        + "; ".join(
            f"{r['traders']} traders {r['lat'].binance_rtt_ms:.1f} / {r['lat'].bybit_rtt_ms:.1f}"
            + _bot_rtt(r["bot_rtt"])
            for r in runs
        )
        + ".",
    ]
    return "\n".join(lines) + "\n"


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
    from lightspeed_cli import logsetup

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
