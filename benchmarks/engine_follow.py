"""CPU and peak RSS of the engine following N traders at a fixed interval (one child per run).

Each measurement runs in a fresh child process (`python benchmarks/engine_follow.py BROKER ...`,
pinned to core 0 when there are two or more) so its peak RSS is its own. The fake Binance runs
in its own process (demo traders with static books, 50 ms added to every answer); with
`bybit` the real BybitBroker (ccxt) talks to the fake Bybit in another process, with `none` a
broker that never imports ccxt stands in, to show what ccxt itself costs. The engine runs
`Engine.run(stop)` as `lightspeed run` does; after the first poll every book is a baseline and
nothing changes, so this is the steady state of polling, diffing and journaling each poll.
The child prints one JSON line.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fakeprocs import SESSION

from lightspeed_cli.config import logsetup

HERE = str(Path(__file__).resolve())


class NoCcxtBroker:
    """Bybit's default markets and prices, no account, no ccxt: for the memory comparison."""

    def __init__(self) -> None:
        from lightspeed_cli.execution.markets import market_from_instrument
        from lightspeed_cli.sim.bybit_shapes import DEFAULT_PRICES, default_instruments

        self._markets = {
            m.symbol: m for m in map(market_from_instrument, default_instruments()) if m
        }
        self._prices = {k: Decimal(v) for k, v in DEFAULT_PRICES.items()}

    @property
    def markets(self) -> dict[str, Any]:
        return self._markets

    @property
    def hedge_mode(self) -> bool:
        return False

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def last_price(self, symbol: str) -> Decimal:
        return self._prices[symbol]

    async def last_prices(self) -> dict[str, Decimal]:
        return dict(self._prices)

    async def prepare(self, symbol: str | None = None, leverage: int = 0) -> int:
        return 0

    async def equity_usdt(self) -> Decimal:
        return Decimal(10_000)

    async def positions(self) -> list[Any]:
        return []

    async def open_orders(self) -> list[Any]:
        return []

    async def execute(self, intent: Any) -> Any:
        raise AssertionError("static books: no order is ever expected")

    async def lookup(self, client_order_id: str, symbol: str) -> Any:
        return None

    async def server_time(self) -> datetime:
        return datetime.now(UTC)


@contextlib.contextmanager
def product_logging() -> Iterator[None]:
    """INFO lines formatted as under systemd, written to /dev/null."""
    with open(os.devnull, "w") as sink:
        with contextlib.redirect_stderr(sink):
            logsetup.configure("INFO")
        try:
            yield
        finally:
            logging.getLogger().handlers.clear()


@contextlib.contextmanager
def full_gc_pauses() -> Iterator[list[float]]:
    """CPU ms of each full (generation 2) garbage collection while inside."""
    pauses: list[float] = []
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.thread_time()
        elif info["generation"] == 2:
            pauses.append((time.thread_time() - started[0]) * 1000)

    gc.callbacks.append(callback)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(callback)


def vm_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def follow(broker_kind: str, binance_url: str, bybit_url: str, args: dict[str, Any]) -> dict:
    from engine_breakdown import timed_steps

    import lightspeed_cli.engine.follow as engine_module
    from lightspeed_cli.config.settings import Settings
    from lightspeed_cli.engine.loop import Engine
    from lightspeed_cli.journal.store import Journal
    from lightspeed_cli.runner import freeze_startup_heap
    from lightspeed_cli.sources.binance import BinanceSource

    steps = (
        (Journal, "record_poll", "journal: record_poll (autocommit, synchronous=FULL)"),
        (Journal, "book_snapshot", "journal: book_snapshot (SQL + pydantic)"),
        (engine_module, "diff", "diff() (pure)"),
    )
    totals: dict[str, float] = {}

    def add(label: str, start: float, end: float) -> None:
        totals[label] = totals.get(label, 0.0) + end - start

    with tempfile.TemporaryDirectory(prefix="ls-bench-") as tmp:
        settings = Settings(
            traders=[{"id": i, "source": s} for s, i in args["trader_list"]],
            binance={"base_url": binance_url, "leaderboard_api": "v2-private"},
            bybit={"base_url": bybit_url or "http://127.0.0.1:9", "account_mode": "one-way"},
            polling={
                "mode": "fixed",
                "interval_seconds": args["interval"],
                "requests_per_second": 2 * args["traders"] / args["interval"],
            },
            storage={"data_dir": tmp},
        )
        broker: Any
        if broker_kind == "bybit":
            from lightspeed_cli.execution.bybit import BybitBroker
            from lightspeed_cli.sim.bybit import DEFAULT_API_KEY, DEFAULT_API_SECRET

            broker = BybitBroker(
                settings.bybit, api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET
            )
        else:
            broker = NoCcxtBroker()
        journal = Journal.in_dir(Path(tmp))
        source = BinanceSource(settings.binance, settings.polling, session=json.dumps(SESSION))
        engine = Engine(settings, broker=broker, source=source, journal=journal)
        statuses: Counter[str] = Counter()
        original = source.fetch

        async def counted(trader: Any) -> Any:
            result = await original(trader)
            statuses[result.status.value] += 1
            return result

        source.fetch = counted  # type: ignore[method-assign]
        try:
            await engine.start()
            freeze_startup_heap()  # as run_bot does
            rss_ready = vm_kb("VmRSS")
            stop = asyncio.Event()
            asyncio.get_running_loop().call_later(args["seconds"], stop.set)
            with timed_steps(steps, add), full_gc_pauses() as gc_pauses:
                cpu0, wall0 = time.process_time(), time.perf_counter()
                code = await engine.run(stop)
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        finally:
            await source.aclose()
            await broker.aclose()
            journal.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    polls = sum(statuses.values())
    return {
        "broker": broker_kind,
        "exit_code": code,
        "ccxt_imported": "ccxt" in sys.modules,
        "polls": polls,
        "statuses": dict(statuses),
        "polls_per_s": round(polls / wall, 1),
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 2),
        "cpu_s_per_1000_polls": round(cpu / polls * 1000, 3) if polls else None,
        "cpu_s_process_total": round(usage.ru_utime + usage.ru_stime, 2),
        "rss_ready_mb": round(rss_ready / 1024, 1),
        "rss_end_mb": round(vm_kb("VmRSS") / 1024, 1),
        "peak_rss_mb": round(vm_kb("VmHWM") / 1024, 1),
        "ru_maxrss_mb": round(usage.ru_maxrss / 1024, 1),
        "orders": engine.view.orders_sent,
        "full_gc_ms": [round(p, 1) for p in gc_pauses],
        "steps_ms_per_poll": {k: round(v * 1000 / max(1, polls), 3) for k, v in totals.items()},
    }


def run_child(broker_kind: str, binance_url: str, bybit_url: str, args: dict[str, Any]) -> dict:
    """One measurement in a fresh process pinned to core 0 (when there are two or more)."""
    cmd = [sys.executable, HERE, broker_kind, binance_url, bybit_url, json.dumps(args)]
    if (os.cpu_count() or 1) > 1 and shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    kind, binance, bybit, raw = sys.argv[1:5]
    with product_logging():
        result = asyncio.run(follow(kind, binance, bybit, json.loads(raw)))
    print(json.dumps(result))
