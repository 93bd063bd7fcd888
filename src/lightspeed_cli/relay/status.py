"""What `relay status` shows: leaders read, clients per leader, reads/s, lag.

The running relay writes it to a JSON file beside its key every heartbeat (no endpoint: which
leaders are followed is the vendor's business), and `relay status` reads that file.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from lightspeed_cli.config.atomicfile import write_atomic
from lightspeed_cli.relay.hub import Hub

STATUS_FILE = "relay-status.json"


class LeaderStatus(BaseModel):
    leader: str
    clients: int
    reads: int
    published: int
    lag_seconds: float | None  # since the leader was last read successfully


class RelayStatus(BaseModel):
    written_at: datetime
    clients: int
    reads_per_second: float
    leaders: list[LeaderStatus]


class StatusWriter:
    """Turns the hub into a RelayStatus each tick; reads/s over the last tick."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last: tuple[float, int] | None = None

    def snapshot(self, hub: Hub) -> RelayStatus:
        now = datetime.now(UTC)
        total = sum(f.reads for f in hub.feeds.values())
        mono = time.monotonic()
        rate = 0.0
        if self._last is not None and mono > self._last[0]:
            rate = max(0, total - self._last[1]) / (mono - self._last[0])
        self._last = (mono, total)
        leaders = [
            LeaderStatus(
                leader=key,
                clients=len(feed.subscribers),
                reads=feed.reads,
                published=feed.published,
                lag_seconds=(now - feed.read_at).total_seconds() if feed.read_at else None,
            )
            for key, feed in sorted(hub.feeds.items())
        ]
        return RelayStatus(
            written_at=now, clients=len(hub.subscribers), reads_per_second=rate, leaders=leaders
        )

    def __call__(self, hub: Hub) -> None:
        write_atomic(self.path, self.snapshot(hub).model_dump_json(indent=1))


def read_status(path: Path) -> RelayStatus:
    return RelayStatus.model_validate_json(path.read_text(encoding="utf-8"))
