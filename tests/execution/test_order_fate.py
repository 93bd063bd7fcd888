"""An order's fate on Bybit as it really behaves (shared/api/bybit_ccxt.md section 5): lists
that lag or forget, IOC market orders that fill in part, recv_window, paging, a UTA wallet.

Each test turns one of the fake's switches on; each failed before the broker settled through
both order lists and told acknowledged orders from provably dead ones."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from exec_helpers import BrokerFactory, IntentFactory

from lightspeed_cli.execution import bybit as bybit_module
from lightspeed_cli.execution.base import ExecutionOutcome as O
from lightspeed_cli.execution.bybit import BybitBroker
from lightspeed_cli.models import Side
from lightspeed_cli.sim.bybit import FakeBybit, Fault

CREATE = "/v5/order/create"


async def test_a_filled_order_only_in_history_is_filled(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.history_only()  # as after a Bybit restart: order/realtime no longer lists it
    r = await broker.execute(intent("h1", qty="0.02"))
    assert r.outcome is O.FILLED and r.fill is not None and r.fill.quantity == D("0.02")
    found = await broker.lookup("h1", "BTCUSDT")
    assert found is not None and found.status == "filled"


async def test_an_acknowledged_order_not_listed_is_unknown_and_acknowledged(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.hide_orders(30)
    r = await broker.execute(intent("a1"))
    assert r.outcome is O.UNKNOWN and r.acknowledged and not r.not_placed
    assert len(fake.orders) == 1


async def test_lost_answer_then_duplicate_proves_the_order_exists(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    """Issue 11 case 2 at the broker: the lookups find nothing, the resend's 110072 says
    Bybit has it: acknowledged, never "not placed", and still one order."""
    fake.hide_orders(30)
    fake.inject(CREATE, Fault.lost_response())
    r = await broker.execute(intent("d1"))
    assert r.outcome is O.UNKNOWN and r.acknowledged and not r.not_placed
    assert [x[1] for x in fake.rejections] == [110072] and len(fake.orders) == 1
    fake.show_hidden_orders()  # it shows up at last
    found = await broker.lookup("d1", "BTCUSDT")
    assert found is not None and found.quantity == D("0.01")


@pytest.mark.parametrize("status", ["Cancelled", "PartiallyFilledCanceled", "Deactivated"])
async def test_a_market_order_cut_short_is_filled_for_what_filled(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory, status: str
) -> None:
    fake.partial_fills("0.4", status=status)
    r = await broker.execute(intent("p1", qty="0.05"))
    assert r.outcome is O.FILLED and r.fill is not None
    assert (r.fill.quantity, r.fill.status) == (D("0.02"), "canceled")
    assert r.fill.price == D(60000)  # the fill price, not the IOC protection price


async def test_a_market_order_cancelled_without_a_fill_is_rejected(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.partial_fills("0")
    r = await broker.execute(intent("p2", qty="0.05"))
    assert r.outcome is O.REJECTED and "without a fill" in r.error


async def test_an_order_still_filling_is_not_taken_as_filled(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    """PartiallyFilled is still running: recording half would lose the rest."""
    fake.slow_fills(100, partial=True)
    r = await broker.execute(intent("p3", qty="0.02"))
    assert r.outcome is O.UNKNOWN and r.acknowledged
    assert r.fill is not None and r.fill.status == "partially_filled"


async def test_recv_window_is_set_and_a_request_held_past_it_never_executes(
    fake: FakeBybit, make_broker: BrokerFactory, intent: IntentFactory
) -> None:
    broker = make_broker(fake, recv_window_ms=1000)
    await broker.start()
    assert broker.exchange.options["recvWindow"] == 1000
    fake.inject(CREATE, Fault.stalled(1.3, then_process=True))  # reaches Bybit too late
    r = await broker.execute(intent("w1"))
    assert r.outcome is O.FILLED  # the 10002 is a refusal: resynced, sent again
    assert fake.calls(CREATE) == 2 and len(fake.orders) == 1


async def test_no_create_is_signed_after_the_send_span(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bybit_module, "SEND_SPAN_SECONDS", 0.3)
    fake.inject(CREATE, Fault.stalled(0.5, then_process=False), times=10)
    r = await broker.execute(intent("s1"))
    assert fake.calls(CREATE) == 1  # the retry would have been signed after the span
    assert r.outcome is O.UNAVAILABLE and not r.not_placed and not r.acknowledged


@pytest.mark.parametrize("last", ["repeat", "empty"])
async def test_positions_follow_the_cursor_and_never_count_a_row_twice(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory, last: str
) -> None:
    await broker.execute(intent("c1", qty="0.01"))
    await broker.execute(intent("c2", symbol="ETHUSDT", qty="0.1"))
    await broker.execute(intent("c3", symbol="SOLUSDT", qty="1", side=Side.SHORT))
    fake.paging(page_size=1, last_cursor=last)
    positions = await broker.positions()
    assert sorted((p.symbol, p.size) for p in positions) == [
        ("BTCUSDT", D("0.01")), ("ETHUSDT", D("0.1")), ("SOLUSDT", D("1")),
    ]  # fmt: skip


async def test_equity_is_the_unified_accounts_total_across_coins(
    fake: FakeBybit, broker: BybitBroker
) -> None:
    fake.set_balance("3304.29766609")
    fake.set_coins({"USDC": "88951.67222035"})
    assert await broker.equity_usdt() == D("92255.96988644")


async def test_a_usdc_only_account_can_size(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.set_balance("0")
    fake.set_coins({"USDC": "10000"})
    assert await broker.equity_usdt() == D(10000)
    assert (await broker.execute(intent("u1"))).outcome is O.FILLED


@pytest.mark.parametrize(
    ("value", "ok"), [(999, False), (1000, True), (60_000, True), (60_001, False)]
)
def test_recv_window_setting_is_bounded(value: int, ok: bool) -> None:
    from pydantic import ValidationError

    from lightspeed_cli.config.sections import BybitSettings

    assert BybitSettings().recv_window_ms == 5000
    if ok:
        assert BybitSettings(recv_window_ms=value).recv_window_ms == value
    else:
        with pytest.raises(ValidationError, match="recv_window_ms"):
            BybitSettings(recv_window_ms=value)
