"""LeaderFills' order-history reads: the changes queued behind one read share it, and a read an
order waits for never queues behind this trader's background read (leader_fills.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lightspeed_cli.engine.leader_fills import LeaderFills
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.models import Snapshot

TRADER = "4000000000000000101"


class HeldReader:
    """The source's `read` as LeaderFills sees it: each background read is held until
    `release` (it waits for its turn in the budget's background lane); urgent ones answer."""

    def __init__(self) -> None:
        self.calls: list[bool] = []  # urgent?
        self.gate = asyncio.Event()

    async def read(self, method: str, path: str, payload: Any, parse: Any, *, urgent: bool = False):
        self.calls.append(urgent)
        if not urgent:
            await self.gate.wait()
        return [], 0


def _fills(tmp_path: Path, reader: HeldReader) -> LeaderFills:
    journal = Journal(tmp_path / "journal.sqlite3")
    fills = LeaderFills(reader, journal, price_scale=lambda _s: 1, report=lambda *_a: None)
    fills.observe(TRADER, Snapshot(trader=TRADER, fetched_at=datetime.now(UTC)))
    return fills


def _ms_now() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


async def test_changes_queued_behind_one_read_share_it(tmp_path: Path) -> None:
    reader = HeldReader()
    fills = _fills(tmp_path, reader)
    changed_at = _ms_now()
    first = asyncio.create_task(fills.read(TRADER, after_ms=changed_at))
    await asyncio.sleep(0)
    queued = [asyncio.create_task(fills.read(TRADER, after_ms=changed_at)) for _ in range(3)]
    await asyncio.sleep(0.01)
    reader.gate.set()
    assert await asyncio.gather(first, *queued) == [True] * 4
    assert reader.calls == [False]  # one request for the four changes
    later = _ms_now() + 1  # a change after that read started: read again
    await asyncio.sleep(0.002)
    assert await fills.read(TRADER, after_ms=later)
    assert reader.calls == [False, False]


async def test_an_urgent_read_never_waits_behind_the_traders_background_read(
    tmp_path: Path,
) -> None:
    reader = HeldReader()
    fills = _fills(tmp_path, reader)
    background = asyncio.create_task(fills.read(TRADER, after_ms=_ms_now()))
    await asyncio.sleep(0)
    assert await asyncio.wait_for(fills.read(TRADER, match=False, urgent=True), timeout=5)
    assert reader.calls == [False, True] and not background.done()
    reader.gate.set()
    assert await background
