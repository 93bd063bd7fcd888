"""The engine against both fakes in-process: each leader change mirrored exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from engine_rig import TRADER_A, TRADER_B

from lightspeed_cli.sim.binance import FakePosition, Fault

L = FakePosition.long
S = FakePosition.short


async def test_first_snapshot_is_a_baseline_not_an_open(make_rig) -> None:
    rig = await make_rig()
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
    await rig.poll()
    assert rig.bybit.orders == []
    assert rig.engine.journal.book_snapshot(TRADER_A) is not None


async def test_open_increase_reduce_close_mirror_at_ratio(make_rig) -> None:
    rig = await make_rig()
    rig.binance.clear_positions(TRADER_A)
    await rig.poll()  # baseline: flat
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
    await rig.poll()
    assert rig.bybit_size("BTCUSDT") == Decimal("0.1")
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "2", "60000")])
    await rig.poll()
    assert rig.bybit_size("BTCUSDT") == Decimal("0.2")
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "0.5", "60000")])
    await rig.poll()  # reduced by 75 %: follower 0.2 -> 0.05
    assert rig.bybit_size("BTCUSDT") == Decimal("0.05")
    await rig.poll_flat()
    assert rig.bybit_size("BTCUSDT") == Decimal(0)
    kinds = [o.reduce_only for o in rig.bybit.orders]
    assert kinds == [False, False, True, True]
    assert len({o.order_link_id for o in rig.bybit.orders}) == 4
    assert rig.engine.journal.mirrored_positions() == []
    # every fill carries its fidelity: slippage vs the leader, detection latency, timestamps
    for row in rig.engine.journal.history():
        assert row["slippage_bps"] is not None and row["detection_latency_ms"] >= 0
        assert row["sent_at"] <= row["acked_at"]
    # polling again with nothing new sends nothing
    await rig.poll()
    assert len(rig.bybit.orders) == 4


async def test_flip_closes_then_opens(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    await rig.poll()
    rig.binance.set_positions(TRADER_A, [S("ETHUSDT", "5", "3000")])
    await rig.poll()
    assert rig.bybit_size("ETHUSDT", "long") == Decimal(0)
    assert rig.bybit_size("ETHUSDT", "short") == Decimal("0.5")
    sides = [(o.side, o.reduce_only) for o in rig.bybit.orders]
    assert sides == [("Buy", False), ("Sell", True), ("Sell", False)]


async def test_binance_faults_close_nothing(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
    await rig.poll()
    assert rig.bybit_size("BTCUSDT") == Decimal("0.1")
    rig.binance.clear_positions(TRADER_A)  # the truth is flat, but every answer is broken:
    for fault in (Fault.SERVER_ERROR, Fault.MALFORMED, Fault.REJECT, Fault.FORBIDDEN):
        rig.binance.inject(fault, trader=TRADER_A, times=1)
        await rig.poll()
        assert rig.bybit_size("BTCUSDT") == Decimal("0.1"), fault
    rig.binance.hide(TRADER_A)
    await rig.poll()
    assert rig.bybit_size("BTCUSDT") == Decimal("0.1")
    assert len(rig.bybit.orders) == 1
    states = {s["trader"]: s for s in rig.engine.journal.trader_states()}
    assert states[TRADER_A]["last_status"] == "hidden"
    rig.binance.hide(TRADER_A, False)
    await rig.poll()  # a well-formed flat answer: now it closes
    assert rig.bybit_size("BTCUSDT") == Decimal(0)


async def test_refused_trade_is_journaled_and_nothing_sent(make_rig) -> None:
    rig = await make_rig(safety={"max_price_divergence_bps": "50"})
    await rig.poll_flat()
    rig.binance.set_mark_price("BTCUSDT", "60000")
    rig.bybit.set_price("BTCUSDT", "60400")  # 66.7 bps away
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
    await rig.poll()
    assert rig.bybit.orders == []
    row = rig.engine.journal.history()[-1]
    assert row["decision"] == "refused"
    assert row["check_name"] == "price_divergence_bps"
    # the trader later closes: nothing was mirrored, so nothing is sent either
    await rig.poll_flat()
    assert rig.bybit.orders == []


async def test_unmapped_symbol_is_refused_with_its_reason(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat()
    rig.binance.set_mark_price("BTCUSDC", "60000")
    rig.binance.set_positions(TRADER_A, [L("BTCUSDC", "1", "60000")])
    await rig.poll()
    assert rig.bybit.orders == []
    row = rig.engine.journal.history()[-1]
    assert row["decision"] == "refused" and "no Bybit market for BTCUSDC" in row["reason"]


async def test_two_traders_on_one_symbol_are_mirrored_separately(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat(TRADER_A, TRADER_B)
    rig.binance.set_positions(TRADER_A, [L("SOLUSDT", "100", "150")])
    rig.binance.set_positions(TRADER_B, [L("SOLUSDT", "50", "150")])
    await rig.poll(TRADER_A)
    await rig.poll(TRADER_B)
    assert rig.bybit_size("SOLUSDT") == Decimal("15")
    rig.binance.clear_positions(TRADER_B)
    await rig.poll(TRADER_B)  # B's close leaves A's share open
    assert rig.bybit_size("SOLUSDT") == Decimal("10")
    mirrored = rig.engine.journal.mirrored_positions()
    assert [(m.trader, m.quantity) for m in mirrored] == [(TRADER_A, Decimal("10"))]


async def test_reconcile_marks_closed_outside_and_reports_unmanaged(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
    await rig.poll()
    # the user closes the position by hand on Bybit and opens another one
    eth = rig.engine.broker.markets["ETHUSDT"]
    with rig.bybit._lock:
        rig.bybit.ledger.positions.clear()
        rig.bybit.ledger.fill_market(
            eth, "buy", Decimal("1"), Decimal("3000"), reduce_only=False, idx=0
        )
    report = await rig.engine.reconcile()
    assert report.closed_outside == [f"{TRADER_A}:BTCUSDT:long"]
    assert report.unmanaged == ["ETHUSDT:long"]
    assert rig.engine.journal.mirrored_positions() == []


async def test_reconcile_reports_a_size_changed_outside(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    await rig.poll()
    with rig.bybit._lock:
        rig.bybit.ledger.positions[("ETHUSDT", 0)].size = Decimal("0.4")
    report = await rig.engine.reconcile()
    assert report.size_mismatch == ["ETHUSDT:long"]
    rig.binance.clear_positions(TRADER_A)
    await rig.poll()  # the close is clipped to what Bybit holds: flat, not short
    assert rig.bybit_size("ETHUSDT", "long") == 0
    assert rig.bybit_size("ETHUSDT", "short") == 0


async def test_one_way_account_refuses_opposite_side_for_another_trader(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat(TRADER_A, TRADER_B)
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    await rig.poll(TRADER_A)
    rig.binance.set_positions(TRADER_B, [S("ETHUSDT", "10", "3000")])
    await rig.poll(TRADER_B)
    assert len(rig.bybit.orders) == 1
    assert rig.bybit_size("ETHUSDT", "long") == Decimal(1)
    row = rig.engine.journal.history()[-1]
    assert (row["decision"], row["check_name"]) == ("refused", "one_way_conflict")
    # once A is out, B's later opens on the other side go through again
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_B, [S("ETHUSDT", "20", "3000")])
    await rig.poll(TRADER_B)  # an increase of a position never mirrored: skipped
    rig.binance.set_positions(TRADER_B, [L("ETHUSDT", "5", "3000")])
    await rig.poll(TRADER_B)  # flip: the close is skipped, the open goes through
    assert rig.bybit_size("ETHUSDT", "long") == Decimal("0.5")


async def test_hedge_trader_on_hedge_account_mirrors_both_sides(make_rig) -> None:
    from lightspeed_cli.sim.bybit import FakeBybit

    with FakeBybit.running(hedge_mode=True) as hedge:
        rig = await make_rig(bybit=hedge)
        await rig.poll_flat()
        rig.binance.set_positions(
            TRADER_A,
            [L("SOLUSDT", "100", "150", hedge=True), S("SOLUSDT", "60", "150", hedge=True)],
        )
        await rig.poll()
        assert rig.bybit_size("SOLUSDT", "long") == Decimal(10)
        assert rig.bybit_size("SOLUSDT", "short") == Decimal(6)
        rig.binance.set_positions(TRADER_A, [S("SOLUSDT", "30", "150", hedge=True)])
        await rig.poll()  # long closed, short halved
        assert rig.bybit_size("SOLUSDT", "long") == 0
        assert rig.bybit_size("SOLUSDT", "short") == Decimal(3)
        assert [o.position_idx for o in hedge.orders] == [1, 2, 1, 2]
        await rig.engine.broker.aclose()


async def test_close_slippage_is_measured_against_the_latest_mark(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
    await rig.poll()
    # the market rallies while the leader holds; polls see the new mark, no signal
    rig.binance.set_mark_price("BTCUSDT", "66000")
    rig.bybit.set_price("BTCUSDT", "66000")
    await rig.poll()
    await rig.poll_flat()
    close = rig.engine.journal.history()[-1]
    assert close["kind"] == "close" and close["fill_price"] == "66000"
    assert Decimal(close["slippage_bps"]) == 0  # not -909 bps against the stale 60000


async def test_live_view_renders_while_running_and_returns_the_exit_code(make_rig) -> None:
    import asyncio
    import io

    from rich.console import Console

    from lightspeed_cli.views.live import run_with_live_view

    rig = await make_rig()
    rig.binance.clear_positions(TRADER_A)
    rig.binance.clear_positions(TRADER_B)
    out = io.StringIO()
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(1.0, stop.set)
    console = Console(file=out, force_terminal=True, width=160)
    code = await run_with_live_view(rig.engine, stop, rig.engine.settings, "valid", console)
    assert code == 0
    text = out.getvalue()
    assert "alpha" in text and "Open mirrored positions" in text and "realized PnL" in text


async def test_a_refused_api_key_stops_trading_with_exit_code_3(make_rig) -> None:
    import asyncio

    from lightspeed_cli.engine.loop import EXIT_FATAL
    from lightspeed_cli.sim.bybit import Fault as BybitFault

    rig = await make_rig()
    rig.binance.clear_positions(TRADER_A)
    rig.binance.clear_positions(TRADER_B)
    await rig.poll(TRADER_A)
    await rig.poll(TRADER_B)
    rig.bybit.inject("/v5/order/create", BybitFault.error(10003, "API key is invalid."), times=5)
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(10, stop.set)  # a bound, should it never stop
    code = await rig.engine.run(stop)
    assert code == EXIT_FATAL
    assert "API key" in (rig.engine.fatal or "")
    assert rig.bybit.orders == []
    row = rig.engine.journal.history()[-1]
    assert row["decision"] == "failed"


async def test_a_close_above_bybits_market_order_max_goes_out_in_chunks(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    await rig.poll()
    assert rig.bybit_size("ETHUSDT", "long") == Decimal(1)
    # Bybit lowers the market-order cap; a restarted bot loads it
    rig.bybit.set_lot_size("ETHUSDT", maxMktOrderQty="0.3")
    rig = await make_rig()
    rig.binance.clear_positions(TRADER_A)
    sizes = []
    for _ in range(6):
        await rig.poll()
        sizes.append(rig.bybit_size("ETHUSDT", "long"))
    assert sizes == [Decimal("0.7"), Decimal("0.4"), Decimal("0.1"), 0, 0, 0]
    closes = [o for o in rig.bybit.orders if o.reduce_only]
    assert [o.qty for o in closes] == [Decimal("0.3")] * 3 + [Decimal("0.1")]
    assert len({o.order_link_id for o in rig.bybit.orders}) == len(rig.bybit.orders)
    assert rig.engine.journal.mirrored_positions() == []


async def test_a_slow_trader_never_stalls_the_others(make_rig) -> None:
    import asyncio

    rig = await make_rig()
    await rig.poll_flat(TRADER_A, TRADER_B)
    # A's answers now take far past the 2 s timeout; B opens meanwhile
    rig.binance.inject(Fault.SLOW, trader=TRADER_A, delay=30)
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
    rig.binance.set_positions(TRADER_B, [L("ETHUSDT", "10", "3000")])
    stop = asyncio.Event()
    run = asyncio.create_task(rig.engine.run(stop))
    for _ in range(200):  # bounded: at most ~10 s
        if rig.bybit_size("ETHUSDT", "long"):
            break
        await asyncio.sleep(0.05)
    stop.set()
    assert await run == 0
    assert rig.bybit_size("ETHUSDT", "long") == Decimal(1)
    assert rig.bybit_size("BTCUSDT", "long") == 0  # A was never read: nothing done for A
    rig.binance.clear_faults()


async def test_follow_existing_copies_what_the_trader_already_holds(make_rig) -> None:
    rig = await make_rig(copy={"follow_existing": True})
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
    await rig.poll()
    assert rig.bybit_size("BTCUSDT", "long") == Decimal("0.1")
    await rig.poll()
    assert len(rig.bybit.orders) == 1


async def test_a_close_bybit_could_not_take_is_retried_next_poll(make_rig) -> None:
    from lightspeed_cli.sim.bybit import Fault as BybitFault

    rig = await make_rig()
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    await rig.poll()
    rig.bybit.inject("/v5/order/create", BybitFault.maintenance(), times=10)
    rig.binance.clear_positions(TRADER_A)
    await rig.poll()  # Bybit under maintenance: the close fails, the change stays open
    assert rig.bybit_size("ETHUSDT", "long") == Decimal(1)
    # a 5xx page proves nothing (issue 11): the close waits, no resend, until its request
    # window has closed; it used to go again at once under a new id
    assert rig.engine.journal.history()[-1]["decision"] == "pending"
    rig.bybit.clear_faults()
    await rig.poll()
    assert [o for o in rig.bybit.orders if o.reduce_only] == []
    rig.engine.clock = lambda: datetime.now(UTC) + timedelta(seconds=15)  # window closed
    await rig.poll()  # provably never placed: the same close, under a new id
    assert rig.bybit_size("ETHUSDT", "long") == 0
    closes = [o for o in rig.bybit.orders if o.reduce_only]
    assert len(closes) == 1


async def test_an_open_bybit_could_not_take_is_not_chased(make_rig) -> None:
    from lightspeed_cli.sim.bybit import Fault as BybitFault

    rig = await make_rig()
    await rig.poll_flat()
    rig.bybit.inject("/v5/order/create", BybitFault.maintenance(), times=10)
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    await rig.poll()
    rig.bybit.clear_faults()
    await rig.poll()
    assert rig.bybit.orders == []  # a late open at a worse price is not what the user wants
    rig.binance.clear_positions(TRADER_A)
    await rig.poll()  # and its close is skipped: nothing was mirrored
    assert rig.bybit.orders == []


async def test_leaderboard_trader_with_a_web_session_is_mirrored(
    tmp_path, fake_binance, fake_bybit
) -> None:
    from lightspeed_cli.config.secrets import encode_binance_session
    from lightspeed_cli.config.settings import Settings
    from lightspeed_cli.engine.loop import Engine
    from lightspeed_cli.execution.bybit import BybitBroker
    from lightspeed_cli.journal.store import Journal
    from lightspeed_cli.sim.bybit import DEFAULT_API_KEY, DEFAULT_API_SECRET
    from lightspeed_cli.sources.binance import BinanceSource

    uid = "0123456789abcdef0123456789abcdef"
    fake_binance.require_session("p20t-cookie", "csrf-token")
    settings = Settings(
        traders=[{"id": uid, "source": "leaderboard"}],
        binance={"base_url": fake_binance.url},
        bybit=fake_bybit.settings().model_dump(),
        safety={"max_position_notional_usdt": "50000"},
        polling={"timeout_seconds": 1, "retries": 0},
        storage={"data_dir": str(tmp_path / "lb")},
    )
    session = encode_binance_session("p20t-cookie", "csrf-token")
    source = BinanceSource(settings.binance, settings.polling, session=session)
    broker = BybitBroker(settings.bybit, api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET)
    with Journal.in_dir(tmp_path / "lb") as journal:
        engine = Engine(settings, broker=broker, source=source, journal=journal)
        await engine.start()
        trader = settings.traders[0]
        fake_binance.clear_positions(uid)
        await engine.poll_trader(trader)
        fake_binance.set_positions(uid, [S("ETHUSDT", "5", "3000")])  # amount -5: a short
        await engine.poll_trader(trader)
        await source.aclose()
        await broker.aclose()
    (order,) = fake_bybit.orders
    assert (order.side, order.qty, order.reduce_only) == ("Sell", Decimal("0.5"), False)
    sent = fake_binance.requests(uid)[-1]
    assert "v2/private" in sent.path and sent.headers.get("csrftoken") == "csrf-token"


async def test_a_close_refused_by_a_bad_key_goes_out_after_a_restart(make_rig) -> None:
    import pytest

    from lightspeed_cli.engine.mirror import FatalTradingError
    from lightspeed_cli.sim.bybit import Fault as BybitFault

    rig = await make_rig()
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    await rig.poll()
    assert rig.bybit_size("ETHUSDT", "long") == Decimal(1)
    rig.bybit.inject("/v5/order/create", BybitFault.error(10003, "API key is invalid."), times=5)
    rig.binance.clear_positions(TRADER_A)
    with pytest.raises(FatalTradingError):
        await rig.poll()  # trading stops; the user fixes the key and starts again
    rig.bybit.clear_faults()
    rig = await make_rig()
    await rig.poll()  # the close was never placed: it goes out now, under a fresh id
    assert rig.bybit_size("ETHUSDT", "long") == 0
    assert len({o.order_link_id for o in rig.bybit.orders}) == len(rig.bybit.orders) == 2


async def test_a_reduce_never_leaves_less_than_bybits_minimum_so_the_close_can_go_out(
    make_rig,
) -> None:
    rig0 = await make_rig()
    rig0.bybit.set_lot_size("ETHUSDT", minOrderQty="0.05")  # above the 0.01 step
    rig = await make_rig()
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "1", "3000")])
    await rig.poll()
    assert rig.bybit_size("ETHUSDT", "long") == Decimal("0.1")
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "0.35", "3000")])
    await rig.poll()  # 65 % of 0.1 would leave 0.04, which Bybit would not let us close
    assert rig.bybit_size("ETHUSDT", "long") >= Decimal("0.05")
    await rig.poll_flat()
    assert rig.bybit_size("ETHUSDT", "long") == 0
    assert rig.engine.journal.mirrored_positions() == []


async def test_a_close_in_chunks_never_leaves_a_last_chunk_below_bybits_minimum(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "9.2", "3000")])
    await rig.poll()
    assert rig.bybit_size("ETHUSDT", "long") == Decimal("0.92")
    # Bybit lowers the market-order cap and raises the minimum; a restarted bot loads them
    rig.bybit.set_lot_size("ETHUSDT", maxMktOrderQty="0.3", minOrderQty="0.05")
    rig = await make_rig()
    rig.binance.clear_positions(TRADER_A)
    for _ in range(6):
        await rig.poll()
    assert rig.bybit_size("ETHUSDT", "long") == 0
    assert all(o.qty >= Decimal("0.05") for o in rig.bybit.orders if o.reduce_only)
    assert rig.engine.journal.mirrored_positions() == []


async def test_one_way_conflict_holds_when_two_traders_open_opposite_sides_at_once(
    make_rig,
) -> None:
    import asyncio

    from lightspeed_cli.sim.bybit import Fault as BybitFault

    rig = await make_rig()
    await rig.poll_flat(TRADER_A, TRADER_B)
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    rig.binance.set_positions(TRADER_B, [S("ETHUSDT", "10", "3000")])
    # the first price read is slow, so the other poll decides while that open is in flight
    rig.bybit.inject("/v5/market/tickers", BybitFault.delayed(1.0), times=1)
    await asyncio.gather(rig.poll(TRADER_A), rig.poll(TRADER_B))
    assert len(rig.bybit.orders) == 1  # one of them is refused: they would net to flat
    mirrored = rig.engine.journal.mirrored_positions()
    assert len(mirrored) == 1
    assert rig.bybit_size("ETHUSDT", mirrored[0].side.value) == mirrored[0].quantity


@pytest.mark.parametrize(
    "cap",
    [{"max_open_positions": 1}, {"max_total_notional_usdt": "3200"}],
    ids=["open-positions", "total-notional"],
)
async def test_caps_hold_when_two_traders_open_different_symbols_at_once(
    make_rig, cap: dict
) -> None:
    """Each open fits the cap alone (ETH 3,000 USDT, SOL 300 USDT), not both together: the
    second to decide must count the first while that one's order is still in flight."""
    import asyncio

    from lightspeed_cli.sim.bybit import Fault as BybitFault

    rig = await make_rig(safety=cap)
    await rig.poll_flat(TRADER_A, TRADER_B)
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    rig.binance.set_positions(TRADER_B, [L("SOLUSDT", "20", "150")])
    rig.bybit.inject("/v5/order/create", BybitFault.delayed(1.0), times=1)
    await asyncio.gather(rig.poll(TRADER_A), rig.poll(TRADER_B))
    assert len(rig.bybit.orders) == 1
    assert len(rig.engine.journal.mirrored_positions()) == 1
    # once the first has filled, the book alone says the same
    await asyncio.gather(rig.poll(TRADER_A), rig.poll(TRADER_B))
    assert len(rig.bybit.orders) == 1


