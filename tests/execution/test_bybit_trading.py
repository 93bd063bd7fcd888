"""BybitBroker (real ccxt) against the fake Bybit: the trading flows in both position modes."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from exec_helpers import BrokerFactory, IntentFactory

from lightspeed_cli.execution.base import BrokerStartError, ExecutionOutcome
from lightspeed_cli.execution.bybit import BybitBroker
from lightspeed_cli.models import Side
from lightspeed_cli.sim.bybit import FakeBybit

FILLED = ExecutionOutcome.FILLED


def book(positions: list) -> dict[tuple[str, Side], D]:
    return {(p.symbol, p.side): p.size for p in positions}


async def test_start_loads_linear_markets_once(fake: FakeBybit, broker: BybitBroker) -> None:
    assert "BTCUSDT" in broker.markets and "BTCUSDT-26DEC25" not in broker.markets
    assert broker.markets["1000PEPEUSDT"].multiplier == D(1000)
    assert not broker.hedge_mode
    await broker.start()  # a second start is a no-op
    assert fake.calls("/v5/market/instruments-info") == 2  # linear + linear PreLaunch
    assert fake.calls("/v5/market/tickers") == 0


async def test_one_way_open_increase_reduce_close(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    r = await broker.execute(intent("o1", qty="0.01"))
    assert r.outcome is FILLED and r.fill is not None
    assert (r.fill.quantity, r.fill.price, r.fill.fee) == (D("0.01"), D(60000), D("0.33"))
    assert r.fill.client_order_id == "o1" and r.sent_at and r.acked_at
    fake.set_price("BTCUSDT", "61000")
    assert (await broker.execute(intent("o2", qty="0.02"))).outcome is FILLED
    positions = await broker.positions()
    assert book(positions) == {("BTCUSDT", Side.LONG): D("0.03")}
    assert positions[0].entry_price == D("60666.6666666667")
    assert (await broker.execute(intent("o3", qty="0.01", reduce=True))).outcome is FILLED
    assert book(await broker.positions()) == {("BTCUSDT", Side.LONG): D("0.02")}
    close = await broker.execute(intent("o4", qty="0.02", reduce=True))
    assert close.outcome is FILLED and close.fill and close.fill.order_side == "sell"
    assert await broker.positions() == []
    sent = [(o.order_link_id, o.side, o.qty, o.reduce_only, o.position_idx) for o in fake.orders]
    assert sent == [
        ("o1", "Buy", D("0.01"), False, 0),
        ("o2", "Buy", D("0.02"), False, 0),
        ("o3", "Sell", D("0.01"), True, 0),
        ("o4", "Sell", D("0.02"), True, 0),
    ]


async def test_one_way_short_and_flip(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    await broker.execute(intent("s1", side=Side.SHORT, symbol="ETHUSDT", qty="1"))
    assert book(await broker.positions()) == {("ETHUSDT", Side.SHORT): D(1)}
    # Flip as the engine sends it: close the short, then open the long.
    await broker.execute(intent("s2", side=Side.SHORT, symbol="ETHUSDT", qty="1", reduce=True))
    await broker.execute(intent("s3", side=Side.LONG, symbol="ETHUSDT", qty="2"))
    assert book(await broker.positions()) == {("ETHUSDT", Side.LONG): D(2)}
    # A single non-reduce order larger than the position flips it in one-way mode.
    await broker.execute(intent("s4", side=Side.SHORT, symbol="ETHUSDT", qty="3"))
    assert book(await broker.positions()) == {("ETHUSDT", Side.SHORT): D(1)}


async def test_hedge_mode_sends_position_idx_and_reduce_only(
    hedge_fake: FakeBybit, hedge_broker: BybitBroker, intent: IntentFactory
) -> None:
    assert hedge_broker.hedge_mode
    b = hedge_broker
    assert (await b.execute(intent("h1", side=Side.LONG, qty="0.02"))).outcome is FILLED
    assert (await b.execute(intent("h2", side=Side.SHORT, qty="0.01"))).outcome is FILLED
    assert book(await b.positions()) == {
        ("BTCUSDT", Side.LONG): D("0.02"),
        ("BTCUSDT", Side.SHORT): D("0.01"),
    }
    for coid, side in (("h3", Side.LONG), ("h4", Side.SHORT)):
        r = await b.execute(intent(coid, side=side, qty="0.01", reduce=True))
        assert r.outcome is FILLED
    # flip: close the long, open a short
    await b.execute(intent("h5", side=Side.LONG, qty="0.01", reduce=True))
    await b.execute(intent("h6", side=Side.SHORT, qty="0.03"))
    assert book(await b.positions()) == {("BTCUSDT", Side.SHORT): D("0.03")}
    sent = [(o.side, o.position_idx, o.reduce_only) for o in hedge_fake.orders]
    assert sent == [
        ("Buy", 1, False),
        ("Sell", 2, False),
        ("Sell", 1, True),
        ("Buy", 2, True),
        ("Sell", 1, True),
        ("Sell", 2, False),
    ]


async def test_realised_pnl_reaches_equity(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    assert await broker.equity_usdt() == D(10_000)
    await broker.execute(intent("p1", qty="0.1"))
    fake.set_price("BTCUSDT", "61000")
    assert await broker.equity_usdt() == D(10_000) - D("3.3") + D(100)
    await broker.execute(intent("p2", qty="0.1", reduce=True))
    assert await broker.equity_usdt() == D(10_000) - D("3.3") - D("3.355") + D(100)
    assert fake.wallet() == await broker.equity_usdt()


async def test_leverage_and_margin_mode_set_once(
    fake: FakeBybit, make_broker: BrokerFactory, intent: IntentFactory
) -> None:
    broker = make_broker(fake, margin_mode="isolated")
    await broker.start()
    for n in range(3):
        assert (await broker.execute(intent(f"l{n}", leverage=7))).outcome is FILLED
    assert fake.calls("/v5/position/set-leverage") == 1
    assert fake.calls("/v5/account/set-margin-mode") == 1
    assert fake.leverage["BTCUSDT"] == D(7) and fake.margin_mode == "ISOLATED_MARGIN"
    await broker.execute(intent("l3", leverage=5))  # a new value is set again
    assert fake.calls("/v5/position/set-leverage") == 2
    await broker.execute(intent("l4", qty="0.02", reduce=True, leverage=9))  # reduces: never
    assert fake.calls("/v5/position/set-leverage") == 2
    assert fake.leverage["BTCUSDT"] == D(5)


async def test_leverage_not_modified_is_success(
    fake: FakeBybit, make_broker: BrokerFactory, intent: IntentFactory
) -> None:
    first = make_broker(fake)
    await first.start()
    await first.execute(intent("n1", leverage=8))
    restarted = make_broker(fake)  # a restart forgets what it set: Bybit answers 110043
    await restarted.start()
    assert (await restarted.execute(intent("n2", leverage=8))).outcome is FILLED
    assert fake.calls("/v5/position/set-leverage") == 2
    assert len(fake.orders) == 2


async def test_leverage_is_capped_at_the_market_maximum(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    r = await broker.execute(intent("c1", symbol="DOGEUSDT", qty="100", leverage=125))
    assert r.outcome is FILLED
    assert fake.leverage["DOGEUSDT"] == D(75)


async def test_qty_is_truncated_to_the_step(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    await broker.execute(intent("q1", qty="0.0109"))
    await broker.execute(intent("q2", symbol="1000PEPEUSDT", qty="512345"))
    assert [o.qty for o in fake.orders] == [D("0.01"), D("512300")]
    create_bodies = [r.params for r in fake.requests if r.path == "/v5/order/create"]
    assert [b["qty"] for b in create_bodies] == ["0.01", "512300"]


async def test_reads(fake: FakeBybit, broker: BybitBroker, intent: IntentFactory) -> None:
    assert await broker.last_price("SOLUSDT") == D(150)
    t = await broker.server_time()
    assert t.tzinfo is not None
    assert await broker.open_orders() == []
    await broker.execute(intent("r1"))
    found = await broker.lookup("r1", "BTCUSDT")
    assert found is not None and found.quantity == D("0.01") and found.status == "filled"
    assert await broker.lookup("never-sent", "BTCUSDT") is None


async def test_slow_fill_is_polled_until_filled(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.slow_fills(2)
    r = await broker.execute(intent("w1"))
    assert r.outcome is FILLED and r.fill and r.fill.quantity == D("0.01")


async def test_fill_not_visible_in_time_is_unknown_not_resent(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.slow_fills(100)
    r = await broker.execute(intent("w2"))
    assert r.outcome is ExecutionOutcome.UNKNOWN
    assert r.fill is not None and r.fill.status == "open"
    assert len(fake.orders) == 1
    assert [f.client_order_id for f in await broker.open_orders()] == ["w2"]


async def test_position_mode_mismatch_refuses_to_start(
    hedge_fake: FakeBybit, fake: FakeBybit, make_broker: BrokerFactory
) -> None:
    with pytest.raises(BrokerStartError, match="hedge position mode but bybit.account_mode"):
        await make_broker(hedge_fake, account_mode="one-way").start()
    with pytest.raises(BrokerStartError, match="one-way position mode"):
        await make_broker(fake, account_mode="hedge").start()


async def test_position_mode_detected_from_open_positions(
    hedge_fake: FakeBybit, make_broker: BrokerFactory, intent: IntentFactory
) -> None:
    first = make_broker(hedge_fake)
    await first.start()
    await first.execute(intent("d1", side=Side.SHORT))
    probes_before = hedge_fake.calls("/v5/position/list")
    with pytest.raises(BrokerStartError):
        await make_broker(hedge_fake, account_mode="one-way").start()
    assert hedge_fake.calls("/v5/position/list") == probes_before + 1  # no symbol probe needed


async def test_mode_switched_while_running_stops_trading(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.set_position_mode(True)
    r = await broker.execute(intent("m1"))
    assert r.outcome is ExecutionOutcome.FATAL
    assert "position mode" in r.error
    assert fake.orders == []
