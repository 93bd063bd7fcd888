"""Pure translation between our types and Bybit v5 order / position JSON."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from lightspeed_cli.execution.base import ExecutionOutcome, ExecutionResult
from lightspeed_cli.execution.ledger import position_idx
from lightspeed_cli.execution.markets import dec, fmt, qty_problem, round_qty
from lightspeed_cli.models import (
    ExchangeOrder,
    Fill,
    FollowerPosition,
    MarketInfo,
    OrderIntent,
    Side,
)

# A market order is an IOC limit order at a protection price: it may end Cancelled (or
# PartiallyFilledCanceled, Deactivated) with part of it filled (bybit_ccxt.md section 5).
# "partially_filled" is an order still running; "canceled" with a quantity ended in part.
_STATUS = {
    "Filled": "filled",
    "PartiallyFilled": "partially_filled",
    "PartiallyFilledCanceled": "canceled",
    "New": "open",
    "Created": "open",
    "Untriggered": "open",
    "Triggered": "open",
    "Active": "open",
    "Cancelled": "canceled",
    "Deactivated": "canceled",
    "Rejected": "rejected",
}
_ZERO = Decimal(0)


def intent_problem(intent: OrderIntent) -> str:
    """An intent whose order side contradicts its position side and reduce flag ("" if fine).

    Opening a long is a buy, reducing it a sell; the reverse for a short. Anything else would
    send Bybit an order that does something other than what the engine meant.
    """
    expected = intent.side.close_order_side if intent.reduce_only else intent.side.open_order_side
    if intent.order_side != expected:
        action = "reduce" if intent.reduce_only else "open"
        return (
            f"inconsistent intent: to {action} a {intent.side.value} position the order side"
            f" is {expected}, not {intent.order_side}"
        )
    return ""


def checked_order(
    intent: OrderIntent, markets: Mapping[str, MarketInfo]
) -> tuple[MarketInfo, Decimal] | ExecutionResult:
    """The market and step-rounded quantity to send, or the REJECTED result that sends nothing:
    the local checks every broker makes before an order leaves."""
    market = markets.get(intent.symbol)
    if market is None:
        return ExecutionResult(
            outcome=ExecutionOutcome.REJECTED,
            error=f"{intent.symbol} is not a tradable Bybit USDT perpetual",
        )
    qty = round_qty(intent.quantity, market)
    problem = intent_problem(intent) or qty_problem(qty, market)
    if problem:
        return ExecutionResult(outcome=ExecutionOutcome.REJECTED, error=problem)
    return market, qty


def effective_leverage(intent: OrderIntent, market: MarketInfo) -> int:
    """The intent's leverage, capped at what Bybit allows on this market."""
    return int(min(Decimal(intent.leverage), market.max_leverage))


def order_request(
    intent: OrderIntent, qty: Decimal, hedge_mode: bool, tick: Decimal | None = None
) -> dict[str, Any]:
    """The /v5/order/create body. positionIdx is always explicit, reduceOnly in both modes.
    An intent with a `limit_price` (an open) goes as an IOC limit at it, rounded inwards to
    `tick`: it fills at that price or better, or not at all (the rest is cancelled); any
    other as a market order (a close must go out)."""
    request: dict[str, Any] = {
        "category": "linear",
        "symbol": intent.symbol,
        "side": "Buy" if intent.order_side == "buy" else "Sell",
        "orderType": "Market",
        "qty": fmt(qty),
        "positionIdx": position_idx(intent.side, hedge_mode),
        "reduceOnly": intent.reduce_only,
        "orderLinkId": intent.client_order_id,
    }
    if intent.limit_price is not None:
        price = bound_on_tick(intent.limit_price, intent.order_side, tick)
        request.update(orderType="Limit", price=fmt(price), timeInForce="IOC")
    return request


