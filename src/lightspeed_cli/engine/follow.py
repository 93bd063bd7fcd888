"""Following one trader: poll -> snapshot -> signals.

A read that fails or hides the book is said and stops there (no data is not "flat"); a good one
is compared with the journal's book of the trader (diff.py), after a second read when one answer
holds a suspect change: a close, a close + reopen, a size beyond 10x either way (massclose.py).
The signals go to the mirror, in order.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Protocol

from lightspeed_cli.config.sections import TraderSettings
from lightspeed_cli.config.settings import Settings
from lightspeed_cli.decisions import massclose
from lightspeed_cli.decisions.diff import diff
from lightspeed_cli.engine.leaders import Leaders
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.models import FetchResult, FetchStatus, PositionKey, Signal, Snapshot
from lightspeed_cli.notify.alerts import Kind

from .events import Events, TraderView

POLL_STATE_WRITE_SECONDS = 5.0  # an unchanged poll status is journaled at most this often


class Source(Protocol):
    async def fetch(self, trader: TraderSettings, *, other_exit: bool = False) -> FetchResult: ...

    async def aclose(self) -> None: ...


Changes = tuple[list[Signal], float, Snapshot]  # signals, when their snapshot was in hand, it


class Follow:
    def __init__(
        self,
        settings: Settings,
        *,
        source: Source,
        journal: Journal,
        events: Events,
        leaders: Leaders | None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.journal = journal
        self.events = events
        self.view = events.view
        self.leaders = leaders
        self._poll_written: dict[str, float] = {}  # trader -> monotonic time of last poll write
        # trader -> when the last good snapshot compared was fetched: a closing order that
        # confirms a close must come after it (the book's own time is its baseline, hours old)
        self._compared_at: dict[str, datetime] = {}

    async def read(self, trader: TraderSettings) -> Snapshot | None:
        """One poll of the trader: its snapshot, or None (said when the status changed)."""
        return self.seen(trader, await self.source.fetch(trader))

    def seen(self, trader: TraderSettings, result: FetchResult) -> Snapshot | None:
        """What one read (a poll, or a push: engine/pushed.py) told of the trader, on the view
        and in the journal: its snapshot, or None (said when the status changed)."""
        self.view.polls += 1
        tv = self.view.traders.setdefault(trader.id, TraderView(trader.id, trader.label))
        previous_status = tv.last_status
        tv.last_poll_at, tv.last_status, tv.last_reason = (
            result.fetched_at,
            result.status.value,
            result.reason,
        )
        if result.status is FetchStatus.OK:
            tv.last_ok_at = result.fetched_at
        self._journal_poll(trader.id, result, changed=previous_status != result.status.value)
        if result.status is not FetchStatus.OK or result.snapshot is None:
            # DESIGN rule 1: no data is not "flat" — nothing is closed on an error or hidden book
            if previous_status != result.status.value and result.status is not FetchStatus.OK:
                level = "warning" if result.status is FetchStatus.HIDDEN else "error"
                hidden = result.status is FetchStatus.HIDDEN
                self.events.event(
                    level, f"{trader.id}: {result.status.value}: {result.reason}", notify=hidden
                )
            return None
        return result.snapshot

    def _journal_poll(self, trader: str, result: FetchResult, *, changed: bool) -> None:
        """A status change is written at once; an unchanged one every few seconds, so 200
        traders polled every second do not cost 200 fsyncs a second."""
        now = time.monotonic()
        if not changed and now - self._poll_written.get(trader, -1e9) < POLL_STATE_WRITE_SECONDS:
            return
        self._poll_written[trader] = now
        self.journal.record_poll(
            trader,
            result.status.value,
            result.reason,
            result.fetched_at,
            result.snapshot.source_time if result.snapshot else None,
        )
        self.events.alerts.clear(Kind.JOURNAL, "disk", "the journal can be written again")

    async def changes(
        self, trader: TraderSettings, snapshot: Snapshot, received: float
    ) -> Changes | None:
        """The signals from the journal's book of the trader to `snapshot` (None: nothing to
        act on, a first baseline or an unconfirmed mass close)."""
        previous = self.journal.book_snapshot(trader.id)
        last_read = self._compared_at.get(trader.id)
        self._compared_at[trader.id] = snapshot.fetched_at
        if self.leaders is not None:
            self.leaders.observe(trader.id, snapshot)
        copy = self.settings.copy_settings
        if previous is None and not copy.follow_existing:
            self.journal.set_baseline(snapshot)
            if snapshot.positions:
                self.events.event(
                    "info",
                    f"{trader.id}: following from now; {len(snapshot.positions)} position(s)"
                    " opened before we started are not copied",
                )
            return None
        if massclose.needs_confirmation(previous, snapshot):
            assert previous is not None
            confirmed = await self._confirm_mass_close(trader, previous, snapshot, last_read)
            if confirmed is None:
                return None
            snapshot, received = confirmed, time.perf_counter()
        signals = diff(
            previous,
            snapshot,
            follow_existing=copy.follow_existing,
            size_epsilon=copy.size_epsilon,
        )
        return signals, received, snapshot

    async def _confirm_mass_close(
        self,
        trader: TraderSettings,
        previous: Snapshot,
        first: Snapshot,
        last_read: datetime | None,
    ) -> Snapshot | None:
        """An answer with a suspect change (a close, a close + reopen, an absurd size) is read
        again before acting: one odd answer must not trade. massclose.py decides what to act
        on. Closes alone that the leader's order-history shows need no second read."""
        seen = massclose.suspects(previous, first)
        what = _described(seen)
        only_closes = set(seen.values()) == {massclose.Suspect.CLOSED}  # no flip, no rename
        if (
            only_closes
            and self.leaders is not None
            and await self.leaders.confirms_closes(trader.id, _since(previous, last_read), first)
        ):
            return first  # the leader's closing orders are in the order-history: no re-read
        second = await self.source.fetch(trader, other_exit=True)
        decided = massclose.confirmed(previous, first, second.snapshot)
        if decided is None:
            self.events.event(
                "warning",
                f"{trader.id}: one answer {what} and the second read failed ({second.reason}):"
                " nothing done, read again next poll",
            )
        elif not massclose.agreed(previous, decided):
            self.events.event(
                "warning",
                f"{trader.id}: one answer {what}, the second read did not: ignored as a"
                " glitch, nothing sent",
            )
        return decided


def _since(previous: Snapshot, last_read: datetime | None) -> Snapshot:
    """The book as of the last read that was compared: a closing order older than that read
    (an earlier close of the same position) confirms nothing."""
    if last_read is None or last_read <= previous.fetched_at:
        return previous
    return previous.model_copy(update={"fetched_at": last_read})


def _described(seen: dict[PositionKey, massclose.Suspect]) -> str:
    """'closed 3 positions at once' for a mass close, else each change said."""
    closed = [k for k, kind in seen.items() if kind is massclose.Suspect.CLOSED]
    if len(closed) >= massclose.MASS_CLOSE and len(closed) == len(seen):
        return f"closed {len(closed)} positions at once"
    return "said " + ", ".join(
        f"{symbol} {side.value} {kind.value}" for (symbol, side), kind in sorted(seen.items())
    )
