"""One spiked answer sells nothing the leader still holds (issue 22, item 1): the real source
and broker against both fakes. The leader holds BTC 1 and ETH 10, the follower 0.1 and 1."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from engine_rig import TRADER_A

from lightspeed_cli.sim.binance import FakePosition, Fault, copytrade_answer

L = FakePosition.long
BOOK = [L("BTCUSDT", "1", "60000"), L("ETHUSDT", "10", "3000")]
CAP = {"max_position_notional_usdt": "10000"}  # BTC 0.1 = 6000 fits; any increase of x5 does not
SIZINGS = {
    "ratio": {"mode": "ratio", "value": "0.1"},
    "fixed_margin": {"mode": "fixed_margin", "value": "600", "leverage": 10},
}


async def _following(make_rig: Any, sizing: str = "ratio") -> Any:
    rig = await make_rig(safety=CAP, sizing=SIZINGS[sizing])
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, BOOK)
    await rig.poll()
    await rig.engine.leaders.idle()
    assert len(rig.bybit.orders) == 2
    assert rig.bybit_size("BTCUSDT") == Decimal("0.1")
    rig.followed = (rig.bybit_size("BTCUSDT"), rig.bybit_size("ETHUSDT"))
    return rig


def _nothing_sold(rig: Any) -> None:
    assert rig.bybit.orders[2:] == [], [(o.symbol, o.qty, o.reduce_only) for o in rig.bybit.orders]
    assert (rig.bybit_size("BTCUSDT"), rig.bybit_size("ETHUSDT")) == rig.followed


def _spike_once(rig: Any, **amounts: str) -> None:
    body = copytrade_answer(BOOK, amounts)
    rig.binance.inject(Fault.BODY, trader=TRADER_A, times=1, body=body)


@pytest.mark.parametrize("sizing", sorted(SIZINGS))
async def test_one_spiked_answer_then_the_true_one_sells_nothing(make_rig, sizing) -> None:
    rig = await _following(make_rig, sizing)
    _spike_once(rig, BTCUSDT="100")
    await rig.poll()  # the spike
    await rig.poll()  # the true answer (1)
    await rig.poll()
    _nothing_sold(rig)


async def test_one_tiny_answer_sells_nothing(make_rig) -> None:
    """A 1e-400-like amount used to sell everything and leave the position never followed."""
    rig = await _following(make_rig)
    _spike_once(rig, BTCUSDT="0.00001")
    await rig.poll()
    await rig.poll()
    _nothing_sold(rig)
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1.5", "60000"), BOOK[1]])
    await rig.poll()  # still followed: a real increase is mirrored
    assert rig.bybit_size("BTCUSDT") == Decimal("0.15"), [e.message for e in rig.engine.view.events]


async def test_two_symbols_x1000_in_one_answer_sell_nothing(make_rig) -> None:
    rig = await _following(make_rig)
    _spike_once(rig, BTCUSDT="1000", ETHUSDT="10000")
    await rig.poll()
    await rig.poll()
    _nothing_sold(rig)


@pytest.mark.parametrize("peak", ["5", "20"])
async def test_a_leader_who_scales_past_the_caps_and_back_is_not_sold(make_rig, peak) -> None:
    """No glitch: the increase is refused by the position cap, the way back sells nothing."""
    rig = await _following(make_rig)
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", peak, "60000"), BOOK[1]])
    await rig.poll()  # refused by the cap (x20: after a confirming read)
    rig.binance.set_positions(TRADER_A, BOOK)
    await rig.poll()
    _nothing_sold(rig)
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "0.5", "60000"), BOOK[1]])
    await rig.poll()  # a real reduce to half goes to half of what was followed
    assert rig.bybit_size("BTCUSDT") == Decimal("0.05")


async def test_one_answer_without_a_row_closes_nothing(make_rig) -> None:
    """A single vanished row (the order-history shows no close) is read again: nothing sent."""
    rig = await _following(make_rig)
    rig.binance.inject(Fault.BODY, trader=TRADER_A, times=1, body=copytrade_answer(BOOK[1:]))
    before = rig.binance.position_reads(TRADER_A)
    await rig.poll()
    assert rig.binance.position_reads(TRADER_A) == before + 2  # the confirming read
    await rig.poll()
    _nothing_sold(rig)


async def test_one_sign_flipped_answer_sends_no_close_and_reopen(make_rig) -> None:
    rig = await _following(make_rig)
    flipped = [FakePosition.short("BTCUSDT", "1", "60000"), BOOK[1]]
    rig.binance.inject(Fault.BODY, trader=TRADER_A, times=1, body=copytrade_answer(flipped))
    await rig.poll()
    await rig.poll()
    _nothing_sold(rig)
    assert rig.bybit_size("BTCUSDT", "short") == 0


async def test_a_real_jump_beyond_10x_is_mirrored_after_one_more_read(make_rig) -> None:
    rig = await make_rig()  # the rig's caps: room for x20
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "0.1", "60000")])
    await rig.poll()
    assert rig.bybit_size("BTCUSDT") == Decimal("0.01")
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "2", "60000")])
    before = rig.binance.position_reads(TRADER_A)
    await rig.poll()
    assert rig.binance.position_reads(TRADER_A) == before + 2
    assert rig.bybit_size("BTCUSDT") == Decimal("0.2")
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "0.1", "60000")])
    await rig.poll()  # and back below 1/10: confirmed, then sold down to the target
    assert rig.bybit_size("BTCUSDT") == Decimal("0.01")


async def test_an_older_close_in_the_order_history_confirms_no_missing_row(make_rig) -> None:
    """The leader closed all and reopened; later one answer lacks the BTC row: the older
    closing order (before the last read) confirms nothing, the second read does not agree."""
    rig = await _following(make_rig)
    rig.binance.clear_positions(TRADER_A)
    await rig.poll()
    rig.binance.set_positions(TRADER_A, BOOK)
    await rig.poll()
    assert len(rig.bybit.orders) == 6 and rig.bybit_size("BTCUSDT") == Decimal("0.1")
    rig.binance.inject(Fault.BODY, trader=TRADER_A, times=1, body=copytrade_answer(BOOK[1:]))
    await rig.poll()
    await rig.poll()
    assert len(rig.bybit.orders) == 6 and rig.bybit_size("BTCUSDT") == Decimal("0.1")
