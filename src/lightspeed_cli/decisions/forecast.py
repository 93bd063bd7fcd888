"""`lightspeed traders forecast`: what following a leader would have done. Pure: no I/O, no clock.

The leader's order-history (newest orders last here) is turned back into the books the bot
would have seen: the opening book is today's positions minus every order of the window, and
each moment an order filled gives the next book. Each book goes through the engine's own
pure pipeline: `diff` -> `expand_flip` -> the "not mirrored" skip -> `decide` (symbol mapping,
sizing, Bybit's min / max quantity, step and min notional, every safety check and cap). A
simulated follower book takes each approved order at the leader's fill price (scaled to the
Bybit contract), paying `fee_rate` of its notional, so the forecast shows what the user's
settings and Bybit's filters would have copied, what they would have refused and why, how far
the follower's exposure would have strayed from what the sizing intended, and the PnL.

Optimistic on purpose where the engine can only be worse: every order is seen on its own (a
real poll may merge a few), no latency, Bybit filled at the leader's price, the price
divergence check passes (no historical Bybit price), equity stays as given.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import groupby

from pydantic import BaseModel, ConfigDict

from lightspeed_cli.config.choices import SizingMode
from lightspeed_cli.config.sections import CopySettings, SafetySettings, SizingSettings
from lightspeed_cli.decisions.decide import DecisionContext, decide
from lightspeed_cli.decisions.diff import diff, expand_flip
from lightspeed_cli.decisions.safety import resolve_leverage
from lightspeed_cli.decisions.sizing import leader_equity_ratio
from lightspeed_cli.decisions.symbols import SymbolMap
from lightspeed_cli.models import (
    LeaderLot,
    LeaderOrder,
    PositionKey,
    Refusal,
    Side,
    Signal,
    SignalKind,
    Snapshot,
    SymbolMapping,
    TraderPosition,
)

_ZERO = Decimal(0)
NOT_MIRRORED = "not_mirrored"  # the engine's skip: a change of a position the follower lacks
BEFORE_WINDOW = "opened_before_window"  # ... because the leader opened it before the window
BookKey = tuple[str, str]  # (symbol, positionSide BOTH / LONG / SHORT)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ForecastChange(_Out):
    """One leader change (a flip is two) and what the follower would have done with it."""

    time: datetime
    symbol: str
    side: Side
    kind: SignalKind
    leader_qty: Decimal  # the leader's size change
    leader_price: Decimal  # the leader's fill price
    bybit_symbol: str | None
    outcome: str  # copied / refused / not_followed
    qty: Decimal = _ZERO  # follower Bybit contracts
    fee_usdt: Decimal = _ZERO
    check: str = ""
    reason: str = ""


class ForecastPoint(_Out):
    """The follower against the leader after one moment of the leader's history."""

    time: datetime
    leader_pnl_usdt: Decimal  # the leader's realized PnL (order-history totalPnl) so far
    follower_pnl_usdt: Decimal  # the follower's realized PnL less fees so far
    intended_notional_usdt: Decimal  # leader's copied positions x the intended ratio
    follower_notional_usdt: Decimal


class ForecastReport(_Out):
    trader: str
    start: datetime
    end: datetime
    history_complete: bool  # False: the order history read did not reach back to `start`
    sizing_mode: SizingMode
    sizing_value: Decimal
    equity_usdt: Decimal
    leader_balance_usdt: Decimal | None
    fee_rate: Decimal
    filters_from: str
    leader_orders: int
    leader_changes: int
    copied: int
    refused: int
    not_followed: int
    refused_by_reason: dict[str, int]
    not_followed_by_reason: dict[str, int]
    exposure_error_mean_pct: Decimal | None
    exposure_error_max_pct: Decimal | None
    exposure_samples: int
    follower_realized_pnl_usdt: Decimal
    follower_fees_usdt: Decimal
    follower_net_pnl_usdt: Decimal  # realized less fees
    follower_unrealized_pnl_usdt: Decimal  # what the follower still holds, at the last price
    leader_realized_pnl_usdt: Decimal
    notes: list[str]
    changes: list[ForecastChange]
    series: list[ForecastPoint]


