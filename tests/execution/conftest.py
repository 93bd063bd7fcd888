"""Fixtures for the execution tests: a fake Bybit per test and brokers pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from exec_helpers import FAST_POLL, FAST_RETRY, BrokerFactory, Client, IntentFactory, make_intent

from lightspeed_cli.execution.bybit import BybitBroker
from lightspeed_cli.sim.bybit import FakeBybit


@pytest.fixture
def intent() -> IntentFactory:
    return make_intent


@pytest.fixture
def fake() -> Iterator[FakeBybit]:
    with FakeBybit.running() as server:
        yield server


@pytest.fixture
def client(fake: FakeBybit) -> Client:
    """A minimal signed v5 client on `fake` (what ccxt sends), to speak to it directly."""
    return Client(fake)


@pytest.fixture
def hedge_fake() -> Iterator[FakeBybit]:
    with FakeBybit.running(hedge_mode=True) as server:
        yield server


@pytest.fixture
async def make_broker() -> AsyncIterator[BrokerFactory]:
    """make_broker(fake, **settings_overrides) -> a BybitBroker (not started) closed at the end."""
    made: list[BybitBroker] = []

    def factory(
        server: FakeBybit,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        timeout_ms: int = 2000,
        **overrides: Any,
    ) -> BybitBroker:
        broker = BybitBroker(
            server.settings(**overrides),
            api_key=api_key or server.api_key,
            api_secret=api_secret or server.api_secret,
            timeout_ms=timeout_ms,
            retry=FAST_RETRY,
            fill_polling=FAST_POLL,
        )
        made.append(broker)
        return broker

    yield factory
    for broker in made:
        await broker.aclose()


@pytest.fixture
async def broker(fake: FakeBybit, make_broker: BrokerFactory) -> BybitBroker:
    b = make_broker(fake)
    await b.start()
    return b


@pytest.fixture
async def hedge_broker(hedge_fake: FakeBybit, make_broker: BrokerFactory) -> BybitBroker:
    b = make_broker(hedge_fake)
    await b.start()
    return b
