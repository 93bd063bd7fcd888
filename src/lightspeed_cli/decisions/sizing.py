"""Signal + follower state + config -> Bybit quantity, or a refusal. Pure: no I/O.

Modes (per trader via `TraderSettings.effective_sizing`):
- `ratio`: Bybit qty = trader size change x `value` x `mapping.qty_scale`.
- `fixed_margin`: an OPEN commits `value` USDT of margin: qty = value x leverage / price.
- `equity_pct`: like fixed_margin with the margin = `value` % of the follower's equity, so the
  notional is equity x value/100 x leverage (consistent with fixed_margin: `value` is margin,
  leverage multiplies it; the notional caps in safety bound the result).
- `leader_equity`: the same share of the account as the leader: qty = trader size change x
  follower equity / leader marginBalance x `value` x `mapping.qty_scale` (opens and increases
  alike; an unknown or non-positive balance on either side refuses).
For `fixed_margin` and `equity_pct` an INCREASE grows the held quantity by the fraction the
trader grew theirs. In every mode an INCREASE of a position we do not hold (it predates our
start, or its OPEN was refused) is refused: we do not chase positions we did not open.
REDUCE sizes from the target: it keeps `held x new / old` rounded down to the step and sells
the rest (never a 28-digit fraction of the delta: 3 -> 2 with 0.3 held keeps 0.2), less if it
would leave a remainder below the market's min qty (that could never be closed). A reduce that
filled in part goes again for the rest: `reduced_qty` (what earlier tries of the same change
sold) puts the target back where it was. CLOSE sells exactly what we hold, never more.

Quantities are rounded DOWN to the market's step with Decimal arithmetic. Opening orders are
clamped to `max_order_notional_usdt` and the market's max qty, then refused below the market's
min qty / min notional. Risk-reducing orders are never clamped: a partial close would leave a
position the trader has left (execution splits an order above the market's max qty). A REDUCE
below the market's min qty is refused (the trader still holds the rest, so nothing is left
behind); min notional is not applied to reduce-only orders. A CLOSE is never refused for size.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from lightspeed_cli.config.choices import SizingMode
from lightspeed_cli.config.sections import SizingSettings
from lightspeed_cli.models import MarketInfo, Refusal, Signal, SignalKind, SymbolMapping

CLAMP_ORDER_NOTIONAL = "max_order_notional_usdt"
CLAMP_MARKET_MAX_QTY = "market.max_qty"


class SizedQty(BaseModel):
    """The order size: Bybit contracts, its notional at the sizing price, and what clamped it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quantity: Decimal = Field(gt=0)
    notional_usdt: Decimal = Field(ge=0)
    clamped_by: str | None = None