@dataclass(frozen=True)
class ForecastInputs:
    """Everything the replay needs, read by the shell (cli/forecast_cmd.py)."""

    trader: str
    orders: Sequence[LeaderOrder]  # any order; those outside [start_ms, end_ms] are ignored
    current: Sequence[TraderPosition]  # the leader's open positions at `end_ms`
    start_ms: int
    end_ms: int
    symbols: SymbolMap
    sizing: SizingSettings
    safety: SafetySettings
    copy: CopySettings
    equity_usdt: Decimal
    leader_balance_usdt: Decimal | None
    fee_rate: Decimal
    filters_from: str = ""
    history_complete: bool = True
    lots: Sequence[LeaderLot] | None = None  # position-history, to check the opening book
    lots_complete: bool = False


@dataclass
class _Lot:
    qty: Decimal = _ZERO
    entry: Decimal = _ZERO


@dataclass
class _Follower:
    """The simulated follower account: positions by (Bybit symbol, side), PnL by UTC day."""

    lots: dict[tuple[str, Side], _Lot] = field(default_factory=dict)
    realized: Decimal = _ZERO
    fees: Decimal = _ZERO
    by_day: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def held(self, key: tuple[str, Side]) -> Decimal:
        lot = self.lots.get(key)
        return lot.qty if lot else _ZERO

    def fill(
        self,
        key: tuple[str, Side],
        opening: bool,
        qty: Decimal,
        price: Decimal,
        fee_rate: Decimal,
        day: str,
    ) -> Decimal:
        """Book one fill; returns its fee."""
        fee = qty * price * fee_rate
        lot = self.lots.setdefault(key, _Lot())
        pnl = _ZERO
        if opening:
            lot.entry = (lot.entry * lot.qty + price * qty) / (lot.qty + qty)
            lot.qty += qty
        else:
            qty = min(qty, lot.qty)
            pnl = (price - lot.entry) * qty * _sign(key[1])
            lot.qty -= qty
            if lot.qty <= 0:
                del self.lots[key]
        self.realized += pnl
        self.fees += fee
        self.by_day[day] += pnl - fee
        return fee

    def notional(self) -> Decimal:
        return sum((lot.qty * lot.entry for lot in self.lots.values()), _ZERO)


def _sign(side: Side) -> Decimal:
    return Decimal(1) if side is Side.LONG else Decimal(-1)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _n(value: Decimal) -> str:
    return f"{value.normalize():f}"


# --- the leader's books -------------------------------------------------------------------------


def opening_book(
    current: Iterable[TraderPosition], orders: Sequence[LeaderOrder]
) -> tuple[dict[BookKey, Decimal], list[str]]:
    """The leader's signed amounts before `orders`: today's positions minus what the orders did.

    A symbol the orders trade in hedge mode (LONG / SHORT) is keyed by that side, any other by
    BOTH. An amount the orders cannot explain (a LONG side below 0: the history is incomplete)
    is dropped, with a note."""
    hedged = {o.symbol for o in orders if o.position_side != "BOTH"}
    book: dict[BookKey, Decimal] = defaultdict(Decimal)
    for p in current:
        book[(p.symbol, p.side.name if p.symbol in hedged else "BOTH")] += p.size * _sign(p.side)
    for o in orders:
        book[(o.symbol, o.position_side)] -= o.signed_qty
    notes = []
    for (symbol, ps), amount in list(book.items()):
        if amount == 0 or (ps == "LONG" and amount < 0) or (ps == "SHORT" and amount > 0):
            if amount != 0:
                notes.append(
                    f"{symbol} {ps}: the order history does not explain today's position"
                    f" ({_n(amount)} left before the window): started flat"
                )
            del book[(symbol, ps)]
    return dict(book), notes


def _positions(
    book: dict[BookKey, Decimal], prices: dict[str, Decimal], leverage: dict[str, int]
) -> tuple[TraderPosition, ...]:
    out: dict[PositionKey, TraderPosition] = {}
    for (symbol, _), amount in sorted(book.items()):
        side = Side.LONG if amount > 0 else Side.SHORT
        size = abs(amount) + (out[(symbol, side)].size if (symbol, side) in out else _ZERO)
        price = prices[symbol]
        out[(symbol, side)] = TraderPosition(
            symbol=symbol,
            side=side,
            size=size,
            entry_price=price,
            mark_price=price,
            leverage=leverage.get(symbol, 1),
        )
    return tuple(out.values())


# --- the replay ---------------------------------------------------------------------------------


