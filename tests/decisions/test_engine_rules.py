"""The rules taken out of the engine, at their boundaries, both sides: one-way netting, the
paused refusal and Bybit's market-order maximum."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from decision_builders import market, signal

from lightspeed_cli.decisions.safety import one_way_conflict, opposite_holders, paused_refusal
from lightspeed_cli.decisions.sizing import within_market_max
from lightspeed_cli.models import Side, Signal, SignalKind

D = Decimal
OPENING = (SignalKind.OPEN, SignalKind.INCREASE)
REDUCING = (SignalKind.REDUCE, SignalKind.CLOSE)


@dataclass(frozen=True)
class Held:
    trader: str
    symbol: str
    side: Side


def _signal(kind: SignalKind, side: Side = Side.LONG) -> Signal:
    if kind is SignalKind.OPEN:
        return signal(kind, "0", "1", side=side)
    if kind is SignalKind.INCREASE:
        return signal(kind, "1", "2", side=side)
    if kind is SignalKind.REDUCE:
        return signal(kind, "2", "1", side=side)
    return signal(kind, "1", "0", side=side)


# ---- one-way netting -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", OPENING)
def test_an_open_against_another_traders_side_nets_on_a_one_way_account(kind: SignalKind) -> None:
    held = [Held("b", "BTCUSDT", Side.SHORT), Held("a", "BTCUSDT", Side.SHORT)]
    refusal = one_way_conflict(_signal(kind), "BTCUSDT", held, hedge_mode=False)
    assert refusal is not None and refusal.check == "one_way_conflict"
    assert refusal.value == "long" and refusal.limit == "short"
    assert "BTCUSDT short for a, b" in refusal.reason  # the holders, sorted
    assert opposite_holders(_signal(kind), "BTCUSDT", held, hedge_mode=False) == ["a", "b"]


@pytest.mark.parametrize("kind", OPENING)
def test_no_conflict_on_the_same_side_another_symbol_or_a_hedge_account(kind: SignalKind) -> None:
    sig = _signal(kind)
    assert (
        one_way_conflict(sig, "BTCUSDT", [Held("b", "BTCUSDT", Side.LONG)], hedge_mode=False)
        is None
    )
    assert (
        one_way_conflict(sig, "BTCUSDT", [Held("b", "ETHUSDT", Side.SHORT)], hedge_mode=False)
        is None
    )
    assert (
        one_way_conflict(sig, "BTCUSDT", [Held("b", "BTCUSDT", Side.SHORT)], hedge_mode=True)
        is None
    )
    assert one_way_conflict(sig, "BTCUSDT", [], hedge_mode=False) is None


@pytest.mark.parametrize("kind", REDUCING)
def test_reduces_and_closes_never_conflict(kind: SignalKind) -> None:
    held = [Held("b", "BTCUSDT", Side.SHORT)]
    assert one_way_conflict(_signal(kind), "BTCUSDT", held, hedge_mode=False) is None
    assert opposite_holders(_signal(kind), "BTCUSDT", held, hedge_mode=False) == []


def test_no_bybit_symbol_no_conflict() -> None:
    held = [Held("b", "", Side.SHORT)]
    assert opposite_holders(_signal(SignalKind.OPEN), "", held, hedge_mode=False) == []


# ---- paused ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", OPENING)
def test_paused_refuses_opens_and_increases(kind: SignalKind) -> None:
    refusal = paused_refusal("telegram", _signal(kind))
    assert refusal is not None and refusal.check == "paused"
    assert refusal.reason == (
        "opens are paused (by telegram); `lightspeed resume` or /resume allows them again"
    )
    assert paused_refusal(None, _signal(kind)) is None  # not paused


@pytest.mark.parametrize("kind", REDUCING)
def test_paused_never_refuses_a_reduce_or_close(kind: SignalKind) -> None:
    assert paused_refusal("shell", _signal(kind)) is None


# ---- Bybit's market-order maximum -----------------------------------------------------------


@pytest.mark.parametrize("is_close", [False, True])
def test_at_or_below_the_maximum_nothing_changes(is_close: bool) -> None:
    m = market(max_qty="100", qty_step="0.1", min_qty="0.1")
    assert within_market_max(D("100"), m, is_close=is_close) is None  # at the cap: inclusive
    assert within_market_max(D("99.9"), m, is_close=is_close) is None
    assert within_market_max(D("1e9"), market(max_qty=None), is_close=is_close) is None


def test_a_reduce_above_the_maximum_is_trimmed_to_it() -> None:
    m = market(max_qty="100", qty_step="0.1", min_qty="0.1")
    assert within_market_max(D("100.1"), m, is_close=False) == D("100")
    # the cap itself off the step: floored onto it
    assert within_market_max(
        D("200"), market(max_qty="100.05", qty_step="0.1"), is_close=False
    ) == D("100.0")


def test_a_close_above_the_maximum_goes_in_chunks_that_leave_a_closable_rest() -> None:
    m = market(max_qty="100", qty_step="0.1", min_qty="1")
    assert within_market_max(D("250"), m, is_close=True) == D("100")  # 150 left: fine
    assert within_market_max(D("101"), m, is_close=True) == D("100")  # exactly the minimum left
    # 0.5 would stay, below the minimum of 1 and never sendable: the chunk leaves 1 instead
    assert within_market_max(D("100.5"), m, is_close=True) == D("99.5")
