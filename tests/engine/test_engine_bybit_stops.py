"""Trading stops with the right advice (issue 22, item 10): a position mode switched by hand
on Bybit is not a key problem."""

from __future__ import annotations

import asyncio
import logging

from engine_rig import TRADER_A, TRADER_B, until

from lightspeed_cli.execution.base import KEY_ACTION, MODE_ACTION, stopped_action
from lightspeed_cli.sim.binance import FakePosition


async def test_a_position_mode_switched_on_bybit_stops_trading_with_the_mode_advice(
    make_rig, caplog
) -> None:
    caplog.set_level(logging.INFO)
    rig = await make_rig()
    rig.binance.clear_positions(TRADER_A)
    rig.binance.clear_positions(TRADER_B)
    stop = asyncio.Event()
    loop = asyncio.create_task(rig.engine.run(stop))
    try:
        await until("baselines", lambda: rig.engine.journal.book_snapshot(TRADER_B))
        rig.bybit.set_position_mode(hedge=True)  # by hand, on Bybit, while the bot runs
        rig.binance.set_positions(TRADER_A, [FakePosition.long("BTCUSDT", "1", "60000")])
        await until("trading stopped", lambda: rig.engine.fatal)
    finally:
        stop.set()
        await loop
    said = [r.getMessage() for r in caplog.records if "trading stopped" in r.getMessage()]
    assert any(MODE_ACTION in m for m in said), said
    assert not any(KEY_ACTION in m for m in said)


def test_a_refused_key_keeps_the_key_advice() -> None:
    assert stopped_action("invalid key / permission: trading stopped (Bybit 10003)") == KEY_ACTION
