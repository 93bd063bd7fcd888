"""Fixtures for the Binance source: the fake Binance, forward proxies, recorded bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from binance_helpers import SESSION_JSON, ForwardProxy

from lightspeed_cli.config.sections import BinanceSettings, PollingSettings
from lightspeed_cli.sim.binance import FakeBinance
from lightspeed_cli.sources.binance import BinanceSource


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with FakeBinance() as server:
        yield server


MakeSource = Callable[..., BinanceSource]


@pytest.fixture
async def make_source(fake: FakeBinance) -> AsyncIterator[MakeSource]:
    """BinanceSource pointed at the fake (or `url`); defaults keep failing tests fast."""
    sources: list[BinanceSource] = []

    def make(
        *,
        session: str | None = SESSION_JSON,
        api: str = "v2-private",
        url: str | None = None,
        **polling: Any,
    ) -> BinanceSource:
        polling = {"timeout_seconds": 2, "retries": 0, "requests_per_second": 1000, **polling}
        source = BinanceSource(
            BinanceSettings(base_url=url or fake.url, leaderboard_api=api),
            PollingSettings(**polling),
            session=session,
        )
        sources.append(source)
        return source

    yield make
    for source in sources:
        await source.aclose()


@pytest.fixture
async def proxies() -> AsyncIterator[Callable[[int], Any]]:
    """`await proxies(n)` → n running forward proxies named proxy-a, proxy-b, ..."""
    started: list[ForwardProxy] = []

    async def make(count: int) -> list[ForwardProxy]:
        for i in range(count):
            started.append(await ForwardProxy(f"proxy-{chr(ord('a') + i)}").start())
        return started[-count:]

    yield make
    for proxy in started:
        await proxy.stop()


@pytest.fixture
def threaded_fake() -> Iterator[FakeBinance]:
    """The fake served from its own thread, for synchronous clients (CLI, subprocesses)."""
    with FakeBinance.running() as server:
        yield server


# -- Hyperliquid ---------------------------------------------------------------------------


@pytest.fixture
async def hl_fake() -> AsyncIterator[Any]:
    from lightspeed_cli.sim.hyperliquid import FakeHyperliquid

    async with FakeHyperliquid(idle_timeout=2.0) as server:
        yield server


@pytest.fixture
async def hl_source(hl_fake: Any) -> AsyncIterator[Any]:
    """HyperliquidSource pointed at the fake; no retries so a fault shows at once."""
    from lightspeed_cli.config.sections import HyperliquidSettings
    from lightspeed_cli.sources.hyperliquid import HyperliquidSource

    settings = HyperliquidSettings(info_url=hl_fake.info_url, ws_url=hl_fake.ws_url)
    async with HyperliquidSource(settings, PollingSettings(timeout_seconds=2, retries=0)) as src:
        yield src
