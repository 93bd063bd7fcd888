"""drift.py: whose is a position, what the journal should hold, what to reduce (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from lightspeed_cli.decisions.drift import (
    KeyFacts,
    Ownership,
    attribute,
    order_side_of,
    ownership,
    plan_key,
    ratio_target,
    repair_qty,
    unknown_bot_orders,
)
from lightspeed_cli.decisions.order_ids import (
    client_order_id,
    is_bot_order,
    repair_order_id,
    tag_of,
    trader_tag,
)
from lightspeed_cli.models import ExchangeOrder, Side

D = Decimal
A, B = "4000000000000000001", "4000000000000000002"
TAGS = {trader_tag(A): A, trader_tag(B): B}
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def bot_id(trader: str = A, version: int = 0) -> str:
    return client_order_id(
        instance="salt", trader=trader, symbol="BTCUSDT", side=Side.LONG, version=version, attempt=0
    )


def order(
    link_id: str,
    side: str = "buy",
    filled: str = "0.1",
    *,
    reduce_only: bool = False,
    at: datetime = T0,
    idx: int = 0,
) -> ExchangeOrder:
    return ExchangeOrder(
        link_id=link_id,
        order_id=f"o-{link_id}-{at.timestamp()}",
        symbol="BTCUSDT",
        order_side=side,  # type: ignore[arg-type]
        reduce_only=reduce_only,
        position_idx=idx,
        quantity=D(filled),
        filled=D(filled),
        status="Filled",
        created_at=at,
    )


def facts(
    bybit: str,
    held: dict[str, str] | None = None,
    targets: dict[str, str | None] | None = None,
    orders: list[ExchangeOrder] | None = None,
    *,
    step: str = "0.001",
    min_qty: str = "0.001",
) -> KeyFacts:
    return KeyFacts(
        symbol="BTCUSDT",
        side=Side.LONG,
        bybit=D(bybit),
        held={t: D(q) for t, q in (held or {}).items()},
        targets={t: (D(q) if q is not None else None) for t, q in (targets or {}).items()},
        step=D(step),
        min_qty=D(min_qty),
        orders=tuple(orders) if orders is not None else None,
        tags=TAGS,
    )


# ---- ids --------------------------------------------------------------------------------


def test_ids_carry_the_trader_and_fit_bybit() -> None:
    cid = bot_id()
    assert len(cid) == 36 and is_bot_order(cid) and tag_of(cid) == trader_tag(A)
    rid = repair_order_id(instance="salt", trader=B, symbol="BTCUSDT", side=Side.LONG, number=0)
    assert is_bot_order(rid) and tag_of(rid) == trader_tag(B) and rid != cid
    legacy = "ls-" + "a" * 30
    assert is_bot_order(legacy) and tag_of(legacy) is None
    for foreign in ("", "web-123", "ls-xyz", "LS-" + "a" * 30, cid + "0"):
        assert not is_bot_order(foreign)


# ---- ownership ------------------------------------------------------------------------------


def test_what_the_journal_explains_is_the_bots_without_any_order() -> None:
    assert ownership(D("0.1"), D("0.1"), None) is Ownership.BOT
    assert ownership(D("0.05"), D("0.1"), None) is Ownership.BOT


def test_beyond_the_journal_a_lookup_that_finds_nothing_proves_nothing() -> None:
    assert ownership(D("0.2"), D("0.1"), None) is Ownership.UNKNOWN
    assert ownership(D("0.2"), D("0.1"), ()) is Ownership.UNKNOWN
    unfilled = order("", filled="0")
    assert ownership(D("0.2"), D("0.1"), (unfilled,)) is Ownership.UNKNOWN


def test_one_hand_order_on_the_symbol_makes_it_ambiguous() -> None:
    mine = order(bot_id())
    assert ownership(D("0.2"), D("0.1"), (mine,)) is Ownership.BOT
    assert ownership(D("0.2"), D("0.1"), (mine, order(""))) is Ownership.HAND
    assert ownership(D("0.2"), D("0.1"), (mine, order("my-own-bot-1"))) is Ownership.HAND


def test_reduce_only_orders_not_the_bots_cannot_explain_an_excess() -> None:
    """Bybit's own stop-loss / take-profit orders (no orderLinkId, reduce-only) and hand
    reduces only ever made a position smaller: the excess stays the bot's."""
    mine, stop = order(bot_id()), order("", "sell", reduce_only=True)
    assert ownership(D("0.2"), D("0.1"), (mine, stop)) is Ownership.BOT
    assert ownership(D("0.2"), D("0.1"), (stop,)) is Ownership.UNKNOWN
    hand_open = order("", "sell")  # not reduce-only: may have opened or flipped
    assert ownership(D("0.2"), D("0.1"), (mine, stop, hand_open)) is Ownership.HAND


def test_order_side_in_both_position_modes() -> None:
    assert order_side_of(order("x", "buy"), False) is Side.LONG
    assert order_side_of(order("x", "sell", reduce_only=True), False) is Side.LONG
    assert order_side_of(order("x", "sell"), False) is Side.SHORT
    assert order_side_of(order("x", "buy", reduce_only=True), False) is Side.SHORT
    assert order_side_of(order("x", "sell", idx=1), True) is Side.LONG
    assert order_side_of(order("x", "buy", idx=2), True) is Side.SHORT


