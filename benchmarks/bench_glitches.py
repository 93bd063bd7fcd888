"""One odd answer moves no money (issue 22): the orders each one-answer glitch sends, and what
the confirming read adds to detecting a real change of each suspect kind.

The real engine, BinanceSource and BybitBroker (ccxt) run in this process against the fake
Binance (in-process, `--latency-ms` added to every answer, like a real round trip) and the fake
Bybit (its own thread). The leader holds BTC 1 and ETH 10, the follower 0.1 and 1 (ratio 0.1).
- Glitches: one answer is served verbatim (a spike to 100, a tiny 0.00001, x1000 on both
  symbols, a row gone, a row sign-flipped), then the true book for two polls; the orders sent
  from the glitch on are counted (target 0). Also with the confirming read turned off
  (needs_confirmation forced False: what-if, not the product).
- Real changes of each kind (x20, below 1/10, one close, a flip): the poll that sees one is
  timed from its start to its return (the orders filled on the fake Bybit), with the
  confirmation (the product) and without (what-if), alternating, `--rounds` each.
Writes the "## Glitches" section of BENCHMARKS.md.

    python benchmarks/bench_glitches.py [--rounds 10] [--latency-ms 50] [--no-write]
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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from mdsection import write_section

from lightspeed_cli.config.settings import Settings
from lightspeed_cli.decisions import massclose
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.sim.binance import FakeBinance, FakePosition, Fault, copytrade_answer
from lightspeed_cli.sim.bybit import FakeBybit
from lightspeed_cli.sim.engines import engine_against_fakes

SECTION = "## Glitches"
TRADER = "4000000000000000001"
L, S = FakePosition.long, FakePosition.short
BTC, ETH = L("BTCUSDT", "1", "60000"), L("ETHUSDT", "10", "3000")
BOOK = [BTC, ETH]
GLITCHES: dict[str, str] = {
    "BTC 1 -> 100 in one answer": copytrade_answer(BOOK, {"BTCUSDT": "100"}),
    "BTC 1 -> 0.00001 in one answer": copytrade_answer(BOOK, {"BTCUSDT": "0.00001"}),
    "BTC and ETH x1000 in one answer": copytrade_answer(
        BOOK, {"BTCUSDT": "1000", "ETHUSDT": "10000"}
    ),
    "the BTC row missing from one answer": copytrade_answer([ETH]),
    "BTC long -> short in one answer": copytrade_answer([S("BTCUSDT", "1", "60000"), ETH]),
}
REAL: dict[str, list[FakePosition]] = {
    "BTC 1 -> 20 (grew beyond 10x)": [L("BTCUSDT", "20", "60000"), ETH],
    "BTC 1 -> 0.05 (shrank below 1/10)": [L("BTCUSDT", "0.05", "60000"), ETH],
    "BTC closed (one row gone)": [ETH],
    "BTC long -> short (a flip)": [S("BTCUSDT", "1", "60000"), ETH],
}


def _settings(binance_url: str, bybit: FakeBybit, data_dir: Path) -> Settings:
    return Settings(
        traders=[{"id": TRADER, "source": "copytrade"}],
        binance={"base_url": binance_url},
        bybit=bybit.settings().model_dump(),
        sizing={"mode": "ratio", "value": "0.1"},
        safety={
            "max_position_notional_usdt": "50000",  # BTC 2 (x20) fits; x100 does not
            "max_total_notional_usdt": "200000",
            "daily_loss_limit_usdt": "1000000",  # each round pays the fake's spread
        },
        polling={"interval_seconds": 1, "timeout_seconds": 5, "retries": 0},
        storage={"data_dir": str(data_dir)},
    )


@contextmanager
def _confirming(on: bool) -> Iterator[None]:
    real = massclose.needs_confirmation
    massclose.needs_confirmation = real if on else _never
    try:
        yield
    finally:
        massclose.needs_confirmation = real


def _never(previous: object, current: object) -> bool:
    return False


async def _run(rounds: int, latency: float) -> dict[str, Any]:
    orders: dict[str, dict[bool, int]] = {name: {} for name in GLITCHES}
    times: dict[str, dict[bool, list[float]]] = {name: {True: [], False: []} for name in REAL}
    with FakeBybit.running() as bybit, tempfile.TemporaryDirectory() as tmp:
        async with FakeBinance(latency=latency) as binance:
            for symbol, price in (("BTCUSDT", "60000"), ("ETHUSDT", "3000")):
                binance.set_mark_price(symbol, Decimal(price))
            settings = _settings(binance.url, bybit, Path(tmp))
            journal = Journal.in_dir(Path(tmp))
            engine = engine_against_fakes(settings, journal)
            await engine.start()
            trader = settings.traders[0]

            async def poll() -> None:
                await engine.poll_trader(trader)

            binance.clear_positions(TRADER)
            await poll()  # baseline: flat
            binance.set_positions(TRADER, BOOK)
            await poll()
            try:
                for name, body in GLITCHES.items():
                    for on in (True, False):
                        with _confirming(on):
                            before = len(bybit.orders)
                            binance.inject(Fault.BODY, trader=TRADER, times=1, body=body)
                            for _ in range(3):  # the glitch, then the true book twice
                                await poll()
                            orders[name][on] = len(bybit.orders) - before
                            await _restore(engine, binance, bybit, poll)
                for i in range(rounds + 1):
                    for name, book in REAL.items():
                        for on in (i % 2 == 0, i % 2 != 0):
                            with _confirming(on):
                                binance.set_positions(TRADER, book)
                                started = time.perf_counter()
                                await poll()
                                elapsed = (time.perf_counter() - started) * 1000
                                binance.set_positions(TRADER, BOOK)
                                await poll()
                            if i > 0:  # the first round is a warm-up
                                times[name][on].append(elapsed)
            finally:
                await engine.source.aclose()
                await engine.broker.aclose()
                journal.close()
    return {"orders": orders, "times": times}


async def _restore(engine: Any, binance: FakeBinance, bybit: FakeBybit, poll: Any) -> None:
    """After a what-if glitch that traded: flat, then the book again, as at the start."""
    binance.clear_positions(TRADER)
    await poll()
    binance.set_positions(TRADER, BOOK)
    await poll()


def render(result: dict[str, Any], rounds: int, latency_ms: float) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        SECTION,
        "",
        f"Command: `python benchmarks/bench_glitches.py --rounds {rounds} --latency-ms"
        f" {latency_ms:g}`; {os.cpu_count()} cores (nproc), Python {platform.python_version()},"
        f" {platform.machine()}, {now}. Load average at the end: {load}.",
        "Real engine, BinanceSource and BybitBroker against the fakes (the fake Binance adds"
        f" {latency_ms:g} ms to every answer). The leader holds BTC 1 and ETH 10, the follower"
        " 0.1 and 1 (ratio 0.1, position cap 50,000 USDT). A suspect change (a close, a close +"
        f" reopen, a size beyond {massclose.ABSURD_FACTOR}x either way) is read again before"
        " acting (decisions/massclose.py); a reduce sells down to the leader's new size x the"
        " ratio, never against a book a refused change moved (decisions/sizing.py).",
        "",
        "Orders sent from one odd answer on (it, then the true book for two polls); target 0:",
        "",
        "| one answer | orders (the product) | orders without the confirming read (what-if) |",
        "| --- | ---: | ---: |",
    ]
    for name, counts in result["orders"].items():
        lines.append(f"| {name} | {counts[True]} | {counts[False]} |")
    lines += [
        "",
        f"Added detection time of the confirming read for a real change of each kind: the poll"
        f" that sees it, start to return with its orders filled, median of {rounds} rounds each"
        " (alternating, after one warm-up round):",
        "",
        "| real change | confirmed ms (the product) | first read ms (what-if) | added ms |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, modes in result["times"].items():
        on, off = statistics.median(modes[True]), statistics.median(modes[False])
        lines.append(f"| {name} | {on:.1f} | {off:.1f} | {on - off:.1f} |")
    lines += [
        "",
        "The added time is one Binance round trip (the second positions read) for a size"
        " beyond 10x and for a flip. A close asks the leader's order-history first (no second"
        " positions read when it shows the closing order after the last read); here the fake's"
        " history did not show it in time, so a close paid that read and the second positions"
        " read: two round trips. Changes within 10x either way, and opens without a close, are"
        " acted on at the first read as before.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    result = asyncio.run(_run(args.rounds, args.latency_ms / 1000))
    text = render(result, args.rounds, args.latency_ms)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
