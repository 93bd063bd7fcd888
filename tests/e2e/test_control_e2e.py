"""`lightspeed pause / resume / close-all` from the shell, on a running bot and with none."""

from __future__ import annotations

import signal
from decimal import Decimal

import pytest
from e2e_rig import TRADER_A, TRADER_B, wait_for

from lightspeed_cli.sim.binance import FakePosition
from lightspeed_cli.sim.telegram import FakeTelegram

pytestmark = pytest.mark.timeout(300)  # several CLI processes and two bot runs, on a busy box

L = FakePosition.long
S = FakePosition.short


def said(result) -> str:  # type: ignore[no-untyped-def]
    return " ".join((result.stdout + result.stderr).split())


def test_shell_pause_resume_close_all_act_on_the_running_bot(e2e) -> None:
    bot, binance, bybit = e2e.bot, e2e.binance, e2e.bybit
    for trader in (TRADER_A, TRADER_B):
        binance.clear_positions(trader)
    bot.start()
    wait_for("both traders baselined", lambda: bot.baselined(TRADER_A, TRADER_B), 60)
    binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
    wait_for("A's open", lambda: len(bybit.orders) == 1)

    paused = bot.cli("pause")
    assert paused.returncode == 0, said(paused)
    assert "paused" in said(paused) and "the running bot acted" in said(paused)
    status = bot.cli("status")
    assert "PAUSED" in said(status) and "by shell" in said(status), said(status)

    binance.set_positions(TRADER_B, [S("ETHUSDT", "10", "3000")])  # an open: refused
    refusals = "SELECT * FROM signals WHERE decision='refused'"
    wait_for("B's open refused", lambda: bot.query(refusals))
    (refused,) = bot.query("SELECT check_name FROM signals WHERE decision='refused'")
    assert refused["check_name"] == "paused"
    binance.set_positions(TRADER_A, [L("BTCUSDT", "0.5", "60000")])  # a reduce still mirrors
    wait_for("A's reduce", lambda: e2e.bybit_size("BTCUSDT", "long") == Decimal("0.05"))

    resumed = bot.cli("resume")
    assert resumed.returncode == 0 and "resumed" in said(resumed), said(resumed)
    assert "opens allowed" in said(bot.cli("status"))
    binance.set_positions(TRADER_A, [L("BTCUSDT", "0.5", "60000"), L("SOLUSDT", "100", "150")])
    wait_for("A's SOL open", lambda: e2e.bybit_size("SOLUSDT", "long") == Decimal("10"))

    bybit.hand_order("XRPUSDT", "Buy", "100")  # the user's own position: never touched
    refused_without_yes = bot.cli("close-all")
    assert refused_without_yes.returncode == 2, said(refused_without_yes)
    closed = bot.cli("close-all", "--yes")
    assert closed.returncode == 0, said(closed)
    assert "the running bot acted" in said(closed) and "BTCUSDT" in said(closed)
    assert e2e.bybit_size("BTCUSDT", "long") == 0
    assert e2e.bybit_size("SOLUSDT", "long") == 0
    assert e2e.bybit_size("XRPUSDT", "long") == Decimal("100")
    assert "PAUSED" in said(bot.cli("status"))

    # the leader opens again: paused by close-all, so nothing new goes out
    orders = len(bybit.orders)
    binance.set_positions(TRADER_B, [S("ETHUSDT", "10", "3000"), L("DOGEUSDT", "1000", "0.15")])
    wait_for(
        "B's second open refused",
        lambda: len(bot.query("SELECT * FROM signals WHERE check_name='paused'")) == 2,
    )
    assert len(bybit.orders) == orders
    assert bot.stop(signal.SIGTERM) == 0, bot.log_text()


def test_shell_commands_without_a_running_bot(e2e) -> None:
    bot, binance, bybit = e2e.bot, e2e.binance, e2e.bybit
    for trader in (TRADER_A, TRADER_B):
        binance.clear_positions(trader)
    paused = bot.cli("pause")  # no bot yet: stored, the next run starts paused
    assert paused.returncode == 0 and "no bot running" in said(paused), said(paused)
    bot.start()
    wait_for("both traders baselined", lambda: bot.baselined(TRADER_A, TRADER_B), 60)
    binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
    wait_for("open refused", lambda: bot.query("SELECT * FROM signals WHERE check_name='paused'"))
    assert bybit.orders == []
    assert bot.stop(signal.SIGTERM) == 0, bot.log_text()
    bybit.hand_order("XRPUSDT", "Buy", "100")  # the user's own position: never touched

    resumed = bot.cli("resume")
    assert resumed.returncode == 0 and "no bot running" in said(resumed), said(resumed)
    bot.start()
    # the refused open is not chased later; a new one after the restart goes out
    binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000"), L("DOGEUSDT", "1000", "0.15")])
    wait_for("A's new open", lambda: e2e.bybit_size("DOGEUSDT", "long") == Decimal("100"), 30)
    assert bot.stop(signal.SIGTERM) == 0, bot.log_text()
    closed = bot.cli("close-all", "--yes")
    assert closed.returncode == 0, said(closed)
    assert "no bot running" in said(closed) and "DOGEUSDT" in said(closed)
    assert e2e.bybit_size("DOGEUSDT", "long") == 0
    assert e2e.bybit_size("XRPUSDT", "long") == Decimal("100")
    assert not bot.query("SELECT * FROM mirrored")
    statuses = bot.query(
        "SELECT status FROM orders WHERE client_order_id IN"
        " (SELECT client_order_id FROM signals WHERE reason LIKE 'close-all%')"
    )
    assert statuses and {r["status"] for r in statuses} == {"filled"}
    assert "PAUSED" in said(bot.cli("status"))


def test_telegram_inside_lightspeed_run(e2e) -> None:
    """The real `lightspeed run` process answers its chat; the token never reaches the log."""
    bot, binance = e2e.bot, e2e.binance
    chat = 4242
    with FakeTelegram.running() as telegram:
        for key, value in (
            ("notify.telegram_chat_id", str(chat)),
            ("notify.telegram_api_url", telegram.base_url),
        ):
            assert bot.cli("config", "set", key, value).returncode == 0
        bot.env = {**bot.env, "LIGHTSPEED_TELEGRAM_TOKEN": telegram.token}
        for trader in (TRADER_A, TRADER_B):
            binance.clear_positions(trader)
        bot.start()
        wait_for("both traders baselined", lambda: bot.baselined(TRADER_A, TRADER_B), 60)
        telegram.user_says(chat, "/pause")
        telegram.wait_for_reply(chat, "paused: no new positions", timeout=60)
        telegram.user_says(chat, "/status")
        status = telegram.wait_for_reply(chat, "Realised PnL today", timeout=60)
        assert "PAUSED" in status.text and "alpha" in status.text
        assert "PAUSED" in said(bot.cli("status"))
        binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
        telegram.wait_for_reply(chat, "REFUSED", timeout=60)  # the alert, in the chat
        assert bot.stop(signal.SIGTERM) == 0, bot.log_text()
    assert e2e.bybit.orders == []
    assert telegram.token not in bot.log_text()
