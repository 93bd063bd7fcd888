"""Nothing but the order between a leader's change and Bybit: the price comes from the
background cache while it is fresh (never when stale), and leverage was set ahead of time."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from engine_rig import TRADER_A

from lightspeed_cli.sim.binance import FakePosition

L = FakePosition.long
D = Decimal


def _ticker_reads(rig, symbol: str) -> int:
    """Direct price reads of one symbol (the cache reads every symbol at once)."""
    return sum(
        1
        for r in rig.bybit.requests
        if r.path == "/v5/market/tickers" and r.params.get("symbol") == symbol
    )


def _requests_between(rig, start: int, path_prefix: str = "/v5/") -> list[str]:
    return [r.path for r in rig.bybit.requests[start:] if r.path.startswith(path_prefix)]


async def test_an_open_with_a_fresh_cache_and_prepared_leverage_makes_no_request_first(
    make_rig,
) -> None:
    rig = await make_rig()
    rig.bybit.set_price("BTCUSDT", "60000")
    # the trader held BTC when we started (a baseline): its leverage is set now, off the clock
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000", 10)])
    await rig.poll()
    await rig.engine.ahead.aclose()
    assert rig.bybit.leverage.get("BTCUSDT") == D(10)
    await rig.poll_flat()  # it closes (never mirrored: nothing to do)...
    await rig.engine.prices.refresh()
    before = len(rig.bybit.requests)
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000", 10)])  # ...and opens again
    await rig.poll()
    paths = _requests_between(rig, before)
    assert paths[0] == "/v5/order/create"  # nothing before the order
    assert [trips for _, trips in rig.engine.hot_path] == [0]
    assert rig.bybit_size("BTCUSDT") == D("0.1")


async def test_a_stale_cached_price_is_never_used_for_the_divergence_check(make_rig) -> None:
    rig = await make_rig()
    rig.engine.prices.max_age_seconds = 0.2  # bybit.price_max_age_seconds
    await rig.poll_flat()
    rig.bybit.set_price("BTCUSDT", "60000")  # the cache sees Bybit at the leader's mark...
    await rig.engine.prices.refresh()
    assert rig.engine.prices.fresh("BTCUSDT") == D(60000)
    rig.bybit.set_price("BTCUSDT", "61000")  # ...then Bybit moves 1.7 % away
    await asyncio.sleep(0.3)  # the cached 60000 is older than the 0.2 s bound now
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000", 10)])
    await rig.poll()
    assert _ticker_reads(rig, "BTCUSDT") == 1  # read directly, as the cache was stale
    assert rig.bybit_size("BTCUSDT") == 0
    rows = rig.engine.journal.history(limit=5)
    assert rows[0]["decision"] == "refused" and rows[0]["check_name"] == "price_divergence_bps"


async def test_a_fresh_cached_price_is_used_without_a_request(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat()
    rig.bybit.set_price("BTCUSDT", "60000")
    await rig.engine.prices.refresh()
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000", 10)])
    await rig.poll()
    assert _ticker_reads(rig, "BTCUSDT") == 0
    assert rig.bybit_size("BTCUSDT") == D("0.1")
    # a first open on a symbol never prepared: leverage and margin mode go before the order
    assert [trips for _, trips in rig.engine.hot_path] == [2]


async def test_the_running_engine_keeps_the_cache_fresh_and_prepares_margin_mode(
    make_rig,
) -> None:
    rig = await make_rig()
    rig.engine.prices.refresh_seconds = 0.05  # bybit.price_refresh_seconds
    stop = asyncio.Event()
    run = asyncio.create_task(rig.engine.run(stop))
    while rig.engine.prices.refreshes < 3 or rig.bybit.calls("/v5/account/set-margin-mode") < 1:
        await asyncio.sleep(0.02)
    stop.set()
    assert await asyncio.wait_for(run, timeout=10) == 0
    assert rig.engine.prices.fresh("ETHUSDT") is not None


async def test_bybit_30_percent_away_inside_the_cache_window_never_fills_the_open(make_rig):
    """Issue 22, item 3: the check passed on the cached price, but the open goes as an IOC
    limit at the leader's mark + the divergence limit: at 30 % away nothing fills."""
    rig = await make_rig()
    await rig.poll_flat()
    rig.bybit.set_price("BTCUSDT", "60000")
    await rig.engine.prices.refresh()  # the cache sees Bybit at the leader's mark...
    rig.bybit.set_price("BTCUSDT", "78000")  # ...then Bybit jumps 30 %, inside its window
    assert rig.engine.prices.fresh("BTCUSDT") == D(60000)
    rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000", 10)])
    await rig.poll()
    assert rig.bybit_size("BTCUSDT") == 0
    (order,) = rig.bybit.orders
    bound = D(60000) * (1 + rig.engine.settings.safety.max_price_divergence_bps / 10_000)
    assert order.order_type == "Limit" and order.protection_price <= bound
    assert order.filled_qty == 0 and order.status == "Cancelled"


async def test_an_open_within_the_bound_fills_and_a_close_goes_unbounded(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat()
    rig.bybit.set_price("BTCUSDT", "60000")
    rig.binance.set_positions(TRADER_A, [FakePosition.short("BTCUSDT", "1", "60000", 10)])
    await rig.poll()
    assert rig.bybit_size("BTCUSDT", "short") == D("0.1")
    opened = rig.bybit.orders[-1]
    bound = D(60000) * (1 - rig.engine.settings.safety.max_price_divergence_bps / 10_000)
    assert (opened.order_type, opened.protection_price) == ("Limit", bound)
    rig.bybit.set_price("BTCUSDT", "78000")  # a close goes out whatever the price
    await rig.poll_flat()
    assert rig.bybit_size("BTCUSDT", "short") == 0
    assert rig.bybit.orders[-1].order_type == "Market"
