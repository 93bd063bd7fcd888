"""Which of the leader's own orders (lead-portfolio order-history) explain which change the bot
saw in the positions, and which orders nobody saw: a round trip that opened and closed between
two reads. Pure: no I/O, no clock.

Order-history rows carry no exchange id, so an order is known by its fields, and one order may
explain two changes (a one-way flip is one order: the close of the old side and the open of the
new one). Matching is greedy and exact: a change takes the newest unclaimed orders that act on
its symbol and side in its direction, at or before the snapshot that showed it (a little after,
within `skew_ms`, only if that is not enough), until their quantity equals the change's; a
change whose quantity the orders cannot make exactly is left unmatched (the snapshot's own
estimates stay). Positions remain the truth of what to hold: nothing here trades.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from lightspeed_cli.models import LeaderOrder, PositionKey, Side

TOLERANCE = Decimal("0.000001")  # relative: a change's quantity vs the orders that make it


@dataclass(frozen=True, slots=True)
class Change:
    """A change of a leader's position the bot saw in a snapshot."""

    ref: str  # the caller's handle (a client order id, a signal id)
    symbol: str
    side: Side
    opening: bool  # open / increase (else reduce / close)
    qty: Decimal  # the leader's size change, > 0
    seen_ms: int  # when the snapshot that showed it was fetched


@dataclass(frozen=True, slots=True)
class LeaderFill:
    """What the leader's orders say about one change: their quantity-weighted price and when
    the first and the last of them filled."""

    price: Decimal
    qty: Decimal
    first_ms: int
    last_ms: int


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """A position the leader opened and closed with no read seeing it open."""

    symbol: str
    side: Side
    qty: Decimal
    open_price: Decimal
    close_price: Decimal
    opened_ms: int
    closed_ms: int

    @property
    def pnl(self) -> Decimal:
        sign = 1 if self.side is Side.LONG else -1
        return (self.close_price - self.open_price) * self.qty * sign


@dataclass
class Ledger:
    """The orders seen so far and how much of each is still unexplained."""

    left: dict[LeaderOrder, Decimal] = field(default_factory=dict)

    def add(self, orders: Iterable[LeaderOrder]) -> None:
        """Orders as Binance lists them, newest first; kept oldest first, so orders of the same
        millisecond keep their true order."""
        for order in reversed(list(orders)):
            self.left.setdefault(order, order.qty)

    def forget_before(self, ms: int) -> None:
        """Drop orders older than `ms` (a bot runs for months)."""
        for order in [o for o in self.left if o.time_ms < ms]:
            del self.left[order]


def match(changes: Sequence[Change], ledger: Ledger, *, skew_ms: int) -> dict[str, LeaderFill]:
    """Match each change to orders of the ledger, claiming them; returns fills by `ref`."""
    found: dict[str, LeaderFill] = {}
    for change in changes:
        taken = _take(change, ledger, skew_ms)
        if taken is None:
            continue
        for order, qty in taken:
            ledger.left[order] -= qty
        found[change.ref] = _fill(taken)
    return found


def _take(change: Change, ledger: Ledger, skew_ms: int) -> list[tuple[LeaderOrder, Decimal]] | None:
    fits = [
        o
        for o, left in ledger.left.items()
        if left > 0 and o.symbol == change.symbol and o.acts_on(change.side, opening=change.opening)
    ]
    before = sorted((o for o in fits if o.time_ms <= change.seen_ms), key=_newest_first)
    late = sorted(
        (o for o in fits if change.seen_ms < o.time_ms <= change.seen_ms + skew_ms),
        key=lambda o: o.time_ms,
    )
    need, taken = change.qty, []
    for order in (*before, *late):
        if need <= change.qty * TOLERANCE:
            break
        qty = min(ledger.left[order], need)
        taken.append((order, qty))
        need -= qty
    if not taken or abs(need) > change.qty * TOLERANCE:
        return None
    return taken


def _newest_first(order: LeaderOrder) -> int:
    return -order.time_ms


def _fill(taken: Sequence[tuple[LeaderOrder, Decimal]]) -> LeaderFill:
    qty = sum((q for _, q in taken), Decimal(0))
    price = sum((o.avg_price * q for o, q in taken), Decimal(0)) / qty
    times = [o.time_ms for o, _ in taken]
    return LeaderFill(price=price, qty=qty, first_ms=min(times), last_ms=max(times))


def closes_confirmed(
    closed: Mapping[PositionKey, Decimal], ledger: Ledger, *, after_ms: int, until_ms: int
) -> bool:
    """True if unclaimed closing orders in (after_ms, until_ms] cover every closed position
    (key → the size the leader held): order-history confirms a mass close on its own."""
    for (symbol, side), size in closed.items():
        covered = sum(
            (
                left
                for o, left in ledger.left.items()
                if o.symbol == symbol
                and after_ms < o.time_ms <= until_ms
                and left > 0
                and o.acts_on(side, opening=False)
            ),
            Decimal(0),
        )
        if covered < size * (1 - TOLERANCE):
            return False
    return True


def round_trips(ledger: Ledger, *, settled_ms: int) -> list[RoundTrip]:
    """Unclaimed orders up to `settled_ms` (every change seen until then was matched) that
    open and close a position back to nothing: round trips no read saw. Their orders are
    claimed, so none is reported twice; a run still open may close in a later read (an order
    nothing explains is left alone: positions, not orders, say what to hold)."""
    groups: dict[tuple[str, str], list[LeaderOrder]] = {}
    for order, left in ledger.left.items():
        if left == order.qty and order.time_ms <= settled_ms:
            groups.setdefault((order.symbol, order.position_side), []).append(order)
    trips = []
    for orders in groups.values():
        run: list[LeaderOrder] = []
        net = Decimal(0)
        for order in sorted(orders, key=lambda o: o.time_ms):
            run.append(order)
            net += order.signed_qty
            if net == 0:
                trips.append(_trip(run))
                for o in run:
                    ledger.left[o] = Decimal(0)
                run = []
    return trips


def _trip(run: Sequence[LeaderOrder]) -> RoundTrip:
    first = run[0]
    opening = [o for o in run if o.side == first.side]
    closing = [o for o in run if o.side != first.side]
    qty = sum((o.qty for o in opening), Decimal(0))
    side = Side.LONG if first.side == "BUY" else Side.SHORT
    return RoundTrip(
        symbol=first.symbol,
        side=side,
        qty=qty,
        open_price=_weighted(opening),
        close_price=_weighted(closing),
        opened_ms=first.time_ms,
        closed_ms=run[-1].time_ms,
    )


def _weighted(orders: Sequence[LeaderOrder]) -> Decimal:
    qty = sum((o.qty for o in orders), Decimal(0))
    return sum((o.avg_price * o.qty for o in orders), Decimal(0)) / qty
