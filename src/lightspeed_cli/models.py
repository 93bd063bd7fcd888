"""Domain types shared by every stage of the pipeline.

Quantities and prices are `Decimal` end to end: float rounding on a quantity step can turn a
valid order into one Bybit rejects, or a close into one that leaves dust behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Side(StrEnum):
    """Position side (not order side)."""

    LONG = "long"
    SHORT = "short"

    @property
    def opposite(self) -> Side:
        return Side.SHORT if self is Side.LONG else Side.LONG

    @property
    def open_order_side(self) -> Literal["buy", "sell"]:
        """Order side that grows a position of this side."""
        return "buy" if self is Side.LONG else "sell"

    @property
    def close_order_side(self) -> Literal["buy", "sell"]:
        """Order side that shrinks a position of this side."""
        return "sell" if self is Side.LONG else "buy"


class SourceKind(StrEnum):
    LEADERBOARD = "leaderboard"
    COPYTRADE = "copytrade"
    HYPERLIQUID = "hyperliquid"  # a wallet address (0x + 40 hex), read from the public API


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


PositionKey = tuple[str, Side]
"""(Binance symbol, position side): how positions are matched between snapshots."""


class TraderPosition(_Frozen):
    """One open position of a lead trader, as Binance reported it."""

    symbol: str = Field(min_length=1, description="Binance symbol, e.g. BTCUSDT")
    side: Side
    size: Decimal = Field(gt=0, description="absolute position size in contracts/base units")
    entry_price: Decimal = Field(ge=0)
    mark_price: Decimal = Field(ge=0)
    leverage: int = Field(ge=1, le=200)
    pnl: Decimal = Decimal(0)
    update_time: datetime | None = None

    @property
    def key(self) -> PositionKey:
        return (self.symbol, self.side)


class Snapshot(_Frozen):
    """A trader's complete book at one instant; only built from a well-formed success answer."""

    trader: str
    positions: tuple[TraderPosition, ...] = ()
    fetched_at: datetime
    source_time: datetime | None = None
    # the leader's account value when the source tells it with the book (Hyperliquid's
    # marginSummary.accountValue), for leader_equity sizing; None = not said here
    leader_equity: Decimal | None = None

    def by_key(self) -> dict[PositionKey, TraderPosition]:
        return {p.key: p for p in self.positions}


class FetchStatus(StrEnum):
    OK = "ok"
    HIDDEN = "hidden"  # trader stopped sharing: never "flat"
    ERROR = "error"  # transport / HTTP / parse error: never "flat"


class FetchResult(_Frozen):
    """Outcome of one poll. `snapshot` is set if and only if status is OK."""

    trader: str
    status: FetchStatus
    snapshot: Snapshot | None = None
    reason: str = ""
    fetched_at: datetime


class SignalKind(StrEnum):
    OPEN = "open"
    INCREASE = "increase"
    REDUCE = "reduce"
    CLOSE = "close"
    FLIP = "flip"  # one-way trader went long->short or short->long: close then open

    @property
    def is_risk_reducing(self) -> bool:
        """Reduces and closes must never be blocked by opening-risk checks."""
        return self in (SignalKind.REDUCE, SignalKind.CLOSE)


class Signal(_Frozen):
    """A change in one of a trader's positions, between two snapshots.

    For FLIP, `side` is the new side and `previous_size` is the size held on the old side.
    """

    trader: str
    kind: SignalKind
    symbol: str
    side: Side
    previous_size: Decimal = Field(ge=0)
    new_size: Decimal = Field(ge=0)
    reduce_fraction: Decimal | None = Field(default=None, gt=0, le=1)
    position: TraderPosition | None = None  # the trader's position after the change (None on close)
    previous_position: TraderPosition | None = None
    snapshot_time: datetime
    source_time: datetime | None = None