async def test_an_error_while_reporting_an_error_never_orphans_the_other_traders(
    make_rig, monkeypatch
) -> None:
    """A's poll fails and so does writing that failure down (say, a full disk): B must go on
    being polled, and `run` must not return while any trader's loop is still mid-poll."""
    import asyncio

    rig = await make_rig()
    await rig.poll_flat(TRADER_A, TRADER_B)
    real_poll, real_event = rig.engine.poll_trader, rig.engine.events.event

    async def poll(trader) -> None:
        if trader.id == TRADER_A:
            raise RuntimeError("boom")
        await real_poll(trader)

    def event(level: str, message: str, **kwargs) -> None:
        if "boom" in message:
            raise OSError("database or disk is full")
        real_event(level, message, **kwargs)

    monkeypatch.setattr(rig.engine, "poll_trader", poll)
    monkeypatch.setattr(rig.engine.events, "event", event)
    rig.binance.set_positions(TRADER_B, [L("ETHUSDT", "10", "3000")])
    stop = asyncio.Event()
    run = asyncio.create_task(rig.engine.run(stop))
    for _ in range(200):  # bounded: at most ~10 s
        if rig.bybit_size("ETHUSDT", "long") or run.done():
            break
        await asyncio.sleep(0.05)
    stop.set()
    assert await run == 0
    assert rig.bybit_size("ETHUSDT", "long") == Decimal(1)
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("trader:")] == []


