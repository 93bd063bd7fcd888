"""Building the ccxt Bybit client and the public reads both brokers share.

ccxt is imported inside `create_exchange` only: importing it costs ~0.7 s and ~100 MB, which the
CLI's quick commands must never pay.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from lightspeed_cli.config.choices import Network
from lightspeed_cli.config.sections import BybitSettings
from lightspeed_cli.execution.base import BrokerError, ExecutionOutcome
from lightspeed_cli.execution.errors import ErrorInfo, classify_exception
from lightspeed_cli.execution.markets import dec, market_from_instrument
from lightspeed_cli.models import MarketInfo

T = TypeVar("T")

# ccxt logs request headers (API key, signature) at DEBUG on its own logger: send it nowhere.
_WIRE_LOG = logging.getLogger("lightspeed_cli.execution.ccxt_wire")
_WIRE_LOG.propagate = False
_WIRE_LOG.addHandler(logging.NullHandler())
_WIRE_LOG.setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for transient failures (rate limits, dropped connections)."""

    attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 4.0

    def delay(self, attempt: int) -> float:
        """The pause before retry number `attempt` (1, 2, ...): doubling up to the cap."""
        return float(min(self.base_delay * 2 ** (attempt - 1), self.max_delay))

    def retrying(self, should_retry: Callable[[BaseException], bool]) -> AsyncRetrying:
        return AsyncRetrying(
            stop=stop_after_attempt(max(1, self.attempts)),
            wait=wait_exponential(multiplier=self.base_delay, max=self.max_delay),
            retry=retry_if_exception(should_retry),
            reraise=True,
        )


def create_exchange(
    settings: BybitSettings,
    *,
    api_key: str | None = None,
    api_secret: str | None = None,
    timeout_ms: int = 10_000,
) -> Any:
    """An async ccxt bybit client for USDT linear perpetuals on a unified (UTA) account."""
    from ccxt.async_support.bybit import bybit

    config: dict[str, Any] = {
        "has": {"fetchCurrencies": False},  # skip /v5/asset/coin/query-info
        "enableRateLimit": False,  # our own backoff; ccxt's throttler also hangs under freezegun
        "timeout": timeout_ms,
        "options": {
            "defaultType": "swap",
            "defaultSettle": "USDT",
            "fetchMarkets": {"types": ["linear"]},
            # A UTA account: skips the query-api / account-info probes (as ccxt does in demo).
            "enableUnifiedMargin": False,
            "enableUnifiedAccount": True,
            "unifiedMarginStatus": 6,
            "adjustForTimeDifference": True,  # resync with /v5/market/time: avoids 10002
            # explicit: how long a signed request stays executable decides when an order
            # Bybit does not list may be taken as never placed (execution/fate.py)
            "recvWindow": settings.recv_window_ms,
        },
    }
    if api_key and api_secret:
        config["apiKey"], config["secret"] = api_key, api_secret
    exchange = bybit(config)
    exchange.logger = _WIRE_LOG
    if settings.network is Network.TESTNET:
        exchange.set_sandbox_mode(True)
    elif settings.network is Network.DEMO:
        exchange.enable_demo_trading(True)
    if settings.base_url:
        base = settings.base_url.rstrip("/")
        exchange.urls["api"] = {"public": base, "private": base}
        if base.startswith("http://"):
            exchange.timeout_on_exit = 0  # ccxt waits 250 ms at close for TLS to drain
    return exchange


async def call(
    fn: Callable[[], Awaitable[T]], policy: RetryPolicy, secrets: Iterable[str] = ()
) -> T:
    """Run a read, retrying rate limits and network errors; failures become BrokerError."""
    secrets = tuple(secrets)

    def transient(exc: BaseException) -> bool:
        info = classify_exception(exc, secrets)
        return info.retry or info.outcome is ExecutionOutcome.UNAVAILABLE

    try:
        async for attempt in policy.retrying(transient):
            with attempt:
                return await fn()
    except BrokerError:
        raise
    except Exception as exc:
        raise _broker_error(classify_exception(exc, secrets)) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _broker_error(info: ErrorInfo) -> BrokerError:
    return BrokerError(info.outcome, info.message)


