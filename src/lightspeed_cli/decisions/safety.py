"""Local safety checks: each a small pure function returning None (pass) or a Refusal.

Boundaries: a `max_*` limit is inclusive (value == limit passes, value > limit refuses); the
daily loss kill switch fires AT its limit (loss >= limit). Values and limits carry the unit in
the check name (bps, usdt, seconds, x for leverage).

A check must never leave the user holding a position the trader has left, so REDUCE and CLOSE
are judged only by "is there a Bybit market for it" (without one there is nothing to close).
Every opening-risk check (divergence, leverage, caps, open positions, allow/deny lists,
snapshot age, kill switch) applies to OPEN and INCREASE only. A stale snapshot that shows the
trader left a position is still a true "the trader left" (it is a well-formed answer), so it
does not block the close either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from lightspeed_cli.config.choices import LeveragePolicy
from lightspeed_cli.config.sections import SafetySettings
from lightspeed_cli.models import Refusal, Side, Signal, SignalKind, SymbolMapping

BPS_PER_UNIT = Decimal(10_000)

OPENING_KINDS = frozenset({SignalKind.OPEN, SignalKind.INCREASE})
ALL_KINDS = frozenset({SignalKind.OPEN, SignalKind.INCREASE, SignalKind.REDUCE, SignalKind.CLOSE})


# --- refusals the engine asks for before sizing -----------------------------------------------


class Held(Protocol):
    """One trader's mirrored position on a Bybit symbol and side (the journal's book row)."""

    @property
    def trader(self) -> str: ...

    @property
    def symbol(self) -> str: ...

    @property
    def side(self) -> Side: ...


def paused_refusal(paused_by: str | None, signal: Signal) -> Refusal | None:
    """Opens and increases are refused while paused (`paused_by`: who paused, None = not
    paused); reduces and closes never are."""
    if paused_by is None or signal.kind.is_risk_reducing:
        return None
    return Refusal(
        check="paused",
        reason=f"opens are paused (by {paused_by}); `lightspeed resume` or /resume allows them"
        " again",
    )


def opposite_holders(
    signal: Signal, bybit_symbol: str, held: Iterable[Held], *, hedge_mode: bool
) -> list[str]:
    """Who holds the other side of this open's symbol, where one-way netting matters: never in
    a hedge-mode account, never for a reduce or close, never without a Bybit symbol."""
    if hedge_mode or signal.kind.is_risk_reducing or not bybit_symbol:
        return []
    other = signal.side.opposite
    return sorted(m.trader for m in held if m.symbol == bybit_symbol and m.side is other)


def one_way_conflict(
    signal: Signal, bybit_symbol: str, held: Iterable[Held], *, hedge_mode: bool
) -> Refusal | None:
    """A one-way account holds one side per symbol: opening the other side for a second trader
    would silently net against the first trader's mirrored position."""
    holders = opposite_holders(signal, bybit_symbol, held, hedge_mode=hedge_mode)
    if not holders:
        return None
    other = signal.side.opposite
    return Refusal(
        check="one_way_conflict",
        reason=f"the one-way Bybit account holds {bybit_symbol} {other.value} for"
        f" {', '.join(holders)}; a {signal.side.value} would net against it"
        " (use a hedge-mode account to follow both)",
        value=signal.side.value,
        limit=other.value,
    )


# --- the checks -----------------------------------------------------------------------------


def divergence_bps(binance_mark: Decimal, bybit_last: Decimal) -> Decimal:
    """|mark - last| / mark in basis points (1 bp = 0.01 %). Requires mark > 0."""
    return abs(binance_mark - bybit_last) / binance_mark * BPS_PER_UNIT


def check_price_divergence(
    binance_mark: Decimal, bybit_last: Decimal, max_price_divergence_bps: Decimal
) -> Refusal | None:
    """Refuse when Bybit's last price is more than the limit (in bps) away from Binance's mark.

    `binance_mark` must already be in Bybit's price units (x mapping.price_scale). A missing
    price (<= 0) refuses: without both prices the check cannot vouch for the order.
    """
    if binance_mark <= 0 or bybit_last <= 0:
        return Refusal(
            check="price_divergence_bps",
            reason=f"no usable price: Binance mark {binance_mark}, Bybit last {bybit_last}",
            value=None,
            limit=max_price_divergence_bps,
        )
    bps = divergence_bps(binance_mark, bybit_last)
    if bps <= max_price_divergence_bps:
        return None
    return Refusal(
        check="price_divergence_bps",
        reason=(
            f"Bybit last {bybit_last} is {bps:.2f} bps from the leader's mark {binance_mark};"
            f" limit {max_price_divergence_bps} bps"
        ),
        value=bps,
        limit=max_price_divergence_bps,
    )


