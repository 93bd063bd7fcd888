"""order/realtime rows -> what the engine is told: the statuses a market order can end in."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from lightspeed_cli.execution.base import ExecutionOutcome as O
from lightspeed_cli.execution.orders import fill_from_order, result_from_fill


def row(status: str, cum_qty: str, avg: str, fee: str = "0") -> dict[str, Any]:
    return {
        "orderId": "1", "orderLinkId": "ls-1", "symbol": "BTCUSDT", "side": "Sell",
        "orderStatus": status, "qty": "0.01", "cumExecQty": cum_qty, "avgPrice": avg,
        "cumExecFee": fee, "createdTime": "1700000000000", "updatedTime": "1700000000100",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("status", "cum_qty", "avg", "outcome", "qty", "price"),
    [
        ("Filled", "0.01", "60000.5", O.FILLED, D("0.01"), D("60000.5")),
        # slippage protection cancelled the rest of a market order: the part that filled counts
        ("Cancelled", "0.004", "60000", O.FILLED, D("0.004"), D(60000)),
        ("PartiallyFilledCanceled", "0.004", "60000", O.FILLED, D("0.004"), D(60000)),
        # nothing filled: Bybit writes avgPrice as "" (UTA) or "0" (classic)
        ("Cancelled", "0", "", O.REJECTED, D(0), None),
        ("Cancelled", "0", "0", O.REJECTED, D(0), None),
        ("Rejected", "0", "0", O.REJECTED, D(0), None),
        ("New", "0", "", O.UNKNOWN, D(0), None),
        ("New", "0", "0", O.UNKNOWN, D(0), None),
    ],
)
def test_order_row_outcomes(
    status: str, cum_qty: str, avg: str, outcome: O, qty: D, price: D | None
) -> None:
    fill = fill_from_order(row(status, cum_qty, avg, fee="0.132"))
    assert (fill.quantity, fill.price, fill.order_side) == (qty, price, "sell")
    assert fill.fee == D("0.132")
    assert result_from_fill(fill, None, None).outcome is outcome
