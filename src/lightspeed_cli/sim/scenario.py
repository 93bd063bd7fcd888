"""The scripted leaders of `lightspeed simulate`: pure data, the changes it implies, and a driver.

A `Scenario` is a list of steps; each step gives some traders' complete books (what Binance will
answer from then on). `leader_changes` turns it into the ground truth the fidelity report checks
the bot against: every open, increase, reduce and close per (trader, symbol, side), a one-way
flip being a close plus an open. The `Driver` plays the steps against the fake Binance on a
timeline while it moves prices on both fakes (Bybit a few bps off Binance, within the divergence
limit), and never applies a trader's next step before the bot has polled the previous one, so
two steps can never merge into one change on a slow machine. Each step lands at a random offset
within one poll interval of its place on the timeline, so every change meets its trader's poll
at a uniformly random phase (the measured detection latency is then an honest sample, not a
phase the timeline happened to fall on), and the steps start only once every trader was read
twice (the bot's start-up reads are over).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from lightspeed_cli.decisions.symbols import SymbolMap
from lightspeed_cli.execution.markets import market_from_instrument
from lightspeed_cli.models import Side, SignalKind, SymbolMapping
from lightspeed_cli.sim.binance import FakeBinance, FakePosition
from lightspeed_cli.sim.bybit import FakeBybit, default_instruments, instrument
from lightspeed_cli.sim.hyperliquid_leaders import HyperliquidLeaders

BPS = Decimal(10_000)
L, S = Side.LONG, Side.SHORT


# --- data ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leg:
    """One open position in a leader's book after a step."""

    symbol: str  # Binance symbol
    side: Side
    size: Decimal
    leverage: int = 10


def leg(symbol: str, side: Side, size: str, leverage: int = 10) -> Leg:
    return Leg(symbol, side, Decimal(size), leverage)


@dataclass(frozen=True)
class TraderSpec:
    id: str  # copytrade lead portfolio id (hyperliquid: the wallet address)
    label: str
    hedge: bool = False  # Binance hedge mode: LONG and SHORT rows side by side
    ratio: Decimal | None = None  # per-trader sizing ratio; None = the scenario's
    source: str = "copytrade"  # or "hyperliquid" (one-way books, traded as fills)


@dataclass(frozen=True)
class SymbolSpec:
    """A Binance contract the leaders trade, its price path, and Bybit's offset from it."""

    binance_symbol: str
    price: Decimal  # Binance mark at t=0 (Binance units)
    bybit_offset_bps: Decimal = Decimal(0)  # Bybit last = mark x price_scale x (1 + offset)
    phase: float = 0.0  # where on the price wave this symbol starts (radians)


@dataclass(frozen=True)
class Step:
    books: Mapping[
        str, tuple[Leg, ...]
    ]  # trader id -> complete book; traders not named keep theirs
    note: str = ""


@dataclass(frozen=True)
class Scenario:
    name: str
    traders: tuple[TraderSpec, ...]
    symbols: tuple[SymbolSpec, ...]
    steps: tuple[Step, ...]
    ratio: Decimal = Decimal("0.1")
    refused: Mapping[str, str] = field(default_factory=dict)  # symbol -> expected reason text
    extra_instruments: tuple[dict[str, Any], ...] = ()  # added to the fake Bybit's list
    price_amplitude_bps: Decimal = Decimal(3)  # prices swing this much around their start
    price_period_seconds: float = 5.0

    def trader(self, trader_id: str) -> TraderSpec:
        return next(t for t in self.traders if t.id == trader_id)

    def ratio_for(self, trader_id: str) -> Decimal:
        return self.trader(trader_id).ratio or self.ratio

    def symbol(self, binance_symbol: str) -> SymbolSpec:
        return next(s for s in self.symbols if s.binance_symbol == binance_symbol)

    def instruments(self) -> list[dict[str, Any]]:
        """The fake Bybit's instrument list: the realistic default plus the scenario's extras."""
        extra = {raw["symbol"] for raw in self.extra_instruments}
        base = [raw for raw in default_instruments() if raw["symbol"] not in extra]
        return base + list(self.extra_instruments)

    def symbol_map(self) -> SymbolMap:
        """Binance symbol -> Bybit market, as the bot will build it from the fake's list."""
        markets = [m for raw in self.instruments() if (m := market_from_instrument(raw))]
        return SymbolMap.from_markets(markets)

    def mappings(self) -> dict[str, SymbolMapping]:
        """The mapped symbols of this scenario (refused ones are absent)."""
        symbols = self.symbol_map()
        out = {}
        for spec in self.symbols:
            resolved = symbols.resolve(spec.binance_symbol)
            if isinstance(resolved, SymbolMapping):
                out[spec.binance_symbol] = resolved
        return out


