"""Settling an order of unknown fate: what Bybit's answer to the lookup means for the journal.

The broker here is a stand-in that answers `lookup` only: this is the engine's bookkeeping, the
wire behaviour of lookups is tested against the fake Bybit in tests/execution.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from lightspeed_cli.config.settings import Settings
from lightspeed_cli.decisions.fate import ACKNOWLEDGED
from lightspeed_cli.engine.loop import Engine
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.models import (
    Fill,
    OrderIntent,
    OrderStatus,
    Side,
    Signal,
    SignalKind,
    TraderPosition,
)

TRADER = "7000000000000000001"
T0 = datetime(2026, 11, 25, 12, tzinfo=UTC)


class LookupOnly:
    def __init__(self, answer: Fill | None) -> None:
        self.answer = answer

    async def lookup(self, client_order_id: str, symbol: str) -> Fill | None:
        return self.answer


def _pending(journal: Journal) -> str:
    position = TraderPosition(
        symbol="ETHUSDT",
        side=Side.LONG,
        size=Decimal(1),
        entry_price=Decimal(3000),
        mark_price=Decimal(3000),
        leverage=5,
    )
    signal = Signal(
        trader=TRADER,
        kind=SignalKind.OPEN,
        symbol="ETHUSDT",
        side=Side.LONG,
        previous_size=Decimal(0),
        new_size=Decimal(1),
        position=position,
        snapshot_time=T0,
    )
    intent = OrderIntent(
        trader=TRADER,
        signal_kind=SignalKind.OPEN,
        binance_symbol="ETHUSDT",
        symbol="ETHUSDT",
        side=Side.LONG,
        order_side="buy",
        quantity=Decimal("0.1"),
        reduce_only=False,
        leverage=5,
        reference_price=Decimal(3000),
        client_order_id="ls-pending",
    )
    journal.record_intent(intent, signal, leader_change_at=T0)
    return intent.client_order_id


def _fill(status: str, qty: str) -> Fill:
    return Fill(
        client_order_id="ls-pending",
        order_id="1",
        symbol="ETHUSDT",
        order_side="buy",
        quantity=Decimal(qty),
        price=Decimal(3000) if qty != "0" else None,
        status=status,  # type: ignore[arg-type]
    )


LATER = timedelta(seconds=5 + 5 + 2 + 1)  # send span + recv_window + clock skew, and then some


@pytest.mark.parametrize(
    ("answer", "later", "acked", "state", "status", "attempt"),
    [
        # a lookup that finds nothing proves nothing until the request window has closed
        (None, False, False, "unknown", OrderStatus.INTENT, 0),
        (None, True, False, "not_placed", OrderStatus.FAILED, 1),
        # Bybit acknowledged it: never "not placed", however long it stays unlisted
        (None, True, True, "unknown", OrderStatus.UNKNOWN, 0),
        (_fill("canceled", "0"), False, False, "not_placed", OrderStatus.FAILED, 1),
        (_fill("rejected", "0"), False, True, "not_placed", OrderStatus.FAILED, 1),
        (_fill("open", "0"), True, False, "unknown", OrderStatus.INTENT, 0),
        (_fill("partially_filled", "0.05"), True, False, "unknown", OrderStatus.INTENT, 0),
        (_fill("filled", "0.1"), False, False, "filled", OrderStatus.FILLED, 0),
        (_fill("canceled", "0.05"), False, False, "filled", OrderStatus.FILLED, 0),
    ],
)
async def test_what_a_lookup_answer_means(
    tmp_path: Path,
    answer: Fill | None,
    later: bool,
    acked: bool,
    state: str,
    status: OrderStatus,
    attempt: int,
) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        cid = _pending(journal)
        if acked:
            journal.mark_order_unknown(cid, ACKNOWLEDGED, "Bybit called it a duplicate")
        shift = LATER if later else timedelta(0)
        engine = Engine(
            Settings(),
            broker=LookupOnly(answer),
            source=None,
            journal=journal,  # type: ignore[arg-type]
            clock=lambda: datetime.now(UTC) + shift,
        )
        row = journal.order(cid)
        assert row is not None
        assert await engine.tracker.settle(row) == state
        assert journal.order(cid).status is status  # type: ignore[union-attr]
        entry = journal.book_entry(TRADER, "ETHUSDT", Side.LONG)
        assert (entry.attempt if entry else 0) == attempt
        lost = [e for e in journal.recent_events() if "fate unknown" in e["message"]]
        assert len(lost) == (1 if acked and answer is None else 0)
        if lost:
            assert await engine.tracker.settle(row) == "unknown"  # said once, not each look
            assert len([e for e in journal.recent_events() if "fate unknown" in e["message"]]) == 1


async def test_an_acknowledgement_survives_a_later_unknown_mark(tmp_path: Path) -> None:
    """Close-all and repairs mark their unknown orders with the plain outcome; an ack the
    broker already journaled (on_acknowledged) must stay, or the order would look dead once
    its window closed and the change would go out again."""
    with Journal(tmp_path / "j.sqlite3") as journal:
        cid = _pending(journal)
        journal.mark_order_unknown(cid, "unavailable", "no answer")
        assert journal.order(cid).outcome == "unavailable"  # type: ignore[union-attr]
        journal.mark_acknowledged(cid)
        journal.mark_order_unknown(cid, "unknown", "no fill read before the answer ran out")
        row = journal.order(cid)
        assert row is not None and row.status is OrderStatus.UNKNOWN
        assert row.outcome == ACKNOWLEDGED and row.error.startswith("no fill read")
        engine = Engine(
            Settings(),
            broker=LookupOnly(None),
            source=None,
            journal=journal,  # type: ignore[arg-type]
            clock=lambda: datetime.now(UTC) + LATER,
        )
        assert await engine.tracker.settle(row) == "unknown"
        assert journal.order(cid).status is OrderStatus.UNKNOWN  # type: ignore[union-attr]
