"""The engine's background chores, each its own task and none on the hot path: WAL
checkpoints, the poll schedule for `status`, and leverage / margin mode set ahead of orders."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime

from lightspeed_cli.config.sections import TraderSettings
from lightspeed_cli.decisions.symbols import SymbolMap
from lightspeed_cli.execution.leverage_ahead import AheadOfTime
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.sources.schedule import SCHEDULE_META_KEY, ExitState, PollSchedule

from .events import EngineView
from .follow import POLL_STATE_WRITE_SECONDS

log = logging.getLogger("lightspeed_cli.engine.loop")

CHECKPOINT_SECONDS = 30.0


async def checkpoints(journal: Journal, stop: asyncio.Event) -> None:
    """WAL checkpoints in a thread, so no trading commit ever pays for one."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=CHECKPOINT_SECONDS)
        try:
            await asyncio.to_thread(journal.checkpoint)
        except Exception as exc:  # a busy database just means next time
            log.debug("journal checkpoint skipped: %s", exc)


async def publish_schedule(
    schedule: PollSchedule[TraderSettings],
    exit_states: Callable[[], list[ExitState]],
    *,
    view: EngineView,
    journal: Journal,
    clock: Callable[[], datetime],
    stop: asyncio.Event,
) -> None:
    """The poll interval and each exit's budget, for `status`: when they change, at most
    every few seconds."""
    written = None
    while not stop.is_set():
        state = schedule.state(exit_states(), clock())
        view.schedule = state
        if state.model_dump(exclude={"at"}) != written:
            written = state.model_dump(exclude={"at"})
            try:
                journal.set_meta(SCHEDULE_META_KEY, state.model_dump_json())
            except Exception as exc:  # status only; the journal's errors show elsewhere
                log.debug("schedule state not journaled: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=POLL_STATE_WRITE_SECONDS)


def prepare_known_symbols(
    ahead: AheadOfTime, symbols: SymbolMap, journal: Journal, traders: list[TraderSettings]
) -> None:
    """Margin mode, and leverage for what the journal's books hold, set in the background."""
    ahead.margin_mode()
    try:
        held = {m.symbol for m in journal.mirrored_positions()}
        books = [(t, journal.book_snapshot(t.id)) for t in traders]
    except sqlite3.DatabaseError as exc:  # the polls find it and say what to do
        log.debug("journal unreadable, nothing prepared ahead: %s", exc)
        return
    for trader, book in books:
        if book is not None:
            ahead.positions_seen(symbols, trader, book.positions, held)
