"""Helpers for the execution tests (importable: conftest modules are not)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

import httpx

from lightspeed_cli.execution.bybit import FillPolling
from lightspeed_cli.execution.ccxt_client import RetryPolicy
from lightspeed_cli.models import OrderIntent, Side, SignalKind
from lightspeed_cli.sim.bybit import FakeBybit

FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.005)
FAST_POLL = FillPolling(attempts=3, delay=0.001)


class IntentFactory(Protocol):
    def __call__(
        self,
        coid: str,
        *,
        symbol: str = "BTCUSDT",
        side: Side = Side.LONG,
        qty: str = "0.01",
        reduce: bool = False,
        leverage: int = 10,
    ) -> OrderIntent: ...


def make_intent(
    coid: str,
    *,
    symbol: str = "BTCUSDT",
    side: Side = Side.LONG,
    qty: str = "0.01",
    reduce: bool = False,
    leverage: int = 10,
) -> OrderIntent:
    """An intent that opens (or, with reduce, shrinks) a position of `side`."""
    return OrderIntent(
        trader="trader1",
        signal_kind=SignalKind.REDUCE if reduce else SignalKind.OPEN,
        binance_symbol=symbol,
        symbol=symbol,
        side=side,
        order_side=side.close_order_side if reduce else side.open_order_side,
        quantity=Decimal(qty),
        reduce_only=reduce,
        leverage=leverage,
        reference_price=Decimal(0),
        client_order_id=coid,
    )


BrokerFactory = Callable[..., Any]


class Client:
    """A minimal signed v5 client (what ccxt does), to speak to the fake directly."""

    def __init__(self, fake: FakeBybit, secret: str | None = None) -> None:
        self.fake = fake
        self.secret = secret or fake.api_secret
        self.http = httpx.Client(base_url=fake.url, timeout=5)

    def _headers(self, payload: str, signed_ago_ms: int = 0) -> dict[str, str]:
        ts, recv = str(int(time.time() * 1000) - signed_ago_ms), "5000"
        origin = ts + self.fake.api_key + recv + payload
        sign = hmac.new(self.secret.encode(), origin.encode(), hashlib.sha256).hexdigest()
        return {
            "X-BAPI-API-KEY": self.fake.api_key,
            "X-BAPI-TIMESTAMP": ts,
            "X-BAPI-RECV-WINDOW": recv,
            "X-BAPI-SIGN": sign,
            "Content-Type": "application/json",
        }

    def get(self, path: str, query: str = "", signed: bool = True) -> dict[str, Any]:
        headers = self._headers(query) if signed else {}
        return self.http.get(f"{path}?{query}" if query else path, headers=headers).json()

    def post(self, path: str, body: dict[str, Any], signed_ago_ms: int = 0) -> dict[str, Any]:
        text = json.dumps(body)
        headers = self._headers(text, signed_ago_ms)
        return self.http.post(path, content=text, headers=headers).json()

    def order(self, **fields: Any) -> dict[str, Any]:
        body = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market"}
        return self.post("/v5/order/create", {**body, **fields})
