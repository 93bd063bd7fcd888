"""Pause / resume / close-all: the one door through which the user steers the bot.

Every request, from the shell (`lightspeed pause`, `resume`, `close-all`) or from Telegram, is a
row in a small SQLite file beside the journal (`journal.control.sqlite3`, mode 0600, so it works
as the service's user). The running bot's `Control.serve` task picks rows up and answers them;
Telegram, inside the bot, goes through `Control.execute`, which writes the same rows. With no bot
running, the shell acts itself while holding the journal's instance lock.

Paused means: no opens or increases (refused with the check "paused"); reduces and closes still
mirror. The paused flag is kept in the file, so a restarted bot stays paused. Close-all pauses
opens first, then sends reduce-only market closes of what the journal says the bot holds, clipped
to what Bybit holds (a position the user opened by hand is never touched), journaled like any
order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field

from lightspeed_cli.decisions import safety
from lightspeed_cli.decisions.order_ids import client_order_id
from lightspeed_cli.decisions.sizing import floor_to_step, leaving_closable
from lightspeed_cli.engine.closes import record_close_intent
from lightspeed_cli.engine.events import EventSink
from lightspeed_cli.execution.base import Broker, ExecutionOutcome
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.models import MirroredPosition, Refusal, Side, Signal, SignalDecision

log = logging.getLogger(__name__)

REQUEST_TTL_SECONDS = 120.0  # an older request is never acted on (the bot that should have is gone)
SERVE_INTERVAL_SECONDS = 0.25
MAX_CLOSE_CHUNKS = 50

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL, source TEXT NOT NULL, created_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',   -- pending | running | done | failed | expired
    result TEXT, done_at TEXT
);
"""