@dataclass(frozen=True)
class LeaderChange:
    """One change of one leader position: the unit the bot must mirror (or refuse)."""

    step: int  # index into Scenario.steps
    trader: str
    symbol: str
    side: Side
    kind: SignalKind  # OPEN, INCREASE, REDUCE or CLOSE (a flip is a CLOSE then an OPEN)
    previous_size: Decimal
    new_size: Decimal


def _sizes(book: Iterable[Leg]) -> dict[tuple[str, Side], Decimal]:
    return {(x.symbol, x.side): x.size for x in book}


def leader_changes(scenario: Scenario) -> list[LeaderChange]:
    """Every per-(trader, symbol, side) size change the steps make, in step order.

    Written independently of the engine's diff on purpose: it is the yardstick, not the thing
    measured. Within a step, closes and reduces come first (the order the engine frees margin in).
    """
    books: dict[str, dict[tuple[str, Side], Decimal]] = {t.id: {} for t in scenario.traders}
    rank = {SignalKind.CLOSE: 0, SignalKind.REDUCE: 0, SignalKind.OPEN: 1, SignalKind.INCREASE: 1}
    out: list[LeaderChange] = []
    for index, step in enumerate(scenario.steps):
        found = []
        for trader, book in step.books.items():
            before, after = books[trader], _sizes(book)
            for key in sorted(before.keys() | after.keys(), key=lambda k: (k[0], k[1].value)):
                old, new = before.get(key, Decimal(0)), after.get(key, Decimal(0))
                if old == new:
                    continue
                if old == 0:
                    kind = SignalKind.OPEN
                elif new == 0:
                    kind = SignalKind.CLOSE
                else:
                    kind = SignalKind.INCREASE if new > old else SignalKind.REDUCE
                found.append(LeaderChange(index, trader, key[0], key[1], kind, old, new))
            books[trader] = after
        out += sorted(found, key=lambda c: (rank[c.kind], c.trader))
    return out


def final_books(scenario: Scenario) -> dict[str, dict[tuple[str, Side], Decimal]]:
    """Each trader's sizes after the last step."""
    books: dict[str, dict[tuple[str, Side], Decimal]] = {t.id: {} for t in scenario.traders}
    for step in scenario.steps:
        for trader, book in step.books.items():
            books[trader] = _sizes(book)
    return books


# --- the scenarios ------------------------------------------------------------------------------

ALPHA = TraderSpec("4000000000000000101", "alpha")
BRAVO = TraderSpec("4000000000000000102", "bravo", hedge=True)
CHARLIE = TraderSpec("4000000000000000103", "charlie", ratio=Decimal("0.05"))

UNLISTED = "WIFUSDT"  # the fake Bybit lists no WIF perpetual: refused, nothing sent

# Binance 1000CHEEMS is Bybit 1000000CHEEMS: 1,000 Binance contracts are one Bybit contract.
CHEEMS_INSTRUMENT = instrument(
    "1000000CHEEMSUSDT", "1000000CHEEMS", qty_step="100", min_qty="100", max_qty="100000000",
    max_mkt_qty="10000000", tick="0.0001", max_leverage="25.00",
)  # fmt: skip

