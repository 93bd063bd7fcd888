"""The fidelity report of `lightspeed simulate`: the scenario's truth against what Bybit got.

Three sources, each trusted for one thing: the scenario (what the leaders did and when), the
fake Bybit's order log (what was really traded) and the bot's journal (which leader change each
order was for, refusals and their reasons, when orders were sent, slippage). Every order in the
log is either matched to exactly one leader change (mirrored) or counted as extra, so
`mirrored + extra == bybit_orders` always holds.

Pure: no I/O. `RunFacts` is gathered by sim/simulate.py after the run.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from lightspeed_cli.decisions.fidelity import Distribution, exposure_error_steps
from lightspeed_cli.models import Side, SignalKind, SymbolMapping
from lightspeed_cli.sim.bybit import OrderRecord
from lightspeed_cli.sim.scenario import (
    LeaderChange,
    Playback,
    Scenario,
    final_books,
    leader_changes,
)

STEPS_PLACES = Decimal("0.0001")  # exposure error, in quantity steps
BPS_PLACES = Decimal("0.01")  # slippage
RATIO_PLACES = Decimal("0.000001")

Outcome = Literal["mirrored", "refused", "skipped", "failed", "unseen"]
ONE_STEP = Decimal(1)


@dataclass(frozen=True)
class RunFacts:
    """Everything a report is built from, gathered once the bot has stopped."""

    scenario: Scenario
    playback: Playback
    history: Sequence[Mapping[str, Any]]  # Journal.history(): signals joined with their orders
    orders: Sequence[OrderRecord]  # the fake Bybit's order log
    rejections: int  # orders the fake Bybit refused
    positions: Sequence[tuple[str, Side, Decimal]]  # the fake Bybit's open positions at the end
    seconds: float
    poll_interval: float
    binance_rtt_ms: float
    bybit_rtt_ms: float
    # per order: (snapshot received -> order handed to the broker ms, Bybit requests between)
    hot_path: Sequence[tuple[float, int]] = ()
    budget_per_second: float = 0.0  # Binance request budget (one exit)
    busiest_second: int = 0  # most position reads (polls) in any one-second window of the run
    busiest_second_all: int = 0  # the same with the lead-portfolio reads counted too


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class ChangeRow(_Model):
    """One leader change, what the bot did about it, and the follower's exposure after it."""

    step: int
    t: float | None  # seconds from the start of the simulation to the leader's change
    trader: str
    label: str
    symbol: str
    bybit_symbol: str | None
    side: Side
    kind: SignalKind
    previous_size: Decimal
    new_size: Decimal
    expected: Literal["mirror", "refuse"]
    expected_reason: str = ""  # for an expected refusal: text its reason must contain
    outcome: Outcome
    reason: str = ""
    client_order_id: str | None = None
    order_side: str | None = None
    order_qty: Decimal | None = None
    fill_price: Decimal | None = None
    ratio: Decimal
    target_qty: Decimal | None = None  # leader size x ratio x qty_scale, in Bybit contracts
    follower_qty: Decimal | None = None  # what the follower held for this trader afterwards
    follower_ratio: Decimal | None = None  # follower / leader, in leader units
    error_steps: Decimal | None = None
    detection_latency_ms: float | None = None  # leader's change -> our order sent
    on_bybit_ms: float | None = None  # leader's change -> our order on Bybit (fake's order log)
    bot_latency_ms: float | None = None  # snapshot received -> sent (the bot's own work)
    # the leader's own fill from order-history, when it was read: slippage_bps is then measured
    # against its price, leader_latency_ms from its order time to our order sent
    leader_fill_price: Decimal | None = None
    leader_latency_ms: float | None = None
    slippage_bps: Decimal | None = None

    @property
    def as_expected(self) -> bool:
        if self.expected == "mirror":
            return self.outcome == "mirrored"
        if self.outcome == "refused":
            return self.expected_reason in self.reason
        return self.outcome == "skipped"  # the open was refused, so later changes are skipped


class OrderRow(_Model):
    """One order of the fake Bybit's log, with the leader change it was matched to."""

    t: float
    client_order_id: str
    bybit_symbol: str
    symbol: str | None  # Binance symbol, from the journal
    trader: str | None
    side: Side | None  # position side acted on
    order_side: str
    qty: Decimal
    filled_qty: Decimal
    price: Decimal
    reduce_only: bool
    matched: bool
    note: str = ""


class PositionRow(_Model):
    bybit_symbol: str
    side: Side
    follower_qty: Decimal
    expected_qty: Decimal
    error_steps: Decimal