class MarketInfo(_Frozen):
    """A Bybit USDT linear perpetual, with the limits an order must respect."""

    symbol: str  # Bybit id, e.g. BTCUSDT, 1000PEPEUSDT
    ccxt_symbol: str  # unified, e.g. BTC/USDT:USDT
    base: str
    quote: str = "USDT"
    qty_step: Decimal = Field(gt=0)
    min_qty: Decimal = Field(ge=0)
    max_qty: Decimal | None = None
    min_notional: Decimal = Decimal(0)
    tick_size: Decimal = Decimal("0.01")
    max_leverage: Decimal = Decimal(100)
    multiplier: Decimal = Decimal(1)  # units of `base` per contract-name unit (1000PEPE -> 1000)


class OrderIntent(_Frozen):
    """One market order the bot intends to send, before safety has ruled on it."""

    trader: str
    signal_kind: SignalKind
    binance_symbol: str
    symbol: str  # Bybit id
    side: Side  # position side the order acts on
    order_side: Literal["buy", "sell"]
    quantity: Decimal = Field(gt=0)
    reduce_only: bool
    leverage: int = Field(ge=1)
    reference_price: Decimal = Field(ge=0)  # leader's mark price when the change was seen
    # the worst price an open may fill at on Bybit (Bybit's units): sent as an IOC limit, so a
    # stale cached price can never fill beyond the divergence check; None: unbounded (closes)
    limit_price: Decimal | None = Field(default=None, gt=0)
    client_order_id: str = Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9_-]+$")
    # when the journal first committed this order: an order Bybit already had under the same id
    # from before then is not this one (a journal restored from an older copy re-derives ids)
    journaled_at: datetime | None = None


class Refusal(_Frozen):
    """Why a trade was not made. `value` and `limit` are in the unit the check names."""

    check: str
    reason: str
    value: Decimal | str | None = None
    limit: Decimal | str | None = None


class Decision(_Frozen):
    """The verdict on one signal: the intent to send, or the refusal that stopped it."""

    signal: Signal
    intent: OrderIntent | None = None
    refusal: Refusal | None = None

    @property
    def approved(self) -> bool:
        return self.intent is not None and self.refusal is None


class Fill(_Frozen):
    """What the exchange says happened to an order."""

    client_order_id: str
    order_id: str
    symbol: str
    order_side: Literal["buy", "sell"]
    quantity: Decimal  # filled quantity
    price: Decimal | None  # average fill price
    fee: Decimal = Decimal(0)
    status: Literal["filled", "partially_filled", "open", "canceled", "rejected"]
    sent_at: datetime | None = None
    acked_at: datetime | None = None


class ExchangeOrder(_Frozen):
    """One order as Bybit lists it (order/realtime or /history): who sent it, what it did."""

    link_id: str  # orderLinkId ("" for an order placed without one, e.g. by hand)
    order_id: str
    symbol: str
    order_side: Literal["buy", "sell"]
    reduce_only: bool = False
    position_idx: int = 0
    quantity: Decimal = Decimal(0)
    filled: Decimal = Decimal(0)
    status: str = ""
    created_at: datetime | None = None


class FollowerPosition(_Frozen):
    """A position on the follower's (Bybit) account."""

    symbol: str  # Bybit id
    side: Side
    size: Decimal = Field(ge=0)
    entry_price: Decimal = Decimal(0)
    mark_price: Decimal = Decimal(0)
    leverage: Decimal = Decimal(1)
    unrealized_pnl: Decimal = Decimal(0)


class SymbolMapping(_Frozen):
    """How a Binance contract maps onto a Bybit market.

    Contract names can carry a multiplier (1000PEPE, SHIB1000): `qty_scale` converts a Binance
    quantity into Bybit contracts and `price_scale` a Binance price into a Bybit price.
    """

    binance_symbol: str
    market: MarketInfo
    qty_scale: Decimal = Field(default=Decimal(1), gt=0)
    price_scale: Decimal = Field(default=Decimal(1), gt=0)


