"""The JSON Bybit v5 answers with, and a realistic instrument list, for the fake Bybit.

Pure builders: the server in sim/bybit.py decides what happened, these say how Bybit writes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from lightspeed_cli.execution.ledger import Ledger
from lightspeed_cli.execution.markets import fmt


def instrument(
    symbol: str,
    base_coin: str,
    *,
    qty_step: str,
    min_qty: str,
    max_qty: str,
    max_mkt_qty: str,
    tick: str,
    max_leverage: str,
    min_notional: str = "5",
    status: str = "Trading",
    contract_type: str = "LinearPerpetual",
) -> dict[str, Any]:
    """One /v5/market/instruments-info entry, shaped like Bybit's."""
    return {
        "symbol": symbol,
        "contractType": contract_type,
        "status": status,
        "baseCoin": base_coin,
        "quoteCoin": "USDT",
        "settleCoin": "USDT",
        "launchTime": "1585526400000",
        "deliveryTime": "0" if contract_type == "LinearPerpetual" else "1766736000000",
        "deliveryFeeRate": "",
        "priceScale": str(max(0, -Decimal(tick).as_tuple().exponent)),  # type: ignore[operator]
        "leverageFilter": {"minLeverage": "1", "maxLeverage": max_leverage, "leverageStep": "0.01"},
        "priceFilter": {"minPrice": tick, "maxPrice": "1999999.80", "tickSize": tick},
        "lotSizeFilter": {
            "maxOrderQty": max_qty,
            "minOrderQty": min_qty,
            "qtyStep": qty_step,
            "postOnlyMaxOrderQty": max_qty,
            "maxMktOrderQty": max_mkt_qty,
            "minNotionalValue": min_notional,
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480,
        "copyTrading": "both",
        "upperFundingRate": "0.005",
        "lowerFundingRate": "-0.005",
        "isPreListing": False,
        "preListingInfo": None,
        "displayName": "",
    }


def default_instruments() -> list[dict[str, Any]]:
    """A realistic slice of Bybit's linear list (limits as Bybit published them in 2025)."""
    i = instrument
    return [
        i("BTCUSDT", "BTC", qty_step="0.001", min_qty="0.001", max_qty="1190.000",
          max_mkt_qty="119.000", tick="0.10", max_leverage="100.00"),
        i("ETHUSDT", "ETH", qty_step="0.01", min_qty="0.01", max_qty="7240.00",
          max_mkt_qty="724.00", tick="0.01", max_leverage="100.00"),
        i("SOLUSDT", "SOL", qty_step="0.1", min_qty="0.1", max_qty="79770.0",
          max_mkt_qty="7977.0", tick="0.010", max_leverage="100.00"),
        i("XRPUSDT", "XRP", qty_step="1", min_qty="1", max_qty="1846100",
          max_mkt_qty="184610", tick="0.0001", max_leverage="75.00"),
        i("DOGEUSDT", "DOGE", qty_step="1", min_qty="1", max_qty="12767561",
          max_mkt_qty="1276756", tick="0.00001", max_leverage="75.00"),
        i("1INCHUSDT", "1INCH", qty_step="0.1", min_qty="0.1", max_qty="1112200.0",
          max_mkt_qty="111220.0", tick="0.0001", max_leverage="50.00"),
        i("1000PEPEUSDT", "1000PEPE", qty_step="100", min_qty="100", max_qty="500000000",
          max_mkt_qty="50000000", tick="0.0000001", max_leverage="50.00"),
        i("SHIB1000USDT", "SHIB1000", qty_step="10", min_qty="10", max_qty="50000000",
          max_mkt_qty="5000000", tick="0.000001", max_leverage="50.00"),
        i("1000000BABYDOGEUSDT", "1000000BABYDOGE", qty_step="100", min_qty="100",
          max_qty="100000000", max_mkt_qty="10000000", tick="0.0000001", max_leverage="25.00"),
        i("BTCUSDT-26DEC25", "BTC", qty_step="0.001", min_qty="0.001", max_qty="500.000",
          max_mkt_qty="50.000", tick="0.50", max_leverage="50.00", contract_type="LinearFutures"),
    ]  # fmt: skip


DEFAULT_PRICES: dict[str, str] = {
    "BTCUSDT": "60000",
    "ETHUSDT": "3000",
    "SOLUSDT": "150",
    "XRPUSDT": "0.6",
    "DOGEUSDT": "0.15",
    "1INCHUSDT": "0.4",
    "1000PEPEUSDT": "0.012",
    "SHIB1000USDT": "0.025",
    "1000000BABYDOGEUSDT": "0.0021",
    "BTCUSDT-26DEC25": "61000",
}


@dataclass(frozen=True)
class OrderRecord:
    """One order Bybit accepted (the fake's order log)."""

    order_id: str
    order_link_id: str
    symbol: str
    side: str  # "Buy" / "Sell"
    qty: Decimal  # as requested
    filled_qty: Decimal
    reduce_only: bool
    position_idx: int
    price: Decimal  # average fill price
    fee: Decimal
    created_at: datetime
    status: str = "Filled"  # or, out of liquidity: Cancelled / PartiallyFilledCanceled / ...
    pending_lookups: int = 0  # lookups still answered `pending_status` (scripted slow fill)
    pending_status: str = "New"  # or "PartiallyFilled": half the fill shows meanwhile
    stop_order_type: str = ""  # "StopLoss": Bybit's own close when a position's stop triggered
    listed_at: float = 0.0  # epoch seconds from which the order lists show it
    protection_price: Decimal | None = None  # the IOC limit a market order really is
    order_type: str = "Market"  # or "Limit" (IOC): `protection_price` is then its price


PROTECTION = Decimal("0.03")  # how far a market order's IOC limit sits from the last price


def protection_price(last: Decimal, order_side: str, tick: Decimal) -> Decimal:
    """The limit price Bybit gives a derivatives market order (it is an IOC limit order: a
    real one showed "price": "123615.9" with "avgPrice": "123498"), on the tick."""
    if order_side == "buy":
        return (last * (1 + PROTECTION) / tick).to_integral_value(ROUND_FLOOR) * tick
    return (last * (1 - PROTECTION) / tick).to_integral_value(ROUND_CEILING) * tick


def ticker_json(symbol: str, last: Decimal) -> dict[str, Any]:
    """One /v5/market/tickers entry."""
    price = fmt(last)
    return {
        "symbol": symbol,
        "lastPrice": price,
        "indexPrice": price,
        "markPrice": price,
        "prevPrice24h": price,
        "price24hPcnt": "0",
        "highPrice24h": price,
        "lowPrice24h": price,
        "prevPrice1h": price,
        "openInterest": "1000",
        "openInterestValue": "1000000",
        "turnover24h": "1000000",
        "volume24h": "1000",
        "fundingRate": "0.0001",
        "nextFundingTime": "0",
        "predictedDeliveryPrice": "",
        "basisRate": "",
        "deliveryFeeRate": "",
        "deliveryTime": "0",
        "ask1Size": "1",
        "bid1Price": price,
        "ask1Price": price,
        "bid1Size": "1",
        "basis": "",
    }


def _coin_json(coin: str, equity: Decimal, wallet: Decimal, **extra: str) -> dict[str, Any]:
    return {
        "coin": coin,
        "equity": fmt(equity),
        "usdValue": fmt(equity),
        "walletBalance": fmt(wallet),
        "unrealisedPnl": "0",
        "cumRealisedPnl": "0",
        "totalPositionIM": "0",
        "totalOrderIM": "0",
        "locked": "0",
        "availableToWithdraw": "",
        "borrowAmount": "0",
        "bonus": "0",
        **extra,
    }


def wallet_json(
    ledger: Ledger,
    prices: dict[str, Decimal],
    coins: dict[str, Decimal] | None = None,
    only_coin: str | None = None,
) -> dict[str, Any]:
    """The /v5/account/wallet-balance result of a unified account holding USDT and `coins`
    (coin -> USD value; a stable coin at 1). `only_coin` filters the coin list, as Bybit's
    `coin` parameter does; the account totals always cover every coin."""
    upl = ledger.unrealised(prices)
    equity = ledger.wallet + upl
    im = ledger.initial_margin()
    realised = sum((p.realised_pnl for p in ledger.positions.values()), Decimal(0))
    usdt = _coin_json(
        "USDT",
        equity,
        ledger.wallet,
        unrealisedPnl=fmt(upl),
        cumRealisedPnl=fmt(realised),
        totalPositionIM=fmt(im),
    )
    others = [_coin_json(c, v, v) for c, v in (coins or {}).items()]
    total = equity + sum((coins or {}).values(), Decimal(0))
    listed = [c for c in [usdt, *others] if only_coin in (None, "", c["coin"])]
    account = {
        "accountType": "UNIFIED",
        "totalEquity": fmt(total),
        "totalWalletBalance": fmt(total - upl),
        "totalMarginBalance": fmt(total),
        "totalAvailableBalance": fmt(total - im),
        "totalPerpUPL": fmt(upl),
        "totalInitialMargin": fmt(im),
        "totalMaintenanceMargin": fmt(im / 2),
        "coin": listed,
    }
    return {"list": [account]}


def position_json(
    ledger: Ledger, prices: dict[str, Decimal], symbol: str, idx: int
) -> dict[str, Any]:
    """One /v5/position/list entry (an empty slot when the position is flat)."""
    pos = ledger.position(symbol, idx)
    mark = prices.get(symbol, pos.entry_price)
    lev = ledger.leverage_of(symbol)
    side = "" if pos.side is None else ("Buy" if pos.side.value == "long" else "Sell")
    value = pos.size * pos.entry_price
    return {
        "positionIdx": idx,
        "riskId": 1,
        "riskLimitValue": "2000000",
        "symbol": symbol,
        "side": side,
        "size": fmt(pos.size),
        "avgPrice": fmt(pos.entry_price),
        "positionValue": fmt(value),
        "tradeMode": 0,
        "positionStatus": "Normal",
        "autoAddMargin": 0,
        "adlRankIndicator": 2 if pos.size else 0,
        "leverage": fmt(lev),
        "positionBalance": fmt(value / lev),
        "markPrice": fmt(mark),
        "liqPrice": "",
        "bustPrice": "",
        "positionMM": fmt(value / lev / 2),
        "positionIM": fmt(value / lev),
        "tpslMode": "Full",
        "takeProfit": "0",
        "stopLoss": "0",
        "trailingStop": "0",
        "unrealisedPnl": fmt(pos.unrealised(mark)),
        "curRealisedPnl": fmt(pos.realised_pnl),
        "cumRealisedPnl": fmt(pos.realised_pnl),
        "seq": 1,
        "isReduceOnly": False,
        "createdTime": "1700000000000",
        "updatedTime": str(int(time.time() * 1000)),
    }


def order_json(o: OrderRecord) -> dict[str, Any]:
    """One /v5/order/realtime or /v5/order/history entry."""
    pending = o.pending_lookups > 0
    share = Decimal(1)  # of the fill that shows
    if pending:
        share = Decimal("0.5") if o.pending_status == "PartiallyFilled" else Decimal(0)
    filled = o.filled_qty * share
    ms = str(int(o.created_at.timestamp() * 1000))
    return {
        "orderId": o.order_id,
        "orderLinkId": o.order_link_id,
        "blockTradeId": "",
        "symbol": o.symbol,
        "price": fmt(o.protection_price if o.protection_price is not None else o.price),
        "qty": fmt(o.qty),
        "side": o.side,
        "isLeverage": "",
        "positionIdx": o.position_idx,
        "orderStatus": o.pending_status if pending else o.status,
        "cancelType": "UNKNOWN",
        "rejectReason": "EC_NoError" if o.status == "Filled" else "EC_CancelForNoFullFill",
        "avgPrice": fmt(o.price) if filled else "",
        "leavesQty": fmt(o.qty - filled) if pending else "0",
        "leavesValue": "0",
        "cumExecQty": fmt(filled),
        "cumExecValue": fmt(filled * o.price),
        "cumExecFee": fmt(o.fee * share),
        "timeInForce": "IOC",
        "orderType": o.order_type,
        "stopOrderType": o.stop_order_type,
        "orderIv": "",
        "triggerPrice": "0",
        "takeProfit": "0",
        "stopLoss": "0",
        "tpTriggerBy": "",
        "slTriggerBy": "",
        "triggerDirection": 0,
        "triggerBy": "",
        "lastPriceOnCreated": fmt(o.price),
        "reduceOnly": o.reduce_only,
        "closeOnTrigger": False,
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "tpslMode": "Full" if o.stop_order_type else "",
        "tpLimitPrice": "",
        "slLimitPrice": "",
        "placeType": "",
        "createdTime": ms,
        "updatedTime": ms,
    }