SYMBOLS = (
    SymbolSpec("BTCUSDT", Decimal("60000"), Decimal("10"), 0.0),
    SymbolSpec("ETHUSDT", Decimal("3000"), Decimal("-10"), 1.3),
    SymbolSpec("SOLUSDT", Decimal("150"), Decimal("12"), 2.1),
    SymbolSpec("1000SHIBUSDT", Decimal("0.025"), Decimal("-20"), 3.7),  # Bybit SHIB1000USDT
    SymbolSpec("1000CHEEMSUSDT", Decimal("0.0012"), Decimal("15"), 4.4),  # Bybit 1000000CHEEMS
    SymbolSpec(UNLISTED, Decimal("2.5"), Decimal("0"), 5.0),
)

REFUSED = {UNLISTED: f"no Bybit market for {UNLISTED}"}


def default_scenario() -> Scenario:
    """Three lead portfolios (one in hedge mode) through every kind of change, 24 in all."""
    a, b, c = ALPHA.id, BRAVO.id, CHARLIE.id
    steps = (
        Step(
            {a: (leg("BTCUSDT", L, "0.5"),), b: (leg("ETHUSDT", L, "2"),)}, "alpha and bravo open"
        ),
        Step({c: (leg("1000SHIBUSDT", S, "400000", 5),)}, "charlie shorts 1000SHIB"),
        Step(
            {
                a: (leg("BTCUSDT", L, "0.8"),),
                b: (leg("ETHUSDT", L, "2"), leg("ETHUSDT", S, "1")),
            },
            "alpha adds to BTC; bravo holds ETH long and short",
        ),
        Step(
            {c: (leg("1000SHIBUSDT", S, "400000", 5), leg(UNLISTED, L, "1000", 5))},
            f"charlie opens {UNLISTED}, which Bybit does not list",
        ),
        Step(
            {
                a: (leg("BTCUSDT", L, "0.8"), leg("ETHUSDT", L, "4")),
                b: (leg("ETHUSDT", L, "1.5"), leg("ETHUSDT", S, "1")),
            },
            "alpha opens ETH; bravo trims its long by a quarter",
        ),
        Step(
            {
                c: (
                    leg("1000SHIBUSDT", S, "600000", 5),
                    leg(UNLISTED, L, "1000", 5),
                    leg("1000CHEEMSUSDT", L, "4000000", 5),
                )
            },
            "charlie adds to SHIB, opens 1000CHEEMS",
        ),
        Step(
            {a: (leg("BTCUSDT", L, "0.2"), leg("ETHUSDT", S, "3"))},
            "alpha flips ETH long -> short and cuts BTC by 75 %",
        ),
        Step(
            {b: (leg("ETHUSDT", S, "2.5"), leg("SOLUSDT", L, "20", 5))},
            "bravo closes its ETH long, adds to its short, opens SOL",
        ),
        Step(
            {c: (leg("1000SHIBUSDT", S, "150000", 5), leg("1000CHEEMSUSDT", L, "6000000", 5))},
            f"charlie closes {UNLISTED}, cuts SHIB by 75 %, adds to CHEEMS",
        ),
        Step({a: (leg("ETHUSDT", S, "1.8"),)}, "alpha closes BTC, reduces its ETH short"),
        Step({b: (leg("ETHUSDT", S, "2.5"), leg("SOLUSDT", L, "30", 5))}, "bravo adds to SOL"),
        Step(
            {
                c: (leg("1000CHEEMSUSDT", L, "6000000", 5),),
                a: (leg("ETHUSDT", S, "1.8"), leg("BTCUSDT", L, "0.3")),
            },
            "charlie closes SHIB; alpha opens BTC again",
        ),
    )
    return Scenario(
        name="default",
        traders=(ALPHA, BRAVO, CHARLIE),
        symbols=SYMBOLS,
        steps=steps,
        refused=REFUSED,
        extra_instruments=(CHEEMS_INSTRUMENT,),
    )