def test_attribution_follows_the_latest_bot_order_on_that_side() -> None:
    older = order(bot_id(A), at=T0)
    newer = order(bot_id(B, 1), at=T0 + timedelta(seconds=5))
    short = order(bot_id(A, 2), "sell", at=T0 + timedelta(seconds=9))  # the other side
    assert attribute((older, newer, short), Side.LONG, TAGS, False) == B
    assert attribute((older,), Side.LONG, {}, False) is None  # not a configured trader
    assert attribute((order("ls-" + "b" * 30),), Side.LONG, TAGS, False) is None


# ---- repairs at their boundaries ------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "target", "expected"),
    [
        ("0.101", "0.1", "0"),  # one step over: rounding, left alone
        ("0.102", "0.1", "0.002"),  # beyond one step: reduced to the target
        ("0.2", "0.1", "0.1"),
        ("0.1", "0.1", "0"),
        ("0.05", "0.1", "0"),  # below the target: never opened up
        ("0.1", "0", "0.1"),  # the leader is flat: closed outright
        ("0.001", "0", "0"),  # one step held, the leader flat: within one step
        ("0.002", "0", "0.002"),
    ],
)
def test_repair_qty_within_one_step_vs_beyond(held: str, target: str, expected: str) -> None:
    assert repair_qty(D(held), D(target), D("0.001"), D("0.001")) == D(expected)


def test_repair_never_leaves_a_remainder_below_the_minimum() -> None:
    # 0.35 held, target 0.2, min 0.1: reducing 0.15 leaves 0.2 (fine)
    assert repair_qty(D("0.35"), D("0.2"), D("0.01"), D("0.1")) == D("0.15")
    # 0.25 held, target 0.05: reducing 0.2 would leave 0.05 < min: reduce 0.15, keep 0.1
    assert repair_qty(D("0.25"), D("0.05"), D("0.01"), D("0.1")) == D("0.15")
    # an excess below the minimum order is not sendable
    assert repair_qty(D("0.15"), D("0.1"), D("0.01"), D("0.1")) == D(0)


def test_a_double_open_is_adopted_then_reduced_to_the_target() -> None:
    plan = plan_key(facts("0.2", {A: "0.1"}, {A: "0.1"}, [order(bot_id()), order(bot_id(A, 1))]))
    assert plan.drift and plan.owner is Ownership.BOT
    assert plan.adopted_by == A and plan.held == {A: D("0.2")}
    assert plan.repairs == ((A, D("0.1")),)


def test_within_one_step_is_no_repair_but_still_drift() -> None:
    plan = plan_key(facts("0.101", {A: "0.1"}, {A: "0.1"}, [order(bot_id())]))
    assert plan.drift and plan.repairs == () and plan.held == {A: D("0.101")}


def test_ambiguous_ownership_is_reported_never_repaired() -> None:
    plan = plan_key(facts("0.6", {A: "0.1"}, {A: "0"}, [order(bot_id()), order("")]))
    assert plan.owner is Ownership.HAND
    assert plan.repairs == () and plan.adopted_by is None
    assert plan.held == {A: D("0.1")} and plan.unexplained == D("0.5")
    assert plan.needs_user  # the bot's ids are there too: only the user can tell


def test_a_hand_position_with_no_bot_order_is_left_alone_quietly() -> None:
    plan = plan_key(facts("0.5", {}, {A: "0"}, [order("")]))
    assert plan.repairs == () and plan.unexplained == D("0.5") and not plan.needs_user


def test_an_unknown_leader_book_blocks_repair() -> None:
    plan = plan_key(facts("0.2", {A: "0.2"}, {A: None}))
    assert plan.repairs == () and not plan.drift


def test_excess_the_journal_explains_is_reduced_when_the_leader_is_flat() -> None:
    # e.g. rebuilt after a lost journal, and the leader closed while the bot was down
    plan = plan_key(facts("0.1", {A: "0.1"}, {A: "0"}))
    assert not plan.drift and plan.repairs == ((A, D("0.1")),)


def test_bybit_below_the_journal_shrinks_the_journal_and_never_opens() -> None:
    plan = plan_key(facts("0.04", {A: "0.1", B: "0.05"}, {A: "0.1", B: "0"}))
    assert plan.drift and plan.repairs == ()
    assert sum(plan.held.values()) == D("0.04")
    assert plan.held[B] == 0  # B is flat on the leader's side: shrunk first
    closed = plan_key(facts("0", {A: "0.1"}, {A: "0.1"}))
    assert closed.held == {A: D(0)} and closed.repairs == ()


def test_repairs_never_exceed_what_bybit_holds() -> None:
    for bybit in ("0.1", "0.15", "0.3"):
        plan = plan_key(facts(bybit, {A: "0.1"}, {A: "0"}, [order(bot_id())]))
        assert sum((q for _, q in plan.repairs), D(0)) <= D(bybit)


def test_ratio_target_floors_like_sizing() -> None:
    assert ratio_target(D("1.2345"), D("0.1"), D(1), D("0.001")) == D("0.123")
    assert ratio_target(D("1000"), D("0.1"), D("0.001"), D("1")) == D("0")


def test_unknown_bot_orders_are_those_the_journal_lacks() -> None:
    known, lost, hand = order(bot_id()), order(bot_id(A, 1)), order("")
    unfilled = order(bot_id(A, 2), filled="0")
    found = unknown_bot_orders([known, lost, hand, unfilled], {known.link_id}, None)
    assert found == [lost]
    assert unknown_bot_orders([lost], set(), T0) == []  # accepted up to then
    assert unknown_bot_orders([lost], set(), T0 - timedelta(seconds=1)) == [lost]