@dataclass
class _Replay:
    inputs: ForecastInputs
    follower: _Follower = field(default_factory=_Follower)
    changes: list[ForecastChange] = field(default_factory=list)
    series: list[ForecastPoint] = field(default_factory=list)
    errors: list[Decimal] = field(default_factory=list)
    ratios: dict[PositionKey, Decimal] = field(default_factory=dict)  # tracked leader positions
    before: set[PositionKey] = field(default_factory=set)  # open at the window's start
    prices: dict[str, Decimal] = field(default_factory=dict)  # Binance symbol -> last fill
    leader_pnl: Decimal = _ZERO
    count: int = 0

    @property
    def sizing(self) -> SizingSettings:
        return self.inputs.sizing

    def mapping(self, symbol: str) -> SymbolMapping | Refusal:
        return self.inputs.symbols.resolve(symbol)

    def step(self, previous: Snapshot | None, snapshot: Snapshot) -> None:
        copy = self.inputs.copy
        signals = diff(
            previous, snapshot, follow_existing=copy.follow_existing, size_epsilon=copy.size_epsilon
        )
        for signal in signals:
            for leg in expand_flip(signal):
                self.leg(leg)
        self.measure(snapshot)

    def leg(self, signal: Signal) -> None:
        mapping = self.mapping(signal.symbol)
        mapped = mapping if isinstance(mapping, SymbolMapping) else None
        key = (signal.symbol, signal.side)
        follower_key = (mapped.market.symbol if mapped else signal.symbol, signal.side)
        held = self.follower.held(follower_key)
        if signal.kind is SignalKind.OPEN:
            self.before.discard(key)
            self.ratios.pop(key, None)
            ratio = self.intended_ratio(signal, mapped)
            if ratio is not None:
                self.ratios[key] = ratio
        elif held <= 0:  # the engine skips it: we do not chase positions we did not open
            why = BEFORE_WINDOW if key in self.before else NOT_MIRRORED
            reason = (
                "the leader opened it before the window: not copied (copy.follow_existing)"
                if why == BEFORE_WINDOW
                else "not mirrored: its open was refused"
            )
            self.record(signal, mapped, "not_followed", check=why, reason=reason)
            self.forget(signal, key)
            return
        price = self.bybit_price(signal, mapped)
        self.count += 1
        decision = decide(
            signal,
            self.context(signal, mapping, mapped, held, price),
            sizing=self.sizing,
            safety=self.inputs.safety,
        )
        if decision.intent is None:
            refusal = decision.refusal or Refusal(check="unknown", reason="refused")
            self.record(signal, mapped, "refused", check=refusal.check, reason=refusal.reason)
        else:
            qty = decision.intent.quantity
            day = signal.snapshot_time.date().isoformat()
            opening = not signal.kind.is_risk_reducing
            fee = self.follower.fill(follower_key, opening, qty, price, self.inputs.fee_rate, day)
            self.record(signal, mapped, "copied", qty=qty, fee=fee)
        self.forget(signal, key)

    def forget(self, signal: Signal, key: PositionKey) -> None:
        if signal.kind is SignalKind.CLOSE:
            self.ratios.pop(key, None)
            self.before.discard(key)

    def context(
        self,
        signal: Signal,
        mapping: SymbolMapping | Refusal,
        mapped: SymbolMapping | None,
        held: Decimal,
        price: Decimal,
    ) -> DecisionContext:
        """What the engine would have gathered (Mirror._decide in engine/mirror.py), from the
        simulated book."""
        lots = self.follower.lots
        lot = lots.get((mapped.market.symbol, signal.side)) if mapped else None
        return DecisionContext(
            mapping=mapped,
            mapping_refusal=mapping if isinstance(mapping, Refusal) else None,
            bybit_last=price,
            equity_usdt=self.inputs.equity_usdt,
            leader_balance_usdt=self.inputs.leader_balance_usdt,
            held_qty=held,
            open_positions=len(lots),
            total_notional_usdt=self.follower.notional(),
            position_notional_usdt=lot.qty * lot.entry if lot else _ZERO,
            daily_realized_pnl_usdt=self.follower.by_day[signal.snapshot_time.date().isoformat()],
            now=signal.snapshot_time,
            client_order_id=f"forecast-{self.count}",
        )

    def bybit_price(self, signal: Signal, mapped: SymbolMapping | None) -> Decimal:
        """The leader's latest fill on the symbol (a close's position carries the price it
        was last seen at), in the Bybit contract's units."""
        return self.prices[signal.symbol] * (mapped.price_scale if mapped else Decimal(1))

    def intended_ratio(self, signal: Signal, mapped: SymbolMapping | None) -> Decimal | None:
        """Bybit contracts per leader unit the sizing means for this position (None: unknown).

        ratio and leader_equity say it outright; fixed_margin and equity_pct fix it at the open
        (margin x leverage / price, for the leader's opening size): increases keep it."""
        sizing, scale = self.sizing, (mapped.qty_scale if mapped else Decimal(1))
        if sizing.mode is SizingMode.RATIO:
            return sizing.value * scale
        if sizing.mode is SizingMode.LEADER_EQUITY:
            ratio = leader_equity_ratio(
                self.inputs.equity_usdt, self.inputs.leader_balance_usdt, sizing.value
            )
            return None if isinstance(ratio, Refusal) else ratio * scale
        if sizing.mode is SizingMode.FIXED_MARGIN:
            margin = sizing.value
        else:
            margin = self.inputs.equity_usdt * sizing.value / 100
        position = signal.position
        price = self.bybit_price(signal, mapped)
        if position is None or price <= 0 or margin <= 0:
            return None
        requested = sizing.leverage or position.leverage
        leverage = resolve_leverage(SignalKind.OPEN, requested, self.inputs.safety, mapped)
        return margin * leverage / price / signal.new_size

    def record(
        self,
        signal: Signal,
        mapped: SymbolMapping | None,
        outcome: str,
        *,
        qty: Decimal = _ZERO,
        fee: Decimal = _ZERO,
        check: str = "",
        reason: str = "",
    ) -> None:
        self.changes.append(
            ForecastChange(
                time=signal.snapshot_time,
                symbol=signal.symbol,
                side=signal.side,
                kind=signal.kind,
                leader_qty=abs(signal.new_size - signal.previous_size),
                leader_price=self.prices[signal.symbol],
                bybit_symbol=mapped.market.symbol if mapped else None,
                outcome=outcome,
                qty=qty,
                fee_usdt=fee,
                check=check,
                reason=reason,
            )
        )

    def measure(self, snapshot: Snapshot) -> None:
        """Exposure error of every tracked leader position, and one point of the series."""
        intended_total = follower_total = _ZERO
        for position in snapshot.positions:
            ratio = self.ratios.get(position.key)
            if ratio is None:
                continue
            mapping = self.mapping(position.symbol)
            mapped = mapping if isinstance(mapping, SymbolMapping) else None
            bybit = mapped.market.symbol if mapped else position.symbol
            intended = position.size * ratio
            actual = self.follower.held((bybit, position.side))
            price = position.mark_price * (mapped.price_scale if mapped else Decimal(1))
            intended_total += intended * price
            follower_total += actual * price
            if intended > 0:
                self.errors.append(abs(actual - intended) / intended)
        self.series.append(
            ForecastPoint(
                time=snapshot.fetched_at,
                leader_pnl_usdt=self.leader_pnl,
                follower_pnl_usdt=self.follower.realized - self.follower.fees,
                intended_notional_usdt=intended_total,
                follower_notional_usdt=follower_total,
            )
        )

    def unrealized(self, marks: dict[str, Decimal]) -> Decimal:
        """What the follower still holds, at the leader's mark (else its last fill)."""
        total = _ZERO
        scale = {}
        for symbol in self.prices:
            mapping = self.mapping(symbol)
            if isinstance(mapping, SymbolMapping):
                scale[mapping.market.symbol] = (symbol, mapping.price_scale)
        for (bybit, side), lot in self.follower.lots.items():
            symbol, price_scale = scale[bybit]
            mark = marks.get(symbol) or self.prices[symbol]
            total += (mark * price_scale - lot.entry) * lot.qty * _sign(side)
        return total