def beyond_bound(price: Decimal, intent: OrderIntent, tick: Decimal | None) -> bool:
    """True when an open's IOC limit finds nothing at `price`: a buy above its bound, a sell
    below it (the paper broker fills as Bybit does)."""
    if intent.limit_price is None:
        return False
    bound = bound_on_tick(intent.limit_price, intent.order_side, tick)
    return price > bound if intent.order_side == "buy" else price < bound


def bound_on_tick(limit: Decimal, order_side: str, tick: Decimal | None) -> Decimal:
    """`limit` on the price tick, never beyond it: a buy's rounds down, a sell's up."""
    if not tick or tick <= 0:
        return limit
    rounding = ROUND_FLOOR if order_side == "buy" else ROUND_CEILING
    return (limit / tick).to_integral_value(rounding) * tick


def ms_to_dt(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError):
        return None


def fill_from_order(raw: Mapping[str, Any]) -> Fill:
    """One /v5/order/realtime or /history entry -> Fill (Decimals straight from the strings)."""
    status = str(raw.get("orderStatus", ""))
    qty = dec(raw.get("cumExecQty"), _ZERO)
    price = dec(raw.get("avgPrice"))
    return Fill(
        client_order_id=str(raw.get("orderLinkId", "")),
        order_id=str(raw.get("orderId", "")),
        symbol=str(raw.get("symbol", "")),
        order_side="buy" if raw.get("side") == "Buy" else "sell",
        quantity=qty,
        price=price if price and qty > 0 else None,
        fee=dec(raw.get("cumExecFee"), _ZERO),
        status=_STATUS.get(status, "open"),  # type: ignore[arg-type]
        sent_at=ms_to_dt(raw.get("createdTime")),
        acked_at=ms_to_dt(raw.get("updatedTime")),
    )


def exchange_order(raw: Mapping[str, Any]) -> ExchangeOrder:
    """One /v5/order/realtime or /history entry, as reconciliation reads it."""
    try:
        idx = int(raw.get("positionIdx") or 0)
    except (TypeError, ValueError):
        idx = 0
    return ExchangeOrder(
        link_id=str(raw.get("orderLinkId") or ""),
        order_id=str(raw.get("orderId") or ""),
        symbol=str(raw.get("symbol") or ""),
        order_side="buy" if raw.get("side") == "Buy" else "sell",
        reduce_only=raw.get("reduceOnly") in (True, "true", "True", 1),
        position_idx=idx,
        quantity=dec(raw.get("qty"), _ZERO),
        filled=dec(raw.get("cumExecQty"), _ZERO),
        status=str(raw.get("orderStatus") or ""),
        created_at=ms_to_dt(raw.get("createdTime")),
    )


def result_from_fill(
    fill: Fill, sent_at: datetime | None, acked_at: datetime | None
) -> ExecutionResult:
    """What an order Bybit has (at some status) means for the engine: FILLED once it is final
    with a fill (whole or in part), REJECTED once final without one, else UNKNOWN (running)."""
    stamped = fill.model_copy(
        update={"sent_at": sent_at or fill.sent_at, "acked_at": acked_at or fill.acked_at}
    )
    final = fill.status in ("filled", "canceled", "rejected")
    if final and fill.quantity > 0:
        outcome, error = ExecutionOutcome.FILLED, ""
    elif final:
        outcome = ExecutionOutcome.REJECTED
        error = f"Bybit {fill.status} order {fill.order_id} without a fill"
    else:
        outcome = ExecutionOutcome.UNKNOWN
        error = f"order {fill.order_id} accepted by Bybit but not final yet ({fill.status})"
    return ExecutionResult(
        outcome=outcome,
        fill=stamped,
        error=error,
        sent_at=sent_at,
        acked_at=acked_at,
        acknowledged=True,
    )


# how far Bybit's clock (an order's createdTime) may trail ours (when the journal row was
# written) for an order still to count as this one; Bybit refuses requests signed further off
ORDER_CLOCK_MARGIN = timedelta(seconds=10)


