"""A market order Bybit shows as PartiallyFilled is still eating the book: wait for its end."""

from __future__ import annotations

from decimal import Decimal as D

from exec_helpers import IntentFactory

from lightspeed_cli.execution.base import ExecutionOutcome as O
from lightspeed_cli.execution.bybit import BybitBroker
from lightspeed_cli.sim.bybit import FakeBybit, Fault


async def test_partially_filled_order_is_polled_until_it_is_final(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.slow_fills(2, partial=True)  # two lookups see half the fill, the third the end
    r = await broker.execute(intent("pf1", qty="0.02"))
    assert r.outcome is O.FILLED and r.fill is not None
    assert (r.fill.quantity, r.fill.status, r.fill.fee) == (D("0.02"), "filled", D("0.66"))


async def test_partial_fill_seen_by_the_lookup_after_a_lost_answer_is_polled_on(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.slow_fills(1, partial=True)
    fake.inject("/v5/order/create", Fault.lost_response())
    r = await broker.execute(intent("pf2", qty="0.02"))
    assert r.outcome is O.FILLED and r.fill is not None
    assert (r.fill.quantity, r.fill.status) == (D("0.02"), "filled")
    assert len(fake.orders) == 1
