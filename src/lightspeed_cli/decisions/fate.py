"""When an order's fate is known, and when a change may go out again under a new client id.

Pure rules (shared/api/bybit_ccxt.md section 5). Bybit executes a signed request while its
server time is at most the request's timestamp + recv_window, and its order lists may lag or
forget: a lookup that finds nothing proves nothing until that window has closed and both
order/realtime and order/history were asked. So an order is:
- FILLED when Bybit shows it final with a fill (Filled, or Cancelled / PartiallyFilledCanceled
  / Deactivated with cumExecQty > 0: an IOC market order that ran out of liquidity);
- DEAD (a new id may go out) when Bybit shows it final without a fill, refused every attempt
  outright, or has it in neither list after its window closed;
- LOST when Bybit acknowledged it (an orderId, or a duplicate-id answer) but still lists it
  nowhere after the window: it exists, so it is never "not placed"; the bot keeps looking it
  up and says so loudly;
- WAIT otherwise: the change waits (no resend) and the caps keep counting it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from lightspeed_cli.models import Fill

# The broker signs no create for an order later than this after execute() began (retries
# included): with the journaled time, it bounds when the last request of an order may run out.
SEND_SPAN_SECONDS = 5.0
# Our clock against Bybit's: ccxt adjusts for the measured difference, Bybit refuses a
# timestamp more than 1 s ahead of its own; the rest covers a drift since the last sync.
CLOCK_SKEW_SECONDS = 2.0
ACKNOWLEDGED = "acknowledged"  # the journal's outcome for an order Bybit said it has


class Fate(StrEnum):
    FILLED = "filled"
    DEAD = "dead"
    LOST = "lost"
    WAIT = "wait"


def window_closes_at(journaled_at: datetime, recv_window_ms: int) -> datetime:
    """After this moment no request of an order journaled at `journaled_at` can still execute."""
    span = SEND_SPAN_SECONDS + recv_window_ms / 1000 + CLOCK_SKEW_SECONDS
    return journaled_at + timedelta(seconds=span)


def is_final(fill: Fill) -> bool:
    """Bybit will not change this order any more (a market order never rests)."""
    return fill.status in ("filled", "canceled", "rejected")


def fate_of(found: Fill | None, *, acknowledged: bool, window_closed: bool) -> Fate:
    """What a lookup through both order lists means for an order sent earlier."""
    if found is not None:
        if not is_final(found):
            return Fate.WAIT
        return Fate.FILLED if found.quantity > 0 else Fate.DEAD
    if not window_closed:
        return Fate.WAIT
    return Fate.LOST if acknowledged else Fate.DEAD
