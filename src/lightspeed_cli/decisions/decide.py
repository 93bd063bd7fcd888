"""One signal + the follower's state -> Decision (an OrderIntent or the Refusal that stopped it).

Composition of sizing and safety, still pure. The order of judgement: is there a Bybit market
(without one nothing can be done), does the license allow opening, how big is the order,
and do the safety checks pass. REDUCE and CLOSE pass everything but the first step, so a
lapsed license, a kill switch or a cap never leaves the user holding a position the trader left.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from lightspeed_cli.config.sections import SafetySettings, SizingSettings
from lightspeed_cli.decisions.safety import (
    SafetyContext,
    check_symbol_listed,
    evaluate,
    open_price_bound,
    resolve_leverage,
)
from lightspeed_cli.decisions.sizing import size_order
from lightspeed_cli.models import (
    Decision,
    OrderIntent,
    Refusal,
    Signal,
    SignalKind,
    SymbolMapping,
    TraderPosition,
)


class DecisionContext(BaseModel):
    """The follower-side facts about one signal, gathered by the engine before deciding."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mapping: SymbolMapping | None
    mapping_refusal: Refusal | None = None
    bybit_last: Decimal  # Bybit last price of the mapped market (<= 0 = unknown)
    equity_usdt: Decimal
    leader_balance_usdt: Decimal | None = None  # the leader's marginBalance (leader_equity)
    held_qty: Decimal = Field(ge=0)  # mirrored Bybit qty for this trader's (symbol, side)
    reduced_qty: Decimal = Field(default=Decimal(0), ge=0)  # sold by this REDUCE's earlier tries
    open_positions: int = Field(ge=0)
    total_notional_usdt: Decimal = Field(ge=0)
    position_notional_usdt: Decimal = Field(ge=0)  # the follower's notional on this symbol
    daily_realized_pnl_usdt: Decimal  # since 00:00 UTC; negative = loss
    now: datetime
    client_order_id: str = Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9_-]+$")


def decide(
    signal: Signal,
    ctx: DecisionContext,
    *,
    sizing: SizingSettings,
    safety: SafetySettings,
    license_refusal: str | None = None,
) -> Decision:
    """Decide one OPEN / INCREASE / REDUCE / CLOSE. FLIP must be expanded first (ValueError).

    `sizing` is the trader's effective sizing (`TraderSettings.effective_sizing`). The intent's
    leverage is `sizing.leverage`, or the trader's own when that is 0, clamped per policy.
    `license_refusal` (the license's reason, None when it allows opening) refuses opens and
    increases only.
    """
    kind = signal.kind
    if kind is SignalKind.FLIP:
        raise ValueError("expand a FLIP into CLOSE + OPEN (diff.expand_flip) before deciding")
    trader_position = _trader_position(signal)

    unlisted = check_symbol_listed(signal.symbol, ctx.mapping, ctx.mapping_refusal)
    if unlisted is not None or ctx.mapping is None:
        return _refused(signal, unlisted)
    if license_refusal is not None and not kind.is_risk_reducing:
        return _refused(signal, Refusal(check="license", reason=license_refusal))

    requested = sizing.leverage or trader_position.leverage
    leverage = resolve_leverage(kind, requested, safety, ctx.mapping)
    sized = size_order(
        signal,
        sizing=sizing,
        mapping=ctx.mapping,
        equity_usdt=ctx.equity_usdt,
        leader_balance_usdt=ctx.leader_balance_usdt,
        held_qty=ctx.held_qty,
        reduced_qty=ctx.reduced_qty,
        leverage=leverage,
        price=ctx.bybit_last if ctx.bybit_last > 0 else None,
    )
    if isinstance(sized, Refusal):
        return _refused(signal, sized)

    verdict = evaluate(
        kind,
        SafetyContext(
            binance_symbol=signal.symbol,
            binance_mark=trader_position.mark_price,
            bybit_last=ctx.bybit_last,
            mapping=ctx.mapping,
            mapping_refusal=ctx.mapping_refusal,
            requested_leverage=requested,
            order_notional_usdt=sized.notional_usdt,
            position_notional_usdt=ctx.position_notional_usdt,
            total_notional_usdt=ctx.total_notional_usdt,
            open_positions=ctx.open_positions,
            snapshot_fetched_at=signal.snapshot_time,
            now=ctx.now,
            daily_realized_pnl_usdt=ctx.daily_realized_pnl_usdt,
        ),
        safety,
    )
    if not verdict.approved:
        return _refused(signal, verdict.first_refusal)

    intent = OrderIntent(
        trader=signal.trader,
        signal_kind=kind,
        binance_symbol=signal.symbol,
        symbol=ctx.mapping.market.symbol,
        side=signal.side,
        order_side=(
            signal.side.close_order_side if kind.is_risk_reducing else signal.side.open_order_side
        ),
        quantity=sized.quantity,
        reduce_only=kind.is_risk_reducing,
        leverage=verdict.leverage,
        reference_price=trader_position.mark_price,
        limit_price=None  # a close must go out; an open fills within the divergence check
        if kind.is_risk_reducing
        else open_price_bound(
            trader_position.mark_price * ctx.mapping.price_scale,
            safety.max_price_divergence_bps,
            signal.side.open_order_side,
        ),
        client_order_id=ctx.client_order_id,
    )
    return Decision(signal=signal, intent=intent)


def _trader_position(signal: Signal) -> TraderPosition:
    """The trader's position the signal is about: after the change, or before it on a close."""
    position = signal.position or signal.previous_position
    if position is None:
        raise ValueError(f"{signal.kind} signal on {signal.symbol} carries no trader position")
    return position


def _refused(signal: Signal, refusal: Refusal | None) -> Decision:
    assert refusal is not None
    return Decision(signal=signal, refusal=refusal)
