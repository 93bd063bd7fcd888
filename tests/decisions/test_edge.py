"""Edge kept against a scenario computed by hand (the numbers in the comments)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from lightspeed_cli.decisions.edge import Change, Outcome, edge_breakdown, pnl_over_time
from lightspeed_cli.models import Side, SignalKind

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
RATIO = D("0.1")


def change(n, symbol, kind, prev, new, price, outcome, ordered=None, qty=None, fill=None, fee="0"):
    return Change(
        at=T0 + timedelta(minutes=n),
        symbol=symbol,
        side=Side.LONG,
        kind=kind,
        previous_size=D(prev),
        new_size=D(new),
        leader_price=D(price),
        outcome=outcome,
        ordered_qty=D(ordered) if ordered else None,
        fill_qty=D(qty) if qty else None,
        fill_price=D(fill) if fill else None,
        fee=D(fee),
    )


OPEN, C = SignalKind.OPEN, SignalKind.CLOSE
X, R, M = Outcome.EXECUTED, Outcome.REFUSED, Outcome.MISSED

HAND_SCENARIO = [
    # BTC: copied whole, 1 USDT worse on each side: ideal 1 x 10 = 10, actual 1 x 8 = 8
    change(1, "BTCUSDT", OPEN, "0", "10", "100", X, "1", "1", "101", "0.1"),
    change(2, "BTCUSDT", C, "10", "0", "110", X, "1", "1", "109", "0.1"),
    # ETH: the open was refused (0.5 x 20 = 10 lost), so the close has nothing to close
    change(3, "ETHUSDT", OPEN, "0", "5", "200", R),
    change(4, "ETHUSDT", C, "5", "0", "220", M),
    # XRP: opened, the close missed: 100 x 0.5 = 50 not realized
    change(5, "XRPUSDT", OPEN, "0", "1000", "1", X, "100", "100", "1"),
    change(6, "XRPUSDT", C, "1000", "0", "1.5", M),
    # SOL: 10 wanted, 9.9 ordered (step), 9 filled; 9 x (11.9 - 10.1) = 16.2 realized
    change(7, "SOLUSDT", OPEN, "0", "100", "10", X, "9.9", "9", "10.1", "0.05"),
    change(8, "SOLUSDT", C, "100", "0", "12", X, "9", "9", "11.9", "0.05"),
]


def test_edge_kept_matches_the_hand_computed_scenario() -> None:
    edge = edge_breakdown(HAND_SCENARIO, RATIO)
    assert edge.ideal == D("90")  # 10 + 10 + 50 + 20
    assert edge.refused == D("-10")  # ETH
    assert edge.missed == D("-50")  # XRP's close
    assert edge.rounding == D("-0.2")  # SOL 9.9 x 2 = 19.8 instead of 20
    assert edge.partial_fills == D("-1.8")  # SOL 9 x 2 = 18 instead of 19.8
    assert edge.slippage == D("-3.8")  # BTC 10 -> 8, SOL 18 -> 16.2
    assert edge.fees == D("-0.3")
    assert edge.follower == D("23.9")  # 8 + 16.2 - 0.3
    assert edge.edge_kept == pytest.approx(D("23.9") / D("90"))
    assert sum(edge.parts().values()) == edge.follower - edge.ideal


def test_edge_kept_is_none_while_the_ideal_copy_realized_nothing() -> None:
    assert edge_breakdown(HAND_SCENARIO[:1], RATIO).edge_kept is None


def test_a_perfect_copy_keeps_the_whole_edge() -> None:
    perfect = [
        change(1, "BTCUSDT", OPEN, "0", "10", "100", X, "1", "1", "100"),
        change(2, "BTCUSDT", SignalKind.REDUCE, "10", "5", "120", X, "0.5", "0.5", "120"),
        change(3, "BTCUSDT", C, "5", "0", "90", X, "0.5", "0.5", "90"),
    ]
    edge = edge_breakdown(perfect, RATIO)
    assert edge.ideal == D("5")  # 0.5 x 20 - 0.5 x 10
    assert edge.edge_kept == 1


def test_a_flip_closes_the_old_side_and_opens_the_new() -> None:
    flip = [
        change(1, "BTCUSDT", OPEN, "0", "10", "100", X, "1", "1", "100"),
        Change(
            at=T0 + timedelta(minutes=2),
            symbol="BTCUSDT",
            side=Side.SHORT,
            kind=SignalKind.FLIP,
            previous_size=D(10),
            new_size=D(10),
            leader_price=D(110),
            outcome=X,
            ordered_qty=D(2),
            fill_qty=D(2),
            fill_price=D(110),
        ),
    ]
    edge = edge_breakdown(flip, RATIO)
    assert edge.ideal == D(10) and edge.follower == D(10)


def test_pnl_over_time_ends_at_the_breakdown_and_sees_the_missed_close() -> None:
    points = pnl_over_time(HAND_SCENARIO, RATIO)
    edge = edge_breakdown(HAND_SCENARIO, RATIO)
    assert len(points) == len(HAND_SCENARIO)
    assert points[-1].leader_x_ratio == edge.ideal
    assert points[-1].follower == edge.follower
    # after the missed XRP close the follower still holds 100 XRP the leader no longer has
    assert points[5].exposure_error_usdt == D("150")  # 100 x 1.5
