"""Pause / resume / close-all through control.py, with the real engine against both fakes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from engine_rig import TRADER_A, TRADER_B

from lightspeed_cli.execution.base import ExecutionOutcome
from lightspeed_cli.models import OrderIntent, Side, SignalKind
from lightspeed_cli.sim.binance import FakePosition
from lightspeed_cli.steering.control import (
    Command,
    Control,
    ControlStore,
    RequestStatus,
    paused_refusal,
    read_pause_state,
)

L = FakePosition.long
S = FakePosition.short


def attach_control(rig) -> Control:  # type: ignore[no-untyped-def]
    """The control door as `lightspeed run` wires it (no Telegram token: no Telegram)."""
    return rig.steer().control


async def hand_open(rig, symbol: str, side: Side, qty: str) -> None:  # type: ignore[no-untyped-def]
    """The user's own position, opened on the same account outside the bot."""
    intent = OrderIntent(
        trader="me",
        signal_kind=SignalKind.OPEN,
        binance_symbol=symbol,
        symbol=symbol,
        side=side,
        order_side=side.open_order_side,
        quantity=Decimal(qty),
        reduce_only=False,
        leverage=5,
        reference_price=Decimal(0),
        client_order_id=f"hand-{symbol}-{side.value}",
    )
    result = await rig.engine.broker.execute(intent)
    assert result.outcome is ExecutionOutcome.FILLED


def refusals(rig) -> list[dict]:  # type: ignore[no-untyped-def]
    return [r for r in rig.engine.journal.history() if r["decision"] == "refused"]


async def test_paused_refuses_opens_but_closes_and_reduces_still_mirror(make_rig) -> None:
    rig = await make_rig(steered=True)
    control = attach_control(rig)
    await rig.poll_flat(TRADER_A)
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "2", "60000")])
    await rig.poll()
    assert rig.bybit_size("BTCUSDT") == Decimal("0.2")

    answer = await control.execute(Command.PAUSE, "test")
    assert answer.status is RequestStatus.DONE and control.paused
    rig.binance.set_positions(
        TRADER_A, [L("BTCUSDT", "1", "60000"), S("ETHUSDT", "10", "3000")]
    )  # a reduce and an open at once
    await rig.poll()
    assert rig.bybit_size("BTCUSDT") == Decimal("0.1")  # the reduce went out
    assert rig.bybit_size("ETHUSDT", "short") == Decimal(0)  # the open did not
    (refused,) = refusals(rig)
    assert (refused["symbol"], refused["check_name"]) == ("ETHUSDT", "paused")
    assert "paused" in refused["reason"]
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "3", "60000"), S("ETHUSDT", "10", "3000")])
    await rig.poll()  # an increase is refused too
    assert rig.bybit_size("BTCUSDT") == Decimal("0.1")
    await rig.poll_flat(TRADER_A)  # the close still mirrors
    assert rig.bybit_size("BTCUSDT") == Decimal(0)
    assert rig.engine.journal.mirrored_positions() == []

    await control.execute(Command.RESUME, "test")
    assert not control.paused
    rig.binance.set_positions(TRADER_A, [L("SOLUSDT", "100", "150")])
    await rig.poll()
    assert rig.bybit_size("SOLUSDT") == Decimal("10")


async def test_close_all_closes_the_bots_positions_only_and_pauses(make_rig) -> None:
    rig = await make_rig(steered=True)
    control = attach_control(rig)
    await rig.poll_flat(TRADER_A, TRADER_B)
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000"), S("ETHUSDT", "10", "3000")])
    rig.binance.set_positions(TRADER_B, [L("BTCUSDT", "2", "60000")])
    await rig.poll(TRADER_A)
    await rig.poll(TRADER_B)
    await hand_open(rig, "BTCUSDT", Side.LONG, "0.05")  # the user's own, on a symbol the bot holds
    await hand_open(rig, "SOLUSDT", Side.LONG, "3")  # and on one it does not
    assert rig.bybit_size("BTCUSDT") == Decimal("0.35")

    answer = await control.execute(Command.CLOSE_ALL, "test")

    assert answer.status is RequestStatus.DONE, answer.result
    assert rig.bybit_size("BTCUSDT") == Decimal("0.05")  # only the user's own part is left
    assert rig.bybit_size("ETHUSDT", "short") == Decimal(0)
    assert rig.bybit_size("SOLUSDT") == Decimal("3")
    assert rig.engine.journal.mirrored_positions() == []
    assert control.paused and read_pause_state(rig.engine.journal.path).paused
    closes = [o for o in rig.bybit.orders if o.reduce_only]
    assert len(closes) == 3
    # journaled like any order: intent, then the fill
    rows = [r for r in rig.engine.journal.history() if r["client_order_id"] in
            {o.order_link_id for o in closes}]  # fmt: skip
    assert len(rows) == 3
    assert all(r["order_status"] == "filled" and r["decision"] == "executed" for r in rows)
    assert all("close-all by test" in (r["reason"] or "") for r in rows)
    # the leader still holds: nothing is reopened, and its later close is not mirrored twice
    await rig.poll(TRADER_A)
    await rig.poll_flat(TRADER_A, TRADER_B)
    assert len(rig.bybit.orders) == 2 + 3 + 3  # 3 opens, 2 hand opens, 3 closes
    assert rig.bybit_size("BTCUSDT") == Decimal("0.05")


