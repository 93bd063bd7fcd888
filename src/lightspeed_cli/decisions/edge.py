"""Edge kept: of what the leader realized over a run of changes (x the ratio), what the copy kept.

edge kept = follower's realized PnL / (leader's realized PnL over the same changes x ratio).

The gap is split exactly (the parts sum to follower - ideal) by replaying the changes through
a chain of hypothetical followers, each one step closer to the real one:

1. ideal: every change, at the ratio, at the leader's price, no fees;
2. without the refused changes (a safety check said no)            -> `refused`;
3. without the missed ones too (skipped, failed, never filled)      -> `missed`;
4. opens at the quantity actually ordered (step / minimum rounding) -> `rounding`;
5. every leg at the quantity actually filled                        -> `partial_fills`;
6. at the prices actually filled                                    -> `slippage`;
7. minus the fees paid                                              -> `fees`.

Reduces in steps 1-4 close the leader's fraction of what that follower holds (the bot's own rule),
so a refused open makes its later close worth nothing there too. A FLIP is a close of the old
side and an open of the new one; a filled quantity is split over the two legs in proportion.
Realized PnL only: what is still open counts nowhere. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from lightspeed_cli.models import Side, SignalKind

ZERO = Decimal(0)


class Outcome(StrEnum):
    EXECUTED = "executed"
    REFUSED = "refused"
    MISSED = "missed"  # skipped, failed or never filled


class Change(BaseModel):
    """One leader change and what the follower did about it."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    symbol: str
    side: Side  # the side after the change (FLIP: the new side)
    kind: SignalKind
    previous_size: Decimal  # the leader's, before (FLIP: of the old side)
    new_size: Decimal  # the leader's, after
    leader_price: Decimal
    outcome: Outcome
    ordered_qty: Decimal | None = None
    fill_qty: Decimal | None = None
    fill_price: Decimal | None = None
    fee: Decimal = ZERO

    @property
    def filled(self) -> bool:
        return self.outcome is Outcome.EXECUTED and bool(self.fill_qty) and bool(self.fill_price)


class EdgeBreakdown(BaseModel):
    """The follower's realized PnL against the ideal copy, and where the difference went."""

    ideal: Decimal  # the leader's realized PnL over these changes x the ratio
    follower: Decimal  # realized, after fees
    refused: Decimal
    missed: Decimal
    rounding: Decimal
    partial_fills: Decimal
    slippage: Decimal
    fees: Decimal  # negative: what the fees took
    changes: int

    @property
    def edge_kept(self) -> Decimal | None:
        """follower / ideal; None unless the ideal copy made money (a share of a loss, or of
        nothing, says nothing about the copy)."""
        return self.follower / self.ideal if self.ideal > 0 else None

    def parts(self) -> dict[str, Decimal]:
        return {
            "refused": self.refused,
            "missed": self.missed,
            "rounding": self.rounding,
            "partial fills": self.partial_fills,
            "slippage": self.slippage,
            "fees": self.fees,
        }


class PnlPoint(BaseModel):
    at: datetime
    leader_x_ratio: Decimal  # the ideal copy's realized PnL so far
    follower: Decimal  # realized after fees so far
    exposure_error_usdt: Decimal  # |held - leader x ratio| x price, summed over the symbols


Leg = tuple[Side, Decimal]  # (position side, signed change of the leader's size on that side)
Trade = tuple[Side, Decimal | None, Decimal, Decimal]  # side, qty (None: fraction), fraction, px


def legs(change: Change) -> list[Leg]:
    if change.kind is SignalKind.FLIP:
        return [(change.side.opposite, -change.previous_size), (change.side, change.new_size)]
    return [(change.side, change.new_size - change.previous_size)]


class _Book:
    """Per (symbol, side): quantity and average entry; reduces realize PnL."""

    def __init__(self) -> None:
        self.held: dict[tuple[str, Side], tuple[Decimal, Decimal]] = {}
        self.pnl = ZERO

    def qty(self, symbol: str, side: Side) -> Decimal:
        return self.held.get((symbol, side), (ZERO, ZERO))[0]

    def trade(self, symbol: str, side: Side, delta: Decimal, price: Decimal) -> None:
        qty, entry = self.held.get((symbol, side), (ZERO, ZERO))
        if delta > 0:
            total = qty + delta
            self.held[(symbol, side)] = (total, (qty * entry + delta * price) / total)
            return
        closed = min(-delta, qty)
        sign = 1 if side is Side.LONG else -1
        self.pnl += (price - entry) * closed * sign
        self.held[(symbol, side)] = (qty - closed, entry)


