"""Snapshot received → order on the wire: the bot's own work per signal, against both fakes.

The real engine, BinanceSource and BybitBroker (ccxt) run on this process's asyncio loop; the
fake Binance and the fake Bybit run in their own processes (benchmarks/fakeprocs.py), so none of
their work lands on the bot's loop. Every poll changes exactly one position of one trader, so
every snapshot yields exactly one signal and one order (a snapshot with several signals would
charge the later ones with the earlier ones' order round trips). Logging goes to /dev/null at
INFO through the product's own `logsetup.configure`.

Clocks, all `time.perf_counter()` in this process:
- t0: `Engine.handle_snapshot` entered (the fetched, parsed Snapshot is in hand);
- t_exec: `broker.execute` entered (where `Engine.signal_overhead_ms` ends);
- t_wire: aiohttp has written the /v5/order/create request to the socket (trace hook
  `on_request_chunk_sent`, after ccxt built and signed it);
- Bybit round trips on the way (ticker, wallet balance, first-time margin mode / leverage):
  aiohttp `on_request_start` → `on_request_end` (response headers in). aiohttp's own send work
  for those requests falls inside the round trip and is not charged to the bot; ccxt's work
  around them (signing, parsing, retry wrapper) is.
own work = (t_wire - t0) - the round trips between t0 and t_wire.
"""

from __future__ import annotations

import io
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from engine_follow import product_logging
from fakeprocs import ScriptedBinance, fake_bybit

from lightspeed_cli.config.settings import Settings
from lightspeed_cli.engine.loop import Engine
from lightspeed_cli.engine.upkeep import CHECKPOINT_SECONDS
from lightspeed_cli.execution.bybit import BybitBroker
from lightspeed_cli.journal.store import JOURNAL_FILE, Journal
from lightspeed_cli.runner import freeze_startup_heap
from lightspeed_cli.sim.bybit import DEFAULT_API_KEY, DEFAULT_API_SECRET
from lightspeed_cli.sources.binance import BinanceSource

ORDER_PATH = "/v5/order/create"
TRADERS = [f"{4_100_000_000_000_000_000 + i}" for i in range(4)]
# leader sizes: ratio 0.1 makes each follower order ~600 USDT at the fakes' prices
SYMBOLS = {"BTCUSDT": ("0.1", "60000"), "ETHUSDT": ("2", "3000"), "SOLUSDT": ("40", "150")}
STAGES = (1, 2, 1, 0)  # open, increase, reduce, close (multiples of the base size)


@dataclass(frozen=True)
class Span:
    path: str
    start: float
    sent: float  # request written to the socket
    end: float  # response headers in


@dataclass
class WireClock:
    """aiohttp trace hooks on ccxt's session: when each Bybit request went out and came back."""

    spans: list[Span] = field(default_factory=list)

    def trace_config(self) -> aiohttp.TraceConfig:
        tc = aiohttp.TraceConfig()
        tc.on_request_start.append(self._start)
        tc.on_request_headers_sent.append(self._sent)
        tc.on_request_chunk_sent.append(self._sent)
        tc.on_request_end.append(self._end)
        tc.on_request_exception.append(self._end)
        tc.freeze()
        return tc

    async def _start(self, _s: Any, ctx: SimpleNamespace, params: Any) -> None:
        ctx.path, ctx.start = params.url.path, time.perf_counter()
        ctx.sent = ctx.start

    async def _sent(self, _s: Any, ctx: SimpleNamespace, _params: Any) -> None:
        ctx.sent = time.perf_counter()

    async def _end(self, _s: Any, ctx: SimpleNamespace, _params: Any) -> None:
        self.spans.append(Span(ctx.path, ctx.start, ctx.sent, time.perf_counter()))


@dataclass(frozen=True)
class SignalTiming:
    t0: float
    t_exec: float
    engine_ms: float  # Engine.signal_overhead_ms: t0 -> t_exec, round trips included
    rt_engine_ms: float  # Bybit round trips between t0 and t_exec
    reads_ms: float  # time inside broker.last_price / equity_usdt between t0 and t_exec
    wire_ms: float  # t0 -> t_wire, round trips included
    rt_wire_ms: float  # Bybit round trips between t0 and t_wire
    round_trips: tuple[str, ...]  # their paths

    @property
    def own_ms(self) -> float:
        return self.wire_ms - self.rt_wire_ms

    @property
    def own_engine_ms(self) -> float:
        return self.engine_ms - self.rt_engine_ms

    @property
    def read_client_ms(self) -> float:
        """ccxt + retry-wrapper work around the hot-path reads, their round trips excluded."""
        return self.reads_ms - self.rt_engine_ms

    @property
    def own_broker_ms(self) -> float:
        return self.own_ms - self.own_engine_ms