class LatencySummary(_Model):
    samples: int
    median_ms: float | None
    p99_ms: float | None
    worst_ms: float | None
    bot_median_ms: float | None  # snapshot received -> order sent (the bot's own work)
    on_bybit_median_ms: float | None  # leader's change -> order on Bybit: what the floor bounds
    on_bybit_p99_ms: float | None
    bot_p99_ms: float | None
    leader_samples: int = 0  # orders with the leader's own order time (order-history)
    leader_median_ms: float | None = None  # the leader's order time -> our order sent
    leader_p99_ms: float | None = None
    poll_interval_ms: float
    binance_rtt_ms: float
    bybit_rtt_ms: float
    own_work_ms: float  # median snapshot -> order of the orders with no Bybit request before
    floor_ms: float  # poll interval / 2 + Binance RTT + own work + Bybit RTT
    p99_target_ms: float  # one poll interval + both RTTs + 20 ms
    round_trips_median: float | None  # Bybit requests between snapshot and order, per order
    round_trips_max: int | None
    orders_without_round_trips: int
    round_trip_orders: int  # orders the round trips were counted for
    busiest_second: int  # most position reads (polls) in any one-second window
    busiest_second_all: int = 0  # every Binance request (the leaders' reads too)
    budget_per_second: float


class SlippageSummary(_Model):
    samples: int
    median_bps: Decimal | None
    p99_bps: Decimal | None
    worst_bps: Decimal | None  # largest: worse than the leader is positive
    best_bps: Decimal | None
    leader_fill_samples: int = 0  # measured against the leader's own fill price (order-history)


class FidelityReport(_Model):
    scenario: str
    started_at: datetime
    seconds: float
    poll_interval_s: float
    step_spacing_s: float
    completed: bool  # every scripted step was played and polled before the bot stopped
    leader_changes: int
    mirrored: int
    refused: int  # refused or skipped, as the scenario expects (no Bybit market)
    missed: int
    extra: int
    bybit_orders: int
    bybit_rejections: int
    max_abs_error_steps: Decimal | None
    exact: bool  # 0 missed, 0 extra, every exposure error within 1 step, scenario completed
    latency: LatencySummary
    slippage: SlippageSummary
    changes: list[ChangeRow]
    orders: list[OrderRow]
    positions: list[PositionRow]
    notes: list[str]


# --- matching ---------------------------------------------------------------------------------

_Key = tuple[str, str, str, str, Decimal, Decimal]


def _change_key(c: LeaderChange) -> _Key:
    return (c.trader, c.symbol, c.side.value, c.kind.value, c.previous_size, c.new_size)


def _row_key(r: Mapping[str, Any]) -> _Key:
    return (
        r["trader"],
        r["symbol"],
        r["side"],
        r["kind"],
        Decimal(r["previous_size"]),
        Decimal(r["new_size"]),
    )


def _q(value: Decimal | None, places: Decimal) -> Decimal | None:
    """Rounded for reading (the report's tables and JSON); exact values stay in the journal."""
    return None if value is None else value.quantize(places)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _seconds(start: datetime, moment: datetime | None) -> float | None:
    return None if moment is None else round((moment - start).total_seconds(), 3)


class _Journal:
    """The journal's signal rows, consumed one leader change at a time."""

    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self._by_key: dict[_Key, list[Mapping[str, Any]]] = defaultdict(list)
        for r in rows:
            self._by_key[_row_key(r)].append(r)
        self.by_cid = {r["client_order_id"]: r for r in rows if r.get("client_order_id")}

    def take(self, change: LeaderChange, after: datetime | None) -> Mapping[str, Any] | None:
        """The row that settled this change: its executed row if any, else its first one.

        Rows journaled before the change happened belong to an earlier, identical change.
        """
        rows = self._by_key.get(_change_key(change), [])
        fresh = [r for r in rows if after is None or _ts(r["created_at"]) >= after]
        if not fresh:
            return None
        chosen = next((r for r in fresh if r["decision"] == "executed"), fresh[0])
        cut = rows.index(chosen)
        del rows[: cut + 1]  # failed attempts before it were for this change too
        return chosen


def _outcome(row: Mapping[str, Any] | None, orders: Mapping[str, OrderRecord]) -> Outcome:
    if row is None:
        return "unseen"
    decision = row["decision"]
    if decision == "executed" and row.get("client_order_id") in orders:
        return "mirrored"
    if decision in ("refused", "skipped"):
        return decision  # type: ignore[no-any-return]
    return "failed"


