"""Bybit last prices kept fresh in the background, so no round trip precedes an order.

The price-divergence check compares the leader's Binance mark with Bybit's last price before
every open. Reading that price right then costs a Bybit round trip on the hot path; instead one
request reads the last price of every USDT perpetual (`/v5/market/tickers?category=linear`)
every `bybit.price_refresh_seconds`. Chosen over Bybit's public WebSocket: one call covers every
symbol (whichever a leader opens next), needs no subscription list or extra connection to keep
alive, and the age is counted from when the request was *sent*, so a price is never older than
its counted age. BENCHMARKS.md (Detection latency) has its cost.

The check keeps its exact meaning: a cached price older than `bybit.price_max_age_seconds` is
never used; the caller then reads the price directly (`fresh` returns None).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

log = logging.getLogger(__name__)

FetchAll = Callable[[], Awaitable[dict[str, Decimal]]]


@dataclass
class RoundTrips:
    """Bybit requests one signal made between its snapshot and its order (target: none)."""

    count: int = 0


def fresh_price(
    prices: dict[str, Decimal], as_of: float, symbol: str, now: float, max_age: float
) -> Decimal | None:
    """The cached price of `symbol` when the cache is at most `max_age` seconds old at `now`;
    None otherwise (stale, missing, or not a usable price): read it directly."""
    if now - as_of > max_age:
        return None
    price = prices.get(symbol)
    return price if price is not None and price > 0 else None


class PriceCache:
    """Every linear perpetual's last price, refreshed by `run` every `refresh_seconds`."""

    def __init__(
        self,
        fetch_all: FetchAll,
        *,
        refresh_seconds: float,
        max_age_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch_all = fetch_all
        self.refresh_seconds = refresh_seconds
        self.max_age_seconds = max_age_seconds
        self._clock = clock
        self._prices: dict[str, Decimal] = {}
        self._as_of = float("-inf")  # when the request behind `_prices` was sent
        self._failing = False
        self.refreshes = 0

    def fresh(self, symbol: str) -> Decimal | None:
        return fresh_price(self._prices, self._as_of, symbol, self._clock(), self.max_age_seconds)

    def age(self) -> float:
        return self._clock() - self._as_of

    async def refresh(self) -> None:
        """One request for every price; the cache moves only on a complete answer."""
        sent = self._clock()
        prices = await self._fetch_all()
        if prices:
            self._prices, self._as_of = prices, sent
            self.refreshes += 1

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh until `stop`; a failed refresh only means direct reads until the next one."""
        if self.refresh_seconds <= 0:
            return
        while not stop.is_set():
            started = self._clock()
            try:
                await self.refresh()
            except Exception as exc:
                if not self._failing:
                    log.warning("Bybit prices not refreshed (%s): reading them directly", exc)
                self._failing = True
            else:
                if self._failing:
                    log.info("Bybit prices refreshed again")
                self._failing = False
            delay = max(0.0, self.refresh_seconds - (self._clock() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
