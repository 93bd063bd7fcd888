"""Webhook notifications (Discord / Telegram / generic JSON) that never block the trading loop.

Messages go into a bounded queue drained by one background task; a full queue drops the oldest
message (and says so in the log) rather than slowing an order down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import httpx

from lightspeed_cli.config.sections import NotifySettings
from lightspeed_cli.config.text import printable, without_mass_mentions

log = logging.getLogger(__name__)

QUEUE_SIZE = 256


def webhook_payload(
    url: str, text: str, telegram_chat_id: str = "", fields: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The body each webhook flavour expects, chosen from the URL. `fields` (an alert's kind,
    subject, state, action) go only to a generic JSON webhook: Discord and Telegram refuse
    unknown keys. A leader's strings may be in `text`: control and bidi characters go, and
    Discord is told to ping no one (`allowed_mentions`), `@everyone` / `@here` broken too."""
    text = printable(text, keep="\n")
    if "api.telegram.org" in url or telegram_chat_id:
        return {"chat_id": telegram_chat_id, "text": text, "disable_web_page_preview": True}
    if "discord.com/api/webhooks" in url or "discordapp.com/api/webhooks" in url:
        return {"content": without_mass_mentions(text)[:2000], "allowed_mentions": {"parse": []}}
    return {**(fields or {}), "text": text, "content": text}


class Notifier:
    def __init__(self, settings: NotifySettings, *, timeout: float = 5.0) -> None:
        self._settings = settings
        self._timeout = timeout
        self._queue: asyncio.Queue[tuple[str, dict[str, Any] | None]] = asyncio.Queue(
            maxsize=QUEUE_SIZE
        )
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.failed = 0
        self._listeners: list[Callable[[str], None]] = []  # Telegram control's chat, say

    @property
    def enabled(self) -> bool:
        return bool(self._settings.webhook_url)

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._drain(), name="notifier")

    def subscribe(self, listener: Callable[[str], None]) -> None:
        """Every message also goes to `listener` (which must return at once, never raise)."""
        self._listeners.append(listener)

    def notify(self, text: str, fields: dict[str, Any] | None = None) -> None:
        """Queue a message; returns at once."""
        for listener in self._listeners:
            listener(text)
        if not self.enabled:
            return
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
            log.warning("notification queue full: dropped the oldest message")
        self._queue.put_nowait((text, fields))

    async def aclose(self, flush_timeout: float = 3.0) -> None:
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), flush_timeout)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _drain(self) -> None:
        url = self._settings.webhook_url
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            while True:
                text, fields = await self._queue.get()
                try:
                    payload = webhook_payload(url, text, self._settings.telegram_chat_id, fields)
                    resp = await client.post(url, json=payload)
                    resp.raise_for_status()
                    self.sent += 1
                except httpx.HTTPError as exc:
                    self.failed += 1
                    # the URL carries a token: name the error kind, never the URL
                    log.warning("notification webhook failed: %s", type(exc).__name__)
                finally:
                    self._queue.task_done()