def short_scenario() -> Scenario:
    """Five steps with the same coverage (tests): every change kind, hedge, renames, refusal."""
    a, b = ALPHA.id, BRAVO.id
    steps = (
        Step({a: (leg("BTCUSDT", L, "0.5"),), b: (leg("ETHUSDT", L, "2"), leg("ETHUSDT", S, "1"))}),
        Step(
            {
                a: (leg("BTCUSDT", L, "0.8"), leg(UNLISTED, L, "1000", 5)),
                b: (
                    leg("ETHUSDT", L, "2"),
                    leg("ETHUSDT", S, "1"),
                    leg("1000SHIBUSDT", S, "400000", 5),
                ),
            }
        ),
        Step(
            {
                a: (leg("BTCUSDT", L, "0.2"), leg(UNLISTED, L, "1000", 5), leg("SOLUSDT", L, "20")),
                b: (
                    leg("ETHUSDT", L, "1.5"),
                    leg("ETHUSDT", S, "1"),
                    leg("1000SHIBUSDT", S, "400000", 5),
                ),
            }
        ),
        Step(
            {
                a: (leg("BTCUSDT", L, "0.2"), leg("SOLUSDT", S, "10")),
                b: (
                    leg("ETHUSDT", L, "1.5"),
                    leg("ETHUSDT", S, "1"),
                    leg("1000SHIBUSDT", S, "400000", 5),
                    leg("1000CHEEMSUSDT", L, "2000000", 5),
                ),
            }
        ),
        Step(
            {
                a: (leg("SOLUSDT", S, "10"),),
                b: (
                    leg("ETHUSDT", L, "1.5"),
                    leg("1000SHIBUSDT", S, "400000", 5),
                    leg("1000CHEEMSUSDT", L, "2000000", 5),
                ),
            }
        ),
    )
    return Scenario(
        name="short",
        traders=(ALPHA, BRAVO),
        symbols=SYMBOLS,
        steps=steps,
        refused=REFUSED,
        extra_instruments=(CHEEMS_INSTRUMENT,),
    )


HL_ALPHA = TraderSpec("0x" + "a1" * 20, "hl-alpha", source="hyperliquid")
HL_BRAVO = TraderSpec("0x" + "b2" * 20, "hl-bravo", source="hyperliquid")
HL_CHARLIE = TraderSpec("0x" + "c3" * 20, "hl-charlie", ratio=Decimal("0.05"), source="hyperliquid")
HL_SYMBOLS = (
    *SYMBOLS[:3],  # BTC, ETH, SOL
    SymbolSpec("1000PEPEUSDT", Decimal("0.012"), Decimal("-15"), 3.1),  # Hyperliquid kPEPE
    SymbolSpec(UNLISTED, Decimal("2.5"), Decimal("0"), 5.0),
)


def hyperliquid_scenario() -> Scenario:
    """Three Hyperliquid wallets (one-way books: every change is one pushed fill) through
    every kind of change, a one-fill flip, a k coin (kPEPE = 1000PEPEUSDT) and a refusal."""
    a, b, c = HL_ALPHA.id, HL_BRAVO.id, HL_CHARLIE.id
    steps = (
        Step({a: (leg("BTCUSDT", L, "0.5"),), b: (leg("ETHUSDT", L, "2"),)}, "alpha, bravo open"),
        Step({c: (leg("1000PEPEUSDT", S, "400000", 5),)}, "charlie shorts kPEPE"),
        Step({a: (leg("BTCUSDT", L, "0.8"),), b: (leg("ETHUSDT", L, "3"),)}, "both add"),
        Step(
            {c: (leg("1000PEPEUSDT", S, "400000", 5), leg(UNLISTED, L, "1000", 5))},
            f"charlie opens {UNLISTED}, which Bybit does not list",
        ),
        Step(
            {a: (leg("BTCUSDT", L, "0.8"), leg("ETHUSDT", L, "4")), b: (leg("ETHUSDT", L, "1.5"),)},
            "alpha opens ETH; bravo halves its long",
        ),
        Step(
            {a: (leg("BTCUSDT", L, "0.2"), leg("ETHUSDT", S, "3"))},
            "alpha flips ETH long -> short in one fill and cuts BTC by 75 %",
        ),
        Step({b: (leg("SOLUSDT", L, "20", 5),)}, "bravo closes ETH, opens SOL"),
        Step(
            {c: (leg("1000PEPEUSDT", S, "100000", 5),)},
            f"charlie closes {UNLISTED}, cuts kPEPE by 75 %",
        ),
        Step({a: (leg("ETHUSDT", S, "1.8"),)}, "alpha closes BTC, reduces its ETH short"),
        Step({b: (leg("SOLUSDT", S, "10", 5),)}, "bravo flips SOL long -> short"),
        Step({c: (), a: (leg("ETHUSDT", S, "1.8"), leg("BTCUSDT", L, "0.3"))}, "charlie closes"),
    )
    return Scenario(
        name="hyperliquid",
        traders=(HL_ALPHA, HL_BRAVO, HL_CHARLIE),
        symbols=HL_SYMBOLS,
        steps=steps,
        refused=REFUSED,
    )


