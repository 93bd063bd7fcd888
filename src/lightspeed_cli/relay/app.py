"""The relay's WebSocket door, `/v1/stream`: a lease in, signed books and heartbeats out.

The conversation (JSON text frames from the client, signed `lsr1.` tokens from the relay):

    client: {"type": "hello", "lease": "lsl1...", "machine": "<fingerprint>",
             "leaders": [{"source": "copytrade", "id": "..."}]}
    relay:  {"type": "welcome", "epoch": ..., "heartbeat_seconds": 1.0}, then tokens
    client: {"type": "renew", "lease": "lsl1..."}      (after each license renewal)

A lease refused at connect or later closes the stream with a 44xx code and a short reason the
client shows (leases.py); so do a missing or malformed hello, a limit of the lease (leaders,
connections) and a client too slow to keep up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from lightspeed_cli.config.sections import TraderSettings
from lightspeed_cli.license.token import LeasePayload
from lightspeed_cli.relay.hub import Hub, Subscriber
from lightspeed_cli.relay.leases import LeaseChecker, LeaseRefused
from lightspeed_cli.sources.relay_message import LeaderRef

log = logging.getLogger(__name__)

STREAM_PATH = "/v1/stream"
CLOSE_BAD_HELLO = 4400
CLOSE_HELLO_TIMEOUT = 4408
CLOSE_TOO_SLOW = 4409
CLOSE_LIMIT = 4429


class Hello(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["hello"]
    lease: str = Field(max_length=2048)
    machine: str = Field(pattern=r"^[0-9a-f]{64}$")
    leaders: list[LeaderRef] = Field(min_length=1, max_length=1000)


class Renew(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["renew"]
    lease: str = Field(max_length=2048)


class _Closed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Session:
    """One client connection, from hello to close."""

    def __init__(self, ws: WebSocket, hub: Hub, checker: LeaseChecker) -> None:
        self.ws = ws
        self.hub = hub
        self.checker = checker
        self.lease = ""
        self.machine = ""

    async def run(self) -> None:
        await self.ws.accept()
        try:
            hello = await self._hello()
            payload = await self._check(hello.lease, hello.machine)
            self.lease, self.machine = hello.lease, hello.machine
            leaders = list({leader.key: leader for leader in hello.leaders}.values())
            for leader in leaders:
                try:  # the reader would fail on it every interval: refuse it at the door
                    TraderSettings(id=leader.id, source=leader.source)
                except ValidationError:
                    raise _Closed(
                        CLOSE_BAD_HELLO, f"not a {leader.source} id: {leader.id}"
                    ) from None
            limits = self.hub.config
            if len(leaders) > limits.max_leaders_per_lease:
                raise _Closed(CLOSE_LIMIT, f"at most {limits.max_leaders_per_lease} leaders")
            if self.hub.connections(payload.key_id) >= limits.max_connections_per_lease:
                raise _Closed(
                    CLOSE_LIMIT, f"at most {limits.max_connections_per_lease} connections"
                )
            subscriber = Subscriber(payload.key_id, limits.queue_size)
            await self.ws.send_json(
                {
                    "type": "welcome",
                    "epoch": self.hub.epoch,
                    "heartbeat_seconds": limits.heartbeat_seconds,
                }
            )
            self.hub.subscribe(subscriber, leaders)
            try:
                await self._serve(subscriber)
            finally:
                self.hub.unsubscribe(subscriber)
        except _Closed as closed:
            log.info("relay: closed a stream (%s): %s", closed.code, closed.reason)
            with contextlib.suppress(Exception):
                await self.ws.close(code=closed.code, reason=closed.reason)
        except WebSocketDisconnect:
            pass

    async def _hello(self) -> Hello:
        timeout = self.hub.config.hello_timeout_seconds
        try:
            text = await asyncio.wait_for(self.ws.receive_text(), timeout)
        except TimeoutError:
            raise _Closed(CLOSE_HELLO_TIMEOUT, f"no hello within {timeout:g} s") from None
        except KeyError:  # a binary frame
            raise _Closed(CLOSE_BAD_HELLO, "the hello must be a JSON text frame") from None
        try:
            return Hello.model_validate_json(text)
        except ValidationError:
            raise _Closed(CLOSE_BAD_HELLO, "malformed hello") from None

    async def _check(self, lease: str, machine: str) -> LeasePayload:
        try:
            return await run_in_threadpool(self.checker.check, lease, machine)
        except LeaseRefused as refused:
            raise _Closed(refused.close_code, refused.reason) from None

    async def _serve(self, subscriber: Subscriber) -> None:
        tasks = [
            asyncio.create_task(self._write(subscriber)),
            asyncio.create_task(self._listen()),
            asyncio.create_task(self._watch_lease()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            error = task.exception()
            if error is not None:
                raise error

    async def _write(self, subscriber: Subscriber) -> None:
        while True:
            token = await subscriber.queue.get()
            if token is None:
                raise _Closed(CLOSE_TOO_SLOW, "the client fell too far behind")
            await self.ws.send_text(token)

    async def _listen(self) -> None:
        while True:
            text = await self.ws.receive_text()
            try:
                renew = Renew.model_validate_json(text)
            except ValidationError:
                raise _Closed(CLOSE_BAD_HELLO, "malformed message") from None
            await self._check(renew.lease, self.machine)
            self.lease = renew.lease

    async def _watch_lease(self) -> None:
        while True:
            await asyncio.sleep(self.hub.config.lease_check_seconds)
            await self._check(self.lease, self.machine)


def create_relay_app(hub: Hub, checker: LeaseChecker) -> Starlette:
    async def stream(ws: WebSocket) -> None:
        await Session(ws, hub, checker).run()

    return Starlette(routes=[WebSocketRoute(STREAM_PATH, stream)])