def open_price_bound(
    reference: Decimal, max_price_divergence_bps: Decimal, order_side: str
) -> Decimal | None:
    """The worst fill an open accepts: the reference (Bybit's units) x (1 +/- the divergence
    limit), so the exchange enforces what the check saw; None without a reference."""
    if reference <= 0:
        return None
    away = max_price_divergence_bps / BPS_PER_UNIT
    return reference * (1 + away if order_side == "buy" else 1 - away)


def clamp_leverage(requested_leverage: int, max_leverage: int, policy: LeveragePolicy) -> int:
    """The leverage an order will use: the request, or the limit under the clamp policy."""
    if policy is LeveragePolicy.CLAMP:
        return max(1, min(requested_leverage, max_leverage))
    return requested_leverage


def check_leverage(
    requested_leverage: int, max_leverage: int, policy: LeveragePolicy
) -> Refusal | None:
    """Above the limit: refused under the refuse policy; under clamp, `clamp_leverage` lowers it."""
    if requested_leverage <= max_leverage or policy is LeveragePolicy.CLAMP:
        return None
    return Refusal(
        check="leverage_x",
        reason=f"leverage {requested_leverage}x is above the maximum {max_leverage}x",
        value=Decimal(requested_leverage),
        limit=Decimal(max_leverage),
    )


def check_symbol_listed(
    binance_symbol: str, mapping: SymbolMapping | None, mapping_refusal: Refusal | None = None
) -> Refusal | None:
    """No Bybit market for the symbol: the mapper's own refusal, or a generic one."""
    if mapping is not None:
        return None
    return mapping_refusal or Refusal(
        check="symbol_listed",
        reason=f"{binance_symbol} has no Bybit USDT perpetual",
        value=binance_symbol,
    )


def check_allow_deny(
    symbols: Iterable[str], allow_symbols: Sequence[str], deny_symbols: Sequence[str]
) -> Refusal | None:
    """`symbols` are the names the contract goes by (Binance and Bybit); any match counts.

    The deny list wins over the allow list; an empty allow list allows everything.
    """
    names = sorted({s.upper() for s in symbols})
    denied = [s for s in names if s in set(deny_symbols)]
    if denied:
        return Refusal(
            check="deny_symbols",
            reason=f"{denied[0]} is on the deny list",
            value=denied[0],
        )
    if allow_symbols and not set(names) & set(allow_symbols):
        return Refusal(
            check="allow_symbols",
            reason=f"{'/'.join(names)} is not on the allow list",
            value="/".join(names),
        )
    return None


def _check_notional_cap(
    check: str, what: str, held_usdt: Decimal, order_usdt: Decimal, limit_usdt: Decimal
) -> Refusal | None:
    after = held_usdt + order_usdt
    if after <= limit_usdt:
        return None
    return Refusal(
        check=check,
        reason=(
            f"{what} would be {after} USDT ({held_usdt} held + {order_usdt} ordered);"
            f" limit {limit_usdt} USDT"
        ),
        value=after,
        limit=limit_usdt,
    )


def check_position_notional(
    position_notional_usdt: Decimal,
    order_notional_usdt: Decimal,
    max_position_notional_usdt: Decimal,
) -> Refusal | None:
    """The symbol's position notional after the order must stay within the cap."""
    return _check_notional_cap(
        "position_notional_usdt",
        "position notional",
        position_notional_usdt,
        order_notional_usdt,
        max_position_notional_usdt,
    )


def check_total_notional(
    total_notional_usdt: Decimal, order_notional_usdt: Decimal, max_total_notional_usdt: Decimal
) -> Refusal | None:
    """The account's total open notional after the order must stay within the cap."""
    return _check_notional_cap(
        "total_notional_usdt",
        "total open notional",
        total_notional_usdt,
        order_notional_usdt,
        max_total_notional_usdt,
    )


