"""BybitBroker's stop-loss calls against the fake Bybit, and the fake's stop-loss rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lightspeed_cli.execution.base import BrokerError
from lightspeed_cli.models import Side
from lightspeed_cli.sim.bybit import FakeBybit


@pytest.mark.parametrize("hedge", [False, True])
async def test_stop_set_moved_shown_and_triggered(make_broker, intent, hedge: bool) -> None:
    with FakeBybit.running(hedge_mode=hedge) as fake:
        broker = make_broker(fake)
        await broker.start()
        idx = 2 if hedge else 0
        with pytest.raises(BrokerError):  # no position: nothing to protect
            await broker.set_stop_loss("ETHUSDT", Side.SHORT, Decimal("3100"))
        await broker.execute(intent("open-1", symbol="ETHUSDT", side=Side.SHORT, qty="1"))
        with pytest.raises(BrokerError):  # a short's stop below the price would fire at once
            await broker.set_stop_loss("ETHUSDT", Side.SHORT, Decimal("2900"))
        await broker.set_stop_loss("ETHUSDT", Side.SHORT, Decimal("3150"))
        await broker.set_stop_loss("ETHUSDT", Side.SHORT, Decimal("3150"))  # 34040: fine
        await broker.set_stop_loss("ETHUSDT", Side.SHORT, Decimal("3120"))  # moved
        assert fake.stops == {("ETHUSDT", idx): Decimal("3120")}
        shown = (await broker.exchange.privateGetV5PositionList({"category": "linear",
                 "symbol": "ETHUSDT"}))["result"]["list"]  # fmt: skip
        assert [r["stopLoss"] for r in shown if r["positionIdx"] == idx] == ["3120"]
        raw = [r for r in fake.requests if r.path == "/v5/position/trading-stop"][-1].params
        assert raw["tpslMode"] == "Full" and raw["positionIdx"] == idx and raw["stopLoss"] == "3120"

        fake.set_price("ETHUSDT", "3119.99")  # not crossed yet
        assert fake.ledger.position("ETHUSDT", idx).size == Decimal(1)
        assert await broker.stop_loss_fills("ETHUSDT") == []
        fake.set_price("ETHUSDT", "3120")  # crossed: Bybit closes the whole position
        assert fake.ledger.position("ETHUSDT", idx).size == 0
        assert fake.stops == {}
        (fill,) = await broker.stop_loss_fills("ETHUSDT")
        assert fill.order_side == "buy" and fill.quantity == Decimal(1)
        assert fill.price == Decimal(3120) and fill.status == "filled"


async def test_a_closed_position_takes_its_stop_with_it(make_broker, intent) -> None:
    with FakeBybit.running() as fake:
        broker = make_broker(fake)
        await broker.start()
        await broker.execute(intent("open-1", qty="0.01"))
        await broker.set_stop_loss("BTCUSDT", Side.LONG, Decimal("55000"))
        await broker.execute(intent("close-1", qty="0.01", reduce=True))
        assert fake.stops == {}
        await broker.execute(intent("open-2", qty="0.01"))
        fake.set_price("BTCUSDT", "50000")  # the old stop is gone: nothing fires
        assert fake.ledger.position("BTCUSDT", 0).size == Decimal("0.01")