SCENARIOS: dict[str, Callable[[], Scenario]] = {
    "default": default_scenario,
    "short": short_scenario,
    "hyperliquid": hyperliquid_scenario,
}


# --- prices -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceModel:
    """Deterministic prices: a slow wave around each symbol's start, Bybit offset by a few bps.

    Bounded on purpose: the swing (2 x amplitude) stays below every symbol's Bybit offset, so the
    sign of each fill's slippage is known in advance (a test checks it), and offset + swing stays
    inside the divergence limit, so no open is refused for price.
    """

    scenario: Scenario
    mappings: Mapping[str, SymbolMapping]

    def mark(self, symbol: str, t: float) -> Decimal:
        spec = self.scenario.symbol(symbol)
        wave = math.sin(2 * math.pi * t / self.scenario.price_period_seconds + spec.phase)
        swing = self.scenario.price_amplitude_bps / BPS * Decimal(repr(round(wave, 6)))
        return _round(spec.price * (1 + swing), self._binance_tick(symbol))

    def bybit(self, symbol: str, t: float) -> Decimal | None:
        """Bybit's last price in Bybit units, or None when Bybit has no market for `symbol`."""
        mapping = self.mappings.get(symbol)
        if mapping is None:
            return None
        spec = self.scenario.symbol(symbol)
        raw = self.mark(symbol, t) * mapping.price_scale * (1 + spec.bybit_offset_bps / BPS)
        return _round(raw, mapping.market.tick_size)

    def _binance_tick(self, symbol: str) -> Decimal:
        mapping = self.mappings.get(symbol)
        if mapping is None:
            return Decimal("0.0001")
        return mapping.market.tick_size / mapping.price_scale


def _round(value: Decimal, tick: Decimal) -> Decimal:
    return (value / tick).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * tick


# --- the driver -------------------------------------------------------------------------------


@dataclass
class PlayedStep:
    index: int
    note: str
    applied_at: dict[str, datetime] = field(default_factory=dict)  # trader -> when Binance changed
    observed_at: dict[str, datetime] = field(default_factory=dict)  # trader -> first poll after


@dataclass
class Playback:
    """What the driver did, with wall-clock times, for the report."""

    started_at: datetime
    steps: list[PlayedStep] = field(default_factory=list)
    spacing_seconds: float = 0.0
    completed: bool = False  # every step applied and polled before the deadline

    def applied_at(self, step: int, trader: str) -> datetime | None:
        return self.steps[step].applied_at.get(trader) if step < len(self.steps) else None


@dataclass
class _Held:
    size: Decimal
    entry: Decimal