def _reason(row: Mapping[str, Any] | None, outcome: Outcome) -> str:
    if row is None:
        return "the bot never saw this change"
    if outcome == "failed" and row["decision"] == "executed":
        return "the journal says filled, but Bybit has no such order"
    parts = [row.get("check_name"), row.get("reason")]
    return ": ".join(str(p) for p in parts if p)


# --- exposure ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fill:
    at: datetime
    trader: str | None
    symbol: str | None
    side: Side | None
    delta: Decimal  # signed by reduce / add, in Bybit contracts


def _fills(orders: Iterable[OrderRecord], journal: _Journal) -> list[_Fill]:
    out = []
    for o in orders:
        row = journal.by_cid.get(o.order_link_id)
        delta = -o.filled_qty if o.reduce_only else o.filled_qty
        out.append(
            _Fill(
                o.created_at,
                row["trader"] if row else None,
                row["symbol"] if row else None,
                Side(row["side"]) if row else None,
                delta,
            )
        )
    return out


def _held(fills: Iterable[_Fill], trader: str, symbol: str, side: Side, until: datetime) -> Decimal:
    return sum(
        (
            f.delta
            for f in fills
            if (f.trader, f.symbol, f.side) == (trader, symbol, side) and f.at <= until
        ),
        Decimal(0),
    )


def _next_applied(
    changes: Sequence[LeaderChange], index: int, playback: Playback
) -> datetime | None:
    """When the same trader's next step was applied (the end of this change's window)."""
    change = changes[index]
    for later in changes[index + 1 :]:
        if later.trader == change.trader and later.step > change.step:
            return playback.applied_at(later.step, later.trader)
    return None


# --- building ---------------------------------------------------------------------------------


def build_report(facts: RunFacts, *, now: datetime) -> FidelityReport:
    """Match every leader change to the journal and the order log; measure exposure and timing."""
    scenario, playback = facts.scenario, facts.playback
    start = playback.started_at
    mappings = scenario.mappings()
    journal = _Journal(facts.history)
    by_link = {o.order_link_id: o for o in facts.orders}
    fills = _fills(facts.orders, journal)
    changes = leader_changes(scenario)
    used: set[str] = set()
    rows: list[ChangeRow] = []
    for i, change in enumerate(changes):
        applied = playback.applied_at(change.step, change.trader)
        row = journal.take(change, applied) if applied is not None else None
        outcome = _outcome(row, by_link)
        expected: Literal["mirror", "refuse"] = (
            "refuse" if change.symbol in scenario.refused else "mirror"
        )
        order = by_link.get(row["client_order_id"]) if row and outcome == "mirrored" else None
        if order is not None and expected == "mirror":
            used.add(order.order_link_id)
        until = order.created_at if order is not None else (_next_applied(changes, i, playback))
        rows.append(
            _change_row(
                facts, change, applied, row, outcome, expected, order, mappings, fills, until or now
            )
        )
    orders = [_order_row(o, start, journal, o.order_link_id in used) for o in facts.orders]
    positions = _positions(scenario, mappings, facts.positions)
    missed = sum(1 for r in rows if not r.as_expected and r.outcome != "mirrored")
    extra = sum(1 for o in orders if not o.matched)
    errors = [abs(r.error_steps) for r in rows if r.error_steps is not None]
    errors += [abs(p.error_steps) for p in positions]
    max_error = max(errors) if errors else None
    notes = _notes(facts, rows)
    return FidelityReport(
        scenario=scenario.name,
        started_at=start,
        seconds=facts.seconds,
        poll_interval_s=facts.poll_interval,
        step_spacing_s=round(playback.spacing_seconds, 3),
        completed=playback.completed,
        leader_changes=len(rows),
        mirrored=sum(1 for r in rows if r.expected == "mirror" and r.outcome == "mirrored"),
        refused=sum(1 for r in rows if r.expected == "refuse" and r.as_expected),
        missed=missed,
        extra=extra,
        bybit_orders=len(facts.orders),
        bybit_rejections=facts.rejections,
        max_abs_error_steps=max_error,
        exact=(
            missed == 0
            and extra == 0
            and playback.completed
            and (max_error is None or max_error <= ONE_STEP)
        ),
        latency=_latency(facts, rows),
        slippage=_slippage(rows),
        changes=rows,
        orders=orders,
        positions=positions,
        notes=notes,
    )


