"""The pure matcher of the leader's orders to the changes the bot saw (fillmatch.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lightspeed_cli.decisions.fillmatch import Change, Ledger, closes_confirmed, match, round_trips
from lightspeed_cli.models import LeaderOrder, Side

D = Decimal
SKEW = 1_000


def order(
    side: str, qty: str, price: str, at: int, symbol: str = "ETHUSDT", position_side: str = "BOTH"
) -> LeaderOrder:
    return LeaderOrder(symbol, position_side, side, D(qty), D(price), at)  # type: ignore[arg-type]


def change(
    ref: str, qty: str, seen: int, *, side: Side = Side.LONG, opening: bool = True
) -> Change:
    return Change(ref, "ETHUSDT", side, opening, D(qty), seen)


def ledger(*orders: LeaderOrder) -> Ledger:
    """A ledger fed as Binance lists orders: newest first."""
    book = Ledger()
    book.add(orders)
    return book


def test_an_increase_made_of_two_orders_gets_their_weighted_price() -> None:
    book = ledger(order("BUY", "1", "3000", 100), order("BUY", "3", "3100", 200))
    (fill,) = match([change("a", "4", 500)], book, skew_ms=SKEW).values()
    assert (fill.price, fill.qty, fill.first_ms, fill.last_ms) == (D(3075), 4, 100, 200)
    assert all(left == 0 for left in book.left.values())


def test_a_change_the_orders_cannot_make_exactly_stays_unmatched() -> None:
    book = ledger(order("BUY", "1", "3000", 100))
    assert match([change("a", "2", 500)], book, skew_ms=SKEW) == {}
    assert list(book.left.values()) == [1]  # nothing claimed


def test_newest_orders_explain_the_change_and_later_ones_only_within_the_skew() -> None:
    old, new = order("BUY", "1", "2900", 100), order("BUY", "1", "3000", 400)
    too_late = order("BUY", "1", "3300", 500 + SKEW + 1)
    book = ledger(old, new, too_late)
    assert match([change("a", "1", 500)], book, skew_ms=SKEW)["a"].price == 3000
    late = ledger(order("BUY", "1", "3100", 500 + SKEW))  # Binance's clock a little ahead
    assert match([change("b", "1", 500)], late, skew_ms=SKEW)["b"].price == 3100
    assert match([change("c", "1", 500)], ledger(too_late), skew_ms=SKEW) == {}


@pytest.mark.parametrize(
    ("side", "opening", "order_side", "fits"),
    [
        (Side.LONG, True, "BUY", True),
        (Side.LONG, False, "SELL", True),
        (Side.SHORT, True, "SELL", True),
        (Side.SHORT, False, "BUY", True),
        (Side.LONG, True, "SELL", False),
        (Side.SHORT, True, "BUY", False),
    ],
)
def test_direction_decides_which_orders_fit(
    side: Side, opening: bool, order_side: str, fits: bool
) -> None:
    book = ledger(order(order_side, "1", "3000", 100))
    found = match([change("a", "1", 500, side=side, opening=opening)], book, skew_ms=SKEW)
    assert bool(found) is fits


def test_hedge_orders_fit_only_their_own_side() -> None:
    book = ledger(order("SELL", "1", "3000", 100, position_side="LONG"))
    short_open = change("a", "1", 500, side=Side.SHORT, opening=True)
    assert match([short_open], book, skew_ms=SKEW) == {}
    long_close = change("b", "1", 500, side=Side.LONG, opening=False)
    assert match([long_close], book, skew_ms=SKEW)["b"].price == 3000


def test_a_one_way_flip_order_explains_both_legs() -> None:
    book = ledger(order("SELL", "3", "2950", 100))  # long 1 -> short 2 in one order
    legs = [
        change("close", "1", 500, side=Side.LONG, opening=False),
        change("open", "2", 500, side=Side.SHORT, opening=True),
    ]
    found = match(legs, book, skew_ms=SKEW)
    assert found["close"].price == found["open"].price == 2950
    assert list(book.left.values()) == [0]


def test_an_unseen_open_and_close_is_a_round_trip_and_a_matched_open_is_not() -> None:
    trip_open, trip_close = order("BUY", "2", "3000", 100), order("SELL", "2", "3030", 200)
    real_open = order("BUY", "1", "3050", 300)
    book = ledger(trip_open, trip_close, real_open)
    assert set(match([change("a", "1", 400)], book, skew_ms=SKEW)) == {"a"}
    (trip,) = round_trips(book, settled_ms=400)
    assert (trip.symbol, trip.side, trip.qty) == ("ETHUSDT", Side.LONG, 2)
    assert (trip.open_price, trip.close_price, trip.pnl) == (3000, 3030, 60)
    assert (trip.opened_ms, trip.closed_ms) == (100, 200)
    assert round_trips(book, settled_ms=10_000) == []  # never reported twice


def test_orders_after_the_settled_time_wait_and_a_short_round_trip_counts() -> None:
    book = ledger(order("SELL", "1", "10", 100), order("BUY", "1", "9", 900))
    assert round_trips(book, settled_ms=500) == []
    (trip,) = round_trips(book, settled_ms=1_000)
    assert (trip.side, trip.pnl) == (Side.SHORT, 1)


def test_an_open_without_its_close_is_no_round_trip() -> None:
    book = ledger(order("BUY", "1", "3000", 100))
    assert round_trips(book, settled_ms=1_000) == []


def test_closes_confirmed_needs_every_closed_position_covered() -> None:
    closed = {("ETHUSDT", Side.LONG): D(2), ("BTCUSDT", Side.SHORT): D("0.5")}
    eth = order("SELL", "2", "3000", 300)
    btc = order("BUY", "0.5", "60000", 320, symbol="BTCUSDT")
    assert closes_confirmed(closed, ledger(eth, btc), after_ms=200, until_ms=400)
    assert not closes_confirmed(closed, ledger(eth), after_ms=200, until_ms=400)
    assert not closes_confirmed(closed, ledger(eth, btc), after_ms=310, until_ms=400)
    half = order("SELL", "1", "3000", 300)
    assert not closes_confirmed(closed, ledger(half, btc), after_ms=200, until_ms=400)


def test_orders_of_the_same_millisecond_keep_binances_newest_first_order() -> None:
    book = ledger(order("SELL", "1", "151", 100), order("BUY", "1", "150", 100))  # as listed
    (trip,) = round_trips(book, settled_ms=1_000)
    assert (trip.side, trip.open_price, trip.close_price) == (Side.LONG, 150, 151)
