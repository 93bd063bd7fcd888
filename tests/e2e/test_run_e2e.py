"""`lightspeed run` as a subprocess: a scripted session mirrors exactly, stops cleanly."""

from __future__ import annotations

import signal
import time
from decimal import Decimal

from e2e_rig import TRADER_A, TRADER_B, wait_for

from lightspeed_cli.sim.binance import FakePosition, Fault

L = FakePosition.long
S = FakePosition.short


def test_scripted_session_mirrors_exactly_and_stops_on_sigterm(e2e) -> None:
    bot, binance, bybit = e2e.bot, e2e.binance, e2e.bybit
    for trader in (TRADER_A, TRADER_B):
        binance.clear_positions(trader)
    bot.start()
    wait_for("both traders baselined", lambda: bot.baselined(TRADER_A, TRADER_B))

    # a second bot on the same journal would act on every change twice: it is refused
    second = bot.cli("run", "--no-live")
    assert second.returncode == 1, second.stdout + second.stderr
    said = " ".join((second.stdout + second.stderr).split())
    assert f"pid {bot.proc.pid}" in said and "is already using" in said, said
    assert bot.alive()

    binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
    binance.set_positions(TRADER_B, [S("ETHUSDT", "10", "3000")])
    wait_for("two opens", lambda: len(bybit.orders) == 2)

    binance.set_positions(TRADER_A, [L("BTCUSDT", "2", "60000")])
    binance.set_positions(TRADER_B, [S("ETHUSDT", "5", "3000")])
    wait_for("increase + reduce", lambda: len(bybit.orders) == 4)
    assert e2e.bybit_size("BTCUSDT", "long") == Decimal("0.2")
    assert e2e.bybit_size("ETHUSDT", "short") == Decimal("0.5")

    binance.set_positions(TRADER_A, [S("BTCUSDT", "1", "60000")])
    wait_for("flip = close + open", lambda: len(bybit.orders) == 6)
    assert e2e.bybit_size("BTCUSDT", "long") == 0
    assert e2e.bybit_size("BTCUSDT", "short") == Decimal("0.1")

    # Binance breaks for trader B while the truth is flat: nothing may be closed
    binance.inject(Fault.SERVER_ERROR, trader=TRADER_B)
    binance.clear_positions(TRADER_B)
    time.sleep(1.0)
    assert len(bybit.orders) == 6
    assert e2e.bybit_size("ETHUSDT", "short") == Decimal("0.5")
    binance.clear_faults()
    wait_for("B's close after Binance recovers", lambda: len(bybit.orders) == 7)

    # a refused open: Bybit's SOL price is 100 bps away from Binance's mark
    bybit.set_price("SOLUSDT", "151.5")
    # the bot checks against its price cache (prices.py): two refreshes after the move, the
    # first one's answer (which has it) has landed
    seen = len(bybit.requests)
    wait_for(
        "the price cache refreshed twice",
        lambda: (
            sum(
                1
                for r in bybit.requests[seen:]
                if r.path == "/v5/market/tickers" and "symbol" not in r.params
            )
            >= 2
        ),
    )
    binance.set_positions(TRADER_A, [S("BTCUSDT", "1", "60000"), L("SOLUSDT", "100", "150")])
    wait_for(
        "refusal journaled",
        lambda: bot.query("SELECT * FROM signals WHERE decision='refused'"),
    )
    refused = bot.query("SELECT check_name, reason FROM signals WHERE decision='refused'")
    assert refused[0]["check_name"] == "price_divergence_bps"
    assert len(bybit.orders) == 7

    binance.clear_positions(TRADER_A)
    wait_for("A's close", lambda: len(bybit.orders) == 8)
    assert bot.stop(signal.SIGTERM) == 0, bot.log_text()

    links = [o.order_link_id for o in bybit.orders]
    assert len(set(links)) == len(links) == 8
    assert all(o.status == "Filled" for o in bybit.orders)
    with bybit._lock:
        assert bybit.ledger.open_positions() == []
    assert set(bot.order_statuses()) == {"filled"}
    logs = bot.log_text()
    for secret in ("fake-bybit-key", "fake-bybit-secret", e2e.key):
        assert secret not in logs  # DESIGN rule 5: never logged

    status = bot.cli("status")
    assert status.returncode == 0, status.stderr
    assert TRADER_A in status.stdout and "realized PnL" in status.stdout
    history = bot.cli("history", "--csv", "-")
    assert history.returncode == 0, history.stderr
    lines = history.stdout.strip().splitlines()
    assert lines[0].startswith("created_at,trader,kind")
    assert sum(",executed," in line for line in lines) == 8
    assert sum(",refused,price_divergence_bps," in line for line in lines) == 1


def test_revoked_mid_run_stops_opens_but_closes_still_mirror(e2e, webhook) -> None:
    bot, binance, bybit = e2e.bot, e2e.binance, e2e.bybit
    bot.env["LIGHTSPEED_LICENSE__RENEW_INTERVAL_MINUTES"] = "0.01"  # a heartbeat every 0.6 s
    bot.env["LIGHTSPEED_NOTIFY__WEBHOOK_URL"] = webhook.url
    e2e.start_flat()
    binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    wait_for("open", lambda: len(bybit.orders) == 1)

    e2e.license.revoke(e2e.key)  # while running: the next heartbeat is refused
    wait_for("heartbeat refused", lambda: "revoked" in bot.latest_log())
    # said when it happens, not at the next signal: webhook, and red in `status`
    wait_for("lapse on the webhook", lambda: [t for t in webhook.texts() if "CLOSING ONLY" in t])
    assert "CLOSING ONLY" in bot.cli("status").stdout
    binance.set_positions(TRADER_B, [L("BTCUSDT", "1", "60000")])
    wait_for(
        "open refused by license",
        lambda: bot.query("SELECT * FROM signals WHERE check_name='license'"),
    )
    events = bot.query("SELECT message FROM events WHERE message LIKE 'license:%'")
    assert len(events) == 1 and "CLOSING ONLY" in events[0]["message"]  # said once
    binance.set_positions(TRADER_A, [])
    wait_for("close still mirrored", lambda: len(bybit.orders) == 2)
    assert e2e.bybit_size("BTCUSDT", "long") == 0
    assert e2e.bybit_size("ETHUSDT", "long") == 0
    assert bot.stop(signal.SIGINT) == 0, bot.log_text()

    # restarted with the revoked lease: it runs, closing only, and says why
    bot.start()
    wait_for("restarted", lambda: "CLOSING ONLY" in bot.latest_log())
    assert bot.stop() == 0
