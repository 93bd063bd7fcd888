"""Protective stop-losses held by Bybit, so a loss is capped even when the bot is gone.

With `safety.protective_stop_pct` (or a trader's own) above 0, every mirrored open or increase
is followed, after its fill and never before the order, by setting the Bybit position's
stop-loss that many percent from its average entry (v5 position/trading-stop, tpslMode Full:
the whole position, triggered by the mark price). It moves when the position changes. Closes
still follow the leader; the stop only matters if the bot, its server or its view of Binance is
gone. Several traders on one Bybit position share its one stop: the tightest percent applies.

A stop that triggered is a close outside the bot: it is journaled as an order (the fill Bybit
made), the mirrored book and the day's realised PnL follow, and it is reported (event +
webhook / Telegram).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from lightspeed_cli.engine.closes import record_close_intent
from lightspeed_cli.engine.events import EventSink
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.models import Fill, MirroredPosition, Side

if TYPE_CHECKING:
    from lightspeed_cli.config.settings import Settings
    from lightspeed_cli.execution.base import Broker, FollowerPosition

log = logging.getLogger(__name__)

WATCH_SECONDS = 5.0  # how often the positions with a stop are checked for a triggered one
_ZERO = Decimal(0)


@runtime_checkable
class StopBroker(Protocol):
    """What a broker needs for stops (BybitBroker has it; paper trading does not)."""

    async def set_stop_loss(self, symbol: str, side: Side, price: Decimal) -> None: ...

    async def stop_loss_fills(self, symbol: str) -> list[Fill]: ...


def stop_price(side: Side, entry: Decimal, pct: Decimal, tick: Decimal) -> Decimal:
    """`pct` percent from `entry` on the losing side, on the tick (never closer than `pct`)."""
    if side is Side.LONG:
        raw = entry * (1 - pct / 100)
        return (raw / tick).to_integral_value(ROUND_FLOOR) * tick
    raw = entry * (1 + pct / 100)
    return (raw / tick).to_integral_value(ROUND_CEILING) * tick


def stop_pct(settings: Settings, traders: list[str]) -> Decimal:
    """The tightest positive percent among the traders holding one Bybit position (0 = none)."""
    pcts = []
    for trader_id in traders:
        trader = settings.trader(trader_id)
        own = trader.protective_stop_pct if trader is not None else None
        pct = own if own is not None else settings.safety.protective_stop_pct
        if pct > 0:
            pcts.append(pct)
    return min(pcts, default=_ZERO)


def any_stops(settings: Settings) -> bool:
    return settings.safety.protective_stop_pct > 0 or any(
        (t.protective_stop_pct or 0) > 0 for t in settings.traders
    )


@dataclass
class _Stop:
    price: Decimal
    set_at: datetime


Key = tuple[str, Side]


class ProtectiveStops:
    def __init__(
        self,
        settings: Settings,
        *,
        broker: Broker,
        journal: Journal,
        events: EventSink,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        assert isinstance(broker, StopBroker)
        self.settings = settings
        self.broker = broker
        self._bybit = broker  # markets and positions (filled by its start())
        self.journal = journal
        self._events = events
        self._clock = clock
        self.stops: dict[Key, _Stop] = {}  # what Bybit holds, as far as we set it
        self._dirty: set[Key] = set()  # positions whose stop is to be (re)set
        self._wake = asyncio.Event()

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        broker: Broker,
        journal: Journal,
        events: EventSink,
        clock: Callable[[], datetime],
    ) -> ProtectiveStops | None:
        """None when no stop is configured, or the broker cannot hold one (paper trading)."""
        if not any_stops(settings):
            return None
        if not isinstance(broker, StopBroker):
            log.warning("protective stops are not simulated in paper trading: none is set")
            return None
        return cls(settings, broker=broker, journal=journal, events=events, clock=clock)

    def position_changed(self, symbol: str, side: Side) -> None:
        """After a fill (engine, close-all): the stop is (re)set in the background."""
        self._dirty.add((symbol, side))
        self._wake.set()

    async def run(self, stop: asyncio.Event, interval: float = WATCH_SECONDS) -> None:
        # at start every held position gets its stop (set again if Bybit has it already): read
        # here, after the engine's start-up reconciliation, not when the part was built
        self._dirty |= {(m.symbol, m.side) for m in self.journal.mirrored_positions()}
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()
            try:
                await self.step()
            except Exception:  # the next round tries again
                log.exception("protective stops: round failed")

    async def step(self) -> None:
        """Look for triggered stops, then set the stops of changed positions."""
        if not self.stops and not self._dirty:
            return
        bybit = {(p.symbol, p.side): p for p in await self._bybit.positions() if p.size > 0}
        for key in [k for k in self.stops if k not in bybit]:
            await self._gone(key)
        for key in list(self._dirty):
            self._dirty.discard(key)
            try:
                await self._update(key, bybit.get(key))
            except Exception as exc:
                self._dirty.add(key)  # again next round
                self._events(
                    "error",
                    f"could not set the protective stop of {key[0]} {key[1].value} on Bybit:"
                    f" {exc} (will retry)",
                )

    def _holders(self, key: Key) -> list[MirroredPosition]:
        return [m for m in self.journal.mirrored_positions() if (m.symbol, m.side) == key]

    async def _update(self, key: Key, on_bybit: FollowerPosition | None) -> None:
        symbol, side = key
        holders = self._holders(key)
        pct = stop_pct(self.settings, [m.trader for m in holders])
        if on_bybit is None or not holders or pct <= 0:
            return
        entry = on_bybit.entry_price
        market = self._bybit.markets.get(symbol)
        if market is None or entry <= 0:
            return
        price = stop_price(side, entry, pct, market.tick_size)
        current = self.stops.get(key)
        if current is not None and current.price == price:
            return
        await self.broker.set_stop_loss(symbol, side, price)
        self.stops[key] = _Stop(price, current.set_at if current else self._clock())
        self._events(
            "info",
            f"protective stop of {symbol} {side.value} set at {price}"
            f" ({pct}% from the entry {entry}, held by Bybit)",
        )

    async def _gone(self, key: Key) -> None:
        """A position we put a stop on is no longer on Bybit: did the stop close it?"""
        placed = self.stops.pop(key)
        fill = await self._stop_fill(key, placed.set_at)
        if fill is not None:  # else: closed by the bot or by hand (engine, reconciliation)
            self._record(key, fill)

    async def _stop_fill(self, key: Key, since: datetime) -> Fill | None:
        """Bybit's own close of this position by its stop-loss, made after `since`."""
        symbol, side = key
        fills = await self.broker.stop_loss_fills(symbol)
        return next(
            (
                f
                for f in fills
                if f.order_side == side.close_order_side
                and f.quantity > 0
                and (f.acked_at or f.sent_at or since) >= since
            ),
            None,
        )

    async def settle_away(self) -> None:
        """At start, before reconciliation: positions the journal holds that Bybit closed by
        their stop while the bot was away are journaled and reported as such (with their
        realised PnL), not just dropped."""
        held = self.journal.mirrored_positions()
        if not held:
            return
        bybit = {(p.symbol, p.side) for p in await self._bybit.positions() if p.size > 0}
        for key in {(m.symbol, m.side) for m in held} - bybit:
            since = min(m.updated_at for m in held if (m.symbol, m.side) == key)
            fill = await self._stop_fill(key, since)
            if fill is not None:
                self._record(key, fill)

    def _record(self, key: Key, fill: Fill) -> None:
        """Journal Bybit's stop fill as each holder's close (realised PnL included)."""
        symbol, side = key
        holders = self._holders(key)
        total = sum((m.quantity for m in holders), _ZERO)
        names = []
        for n, held in enumerate(holders):
            share = held.quantity / total if total > 0 else Decimal(1)
            cid = f"stop-{fill.order_id.replace('-', '')[:25]}-{n}"
            row, _ = record_close_intent(
                self.journal, held, held.quantity, cid, "protective stop triggered on Bybit"
            )
            mine = fill.model_copy(
                update={"client_order_id": cid, "quantity": held.quantity, "fee": fill.fee * share}
            )
            self.journal.record_fill(
                row, mine, signal=None, slippage_bps=None, detection_latency_ms=None
            )
            names.append(held.trader)
        self._events(
            "error",
            f"PROTECTIVE STOP triggered on Bybit: {symbol} {side.value} {fill.quantity} closed"
            f" at {fill.price} outside the bot (for {', '.join(names) or 'nobody'});"
            " the trader's later close of it will not be mirrored",
        )


async def settle_at_start(
    settings: Settings,
    *,
    broker: Broker,
    journal: Journal,
    events: EventSink,
    clock: Callable[[], datetime],
) -> None:
    """`lightspeed run`, before `engine.start()`: see `ProtectiveStops.settle_away`."""
    stops = ProtectiveStops.build(
        settings, broker=broker, journal=journal, events=events, clock=clock
    )
    if stops is None:
        return
    await broker.start()  # (engine.start() needs it too)
    try:
        await stops.settle_away()
    except Exception as exc:  # never a reason not to start: reconciliation drops them anyway
        log.warning("could not look for protective stops that fired while away: %s", exc)
