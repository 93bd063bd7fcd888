"""Bybit linear instruments -> MarketInfo, and the quantity rules an order must meet.

Pure: the fake Bybit, the paper broker and the real broker all read instruments and round
quantities through these functions, so they agree to the last digit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, overload

from lightspeed_cli.decisions.symbols import multiplier_from_bybit_base
from lightspeed_cli.models import MarketInfo

SETTLE = "USDT"
PERPETUAL = "LinearPerpetual"
TRADING = "Trading"


@overload
def dec(value: Any) -> Decimal | None: ...
@overload
def dec(value: Any, default: Decimal) -> Decimal: ...
def dec(value: Any, default: Decimal | None = None) -> Decimal | None:
    """Bybit sends numbers as strings, "" for "none": parse without going through float."""
    if value is None or value == "":
        return default
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return default


def market_from_instrument(raw: Mapping[str, Any]) -> MarketInfo | None:
    """One instruments-info entry -> MarketInfo; None if it is not a tradable USDT perpetual."""
    if (
        raw.get("contractType") != PERPETUAL
        or raw.get("status") != TRADING
        or raw.get("settleCoin") != SETTLE
        or raw.get("quoteCoin") != SETTLE
    ):
        return None
    lot = raw.get("lotSizeFilter") or {}
    price = raw.get("priceFilter") or {}
    lev = raw.get("leverageFilter") or {}
    step = dec(lot.get("qtyStep"))
    if step is None or step <= 0:
        return None
    base_coin = str(raw.get("baseCoin", ""))
    base, multiplier = multiplier_from_bybit_base(base_coin)
    # Market orders are capped by maxMktOrderQty, which is lower than the limit-order cap.
    max_qty = dec(lot.get("maxMktOrderQty")) or dec(lot.get("maxOrderQty"))
    symbol = str(raw["symbol"])
    return MarketInfo(
        symbol=symbol,
        ccxt_symbol=f"{base_coin}/{SETTLE}:{SETTLE}",
        base=base,
        quote=SETTLE,
        qty_step=step,
        min_qty=dec(lot.get("minOrderQty"), Decimal(0)),
        max_qty=max_qty,
        min_notional=dec(lot.get("minNotionalValue"), Decimal(0)),
        tick_size=dec(price.get("tickSize"), Decimal("0.01")),
        max_leverage=dec(lev.get("maxLeverage"), Decimal(100)),
        multiplier=multiplier,
    )


def markets_from_instruments(raws: Iterable[Mapping[str, Any]]) -> dict[str, MarketInfo]:
    out: dict[str, MarketInfo] = {}
    for raw in raws:
        market = market_from_instrument(raw)
        if market is not None:
            out[market.symbol] = market
    return out


def round_qty(qty: Decimal, market: MarketInfo) -> Decimal:
    """Truncate to the step (never round up: that would trade more than sized)."""
    steps = (qty / market.qty_step).to_integral_value(rounding=ROUND_DOWN)
    return steps * market.qty_step if steps else Decimal(0)


def fmt(value: Decimal) -> str:
    """Plain decimal string the way Bybit writes numbers: no exponent, no trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def qty_problem(qty: Decimal, market: MarketInfo) -> str:
    """Why Bybit would refuse this quantity ("" if it is fine). Notional needs a price: not here."""
    if qty <= 0:
        return f"quantity {qty} rounds to 0 at {market.symbol}'s step {market.qty_step}"
    if qty % market.qty_step != 0:
        return f"quantity {qty} is not a multiple of {market.symbol}'s step {market.qty_step}"
    if qty < market.min_qty:
        return f"quantity {qty} is below {market.symbol}'s minimum {market.min_qty}"
    if market.max_qty is not None and qty > market.max_qty:
        return f"quantity {qty} is above {market.symbol}'s market-order maximum {market.max_qty}"
    return ""
