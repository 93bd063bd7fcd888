"""What the bot knows about copy-trade leaders beyond their positions, in one place the engine
calls into: their fills (leader_fills.py) and their lead-portfolio `detail`.

The detail (status, marginBalance) is read when a trader is first seen and every
`DETAIL_REFRESH_SECONDS` after, in the background:
- `status` CLOSING / CLOSED: the leader stopped. An alert, and no new opens for that trader
  (a refusal with its reason); closes keep mirroring. ACTIVE again clears it.
- `marginBalance`: the leader's account, for `sizing.mode = "leader_equity"`. A trader whose
  balance is unknown (never read, or not in the answer) gets no opens in that mode.

These reads go through the source's background lane (BinanceSource.reserve_background): a
share of the request budget of their own, so they never delay a poll. A failed read keeps what
was known. Leaderboard traders have no lead portfolio: nothing is read
for them, and the config refuses `leader_equity` for them (settings.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from lightspeed_cli.config.sections import TraderSettings
from lightspeed_cli.engine.leader_fills import LeaderFills
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.models import LeaderDetail, Refusal, Signal, Snapshot, SourceKind
from lightspeed_cli.notify.alerts import Alerts, Kind
from lightspeed_cli.sources.errors import SourceError
from lightspeed_cli.sources.lead_portfolio import Reader, read_detail

log = logging.getLogger(__name__)

DETAIL_REFRESH_SECONDS = 180.0
STOP_GRACE_SECONDS = 2.0
STOPPED_ACTION = (
    "the leader closed the lead portfolio: nothing new is opened for this trader, its closes"
    " are still mirrored; remove it with `lightspeed traders remove` when it is flat"
)


def stopped_refusal(trader: str, detail: LeaderDetail | None, signal: Signal) -> Refusal | None:
    """No new opens for a leader who stopped; reduces and closes always go."""
    if detail is None or not detail.stopped or signal.kind.is_risk_reducing:
        return None
    return Refusal(
        check="leader_stopped",
        reason=f"lead portfolio {trader} is {detail.status}: the leader stopped trading it",
        value=detail.status,
        limit="ACTIVE",
    )


@dataclass
class _Detail:
    detail: LeaderDetail | None = None
    read_at: float = -1e18  # monotonic
    reading: bool = False


class Leaders:
    """The engine's one door to leader facts. `report(level, message, alert)` is the engine's
    event function."""

    def __init__(
        self,
        source: Reader,
        journal: Journal,
        traders: list[TraderSettings],
        *,
        alerts: Alerts,
        price_scale: Callable[[str], Decimal],
        report: Callable[[str, str], None],
        detail_every: float = DETAIL_REFRESH_SECONDS,
        fills_every: float | None = None,
    ) -> None:
        self._source = source
        self._alerts = alerts
        self._report = report
        self.detail_every = detail_every
        self._copytrade = {t.id for t in traders if t.source is SourceKind.COPYTRADE}
        self._details: dict[str, _Detail] = {t: _Detail() for t in self._copytrade}
        self.fills = LeaderFills(source, journal, price_scale=price_scale, report=report)
        if fills_every is not None:
            self.fills.read_every = fills_every
        self._tasks: set[asyncio.Task[None]] = set()
        self.detail_reads = 0
        reserve = getattr(source, "reserve_background", None)
        if self._copytrade and callable(reserve):
            reserve()  # these reads get a lane of the budget: they never take a poll's slot

    @classmethod
    def for_source(cls, source: object, *args: object, **kwargs: object) -> Leaders | None:
        """Leaders over `source` if it can read the companions (BinanceSource), else None."""
        if not callable(getattr(source, "read", None)):
            return None
        return cls(source, *args, **kwargs)  # type: ignore[arg-type]

    # ---- engine hooks ------------------------------------------------------------------------

    def observe(self, trader: str, snapshot: Snapshot) -> None:
        """Every good snapshot; the first of a copy-trade trader starts its detail read."""
        if trader not in self._copytrade:
            return
        self.fills.observe(trader, snapshot)
        entry = self._details[trader]
        if not entry.reading and time.monotonic() - entry.read_at >= self.detail_every:
            self._spawn(self.refresh_detail(trader))

    def changed(self, trader: str, snapshot: Snapshot) -> None:
        """The snapshot changed the book (its signals are journaled): read the fills, in the
        background so the next poll is not held up."""
        if trader in self._copytrade:
            self._spawn(self.fills.changed(trader, snapshot))

    async def confirms_closes(self, trader: str, previous: Snapshot, first: Snapshot) -> bool:
        if trader not in self._copytrade:
            return False
        return await self.fills.confirms_closes(trader, previous, first)

    def refusal(self, trader: str, signal: Signal) -> Refusal | None:
        entry = self._details.get(trader)
        return stopped_refusal(trader, entry.detail if entry else None, signal)

    def balance(self, trader: str) -> Decimal | None:
        """The leader's marginBalance as last read (None: unknown)."""
        entry = self._details.get(trader)
        return entry.detail.margin_balance if entry and entry.detail else None

    def detail(self, trader: str) -> LeaderDetail | None:
        entry = self._details.get(trader)
        return entry.detail if entry else None

    # ---- background ----------------------------------------------------------------------

    async def refresh_detail(self, trader: str) -> None:
        entry = self._details[trader]
        if entry.reading:
            return
        entry.reading = True
        try:
            # the first read goes with the polls (leader_equity sizing opens nothing until it
            # is known); the refreshes wait in the background lane
            detail = await read_detail(self._source, trader, urgent=entry.detail is None)
        except SourceError as exc:
            log.info("%s: lead-portfolio detail unavailable: %s", trader, exc.reason)
            return
        finally:
            entry.reading = False
            entry.read_at = time.monotonic()
            self.detail_reads += 1
        was = entry.detail
        entry.detail = detail
        if detail.stopped and (was is None or not was.stopped):
            self._report(
                "error",
                f"{trader}: the leader stopped: lead portfolio status {detail.status}:"
                " no new opens for this trader, closes still mirrored",
            )
            self._alerts.raise_(
                Kind.LEADER,
                trader,
                f"lead portfolio {trader} is {detail.status}: the leader stopped",
                STOPPED_ACTION,
            )
        elif was is not None and was.stopped and not detail.stopped:
            self._report("info", f"{trader}: lead portfolio {detail.status} again: opening resumes")
            self._alerts.clear(Kind.LEADER, trader, f"lead portfolio {trader} is {detail.status}")

    async def run(self, stop: asyncio.Event) -> None:
        """The now-and-then fills reads until `stop` (details refresh from `observe`); then
        the background reads still running get `STOP_GRACE_SECONDS` to finish (a read has no
        side effect but the journal's figures: a stop never waits on Binance's timeouts)."""
        try:
            await self.fills.run(self._copytrade, stop)
        finally:
            pending = list(self._tasks)
            if pending:
                _, late = await asyncio.wait(pending, timeout=STOP_GRACE_SECONDS)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)

    async def idle(self) -> None:
        """Until every background read started so far has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, work: object) -> None:
        task = asyncio.ensure_future(work)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("leader read failed", exc_info=task.exception())