def markets_from_ccxt(markets_by_id: dict[str, list[Any]]) -> dict[str, MarketInfo]:
    """ccxt's `markets_by_id` -> Bybit id -> MarketInfo (USDT perpetuals that trade).

    By id, not by unified symbol: two Bybit contracts can map to one ccxt symbol.
    """
    out: dict[str, MarketInfo] = {}
    for market in (m for listed in markets_by_id.values() for m in listed):
        if not market.get("swap") or not market.get("linear"):
            continue
        info = market_from_instrument(market.get("info") or {})
        if info is not None:
            out[info.symbol] = info.model_copy(update={"ccxt_symbol": market["symbol"]})
    return out


async def load_markets(exchange: Any, policy: RetryPolicy) -> dict[str, MarketInfo]:
    await call(lambda: exchange.load_markets(), policy)
    return markets_from_ccxt(exchange.markets_by_id or {})


async def public_markets(
    settings: BybitSettings, *, attempts: int = 1, timeout_ms: int = 5_000
) -> dict[str, MarketInfo]:
    """Bybit's USDT perpetuals and their filters from the public instruments list: no keys
    (commands that trade nothing: `traders check`, `traders forecast`). Raises BrokerError."""
    exchange = create_exchange(settings, timeout_ms=timeout_ms)
    try:
        return await load_markets(exchange, RetryPolicy(attempts=attempts))
    finally:
        await exchange.close()


def result_of(response: Any) -> dict[str, Any]:
    result = response.get("result") if isinstance(response, dict) else None
    return result if isinstance(result, dict) else {}


async def ticker_prices(
    exchange: Any, policy: RetryPolicy, symbol: str | None = None
) -> dict[str, Decimal]:
    """Last prices of the linear perpetuals (or of one symbol), straight from the strings."""
    params = {"category": "linear", **({"symbol": symbol} if symbol else {})}
    response = await call(lambda: exchange.publicGetV5MarketTickers(params), policy)
    prices: dict[str, Decimal] = {}
    for row in result_of(response).get("list") or []:
        price = dec(row.get("lastPrice"))
        if price is not None and price > 0:
            prices[str(row.get("symbol"))] = price
    return prices


async def last_price(exchange: Any, policy: RetryPolicy, symbol: str) -> Decimal:
    price = (await ticker_prices(exchange, policy, symbol)).get(symbol)
    if price is None:
        raise BrokerError(ExecutionOutcome.UNKNOWN, f"Bybit has no last price for {symbol}")
    return price


async def server_time(exchange: Any, policy: RetryPolicy) -> datetime:
    response = await call(lambda: exchange.publicGetV5MarketTime(), policy)
    ms = response.get("time") if isinstance(response, dict) else None
    if ms is None:
        raise BrokerError(ExecutionOutcome.UNKNOWN, "Bybit /v5/market/time gave no time")
    return datetime.fromtimestamp(int(ms) / 1000, UTC)


class ExchangeOwner:
    """What both ccxt-backed brokers share: the lazily made exchange and its loaded markets."""

    _exchange: Any
    _markets: dict[str, MarketInfo]
    # called with the client order id the moment Bybit says it has the order (an orderId, or
    # a duplicate-id answer), before the fill lookups: the engine journals it at once, so a
    # crash while the order is not listed yet cannot make it look never placed (fate.py)
    on_acknowledged: Callable[[str], None] | None = None

    async def aclose(self) -> None:
        if self._exchange is not None:
            await self._exchange.close()
            self._exchange = None

    @property
    def markets(self) -> dict[str, MarketInfo]:
        return self._markets

    async def last_prices(self) -> dict[str, Decimal]:
        """Every linear perpetual's last price in one request, for prices.py's background
        refresh: one attempt, the next refresh is the retry."""
        exchange = self.exchange  # type: ignore[attr-defined]
        return await ticker_prices(exchange, RetryPolicy(attempts=1))

    async def prepare(self, symbol: str | None = None, leverage: int = 0) -> int:
        """Account settings an open needs, made ahead of time; Bybit requests made (none here:
        the paper account has nothing to set)."""
        return 0
