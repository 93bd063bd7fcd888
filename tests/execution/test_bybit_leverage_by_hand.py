"""Leverage raised by hand on Bybit is put back before the next open (issue 22, item 10)."""

from __future__ import annotations

from decimal import Decimal as D

from exec_helpers import Client, IntentFactory

from lightspeed_cli.execution.base import ExecutionOutcome as O
from lightspeed_cli.execution.bybit import BybitBroker
from lightspeed_cli.sim.bybit import FakeBybit


def _raise_by_hand(client: Client, leverage: str) -> None:
    body = {"category": "linear", "symbol": "BTCUSDT", "buyLeverage": leverage}
    answer = client.post("/v5/position/set-leverage", {**body, "sellLeverage": leverage})
    assert answer["retCode"] == 0, answer


async def test_leverage_raised_by_hand_is_set_back_before_the_next_increase(
    fake: FakeBybit, broker: BybitBroker, client: Client, intent: IntentFactory, caplog
) -> None:
    assert (await broker.execute(intent("o1", leverage=10))).outcome is O.FILLED
    assert fake.leverage["BTCUSDT"] == D(10)
    _raise_by_hand(client, "100")  # the user, in Bybit's app
    held = await broker.positions()  # any positions read (reconcile's, say) sees it
    assert held[0].leverage == D(100)
    assert "changed by hand" in caplog.text
    assert (await broker.execute(intent("o2", leverage=10))).outcome is O.FILLED
    assert fake.leverage["BTCUSDT"] == D(10)  # set back before the increase went out
    creates = [r.path for r in fake.requests if r.path.startswith("/v5/position/set-leverage")]
    assert len(creates) == 3  # ours, the user's, ours again


async def test_leverage_as_the_bot_set_it_is_not_set_again(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    await broker.execute(intent("o3", leverage=10))
    await broker.positions()
    await broker.execute(intent("o4", leverage=10))
    assert fake.calls("/v5/position/set-leverage") == 1
