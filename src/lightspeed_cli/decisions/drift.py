"""Pure decisions of reconciliation: whose is a position, what the journal should hold, what
to reduce. No I/O (reconcile.py gathers the facts and applies the plan).

Bybit holding *less* than the journal shrinks the journal (a close by hand, a liquidation).
Bybit holding *more* is the bot's only when the journal explains it or every filled order Bybit
lists on the symbol carries one of the bot's orderLinkIds; the trader is read from the id, and
the journal adopts it. The bot's holding above the leader's book x ratio by more than one
quantity step is reduced (never below the target, never opened, never someone else's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from lightspeed_cli.decisions.order_ids import is_bot_order, tag_of
from lightspeed_cli.decisions.sizing import floor_to_step
from lightspeed_cli.models import ExchangeOrder, Side


class Ownership(StrEnum):
    BOT = "bot"  # the journal explains it, or every filled order on the symbol is the bot's
    HAND = "hand"  # orders that are not the bot's filled on this symbol: report only
    UNKNOWN = "unknown"  # no filled order listed to tell: report only


def order_side_of(order: ExchangeOrder, hedge_mode: bool) -> Side:
    """The position side an order acted on."""
    if hedge_mode and order.position_idx in (1, 2):
        return Side.LONG if order.position_idx == 1 else Side.SHORT
    grows_long = order.order_side == "buy"
    return Side.LONG if grows_long != order.reduce_only else Side.SHORT


def ownership(
    bybit: Decimal, journal: Decimal, orders: tuple[ExchangeOrder, ...] | None
) -> Ownership:
    """Whose is what Bybit holds beyond the journal? A lookup that finds nothing proves nothing:
    without a filled order of the bot's on the symbol it is not the bot's.

    A reduce-only order without the bot's id (Bybit's own stop-loss / take-profit orders, a
    liquidation, a partial close by hand) can only have made a position smaller, never the
    excess in question: it does not make the position someone else's."""
    if bybit <= journal:
        return Ownership.BOT  # the journal explains all of it
    filled = [
        o for o in orders or () if o.filled > 0 and (is_bot_order(o.link_id) or not o.reduce_only)
    ]
    if any(not is_bot_order(o.link_id) for o in filled):
        return Ownership.HAND
    return Ownership.BOT if filled else Ownership.UNKNOWN


def attribute(
    orders: tuple[ExchangeOrder, ...], side: Side, tags: Mapping[str, str], hedge_mode: bool
) -> str | None:
    """The configured trader the bot's latest filled order on this side was for (by its id)."""
    mine = [o for o in orders if o.filled > 0 and order_side_of(o, hedge_mode) is side]
    mine.sort(key=lambda o: o.created_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    for order in mine:
        tag = tag_of(order.link_id)
        if tag is not None and tag in tags:
            return tags[tag]
    return None


@dataclass(frozen=True)
class KeyFacts:
    """Everything known about one (Bybit symbol, side), for `plan_key`."""

    symbol: str
    side: Side
    bybit: Decimal
    held: Mapping[str, Decimal]  # trader -> the journal's mirrored quantity
    targets: Mapping[str, Decimal | None]  # trader -> leader's book x ratio; None = not known
    step: Decimal
    min_qty: Decimal
    orders: tuple[ExchangeOrder, ...] | None = None  # this symbol's orders; None = not read
    tags: Mapping[str, str] = field(default_factory=dict)  # trader tag -> configured trader
    hedge_mode: bool = False

    @property
    def journal(self) -> Decimal:
        return sum(self.held.values(), Decimal(0))


@dataclass(frozen=True)
class KeyPlan:
    drift: bool  # the journal and Bybit disagree
    owner: Ownership
    held: dict[str, Decimal]  # what the journal should hold per trader after this pass
    adopted_by: str | None = None  # the trader Bybit's extra was given to
    unexplained: Decimal = Decimal(0)  # Bybit holds this much the bot cannot claim
    # the unexplained part may be the bot's (its ids are on the symbol): only the user can say
    needs_user: bool = False
    repairs: tuple[tuple[str, Decimal], ...] = ()  # (trader, reduce-only qty)


def _shrink(held: dict[str, Decimal], targets: Mapping[str, Decimal | None], by: Decimal) -> None:
    """Take `by` off the journal, first from traders holding the most above their target."""

    def over(trader: str) -> Decimal:
        target = targets.get(trader)
        return held[trader] - (target if target is not None else held[trader])

    for trader in sorted(held, key=lambda t: (over(t), held[t]), reverse=True):
        take = min(by, held[trader])
        held[trader] -= take
        by -= take
        if by <= 0:
            break


def repair_qty(held: Decimal, target: Decimal, step: Decimal, min_qty: Decimal) -> Decimal:
    """How much of `held` to reduce so the bot holds no more than `target`; 0 within one step
    (rounding), and 0 when the order would be below Bybit's minimum. Never below the target
    except to close outright, never more than is held."""
    excess = held - target
    if excess <= step:
        return Decimal(0)
    qty = held if target <= 0 else floor_to_step(excess, step)
    if 0 < held - qty < min_qty:  # the rest could never be closed: keep the minimum
        qty = floor_to_step(held - min_qty, step)
    return qty if qty >= max(min_qty, step) else Decimal(0)


def plan_key(facts: KeyFacts) -> KeyPlan:
    """What to do about one (symbol, side): adopt, shrink, repair or only report."""
    journal = facts.journal
    held = dict(facts.held)
    owner = ownership(facts.bybit, journal, facts.orders)
    adopted_by = None
    unexplained = Decimal(0)
    if facts.bybit < journal:
        _shrink(held, facts.targets, journal - facts.bybit)  # Bybit is the truth
    elif facts.bybit > journal:
        extra = facts.bybit - journal
        if owner is Ownership.BOT and facts.orders:
            adopted_by = attribute(facts.orders, facts.side, facts.tags, facts.hedge_mode)
        if adopted_by is not None:
            held[adopted_by] = held.get(adopted_by, Decimal(0)) + extra
        else:
            unexplained = extra
    repairs: list[tuple[str, Decimal]] = []
    if owner is Ownership.BOT:
        for trader in sorted(held):
            target = facts.targets.get(trader)
            if target is None:
                continue  # the leader's book is not known (yet): no data is not "flat"
            qty = repair_qty(held[trader], target, facts.step, facts.min_qty)
            if qty > 0:
                repairs.append((trader, qty))
    return KeyPlan(
        drift=facts.bybit != journal,
        owner=owner,
        held=held,
        adopted_by=adopted_by,
        unexplained=unexplained,
        needs_user=unexplained > 0
        and any(o.filled > 0 and is_bot_order(o.link_id) for o in facts.orders or ()),
        repairs=tuple(repairs),
    )


def ratio_target(
    leader_size: Decimal, ratio: Decimal, qty_scale: Decimal, step: Decimal
) -> Decimal:
    """The leader's book x ratio in Bybit contracts, as the engine would size it (floored)."""
    return floor_to_step(leader_size * ratio * qty_scale, step)


def unknown_bot_orders(
    orders: list[ExchangeOrder], known: set[str], accepted_until: datetime | None
) -> list[ExchangeOrder]:
    """Filled orders with the bot's ids the journal has no row for (and the user has not
    already accepted): the journal lost them."""
    return [
        o
        for o in orders
        if o.filled > 0
        and is_bot_order(o.link_id)
        and o.link_id not in known
        and (accepted_until is None or o.created_at is None or o.created_at > accepted_until)
    ]
