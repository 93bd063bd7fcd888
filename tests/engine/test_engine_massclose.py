"""One odd lead-portfolio answer closes nothing; a real mass close (two reads agree) closes all
(issue 12, item 4). The real source and broker against both fakes."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from engine_rig import TRADER_A

from lightspeed_cli.sim.binance import ORDER_HISTORY, FakePosition, Fault

L = FakePosition.long
S = FakePosition.short


def _zero_row(symbol: str) -> dict:
    return {"symbol": symbol, "positionSide": "BOTH", "positionAmount": "0", "entryPrice": "0.0"}


GLITCHES = {
    "data-empty": {"code": "000000", "message": None, "data": [], "success": True},
    "zero-rows-only": {
        "code": "000000",
        "data": [_zero_row(s) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")],
        "success": True,
    },
    "code-null": {"code": None, "message": None, "data": [], "success": True},
}


async def _three_open(make_rig):  # type: ignore[no-untyped-def]
    rig = await make_rig()
    await rig.poll_flat()  # baseline: flat
    rig.binance.set_positions(
        TRADER_A,
        [L("BTCUSDT", "1", "60000"), S("ETHUSDT", "10", "3000"), L("SOLUSDT", "100", "150")],
    )
    await rig.poll()
    await rig.engine.leaders.idle()  # the fills of the opens are read in the background
    assert len(rig.bybit.orders) == 3
    return rig


@pytest.mark.parametrize("glitch", sorted(GLITCHES))
async def test_one_empty_answer_between_normal_ones_sends_no_order(make_rig, glitch) -> None:
    rig = await _three_open(make_rig)
    rig.binance.inject(Fault.BODY, trader=TRADER_A, times=1, body=json.dumps(GLITCHES[glitch]))
    before = rig.binance.position_reads(TRADER_A)
    await rig.poll()  # the odd answer, then at once the confirming read
    assert rig.binance.position_reads(TRADER_A) == before + 2
    await rig.poll()  # normal again
    assert len(rig.bybit.orders) == 3
    assert rig.bybit_size("BTCUSDT") > 0 and rig.bybit_size("ETHUSDT", "short") > 0
    assert len(rig.engine.journal.mirrored_positions()) == 3
    events = [e.message for e in rig.engine.view.events]
    assert any("ignored as a glitch, nothing sent" in m for m in events), events


async def test_a_real_mass_close_is_confirmed_and_closes_all(make_rig) -> None:
    """The lead portfolio's order-history cannot be read: the positions are read again."""
    rig = await _three_open(make_rig)
    rig.binance.inject(Fault.SERVER_ERROR, trader=TRADER_A, path=ORDER_HISTORY)
    rig.binance.clear_positions(TRADER_A)
    before = rig.binance.position_reads(TRADER_A)
    await rig.poll()
    assert rig.binance.position_reads(TRADER_A) == before + 2  # one extra round trip
    assert len(rig.bybit.orders) == 6 and all(o.reduce_only for o in rig.bybit.orders[3:])
    assert rig.engine.journal.mirrored_positions() == []


async def test_a_mass_close_the_order_history_confirms_needs_no_second_read(make_rig) -> None:
    """The leader's closing orders are in the order-history: acted on after one positions read,
    and the same order-history answer gives the closes their leader fills (no second read)."""
    rig = await _three_open(make_rig)
    rig.binance.clear_positions(TRADER_A, prices={"BTCUSDT": "61000"})
    positions, history = rig.binance.position_reads(TRADER_A), _history_reads(rig)
    await rig.poll()
    await rig.engine.leaders.idle()
    assert rig.binance.position_reads(TRADER_A) == positions + 1
    assert _history_reads(rig) == history + 1
    assert len(rig.bybit.orders) == 6 and all(o.reduce_only for o in rig.bybit.orders[3:])
    closes = [r for r in rig.engine.journal.history() if r["kind"] == "close"]
    leader = {r["symbol"]: Decimal(r["leader_fill_price"]) for r in closes}
    assert leader == {"BTCUSDT": 61000, "ETHUSDT": 3000, "SOLUSDT": 150}  # given, else the mark


def _history_reads(rig) -> int:  # type: ignore[no-untyped-def]
    return rig.binance.request_count(TRADER_A, paths=[ORDER_HISTORY])


async def test_a_failed_confirming_read_closes_nothing_until_a_later_poll(make_rig) -> None:
    rig = await _three_open(make_rig)
    rig.binance.inject(
        Fault.BODY, trader=TRADER_A, times=1, body=json.dumps(GLITCHES["data-empty"])
    )
    rig.binance.inject(Fault.SERVER_ERROR, trader=TRADER_A, times=1)
    rig.binance.inject(Fault.SERVER_ERROR, trader=TRADER_A, path=ORDER_HISTORY, times=1)
    await rig.poll()
    assert len(rig.bybit.orders) == 3
    rig.binance.clear_positions(TRADER_A)  # now the trader really closes everything
    await rig.poll()
    assert len(rig.bybit.orders) == 6


async def test_one_position_closing_alone_is_acted_on_at_once(make_rig) -> None:
    rig = await _three_open(make_rig)
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000"), S("ETHUSDT", "10", "3000")])
    before = rig.binance.position_reads(TRADER_A)
    await rig.poll()
    assert rig.binance.position_reads(TRADER_A) == before + 1  # no second read
    assert len(rig.bybit.orders) == 4 and rig.bybit_size("SOLUSDT") == 0