def check_open_positions(open_positions: int, max_open_positions: int) -> Refusal | None:
    """An OPEN adds one position: refused when `open_positions + 1` would exceed the limit."""
    after = open_positions + 1
    if after <= max_open_positions:
        return None
    return Refusal(
        check="open_positions",
        reason=(
            f"opening would make {after} open positions ({open_positions} held);"
            f" limit {max_open_positions}"
        ),
        value=Decimal(after),
        limit=Decimal(max_open_positions),
    )


def seconds_between(earlier: datetime, later: datetime) -> Decimal:
    """Exact seconds from `earlier` to `later` (no float rounding at the boundary)."""
    delta: timedelta = later - earlier
    return Decimal(delta.days * 86_400 + delta.seconds) + Decimal(delta.microseconds) / 10**6


def check_snapshot_age(
    fetched_at: datetime, now: datetime, max_snapshot_age_seconds: float
) -> Refusal | None:
    """Refuse to open from a snapshot older than the limit: the trader may have moved on."""
    age = seconds_between(fetched_at, now)
    limit = Decimal(str(max_snapshot_age_seconds))
    if age <= limit:
        return None
    return Refusal(
        check="snapshot_age_seconds",
        reason=f"snapshot is {age} s old; limit {limit} s",
        value=age,
        limit=limit,
    )


def check_daily_loss(
    daily_realized_loss_usdt: Decimal, daily_loss_limit_usdt: Decimal
) -> Refusal | None:
    """Kill switch: a realized loss today (positive = loss) at or past the limit stops opens.

    "Today" is the UTC day: the caller sums realized PnL since 00:00 UTC, so the switch resets
    by itself at the next UTC midnight.
    """
    if daily_realized_loss_usdt < daily_loss_limit_usdt:
        return None
    return Refusal(
        check="daily_loss_usdt",
        reason=(
            f"kill switch: realized loss today {daily_realized_loss_usdt} USDT reached the limit"
            f" {daily_loss_limit_usdt} USDT; no new opens until 00:00 UTC"
        ),
        value=daily_realized_loss_usdt,
        limit=daily_loss_limit_usdt,
    )


# --- evaluation -----------------------------------------------------------------------------


class SafetyContext(BaseModel):
    """Everything the checks need about one order, gathered by the caller."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    binance_symbol: str
    binance_mark: Decimal = Field(description="trader's mark price, in Binance price units")
    bybit_last: Decimal
    mapping: SymbolMapping | None
    mapping_refusal: Refusal | None = None
    requested_leverage: int = Field(ge=1)
    order_notional_usdt: Decimal = Field(ge=0)
    position_notional_usdt: Decimal = Field(default=Decimal(0), ge=0)
    total_notional_usdt: Decimal = Field(default=Decimal(0), ge=0)
    open_positions: int = Field(default=0, ge=0)
    snapshot_fetched_at: datetime
    now: datetime
    daily_realized_pnl_usdt: Decimal = Decimal(0)  # negative = loss

    @property
    def symbols(self) -> tuple[str, ...]:
        """Every name the contract goes by: the Binance symbol and, if mapped, the Bybit one."""
        if self.mapping is None:
            return (self.binance_symbol,)
        return (self.binance_symbol, self.mapping.market.symbol)


class SafetyVerdict(BaseModel):
    """All failing checks, most fundamental first (see PRIORITY), and the leverage to use."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    refusals: tuple[Refusal, ...] = ()
    leverage: int = Field(ge=1)
    leverage_clamped: bool = False

    @property
    def approved(self) -> bool:
        return not self.refusals

    @property
    def first_refusal(self) -> Refusal | None:
        return self.refusals[0] if self.refusals else None


def leverage_limit(safety: SafetySettings, mapping: SymbolMapping | None) -> int:
    """The tighter of the configured maximum and the Bybit market's maximum leverage."""
    limit = safety.max_leverage
    if mapping is not None:
        limit = min(limit, max(1, int(mapping.market.max_leverage)))
    return limit


def resolve_leverage(
    kind: SignalKind, requested_leverage: int, safety: SafetySettings, mapping: SymbolMapping | None
) -> int:
    """Leverage the order uses. Risk-reducing orders are always clamped (never refused)."""
    limit = leverage_limit(safety, mapping)
    policy = LeveragePolicy.CLAMP if kind.is_risk_reducing else safety.leverage_policy
    return clamp_leverage(requested_leverage, limit, policy)