async def test_a_close_bybit_rejects_is_retried_after_a_pause_not_abandoned(make_rig) -> None:
    """The trader has left: a rejected close must not leave the follower holding the position.
    It goes again after a back-off (no retry storm in between), under a fresh id."""
    from lightspeed_cli.models import Side
    from lightspeed_cli.sim.bybit import Fault as BybitFault

    rig = await make_rig()
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    await rig.poll()
    assert rig.bybit_size("ETHUSDT") == Decimal(1)

    rig.binance.clear_positions(TRADER_A)
    rig.bybit.inject("/v5/order/create", BybitFault.error(10001, "params error"))
    await rig.poll()  # rejected
    await rig.poll()  # within the back-off: nothing sent
    assert len(rig.bybit.orders) == 1 and rig.bybit_size("ETHUSDT") == Decimal(1)
    assert rig.engine.journal.mirrored_positions()  # still held, still known
    said = [e.message for e in rig.engine.view.events if e.level == "error"]
    assert len(said) == 1 and "10001" in said[0] and "will retry in 5 s" in said[0]

    # rejected again when it goes again: the pause doubles
    key = (TRADER_A, "ETHUSDT", Side.LONG)
    rig.engine.mirror.retry_at[key] = (0.0, rig.engine.mirror.retry_at[key][1])
    rig.bybit.inject("/v5/order/create", BybitFault.error(10001, "params error"))
    await rig.poll()
    assert "will retry in 10 s" in rig.engine.view.events[-1].message
    assert rig.bybit_size("ETHUSDT") == Decimal(1)

    rig.engine.mirror.retry_at.clear()  # the back-off is over
    await rig.poll()
    assert rig.bybit_size("ETHUSDT") == 0
    assert rig.engine.journal.mirrored_positions() == []
    links = [o.order_link_id for o in rig.bybit.orders]
    assert len(links) == len(set(links)) == 2  # rejected orders never reached the book


