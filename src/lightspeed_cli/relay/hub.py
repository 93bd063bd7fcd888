"""The relay's heart: each followed leader read once, each changed book pushed to every follower.

A `Feed` exists while at least one connection follows its leader: one reader task reads the
leader every `read_interval_seconds` through `fetch` (the vendor's BinanceSource, narrowed to
the one call it needs), however many follow it. A book is published only when its shape (the
symbol, side, size and leverage of each position) changed; marks and PnL moving are not news.
A book that would close MASS_CLOSE or more positions is read again through another exit first
(decisions/massclose.py decides what the two reads prove) and says so in the message. An error
or a hidden book publishes nothing: no data is never flat (DESIGN rule 1).

Subscribers are queues: the hub never waits on a slow client; one whose queue is full is cut
(`Subscriber.overflowed`) rather than slowing everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lightspeed_cli.config.sections import TraderSettings
from lightspeed_cli.decisions.massclose import confirmed, needs_confirmation
from lightspeed_cli.models import FetchResult, FetchStatus, Snapshot
from lightspeed_cli.relay.config import RelayConfig
from lightspeed_cli.sources.relay_message import (
    BookMessage,
    Heartbeat,
    LeaderRef,
    sign_message,
)

log = logging.getLogger(__name__)

Fetch = Callable[[TraderSettings, bool], Awaitable[FetchResult]]  # (leader, other_exit)


def utcnow() -> datetime:
    return datetime.now(UTC)


def book_shape(snapshot: Snapshot) -> frozenset[tuple[object, ...]]:
    return frozenset((p.symbol, p.side, p.size, p.leverage) for p in snapshot.positions)


class Subscriber:
    """One connection's outbox: signed messages (str) and, last, None for "close"."""

    def __init__(self, key_id: str, size: int) -> None:
        self.key_id = key_id
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=size)
        self.overflowed = False

    def offer(self, token: str) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(token)
        except asyncio.QueueFull:
            self.overflowed = True
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(None)


@dataclass
class Feed:
    leader: LeaderRef
    subscribers: set[Subscriber] = field(default_factory=set)
    book: Snapshot | None = None
    read_at: datetime | None = None
    confirmed_flag: bool = False
    seq: int = 0
    reads: int = 0
    published: int = 0
    task: asyncio.Task[None] | None = None


class Hub:
    def __init__(
        self,
        fetch: Fetch,
        signing_key: Ed25519PrivateKey,
        config: RelayConfig,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._fetch = fetch
        self._key = signing_key
        self.config = config
        self._clock = clock
        self.epoch = int(time.time() * 1000)
        self.feeds: dict[str, Feed] = {}
        self.subscribers: set[Subscriber] = set()
        self.started = time.monotonic()
        self.on_tick: Callable[[Hub], None] | None = None  # each heartbeat (the status file)
        self._heartbeat: asyncio.Task[None] | None = None

    # -- who follows whom --------------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber, leaders: list[LeaderRef]) -> None:
        if self._heartbeat is None:  # started in the server's own loop, with the first client
            self._heartbeat = asyncio.create_task(self.heartbeat_loop(), name="relay heartbeat")
        self.subscribers.add(subscriber)
        for leader in leaders:
            feed = self.feeds.get(leader.key)
            if feed is None:
                feed = self.feeds[leader.key] = Feed(leader)
                feed.task = asyncio.create_task(self._read_loop(feed), name=f"relay {leader.key}")
            feed.subscribers.add(subscriber)
            if feed.book is not None:  # the newcomer gets the current book at once
                subscriber.offer(self._sign_book(feed))

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        for key, feed in list(self.feeds.items()):
            feed.subscribers.discard(subscriber)
            if not feed.subscribers:
                del self.feeds[key]
                if feed.task is not None:
                    feed.task.cancel()

    def connections(self, key_id: str) -> int:
        return sum(1 for s in self.subscribers if s.key_id == key_id)

    # -- reading and publishing --------------------------------------------------------------

    async def _read_loop(self, feed: Feed) -> None:
        trader = TraderSettings(id=feed.leader.id, source=feed.leader.source)
        while True:
            try:
                await self._read_once(feed, trader)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in one feed must not stop the others; keep reading
                log.exception("relay: reading %s failed", feed.leader.key)
            await asyncio.sleep(self.config.read_interval_seconds)

    async def _read(self, feed: Feed, trader: TraderSettings, other_exit: bool) -> Snapshot | None:
        result = await self._fetch(trader, other_exit)
        feed.reads += 1
        if result.status is not FetchStatus.OK or result.snapshot is None:
            log.info("relay: %s not read (%s): %s", feed.leader.key, result.status, result.reason)
            return None
        return result.snapshot

    async def _read_once(self, feed: Feed, trader: TraderSettings) -> None:
        current = await self._read(feed, trader, False)
        if current is None:
            return
        previous = feed.book
        if previous is not None and book_shape(previous) == book_shape(current):
            feed.read_at = current.fetched_at
            return
        mass_close = needs_confirmation(previous, current)
        if mass_close:
            assert previous is not None
            second = await self._read(feed, trader, True)
            book = confirmed(previous, current, second)
            if book is None:
                return  # the second read failed: publish nothing, ask again next time
            current = book
            mass_close = needs_confirmation(previous, current)
            if previous is not None and book_shape(previous) == book_shape(current):
                feed.read_at = current.fetched_at
                return  # the second read took the closes back
        feed.book, feed.read_at, feed.confirmed_flag = current, current.fetched_at, mass_close
        self._publish(feed)

    def _sign_book(self, feed: Feed) -> str:
        assert feed.book is not None and feed.read_at is not None
        feed.seq += 1
        message = BookMessage(
            leader=feed.leader,
            epoch=self.epoch,
            seq=feed.seq,
            positions=feed.book.positions,
            read_at=feed.read_at,
            source_time=feed.book.source_time,
            sent_at=self._clock(),
            mass_close_confirmed=feed.confirmed_flag,
        )
        return sign_message(message, self._key)

    def _publish(self, feed: Feed) -> None:
        token = self._sign_book(feed)
        feed.published += 1
        for subscriber in feed.subscribers:
            subscriber.offer(token)

    async def heartbeat_loop(self) -> None:
        """One signed heartbeat a tick, to every connection."""
        while True:
            token = sign_message(Heartbeat(epoch=self.epoch, sent_at=self._clock()), self._key)
            for subscriber in list(self.subscribers):
                subscriber.offer(token)
            if self.on_tick is not None:
                try:
                    self.on_tick(self)
                except Exception:
                    log.exception("relay: the status could not be written")
            await asyncio.sleep(self.config.heartbeat_seconds)

    async def close(self) -> None:
        tasks = [f.task for f in self.feeds.values() if f.task is not None]
        if self._heartbeat is not None:
            tasks.append(self._heartbeat)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.feeds.clear()