def pct(values: list[float], q: int) -> float:
    """The q-th percentile (statistics.quantiles, exclusive method)."""
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def settings_for(binance_url: str, bybit_url: str, data_dir: Path) -> Settings:
    return Settings(
        traders=[{"id": t, "source": "copytrade"} for t in TRADERS],
        binance={"base_url": binance_url},
        bybit={"base_url": bybit_url, "account_mode": "one-way"},
        sizing={"mode": "ratio", "value": "0.1"},
        safety={
            "max_position_notional_usdt": "50000",
            "max_total_notional_usdt": "200000",
            "daily_loss_limit_usdt": "1000000",  # 1,000 orders' taker fees must not trip it
        },
        polling={"timeout_seconds": 5, "retries": 0, "requests_per_second": 10_000},
        storage={"data_dir": str(data_dir)},
    )


class Script:
    """Moves one (trader, symbol) a stage on per step, round robin: one signal per poll.

    All longs: on a one-way account a short beside another trader's long is refused."""

    def __init__(self, fake: ScriptedBinance) -> None:
        self.fake = fake
        self.keys = [(t, s) for t in TRADERS for s in SYMBOLS]
        self.stage = dict.fromkeys(self.keys, len(STAGES) - 1)  # everyone flat
        self.step = 0

    def book(self, trader: str) -> list[tuple[str, str, str]]:
        longs = []
        for symbol, (base, price) in SYMBOLS.items():
            multiple = STAGES[self.stage[(trader, symbol)]]
            if multiple:
                longs.append((symbol, str(Decimal(base) * multiple), price))
        return longs

    def advance(self) -> str:
        trader, symbol = key = self.keys[self.step % len(self.keys)]
        self.step += 1
        self.stage[key] = (self.stage[key] + 1) % len(STAGES)
        self.fake.set_positions(trader, self.book(trader))
        return trader


Interval = tuple[float, float]


def _timed(
    fn: Callable[..., Awaitable[Any]], marks: list[Interval]
) -> Callable[..., Awaitable[Any]]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            marks.append((start, time.perf_counter()))

    return wrapper


@dataclass(frozen=True)
class WhatIf:
    """Changes to try without editing the engine; all off = the product as it is."""

    cached_reads: bool = False  # last price and equity served from memory after the first read

    @property
    def label(self) -> str:
        return "reads from a cache" if self.cached_reads else "the product as it is"


def _cache_reads(broker: Any) -> None:
    """What if the hot path read Bybit's last price and equity from memory (kept fresh off it)."""
    prices: dict[str, Any] = {}
    fetch_price, fetch_equity = broker.last_price, broker.equity_usdt
    equity: list[Any] = []

    async def last_price(symbol: str) -> Any:
        if symbol not in prices:
            prices[symbol] = await fetch_price(symbol)
        return prices[symbol]

    async def equity_usdt() -> Any:
        if not equity:
            equity.append(await fetch_equity())
        return equity[0]

    broker.last_price, broker.equity_usdt = last_price, equity_usdt


async def measure(signals: int, warmup: int, what_if: WhatIf = WhatIf()) -> dict[str, Any]:
    """Run warmup + `signals` signals against both fakes; per-signal timings and counts."""
    with (
        fake_bybit() as bybit_url,
        ScriptedBinance.running() as fake,
        tempfile.TemporaryDirectory(prefix="ls-bench-") as tmp,
        product_logging(),
    ):
        for symbol, (_, price) in SYMBOLS.items():
            fake.set_mark_price(symbol, price)
        settings = settings_for(fake.url, bybit_url, Path(tmp))
        # as the runner opens it: no commit runs a WAL checkpoint, _drive runs them between
        # signals where the product's background task would
        journal = Journal(Path(tmp) / JOURNAL_FILE, autocheckpoint=False)
        broker = BybitBroker(settings.bybit, api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET)
        wire = WireClock()
        broker.exchange.open()  # ccxt's own session and connector, plus our trace hooks
        broker.exchange.session.trace_configs.append(wire.trace_config())
        source = BinanceSource(settings.binance, settings.polling)
        engine = Engine(settings, broker=broker, source=source, journal=journal)
        if what_if.cached_reads:
            _cache_reads(broker)
        try:
            await engine.start()
            freeze_startup_heap()  # as run_bot does
            return await _drive(engine, Script(fake), wire, signals, warmup)
        finally:
            await source.aclose()
            await broker.aclose()
            journal.close()


