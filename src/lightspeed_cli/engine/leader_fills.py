"""The leader's own fills for copy-trade traders: read lead-portfolio order-history when a
snapshot changed (and now and then), match it to what the bot saw (fillmatch.py), and record
what it tells:

- each copied change's leader fill price (avgPrice) and time (orderUpdateTime): the journal's
  slippage and detection latency are then measured against them (`history`, `status`,
  `simulate --report`);
- a round trip the leader opened and closed between two reads: an event, never traded after the
  fact;
- a mass close the order-history confirms needs no second read of the positions (massclose.py).

Positions stay the truth of what to hold: nothing here sends an order, and a failed read only
means the snapshot's own estimates stay. Reads go through BinanceSource.read (the same exits,
budget and retries as the positions); at most one read per trader at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from lightspeed_cli.decisions import fidelity, fillmatch
from lightspeed_cli.decisions.fillmatch import Change, Ledger
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.models import OrderStatus, PositionKey, Side, SignalKind, Snapshot
from lightspeed_cli.sources.errors import SourceError
from lightspeed_cli.sources.lead_portfolio import Reader, read_orders

log = logging.getLogger(__name__)

READ_EVERY_SECONDS = 60.0  # the "now and then" read of a copy-trade trader with no change
SKEW_MS = 1_000  # Binance's clock vs ours: an order this much after the snapshot still fits
PENDING_RETRY_SECONDS = 5.0  # a change not yet in the history is asked about again after this
GIVE_UP_SECONDS = 120.0  # a change the order-history never explains keeps its estimates
KEEP_ORDERS_SECONDS = 3_600.0


@dataclass
class _Pending:
    change: Change
    client_order_id: str | None


@dataclass
class _Trader:
    ledger: Ledger = field(default_factory=Ledger)
    pending: list[_Pending] = field(default_factory=list)
    floor_ms: int = 0  # orders before we followed are nobody's
    seen_ms: int = 0  # the latest snapshot handed to us
    read_at: float = -1e18  # monotonic time of the last read
    read_ms: int = 0  # wall time of the last good read
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _n(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _hms(ms: int) -> str:
    return _at(ms).strftime("%H:%M:%S.%f")[:-3]


class LeaderFills:
    """One per engine; `traders` are the copy-trade traders it reads."""

    def __init__(
        self,
        source: Reader,
        journal: Journal,
        *,
        price_scale: Callable[[str], Decimal],
        report: Callable[[str, str], None],
        read_every: float = READ_EVERY_SECONDS,
    ) -> None:
        """`price_scale(binance_symbol)`: Binance price → Bybit price factor. `report(level,
        message)`: an engine event."""
        self._source = source
        self._journal = journal
        self._price_scale = price_scale
        self._report = report
        self.read_every = read_every
        self._traders: dict[str, _Trader] = {}
        self.reads = 0  # order-history requests sent (pages), for BENCHMARKS.md
        self.round_trips = 0

    def _state(self, trader: str, seen: datetime) -> _Trader:
        state = self._traders.get(trader)
        if state is None:
            state = self._traders[trader] = _Trader(floor_ms=_ms(seen))
        return state

    def observe(self, trader: str, snapshot: Snapshot) -> None:
        """Every good snapshot of a copy-trade trader (the first sets the floor)."""
        state = self._state(trader, snapshot.fetched_at)
        state.seen_ms = max(state.seen_ms, _ms(snapshot.fetched_at))

    # ---- a change --------------------------------------------------------------------------

    async def changed(self, trader: str, snapshot: Snapshot) -> None:
        """The snapshot changed the book: queue its journaled signals and read the fills."""
        state = self._state(trader, snapshot.fetched_at)
        stamp = snapshot.fetched_at.astimezone(UTC).isoformat()
        for row in self._journal.history(since=snapshot.fetched_at, trader=trader):
            if row["snapshot_time"] != stamp:
                continue
            change = _change(row, _ms(snapshot.fetched_at))
            if change is not None:
                state.pending.append(_Pending(change, row["client_order_id"]))
        await self.read(trader, after_ms=_ms(snapshot.fetched_at))

    async def confirms_closes(self, trader: str, previous: Snapshot, first: Snapshot) -> bool:
        """True if the order-history shows the closing orders of every position `first` closed
        since `previous`: the mass close needs no second read of the positions."""
        closed: dict[PositionKey, Decimal] = {
            p.key: p.size for p in previous.positions if p.key not in first.by_key()
        }
        state = self._state(trader, first.fetched_at)
        if not await self.read(trader, match=False, urgent=True):
            return False
        return fillmatch.closes_confirmed(
            closed,
            state.ledger,
            after_ms=max(state.floor_ms, _ms(previous.fetched_at)) - SKEW_MS,
            until_ms=_ms(first.fetched_at) + SKEW_MS,
        )

    # ---- reading ---------------------------------------------------------------------------

    async def read(
        self,
        trader: str,
        *,
        match: bool = True,
        urgent: bool = False,
        after_ms: int | None = None,
    ) -> bool:
        """Read the trader's order-history and settle what it explains; False if it failed.
        `after_ms`: a read that started at or after this time (wall ms) will do: the changes that
        queued behind one read share it (reads wait their turn in the budget's background
        lane). `urgent`: an order waits for this read: the polls' lane, and never behind this
        trader's background read (the ledger's updates after a read are atomic)."""
        state = self._traders.get(trader)
        if state is None:
            return False
        if urgent:
            return await self._read_now(trader, state, match=match, urgent=True)
        async with state.lock:
            if after_ms is not None and state.read_ms >= after_ms:
                if match:
                    self._settle(trader, state)
                return True
            return await self._read_now(trader, state, match=match, urgent=False)

    async def _read_now(self, trader: str, state: _Trader, *, match: bool, urgent: bool) -> bool:
        since = max(state.floor_ms, _ms(datetime.now(UTC)) - int(KEEP_ORDERS_SECONDS * 1000))
        started_ms = _ms(datetime.now(UTC))
        try:
            orders = await read_orders(
                self._source, trader, since_ms=since - SKEW_MS, urgent=urgent
            )
        except SourceError as exc:
            log.info("%s: order-history unavailable: %s", trader, exc.reason)
            return False
        finally:
            state.read_at = time.monotonic()
        self.reads += 1
        state.read_ms = max(state.read_ms, started_ms)
        state.ledger.forget_before(since - SKEW_MS)
        state.ledger.add(o for o in orders if o.time_ms >= state.floor_ms - SKEW_MS)
        if match:
            self._settle(trader, state)
        return True

    def _settle(self, trader: str, state: _Trader) -> None:
        changes = [p.change for p in state.pending]
        fills = fillmatch.match(changes, state.ledger, skew_ms=SKEW_MS)
        now_ms = _ms(datetime.now(UTC))
        still = []
        for pending in state.pending:
            fill = fills.get(pending.change.ref)
            if fill is not None:
                if pending.client_order_id:
                    self._record(pending.client_order_id, fill)
            elif now_ms - pending.change.seen_ms < GIVE_UP_SECONDS * 1000:
                still.append(pending)
        state.pending = still
        # every change seen until `settled` was matched: what is left there nobody saw
        oldest_pending = min((p.change.seen_ms for p in still), default=state.seen_ms)
        settled = min(oldest_pending, state.seen_ms) - SKEW_MS
        for trip in fillmatch.round_trips(state.ledger, settled_ms=settled):
            self.round_trips += 1
            self._report(
                "warning",
                f"{trader}: missed round trip: the leader opened and closed {trip.symbol}"
                f" {trip.side.value} {_n(trip.qty)} between two reads ({_hms(trip.opened_ms)}"
                f" @ {_n(trip.open_price)} → {_hms(trip.closed_ms)} @ {_n(trip.close_price)},"
                f" leader PnL {trip.pnl:+.2f}): nothing traded",
            )

    def _record(self, client_order_id: str, fill: fillmatch.LeaderFill) -> None:
        row = self._journal.order(client_order_id)
        if row is None or row.status is not OrderStatus.FILLED:
            return
        slippage = None
        if row.fill_price is not None and fill.price > 0:
            slippage = fidelity.slippage_bps(
                row.order_side,  # type: ignore[arg-type]
                fill.price,
                row.fill_price,
                self._price_scale(row.binance_symbol),
            )
        leader_at = _at(fill.first_ms)
        latency = None
        if row.sent_at is not None:
            latency = (row.sent_at - leader_at) / timedelta(milliseconds=1)
        self._journal.record_leader_fill(
            client_order_id,
            fill.price,
            leader_at,
            slippage_bps=slippage,
            detection_latency_ms=latency,
        )

    # ---- now and then ----------------------------------------------------------------------

    async def run(self, traders: Iterable[str], stop: asyncio.Event) -> None:
        """Read each copy-trade trader every `read_every` seconds when nothing else did: the
        round trips no snapshot saw, and the changes the history had not caught up with."""
        ids = list(traders)
        tick = max(0.05, min(self.read_every / 4, 5.0))
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=tick)
            for trader in ids:
                state = self._traders.get(trader)
                if state is None or stop.is_set():
                    continue
                idle = time.monotonic() - state.read_at
                retry = bool(state.pending) and idle >= min(PENDING_RETRY_SECONDS, self.read_every)
                if (idle >= self.read_every or retry) and not state.lock.locked():
                    await self.read(trader)


def _change(row: dict[str, object], seen_ms: int) -> Change | None:
    """A journaled signal as a change to match (refused and skipped ones too: the leader's fill
    is claimed either way, so it is never taken for a round trip)."""
    kind = SignalKind(str(row["kind"]))
    qty = abs(Decimal(str(row["new_size"])) - Decimal(str(row["previous_size"])))
    if kind is SignalKind.FLIP or qty <= 0:
        return None
    return Change(
        ref=str(row["id"]),
        symbol=str(row["symbol"]),
        side=Side(str(row["side"])),
        opening=not kind.is_risk_reducing,
        qty=qty,
        seen_ms=seen_ms,
    )
