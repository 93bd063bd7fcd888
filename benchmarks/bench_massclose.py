"""What the mass-close confirmation (massclose.py) adds to detecting a real mass close.

A lead trader holding three positions closes all of them. The real engine, BinanceSource and
BybitBroker (ccxt) run in this process against the fake Binance (in-process, `--latency-ms`
added to every answer, like a real round trip) and the fake Bybit (its own thread). One round
is: open three positions, poll, then clear the book and time the poll that sees the mass close,
from the start of the poll to the return (all three closes filled on the fake Bybit). It runs
`--rounds` times with the confirmation (the product) and as many without it (needs_confirmation
forced False: what-if, not the product), alternating, and writes the "## Mass close
confirmation" section of BENCHMARKS.md.

    python benchmarks/bench_massclose.py [--rounds 30] [--latency-ms 50] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from mdsection import write_section

from lightspeed_cli.config.settings import Settings
from lightspeed_cli.decisions import massclose
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.sim.binance import FakeBinance, FakePosition
from lightspeed_cli.sim.bybit import FakeBybit
from lightspeed_cli.sim.engines import engine_against_fakes

SECTION = "## Mass close confirmation"
TRADER = "4000000000000000001"
BOOK = [
    FakePosition.long("BTCUSDT", "1", "60000"),
    FakePosition.short("ETHUSDT", "10", "3000"),
    FakePosition.long("SOLUSDT", "100", "150"),
]


def _settings(binance_url: str, bybit: FakeBybit, data_dir: Path) -> Settings:
    return Settings(
        traders=[{"id": TRADER, "source": "copytrade"}],
        binance={"base_url": binance_url},
        bybit=bybit.settings().model_dump(),
        sizing={"mode": "ratio", "value": "0.1"},
        safety={
            "max_position_notional_usdt": "50000",
            "max_total_notional_usdt": "200000",
            "daily_loss_limit_usdt": "1000000",  # each round pays the fake's spread
        },
        polling={"interval_seconds": 1, "timeout_seconds": 5, "retries": 0},
        storage={"data_dir": str(data_dir)},
    )


async def _measure(rounds: int, latency: float) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"confirmed": [], "unconfirmed": []}
    real = massclose.needs_confirmation
    with FakeBybit.running() as bybit, tempfile.TemporaryDirectory() as tmp:
        async with FakeBinance(latency=latency) as binance:
            for symbol, price in (("BTCUSDT", "60000"), ("ETHUSDT", "3000"), ("SOLUSDT", "150")):
                binance.set_mark_price(symbol, Decimal(price))
            settings = _settings(binance.url, bybit, Path(tmp))
            journal = Journal.in_dir(Path(tmp))
            engine = engine_against_fakes(settings, journal)
            await engine.start()
            trader = settings.traders[0]
            binance.clear_positions(TRADER)
            await engine.poll_trader(trader)  # baseline: flat
            try:
                for i in range(rounds * 2 + 2):
                    mode = "confirmed" if i % 2 == 0 else "unconfirmed"
                    massclose.needs_confirmation = real if mode == "confirmed" else _never
                    before = len(bybit.orders)
                    binance.set_positions(TRADER, BOOK)
                    await engine.poll_trader(trader)
                    orders = len(bybit.orders)
                    assert orders == before + 3, [e.message for e in engine.view.events[-5:]]
                    binance.clear_positions(TRADER)
                    started = time.perf_counter()
                    await engine.poll_trader(trader)
                    elapsed = (time.perf_counter() - started) * 1000
                    assert len(bybit.orders) == orders + 3, "the mass close was not mirrored"
                    if i >= 2:  # the first round of each mode is a warm-up
                        times[mode].append(elapsed)
            finally:
                massclose.needs_confirmation = real
                await engine.source.aclose()
                await engine.broker.aclose()
                journal.close()
    return times


def _never(previous: object, current: object) -> bool:
    return False


def _row(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return (
        f"| {name} | {statistics.median(values):.1f} | {p90:.1f} | {min(values):.1f}"
        f" | {max(values):.1f} |"
    )


def render(times: dict[str, list[float]], rounds: int, latency_ms: float) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    added = statistics.median(times["confirmed"]) - statistics.median(times["unconfirmed"])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return "\n".join(
        [
            SECTION,
            "",
            f"Command: `python benchmarks/bench_massclose.py --rounds {rounds} --latency-ms"
            f" {latency_ms:g}`; {os.cpu_count()} cores (nproc), Python"
            f" {platform.python_version()}, {platform.machine()}, {now}. Load average at the"
            f" end: {load}.",
            "The poll that sees a lead trader close all three of its positions, from its start to"
            " the three closes filled on the fake Bybit (real engine, BinanceSource and"
            f" BybitBroker; the fake Binance adds {latency_ms:g} ms to every answer). {rounds}"
            " rounds each, alternating, after one warm-up round each.",
            "",
            "| mode | median ms | p90 ms | min ms | max ms |",
            "| --- | ---: | ---: | ---: | ---: |",
            _row("confirmed by a second read (the product)", times["confirmed"]),
            _row("acted on the first read (what-if, not the product)", times["unconfirmed"]),
            "",
            f"Added detection time for a real mass close: {added:.1f} ms at the median, one"
            " Binance round trip (the second read); a single close is read twice too since"
            " issue 22 (see Glitches).",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    times = asyncio.run(_measure(args.rounds, args.latency_ms / 1000))
    text = render(times, args.rounds, args.latency_ms)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