def earlier_order_problem(
    fill: Fill, request: Mapping[str, Any], journaled_at: datetime | None
) -> str:
    """Why an order Bybit shows under this request's orderLinkId is not the one this request
    made ("" if it can be): another symbol, side or a larger quantity, or placed before this
    order was journaled. A journal restored from an older copy re-derives ids already used."""
    problems = []
    if fill.symbol and fill.symbol != request.get("symbol"):
        problems.append(f"symbol {fill.symbol}")
    if fill.order_side != ("buy" if request.get("side") == "Buy" else "sell"):
        problems.append(f"side {fill.order_side}")
    qty = dec(request.get("qty"))
    if qty is not None and fill.quantity > qty:
        problems.append(f"filled {fill.quantity} > {qty}")
    placed = fill.sent_at
    if (
        journaled_at is not None
        and placed is not None
        and placed < journaled_at - ORDER_CLOCK_MARGIN
    ):
        problems.append(f"placed {fill.sent_at.isoformat()}, before this change existed")
    return ", ".join(problems)


def not_an_earlier_order(
    result: ExecutionResult, request: Mapping[str, Any], journaled_at: datetime | None
) -> ExecutionResult:
    """`result`, unless the order it reports is an earlier one that used the same id: then
    nothing was placed for this request (REJECTED; the engine retries under a new id)."""
    if result.fill is None:
        return result
    problem = earlier_order_problem(result.fill, request, journaled_at)
    if not problem:
        return result
    return ExecutionResult(
        outcome=ExecutionOutcome.REJECTED,
        error=f"orderLinkId {request.get('orderLinkId')} is already used on Bybit by an earlier"
        f" order {result.fill.order_id} ({problem}): not this change's fill (journal restored"
        " from an older copy?); nothing was sent for it",
        sent_at=result.sent_at,
    )


def position_from_bybit(raw: Mapping[str, Any]) -> FollowerPosition | None:
    """One /v5/position/list entry -> FollowerPosition; None for an empty slot."""
    size = dec(raw.get("size"), _ZERO)
    if size <= 0:
        return None
    idx = int(raw.get("positionIdx") or 0)
    if idx in (1, 2):
        side = Side.LONG if idx == 1 else Side.SHORT
    elif raw.get("side") in ("Buy", "Sell"):
        side = Side.LONG if raw.get("side") == "Buy" else Side.SHORT
    else:
        return None
    return FollowerPosition(
        symbol=str(raw.get("symbol", "")),
        side=side,
        size=size,
        entry_price=dec(raw.get("avgPrice"), _ZERO),
        mark_price=dec(raw.get("markPrice"), _ZERO),
        leverage=dec(raw.get("leverage"), Decimal(1)),
        unrealized_pnl=dec(raw.get("unrealisedPnl"), _ZERO),
    )


def hedge_mode_from_positions(rows: list[Mapping[str, Any]]) -> bool | None:
    """The account's position mode from position/list slots; None if the list shows nothing."""
    idxs = {int(r.get("positionIdx") or 0) for r in rows}
    if idxs & {1, 2}:
        return True
    if 0 in idxs and rows:
        return False
    return None


def unified_equity(accounts: list[Mapping[str, Any]]) -> Decimal:
    """A /v5/account/wallet-balance list -> the unified account's equity in USD, all coins.

    totalEquity when Bybit gives it; else the coins' usdValue; else the USDT coin's equity
    (an empty string, as Bybit writes an absent number, counts as missing)."""
    for account in accounts:
        total = dec(account.get("totalEquity"))
        if total is not None:
            return total
        coins = account.get("coin") or []
        values = [v for v in (dec(c.get("usdValue")) for c in coins) if v is not None]
        if values:
            return sum(values, _ZERO)
        for coin in coins:
            if coin.get("coin") == "USDT":
                return dec(coin.get("equity"), _ZERO)
    return _ZERO
