"""`lightspeed run` following pushed Hyperliquid wallets against the fake Hyperliquid and Bybit.

Every pushed change is mirrored once; a socket that drops while the leader keeps trading is
backfilled and mirrored once (never doubled, never missed); a silent socket is BLIND; 429 and
500 `null` are never "flat"."""

from __future__ import annotations

import signal
import time
from decimal import Decimal

from e2e_rig import WALLET_A, WALLET_B, wait_for

from lightspeed_cli.sim.hyperliquid import Fault


def test_pushed_open_increase_reduce_close_flip_are_mirrored_once(hl_e2e) -> None:
    bot, hl, bybit = hl_e2e.bot, hl_e2e.hl, hl_e2e.bybit
    hl_e2e.start_flat()

    hl.fill(WALLET_A, "BTC", "B", "1")  # open long 1
    wait_for("open", lambda: len(bybit.orders) == 1)
    assert hl_e2e.bybit_size("BTCUSDT", "long") == Decimal("0.1")
    hl.fill(WALLET_A, "BTC", "B", "1")  # increase to 2
    wait_for("increase", lambda: len(bybit.orders) == 2)
    hl.fill(WALLET_B, "ETH", "A", "10")  # B opens short 10
    wait_for("B's open", lambda: len(bybit.orders) == 3)
    hl.fill(WALLET_A, "BTC", "A", "1.5")  # reduce to 0.5
    wait_for("reduce", lambda: len(bybit.orders) == 4)
    assert hl_e2e.bybit_size("BTCUSDT", "long") == Decimal("0.05")
    hl.fill(WALLET_A, "BTC", "A", "1.5")  # "Long > Short": one fill, two legs
    wait_for("flip = close + open", lambda: len(bybit.orders) == 6)
    assert hl_e2e.bybit_size("BTCUSDT", "long") == 0
    assert hl_e2e.bybit_size("BTCUSDT", "short") == Decimal("0.1")
    hl.fill(WALLET_B, "ETH", "B", "10")  # B closes
    wait_for("B's close", lambda: len(bybit.orders) == 7)

    # a duplicate delivery of the last fill changes nothing
    hl.repush(WALLET_B, _last_fill(hl, WALLET_B))
    time.sleep(1.0)
    assert len(bybit.orders) == 7
    assert hl_e2e.bybit_size("ETHUSDT", "short") == 0

    # the leader's own fill is the leader fill of each order (history's slippage, latency)
    rows = bot.query("SELECT leader_fill_price, detection_latency_ms FROM orders")
    assert len(rows) == 7 and all(r["leader_fill_price"] is not None for r in rows), rows
    assert all(0 <= r["detection_latency_ms"] < 5_000 for r in rows), rows

    # the book stays the truth: not one clearinghouseState read per fill
    assert len(bot.query("SELECT * FROM signals")) == 7
    assert bot.stop(signal.SIGTERM) == 0, bot.log_text()
    links = [o.order_link_id for o in bybit.orders]
    assert len(set(links)) == len(links) == 7
    assert all(o.status == "Filled" for o in bybit.orders)


def _last_fill(hl, wallet: str) -> dict:
    with hl._lock:
        return hl._wallet(wallet.lower()).fills[-1]