async def test_an_open_of_unknown_fate_still_counts_toward_the_caps(make_rig) -> None:
    """Bybit may hold an order whose answer was lost: until a lookup settles it, the caps count
    it, or a second open could pass a cap the two together break."""
    from lightspeed_cli.sim.bybit import Fault as BybitFault

    rig = await make_rig(safety={"max_open_positions": 1})
    await rig.poll_flat(TRADER_A, TRADER_B)
    rig.bybit.inject("/v5/order/create", BybitFault.lost_response())
    rig.bybit.inject("/v5/order/realtime", BybitFault.server_error(502), times=50)
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    await rig.poll(TRADER_A)
    assert rig.engine.journal.mirrored_positions() == []  # its fate is unknown to the bot
    rig.binance.set_positions(TRADER_B, [L("SOLUSDT", "20", "150")])
    await rig.poll(TRADER_B)
    assert [o.symbol for o in rig.bybit.orders] == ["ETHUSDT"]  # B refused: the cap is full

    rig.bybit.clear_faults()
    await rig.poll(TRADER_A)  # the lookup finds the fill: the journal holds it now
    assert len(rig.engine.journal.mirrored_positions()) == 1
    assert rig.engine.tracker.in_flight == {}


async def test_a_flip_whose_close_is_of_unknown_fate_opens_once_the_close_settles(
    make_rig,
) -> None:
    """The chaos run's one drift: the leader flipped long -> short while the close of the long
    was of unknown fate; the short's open met the long still in the book, was refused
    one_way_conflict and, a refused open, was never chased. It waits for the close instead."""
    from lightspeed_cli.sim.bybit import Fault as BybitFault

    rig = await make_rig()
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    await rig.poll()
    rig.bybit.inject("/v5/order/create", BybitFault.lost_response())
    for path in ("/v5/order/realtime", "/v5/order/history"):
        rig.bybit.inject(path, BybitFault.server_error(502), times=50)
    rig.binance.set_positions(TRADER_A, [S("ETHUSDT", "5", "3000")])
    await rig.poll()  # the close went out, its answer lost and no lookup answers
    assert rig.bybit_size("ETHUSDT", "long") == 0 and rig.bybit_size("ETHUSDT", "short") == 0
    assert [o.reduce_only for o in rig.bybit.orders] == [False, True]
    assert not any(r["check_name"] == "one_way_conflict" for r in rig.engine.journal.history())
    assert "waits for the close" in rig.engine.view.events[-1].message
    await rig.poll()  # still unknown: still waiting, nothing sent, nothing refused
    assert len(rig.bybit.orders) == 2
    waits = [e for e in rig.engine.view.events if "waits for the close" in e.message]
    assert len(waits) == 1  # said once per wait, not once per poll

    rig.bybit.clear_faults()
    await rig.poll()  # the lookup finds the close filled: the short opens
    assert rig.bybit_size("ETHUSDT", "short") == Decimal("0.5")
    assert [(o.side, o.reduce_only) for o in rig.bybit.orders] == [
        ("Buy", False),
        ("Sell", True),
        ("Sell", False),
    ]
    await rig.poll()
    assert len(rig.bybit.orders) == 3


