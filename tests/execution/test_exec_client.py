"""The ccxt client set-up: networks, URL override, clock resync."""

from __future__ import annotations

import pytest
from exec_helpers import IntentFactory

from lightspeed_cli.config.choices import Network
from lightspeed_cli.config.sections import BybitSettings
from lightspeed_cli.execution.base import ExecutionOutcome
from lightspeed_cli.execution.bybit import BybitBroker
from lightspeed_cli.execution.ccxt_client import create_exchange
from lightspeed_cli.sim.bybit import FakeBybit, Fault


@pytest.mark.parametrize(
    ("network", "host"),
    [
        (Network.MAINNET, "api.bybit.com"),
        (Network.TESTNET, "api-testnet.bybit.com"),
        (Network.DEMO, "api-demo.bybit.com"),
    ],
)
async def test_network_selects_the_host(network: Network, host: str) -> None:
    exchange = create_exchange(BybitSettings(network=network), api_key="k", api_secret="s")
    try:
        assert host in exchange.urls["api"]["private"].replace("{hostname}", "bybit.com")
    finally:
        exchange.timeout_on_exit = 0
        await exchange.close()


async def test_base_url_overrides_every_network() -> None:
    settings = BybitSettings(network=Network.TESTNET, base_url="http://127.0.0.1:9/")
    exchange = create_exchange(settings)
    try:
        assert exchange.urls["api"] == {
            "public": "http://127.0.0.1:9",
            "private": "http://127.0.0.1:9",
        }
        assert exchange.options["fetchMarkets"]["types"] == ["linear"]
        assert not exchange.enableRateLimit
    finally:
        exchange.timeout_on_exit = 0
        await exchange.close()


async def test_clock_out_of_sync_resyncs_and_retries(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    time_calls = fake.calls("/v5/market/time")
    fake.inject("/v5/order/create", Fault.error(10002, "invalid request, check your timestamp"))
    assert (await broker.execute(intent("clk1"))).outcome is ExecutionOutcome.FILLED
    assert fake.calls("/v5/market/time") == time_calls + 1
    assert len(fake.orders) == 1
