"""diff(): previous snapshot + current snapshot -> signals."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from decision_builders import T0, TRADER, pos, signal, snap

from lightspeed_cli.decisions.diff import apply, diff, expand_flip
from lightspeed_cli.models import Side, SignalKind

D = Decimal
K = SignalKind


def kinds(signals) -> list[tuple[SignalKind, str, Side]]:
    return [(s.kind, s.symbol, s.side) for s in signals]


# --- first snapshot --------------------------------------------------------------------------


def test_first_snapshot_opens_nothing_by_default():
    assert diff(None, snap(pos("BTCUSDT"), pos("ETHUSDT", Side.SHORT))) == []


def test_first_snapshot_with_follow_existing_opens_each_position():
    current = snap(pos("ETHUSDT", Side.SHORT, "3"), pos("BTCUSDT", size="2"))
    signals = diff(None, current, follow_existing=True)
    assert kinds(signals) == [(K.OPEN, "BTCUSDT", Side.LONG), (K.OPEN, "ETHUSDT", Side.SHORT)]
    btc = signals[0]
    assert (btc.previous_size, btc.new_size) == (D(0), D(2))
    assert btc.position == current.positions[1] and btc.previous_position is None


def test_first_snapshot_of_a_flat_trader_is_no_signal():
    assert diff(None, snap(), follow_existing=True) == []


# --- open / increase / reduce / close ---------------------------------------------------------


def test_new_position_is_open():
    (s,) = diff(snap(), snap(pos(size="0.5")))
    assert s.kind is K.OPEN and s.new_size == D("0.5") and s.reduce_fraction is None


def test_larger_position_is_increase():
    (s,) = diff(snap(pos(size="1")), snap(pos(size="1.5")))
    assert (s.kind, s.previous_size, s.new_size) == (K.INCREASE, D(1), D("1.5"))
    assert s.previous_position is not None and s.position is not None


def test_smaller_position_is_reduce_with_fraction_reduced():
    (s,) = diff(snap(pos(size="4")), snap(pos(size="3")))
    assert (s.kind, s.previous_size, s.new_size) == (K.REDUCE, D(4), D(3))
    assert s.reduce_fraction == D("0.25")


def test_vanished_position_is_close_with_fraction_one():
    old = pos(size="2")
    (s,) = diff(snap(old), snap())
    assert (s.kind, s.previous_size, s.new_size, s.reduce_fraction) == (K.CLOSE, D(2), D(0), D(1))
    assert s.position is None and s.previous_position == old


def test_unchanged_book_is_no_signal():
    book = (pos("BTCUSDT"), pos("ETHUSDT", Side.SHORT))
    assert diff(snap(*book), snap(*book, at=T0 + timedelta(seconds=2))) == []


def test_signal_carries_trader_and_times_of_current_snapshot():
    later = T0 + timedelta(seconds=5)
    current = snap(pos(size="2"), at=later).model_copy(update={"source_time": T0})
    (s,) = diff(snap(pos(size="1")), current)
    assert (s.trader, s.snapshot_time, s.source_time) == (TRADER, later, T0)


def test_snapshots_of_different_traders_refuse_to_diff():
    with pytest.raises(ValueError, match="cannot diff"):
        diff(snap(trader="A"), snap(trader="B"))


# --- epsilon ------------------------------------------------------------------------------------


def test_change_just_below_epsilon_is_no_signal():
    # 1000 -> 1000.999 is a 0.0999 % change, below the 0.1 % epsilon
    assert diff(snap(pos(size="1000")), snap(pos(size="1000.999"))) == []
    assert diff(snap(pos(size="1000")), snap(pos(size="999.001"))) == []


def test_change_exactly_at_epsilon_is_a_signal():
    (up,) = diff(snap(pos(size="1000")), snap(pos(size="1001")))
    (down,) = diff(snap(pos(size="1000")), snap(pos(size="999")))
    assert (up.kind, down.kind) == (K.INCREASE, K.REDUCE)
    assert down.reduce_fraction == D("0.001")


def test_epsilon_is_configurable():
    assert diff(snap(pos(size="1")), snap(pos(size="1.04")), size_epsilon=D("0.05")) == []
    (s,) = diff(snap(pos(size="1")), snap(pos(size="1.05")), size_epsilon=D("0.05"))
    assert s.kind is K.INCREASE


def test_epsilon_zero_signals_any_change():
    (s,) = diff(snap(pos(size="1")), snap(pos(size="1.0000001")), size_epsilon=D(0))
    assert s.kind is K.INCREASE
    assert diff(snap(pos(size="1")), snap(pos(size="1.000")), size_epsilon=D(0)) == []


def test_epsilon_never_hides_an_open_or_close():
    assert kinds(diff(snap(), snap(pos(size="0.000001")), size_epsilon=D("0.5"))) == [
        (K.OPEN, "BTCUSDT", Side.LONG)
    ]
    assert kinds(diff(snap(pos(size="0.000001")), snap(), size_epsilon=D("0.5"))) == [
        (K.CLOSE, "BTCUSDT", Side.LONG)
    ]


def test_negative_epsilon_is_rejected():
    with pytest.raises(ValueError):
        diff(snap(), snap(), size_epsilon=D("-0.1"))


# --- flips (one-way) and hedge mode -----------------------------------------------------------


@pytest.mark.parametrize("old_side", [Side.LONG, Side.SHORT])
def test_one_way_side_change_is_a_single_flip(old_side: Side):
    old = pos(side=old_side, size="2")
    new = pos(side=old_side.opposite, size="3")
    (s,) = diff(snap(old), snap(new))
    assert s.kind is K.FLIP and s.side is old_side.opposite
    assert (s.previous_size, s.new_size) == (D(2), D(3))
    assert (s.previous_position, s.position) == (old, new)


def test_hedge_trader_opening_the_other_side_is_open_not_flip():
    signals = diff(snap(pos(side=Side.LONG)), snap(pos(side=Side.LONG), pos(side=Side.SHORT)))
    assert kinds(signals) == [(K.OPEN, "BTCUSDT", Side.SHORT)]


def test_hedge_sides_are_independent_keys():
    before = snap(pos(side=Side.LONG, size="1"), pos(side=Side.SHORT, size="4"))
    after = snap(pos(side=Side.LONG, size="2"), pos(side=Side.SHORT, size="1"))
    assert kinds(diff(before, after)) == [
        (K.REDUCE, "BTCUSDT", Side.SHORT),
        (K.INCREASE, "BTCUSDT", Side.LONG),
    ]


def test_hedge_trader_closing_one_side_of_two_is_close_not_flip():
    before = snap(pos(side=Side.LONG), pos(side=Side.SHORT))
    assert kinds(diff(before, snap(pos(side=Side.SHORT)))) == [(K.CLOSE, "BTCUSDT", Side.LONG)]


def test_both_sides_to_one_side_with_size_change_is_close_and_reduce():
    before = snap(pos(side=Side.LONG, size="2"), pos(side=Side.SHORT, size="2"))
    after = snap(pos(side=Side.SHORT, size="1"))
    assert kinds(diff(before, after)) == [
        (K.CLOSE, "BTCUSDT", Side.LONG),
        (K.REDUCE, "BTCUSDT", Side.SHORT),
    ]


def test_one_side_to_both_sides_is_not_a_flip():
    before = snap(pos(side=Side.SHORT, size="1"))
    after = snap(pos(side=Side.LONG, size="1"), pos(side=Side.SHORT, size="3"))
    assert kinds(diff(before, after)) == [
        (K.OPEN, "BTCUSDT", Side.LONG),
        (K.INCREASE, "BTCUSDT", Side.SHORT),
    ]


def test_flip_on_one_symbol_leaves_others_alone():
    before = snap(pos("BTCUSDT", Side.LONG), pos("ETHUSDT", Side.LONG, "5"))
    after = snap(pos("BTCUSDT", Side.SHORT), pos("ETHUSDT", Side.LONG, "5"))
    assert kinds(diff(before, after)) == [(K.FLIP, "BTCUSDT", Side.SHORT)]


# --- order ---------------------------------------------------------------------------------


def test_order_is_closes_and_reduces_then_flips_then_opens_and_increases_by_symbol():
    before = snap(
        pos("AAAUSDT"),
        pos("BBBUSDT", size="2"),
        pos("CCCUSDT"),
        pos("DDDUSDT"),
        pos("ZZZUSDT", size="2"),
    )
    after = snap(
        pos("AAAUSDT", size="2"),  # increase
        pos("BBBUSDT", size="1"),  # reduce
        pos("CCCUSDT", Side.SHORT),  # flip
        pos("EEEUSDT"),  # open
        pos("ZZZUSDT", size="1"),  # reduce
        # DDD closed
    )
    assert kinds(diff(before, after)) == [
        (K.REDUCE, "BBBUSDT", Side.LONG),
        (K.CLOSE, "DDDUSDT", Side.LONG),
        (K.REDUCE, "ZZZUSDT", Side.LONG),
        (K.FLIP, "CCCUSDT", Side.SHORT),
        (K.INCREASE, "AAAUSDT", Side.LONG),
        (K.OPEN, "EEEUSDT", Side.LONG),
    ]


def test_order_does_not_depend_on_the_order_positions_were_reported_in():
    a = [pos("BTCUSDT"), pos("ETHUSDT"), pos("SOLUSDT", Side.SHORT)]
    assert diff(snap(), snap(*a)) == diff(snap(), snap(*reversed(a)))


# --- expand_flip and apply ---------------------------------------------------------------------


def test_expand_flip_is_close_of_old_side_then_open_of_new_side():
    old, new = pos(side=Side.LONG, size="2"), pos(side=Side.SHORT, size="3")
    (flip,) = diff(snap(old), snap(new))
    close, open_ = expand_flip(flip)
    assert (close.kind, close.side, close.previous_size, close.new_size) == (
        K.CLOSE,
        Side.LONG,
        D(2),
        D(0),
    )
    assert close.reduce_fraction == D(1) and close.previous_position == old
    assert close.position is None
    assert (open_.kind, open_.side, open_.previous_size, open_.new_size) == (
        K.OPEN,
        Side.SHORT,
        D(0),
        D(3),
    )
    assert open_.position == new and open_.previous_position is None
    assert close.snapshot_time == open_.snapshot_time == flip.snapshot_time


def test_expand_flip_leaves_other_signals_alone():
    s = signal(K.OPEN)
    assert expand_flip(s) == [s]


def test_apply_replays_signals_including_flips():
    before = snap(pos("BTCUSDT", size="1"), pos("ETHUSDT", size="2"), pos("XRPUSDT"))
    after = snap(pos("BTCUSDT", Side.SHORT, "4"), pos("ETHUSDT", size="1"), pos("SOLUSDT"))
    assert apply(before, diff(before, after)) == {k: p.size for k, p in after.by_key().items()}


def test_apply_rejects_a_signal_that_starts_from_the_wrong_size():
    with pytest.raises(ValueError, match="starts from"):
        apply(snap(pos(size="2")), [signal(K.INCREASE, "1", "3")])


def test_apply_from_nothing_with_follow_existing():
    current = snap(pos("BTCUSDT"), pos("ETHUSDT", Side.SHORT, "7"))
    signals = diff(None, current, follow_existing=True)
    assert apply(None, signals) == {k: p.size for k, p in current.by_key().items()}
