"""Reconciliation end to end: the engine's journal against the fake Bybit through real ccxt.

Drift is said (once per change, to the webhook too); the bot's own excess is reduced with a
reduce-only order; a position with orders that are not the bot's is only reported; a lost or
restored journal is rebuilt from Bybit by the bot's order ids, and opens wait when it cannot be.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine_rig import TRADER_A

from lightspeed_cli.decisions.order_ids import client_order_id
from lightspeed_cli.engine.reconcile import OPENS_BLOCKED, accept_rebuild
from lightspeed_cli.models import Side
from lightspeed_cli.sim.binance import FakePosition

L = FakePosition.long
D = Decimal


class Webhook:
    """The notifier interface, recording what would reach the webhook (plain messages and
    alerts.py's rate-limited alerts)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def notify(self, text: str, fields: dict[str, Any] | None = None) -> None:
        self.sent.append(text)

    def drift(self, subject: str = "BTCUSDT long", state: str = "ALERT") -> list[str]:
        return [m for m in self.sent if f"{state} [drift] {subject}:" in m]


def listen(rig: Any) -> Webhook:
    hook = Webhook()
    rig.engine.notifier = rig.engine.alerts.notifier = hook
    return hook


async def place(
    rig: Any, symbol: str, side: str, qty: str, link_id: str = "", **extra: Any
) -> None:
    """An order straight on the fake through ccxt: the user's by hand, or a stray bot one."""
    body = {"category": "linear", "symbol": symbol, "side": side, "orderType": "Market"}
    body.update({"qty": qty, "positionIdx": 0, **extra})
    if link_id:
        body["orderLinkId"] = link_id
    await rig.engine.broker.exchange.privatePostV5OrderCreate(body)


def bot_link(rig: Any, trader: str, symbol: str, version: int) -> str:
    return client_order_id(
        instance=rig.engine.tracker.instance,
        trader=trader,
        symbol=symbol,
        side=Side.LONG,
        version=version,
        attempt=7,
    )


def held(rig: Any, symbol: str = "BTCUSDT") -> D:
    return sum(
        (m.quantity for m in rig.engine.journal.mirrored_positions() if m.symbol == symbol), D(0)
    )


async def open_btc(rig: Any, size: str = "1") -> None:
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", size, "60000")])
    await rig.poll()
    assert rig.bybit_size("BTCUSDT") == D(size) / 10


async def test_a_doubled_open_is_said_once_and_reduced_to_the_leaders_book(make_rig) -> None:
    rig = await make_rig()
    await open_btc(rig)
    hook = listen(rig)
    await place(rig, "BTCUSDT", "Buy", "0.1", bot_link(rig, TRADER_A, "BTCUSDT", 0))
    assert rig.bybit_size("BTCUSDT") == D("0.2")

    result = await rig.engine.reconciler.check()
    assert result.ran and result.repairs == 1
    drift = hook.drift()
    assert len(drift) == 1
    assert (
        "BTCUSDT long: journal 0.1, Bybit 0.2: the bot's own (its order ids): adopted for alpha"
        " What to do: check the position on Bybit" in drift[0]
    )
    assert any(m.startswith("REPAIR BTCUSDT long for alpha") for m in hook.sent)
    assert rig.bybit_size("BTCUSDT") == D("0.1") and held(rig) == D("0.1")
    repair = rig.bybit.orders[-1]
    assert repair.reduce_only and repair.qty == D("0.1") and repair.order_link_id.startswith("ls-")
    assert rig.engine.journal.order(repair.order_link_id).status == "filled"

    orders = len(rig.bybit.orders)
    again = await rig.engine.reconciler.check()
    assert again.ran and again.repairs == 0 and len(rig.bybit.orders) == orders
    assert hook.drift() == drift  # not said twice
    assert len(hook.drift(state="RESOLVED")) == 1  # the repair made them agree

    await rig.poll_flat()  # the leader's close still mirrors exactly
    assert rig.bybit_size("BTCUSDT") == 0 and held(rig) == 0


async def test_a_hand_order_on_the_symbol_is_reported_never_touched(make_rig) -> None:
    rig = await make_rig()
    await open_btc(rig)
    hook = listen(rig)
    await place(rig, "BTCUSDT", "Buy", "0.5")  # the user adds by hand: no orderLinkId
    orders = len(rig.bybit.orders)

    for _ in range(3):
        result = await rig.engine.reconciler.check()
        assert result.ran and result.repairs == 0
    assert len(rig.bybit.orders) == orders and rig.bybit_size("BTCUSDT") == D("0.6")
    assert held(rig) == D("0.1")
    drift = hook.drift()
    assert len(drift) == 1 and "journal 0.1, Bybit 0.6" in drift[0]
    assert "0.5 left alone (orders on it that are not the bot's)" in drift[0]

    await place(rig, "BTCUSDT", "Buy", "0.1")  # the drift changes: said again
    await rig.engine.reconciler.check()
    assert len(hook.drift()) == 2 and "journal 0.1, Bybit 0.7" in hook.drift()[1]

    await rig.poll_flat()  # the leader's close takes the bot's share only
    assert rig.bybit_size("BTCUSDT") == D("0.6") and held(rig) == 0


async def test_less_on_bybit_shrinks_the_journal_and_opens_nothing(make_rig) -> None:
    rig = await make_rig()
    await open_btc(rig, "2")
    hook = listen(rig)
    await place(rig, "BTCUSDT", "Sell", "0.15", reduceOnly=True)  # the user trims by hand
    orders = len(rig.bybit.orders)
    await rig.engine.reconciler.check()
    assert len(rig.bybit.orders) == orders  # nothing sent to "repair" a shortfall
    assert held(rig) == D("0.05") and rig.bybit_size("BTCUSDT") == D("0.05")
    assert len(hook.drift()) == 1 and "journal 0.2, Bybit 0.05" in hook.drift()[0]


async def test_a_position_the_leader_left_is_closed_when_it_is_provably_the_bots(make_rig) -> None:
    rig = await make_rig()
    await open_btc(rig)
    # the journal lost the position (say a close marked "already flat" that was not)
    mirrored = rig.engine.journal.mirrored_positions()[0]
    rig.engine.journal.drop_mirrored(mirrored.trader, mirrored.symbol, mirrored.side)
    rig.binance.clear_positions(TRADER_A)
    await rig.poll()  # the leader's close: nothing mirrored, so nothing sent
    assert rig.bybit_size("BTCUSDT") == D("0.1")

    result = await rig.engine.reconciler.check()
    assert result.repairs == 1
    assert rig.bybit_size("BTCUSDT") == 0 and held(rig) == 0
    assert rig.bybit.orders[-1].reduce_only


def _drop_journal(data: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        (data / f"journal.sqlite3{suffix}").unlink(missing_ok=True)


async def test_a_deleted_journal_is_rebuilt_from_bybit_and_the_close_mirrors(
    make_rig, tmp_path: Path
) -> None:
    first = await make_rig()
    await open_btc(first)
    first.engine.journal.close()
    _drop_journal(tmp_path / "data")

    rig = await make_rig()
    hook = listen(rig)  # listening from after start: the start events are in the view
    messages = [e.message for e in rig.engine.view.events]
    loud = [m for m in messages if m.startswith("JOURNAL AND BYBIT DISAGREE")]
    assert len(loud) == 1 and "BTCUSDT" in loud[0] and "rebuilt" in loud[0]
    assert [e.level for e in rig.engine.view.events if e.message == loud[0]] == ["error"]
    webhook = [m for m in rig.engine.alerts.sent if "ALERT [drift] journal vs Bybit" in m]
    assert len(webhook) == 1 and "DISAGREE" in webhook[0]
    assert held(rig) == D("0.1")
    assert rig.engine.journal.meta(OPENS_BLOCKED) is None

    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
    await rig.poll()  # a fresh baseline
    await rig.engine.reconciler.check()
    assert rig.bybit_size("BTCUSDT") == D("0.1")  # still the leader's book x ratio: kept
    await rig.poll_flat()
    assert rig.bybit_size("BTCUSDT") == 0  # the leader's close IS mirrored
    assert not hook.drift()


async def test_a_restored_older_journal_never_claims_a_close_it_did_not_send(
    make_rig, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    rig = await make_rig()
    await open_btc(rig)
    # the copy the user will restore: BTC 0.1 held at book version 1
    backup = sqlite3.connect(tmp_path / "old.sqlite3")
    live = sqlite3.connect(data / "journal.sqlite3")
    live.backup(backup)
    live.close()
    backup.close()
    await rig.poll_flat()  # close under the id the old copy will derive again
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
    await rig.poll()  # and open again
    assert rig.bybit_size("BTCUSDT") == D("0.1") and len(rig.bybit.orders) == 3
    rig.engine.journal.close()
    _drop_journal(data)
    shutil.copy(tmp_path / "old.sqlite3", data / "journal.sqlite3")

    restored = await make_rig()
    messages = [e.message for e in restored.engine.view.events]
    assert any(m.startswith("JOURNAL AND BYBIT DISAGREE") for m in messages)
    assert held(restored) == D("0.1")
    await restored.poll()  # a fresh baseline: the leader holds BTC 1
    await restored.poll_flat()
    assert restored.bybit_size("BTCUSDT") == 0, "the close was not mirrored"
    assert len(restored.bybit.orders) == 4
    links = [o.order_link_id for o in restored.bybit.orders]
    assert len(set(links)) == 4
    executed = [e.message for e in restored.engine.view.events if "EXECUTED" in e.message]
    assert len(executed) == 1 and "close BTCUSDT long 0.1" in executed[0]


async def test_an_earlier_order_under_the_same_id_is_not_taken_as_this_fill(make_rig) -> None:
    """The broker's own check (whatever the journal): 110072 plus an order placed before the
    change was journaled is not this change's fill; the change goes again under a new id."""
    rig = await make_rig()
    await open_btc(rig)
    entry = rig.engine.journal.book_entry(TRADER_A, "BTCUSDT", Side.LONG)
    assert entry is not None
    next_id = client_order_id(
        instance=rig.engine.tracker.instance,
        trader=TRADER_A,
        symbol="BTCUSDT",
        side=Side.LONG,
        version=entry.version,
        attempt=entry.attempt,
    )
    # an older order already carries the id of the coming close (a reduce of 0.05, long ago)
    await place(rig, "BTCUSDT", "Sell", "0.05", next_id, reduceOnly=True)
    with rig.bybit._lock:
        state = rig.bybit._state
        n = state.by_link[next_id]
        old = state.orders[n]
        state.orders[n] = replace(old, created_at=old.created_at - timedelta(minutes=30))
    rig.engine.journal.drop_mirrored(TRADER_A, "BTCUSDT", Side.LONG)
    await rig.engine.reconciler.check()  # the journal follows Bybit: 0.05 held
    assert held(rig) == D("0.05")
    hook = listen(rig)

    await rig.poll_flat()
    assert rig.bybit_size("BTCUSDT") == D("0.05"), "nothing was sent: still held"
    assert not [m for m in hook.sent if m.startswith("EXECUTED")]
    failed = [m for m in hook.sent if "already used on Bybit by an earlier order" in m]
    assert len(failed) == 1
    assert held(rig) == D("0.05")
    rig.engine.mirror.retry_at.clear()  # skip the pause before the retry
    await rig.poll()
    assert rig.bybit_size("BTCUSDT") == 0 and held(rig) == 0
    assert rig.bybit.orders[-1].order_link_id != next_id


async def test_opens_wait_for_the_user_when_a_lost_journal_cannot_be_rebuilt(
    make_rig, tmp_path: Path
) -> None:
    first = await make_rig()
    await open_btc(first)
    await place(first, "BTCUSDT", "Buy", "0.3")  # the user's own, on the same symbol
    first.engine.journal.close()
    _drop_journal(tmp_path / "data")

    rig = await make_rig()
    loud = [e.message for e in rig.engine.view.events if "DISAGREE" in e.message]
    assert len(loud) == 1 and "NO NEW POSITION IS OPENED" in loud[0]
    assert "journal accept-rebuild" in loud[0]
    webhook = [m for m in rig.engine.alerts.sent if "ALERT [drift] journal vs Bybit" in m]
    assert len(webhook) == 1 and "What to do: check your positions on Bybit" in webhook[0]
    assert held(rig) == 0  # not provably the bot's: left alone
    await rig.poll_flat()  # a baseline
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    await rig.poll()
    assert rig.bybit_size("ETHUSDT") == 0
    refused = [e.message for e in rig.engine.view.events if "journal_disagrees" in e.message]
    assert len(refused) == 1

    assert accept_rebuild(rig.engine.journal) is not None  # what the CLI command does
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000"), L("SOLUSDT", "10", "150")])
    await rig.poll()
    assert rig.bybit_size("SOLUSDT") == D("1")  # opening resumed
    assert rig.bybit_size("BTCUSDT") == D("0.4")  # never touched


async def test_the_periodic_task_finds_drift_on_its_own(make_rig) -> None:
    rig = await make_rig()  # the first pass comes a few seconds after start
    await open_btc(rig)
    hook = listen(rig)
    await place(rig, "BTCUSDT", "Buy", "0.1", bot_link(rig, TRADER_A, "BTCUSDT", 0))
    stop = asyncio.Event()
    task = asyncio.create_task(rig.engine.reconciler.run(stop))
    for _ in range(200):
        if rig.bybit_size("BTCUSDT") == D("0.1"):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    assert rig.bybit_size("BTCUSDT") == D("0.1")
    assert len(hook.drift()) == 1
