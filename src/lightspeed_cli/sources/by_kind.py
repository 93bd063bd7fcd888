"""One Source over several: each trader is read by the source of its kind (Binance or
Hyperliquid), so the engine keeps its one `Source` and one poll schedule.

Whatever else the engine asks of its source (the lead-portfolio reads of copy-trade leaders,
the exits' states) is the Binance source's, when there is one. The poll budget is the sum of
the sources' own: Binance's and Hyperliquid's limits are separate (per IP, per exchange).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lightspeed_cli.config.sections import TraderSettings
from lightspeed_cli.models import FetchResult, FetchStatus, SourceKind


class SourcesByKind:
    def __init__(self, sources: Mapping[SourceKind, Any], *, primary: Any | None = None) -> None:
        """`sources`: the source for each kind (one object may serve several kinds);
        `primary`: the one whose extras (read, exit_states) the engine sees."""
        self._sources = dict(sources)
        self._primary = primary

    def __getattr__(self, name: str) -> Any:
        primary = self.__dict__.get("_primary")
        if primary is None or name.startswith("_"):
            raise AttributeError(name)
        return getattr(primary, name)

    def source_for(self, kind: SourceKind) -> Any | None:
        return self._sources.get(kind)

    async def fetch(self, trader: TraderSettings, *, other_exit: bool = False) -> FetchResult:
        source = self._sources.get(trader.source)
        if source is None:
            return FetchResult(
                trader=trader.id,
                status=FetchStatus.ERROR,
                reason=f"no source for {trader.source.value} traders",
                fetched_at=datetime.now(UTC),
            )
        result: FetchResult = await source.fetch(trader, other_exit=other_exit)
        return result

    def request_rate(self) -> float:
        rates = [
            rate() for s in self._distinct() if callable(rate := getattr(s, "request_rate", None))
        ]
        return float(sum(rates)) if rates else 1.0

    async def aclose(self) -> None:
        for source in self._distinct():
            await source.aclose()

    def _distinct(self) -> list[Any]:
        seen: list[Any] = []
        for source in self._sources.values():
            if all(source is not s for s in seen):
                seen.append(source)
        return seen