def _leverage_of(inputs: ForecastInputs) -> tuple[dict[str, int], list[str]]:
    """The leader's leverage per symbol: today's positions say it; for the others, the
    configured leverage, else the most common of today's, else 1 (with a note)."""
    known = {p.symbol: p.leverage for p in inputs.current}
    fallback = inputs.sizing.leverage or (Counter(known.values()).most_common(1) or [(1, 0)])[0][0]
    symbols = {o.symbol for o in inputs.orders} - set(known)
    notes = []
    if symbols and not inputs.sizing.leverage:
        notes.append(
            f"the leader's leverage is only known for open positions: {fallback}x assumed for"
            f" {len(symbols)} other symbol(s)"
        )
    return {**dict.fromkeys(symbols, fallback), **known}, notes


def _lot_notes(inputs: ForecastInputs, start: dict[BookKey, Decimal]) -> list[str]:
    """Where the position-history disagrees with the opening book the orders imply."""
    if inputs.lots is None:
        return []
    said = {(lot.symbol, lot.side) for lot in inputs.lots if lot.open_at(inputs.start_ms)}
    implied = {(symbol, Side.LONG if a > 0 else Side.SHORT) for (symbol, _), a in start.items()}
    missing = said - implied
    notes = [
        f"position history shows {s} {side.value} open at the start, the orders do not"
        for s, side in sorted(missing)
    ]
    if inputs.lots_complete:
        notes += [
            f"the orders imply {s} {side.value} open at the start, position history does not"
            for s, side in sorted(implied - said)
        ]
    return notes