# The leader's own records (Binance lead portfolios today): read by sources/, matched by
# decisions/fillmatch and replayed by decisions/forecast.
LEADER_STOPPED = frozenset({"CLOSING", "CLOSED"})


@dataclass(frozen=True, slots=True)
class LeaderOrder:
    """One filled order of the leader. No exchange id: identity is the whole row."""

    symbol: str
    position_side: Literal["BOTH", "LONG", "SHORT"]
    side: Literal["BUY", "SELL"]
    qty: Decimal
    avg_price: Decimal
    time_ms: int  # orderUpdateTime (orderTime when missing)
    pnl: Decimal = Decimal(0)  # totalPnl: what the order realized for the leader

    @property
    def signed_qty(self) -> Decimal:
        return self.qty if self.side == "BUY" else -self.qty

    def acts_on(self, side: Side, *, opening: bool) -> bool:
        """True if this order can grow (`opening`) or shrink a `side` position."""
        if self.position_side != "BOTH" and self.position_side != side.name:
            return False
        grows_long = self.side == "BUY"
        return grows_long == (opening == (side is Side.LONG))


@dataclass(frozen=True, slots=True)
class LeaderLot:
    """One position-history row: a position of the leader from its open to its full close."""

    symbol: str
    side: Side
    opened_ms: int
    closed_ms: int | None  # None while (partly) open

    def open_at(self, ms: int) -> bool:
        return self.opened_ms < ms and (self.closed_ms is None or self.closed_ms >= ms)


@dataclass(frozen=True, slots=True)
class LeaderDetail:
    status: str  # ACTIVE / CLOSING / CLOSED ("" when not said)
    margin_balance: Decimal | None
    nickname: str = ""

    @property
    def stopped(self) -> bool:
        return self.status.upper() in LEADER_STOPPED


# The journal's records (journal/): what the bot holds, sent and decided, read by every stage
# above it. Plain (unfrozen) models, as the journal has always returned them.


class OrderStatus(StrEnum):
    INTENT = "intent"  # committed, may or may not have reached Bybit
    FILLED = "filled"
    FAILED = "failed"  # Bybit does not have it (rejected, or confirmed never placed)
    UNKNOWN = "unknown"  # sent, outcome not known: must be looked up before anything else


class SignalDecision(StrEnum):
    PENDING = "pending"
    EXECUTED = "executed"
    REFUSED = "refused"
    SKIPPED = "skipped"
    FAILED = "failed"


class MirroredPosition(BaseModel):
    """The bot's own position on Bybit for one (trader, Bybit symbol, side), as journaled."""

    trader: str
    symbol: str
    side: Side
    binance_symbol: str
    quantity: Decimal
    entry_price: Decimal
    opened_at: datetime
    updated_at: datetime


class OrderRow(BaseModel):
    """One journaled order: committed before it was sent, then its outcome."""

    client_order_id: str
    signal_id: int | None
    trader: str
    binance_symbol: str
    symbol: str
    side: Side
    order_side: str
    kind: str
    quantity: Decimal
    reduce_only: bool
    leverage: int
    reference_price: Decimal
    status: OrderStatus
    outcome: str | None = None
    error: str | None = None
    exchange_order_id: str | None = None
    fill_qty: Decimal | None = None
    fill_price: Decimal | None = None
    fee: Decimal | None = None
    leader_change_at: datetime | None = None
    snapshot_at: datetime | None = None
    created_at: datetime
    sent_at: datetime | None = None
    acked_at: datetime | None = None
    slippage_bps: Decimal | None = None
    detection_latency_ms: float | None = None
    leader_fill_price: Decimal | None = None
    leader_fill_at: datetime | None = None


class BookEntry(BaseModel):
    """One key of the leader book: the trader's position as acted on, and what its client
    order ids are derived from (version, attempt)."""

    position: TraderPosition | None
    version: int
    attempt: int
