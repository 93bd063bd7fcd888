"""sources/by_kind.py: each trader read by its kind's source; the extras are the primary's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lightspeed_cli.config.sections import TraderSettings
from lightspeed_cli.models import FetchResult, FetchStatus, SourceKind
from lightspeed_cli.sources.by_kind import SourcesByKind

NOW = datetime(2026, 12, 8, tzinfo=UTC)


class Stub:
    def __init__(self, name: str, rate: float) -> None:
        self.name, self.rate, self.closed = name, rate, 0

    async def fetch(self, trader: TraderSettings, *, other_exit: bool = False) -> FetchResult:
        return FetchResult(
            trader=trader.id, status=FetchStatus.OK, reason=self.name, fetched_at=NOW
        )

    def request_rate(self) -> float:
        return self.rate

    def exit_states(self) -> list[str]:
        return [self.name]

    async def aclose(self) -> None:
        self.closed += 1


async def test_routes_by_kind_sums_budgets_and_closes_each_once() -> None:
    binance, hl = Stub("binance", 20), Stub("hl", 10)
    sources = SourcesByKind(
        {
            SourceKind.COPYTRADE: binance,
            SourceKind.LEADERBOARD: binance,
            SourceKind.HYPERLIQUID: hl,
        },
        primary=binance,
    )
    wallet = TraderSettings(id="0x" + "a1" * 20, source=SourceKind.HYPERLIQUID)
    portfolio = TraderSettings(id="4000000000000000101", source=SourceKind.COPYTRADE)
    assert (await sources.fetch(wallet)).reason == "hl"
    assert (await sources.fetch(portfolio)).reason == "binance"
    assert sources.request_rate() == 30
    assert sources.exit_states() == ["binance"]  # the primary's extras
    await sources.aclose()
    assert (binance.closed, hl.closed) == (1, 1)


async def test_without_a_primary_there_are_no_extras_and_an_unknown_kind_is_an_error() -> None:
    sources = SourcesByKind({SourceKind.HYPERLIQUID: Stub("hl", 10)})
    assert getattr(sources, "read", None) is None  # Leaders.for_source: none to read
    with pytest.raises(AttributeError):
        sources.exit_states  # noqa: B018
    portfolio = TraderSettings(id="4000000000000000101", source=SourceKind.COPYTRADE)
    result = await sources.fetch(portfolio)
    assert result.status is FetchStatus.ERROR and "no source for copytrade" in result.reason