def _change_row(
    facts: RunFacts,
    change: LeaderChange,
    applied: datetime | None,
    row: Mapping[str, Any] | None,
    outcome: Outcome,
    expected: Literal["mirror", "refuse"],
    order: OrderRecord | None,
    mappings: Mapping[str, SymbolMapping],
    fills: Sequence[_Fill],
    until: datetime,
) -> ChangeRow:
    scenario = facts.scenario
    trader = scenario.trader(change.trader)
    ratio = scenario.ratio_for(change.trader)
    mapping = mappings.get(change.symbol) if expected == "mirror" else None
    target = follower = follower_ratio = error = None
    if mapping is not None:
        market = mapping.market
        target = change.new_size * ratio * mapping.qty_scale
        follower = _held(fills, change.trader, change.symbol, change.side, until)
        error = exposure_error_steps(
            change.new_size, follower, ratio, mapping.qty_scale, market.qty_step
        )
        if change.new_size > 0:
            follower_ratio = follower / (change.new_size * mapping.qty_scale)
    latency = bot_latency = slippage = on_bybit = leader_price = leader_latency = None
    if order is not None and row is not None:
        sent = _ts(row.get("sent_at")) or _ts(row["created_at"])
        received = _ts(row.get("snapshot_time"))
        if applied is not None and sent is not None:
            latency = (sent - applied).total_seconds() * 1000
            on_bybit = (order.created_at - applied).total_seconds() * 1000
        if received is not None and sent is not None:
            bot_latency = (sent - received).total_seconds() * 1000
        slippage = Decimal(row["slippage_bps"]) if row.get("slippage_bps") else None
        if row.get("leader_fill_price"):
            leader_price = Decimal(row["leader_fill_price"])
            leader_latency = row.get("detection_latency_ms")
    return ChangeRow(
        step=change.step,
        t=_seconds(facts.playback.started_at, applied),
        trader=change.trader,
        label=trader.label,
        symbol=change.symbol,
        bybit_symbol=mapping.market.symbol if mapping else None,
        side=change.side,
        kind=change.kind,
        previous_size=change.previous_size,
        new_size=change.new_size,
        expected=expected,
        expected_reason=scenario.refused.get(change.symbol, ""),
        outcome=outcome,
        reason="" if outcome == "mirrored" else _reason(row, outcome),
        client_order_id=row.get("client_order_id") if row else None,
        order_side=order.side if order else None,
        order_qty=order.filled_qty if order else None,
        fill_price=order.price if order else None,
        ratio=ratio,
        target_qty=target,
        follower_qty=follower,
        follower_ratio=_q(follower_ratio, RATIO_PLACES),
        error_steps=_q(error, STEPS_PLACES),
        detection_latency_ms=_ms(latency),
        on_bybit_ms=_ms(on_bybit),
        bot_latency_ms=_ms(bot_latency),
        leader_fill_price=leader_price,
        leader_latency_ms=_ms(leader_latency),
        slippage_bps=_q(slippage, BPS_PLACES),
    )


def _order_row(o: OrderRecord, start: datetime, journal: _Journal, matched: bool) -> OrderRow:
    row = journal.by_cid.get(o.order_link_id)
    note = "" if matched else ("not in the journal" if row is None else "matches no leader change")
    return OrderRow(
        t=round((o.created_at - start).total_seconds(), 3),
        client_order_id=o.order_link_id,
        bybit_symbol=o.symbol,
        symbol=row["symbol"] if row else None,
        trader=row["trader"] if row else None,
        side=Side(row["side"]) if row else None,
        order_side=o.side,
        qty=o.qty,
        filled_qty=o.filled_qty,
        price=o.price,
        reduce_only=o.reduce_only,
        matched=matched,
        note=note,
    )


def expected_positions(
    scenario: Scenario, mappings: Mapping[str, SymbolMapping]
) -> dict[tuple[str, Side], Decimal]:
    """Bybit (symbol, side) -> the follower's target after the last step, summed over traders."""
    out: dict[tuple[str, Side], Decimal] = defaultdict(Decimal)
    for trader, book in final_books(scenario).items():
        ratio = scenario.ratio_for(trader)
        for (symbol, side), size in book.items():
            mapping = mappings.get(symbol)
            if mapping is not None and symbol not in scenario.refused:
                out[(mapping.market.symbol, side)] += size * ratio * mapping.qty_scale
    return dict(out)