def test_fills_during_a_dropped_socket_are_backfilled_and_mirrored_once(hl_e2e) -> None:
    bot, hl, bybit = hl_e2e.bot, hl_e2e.hl, hl_e2e.bybit
    hl_e2e.start_flat()
    hl.fill(WALLET_A, "BTC", "B", "1")
    wait_for("open", lambda: len(bybit.orders) == 1)
    connections = hl.connections_accepted

    hl.disconnect()  # a gap: the socket is cut and no new one is accepted
    hl.fill(WALLET_A, "BTC", "B", "1")  # to 2 (nobody hears it)
    hl.fill(WALLET_A, "ETH", "A", "4")  # opens short ETH
    hl.fill(WALLET_B, "SOL", "B", "100")  # B opens long SOL
    time.sleep(1.0)
    assert len(bybit.orders) == 1
    hl.reconnect()
    wait_for("reconnected", lambda: hl.connections_accepted > connections, timeout=30)
    wait_for("the gap's three changes", lambda: len(bybit.orders) == 4, timeout=30)
    time.sleep(1.5)  # a live fill, a second book read or a duplicate would show here
    assert len(bybit.orders) == 4
    assert hl_e2e.bybit_size("BTCUSDT", "long") == Decimal("0.2")
    assert hl_e2e.bybit_size("ETHUSDT", "short") == Decimal("0.4")
    assert hl_e2e.bybit_size("SOLUSDT", "long") == Decimal("10")

    # a drop without a gap, then a live fill: once, in order
    hl.drop_sockets()
    hl.fill(WALLET_A, "BTC", "A", "2")  # closes BTC
    wait_for("the close", lambda: len(bybit.orders) == 5, timeout=30)
    time.sleep(1.5)
    assert len(bybit.orders) == 5 and hl_e2e.bybit_size("BTCUSDT", "long") == 0
    assert bot.stop(signal.SIGTERM) == 0, bot.log_text()
    links = [o.order_link_id for o in bybit.orders]
    assert len(set(links)) == len(links)


def test_a_silent_socket_is_blind_in_status(hl_e2e, webhook) -> None:
    bot, hl = hl_e2e.bot, hl_e2e.hl
    bot.env["LIGHTSPEED_NOTIFY__WEBHOOK_URL"] = webhook.url
    bot.env["LIGHTSPEED_NOTIFY__BLIND_AFTER_SECONDS"] = "5"
    hl_e2e.start_flat()
    time.sleep(3.0)  # a quiet leader on a live socket is not blind
    assert "BLIND" not in bot.cli("status").stdout
    assert not [r for r in webhook.received if r.get("kind") == "blind"]

    hl.silence()  # sockets open, nothing comes: no pushes, no pongs
    wait_for(
        "a blind alert for both wallets",
        lambda: len([r for r in webhook.received if r.get("kind") == "blind"]) >= 2,
        timeout=30,
    )
    status = bot.cli("status")
    assert status.returncode == 0, status.stderr
    for wallet in (WALLET_A, WALLET_B):
        lines = [line for line in status.stdout.splitlines() if wallet in line]
        assert any("BLIND" in line for line in lines), status.stdout

    hl.silence(False)
    wait_for("seeing again", lambda: "BLIND" not in bot.cli("status").stdout, timeout=30)
    assert bot.stop(signal.SIGTERM) == 0, bot.log_text()


def test_429_and_500_null_are_never_flat(hl_e2e) -> None:
    bot, hl, bybit = hl_e2e.bot, hl_e2e.hl, hl_e2e.bybit
    hl.set_positions(WALLET_A, [])
    hl.set_positions(WALLET_B, [])
    bot.start()
    wait_for("baselined", lambda: bot.baselined(WALLET_A, WALLET_B))
    hl.fill(WALLET_A, "BTC", "B", "1")
    wait_for("open", lambda: len(bybit.orders) == 1)

    # the leader closes while the socket is down and every read is refused: nothing closes
    hl.disconnect()
    hl.set_positions(WALLET_A, [])
    hl.inject(Fault.RATE_LIMIT, times=None, request_type="clearinghouseState")
    hl.inject(Fault.SERVER_NULL, times=None, request_type="userFillsByTime")
    hl.reconnect()
    time.sleep(4.0)
    assert len(bybit.orders) == 1 and hl_e2e.bybit_size("BTCUSDT", "long") == Decimal("0.1")
    hl.clear_faults()
    wait_for("the close, read from the book", lambda: len(bybit.orders) == 2, timeout=30)
    assert hl_e2e.bybit_size("BTCUSDT", "long") == 0
    assert bot.stop(signal.SIGTERM) == 0, bot.log_text()