async def test_another_traders_open_waits_for_a_close_in_flight_and_is_refused_without_one(
    make_rig,
) -> None:
    """Both sides of the wait: B's short meets A's long. While A's close is of unknown fate B
    waits (nothing sent, nothing refused); once A is flat B's short opens. With A's long held
    and no close in flight, the same open is refused one_way_conflict (the test above)."""
    from lightspeed_cli.sim.bybit import Fault as BybitFault

    rig = await make_rig()
    await rig.poll_flat(TRADER_A, TRADER_B)
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    await rig.poll(TRADER_A)
    rig.bybit.inject("/v5/order/create", BybitFault.lost_response())
    for path in ("/v5/order/realtime", "/v5/order/history"):
        rig.bybit.inject(path, BybitFault.server_error(502), times=50)
    rig.binance.clear_positions(TRADER_A)
    await rig.poll(TRADER_A)  # A's close: answer lost, no lookup answers
    rig.binance.set_positions(TRADER_B, [S("ETHUSDT", "10", "3000")])
    await rig.poll(TRADER_B)
    assert len(rig.bybit.orders) == 2 and rig.bybit_size("ETHUSDT", "short") == 0
    assert not any(r["check_name"] == "one_way_conflict" for r in rig.engine.journal.history())
    rig.bybit.clear_faults()
    await rig.poll(TRADER_A)  # A's close settles as filled
    await rig.poll(TRADER_B)
    assert rig.bybit_size("ETHUSDT", "long") == 0
    assert rig.bybit_size("ETHUSDT", "short") == Decimal(1)
