"""order/realtime rows -> what the engine is told: the statuses a market order can end in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest

from lightspeed_cli.execution.base import ExecutionOutcome as O
from lightspeed_cli.execution.base import ExecutionResult
from lightspeed_cli.execution.orders import (
    earlier_order_problem,
    exchange_order,
    fill_from_order,
    not_an_earlier_order,
    result_from_fill,
)


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


# ---- an order found under this request's id: this request's, or an earlier one? -------------

REQUEST = {"symbol": "BTCUSDT", "side": "Sell", "qty": "0.01", "orderLinkId": "ls-1"}
CREATED = datetime.fromtimestamp(1_700_000_000, UTC)  # row()'s createdTime


@pytest.mark.parametrize(
    ("change", "journaled", "problem"),
    [
        ({}, CREATED, ""),
        ({}, CREATED + timedelta(seconds=10), ""),  # Bybit's clock 10 s behind: still ours
        ({}, CREATED + timedelta(seconds=10, milliseconds=1), "before this change existed"),
        ({}, None, ""),
        ({"symbol": "ETHUSDT"}, CREATED, "symbol ETHUSDT"),
        ({"side": "Buy"}, CREATED, "side buy"),
        ({"cumExecQty": "0.02"}, CREATED, "filled 0.02 > 0.01"),
    ],
)
def test_an_order_found_under_the_id_must_fit_the_request(
    change: dict[str, str], journaled: datetime | None, problem: str
) -> None:
    fill = fill_from_order({**row("Filled", "0.01", "60000"), **change})
    found = earlier_order_problem(fill, REQUEST, journaled)
    assert (problem in found) if problem else found == ""
    seen = ExecutionResult(outcome=O.FILLED, fill=fill)
    checked = not_an_earlier_order(seen, REQUEST, journaled)
    if problem:
        assert checked.outcome is O.REJECTED and "already used on Bybit" in checked.error
    else:
        assert checked is seen


def test_exchange_order_reads_who_sent_it_and_what_it_did() -> None:
    raw = {**row("Filled", "0.01", "60000"), "reduceOnly": True, "positionIdx": 2}
    order = exchange_order(raw)
    assert (order.link_id, order.symbol, order.order_side) == ("ls-1", "BTCUSDT", "sell")
    assert order.reduce_only and order.position_idx == 2
    assert order.quantity == D("0.01") and order.filled == D("0.01")
    assert order.created_at == CREATED
    bare = exchange_order({"orderId": "9", "side": "Buy", "orderLinkId": "", "positionIdx": ""})
    assert bare.link_id == "" and bare.filled == 0 and not bare.reduce_only
