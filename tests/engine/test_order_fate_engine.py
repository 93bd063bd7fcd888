"""Issue 11 in the engine: an order's fate is settled by Bybit, never assumed.

Real engine, real ccxt broker, both fakes; the fake Bybit's switches model what real Bybit does
(shared/api/bybit_ccxt.md section 5). Each test failed on the engine before issue 11."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from engine_rig import TRADER_A

from lightspeed_cli.models import OrderStatus
from lightspeed_cli.sim.binance import FakePosition
from lightspeed_cli.sim.bybit import Fault

L = FakePosition.long
CREATE = "/v5/order/create"
WINDOW_CLOSED = timedelta(seconds=5 + 5 + 2 + 1)  # send span + recv_window + skew, and more


def _statuses(rig) -> list[str]:
    return [h["order_status"] for h in rig.engine.journal.history() if h.get("order_status")]


def _rows(rig):
    return [rig.engine.journal.order(o.order_link_id) for o in rig.bybit.orders]


async def test_lost_answer_then_duplicate_is_never_not_placed(make_rig) -> None:
    """Case 2: the create's answer is lost, both lists stay empty, the resend's 110072 proves
    Bybit has the order. It used to be marked failed / not_placed and the change dropped."""
    rig = await make_rig()
    await rig.poll_flat()
    rig.bybit.hide_orders(3600)
    rig.bybit.inject(CREATE, Fault.lost_response())
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
    await rig.poll()
    [order] = rig.bybit.orders
    row = rig.engine.journal.order(order.order_link_id)
    assert row is not None and row.status is OrderStatus.UNKNOWN and row.outcome == "acknowledged"
    assert any(e.message.startswith("UNKNOWN") for e in rig.engine.view.events)
    await rig.poll()  # still not listed: the change waits, nothing is sent again
    assert len(rig.bybit.orders) == 1 and rig.bybit.calls(CREATE) == 2
    rig.bybit.show_hidden_orders()
    await rig.poll()  # visible at last: recorded as filled
    row = rig.engine.journal.order(order.order_link_id)
    assert row is not None and row.status is OrderStatus.FILLED and row.fill_qty == Decimal("0.1")
    [mirrored] = rig.engine.journal.mirrored_positions()
    assert mirrored.quantity == Decimal("0.1") == rig.bybit_size("BTCUSDT")
    await rig.poll()
    assert len(rig.bybit.orders) == 1


async def test_an_acknowledged_order_never_listed_blocks_loudly(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat()
    rig.bybit.hide_orders(3600)
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
    await rig.poll()
    rig.engine.clock = lambda: datetime.now(UTC) + WINDOW_CLOSED
    await rig.poll()
    rig.binance.clear_positions(TRADER_A)  # the leader closes: still blocked, never dropped
    await rig.poll()
    await rig.poll()
    assert len(rig.bybit.orders) == 1
    [row] = _rows(rig)
    assert row is not None and row.status is OrderStatus.UNKNOWN
    lost = [e for e in rig.engine.view.events if "fate unknown" in e.message]
    assert len(lost) == 1 and lost[0].level == "error"


async def test_an_unanswered_order_becomes_not_placed_only_after_its_window(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    await rig.poll()
    rig.bybit.inject(CREATE, Fault.dropped(), times=4)  # never reached Bybit, no answer
    rig.binance.clear_positions(TRADER_A)
    await rig.poll()
    await rig.poll()
    assert [o for o in rig.bybit.orders if o.reduce_only] == []  # waits: no new id yet
    rig.engine.clock = lambda: datetime.now(UTC) + WINDOW_CLOSED
    await rig.poll()  # both lists empty after the window: dead, the close goes again
    assert rig.bybit_size("ETHUSDT") == 0
    assert len([o for o in rig.bybit.orders if o.reduce_only]) == 1


async def test_a_close_cut_short_records_the_fill_and_sends_the_rest(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    await rig.poll()
    rig.bybit.partial_fills("0.4")  # the close finds liquidity for 0.4 of its 1 ETH
    rig.binance.clear_positions(TRADER_A)
    await rig.poll()
    [mirrored] = rig.engine.journal.mirrored_positions()
    assert mirrored.quantity == Decimal("0.6") == rig.bybit_size("ETHUSDT")
    await rig.poll()  # the remainder, under a fresh id
    assert rig.bybit_size("ETHUSDT") == 0 and rig.engine.journal.mirrored_positions() == []
    closes = [o for o in rig.bybit.orders if o.reduce_only]
    assert [o.qty for o in closes] == [Decimal(1), Decimal("0.6")]
    assert len({o.order_link_id for o in closes}) == 2


async def test_a_reduce_cut_short_sends_the_rest_to_the_same_target(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    await rig.poll()
    rig.bybit.partial_fills("0.5")
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "6", "3000")])  # keep 0.6 of 1 ETH
    await rig.poll()
    assert rig.bybit_size("ETHUSDT") == Decimal("0.8")  # 0.2 of the 0.4 filled
    await rig.poll()
    assert rig.bybit_size("ETHUSDT") == Decimal("0.6")
    [mirrored] = rig.engine.journal.mirrored_positions()
    assert mirrored.quantity == Decimal("0.6")
    await rig.poll()
    assert [o.qty for o in rig.bybit.orders if o.reduce_only] == [Decimal("0.4"), Decimal("0.2")]


async def test_an_open_cut_short_records_what_filled_and_is_not_chased(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat()
    rig.bybit.partial_fills("0.5")
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    await rig.poll()
    await rig.poll()
    assert len(rig.bybit.orders) == 1 and rig.bybit_size("ETHUSDT") == Decimal("0.5")
    [mirrored] = rig.engine.journal.mirrored_positions()
    assert mirrored.quantity == Decimal("0.5")
    rig.binance.clear_positions(TRADER_A)
    await rig.poll()
    assert rig.bybit_size("ETHUSDT") == 0


async def test_reduce_three_to_two_leaves_exactly_two_thirds(make_rig) -> None:
    """Case 4: 3 -> 2 with 0.3 held sold 0.099 and left 0.201."""
    rig = await make_rig()
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "3", "60000")])
    await rig.poll()
    assert rig.bybit_size("BTCUSDT") == Decimal("0.3")
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "2", "60000")])
    await rig.poll()
    assert rig.bybit_size("BTCUSDT") == Decimal("0.2")


async def test_equity_pct_sizes_from_the_unified_total_of_every_coin(make_rig, fake_bybit) -> None:
    """Case 5: a USDC-only unified account could not size at all."""
    fake_bybit.set_balance("0")
    fake_bybit.set_coins({"USDC": "10000"})
    rig = await make_rig(sizing={"mode": "equity_pct", "value": "10", "leverage": 5})
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    await rig.poll()
    # 10 % of 10,000 USD margin x 5 = 5,000 USD at 3,000 = 1.66 ETH
    assert rig.bybit_size("ETHUSDT") == Decimal("1.66")


async def test_an_ack_is_journaled_before_the_fill_is_read_so_a_crash_cannot_orphan_it(
    make_rig,
) -> None:
    """The process dies after Bybit answered the create with an orderId but before the fill
    was read (the order not listed yet). The journal used to learn of the ack only once
    execute() returned: after the restart the order looked never placed once its request
    window closed, and the change went out again under a new id (two orders)."""
    import asyncio
    import contextlib

    from engine_rig import until

    from lightspeed_cli.execution.bybit import FillPolling

    rig = await make_rig()
    await rig.poll_flat()
    rig.engine.broker._polling = FillPolling(attempts=200, delay=0.05)  # a slow listing
    rig.bybit.hide_orders(3600)
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
    polling = asyncio.create_task(rig.poll())
    [order] = await until("the order on Bybit", lambda: rig.bybit.orders)
    journal = rig.engine.journal

    def acked_while_unsettled() -> bool:
        row = journal.order(order.order_link_id)
        return (
            row is not None and row.status is OrderStatus.INTENT and row.outcome == "acknowledged"
        )

    await until("the ack journaled while the fill is still being read", acked_while_unsettled)
    polling.cancel()  # the process dies here
    with contextlib.suppress(asyncio.CancelledError):
        await polling

    restarted = await make_rig()
    restarted.engine.clock = lambda: datetime.now(UTC) + WINDOW_CLOSED
    await restarted.poll()  # the window has closed and Bybit lists nothing: still not dead
    await restarted.poll()
    assert rig.bybit.calls(CREATE) == 1 and len(rig.bybit.orders) == 1
    row = restarted.engine.journal.order(order.order_link_id)
    assert row is not None and row.status is not OrderStatus.FAILED
    assert any("fate unknown" in e.message for e in restarted.engine.view.events)
    rig.bybit.show_hidden_orders()
    await restarted.poll()
    row = restarted.engine.journal.order(order.order_link_id)
    assert row is not None and row.status is OrderStatus.FILLED
    assert rig.bybit_size("BTCUSDT") == Decimal("0.1") and rig.bybit.calls(CREATE) == 1
