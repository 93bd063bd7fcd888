"""What one fill does to the mirrored position: its quantity, weighted entry and realized PnL.

Pure arithmetic, out of the journal's SQL transaction so it can be tested at its edges. A
reduce-only fill closes at most what is held (a position never flips through a close: the other
side is another key, opened by its own order); an opening fill adds to what is held at the
quantity-weighted mean entry. Every fill pays its fee out of the day's realized PnL.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

from lightspeed_cli.models import MirroredPosition, Side, SignalKind

ENTRY_DIGITS = 16  # a weighted mean: keep it readable, not 28 digits


@dataclass(frozen=True, slots=True)
class FillEffect:
    """The PnL one fill realized and the position it leaves (quantity 0 = flat)."""

    realized: Decimal
    quantity: Decimal = Decimal(0)
    entry_price: Decimal = Decimal(0)
    moved: bool = True  # False: no position to write (a reduce-only fill with nothing held)
    fresh: bool = False  # an open onto nothing held: the position's opened_at starts now
    left: Decimal = Decimal(0)  # what a reduce-only fill left held (0 for opens)


def weighted_entry(held_qty: Decimal, held_entry: Decimal, qty: Decimal, price: Decimal) -> Decimal:
    """The mean entry of `held_qty` at `held_entry` plus `qty` at `price`, to ENTRY_DIGITS
    (the products and their sum too; the total quantity divided by keeps full precision)."""
    total = held_qty + qty
    with localcontext() as exact:
        exact.prec = ENTRY_DIGITS
        return +((held_entry * held_qty + price * qty) / total)


def close_pnl(side: Side, entry: Decimal, price: Decimal, closed: Decimal) -> Decimal:
    """PnL of closing `closed` of a `side` position entered at `entry`, before fees."""
    direction = 1 if side is Side.LONG else -1
    return (price - entry) * closed * direction


def apply_fill(
    held: MirroredPosition | None,
    *,
    side: Side,
    reduce_only: bool,
    quantity: Decimal,
    price: Decimal,
    fee: Decimal,
) -> FillEffect:
    """The effect of filling `quantity` at `price` (the average) with `fee` paid."""
    if reduce_only:
        if held is None:
            return FillEffect(realized=-fee, moved=False)
        closed = min(quantity, held.quantity)
        left = held.quantity - closed
        realized = close_pnl(side, held.entry_price, price, closed) - fee
        return FillEffect(realized, left, held.entry_price, left=left)
    if held is None or held.quantity == 0:
        return FillEffect(-fee, quantity, price, fresh=True)
    entry = weighted_entry(held.quantity, held.entry_price, quantity, price)
    return FillEffect(-fee, held.quantity + quantity, entry)


def goes_again(kind: str, ordered: Decimal, filled: Decimal, left: Decimal) -> bool:
    """True if the leader's change is not done after this fill and must go again under a new
    id: a close that left something held (chunked above Bybit's market-order maximum, or
    partly filled), or a reduce that filled less than ordered (an IOC cut short)."""
    if kind == SignalKind.CLOSE.value:
        return left > 0
    return kind == SignalKind.REDUCE.value and filled < ordered