class Command(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    CLOSE_ALL = "close-all"


class RequestStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"


_OPEN = (RequestStatus.PENDING, RequestStatus.RUNNING)


class Request(BaseModel):
    id: int
    command: Command
    source: str
    created_at: datetime
    status: RequestStatus
    result: str | None = None


class PauseState(BaseModel):
    paused: bool = False
    since: datetime | None = None
    by: str = ""

    def describe(self) -> str:
        if not self.paused:
            return "opens allowed"
        when = f" since {self.since:%Y-%m-%d %H:%M} UTC" if self.since else ""
        return f"PAUSED{when} (by {self.by or '?'}): no opens; closes and reduces still mirror"


class CloseAllReport(BaseModel):
    closed: list[str] = Field(default_factory=list)
    already_gone: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        if not (self.closed or self.already_gone or self.failed):
            return "close-all: the bot holds nothing; opens paused"
        parts = []
        if self.closed:
            parts.append("closed " + ", ".join(self.closed))
        if self.already_gone:
            parts.append("no longer on Bybit (dropped) " + ", ".join(self.already_gone))
        if self.failed:
            parts.append("FAILED " + "; ".join(self.failed))
        return "close-all: " + "; ".join(parts) + "; opens paused"


def control_path(journal_path: Path) -> Path:
    """`journal.sqlite3` -> `journal.control.sqlite3` (the paper journal has its own)."""
    return journal_path.with_name(journal_path.stem + ".control.sqlite3")


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class ControlStore:
    """The requests and the paused flag, in a 0600 SQLite file any process of the user opens."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ControlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pause_state(self) -> PauseState:
        rows = dict(self._db.execute("SELECT key, value FROM state").fetchall())
        since = rows.get("paused_since")
        return PauseState(
            paused=rows.get("paused") == "1",
            since=datetime.fromisoformat(since) if since else None,
            by=rows.get("paused_by", ""),
        )

    def set_paused(self, paused: bool, by: str, at: datetime) -> None:
        values = {"paused": "1" if paused else "0", "paused_by": by, "paused_since": _ts(at)}
        self._db.executemany(
            "INSERT INTO state (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            list(values.items()),
        )

    def submit(self, command: Command, source: str, at: datetime | None = None) -> int:
        cur = self._db.execute(
            "INSERT INTO requests (command, source, created_at) VALUES (?, ?, ?)",
            (command.value, source, _ts(at or datetime.now(UTC))),
        )
        return int(cur.lastrowid or 0)

    def pending(self) -> list[Request]:
        rows = self._db.execute("SELECT * FROM requests WHERE status='pending' ORDER BY id")
        return [Request.model_validate(dict(r)) for r in rows]

    def claim(self, request_id: int) -> bool:
        """Take a pending request (once: a second taker gets False)."""
        cur = self._db.execute(
            "UPDATE requests SET status='running' WHERE id=? AND status='pending'", (request_id,)
        )
        return cur.rowcount == 1

    def finish(self, request_id: int, status: RequestStatus, result: str) -> None:
        self._db.execute(
            "UPDATE requests SET status=?, result=?, done_at=? WHERE id=?",
            (status.value, result, _ts(datetime.now(UTC)), request_id),
        )

    def request(self, request_id: int) -> Request | None:
        row = self._db.execute("SELECT * FROM requests WHERE id=?", (request_id,)).fetchone()
        return Request.model_validate(dict(row)) if row is not None else None


def read_pause_state(journal_path: Path) -> PauseState:
    """For `status`: the flag as stored (no file yet = never paused)."""
    path = control_path(journal_path)
    if not path.exists():
        return PauseState()
    with ControlStore(path) as store:
        return store.pause_state()


def paused_refusal(control: Control | None, signal: Signal) -> Refusal | None:
    """Opens and increases are refused while paused (decisions/safety.py has the rule)."""
    paused_by = control.pause_state.by if control is not None and control.paused else None
    return safety.paused_refusal(paused_by, signal)


LockFor = Callable[[str], AbstractAsyncContextManager[object]]


@contextlib.asynccontextmanager
async def _no_lock(symbol: str) -> AsyncIterator[None]:
    yield


class Control:
    """Acts on requests: the running bot's (with its engine's open locks) or the shell's own."""

    def __init__(
        self,
        store: ControlStore,
        *,
        broker: Broker | None,
        journal: Journal,
        events: EventSink | None = None,
        lock_for: LockFor | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.broker = broker
        self.journal = journal
        self._events = events
        self._lock_for = lock_for or _no_lock
        self._clock = clock
        self._busy = asyncio.Lock()
        self.pause_state = store.pause_state()

    @property
    def paused(self) -> bool:
        return self.pause_state.paused

    def paused_by(self) -> str | None:
        """Who paused opens, or None while they are allowed: all the engine asks."""
        return self.pause_state.by if self.pause_state.paused else None

    def _event(self, level: str, message: str) -> None:
        if self._events is not None:
            self._events(level, message)
        else:
            getattr(log, level)(message)

    # ---- requests ----------------------------------------------------------------------

    async def execute(self, command: Command, source: str) -> Request:
        """Run one request now (Telegram, or the shell with no bot) and record it; the answered
        request comes back (`status`, `result`)."""
        request_id = self.store.submit(command, source, self._clock())
        self.store.claim(request_id)
        await self._run(request_id, command, source)
        answered = self.store.request(request_id)
        assert answered is not None
        return answered

    async def serve(self, stop: asyncio.Event, interval: float = SERVE_INTERVAL_SECONDS) -> None:
        """Answer the shell's requests until `stop`; an error answers that request, no more."""
        while not stop.is_set():
            try:
                await self.serve_once()
            except Exception:
                log.exception("control: reading requests failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def serve_once(self) -> None:
        now = self._clock()
        for request in self.store.pending():
            if not self.store.claim(request.id):
                continue
            if now - request.created_at > timedelta(seconds=REQUEST_TTL_SECONDS):
                self.store.finish(
                    request.id, RequestStatus.EXPIRED, "expired: no bot answered it in time"
                )
                continue
            await self._run(request.id, request.command, request.source)

    async def _run(self, request_id: int, command: Command, source: str) -> None:
        try:
            async with self._busy:
                if command is Command.PAUSE:
                    text, ok = self.pause(source), True
                elif command is Command.RESUME:
                    text, ok = self.resume(source), True
                else:
                    report = await self.close_all(source, request_id)
                    text, ok = report.summary(), report.ok
        except Exception as exc:
            log.exception("control: %s failed", command.value)
            self.store.finish(request_id, RequestStatus.FAILED, f"{command.value} failed: {exc}")
            return
        self.store.finish(request_id, RequestStatus.DONE if ok else RequestStatus.FAILED, text)

    # ---- the three actions -------------------------------------------------------------

    def pause(self, source: str) -> str:
        if self.paused:
            return f"already paused ({self.pause_state.describe()})"
        self._set_paused(True, source)
        return "paused: no new positions; closes and reduces still mirror"

    def resume(self, source: str) -> str:
        if not self.paused:
            return "not paused: opens are allowed"
        self._set_paused(False, source)
        return "resumed: opens allowed again"

    def _set_paused(self, paused: bool, source: str) -> None:
        at = self._clock()
        self.store.set_paused(paused, source, at)
        self.pause_state = PauseState(paused=paused, since=at, by=source)
        word = "opens PAUSED" if paused else "opens RESUMED"
        self._event("warning" if paused else "info", f"{word} by {source}")

    async def close_all(self, source: str, request_id: int) -> CloseAllReport:
        """Pause, then close what the journal says the bot holds, as far as Bybit holds it."""
        if self.broker is None:
            raise RuntimeError("close-all needs the Bybit account")
        if not self.paused:
            self._set_paused(True, source)
        report = CloseAllReport()
        held = self.journal.mirrored_positions()
        if not held:
            self._event("warning", report.summary())
            return report
        try:
            bybit = {(p.symbol, p.side): p.size for p in await self.broker.positions()}
        except Exception as exc:
            report.failed.append(f"cannot read Bybit's positions: {exc}; nothing was closed")
            self._event("error", report.summary())
            return report
        groups: defaultdict[tuple[str, Side], list[MirroredPosition]] = defaultdict(list)
        for m in held:
            groups[(m.symbol, m.side)].append(m)
        for (symbol, side), rows in groups.items():
            async with self._lock_for(symbol):
                left = bybit.get((symbol, side), Decimal(0))
                for m in rows:
                    qty = min(m.quantity, left)
                    name = f"{m.symbol} {m.side.value} ({m.trader})"
                    if qty <= 0:
                        self.journal.drop_mirrored(m.trader, m.symbol, m.side)
                        report.already_gone.append(name)
                        continue
                    closed, error = await self._close(m, qty, request_id, source)
                    left -= closed
                    if error:
                        report.failed.append(f"{name}: {error}")
                    else:
                        report.closed.append(f"{name} {closed}")
        self._event("error" if report.failed else "warning", report.summary())
        return report

    async def _close(
        self, held: MirroredPosition, qty: Decimal, request_id: int, source: str
    ) -> tuple[Decimal, str]:
        """Reduce-only market closes of `qty`, in chunks Bybit takes; (closed, error or "")."""
        assert self.broker is not None
        market = self.broker.markets.get(held.symbol)
        closed = Decimal(0)
        for chunk_no in range(MAX_CLOSE_CHUNKS):
            left = qty - closed
            if left <= 0:
                return closed, ""
            chunk = left
            if market is not None and market.max_qty is not None and chunk > market.max_qty:
                most = floor_to_step(market.max_qty, market.qty_step)
                chunk = leaving_closable(most, left, market)
            filled, error = await self._close_chunk(held, chunk, request_id, chunk_no, source)
            closed += filled
            if error:
                return closed, error
            if filled <= 0:
                return closed, ""  # already flat
        return closed, f"still {qty - closed} open after {MAX_CLOSE_CHUNKS} orders"

    async def _close_chunk(
        self, held: MirroredPosition, qty: Decimal, request_id: int, chunk_no: int, source: str
    ) -> tuple[Decimal, str]:
        journal = self.journal
        cid = client_order_id(
            instance=journal.instance_id,
            trader=f"close-all:{request_id}:{held.trader}",
            symbol=held.symbol,
            side=held.side,
            version=chunk_no,
            attempt=0,
        )
        row, intent = record_close_intent(journal, held, qty, cid, f"close-all by {source}")
        assert self.broker is not None
        result = await self.broker.execute(intent)
        if result.outcome is ExecutionOutcome.FILLED and result.fill is not None:
            journal.record_fill(
                row, result.fill, signal=None, slippage_bps=None, detection_latency_ms=None
            )
            return result.fill.quantity, ""
        if result.outcome is ExecutionOutcome.ALREADY_FLAT:
            journal.mark_order_failed(
                row.client_order_id,
                result.outcome.value,
                result.error or "already flat on Bybit",
                signal_decision=SignalDecision.EXECUTED,
            )
            journal.drop_mirrored(held.trader, held.symbol, held.side)
            return Decimal(0), ""
        if result.outcome is ExecutionOutcome.UNKNOWN:
            journal.mark_order_unknown(row.client_order_id, result.outcome.value, result.error)
        else:
            journal.mark_order_failed(
                row.client_order_id,
                result.outcome.value,
                result.error,
                signal_decision=SignalDecision.FAILED,
            )
        return Decimal(0), f"{result.outcome.value}: {result.error}"


# ---- the shell side ------------------------------------------------------------------------


async def wait_for_answer(
    store: ControlStore, request_id: int, timeout: float, poll: float = 0.1
) -> Request | None:
    """The request once the running bot answered it, or None after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        request = store.request(request_id)
        if request is not None and request.status not in _OPEN:
            return request
        await asyncio.sleep(poll)
    return None
