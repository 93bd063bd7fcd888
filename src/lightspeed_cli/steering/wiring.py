"""What runs beside the engine so the user can steer it: the control door (control.py) and, when
configured, Telegram (telegram.py) and the protective stops (stops.py). Each is its own task;
none can slow or stop trading."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lightspeed_cli.engine.events import EventSink
from lightspeed_cli.engine.stops import ProtectiveStops
from lightspeed_cli.steering.control import Control, LockFor, control_path, open_store

if TYPE_CHECKING:
    from lightspeed_cli.config.settings import Settings
    from lightspeed_cli.execution.base import Broker
    from lightspeed_cli.journal.store import Journal
    from lightspeed_cli.notify.webhook import Notifier
    from lightspeed_cli.steering.telegram import Positions, TelegramControl

log = logging.getLogger(__name__)


class Steering:
    def __init__(
        self,
        control: Control,
        telegram: TelegramControl | None = None,
        stops: ProtectiveStops | None = None,
    ) -> None:
        self.control = control
        self.telegram = telegram
        self.stops = stops
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        broker: Broker,
        journal: Journal,
        journal_path: Path,
        events: EventSink,
        lock_for: LockFor,
        clock: Callable[[], datetime],
    ) -> Steering:
        """The control door on the journal and broker the engine will trade on, and the
        protective stops when configured; both are handed to the engine (runner.py)."""
        store = open_store(control_path(journal_path), events)
        control = Control(
            store, broker=broker, journal=journal, events=events, lock_for=lock_for, clock=clock
        )
        if control.paused:
            log.warning("opens are paused (%s)", control.pause_state.describe())
        stops = ProtectiveStops.build(
            settings, broker=broker, journal=journal, events=events, clock=clock
        )
        return cls(control, None, stops)

    def add_telegram(
        self,
        settings: Settings,
        *,
        journal: Journal,
        positions: Positions,
        notifier: Notifier | None,
        paper: bool = False,
    ) -> None:
        """Telegram when its token and chat are set (see `telegram_for`)."""
        self.telegram = telegram_for(
            settings,
            self.control,
            journal=journal,
            positions=positions,
            notifier=notifier,
            paper=paper,
        )

    def start(self, stop: asyncio.Event) -> None:
        self._tasks.append(asyncio.create_task(self.control.serve(stop), name="control"))
        if self.telegram is not None:
            self._tasks.append(asyncio.create_task(self.telegram.run(stop), name="telegram"))
        if self.stops is not None:
            self._tasks.append(asyncio.create_task(self.stops.run(stop), name="stops"))

    def add_task(self, task: asyncio.Task[None]) -> None:
        """Something else that ends with `stop` (the dashboard): awaited and closed with these."""
        self._tasks.append(task)

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


def telegram_for(
    settings: Settings,
    control: Control,
    *,
    journal: Journal,
    positions: Positions,
    notifier: Notifier | None,
    paper: bool,
) -> TelegramControl | None:
    """Telegram control when `keys set telegram` and notify.telegram_chat_id are both there;
    the engine's trade and alert messages then go to that chat too."""
    from lightspeed_cli.config.logsetup import register_secret
    from lightspeed_cli.config.secrets import SecretName, get_secret

    token = get_secret(SecretName.TELEGRAM_TOKEN)
    chat = settings.notify.telegram_chat_id
    if token is None:
        return None
    register_secret(token.value)
    from lightspeed_cli.steering.telegram import TelegramControl, parse_chat_id

    chat_id = parse_chat_id(chat)
    if chat_id is None:
        log.warning(
            "a Telegram token is set but notify.telegram_chat_id is %s: Telegram control is off",
            "empty" if not chat else "not a number",
        )
        return None
    telegram = TelegramControl(
        token=token.value,
        chat_id=chat_id,
        control=control,
        settings=settings,
        journal=journal,
        positions=positions,
        base_url=settings.notify.telegram_api_url,
        mode="PAPER" if paper else "LIVE",
    )
    if notifier is not None:
        notifier.subscribe(telegram.notify)
    return telegram
