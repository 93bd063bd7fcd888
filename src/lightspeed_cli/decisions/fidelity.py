"""Copy fidelity: how closely and how quickly the follower tracked the leader.

Per executed order: copy slippage in bps (signed so that worse than the leader is positive, for
buys and sells alike), detection latency (leader's change -> our order sent) and ack latency
(sent -> acknowledged). Over many orders: median / p99 / worst. Plus the follower's exposure
error against the configured ratio, in the Bybit market's quantity steps.

Pure: no I/O. Slippage is Decimal (it is computed from prices); latencies are float milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from lightspeed_cli.models import Side, Signal, SignalKind

OrderSide = Literal["buy", "sell"]
BPS = Decimal(10_000)


def order_side_for(kind: SignalKind, side: Side) -> OrderSide:
    """The order side that carries out a signal. For FLIP, `side` is the new side: closing the
    old side and opening the new one are both this side's opening order side."""
    if kind.is_risk_reducing:
        return side.close_order_side
    return side.open_order_side


def slippage_bps(
    order_side: OrderSide,
    leader_price: Decimal,
    fill_price: Decimal,
    price_scale: Decimal = Decimal(1),
) -> Decimal:
    """Copy slippage in bps; positive means our fill was worse than the leader's price.

    A buy is worse when we paid more, a sell when we received less. `price_scale` converts the
    leader's (Binance) price into the Bybit contract's units when the multipliers differ.
    Raises ValueError if the leader's price is not positive.
    """
    reference = leader_price * price_scale
    if reference <= 0:
        raise ValueError(f"leader price must be positive, got {leader_price}")
    raw = (fill_price - reference) / reference * BPS
    return raw if order_side == "buy" else -raw


def _utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC, so mixing naive and aware never raises."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _ms(start: datetime, end: datetime) -> float:
    return (_utc(end) - _utc(start)).total_seconds() * 1000.0


def leader_change_time(snapshot_time: datetime, source_time: datetime | None = None) -> datetime:
    """When the leader's change happened, as best we know: the source's own update time when it
    gives one (and it is not after we saw it, which would be clock skew), else the snapshot time."""
    if source_time is not None and _utc(source_time) <= _utc(snapshot_time):
        return source_time
    return snapshot_time


def signal_change_time(signal: Signal) -> datetime:
    """leader_change_time for a signal: its source time, else the changed position's update
    time (not for closes, where no position remains), else its snapshot time."""
    source = signal.source_time
    if source is None and signal.position is not None:
        source = signal.position.update_time
    return leader_change_time(signal.snapshot_time, source)


def detection_latency_ms(
    order_sent_at: datetime, snapshot_time: datetime, source_time: datetime | None = None
) -> float:
    """Leader's change -> our order sent, in milliseconds."""
    return _ms(leader_change_time(snapshot_time, source_time), order_sent_at)


def ack_latency_ms(order_sent_at: datetime, order_acked_at: datetime | None) -> float | None:
    """Order sent -> exchange acknowledged, in milliseconds; None if never acknowledged."""
    return None if order_acked_at is None else _ms(order_sent_at, order_acked_at)


def leader_reference_price(signal: Signal) -> Decimal | None:
    """The leader's price for this change, in Binance units, or None if unknown.

    Open / flip: the new position's entry price (what the leader paid). Increase: the price the
    added size was bought at, from the change in average entry, falling back to the mark price
    when that is not positive. Reduce / close: the mark price when seen (Binance gives no exit
    price).
    """
    pos, prev = signal.position, signal.previous_position
    if signal.kind in (SignalKind.OPEN, SignalKind.FLIP) and pos is not None:
        return _positive(pos.entry_price) or _positive(pos.mark_price)
    if signal.kind is SignalKind.INCREASE and pos is not None:
        added = pos.size - (prev.size if prev else Decimal(0))
        if prev is not None and added > 0:
            marginal = (pos.size * pos.entry_price - prev.size * prev.entry_price) / added
            if marginal > 0:
                return marginal
        return _positive(pos.mark_price)
    held = pos if signal.kind is SignalKind.REDUCE and pos is not None else prev
    return _positive(held.mark_price) if held is not None else None


def _positive(value: Decimal) -> Decimal | None:
    return value if value > 0 else None


