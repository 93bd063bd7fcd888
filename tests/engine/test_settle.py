"""Settling an order of unknown fate: what Bybit's answer to the lookup means for the journal.

The broker here is a stand-in that answers `lookup` only: this is the engine's bookkeeping, the
wire behaviour of lookups is tested against the fake Bybit in tests/execution.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from lightspeed_cli.engine import Engine
from lightspeed_cli.journal import Journal, OrderStatus
from lightspeed_cli.models import Fill, OrderIntent, Side, Signal, SignalKind, TraderPosition
from lightspeed_cli.settings import Settings

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


@pytest.mark.parametrize(
    ("answer", "state", "status", "attempt"),
    [
        (None, "not_placed", OrderStatus.FAILED, 1),
        (_fill("canceled", "0"), "not_placed", OrderStatus.FAILED, 1),
        (_fill("rejected", "0"), "not_placed", OrderStatus.FAILED, 1),
        (_fill("open", "0"), "unknown", OrderStatus.INTENT, 0),
        (_fill("filled", "0.1"), "filled", OrderStatus.FILLED, 0),
        (_fill("canceled", "0.05"), "filled", OrderStatus.FILLED, 0),
    ],
)
async def test_what_a_lookup_answer_means(
    tmp_path: Path, answer: Fill | None, state: str, status: OrderStatus, attempt: int
) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        cid = _pending(journal)
        engine = Engine(
            Settings(),
            broker=LookupOnly(answer),
            source=None,
            journal=journal,  # type: ignore[arg-type]
        )
        row = journal.order(cid)
        assert row is not None
        assert await engine._settle_unfinished(row) == state
        assert journal.order(cid).status is status  # type: ignore[union-attr]
        entry = journal.book_entry(TRADER, "ETHUSDT", Side.LONG)
        assert (entry.attempt if entry else 0) == attempt
