"""Closes the leader did not make (close-all, a stop Bybit triggered), journaled like any order."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from lightspeed_cli.journal.store import Journal
from lightspeed_cli.models import (
    MirroredPosition,
    OrderIntent,
    OrderRow,
    Signal,
    SignalDecision,
    SignalKind,
)


def record_close_intent(
    journal: Journal, held: MirroredPosition, qty: Decimal, cid: str, reason: str
) -> tuple[OrderRow, OrderIntent]:
    """Journal a close the leader did not make (close-all, a stop Bybit triggered) like any
    order: intent first. The leader book is left as it is, so the leader's position is not
    reopened and its own close later is not mirrored twice."""
    entry = journal.book_entry(held.trader, held.binance_symbol, held.side)
    leader = entry.position if entry is not None else None
    size = leader.size if leader is not None else Decimal(0)
    signal = Signal(
        trader=held.trader,
        kind=SignalKind.CLOSE,
        symbol=held.binance_symbol,
        side=held.side,
        previous_size=size,
        new_size=size,  # the leader did not move: a replay leaves the leader book as it is
        position=leader,
        previous_position=leader,
        snapshot_time=datetime.now(UTC),
    )
    intent = OrderIntent(
        trader=held.trader,
        signal_kind=SignalKind.CLOSE,
        binance_symbol=held.binance_symbol,
        symbol=held.symbol,
        side=held.side,
        order_side=held.side.close_order_side,
        quantity=qty,
        reduce_only=True,
        leverage=1,
        reference_price=held.entry_price,
        client_order_id=cid,
    )
    signal_id = journal.record_intent(intent, signal, leader_change_at=None)
    journal.finish_signal(signal_id, SignalDecision.PENDING, reason)
    row = journal.order(cid)
    assert row is not None
    return row, intent