def _positions(
    scenario: Scenario,
    mappings: Mapping[str, SymbolMapping],
    held: Iterable[tuple[str, Side, Decimal]],
) -> list[PositionRow]:
    expected = expected_positions(scenario, mappings)
    actual = {(symbol, side): size for symbol, side, size in held}
    steps = {m.market.symbol: m.market.qty_step for m in mappings.values()}
    out = []
    for symbol, side in sorted(expected.keys() | actual.keys(), key=lambda k: (k[0], k[1].value)):
        want, got = expected.get((symbol, side), Decimal(0)), actual.get((symbol, side), Decimal(0))
        step = steps.get(symbol, Decimal(1))
        error = exposure_error_steps(want, got, Decimal(1), Decimal(1), step)
        out.append(PositionRow(bybit_symbol=symbol, side=side, follower_qty=got, expected_qty=want,
                               error_steps=error.quantize(STEPS_PLACES)))  # fmt: skip
    return out


def _latency(facts: RunFacts, rows: Sequence[ChangeRow]) -> LatencySummary:
    true = Distribution[float].of(
        [r.detection_latency_ms for r in rows if r.detection_latency_ms is not None]
    )
    bot = Distribution[float].of([r.bot_latency_ms for r in rows if r.bot_latency_ms is not None])
    leader = Distribution[float].of(
        [r.leader_latency_ms for r in rows if r.leader_latency_ms is not None]
    )
    landed = Distribution[float].of([r.on_bybit_ms for r in rows if r.on_bybit_ms is not None])
    interval_ms = facts.poll_interval * 1000
    trips = [t for _, t in facts.hot_path]
    direct = [ms for ms, t in facts.hot_path if t == 0] or [ms for ms, _ in facts.hot_path]
    own = Distribution[float].of(direct)
    own_ms = own.median if own else 0.0
    rtts = facts.binance_rtt_ms + facts.bybit_rtt_ms
    return LatencySummary(
        samples=true.count if true else 0,
        median_ms=_ms(true.median) if true else None,
        p99_ms=_ms(true.p99) if true else None,
        worst_ms=_ms(true.worst) if true else None,
        bot_median_ms=_ms(bot.median) if bot else None,
        on_bybit_median_ms=_ms(landed.median) if landed else None,
        on_bybit_p99_ms=_ms(landed.p99) if landed else None,
        bot_p99_ms=_ms(bot.p99) if bot else None,
        leader_samples=leader.count if leader else 0,
        leader_median_ms=_ms(leader.median) if leader else None,
        leader_p99_ms=_ms(leader.p99) if leader else None,
        poll_interval_ms=interval_ms,
        binance_rtt_ms=round(facts.binance_rtt_ms, 1),
        bybit_rtt_ms=round(facts.bybit_rtt_ms, 1),
        own_work_ms=round(own_ms, 2),
        floor_ms=round(interval_ms / 2 + rtts + own_ms, 1),
        p99_target_ms=round(interval_ms + rtts + 20, 1),
        round_trips_median=statistics.median(trips) if trips else None,
        round_trips_max=max(trips) if trips else None,
        orders_without_round_trips=trips.count(0),
        round_trip_orders=len(trips),
        busiest_second=facts.busiest_second,
        busiest_second_all=facts.busiest_second_all,
        budget_per_second=facts.budget_per_second,
    )


def _slippage(rows: Sequence[ChangeRow]) -> SlippageSummary:
    values = [r.slippage_bps for r in rows if r.slippage_bps is not None]
    dist = Distribution[Decimal].of(values)
    return SlippageSummary(
        samples=len(values),
        median_bps=_q(dist.median, BPS_PLACES) if dist else None,
        p99_bps=_q(dist.p99, BPS_PLACES) if dist else None,
        worst_bps=dist.worst if dist else None,
        best_bps=min(values) if values else None,
        leader_fill_samples=sum(
            1 for r in rows if r.slippage_bps is not None and r.leader_fill_price is not None
        ),
    )


def _notes(facts: RunFacts, rows: Sequence[ChangeRow]) -> list[str]:
    notes = []
    played = len(facts.playback.steps)
    if not facts.playback.completed:
        notes.append(
            f"the scenario did not finish: {played} of {len(facts.scenario.steps)} steps were"
            f" played and polled within {facts.seconds:g} s; run with more --seconds"
        )
    for r in rows:
        if r.expected == "refuse" and r.outcome == "refused" and not r.as_expected:
            notes.append(f"{r.symbol} was refused, but not for {r.expected_reason!r}: {r.reason}")
    if facts.rejections:
        notes.append(f"Bybit rejected {facts.rejections} order(s): see the journal")
    return notes