class FidelityRecord(BaseModel):
    """How one executed order tracked the leader: the journal stores one per order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trader: str
    symbol: str  # Binance symbol
    bybit_symbol: str | None = None
    client_order_id: str | None = None
    side: Side  # position side acted on
    order_side: OrderSide
    signal_kind: SignalKind
    leader_change_time: datetime
    snapshot_time: datetime
    order_sent_at: datetime
    order_acked_at: datetime | None = None
    leader_price: Decimal | None = None  # Binance units
    fill_price: Decimal | None = None  # Bybit units
    slippage_bps: Decimal | None = None
    detection_latency_ms: float
    ack_latency_ms: float | None = None

    @classmethod
    def from_signal(
        cls,
        signal: Signal,
        *,
        order_sent_at: datetime,
        order_acked_at: datetime | None = None,
        fill_price: Decimal | None = None,
        leader_price: Decimal | None = None,
        price_scale: Decimal = Decimal(1),
        order_side: OrderSide | None = None,
        bybit_symbol: str | None = None,
        client_order_id: str | None = None,
    ) -> FidelityRecord:
        """Build the record for one order of a signal; derived fields are computed here.

        `leader_price` defaults to leader_reference_price(signal); slippage is None when either
        price is missing (an unfilled order, an unknown leader price).
        """
        side = order_side or order_side_for(signal.kind, signal.side)
        leader = leader_price if leader_price is not None else leader_reference_price(signal)
        slip = None
        if fill_price is not None and leader is not None and leader > 0:
            slip = slippage_bps(side, leader, fill_price, price_scale)
        change = signal_change_time(signal)
        return cls(
            trader=signal.trader,
            symbol=signal.symbol,
            bybit_symbol=bybit_symbol,
            client_order_id=client_order_id,
            side=signal.side,
            order_side=side,
            signal_kind=signal.kind,
            leader_change_time=change,
            snapshot_time=signal.snapshot_time,
            order_sent_at=order_sent_at,
            order_acked_at=order_acked_at,
            leader_price=leader,
            fill_price=fill_price,
            slippage_bps=slip,
            detection_latency_ms=_ms(change, order_sent_at),
            ack_latency_ms=ack_latency_ms(order_sent_at, order_acked_at),
        )


N = TypeVar("N", Decimal, float)


def percentile(values: Sequence[N], pct: float) -> N:
    """Linear-interpolated percentile (numpy's default) of a non-empty sequence."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile must be within 0..100, got {pct}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * Fraction(str(pct)) / 100  # exact: no 2.9699999 ranks
    low, high = math.floor(rank), math.ceil(rank)
    lo_v, hi_v = ordered[low], ordered[high]
    if low == high or lo_v == hi_v:
        return lo_v
    frac = rank - low
    if isinstance(lo_v, Decimal):
        return lo_v + (hi_v - lo_v) * Decimal(frac.numerator) / Decimal(frac.denominator)
    return lo_v + (hi_v - lo_v) * float(frac)


class Distribution(BaseModel, Generic[N]):
    """Median, p99 and worst (largest: for slippage and latency, larger is worse)."""

    model_config = ConfigDict(frozen=True)

    count: int = Field(ge=1)
    median: N
    p99: N
    worst: N

    @classmethod
    def of(cls, values: Sequence[N]) -> Distribution[N] | None:
        if not values:
            return None
        return cls(
            count=len(values),
            median=percentile(values, 50),
            p99=percentile(values, 99),
            worst=max(values),
        )


class FidelitySummary(BaseModel):
    """Fidelity over a set of records; a distribution is None when nothing fed it."""

    model_config = ConfigDict(frozen=True)

    records: int
    slippage_bps: Distribution[Decimal] | None = None
    detection_latency_ms: Distribution[float] | None = None
    ack_latency_ms: Distribution[float] | None = None


def summarize(records: Iterable[FidelityRecord]) -> FidelitySummary:
    """Median / p99 / worst of slippage and latencies over the records."""
    rows = list(records)
    slips = [r.slippage_bps for r in rows if r.slippage_bps is not None]
    acks = [r.ack_latency_ms for r in rows if r.ack_latency_ms is not None]
    return FidelitySummary(
        records=len(rows),
        slippage_bps=Distribution[Decimal].of(slips),
        detection_latency_ms=Distribution[float].of([r.detection_latency_ms for r in rows]),
        ack_latency_ms=Distribution[float].of(acks),
    )


def exposure_error_steps(
    leader_qty: Decimal,
    follower_qty: Decimal,
    ratio: Decimal,
    qty_scale: Decimal,
    qty_step: Decimal,
) -> Decimal:
    """Follower's exposure error against the configured ratio, in Bybit quantity steps.

    target = leader_qty x ratio x qty_scale (Bybit contracts); the result is
    (follower_qty - target) / qty_step, signed: positive means the follower holds too much.
    Pass signed net positions (long > 0, short < 0) to catch a follower on the wrong side.
    """
    if qty_step <= 0:
        raise ValueError(f"qty_step must be positive, got {qty_step}")
    return (follower_qty - leader_qty * ratio * qty_scale) / qty_step