async def _drive(
    engine: Engine, script: Script, wire: WireClock, signals: int, warmup: int
) -> dict[str, Any]:
    starts: list[Interval] = []
    execs: list[Interval] = []
    reads: list[Interval] = []
    broker: Any = engine.broker
    engine.handle_snapshot = _timed(engine.handle_snapshot, starts)  # type: ignore[method-assign]
    broker.execute = _timed(broker.execute, execs)
    broker.last_price = _timed(broker.last_price, reads)
    broker.equity_usdt = _timed(broker.equity_usdt, reads)
    for trader in TRADERS:  # first snapshots are baselines (follow_existing=false)
        script.fake.set_positions(trader, [])
        await engine.poll_trader(engine.settings.trader(trader))  # type: ignore[arg-type]
    timings: list[SignalTiming] = []
    misses = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    checkpointed = wall0
    for n in range(warmup + signals):
        trader = engine.settings.trader(script.advance())
        assert trader is not None
        if engine.prices.age() >= engine.prices.refresh_seconds:
            # the product's background refresh (Engine.run), here between signals so that its
            # request is never mistaken for one of the signal's round trips
            await engine.prices.refresh()
        if time.perf_counter() - checkpointed >= CHECKPOINT_SECONDS:
            engine.journal.checkpoint()  # Engine._checkpoints, in a thread in the product
            checkpointed = time.perf_counter()
        del starts[:], execs[:], reads[:], wire.spans[:]
        overheads = len(engine.signal_overhead_ms)
        await engine.poll_trader(trader)
        orders = [s for s in wire.spans if s.path == ORDER_PATH]
        if len(starts) != 1 or len(execs) != 1 or len(orders) != 1:
            misses += 1
            continue
        if n < warmup:
            continue
        t0, t_exec, t_wire = starts[0][0], execs[0][0], orders[0].sent
        before = [s for s in wire.spans if s.path != ORDER_PATH and s.end <= t_wire]
        timings.append(
            SignalTiming(
                t0=t0,
                t_exec=t_exec,
                engine_ms=engine.signal_overhead_ms[overheads],
                rt_engine_ms=sum(s.end - s.start for s in before if s.end <= t_exec) * 1000,
                reads_ms=sum(b - a for a, b in reads if b <= t_exec) * 1000,
                wire_ms=(t_wire - t0) * 1000,
                rt_wire_ms=sum(s.end - s.start for s in before) * 1000,
                round_trips=tuple(s.path for s in before),
            )
        )
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "timings": timings,
        "misses": misses,
        "refusals": engine.view.refusals,
        "orders": engine.view.orders_sent,
        "cpu_s": cpu,
        "wall_s": wall,
    }


ROWS: tuple[tuple[str, Callable[[SignalTiming], float]], ...] = (
    ("**own work: t0 → order on the wire, minus Bybit round trips**", lambda t: t.own_ms),
    ("· engine: t0 → `broker.execute`, minus round trips", lambda t: t.own_engine_ms),
    ("· · of which ccxt work around the hot-path reads", lambda t: t.read_client_ms),
    ("· broker + ccxt: `execute` → order on the wire", lambda t: t.own_broker_ms),
    ("`Engine.signal_overhead_ms` as recorded (round trips in)", lambda t: t.engine_ms),
    ("t0 → order on the wire, round trips in", lambda t: t.wire_ms),
    ("Bybit round trips before the order (loopback)", lambda t: t.rt_wire_ms),
)


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    timings: list[SignalTiming] = result["timings"]
    rows = []
    for label, get in ROWS:
        values = [get(t) for t in timings]
        rows.append((label, pct(values, 50), pct(values, 99), max(values)))
    trips: dict[str, int] = {}
    for t in timings:
        for path in t.round_trips:
            trips[path] = trips.get(path, 0) + 1
    return {"rows": rows, "round_trips": trips, "signals": len(timings)}


def render_rows(rows: list[tuple[str, float, float, float]]) -> str:
    out = io.StringIO()
    out.write("| per signal | p50 ms | p99 ms | max ms |\n| --- | ---: | ---: | ---: |\n")
    for label, p50, p99, top in rows:
        out.write(f"| {label} | {p50:.2f} | {p99:.2f} | {top:.2f} |\n")
    return out.getvalue()


if __name__ == "__main__":  # quick look: python benchmarks/engine_overhead.py [signals]
    import asyncio

    result = asyncio.run(measure(int(sys.argv[1]) if sys.argv[1:] else 200, 20))
    print(
        render_rows(summarize(result)["rows"]), {k: v for k, v in result.items() if k != "timings"}
    )
