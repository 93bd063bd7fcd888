"""`lightspeed run` as a subprocess with a lead portfolio that stops: no new opens for it, its
closes still mirrored, the other trader untouched; and its fills come from its order-history."""

from __future__ import annotations

import signal
from decimal import Decimal

from e2e_rig import TRADER_A, TRADER_B, wait_for

from lightspeed_cli.sim.binance import FakePosition

L = FakePosition.long


def test_a_closed_lead_portfolio_gets_no_opens_and_its_closes_mirror(e2e) -> None:
    bot, binance, bybit = e2e.bot, e2e.binance, e2e.bybit
    e2e.start_flat()
    binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
    wait_for("A's open", lambda: len(bybit.orders) == 1)
    wait_for(
        "the leader's own fill recorded",
        lambda: bot.query("SELECT 1 FROM orders WHERE leader_fill_price IS NOT NULL"),
    )
    assert bot.stop(signal.SIGTERM) == 0

    binance.set_detail(TRADER_A, status="CLOSED")  # the leader closed the portfolio meanwhile
    bot.start()
    wait_for("the stop is noticed", lambda: "the leader stopped" in bot.latest_log())
    binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000"), L("ETHUSDT", "10", "3000")])
    binance.set_positions(TRADER_B, [L("SOLUSDT", "100", "150")])
    wait_for(
        "A's open refused",
        lambda: bot.query("SELECT 1 FROM signals WHERE check_name='leader_stopped'"),
    )
    wait_for("B's open still mirrored", lambda: len(bybit.orders) == 2)
    binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])  # BTC closed
    wait_for("A's close mirrored", lambda: len(bybit.orders) == 3)
    assert bybit.orders[-1].reduce_only and e2e.bybit_size("BTCUSDT", "long") == 0
    assert e2e.bybit_size("ETHUSDT", "long") == 0
    assert e2e.bybit_size("SOLUSDT", "long") == Decimal(10)
    (refused,) = bot.query("SELECT symbol, reason FROM signals WHERE decision='refused'")
    assert refused["symbol"] == "ETHUSDT" and "CLOSED" in refused["reason"]
    assert bot.stop(signal.SIGTERM) == 0
