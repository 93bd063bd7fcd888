"""The Bybit price cache: fresh prices only, refreshed in the background, failures harmless."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from lightspeed_cli.execution.prices import PriceCache, fresh_price

D = Decimal
PRICES = {"BTCUSDT": D(60_000), "ETHUSDT": D(3_000), "DEADUSDT": D(0)}


def test_a_price_is_fresh_up_to_the_bound_and_stale_past_it() -> None:
    assert fresh_price(PRICES, 10.0, "BTCUSDT", 13.0, 3.0) == D(60_000)
    assert fresh_price(PRICES, 10.0, "BTCUSDT", 13.000001, 3.0) is None


def test_a_missing_or_unusable_price_is_no_price() -> None:
    assert fresh_price(PRICES, 10.0, "SOLUSDT", 10.0, 3.0) is None
    assert fresh_price(PRICES, 10.0, "DEADUSDT", 10.0, 3.0) is None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_age_counts_from_when_the_request_was_sent() -> None:
    clock = Clock()

    async def slow_fetch() -> dict[str, Decimal]:
        clock.now += 2.5  # the answer took 2.5 s
        return dict(PRICES)

    cache = PriceCache(slow_fetch, refresh_seconds=1, max_age_seconds=3, clock=clock)
    assert cache.fresh("BTCUSDT") is None  # nothing cached yet
    await cache.refresh()
    assert cache.fresh("BTCUSDT") == D(60_000)  # 2.5 s old
    clock.now += 0.6
    assert cache.fresh("BTCUSDT") is None  # 3.1 s since it was asked for


async def test_a_failed_or_empty_refresh_keeps_the_old_prices_and_their_age() -> None:
    clock = Clock()
    answers: list[object] = [dict(PRICES), {}, RuntimeError("Bybit down")]

    async def fetch() -> dict[str, Decimal]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    cache = PriceCache(fetch, refresh_seconds=1, max_age_seconds=3, clock=clock)
    await cache.refresh()
    clock.now += 2
    await cache.refresh()  # an empty answer
    assert cache.fresh("BTCUSDT") == D(60_000) and cache.age() == 2
    with pytest.raises(RuntimeError):
        await cache.refresh()
    clock.now += 1.5
    assert cache.fresh("BTCUSDT") is None


async def test_run_refreshes_until_stopped_and_survives_failures() -> None:
    calls = 0

    async def fetch() -> dict[str, Decimal]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("first refresh fails")
        return dict(PRICES)

    cache = PriceCache(fetch, refresh_seconds=0.01, max_age_seconds=3)
    stop = asyncio.Event()
    task = asyncio.create_task(cache.run(stop))
    while cache.refreshes < 3:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    assert cache.fresh("ETHUSDT") == D(3_000)


async def test_refresh_period_zero_means_no_cache() -> None:
    async def fetch() -> dict[str, Decimal]:
        raise AssertionError("never called")

    cache = PriceCache(fetch, refresh_seconds=0, max_age_seconds=3)
    await asyncio.wait_for(cache.run(asyncio.Event()), timeout=5)
    assert cache.fresh("BTCUSDT") is None
