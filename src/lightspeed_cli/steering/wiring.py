"""What runs beside the engine so the user can steer it: the control door (control.py) and, when
configured, Telegram (telegram.py) and the protective stops (stops.py). Each is its own task;
none can slow or stop trading."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lightspeed_cli.engine.stops import ProtectiveStops
from lightspeed_cli.steering.control import Control, ControlStore, control_path

if TYPE_CHECKING:
    from lightspeed_cli.engine.loop import Engine
    from lightspeed_cli.steering.telegram import TelegramControl

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
    def for_engine(cls, engine: Engine, journal_path: Path, *, paper: bool = False) -> Steering:
        """The control door on the engine's journal and broker, wired into the engine, and
        Telegram when its token and chat are set."""
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
        engine.stops = ProtectiveStops.for_engine(engine)
        return cls(control, telegram_for(engine, control, paper=paper), engine.stops)

    def start(self, stop: asyncio.Event) -> None:
        self._tasks.append(asyncio.create_task(self.control.serve(stop), name="control"))
        if self.telegram is not None:
            self._tasks.append(asyncio.create_task(self.telegram.run(stop), name="telegram"))
        if self.stops is not None:
            self._tasks.append(asyncio.create_task(self.stops.run(stop), name="stops"))

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


def telegram_for(engine: Engine, control: Control, *, paper: bool) -> TelegramControl | None:
    """Telegram control when `keys set telegram` and notify.telegram_chat_id are both there;
    the engine's trade and alert messages then go to that chat too."""
    from lightspeed_cli.config.logsetup import register_secret
    from lightspeed_cli.config.secrets import SecretName, get_secret

    token = get_secret(SecretName.TELEGRAM_TOKEN)
    chat = engine.settings.notify.telegram_chat_id
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
        engine=engine,
        base_url=engine.settings.notify.telegram_api_url,
        mode="PAPER" if paper else "LIVE",
    )
    if engine.notifier is not None:
        engine.notifier.subscribe(telegram.notify)
    return telegram