def forecast(inputs: ForecastInputs) -> ForecastReport:
    """Replay the window through the engine's decisions; see the module docstring."""
    orders = sorted(
        (o for o in inputs.orders if inputs.start_ms <= o.time_ms <= inputs.end_ms),
        key=lambda o: o.time_ms,
    )
    later = [o for o in inputs.orders if o.time_ms > inputs.end_ms]
    book, notes = opening_book(inputs.current, [*orders, *later])
    notes += _lot_notes(inputs, book)
    leverage, more = _leverage_of(inputs)
    notes += more
    if not inputs.history_complete:
        notes.append(
            "the order history read stopped before the window's start (page limit): the"
            " forecast covers only the orders read"
        )
    marks = {p.symbol: p.mark_price for p in inputs.current}
    replay = _Replay(inputs)
    first = {o.symbol: o.avg_price for o in reversed(orders)}  # each symbol's first fill
    replay.prices = {**marks, **first}
    start = Snapshot(
        trader=inputs.trader,
        positions=_positions(book, replay.prices, leverage),
        fetched_at=_at(inputs.start_ms),
    )
    replay.before = set(start.by_key())
    replay.step(None, start)
    previous = start
    for ms, group in groupby(orders, key=lambda o: o.time_ms):
        for order in group:
            key = (order.symbol, order.position_side)
            book[key] = book.get(key, _ZERO) + order.signed_qty
            if book[key] == 0:
                del book[key]
            replay.prices[order.symbol] = order.avg_price
            replay.leader_pnl += order.pnl
        snapshot = Snapshot(
            trader=inputs.trader,
            positions=_positions(book, replay.prices, leverage),
            fetched_at=_at(ms),
        )
        replay.step(previous, snapshot)
        previous = snapshot
    replay.series.append(replay.series[-1].model_copy(update={"time": _at(inputs.end_ms)}))
    return _report(inputs, replay, len(orders), marks, notes)


def _report(
    inputs: ForecastInputs,
    replay: _Replay,
    orders: int,
    marks: dict[str, Decimal],
    notes: list[str],
) -> ForecastReport:
    by_outcome: dict[str, Counter[str]] = defaultdict(Counter)
    for change in replay.changes:
        by_outcome[change.outcome][change.check] += 1
    errors = replay.errors
    hundred = Decimal(100)
    follower = replay.follower
    return ForecastReport(
        trader=inputs.trader,
        start=_at(inputs.start_ms),
        end=_at(inputs.end_ms),
        history_complete=inputs.history_complete,
        sizing_mode=inputs.sizing.mode,
        sizing_value=inputs.sizing.value,
        equity_usdt=inputs.equity_usdt,
        leader_balance_usdt=inputs.leader_balance_usdt,
        fee_rate=inputs.fee_rate,
        filters_from=inputs.filters_from,
        leader_orders=orders,
        leader_changes=len(replay.changes),
        copied=sum(by_outcome["copied"].values()),
        refused=sum(by_outcome["refused"].values()),
        not_followed=sum(by_outcome["not_followed"].values()),
        refused_by_reason=dict(by_outcome["refused"].most_common()),
        not_followed_by_reason=dict(by_outcome["not_followed"].most_common()),
        exposure_error_mean_pct=sum(errors, _ZERO) / len(errors) * hundred if errors else None,
        exposure_error_max_pct=max(errors) * hundred if errors else None,
        exposure_samples=len(errors),
        follower_realized_pnl_usdt=follower.realized,
        follower_fees_usdt=follower.fees,
        follower_net_pnl_usdt=follower.realized - follower.fees,
        follower_unrealized_pnl_usdt=replay.unrealized(marks),
        leader_realized_pnl_usdt=replay.leader_pnl,
        notes=notes,
        changes=replay.changes,
        series=replay.series,
    )