def floor_to_step(quantity: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of `step` that is <= `quantity` (quantity >= 0, step > 0)."""
    if step <= 0:
        raise ValueError("qty step must be > 0")
    if quantity <= 0:
        return Decimal(0)
    return (quantity // step) * step


def leaving_closable(part: Decimal, total: Decimal, market: MarketInfo) -> Decimal:
    """`part` of `total`, lowered when needed so that what stays is nothing or at least Bybit's
    minimum order: a remainder below the minimum could never be sent, so never closed."""
    if 0 < total - part < market.min_qty:
        return floor_to_step(total - market.min_qty, market.qty_step)
    return part


def within_market_max(quantity: Decimal, market: MarketInfo, *, is_close: bool) -> Decimal | None:
    """Bybit caps one market order at maxMktOrderQty: None when `quantity` fits, else what one
    order may carry. A close above the cap goes out in chunks (the last one must be one Bybit
    takes, so what stays is nothing or at least the minimum); a reduce is trimmed to it."""
    if market.max_qty is None or quantity <= market.max_qty:
        return None
    capped = floor_to_step(market.max_qty, market.qty_step)
    return leaving_closable(capped, quantity, market) if is_close else capped


def sizing_price(signal: Signal, mapping: SymbolMapping, price: Decimal | None = None) -> Decimal:
    """Bybit price per contract: `price` if given and positive, else the trader's mark scaled."""
    if price is not None and price > 0:
        return price
    position = signal.position or signal.previous_position
    if position is None:
        return Decimal(0)
    return position.mark_price * mapping.price_scale


def size_order(
    signal: Signal,
    *,
    sizing: SizingSettings,
    mapping: SymbolMapping,
    equity_usdt: Decimal,
    held_qty: Decimal,
    leverage: int,
    price: Decimal | None = None,
    reduced_qty: Decimal = Decimal(0),
    leader_balance_usdt: Decimal | None = None,
) -> SizedQty | Refusal:
    """Quantity of the order that mirrors `signal`, or the Refusal saying why there is none.

    `held_qty` is the mirrored Bybit quantity for this trader's (symbol, side); `leverage` is
    the one the order will use (already clamped by safety); `price` is the Bybit price to size
    with (default: the trader's mark x price_scale); `reduced_qty` is what earlier tries of
    this same REDUCE already sold (it filled in part). FLIP must be expanded first.
    """
    kind = signal.kind
    if kind is SignalKind.FLIP:
        raise ValueError("expand a FLIP into CLOSE + OPEN (diff.expand_flip) before sizing it")
    px = sizing_price(signal, mapping, price)
    if kind is SignalKind.CLOSE:
        return _size_close(held_qty, px)
    if kind is SignalKind.REDUCE:
        return _size_reduce(signal, mapping, held_qty, px, reduced_qty)
    return _size_opening(
        signal, sizing, mapping, equity_usdt, held_qty, leverage, px, leader_balance_usdt
    )


def leader_equity_ratio(
    equity_usdt: Decimal, leader_balance_usdt: Decimal | None, value: Decimal
) -> Decimal | Refusal:
    """Follower equity / leader marginBalance x `value`: the ratio that copies the leader's
    share of their account, or why there is none."""
    if leader_balance_usdt is None or leader_balance_usdt <= 0:
        return Refusal(
            check="leader_balance_usdt",
            reason=f"the leader's account balance is unknown ({leader_balance_usdt}): nothing to"
            " size leader_equity by (lead-portfolio detail not read yet, or not published)",
            value=leader_balance_usdt,
            limit=Decimal(0),
        )
    if equity_usdt <= 0:
        return _no_equity(equity_usdt, "a share of the leader's account")
    return equity_usdt / leader_balance_usdt * value


def _no_equity(equity_usdt: Decimal, what: str) -> Refusal:
    return Refusal(
        check="equity_usdt",
        reason=f"equity {equity_usdt} USDT: nothing to size {what}",
        value=equity_usdt,
        limit=Decimal(0),
    )


def _size_close(held_qty: Decimal, price: Decimal) -> SizedQty | Refusal:
    if held_qty <= 0:
        return Refusal(
            check="nothing_to_close",
            reason="nothing to close: no mirrored position is held",
            value=held_qty,
            limit=Decimal(0),
        )
    return SizedQty(quantity=held_qty, notional_usdt=held_qty * price)


def _size_reduce(
    signal: Signal, mapping: SymbolMapping, held_qty: Decimal, price: Decimal, reduced: Decimal
) -> SizedQty | Refusal:
    if held_qty <= 0:
        return Refusal(
            check="nothing_to_reduce",
            reason="nothing to reduce: no mirrored position is held",
            value=held_qty,
            limit=Decimal(0),
        )
    market = mapping.market
    keep = Decimal(0)
    if signal.previous_size > 0:  # the size we held when the trader's position was `old`
        keep = floor_to_step((held_qty + reduced) * signal.new_size / signal.previous_size,
                             market.qty_step)  # fmt: skip
    quantity = floor_to_step(held_qty - keep, market.qty_step)
    # the trader still holds a position: keep one the final close can send
    quantity = leaving_closable(quantity, held_qty, market)
    what = f"reduce of {held_qty} to {keep} ({signal.previous_size} -> {signal.new_size})"
    refusal = _below_min_qty(quantity, market.min_qty, what=what)
    if refusal:
        return refusal
    return SizedQty(quantity=quantity, notional_usdt=quantity * price)


def _size_opening(
    signal: Signal,
    sizing: SizingSettings,
    mapping: SymbolMapping,
    equity_usdt: Decimal,
    held_qty: Decimal,
    leverage: int,
    price: Decimal,
    leader_balance_usdt: Decimal | None,
) -> SizedQty | Refusal:
    if price <= 0:
        return Refusal(
            check="price", reason="no positive price to size the order with", value=price
        )
    raw = _raw_opening_qty(
        signal, sizing, mapping, equity_usdt, held_qty, leverage, price, leader_balance_usdt
    )
    if isinstance(raw, Refusal):
        return raw
    market = mapping.market
    quantity, clamped_by = raw, None
    cap = sizing.max_order_notional_usdt
    if cap > 0 and quantity * price > cap:
        quantity, clamped_by = cap / price, CLAMP_ORDER_NOTIONAL
    if market.max_qty is not None and quantity > market.max_qty:
        quantity, clamped_by = market.max_qty, CLAMP_MARKET_MAX_QTY
    quantity = floor_to_step(quantity, market.qty_step)
    if cap > 0 and quantity * price > cap:  # cap / price rounded up in its last digit
        quantity = max(quantity - market.qty_step, Decimal(0))
    refusal = _below_min_qty(quantity, market.min_qty, what=f"order sized from {raw}")
    if refusal:
        return refusal
    notional = quantity * price
    if notional < market.min_notional:
        return Refusal(
            check="min_notional_usdt",
            reason=(
                f"order notional {notional} USDT is below the market minimum"
                f" {market.min_notional} USDT"
            ),
            value=notional,
            limit=market.min_notional,
        )
    return SizedQty(quantity=quantity, notional_usdt=notional, clamped_by=clamped_by)


def _raw_opening_qty(
    signal: Signal,
    sizing: SizingSettings,
    mapping: SymbolMapping,
    equity_usdt: Decimal,
    held_qty: Decimal,
    leverage: int,
    price: Decimal,
    leader_balance_usdt: Decimal | None,
) -> Decimal | Refusal:
    """Unrounded Bybit quantity for an OPEN or INCREASE."""
    if signal.kind is SignalKind.INCREASE and held_qty <= 0:
        return Refusal(
            check="not_mirrored",
            reason="increase of a position we do not hold (opened before we followed, or its"
            " open was refused): not chased",
            value=held_qty,
            limit=Decimal(0),
        )
    change = signal.new_size - signal.previous_size
    if sizing.mode is SizingMode.RATIO:
        return change * sizing.value * mapping.qty_scale
    if sizing.mode is SizingMode.LEADER_EQUITY:
        ratio = leader_equity_ratio(equity_usdt, leader_balance_usdt, sizing.value)
        return ratio if isinstance(ratio, Refusal) else change * ratio * mapping.qty_scale
    if signal.kind is SignalKind.INCREASE:
        return held_qty * change / signal.previous_size
    if sizing.mode is SizingMode.FIXED_MARGIN:
        margin = sizing.value
    else:
        if equity_usdt <= 0:
            return _no_equity(equity_usdt, "a percentage of")
        margin = equity_usdt * sizing.value / 100
    return margin * leverage / price


def _below_min_qty(quantity: Decimal, min_qty: Decimal, *, what: str) -> Refusal | None:
    if quantity > 0 and quantity >= min_qty:
        return None
    return Refusal(
        check="min_qty",
        reason=(
            f"{what} rounds to {quantity} contracts, below the market minimum {min_qty} contracts"
        ),
        value=quantity,
        limit=min_qty,
    )
