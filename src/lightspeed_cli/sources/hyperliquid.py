"""Read a Hyperliquid wallet's perp book: `POST /info` `clearinghouseState` (the poll side).

`HyperliquidSource.fetch` is the engine's `Source` protocol (the same as BinanceSource): a
FetchResult with a Snapshot only for a well-formed success answer (DESIGN rule 1). An error, a
timeout, HTTP 429, HTTP 500 with body `null`, or a body we cannot read is ERROR, never "flat".
The snapshot carries `marginSummary.accountValue` as `leader_equity`. Coins that are not
first-dex perps (spot, outcome, builder-dex) are left out of the book with their reason logged
once; `k` coins are named as 1000-unit contracts (kPEPE -> 1000PEPEUSDT, decisions/symbols.py).

The pushed side (fills over the WebSocket) is sources/hyperliquid_push.py; it reads books and
backfills through `read_book` and `fills_since` here. Reads are retried (`polling.retries`) with
back-off on timeouts, 5xx and 429. Hyperliquid's per-IP budget is 1,200 weight a minute and a
clearinghouseState costs 2: `request_rate` tells the poll schedule 10 reads a second.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import httpx

from lightspeed_cli.config.sections import HyperliquidSettings, PollingSettings, TraderSettings
from lightspeed_cli.models import FetchResult, FetchStatus, Snapshot
from lightspeed_cli.sources.errors import SourceError, TransientError
from lightspeed_cli.sources.failurelog import FailureLog
from lightspeed_cli.sources.hyperliquid_wire import (
    HlBook,
    HlFill,
    parse_clearinghouse,
    parse_fills,
)

log = logging.getLogger(__name__)

WEIGHT_PER_MINUTE = 1200  # per IP, all REST (shared/api/hyperliquid.md section 7)
STATE_WEIGHT = 2  # clearinghouseState
FILLS_PAGE = 2000  # userFillsByTime answers at most this many fills
MAX_FILL_PAGES = 5  # only the 10,000 most recent fills exist at all
BACKOFF_FIRST, BACKOFF_MAX, BACKOFF_JITTER = 0.25, 4.0, 0.25  # seconds
THROTTLE_PAUSE = 2.0  # seconds after a 429 (no Retry-After was found recorded)


def utcnow() -> datetime:
    return datetime.now(UTC)


class HyperliquidSource:
    """Polls Hyperliquid's info endpoint; one instance serves every followed wallet."""

    def __init__(
        self,
        hyperliquid: HyperliquidSettings,
        polling: PollingSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._url = hyperliquid.info_url
        self._timeout = polling.timeout_seconds
        self._attempts = polling.retries + 1
        self._clock = clock
        self._client = httpx.AsyncClient(
            timeout=self._timeout,
            headers={"Content-Type": "application/json"},
            trust_env=False,  # proxies come from config only
            limits=httpx.Limits(max_connections=polling.concurrency),
        )
        self._failures = FailureLog(log)
        self._refused_seen: set[tuple[str, str]] = set()
        self._refused: dict[str, tuple[tuple[str, str], ...]] = {}

    async def __aenter__(self) -> HyperliquidSource:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def request_rate(self) -> float:
        """clearinghouseState reads per second the per-IP weight budget allows."""
        return WEIGHT_PER_MINUTE / STATE_WEIGHT / 60

    async def fetch(self, trader: TraderSettings, *, other_exit: bool = False) -> FetchResult:
        """One poll of one wallet: OK with a snapshot, or ERROR with the reason. `other_exit`
        is accepted for the protocol; there is one exit (direct) so far."""
        try:
            book = await self.read_book(trader.id)
        except SourceError as exc:
            return self._failed(trader.id, exc.kind, exc.reason)
        except Exception as exc:  # a bug must not read as "flat" either; keep the traceback
            log.debug("trader %s: unexpected error", trader.id, exc_info=True)
            reason = f"internal error while reading Hyperliquid: {type(exc).__name__}: {exc}"
            return self._failed(trader.id, "internal", reason)
        self._failures.recovered(trader.id)
        snapshot = self.snapshot(trader.id, book)
        return FetchResult(
            trader=trader.id,
            status=FetchStatus.OK,
            snapshot=snapshot,
            fetched_at=snapshot.fetched_at,
        )

    def snapshot(self, trader: str, book: HlBook) -> Snapshot:
        """The book as a Snapshot (logging, once per coin, what it leaves out and why)."""
        self._refused[trader] = book.refused
        for coin, reason in book.refused:
            if (trader, coin) not in self._refused_seen:
                self._refused_seen.add((trader, coin))
                log.warning("trader %s: %s", trader, reason)
        return Snapshot(
            trader=trader,
            positions=book.positions,
            fetched_at=self._clock(),
            source_time=book.at,
            leader_equity=book.account_value,
        )

    def refused(self, trader: str) -> tuple[tuple[str, str], ...]:
        """(coin, reason) of the positions the trader's last book held that are not copied."""
        return self._refused.get(trader, ())

    async def read_book(self, user: str) -> HlBook:
        """The wallet's clearinghouseState. Raises SourceError."""
        payload = {"type": "clearinghouseState", "user": user.lower()}
        return parse_clearinghouse(await self.info(payload))

    async def fills_since(self, user: str, start_ms: int) -> list[HlFill]:
        """The wallet's fills from `start_ms` (inclusive) to now, oldest first, paged by the
        last returned time (inclusive again: the boundary fills come back and are deduped by
        key here). Raises SourceError."""
        fills: dict[tuple[Any, ...], HlFill] = {}
        for _ in range(MAX_FILL_PAGES):
            payload = {"type": "userFillsByTime", "user": user.lower(), "startTime": start_ms}
            page = parse_fills(await self.info(payload))
            new = [f for f in page if f.key not in fills]
            fills.update((f.key, f) for f in new)
            if len(page) < FILLS_PAGE or not new:
                break
            start_ms = max(f.time_ms for f in page)
        else:
            log.warning(
                "trader %s: more than %d fills to backfill; reading the book", user, len(fills)
            )
        return sorted(fills.values(), key=lambda f: f.time_ms)

    async def info(self, payload: dict[str, Any]) -> bytes:
        """One info request's body, retried on timeouts, 5xx and 429. Raises SourceError."""
        body = json.dumps(payload).encode()
        for attempt in range(1, self._attempts + 1):
            try:
                return await self._post(body)
            except SourceError as error:
                if not error.retryable or attempt == self._attempts:
                    raise
                await asyncio.sleep(_pause(error, attempt))
        raise AssertionError("unreachable")

    async def _post(self, body: bytes) -> bytes:
        try:
            response = await self._client.post(self._url, content=body)
        except httpx.TimeoutException:
            raise TransientError(
                "timeout", f"no answer from Hyperliquid within {self._timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise TransientError(
                "connection", f"cannot reach Hyperliquid: {type(exc).__name__}"
            ) from None
        status = response.status_code
        if status == 200:
            return response.content
        if status == 429:
            raise TransientError("http-429", "Hyperliquid rate limited this IP (HTTP 429)")
        if status >= 500:
            shown = " with body null" if response.content.strip() == b"null" else ""
            raise TransientError(
                f"http-{status}", f"Hyperliquid server error: HTTP {status}{shown}"
            )
        raise SourceError(f"http-{status}", f"unexpected answer from Hyperliquid: HTTP {status}")

    def _failed(self, trader: str, kind: str, reason: str) -> FetchResult:
        self._failures.failed(trader, kind, reason)
        return FetchResult(
            trader=trader, status=FetchStatus.ERROR, reason=reason, fetched_at=self._clock()
        )


def _pause(error: SourceError, failed_attempts: int) -> float:
    if error.kind == "http-429":
        return THROTTLE_PAUSE
    return min(BACKOFF_FIRST * 2 ** (failed_attempts - 1), BACKOFF_MAX) + random.uniform(
        0, BACKOFF_JITTER
    )