async def test_close_all_drops_what_bybit_no_longer_holds(make_rig) -> None:
    rig = await make_rig(steered=True)
    control = attach_control(rig)
    await rig.poll_flat(TRADER_A)
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
    await rig.poll()
    with rig.bybit._lock:  # closed on Bybit's site by hand
        rig.bybit.ledger.positions.clear()
    answer = await control.execute(Command.CLOSE_ALL, "test")
    assert answer.status is RequestStatus.DONE
    assert "no longer on Bybit" in (answer.result or "")
    assert rig.engine.journal.mirrored_positions() == []
    assert not [o for o in rig.bybit.orders if o.reduce_only]


async def test_serve_answers_requests_from_another_process_and_expires_old_ones(make_rig) -> None:
    rig = await make_rig(steered=True)
    control = attach_control(rig)
    assert control.store.path.stat().st_mode & 0o777 == 0o600  # the service's user's alone
    shell = ControlStore(control.store.path)  # what `lightspeed pause` opens
    old = shell.submit(Command.CLOSE_ALL, "shell", datetime.now(UTC) - timedelta(minutes=10))
    fresh = shell.submit(Command.PAUSE, "shell")
    stop = asyncio.Event()
    serving = asyncio.create_task(control.serve(stop, interval=0.01))
    try:
        for _ in range(500):
            answered = shell.request(fresh)
            if answered is not None and answered.status is RequestStatus.DONE:
                break
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await serving
    assert control.paused
    assert shell.request(fresh).status is RequestStatus.DONE  # type: ignore[union-attr]
    assert shell.request(old).status is RequestStatus.EXPIRED  # type: ignore[union-attr]
    assert shell.pause_state().by == "shell"
    shell.close()


def test_paused_refusal_is_for_opens_and_increases_only() -> None:
    class Paused:
        paused = True
        pause_state = type("S", (), {"by": "telegram"})()

    def signal(kind: SignalKind):  # type: ignore[no-untyped-def]
        from lightspeed_cli.models import Signal

        return Signal(
            trader="t",
            kind=kind,
            symbol="BTCUSDT",
            side=Side.LONG,
            previous_size=Decimal(1),
            new_size=Decimal(1),
            snapshot_time=datetime.now(UTC),
        )

    for kind in (SignalKind.OPEN, SignalKind.INCREASE):
        refusal = paused_refusal(Paused(), signal(kind))  # type: ignore[arg-type]
        assert refusal is not None and refusal.check == "paused"
    for kind in (SignalKind.REDUCE, SignalKind.CLOSE):
        assert paused_refusal(Paused(), signal(kind)) is None  # type: ignore[arg-type]
    assert paused_refusal(None, signal(SignalKind.OPEN)) is None


async def test_close_all_says_what_failed_and_keeps_it(make_rig) -> None:
    from lightspeed_cli.sim.bybit import Fault

    rig = await make_rig(steered=True)
    control = attach_control(rig)
    await rig.poll_flat(TRADER_A)
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000"), S("ETHUSDT", "10", "3000")])
    await rig.poll()
    # Bybit's positions cannot be read: nothing is sent (a lookup that fails proves nothing)
    rig.bybit.inject("/v5/position/list", Fault.error(10001, "params error"))
    answer = await control.execute(Command.CLOSE_ALL, "test")
    assert answer.status is RequestStatus.FAILED
    assert "cannot read Bybit's positions" in (answer.result or "")
    assert not [o for o in rig.bybit.orders if o.reduce_only]
    assert len(rig.engine.journal.mirrored_positions()) == 2 and control.paused
    # one close refused by Bybit: the other still goes, the refused one stays held and is named
    rig.bybit.inject("/v5/order/create", Fault.error(10001, "params error"))
    answer = await control.execute(Command.CLOSE_ALL, "test")
    assert answer.status is RequestStatus.FAILED
    assert "FAILED BTCUSDT long" in (answer.result or "")
    assert rig.bybit_size("ETHUSDT", "short") == 0 and rig.bybit_size("BTCUSDT") == Decimal("0.1")
    (left,) = rig.engine.journal.mirrored_positions()
    assert left.symbol == "BTCUSDT"
    answer = await control.execute(Command.CLOSE_ALL, "test")  # again: now it goes
    assert answer.status is RequestStatus.DONE and rig.bybit_size("BTCUSDT") == 0