class Driver:
    """Plays a scenario against the fakes; see the module docstring for the rules it keeps."""

    def __init__(
        self,
        scenario: Scenario,
        binance: FakeBinance | HyperliquidLeaders,
        bybit: FakeBybit,
        *,
        poll_interval: float,
        clock: Callable[[], float] = time.monotonic,
        seed: int = 0,
    ) -> None:
        self.scenario = scenario
        self.binance = binance
        self.bybit = bybit
        self.poll_interval = poll_interval
        self.clock = clock
        self.prices = PriceModel(scenario, scenario.mappings())
        self._t0 = clock()
        self._held: dict[str, dict[tuple[str, Side], _Held]] = {t.id: {} for t in scenario.traders}
        self._seen_after: dict[str, int] = {}  # trader -> request count once its step was applied
        self._phases = random.Random(seed)  # each step's offset within one poll interval
        self.playback = Playback(started_at=datetime.now(UTC))

    # -- prices ----------------------------------------------------------------------------

    def elapsed(self) -> float:
        return self.clock() - self._t0

    def set_prices(self) -> None:
        t = self.elapsed()
        for spec in self.scenario.symbols:
            self.binance.set_mark_price(
                spec.binance_symbol, self.prices.mark(spec.binance_symbol, t)
            )
            mapping = self.prices.mappings.get(spec.binance_symbol)
            bybit_price = self.prices.bybit(spec.binance_symbol, t)
            if mapping is not None and bybit_price is not None:
                self.bybit.set_price(mapping.market.symbol, bybit_price)

    async def move_prices(self, stop: asyncio.Event) -> None:
        """Keep prices moving, several times per poll interval, until `stop` is set."""
        tick = max(0.05, self.poll_interval / 3)
        while not stop.is_set():
            self.set_prices()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=tick)

    # -- books -------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Before the bot starts: prices set, every trader flat (the bot's baseline)."""
        self.set_prices()
        for trader in self.scenario.traders:
            self.binance.clear_positions(trader.id)

    def _apply(self, trader: TraderSpec, book: tuple[Leg, ...]) -> None:
        t = self.elapsed()
        held = self._held[trader.id]
        now: dict[tuple[str, Side], _Held] = {}
        positions = []
        for x in book:
            mark = self.prices.mark(x.symbol, t)
            old = held.get((x.symbol, x.side))
            if old is None:
                entry = mark
            elif x.size > old.size:  # the added size was bought at the mark
                entry = (old.size * old.entry + (x.size - old.size) * mark) / x.size
            else:
                entry = old.entry
            now[(x.symbol, x.side)] = _Held(x.size, entry)
            make = FakePosition.long if x.side is Side.LONG else FakePosition.short
            positions.append(make(x.symbol, x.size, entry, x.leverage, hedge=trader.hedge))
        self.binance.set_positions(trader.id, positions)
        self._held[trader.id] = now

    # -- the timeline ------------------------------------------------------------------------

    async def wait_for_polls(self, traders: Iterable[str], deadline: float) -> bool:
        """Until each trader was polled after its last applied step (False at the deadline)."""
        pending = set(traders)
        while pending:
            for trader in list(pending):
                if self.binance.position_reads(trader) > self._seen_after.get(trader, 0):
                    pending.discard(trader)
                    self._mark_observed(trader)
            if not pending:
                break
            if self.clock() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def _mark_observed(self, trader: str) -> None:
        for step in reversed(self.playback.steps):
            if trader in step.applied_at:
                step.observed_at.setdefault(trader, datetime.now(UTC))
                return

    async def play(self, deadline: float, settle: float) -> Playback:
        """Wait for the bot's first two polls of every trader, then play every step before
        `deadline - settle` (monotonic clock), evenly spaced plus a random offset within one
        poll interval, each only once its trader's previous step was polled."""
        ids = [t.id for t in self.scenario.traders]
        rounds = getattr(self.binance, "warmup_rounds", 2)  # pushed wallets: one book read
        for round_ in range(rounds):  # the second round: the bot's start-up reads are behind it
            if round_:
                self._seen_after = {t: self.binance.position_reads(t) for t in ids}
            if not await self.wait_for_polls(ids, deadline - settle):
                return self.playback
        self._seen_after.clear()
        steps = self.scenario.steps
        min_spacing = max(0.4, 2.5 * self.poll_interval + 0.1)
        budget = deadline - settle - self.clock()
        spacing = min(1.5, max(min_spacing, budget / max(1, len(steps))))
        self.playback.spacing_seconds = spacing
        start = self.clock()
        for index, step in enumerate(steps):
            at = start + index * spacing + self._phases.uniform(0, self.poll_interval)
            await asyncio.sleep(max(0.0, at - self.clock()))
            if not await self.wait_for_polls(step.books, deadline):
                return self.playback
            played = PlayedStep(index, step.note)
            self.playback.steps.append(played)
            for trader_id, book in step.books.items():
                self._apply(self.scenario.trader(trader_id), book)
                played.applied_at[trader_id] = datetime.now(UTC)
                self._seen_after[trader_id] = self.binance.position_reads(trader_id)
        self.playback.completed = await self.wait_for_polls(ids, deadline)
        return self.playback
