"""The engine's door for pushes: a pushed snapshot takes the same follow -> mirror path as a poll.

A push feed (sources/hyperliquid_push.py) hands out BOOK, FILL and BLIND events. A BOOK or FILL
is a read like a poll's: it goes on the view and into the journal (Follow.seen), then through
the same diff, safety checks, journal and fate rules (the engine's `take`), with no round trip
before the order. A BLIND is a failed read: status ERROR with its reason, so the trader goes
BLIND in `status` and raises the blind alert (notify/blind.py) exactly like an unreadable
Binance trader. While the socket is up and a wallet synced, the wallet counts as read (a quiet
leader is not a blind one): `heartbeat` says so every second.

After a pushed FILL's orders, the leader's own fill (price and time) is recorded as the leader
fill of each order it caused: slippage and detection latency in `history` and `status` measure
against it. Each trader's events are handled in order on its own task, so one trader's order
never waits behind another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from lightspeed_cli.config.sections import TraderSettings
from lightspeed_cli.decisions import fidelity
from lightspeed_cli.decisions.symbols import hyperliquid_symbol
from lightspeed_cli.journal.store import Journal, OrderStatus
from lightspeed_cli.models import FetchResult, FetchStatus, Snapshot
from lightspeed_cli.sources.hyperliquid_push import PushEvent, PushKind
from lightspeed_cli.sources.hyperliquid_wire import HlFill

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 1.0  # a synced wallet counts as read this often


class PushFeed(Protocol):
    """What the door needs of a push source (HyperliquidPush)."""

    pushed: tuple[str, ...]

    def blind(self, trader: str) -> str | None: ...

    def __aiter__(self) -> AsyncIterator[PushEvent]: ...

    async def __aenter__(self) -> PushFeed: ...

    async def __aexit__(self, *exc: object) -> None: ...


Seen = Callable[[TraderSettings, FetchResult], Snapshot | None]  # Follow.seen
Take = Callable[[TraderSettings, Snapshot], Awaitable[None]]  # the guarded follow -> mirror


class Pushed:
    def __init__(
        self,
        feed: PushFeed,
        traders: Sequence[TraderSettings],
        *,
        seen: Seen,
        take: Take,
        journal: Callable[[], Journal],
        price_scale: Callable[[str], Decimal],
        clock: Callable[[], datetime],
    ) -> None:
        self.feed = feed
        self._traders = {t.id: t for t in traders if t.id in feed.pushed}
        self._seen = seen
        self._take = take
        self._journal = journal
        self._price_scale = price_scale
        self._clock = clock
        self._queues: dict[str, asyncio.Queue[PushEvent]] = {}
        self._workers: list[asyncio.Task[None]] = []

    @property
    def traders(self) -> list[TraderSettings]:
        return list(self._traders.values())

    async def run(self, stop: asyncio.Event) -> None:
        """Take the feed's events until `stop`."""
        if not self._traders:
            return
        async with self.feed:
            for trader in self._traders.values():
                queue: asyncio.Queue[PushEvent] = asyncio.Queue()
                self._queues[trader.id] = queue
                self._workers.append(
                    asyncio.create_task(self._worker(trader, queue), name=f"pushed-{trader.id}")
                )
            reader = asyncio.create_task(self._read(), name="push-feed")
            beat = asyncio.create_task(self.heartbeat(stop), name="push-heartbeat")
            try:
                await stop.wait()
            finally:
                for task in (reader, beat):
                    task.cancel()
                await asyncio.gather(reader, beat, return_exceptions=True)
                # an order going out finishes (its worker is between events otherwise)
                for queue in self._queues.values():
                    await queue.join()
                for task in self._workers:
                    task.cancel()
                await asyncio.gather(*self._workers, return_exceptions=True)

    async def _read(self) -> None:
        async for event in self.feed:
            queue = self._queues.get(event.trader)
            if queue is not None:
                queue.put_nowait(event)

    async def _worker(self, trader: TraderSettings, queue: asyncio.Queue[PushEvent]) -> None:
        while True:
            event = await queue.get()
            try:
                await self.handle(trader, event)
            except Exception:  # the take is guarded; this is a bug in the door itself
                log.exception("trader %s: pushed event failed", trader.id)
            finally:
                queue.task_done()

    async def handle(self, trader: TraderSettings, event: PushEvent) -> None:
        """One event: a read on the view and in the journal, then follow -> mirror."""
        now = self._clock()
        if event.kind is PushKind.BLIND or event.snapshot is None:
            self._seen(trader, _failed(trader.id, event.reason or "no snapshot", now))
            return
        blind = self.feed.blind(trader.id)
        if blind is not None:  # a book read while the socket is silent: the truth, still blind
            await self._take(trader, event.snapshot)
            return
        result = FetchResult(
            trader=trader.id, status=FetchStatus.OK, snapshot=event.snapshot, fetched_at=now
        )
        snapshot = self._seen(trader, result)
        if snapshot is None:
            return
        await self._take(trader, snapshot)
        if event.kind is PushKind.FILL and event.fill is not None:
            self.leader_fill(trader.id, event.fill, snapshot.fetched_at)

    async def heartbeat(self, stop: asyncio.Event, every: float = HEARTBEAT_SECONDS) -> None:
        """A synced wallet on a live socket is seen (ok, no snapshot); a blind one is not."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)
            now = self._clock()
            for trader in self._traders.values():
                if self.feed.blind(trader.id) is None:
                    ok = FetchResult(trader=trader.id, status=FetchStatus.OK, fetched_at=now)
                    self._seen(trader, ok)

    def leader_fill(self, trader: str, fill: HlFill, since: datetime) -> None:
        """The pushed fill is the leader fill of the orders it caused (filled since `since`)."""
        journal = self._journal()
        leader_at = fill.at
        try:
            symbol = hyperliquid_symbol(fill.coin)
        except ValueError:
            return  # a coin that is not copied caused no order
        for row in journal.filled_orders_since(since):
            if row.trader != trader or row.binance_symbol != symbol:
                continue
            if row.status is not OrderStatus.FILLED or row.leader_fill_price is not None:
                continue
            slippage = None
            if row.fill_price is not None and fill.px > 0:
                slippage = fidelity.slippage_bps(
                    row.order_side,  # type: ignore[arg-type]
                    fill.px,
                    row.fill_price,
                    self._price_scale(row.binance_symbol),
                )
            latency = None
            if row.sent_at is not None:
                latency = (row.sent_at - leader_at) / timedelta(milliseconds=1)
            journal.record_leader_fill(
                row.client_order_id,
                fill.px,
                leader_at,
                slippage_bps=slippage,
                detection_latency_ms=latency,
            )


def _failed(trader: str, reason: str, at: datetime) -> FetchResult:
    return FetchResult(trader=trader, status=FetchStatus.ERROR, reason=reason, fetched_at=at)
