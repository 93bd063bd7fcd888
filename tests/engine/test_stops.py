"""Protective stop-losses held by Bybit: set after the fill, moved with the position, and a
triggered one seen as a close outside the bot (journaled, reported)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from engine_rig import TRADER_A, TRADER_B, until

from lightspeed_cli.config.settings import Settings
from lightspeed_cli.engine import stops as stops_module
from lightspeed_cli.engine.stops import stop_pct, stop_price
from lightspeed_cli.journal.store import utc_day
from lightspeed_cli.models import Side
from lightspeed_cli.notify.webhook import Notifier
from lightspeed_cli.sim.binance import FakePosition

L = FakePosition.long
S = FakePosition.short


def test_stop_price_is_on_the_tick_and_never_closer_than_the_percent() -> None:
    tick = Decimal("0.1")
    assert stop_price(Side.LONG, Decimal(60000), Decimal(5), tick) == Decimal("57000.0")
    assert stop_price(Side.SHORT, Decimal(60000), Decimal(5), tick) == Decimal("63000.0")
    # off the tick: a long's stop rounds down, a short's up (a little further, never closer)
    assert stop_price(Side.LONG, Decimal("60000.05"), Decimal(1), tick) == Decimal("59400.0")
    assert stop_price(Side.SHORT, Decimal("60000.05"), Decimal(1), tick) == Decimal("60600.1")


def test_stop_pct_tightest_of_the_holders_and_per_trader_override() -> None:
    settings = Settings(
        traders=[
            {"id": TRADER_A, "protective_stop_pct": "3"},
            {"id": TRADER_B, "protective_stop_pct": "0"},
        ],
        safety={"protective_stop_pct": "5"},
    )
    assert stop_pct(settings, [TRADER_A]) == Decimal(3)
    assert stop_pct(settings, [TRADER_B]) == 0  # off for B
    assert stop_pct(settings, [TRADER_A, TRADER_B]) == Decimal(3)
    assert stop_pct(settings, ["someone-else"]) == Decimal(5)
    assert stop_pct(Settings(), [TRADER_A]) == 0  # off by default
    with pytest.raises(ValueError):
        Settings(safety={"protective_stop_pct": "100"})


async def test_stop_set_moved_triggered_and_reported(make_rig, monkeypatch) -> None:
    monkeypatch.setattr(stops_module, "WATCH_SECONDS", 0.05)
    rig = await make_rig(steered=True, safety={"protective_stop_pct": "5"})
    engine = rig.engine
    said: list[str] = []
    engine.notifier = Notifier(engine.settings.notify)
    engine.notifier.subscribe(said.append)  # what the webhook / Telegram would get
    steering = rig.steer()
    assert steering.stops is not None and engine.stops is steering.stops
    stop = asyncio.Event()
    steering.start(stop)
    try:
        await rig.poll_flat(TRADER_A)
        rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
        await rig.poll()
        assert rig.bybit_size("BTCUSDT") == Decimal("0.1")
        await until("stop set", lambda: rig.bybit.stops.get(("BTCUSDT", 0)))
        assert rig.bybit.stops[("BTCUSDT", 0)] == Decimal("57000.0")

        # an increase at a higher price: the average entry moves, and the stop with it
        rig.bybit.set_price("BTCUSDT", "62000")
        rig.binance.set_mark_price("BTCUSDT", "62000")
        rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "2", "62000")])
        await rig.poll()
        assert rig.bybit_size("BTCUSDT") == Decimal("0.2")
        entry = rig.bybit.ledger.position("BTCUSDT", 0).entry_price
        assert entry == Decimal(61000)
        moved = stop_price(Side.LONG, entry, Decimal(5), Decimal("0.1"))
        await until("stop moved", lambda: rig.bybit.stops.get(("BTCUSDT", 0)) == moved)
        assert moved == Decimal("57950.0")

        # the price crosses it: Bybit closes the whole position by itself
        before = engine.journal.realized_pnl(utc_day(engine.clock()))
        rig.bybit.set_price("BTCUSDT", "57900")
        assert rig.bybit_size("BTCUSDT") == 0
        assert rig.bybit.orders[-1].stop_order_type == "StopLoss"
        await until("the journal follows", lambda: engine.journal.mirrored_positions() == [])
        await until("reported", lambda: [m for m in said if "PROTECTIVE STOP triggered" in m])
        events = [e["message"] for e in engine.journal.recent_events(20)]
        assert any("PROTECTIVE STOP triggered" in e and "BTCUSDT" in e for e in events)
        (closed,) = [
            r
            for r in engine.journal.history()
            if r["reason"] == "protective stop triggered on Bybit"
        ]
        assert closed["order_status"] == "filled" and Decimal(closed["fill_qty"]) == Decimal("0.2")
        realized = engine.journal.realized_pnl(utc_day(engine.clock())) - before
        assert realized < Decimal("-600")  # (57900 - 61000) * 0.2, less the fee

        # the leader's own close later is not mirrored a second time
        orders = len(rig.bybit.orders)
        await rig.poll_flat(TRADER_A)
        assert len(rig.bybit.orders) == orders
    finally:
        stop.set()
        await steering.aclose()


async def test_no_stop_for_a_trader_whose_stop_is_off(make_rig, monkeypatch) -> None:
    monkeypatch.setattr(stops_module, "WATCH_SECONDS", 0.05)
    rig = await make_rig(  # A: 2 %, B: off (default 0)
        steered=True,
        traders=[
            {"id": TRADER_A, "source": "copytrade", "label": "alpha", "protective_stop_pct": "2"},
            {"id": TRADER_B, "source": "copytrade", "label": "beta"},
        ],
    )
    steering = rig.steer()
    assert steering.stops is not None
    stop = asyncio.Event()
    steering.start(stop)
    try:
        await rig.poll_flat(TRADER_A, TRADER_B)
        rig.binance.set_positions(TRADER_B, [S("ETHUSDT", "10", "3000")])
        rig.binance.set_positions(TRADER_A, [S("SOLUSDT", "100", "150")])
        await rig.poll(TRADER_B)
        await rig.poll(TRADER_A)
        await until("A's stop", lambda: rig.bybit.stops.get(("SOLUSDT", 0)) == Decimal("153.000"))
        await asyncio.sleep(0.3)
        assert ("ETHUSDT", 0) not in rig.bybit.stops
    finally:
        stop.set()
        await steering.aclose()


async def test_without_protective_stop_pct_nothing_runs(make_rig) -> None:
    rig = await make_rig(steered=True)
    steering = rig.steer()
    assert steering.stops is None and rig.engine.stops is None


async def test_a_stop_that_fired_while_the_bot_was_away_is_journaled_at_start(
    make_rig, monkeypatch
) -> None:
    from lightspeed_cli.engine.stops import settle_at_start

    monkeypatch.setattr(stops_module, "WATCH_SECONDS", 0.05)
    rig = await make_rig(steered=True, safety={"protective_stop_pct": "2"})
    engine = rig.engine
    steering = rig.steer()
    stop = asyncio.Event()
    steering.start(stop)
    await rig.poll_flat(TRADER_A)
    rig.binance.set_positions(TRADER_A, [S("ETHUSDT", "10", "3000")])
    await rig.poll()
    await until("stop set", lambda: rig.bybit.stops.get(("ETHUSDT", 0)) == Decimal("3060.00"))
    stop.set()
    await steering.aclose()  # the bot is gone...
    rig.bybit.set_price("ETHUSDT", "3070")  # ...and Bybit's stop closes the short
    assert rig.bybit_size("ETHUSDT", "short") == 0

    await settle_at_start(  # the restart, before reconciliation
        engine.settings,
        broker=engine.broker,
        journal=engine.journal,
        events=engine.events.report,
        clock=engine.clock,
    )
    report = await engine.reconcile()
    assert report.closed_outside == []  # not a mystery: journaled as the stop's close
    assert engine.journal.mirrored_positions() == []
    events = [e["message"] for e in engine.journal.recent_events(10)]
    assert any("PROTECTIVE STOP triggered" in e and "ETHUSDT short" in e for e in events)
    assert engine.journal.realized_pnl(utc_day(engine.clock())) < Decimal("-70")
