"""The poll side (clearinghouseState -> Snapshot) against the fake Hyperliquid over real HTTP."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hyperliquid_helpers import WALLET

from lightspeed_cli.config.sections import HyperliquidSettings, PollingSettings, TraderSettings
from lightspeed_cli.models import FetchStatus, Side, SourceKind
from lightspeed_cli.sim.hyperliquid import FakeHyperliquid, Fault, HlPosition
from lightspeed_cli.sources.hyperliquid import HyperliquidSource

TRADER = TraderSettings(id=WALLET, source=SourceKind.HYPERLIQUID)


async def test_the_book_is_a_snapshot_with_the_leaders_equity(
    hl_fake: FakeHyperliquid, hl_source: HyperliquidSource
) -> None:
    hl_fake.set_positions(
        WALLET,
        [HlPosition.long("BTC", "0.5", "60000", 20), HlPosition.short("kPEPE", "3000", "0.01", 5)],
        account_value="12345.6",
    )
    hl_fake.set_mark("BTC", "61000")
    result = await hl_source.fetch(TRADER)
    assert result.status is FetchStatus.OK and result.snapshot is not None
    snapshot = result.snapshot
    assert snapshot.trader == WALLET and snapshot.leader_equity == Decimal("12345.6")
    btc, pepe = snapshot.positions
    assert (btc.symbol, btc.side, btc.size, btc.entry_price) == (
        "BTCUSDT", Side.LONG, Decimal("0.5"), Decimal(60000)
    )  # fmt: skip
    assert btc.mark_price == Decimal(61000) and btc.leverage == 20
    assert (pepe.symbol, pepe.side, pepe.size, pepe.leverage) == (
        "1000PEPEUSDT", Side.SHORT, Decimal(3000), 5
    )  # fmt: skip
    assert snapshot.source_time is not None
    (request,) = hl_fake.requests()
    assert request.body == {"type": "clearinghouseState", "user": WALLET}


async def test_a_flat_wallet_is_an_empty_book(
    hl_fake: FakeHyperliquid, hl_source: HyperliquidSource
) -> None:
    result = await hl_source.fetch(TRADER)
    assert result.status is FetchStatus.OK and result.snapshot is not None
    assert result.snapshot.positions == ()


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault.RATE_LIMIT, "HTTP 429"),
        (Fault.SERVER_NULL, "HTTP 500 with body null"),
        (Fault.MALFORMED, "malformed answer from Hyperliquid"),
    ],
)
async def test_faults_are_errors_never_flat(
    hl_fake: FakeHyperliquid, hl_source: HyperliquidSource, fault: Fault, reason: str
) -> None:
    hl_fake.set_positions(WALLET, [HlPosition.long("BTC", "1", "60000")])
    hl_fake.inject(fault)
    result = await hl_source.fetch(TRADER)
    assert result.status is FetchStatus.ERROR and result.snapshot is None
    assert reason in result.reason
    assert (await hl_source.fetch(TRADER)).status is FetchStatus.OK  # the next read is fine


async def test_a_timeout_is_an_error(hl_fake: FakeHyperliquid) -> None:
    settings = HyperliquidSettings(info_url=hl_fake.info_url)
    hl_fake.inject(Fault.SLOW, delay=1.0)
    async with HyperliquidSource(settings, PollingSettings(timeout_seconds=0.2, retries=0)) as src:
        result = await src.fetch(TRADER)
    assert result.status is FetchStatus.ERROR and "within 0.2 s" in result.reason


async def test_retries_ride_out_a_500(hl_fake: FakeHyperliquid) -> None:
    settings = HyperliquidSettings(info_url=hl_fake.info_url)
    hl_fake.inject(Fault.SERVER_NULL)
    async with HyperliquidSource(settings, PollingSettings(timeout_seconds=2, retries=1)) as src:
        assert (await src.fetch(TRADER)).status is FetchStatus.OK
    assert [r.status for r in hl_fake.requests()] == [500, 200]


async def test_an_unreachable_api_is_an_error() -> None:
    settings = HyperliquidSettings(info_url="http://127.0.0.1:9/info")
    async with HyperliquidSource(settings, PollingSettings(timeout_seconds=1, retries=0)) as src:
        result = await src.fetch(TRADER)
    assert result.status is FetchStatus.ERROR and "cannot reach Hyperliquid" in result.reason


@pytest.mark.parametrize("coin", ["@107", "PURR/USDC", "#12", "flx:CRCL"])
async def test_coins_that_are_not_first_dex_perps_are_left_out_loudly(
    hl_fake: FakeHyperliquid,
    hl_source: HyperliquidSource,
    coin: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hl_fake.set_positions(
        WALLET, [HlPosition.long(coin, "10", "1"), HlPosition.long("ETH", "1", "3000")]
    )
    result = await hl_source.fetch(TRADER)
    assert result.snapshot is not None
    assert [p.symbol for p in result.snapshot.positions] == ["ETHUSDT"]
    assert coin in caplog.text and "not" in caplog.text
    caplog.clear()
    await hl_source.fetch(TRADER)
    assert coin not in caplog.text  # said once per trader and coin


async def test_fills_since_pages_and_dedupes_the_inclusive_bounds(
    hl_fake: FakeHyperliquid, hl_source: HyperliquidSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lightspeed_cli.sim.hyperliquid as fake_module
    import lightspeed_cli.sources.hyperliquid as module

    monkeypatch.setattr(fake_module, "MAX_FILLS_PER_ANSWER", 3)
    monkeypatch.setattr(module, "FILLS_PAGE", 3)
    for n in range(7):  # pairs of fills in the same millisecond straddle every page boundary
        hl_fake.fill(WALLET, "BTC", "B", "0.1", time_ms=1_000 + n // 2)
    fills = await hl_source.fills_since(WALLET, 1_000)
    assert len(fills) == 7 and len({f.tid for f in fills}) == 7
    assert len(hl_fake.requests("userFillsByTime")) >= 3
