"""The one in-flight record: every order the bot sent and whose end it has not journaled yet.

The mirror, reconciliation and the start-up settle share it: opens in flight (or of unknown
fate) count against the caps, a lookup settles an order of unknown fate through the pure rules
of decisions/fate.py, a fill is recorded once with its fidelity figures, and reconciliation
skips a pass while anything is being sent (a half-applied fill is not drift).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol, cast

from lightspeed_cli.decisions import fate, fidelity
from lightspeed_cli.execution.base import Broker, ExecutionResult
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.models import (
    Fill,
    MirroredPosition,
    OrderIntent,
    OrderRow,
    Side,
    Signal,
    SignalDecision,
    SignalKind,
)
from lightspeed_cli.notify.alerts import Alerts, Kind

from .events import Events

log = logging.getLogger("lightspeed_cli.engine.loop")

SETTLE_EVERY_SECONDS = 0.5  # a lookup again this often while an order's request window is open
UNKNOWN_ACTION = (
    "nothing to do while it waits; if it lasts, look the order up in Bybit's order history"
    " and close by hand what the leader no longer holds"
)


class FillWatch(Protocol):
    """Told after each fill, off the hot path (the protective stops)."""

    def position_changed(self, symbol: str, side: Side) -> None: ...


def order_key(row: OrderRow) -> str:
    return f"{row.trader} {row.symbol} {row.side.value}"


class OrderTracker:
    def __init__(
        self,
        *,
        broker: Broker,
        journal: Journal,
        events: Events,
        alerts: Alerts,
        recv_window_ms: int,
        price_scale: Callable[[str], Decimal],
        clock: Callable[[], datetime],
    ) -> None:
        self.broker = broker
        self.journal = journal
        self.events = events
        self.alerts = alerts
        self.recv_window_ms = recv_window_ms
        self.clock = clock
        self._price_scale = price_scale
        self.instance = journal.instance_id  # the salt of this journal's client order ids
        # opens/increases sent and not yet recorded (or of unknown fate), by client order id:
        # the caps count them, or two traders opening different symbols at once could each
        # pass a cap only one fits
        self.in_flight: dict[str, MirroredPosition] = {}
        self.watch: FillWatch | None = None  # the protective stops, when configured
        self.sending = 0  # orders being sent right now (any part)
        self.generation = 0  # orders finished sending
        self.soon = asyncio.Event()  # set when an order ended of unknown fate
        self._lost_said: set[str] = set()  # acknowledged orders Bybit lists nowhere, said once

    # ---- sending ---------------------------------------------------------------------------

    def started(self) -> None:
        self.sending += 1

    def finished(self, *, unknown: bool) -> None:
        self.sending -= 1
        self.generation += 1
        if unknown:
            self.soon.set()

    def reserve(
        self, order: OrderIntent | OrderRow, price: Decimal, at: datetime | None = None
    ) -> None:
        """An open in flight (or of unknown fate), as the caps see it: its quantity at the
        price it was sized at."""
        now = at or self.clock()
        self.in_flight[order.client_order_id] = MirroredPosition(
            trader=order.trader,
            symbol=order.symbol,
            side=order.side,
            binance_symbol=order.binance_symbol,
            quantity=order.quantity,
            entry_price=price,
            opened_at=now,
            updated_at=now,
        )

    def release(self, client_order_id: str) -> None:
        self.in_flight.pop(client_order_id, None)

    # ---- fate ------------------------------------------------------------------------------

    def window_closes(self, row: OrderRow) -> datetime:
        return fate.window_closes_at(row.created_at, self.recv_window_ms)

    async def settle(self, row: OrderRow) -> str:
        """Look an order of unknown fate up (both order lists) and record what Bybit says.

        "not_placed" only when it is provably dead (decisions/fate.py): until its request
        window has closed, or ever once Bybit acknowledged it, "unknown" keeps the change
        waiting under the same id."""
        try:
            fill = await self.broker.lookup(row.client_order_id, row.symbol)
        except Exception as exc:
            log.warning("lookup of %s failed: %s", row.client_order_id, exc)
            return "unknown"
        acknowledged = row.outcome == fate.ACKNOWLEDGED
        closed = self.clock() >= self.window_closes(row)
        verdict = fate.fate_of(fill, acknowledged=acknowledged, window_closed=closed)
        if verdict is fate.Fate.FILLED:
            assert fill is not None
            self.record_fill(row, fill, self.journal.signal_for_order(row.client_order_id))
            self.alerts.clear(Kind.ORDER, order_key(row), f"order {row.client_order_id}: filled")
            return "filled"
        if verdict is fate.Fate.DEAD:
            # nothing was executed and nothing will be: the change may go again, under a new id
            self.mark_not_placed(
                row,
                "not_placed" if fill is None else fill.status,
                "Bybit has no such order in either list after its request window: never placed"
                if fill is None
                else f"Bybit {fill.status} the order without filling any of it",
            )
            return "not_placed"
        if verdict is fate.Fate.LOST and row.client_order_id not in self._lost_said:
            self._lost_said.add(row.client_order_id)
            self.events.event(
                "error",
                f"{row.trader} {row.kind} {row.symbol} {row.side.value} {row.quantity}: Bybit"
                f" acknowledged order {row.client_order_id} but lists it in neither order list"
                " after its request window: fate unknown; this change waits until Bybit shows"
                " it",
                alert=(Kind.ORDER, order_key(row), UNKNOWN_ACTION),
            )
        return "unknown"

    async def settle_within_windows(
        self, rows: Sequence[OrderRow], *, every: float = SETTLE_EVERY_SECONDS
    ) -> dict[int, str]:
        """Settle each row ("filled" / "not_placed" / "unknown"); one still "unknown" is looked
        up again every `every` seconds until its request window has closed. Returns row index
        -> last state. At start-up this is what keeps a restart from calling an order that is
        still on its way to Bybit "never placed"."""
        states: dict[int, str] = {}
        pending = list(range(len(rows)))
        while pending:
            for n in pending:
                states[n] = await self.settle(rows[n])
            pending = [
                n
                for n in pending
                if states[n] == "unknown" and self.clock() < self.window_closes(rows[n])
            ]
            if pending:
                await asyncio.sleep(every)
        return states

    def mark_not_placed(self, row: OrderRow, outcome: str, reason: str) -> None:
        self.journal.mark_order_failed(
            row.client_order_id, outcome, reason, signal_decision=SignalDecision.FAILED
        )
        self.journal.bump_attempt(row.trader, row.binance_symbol, row.side)

    # ---- fills -----------------------------------------------------------------------------

    def record_fill(
        self,
        row: OrderRow,
        fill: Fill,
        signal: Signal | None,
        result: ExecutionResult | None = None,
    ) -> None:
        """Journal a fill with its slippage and detection latency; the stops hear of it."""
        sent_at = (result.sent_at if result else None) or fill.sent_at or row.created_at
        slippage = None
        leader_price = (
            fidelity.leader_reference_price(signal)
            if signal is not None and signal.kind is not SignalKind.CLOSE
            else None
        ) or row.reference_price
        price_scale = self._price_scale(row.binance_symbol)
        if fill.price is not None and leader_price > 0:
            slippage = fidelity.slippage_bps(
                cast(fidelity.OrderSide, row.order_side), leader_price, fill.price, price_scale
            )
        latency = (
            fidelity.detection_latency_ms(sent_at, row.snapshot_at, row.leader_change_at)
            if row.snapshot_at
            else None
        )
        acked_at = fill.acked_at or (result.acked_at if result else None)
        fill = fill.model_copy(update={"sent_at": sent_at, "acked_at": acked_at})
        self.journal.record_fill(
            row, fill, signal=signal, slippage_bps=slippage, detection_latency_ms=latency
        )
        if self.watch is not None:  # after the fill, off the hot path
            self.watch.position_changed(row.symbol, row.side)
