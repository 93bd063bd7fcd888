"""An open is an IOC limit at its bound (issue 22, item 3): it fills at the bound or better,
in part, or not at all; the fake Bybit honours IOC limits as Bybit does (bybit_ccxt.md s. 5)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from exec_helpers import Client, IntentFactory

from lightspeed_cli.execution.base import ExecutionOutcome as O
from lightspeed_cli.execution.bybit import BybitBroker
from lightspeed_cli.execution.orders import bound_on_tick, order_request
from lightspeed_cli.models import Side
from lightspeed_cli.sim.bybit import FakeBybit


def test_an_open_with_a_bound_is_an_ioc_limit_on_the_tick_never_beyond(intent) -> None:
    buy = intent("b1").model_copy(update={"limit_price": D("60300.037")})
    sell = intent("s1", side=Side.SHORT).model_copy(update={"limit_price": D("59699.961")})
    assert order_request(buy, D("0.01"), False, D("0.1"))["price"] == "60300"
    assert order_request(sell, D("0.01"), False, D("0.1"))["price"] == "59700"
    request = order_request(buy, D("0.01"), False, D("0.1"))
    assert (request["orderType"], request["timeInForce"]) == ("Limit", "IOC")
    assert order_request(intent("m1", reduce=True), D("0.01"), False)["orderType"] == "Market"
    assert bound_on_tick(D("5"), "buy", None) == D("5")


@pytest.mark.parametrize(("last", "filled"), [("60300", D("0.01")), ("60300.1", D(0))])
async def test_a_buy_fills_up_to_its_bound_and_is_cancelled_beyond_it(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory, last: str, filled: D
) -> None:
    fake.set_price("BTCUSDT", last)
    r = await broker.execute(
        intent(f"b{int(filled * 100)}").model_copy(update={"limit_price": D(60300)})
    )
    (order,) = fake.orders
    assert order.filled_qty == filled and order.order_type == "Limit"
    if filled:
        assert r.outcome is O.FILLED and r.fill is not None and r.fill.price == D(last)
    else:
        assert r.outcome is O.REJECTED and order.status == "Cancelled"
        assert fake.ledger.open_positions() == []


async def test_a_sell_bound_is_below_the_reference(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.set_price("BTCUSDT", "59699.9")
    bounded = intent("s2", side=Side.SHORT).model_copy(update={"limit_price": D(59700)})
    r = await broker.execute(bounded)
    assert r.outcome is O.REJECTED and fake.orders[0].filled_qty == 0


async def test_an_ioc_limit_that_finds_part_of_its_liquidity_ends_cancelled_with_it(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.set_price("BTCUSDT", "60000")
    fake.partial_fills("0.5")
    r = await broker.execute(intent("p1", qty="0.02").model_copy(update={"limit_price": D(60300)}))
    assert r.outcome is O.FILLED and r.fill is not None
    assert (r.fill.quantity, r.fill.status) == (D("0.01"), "canceled")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"orderType": "Limit", "price": "60000.05", "timeInForce": "IOC"},
            "Price invalid",
        ),  # off the tick
        ({"orderType": "Limit", "price": "60000"}, "IOC"),  # a resting order: not modelled
        ({"orderType": "Stop"}, "OrderType invalid"),
    ],
)
def test_the_fake_refuses_limits_it_does_not_model(client: Client, fields, message) -> None:
    answer = client.order(qty="0.01", orderLinkId="x1", positionIdx=0, **fields)
    assert answer["retCode"] == 10001 and message in answer["retMsg"]
