"""The follower's Bybit quantity per leader unit, as established by what was actually mirrored.

A reduce outside ratio mode is sized against it (decisions/sizing.py): the leader book moves
with every change, also one the caps refused, but this moves only with the orders that filled.
From the journal's filled orders of the position, newest first: the quantity held right after
the last order that filled whole, over the leader's size that order followed. Journal reads
only, and only for a reduce.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from lightspeed_cli.journal.store import Journal
from lightspeed_cli.models import MirroredPosition, SignalKind

# the opening order was journaled before the fill that set `opened_at`: look back this far
LOOKBACK = timedelta(days=1)
_GROWS = (SignalKind.OPEN.value, SignalKind.INCREASE.value)
_SHRINKS = (SignalKind.REDUCE.value, SignalKind.CLOSE.value)


def mirrored_per_unit(journal: Journal, held: MirroredPosition) -> Decimal | None:
    """Held quantity per leader unit after the position's last whole fill (None: unknown)."""
    quantity = held.quantity
    rows = journal.filled_orders_since(held.opened_at - LOOKBACK)
    for row in reversed(rows):
        key = (row.trader, row.symbol, row.side)
        if key != (held.trader, held.symbol, held.side) or row.kind not in _GROWS + _SHRINKS:
            continue
        if row.kind == SignalKind.CLOSE.value:
            return None  # an earlier position's end: this one has no whole fill to go by
        filled = row.fill_qty or Decimal(0)
        if filled >= row.quantity:
            signal = journal.signal_for_order(row.client_order_id)
            if signal is None or signal.new_size <= 0 or quantity <= 0:
                return None
            return quantity / signal.new_size
        quantity -= filled if row.kind in _GROWS else -filled  # cut short: undo, look further
    return None
