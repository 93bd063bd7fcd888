"""The relay client (`polling.source = "relay"`): a PushSource over the vendor's relay stream.

It connects to `relay.url` with this machine's lease, names the leaders it follows, and admits
each message through `MessageGate` (pinned key, sequence, freshness: DESIGN rule 6); a message
refused is logged with its reason and dropped, never acted on. Heartbeats arrive every second;
`silent()` turns True when no admitted message came for `relay.fallback_after_seconds` (or none
ever did), which is the caller's cue to poll Binance directly. A dropped or refused connection
is retried with exponential back-off and jitter; the relay's close reason is kept in
`last_close` for status and alerts. A renewed lease (`lease()` returns a new token) is sent to
the relay, which checks it again.

aiohttp's WebSocket client (a core dependency) is used, so the bot needs no server extra.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime

import aiohttp

from lightspeed_cli.config.sections import RelaySettings
from lightspeed_cli.license.token import public_key_from_b64
from lightspeed_cli.sources.push import PushedBook
from lightspeed_cli.sources.relay_message import (
    BookMessage,
    LeaderRef,
    MessageGate,
    RelayMessageError,
    utcnow,
)

log = logging.getLogger(__name__)

BACKOFF_FIRST, BACKOFF_MAX = 0.25, 15.0  # seconds between reconnects, doubling
RECEIVE_TICK = 0.5  # seconds: how often a quiet stream checks for a renewed lease
CONNECT_TIMEOUT = 10.0


class RelayClient:
    def __init__(
        self,
        settings: RelaySettings,
        *,
        lease: Callable[[], str],
        machine: str,
        leaders: Sequence[LeaderRef],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if not settings.public_key:
            raise ValueError("relay.public_key is required to trust the relay's books")
        self._settings = settings
        self._lease = lease
        self._machine = machine
        self._leaders = list(leaders)
        self.gate = MessageGate(
            public_key_from_b64(settings.public_key),
            max_age_seconds=settings.max_age_seconds,
            clock=clock,
        )
        self._heard: float | None = None  # monotonic time of the last admitted message
        self.last_close: str = ""  # the relay's latest close reason, shown to the user
        self.refused: dict[str, int] = {}  # refusal code -> count
        self.connects = 0

    def silent(self) -> bool:
        if self._heard is None:
            return True
        return time.monotonic() - self._heard > self._settings.fallback_after_seconds

    async def books(self) -> AsyncIterator[PushedBook]:
        delay = BACKOFF_FIRST
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    async for pushed in self._stream(session):
                        delay = BACKOFF_FIRST  # a working stream resets the back-off
                        yield pushed
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    self.last_close = f"cannot reach the relay: {type(exc).__name__}: {exc}"
                    log.warning("relay: %s", self.last_close)
                await asyncio.sleep(delay * (1 + random.random() / 4))
                delay = min(delay * 2, BACKOFF_MAX)

    async def _stream(self, session: aiohttp.ClientSession) -> AsyncIterator[PushedBook]:
        async with session.ws_connect(self._settings.url, heartbeat=None, autoping=True) as ws:
            sent_lease = self._lease()
            await ws.send_str(
                json.dumps(
                    {
                        "type": "hello",
                        "lease": sent_lease,
                        "machine": self._machine,
                        "leaders": [leader.model_dump(mode="json") for leader in self._leaders],
                    }
                )
            )
            self.connects += 1
            while True:
                lease = self._lease()
                if lease != sent_lease:  # renewed: the relay checks the new lease too
                    await ws.send_str(json.dumps({"type": "renew", "lease": lease}))
                    sent_lease = lease
                try:
                    msg = await ws.receive(timeout=RECEIVE_TICK)
                except TimeoutError:
                    continue
                if msg.type is aiohttp.WSMsgType.PONG:
                    continue
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    self._closed(ws, msg)
                    return
                pushed = self._admit(msg.data)
                if pushed is not None:
                    yield pushed

    def _closed(self, ws: aiohttp.ClientWebSocketResponse, msg: aiohttp.WSMessage) -> None:
        reason = msg.extra if isinstance(msg.extra, str) and msg.extra else ""
        self.last_close = f"relay closed the stream ({ws.close_code}): {reason or msg.type.name}"
        log.warning("relay: %s", self.last_close)

    def _admit(self, text: str) -> PushedBook | None:
        if not text.startswith("lsr1."):
            return None  # a control frame (welcome): nothing to trust or act on
        try:
            message = self.gate.admit(text)
        except RelayMessageError as exc:
            self.refused[exc.code] = self.refused.get(exc.code, 0) + 1
            log.warning("relay: refused a message (%s): %s", exc.code, exc)
            return None
        self._heard = time.monotonic()
        if isinstance(message, BookMessage):
            return PushedBook(message.leader.id, message.snapshot(), message.mass_close_confirmed)
        return None
