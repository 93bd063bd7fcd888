"""The self-test's pure verdicts at their boundaries (the run: tests/cli/test_cli_selftest.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lightspeed_cli.execution.orders import fill_from_order
from lightspeed_cli.execution.selftest import (
    Status,
    fill_verdict,
    key_verdict,
    market_verdict,
    paging_verdict,
    percentile_ms,
    round_trip_verdict,
    smallest_qty,
)
from lightspeed_cli.models import Fill, FollowerPosition, MarketInfo, Side


def market(**kw: object) -> MarketInfo:
    base = {
        "symbol": "BTCUSDT",
        "ccxt_symbol": "BTC/USDT:USDT",
        "base": "BTC",
        "qty_step": Decimal("0.001"),
        "min_qty": Decimal("0.001"),
        "max_qty": Decimal("100"),
        "min_notional": Decimal("5"),
    }
    return MarketInfo(**{**base, **kw})


def perms(**kw: list[str]) -> dict:
    return {"readOnly": 0, "permissions": {"ContractTrade": ["Order", "Position"], **kw}}


def test_key_verdicts() -> None:
    assert key_verdict(perms(Wallet=["AccountTransfer"]))[0] is Status.PASS
    status, detail = key_verdict(perms(Wallet=["AccountTransfer", "Withdraw"]))
    assert status is Status.WARN and "WITHDRAW" in detail
    assert key_verdict({**perms(), "readOnly": 1})[0] is Status.FAIL
    assert key_verdict({"readOnly": 0, "permissions": {"ContractTrade": []}})[0] is Status.FAIL
    uta = {"readOnly": 0, "permissions": {"Derivatives": ["DerivativesTrade"]}}
    assert key_verdict(uta)[0] is Status.PASS


def test_key_verdict_never_quotes_the_key_itself() -> None:
    status, detail = key_verdict({**perms(), "apiKey": "REAL-KEY-123"})
    assert "REAL-KEY-123" not in detail


def test_market_verdicts() -> None:
    status, detail = market_verdict(market())
    assert status is Status.PASS and "min notional 5 USDT" in detail
    assert market_verdict(market(min_notional=Decimal(0)))[0] is Status.WARN
    assert market_verdict(market(max_qty=None))[0] is Status.FAIL
    assert market_verdict(market(min_qty=Decimal(0)))[0] is Status.FAIL


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        ("60000", "0.001"),  # the minimum qty is worth more than the minimum notional
        ("5000", "0.002"),  # 0.001 is 5 USDT: 10 % room above 5 needs a second step
        ("5500", "0.001"),  # exactly 5.5 USDT: the minimum suffices
        ("5499", "0.002"),
    ],
)
def test_smallest_qty(price: str, expected: str) -> None:
    qty = smallest_qty(market(), Decimal(price))
    assert qty == Decimal(expected)
    assert qty * Decimal(price) >= Decimal("5")


def test_round_trip_verdict_against_recv_window() -> None:
    assert round_trip_verdict([10, 20], [30, 2499], 5000)[0] is Status.PASS
    assert round_trip_verdict([10, 20], [30, 2500], 5000)[0] is Status.WARN
    assert round_trip_verdict([10, 5000], [30], 5000)[0] is Status.FAIL
    assert percentile_ms([3, 1, 2], 0.5) == 2


def position(symbol: str = "BTCUSDT") -> FollowerPosition:
    return FollowerPosition(symbol=symbol, side=Side.LONG, size=Decimal("0.001"))


def test_paging_verdicts() -> None:
    row = {"symbol": "BTCUSDT", "positionIdx": 0}
    status, detail = paging_verdict([[row], [row]], [position()], "BTCUSDT")
    assert status is Status.PASS and "a row came again" in detail
    assert paging_verdict([[row]], [position(), position()], "BTCUSDT")[0] is Status.FAIL
    assert paging_verdict([[row]], [position("ETHUSDT")], "BTCUSDT")[0] is Status.FAIL


def fill(status: str, qty: str, price: str = "60000") -> Fill:
    """As the bot reads an order/realtime row ("" where Bybit has no number)."""
    row = {"orderLinkId": "x", "orderId": "1", "symbol": "BTCUSDT", "side": "Buy"}
    return fill_from_order({**row, "orderStatus": status, "cumExecQty": qty, "avgPrice": price})


def test_fill_verdicts() -> None:
    assert fill_verdict(fill("Filled", "0.001"), Decimal("0.001"))[0] is Status.PASS
    for ended in ("Cancelled", "PartiallyFilledCanceled", "Deactivated"):  # IOC ran out
        status, detail = fill_verdict(fill(ended, "0.0005"), Decimal("0.001"))
        assert status is Status.PASS and "part filled" in detail
    assert fill_verdict(fill("Cancelled", "0", ""), Decimal("0.001"))[0] is Status.FAIL
    assert fill_verdict(fill("PartiallyFilled", "0.0005"), Decimal("0.001"))[0] is Status.FAIL
    assert fill_verdict(None, Decimal("0.001"))[0] is Status.FAIL
