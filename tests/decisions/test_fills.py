"""decisions/fills.py at its edges: zero quantities, full and over-closes, both sides (a close
never flips a position), and the rounding of the weighted entry."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from lightspeed_cli.decisions.fills import (
    ENTRY_DIGITS,
    FillEffect,
    apply_fill,
    close_pnl,
    goes_again,
    weighted_entry,
)
from lightspeed_cli.models import MirroredPosition, Side

T0 = datetime(2026, 11, 25, 12, tzinfo=UTC)
D = Decimal


def held(qty: str, entry: str, side: Side = Side.LONG) -> MirroredPosition:
    return MirroredPosition(
        trader="t",
        symbol="BTCUSDT",
        side=side,
        binance_symbol="BTCUSDT",
        quantity=D(qty),
        entry_price=D(entry),
        opened_at=T0,
        updated_at=T0,
    )


def close(h: MirroredPosition | None, qty: str, price: str, fee: str = "0") -> FillEffect:
    side = h.side if h is not None else Side.LONG
    return apply_fill(h, side=side, reduce_only=True, quantity=D(qty), price=D(price), fee=D(fee))


def open_(h: MirroredPosition | None, qty: str, price: str, fee: str = "0") -> FillEffect:
    return apply_fill(
        h, side=Side.LONG, reduce_only=False, quantity=D(qty), price=D(price), fee=D(fee)
    )


# ---- closes ------------------------------------------------------------------------------


def test_a_partial_close_realizes_its_share_and_keeps_the_entry() -> None:
    effect = close(held("2", "100"), "0.5", "110", fee="0.1")
    assert effect == FillEffect(
        realized=D("4.9"), quantity=D("1.5"), entry_price=D("100"), left=D("1.5")
    )


def test_a_full_close_leaves_nothing() -> None:
    effect = close(held("2", "100"), "2", "90")
    assert (effect.realized, effect.quantity, effect.left, effect.moved) == (
        D("-20"),
        D("0"),
        D("0"),
        True,
    )


def test_an_over_close_closes_only_what_is_held() -> None:
    """More filled than held (Bybit's position was larger): PnL on the held part only."""
    effect = close(held("1", "100"), "3", "110")
    assert effect.realized == D("10")
    assert effect.quantity == 0 and effect.left == 0  # never negative: no flip through a close


@pytest.mark.parametrize(
    ("side", "price", "realized"),
    [
        (Side.LONG, "110", "10"),
        (Side.LONG, "90", "-10"),
        (Side.SHORT, "110", "-10"),
        (Side.SHORT, "90", "10"),
    ],
)
def test_the_sign_of_a_close_follows_the_side(side: Side, price: str, realized: str) -> None:
    assert close(held("1", "100", side), "1", price).realized == D(realized)
    assert close_pnl(side, D("100"), D(price), D("1")) == D(realized)


def test_a_short_over_close_does_not_flip_to_long() -> None:
    effect = close(held("1", "100", Side.SHORT), "5", "80")
    assert effect.realized == D("20")  # on the 1 held, not the 5 filled
    assert effect.quantity == 0


def test_a_close_with_nothing_held_only_pays_its_fee() -> None:
    effect = close(None, "1", "100", fee="0.06")
    assert effect == FillEffect(realized=D("-0.06"), moved=False)


def test_a_zero_quantity_close_changes_nothing_but_the_fee() -> None:
    effect = close(held("1", "100"), "0", "150", fee="0.01")
    assert (effect.realized, effect.quantity, effect.left) == (D("-0.01"), D("1"), D("1"))


# ---- opens -------------------------------------------------------------------------------


def test_an_open_onto_nothing_starts_at_its_price() -> None:
    assert open_(None, "0.5", "100", fee="0.03") == FillEffect(
        realized=D("-0.03"), quantity=D("0.5"), entry_price=D("100"), fresh=True
    )


def test_an_open_onto_a_zero_row_is_fresh_too() -> None:
    effect = open_(held("0", "90"), "1", "100")
    assert effect.fresh and effect.entry_price == D("100") and effect.quantity == D("1")


def test_an_increase_takes_the_weighted_mean_entry() -> None:
    effect = open_(held("1", "100"), "3", "200", fee="0.2")
    assert effect == FillEffect(realized=D("-0.2"), quantity=D("4"), entry_price=D("175"))
    assert effect.left == 0 and not effect.fresh


def test_a_zero_quantity_increase_keeps_the_entry() -> None:
    effect = open_(held("2", "100"), "0", "500")
    assert (effect.quantity, effect.entry_price) == (D("2"), D("100"))


def test_a_zero_quantity_open_onto_nothing_holds_nothing() -> None:
    effect = open_(None, "0", "100")
    assert effect.quantity == 0 and effect.moved  # the journal's write of 0 removes the row


# ---- rounding ----------------------------------------------------------------------------


def test_the_weighted_entry_is_kept_to_sixteen_digits() -> None:
    entry = weighted_entry(D("1"), D("100"), D("2"), D("101"))  # 302 / 3
    assert entry == D("100.6666666666667")
    assert len(entry.as_tuple().digits) == ENTRY_DIGITS


def test_an_exact_weighted_entry_is_not_padded() -> None:
    assert str(weighted_entry(D("1"), D("100"), D("1"), D("101"))) == "100.5"


def test_the_total_quantity_keeps_full_precision() -> None:
    """Only the mean is rounded: the quantity held is the exact sum."""
    effect = open_(held("0.12345678901234567", "1"), "0.00000000000000001", "1")
    assert effect.quantity == D("0.12345678901234568")
    assert effect.entry_price == D("1")


def test_a_close_pnl_is_not_rounded_to_the_entry_digits() -> None:
    effect = close(held("3", "100.6666666666667"), "3", "100.12345678901234567")
    assert effect.realized == (D("100.12345678901234567") - D("100.6666666666667")) * 3


# ---- does the change go again ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "ordered", "filled", "left", "again"),
    [
        ("close", "2", "2", "0", False),  # done
        ("close", "2", "1", "1", True),  # chunked or partly filled: something left
        ("close", "2", "5", "0", False),  # over-closed
        ("reduce", "2", "2", "1", False),  # a reduce leaves the rest held, by design
        ("reduce", "2", "1.5", "1.5", True),  # an IOC cut short
        ("reduce", "2", "0", "2", True),
        ("open", "2", "1", "0", False),  # opens and increases never go again here
        ("increase", "2", "0", "0", False),
        ("repair", "2", "1", "1", False),
    ],
)
def test_goes_again(kind: str, ordered: str, filled: str, left: str, again: bool) -> None:
    assert goes_again(kind, D(ordered), D(filled), D(left)) is again
