"""engine/pushed.py: a pushed event is a read like a poll's, handed to the same take."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

from lightspeed_cli.config.sections import TraderSettings
from lightspeed_cli.engine.pushed import Pushed
from lightspeed_cli.models import FetchResult, FetchStatus, Snapshot, SourceKind
from lightspeed_cli.sources.hyperliquid_push import PushEvent, PushKind

A = TraderSettings(id="0x" + "a1" * 20, source=SourceKind.HYPERLIQUID)
B = TraderSettings(id="0x" + "b2" * 20, source=SourceKind.HYPERLIQUID)
NOW = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)


class Feed:
    def __init__(self, events: list[PushEvent], blind: dict[str, str] | None = None) -> None:
        self.pushed = (A.id, B.id)
        self.events = events
        self.blinds = blind or {}
        self.entered = False

    def blind(self, trader: str) -> str | None:
        return self.blinds.get(trader)

    async def __aenter__(self) -> Feed:
        self.entered = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.entered = False

    def __aiter__(self) -> AsyncIterator[PushEvent]:
        async def events() -> AsyncIterator[PushEvent]:
            for event in self.events:
                yield event
            await asyncio.Event().wait()

        return events()


def snapshot(trader: str, equity: str = "1000") -> Snapshot:
    return Snapshot(trader=trader, positions=(), fetched_at=NOW, leader_equity=Decimal(equity))


class Record:
    def __init__(self) -> None:
        self.seen: list[FetchResult] = []
        self.taken: list[tuple[str, Snapshot]] = []

    def on_seen(self, trader: TraderSettings, result: FetchResult) -> Snapshot | None:
        self.seen.append(result)
        return result.snapshot if result.status is FetchStatus.OK else None

    async def take(self, trader: TraderSettings, snap: Snapshot) -> None:
        await asyncio.sleep(0)
        self.taken.append((trader.id, snap))


def door(feed: Feed, record: Record) -> Pushed:
    return Pushed(
        feed,
        [A, B],
        seen=record.on_seen,
        take=record.take,
        journal=lambda: None,  # type: ignore[arg-type,return-value]
        price_scale=lambda _: Decimal(1),
        clock=lambda: NOW,
    )


async def test_a_book_is_a_good_read_taken_like_a_poll() -> None:
    record = Record()
    await door(Feed([]), record).handle(A, PushEvent(A.id, PushKind.BOOK, snapshot(A.id)))
    assert [r.status for r in record.seen] == [FetchStatus.OK]
    assert [t for t, _ in record.taken] == [A.id]


async def test_blind_is_a_failed_read_with_its_reason_and_nothing_is_taken() -> None:
    record = Record()
    event = PushEvent(A.id, PushKind.BLIND, reason="the Hyperliquid socket closed")
    await door(Feed([]), record).handle(A, event)
    assert [(r.status, r.reason) for r in record.seen] == [
        (FetchStatus.ERROR, "the Hyperliquid socket closed")
    ]
    assert record.taken == []


async def test_a_book_read_while_the_socket_is_silent_is_taken_but_not_a_good_read() -> None:
    record = Record()
    feed = Feed([], blind={A.id: "the Hyperliquid socket was silent for 60 s"})
    await door(feed, record).handle(A, PushEvent(A.id, PushKind.BOOK, snapshot(A.id)))
    assert record.seen == []  # the trader stays blind (status, alert)
    assert [t for t, _ in record.taken] == [A.id]  # the book is still the truth


async def test_heartbeat_counts_a_synced_wallet_as_read_and_a_blind_one_not() -> None:
    record = Record()
    pushed = door(Feed([], blind={B.id: "not read yet"}), record)
    stop = asyncio.Event()
    beat = asyncio.create_task(pushed.heartbeat(stop, every=0.01))
    await asyncio.sleep(0.05)
    stop.set()
    await beat
    assert record.seen and {r.trader for r in record.seen} == {A.id}
    assert all(r.status is FetchStatus.OK and r.snapshot is None for r in record.seen)


async def test_run_hands_each_traders_events_in_order() -> None:
    events = [
        PushEvent(A.id, PushKind.BOOK, snapshot(A.id, "1")),
        PushEvent(B.id, PushKind.BOOK, snapshot(B.id, "2")),
        PushEvent(A.id, PushKind.BOOK, snapshot(A.id, "3")),
        PushEvent("0x" + "ff" * 20, PushKind.BOOK, snapshot("0x" + "ff" * 20)),  # not ours
    ]
    record, feed = Record(), Feed(events)
    stop = asyncio.Event()
    task = asyncio.create_task(door(feed, record).run(stop))
    for _ in range(100):
        if len(record.taken) == 3:
            break
        await asyncio.sleep(0.01)
    assert feed.entered
    stop.set()
    await task
    assert not feed.entered
    by_a = [s.leader_equity for t, s in record.taken if t == A.id]
    assert by_a == [Decimal(1), Decimal(3)]
    assert [t for t, _ in record.taken].count(B.id) == 1
