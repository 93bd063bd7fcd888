"""Helpers for the execution tests (importable: conftest modules are not)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

from lightspeed_cli.execution.bybit import FillPolling
from lightspeed_cli.execution.ccxt_client import RetryPolicy
from lightspeed_cli.models import OrderIntent, Side, SignalKind

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
