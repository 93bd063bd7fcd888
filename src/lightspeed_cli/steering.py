"""What runs beside the engine so the user can steer it: the control door (control.py) and, when
configured, Telegram (telegram.py). Each is its own task; none can slow or stop trading."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lightspeed_cli.control import Control, ControlStore, control_path

if TYPE_CHECKING:
    from lightspeed_cli.engine import Engine
    from lightspeed_cli.telegram import TelegramControl

log = logging.getLogger(__name__)


class Steering:
    def __init__(self, control: Control, telegram: TelegramControl | None = None) -> None:
        self.control = control
        self.telegram = telegram
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def for_engine(cls, engine: Engine, journal_path: Path) -> Steering:
        """The control door on the engine's journal and broker, wired into the engine."""
        store = ControlStore(control_path(journal_path))
        control = Control(
            store,
            broker=engine.broker,
            journal=engine.journal,
            events=engine.report,
            lock_for=engine.open_lock,
            clock=engine.clock,
        )
        engine.control = control
        if control.paused:
            log.warning("opens are paused (%s)", control.pause_state.describe())
        return cls(control)

    def start(self, stop: asyncio.Event) -> None:
        self._tasks.append(asyncio.create_task(self.control.serve(stop), name="control"))
        if self.telegram is not None:
            self._tasks.append(asyncio.create_task(self.telegram.run(stop), name="telegram"))

    async def aclose(self, grace: float = 5.0) -> None:
        """After `stop`: a few seconds to finish (Telegram says goodbye), then cancelled."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=grace)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self.control.store.close()