CheckFn = Callable[[SafetyContext, SafetySettings], Refusal | None]


@dataclass(frozen=True)
class SafetyCheck:
    name: str
    kinds: frozenset[SignalKind]
    run: CheckFn


def _run_divergence(ctx: SafetyContext, s: SafetySettings) -> Refusal | None:
    scale = ctx.mapping.price_scale if ctx.mapping is not None else Decimal(1)
    return check_price_divergence(
        ctx.binance_mark * scale, ctx.bybit_last, s.max_price_divergence_bps
    )


CHECKS: tuple[SafetyCheck, ...] = (
    SafetyCheck(
        "symbol_listed",
        ALL_KINDS,
        lambda c, s: check_symbol_listed(c.binance_symbol, c.mapping, c.mapping_refusal),
    ),
    SafetyCheck("price_divergence_bps", OPENING_KINDS, _run_divergence),
    SafetyCheck(
        "leverage_x",
        OPENING_KINDS,
        lambda c, s: check_leverage(
            c.requested_leverage, leverage_limit(s, c.mapping), s.leverage_policy
        ),
    ),
    SafetyCheck(
        "allow_deny",
        OPENING_KINDS,
        lambda c, s: check_allow_deny(c.symbols, s.allow_symbols, s.deny_symbols),
    ),
    SafetyCheck(
        "position_notional_usdt",
        OPENING_KINDS,
        lambda c, s: check_position_notional(
            c.position_notional_usdt, c.order_notional_usdt, s.max_position_notional_usdt
        ),
    ),
    SafetyCheck(
        "total_notional_usdt",
        OPENING_KINDS,
        lambda c, s: check_total_notional(
            c.total_notional_usdt, c.order_notional_usdt, s.max_total_notional_usdt
        ),
    ),
    SafetyCheck(
        "open_positions",
        frozenset({SignalKind.OPEN}),  # an INCREASE adds no position
        lambda c, s: check_open_positions(c.open_positions, s.max_open_positions),
    ),
    SafetyCheck(
        "snapshot_age_seconds",
        OPENING_KINDS,
        lambda c, s: check_snapshot_age(c.snapshot_fetched_at, c.now, s.max_snapshot_age_seconds),
    ),
    SafetyCheck(
        "daily_loss_usdt",
        OPENING_KINDS,
        lambda c, s: check_daily_loss(-c.daily_realized_pnl_usdt, s.daily_loss_limit_usdt),
    ),
)


# Which refusal a Decision reports first when several checks fail: the most fundamental first.
# Fixed here, by check name, so the order `checks` run in can never change the verdict.
PRIORITY: tuple[str, ...] = (
    "symbol_listed",
    "allow_deny",
    "daily_loss_usdt",
    "snapshot_age_seconds",
    "price_divergence_bps",
    "leverage_x",
    "open_positions",
    "position_notional_usdt",
    "total_notional_usdt",
)


def _refusal_order(item: tuple[str, Refusal]) -> tuple[int, str, str, str, str, str]:
    name, r = item
    rank = PRIORITY.index(name) if name in PRIORITY else len(PRIORITY)
    return (rank, name, r.check, r.reason, str(r.value), str(r.limit))


def evaluate(
    kind: SignalKind,
    ctx: SafetyContext,
    safety: SafetySettings,
    *,
    checks: Sequence[SafetyCheck] = CHECKS,
) -> SafetyVerdict:
    """Run every check that applies to `kind`: all refusals in PRIORITY order, and the leverage."""
    if kind is SignalKind.FLIP:
        raise ValueError("expand a FLIP into CLOSE + OPEN (diff.expand_flip) before safety")
    failed = [
        (c.name, r) for c in checks if kind in c.kinds and (r := c.run(ctx, safety)) is not None
    ]
    leverage = resolve_leverage(kind, ctx.requested_leverage, safety, ctx.mapping)
    return SafetyVerdict(
        refusals=tuple(r for _, r in sorted(failed, key=_refusal_order)),
        leverage=leverage,
        leverage_clamped=leverage != ctx.requested_leverage,
    )