def _reduce_fraction(previous: Decimal, delta: Decimal) -> Decimal:
    return min(Decimal(1), -delta / previous) if previous > 0 else Decimal(1)


def _apply(
    book: _Book, change: Change, qty: Decimal | None, price: Decimal, ratio: Decimal
) -> None:
    """Apply one change: `qty` None means the ideal quantities (ratio x leader for opens, the
    leader's fraction of what is held for reduces); else `qty` is split over the legs."""
    pieces = legs(change)
    total = sum((abs(d) for _, d in pieces), ZERO)
    for side, delta in pieces:
        if delta == 0:
            continue
        if qty is not None and total:
            share = qty * abs(delta) / total
            book.trade(change.symbol, side, share if delta > 0 else -share, price)
        elif delta > 0:
            book.trade(change.symbol, side, delta * ratio, price)
        else:
            held = book.qty(change.symbol, side)
            fraction = _reduce_fraction(change.previous_size, delta)
            book.trade(change.symbol, side, -held * fraction, price)


Step = Callable[[_Book, Change, Decimal], None]


def _ideal(keep: Callable[[Change], bool]) -> Step:
    def step(book: _Book, c: Change, ratio: Decimal) -> None:
        if keep(c):
            _apply(book, c, None, c.leader_price, ratio)

    return step


def _rounded(book: _Book, c: Change, ratio: Decimal) -> None:
    if not c.filled:
        return
    opening = any(d > 0 for _, d in legs(c)) and c.kind is not SignalKind.FLIP
    _apply(book, c, c.ordered_qty if opening else None, c.leader_price, ratio)


def _at_fill_qty(book: _Book, c: Change, ratio: Decimal) -> None:
    if c.filled:
        _apply(book, c, c.fill_qty, c.leader_price, ratio)


def _actual(book: _Book, c: Change, ratio: Decimal) -> None:
    if c.filled:
        assert c.fill_price is not None
        _apply(book, c, c.fill_qty, c.fill_price, ratio)


def _replay(changes: Sequence[Change], ratio: Decimal, step: Step) -> Decimal:
    book = _Book()
    for c in changes:
        step(book, c, ratio)
    return book.pnl


def edge_breakdown(changes: Iterable[Change], ratio: Decimal) -> EdgeBreakdown:
    """The chain of hypothetical followers (module docstring) over `changes`, oldest first."""
    rows = sorted(changes, key=lambda c: c.at)
    ideal = _replay(rows, ratio, _ideal(lambda c: True))
    kept_refused = _replay(rows, ratio, _ideal(lambda c: c.outcome is not Outcome.REFUSED))
    executed = _replay(rows, ratio, _ideal(lambda c: c.filled))
    rounded = _replay(rows, ratio, _rounded)
    filled = _replay(rows, ratio, _at_fill_qty)
    actual = _replay(rows, ratio, _actual)
    fees = sum((c.fee for c in rows if c.filled), ZERO)
    return EdgeBreakdown(
        ideal=ideal,
        follower=actual - fees,
        refused=kept_refused - ideal,
        missed=executed - kept_refused,
        rounding=rounded - executed,
        partial_fills=filled - rounded,
        slippage=actual - filled,
        fees=-fees,
        changes=len(rows),
    )


def pnl_over_time(changes: Iterable[Change], ratio: Decimal) -> list[PnlPoint]:
    """After each change: the ideal copy's and the follower's realized PnL, and how far the
    follower's holdings are from the leader's x the ratio (USDT at the change's price)."""
    ideal, actual = _Book(), _Book()
    leader: dict[tuple[str, Side], Decimal] = {}
    price: dict[str, Decimal] = {}
    fees = ZERO
    points = []
    for c in sorted(changes, key=lambda c: c.at):
        _ideal(lambda _: True)(ideal, c, ratio)
        _actual(actual, c, ratio)
        fees += c.fee if c.filled else ZERO
        for side, delta in legs(c):
            leader[(c.symbol, side)] = leader.get((c.symbol, side), ZERO) + delta
        price[c.symbol] = c.fill_price if c.filled and c.fill_price else c.leader_price
        error = sum(
            (
                abs(actual.qty(sym, side) - max(size, ZERO) * ratio) * price[sym]
                for (sym, side), size in leader.items()
            ),
            ZERO,
        )
        points.append(
            PnlPoint(
                at=c.at,
                leader_x_ratio=ideal.pnl,
                follower=actual.pnl - fees,
                exposure_error_usdt=error,
            )
        )
    return points
