"""How the license server listens: its socket, a connection cap, header and body deadlines.

uvicorn closes idle keep-alive connections, but nothing bounds a request that arrives slowly:
a client sending half its headers, or a body shorter than its Content-Length, holds a
connection until it hangs up, and a thousand of them hold every file descriptor. The h11
protocol below adds the two missing deadlines (`header_timeout_seconds` from the connection
or the previous response to the end of the headers, `body_timeout_seconds` from there to the
end of the body) and caps open connections. At the cap, the connection that has waited longest
for the rest of its request is closed to make room (a real client sends its small request at
once), so half-sent requests cannot lock real clients out; only when every connection is being
answered is the newcomer turned away.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from lightspeed_cli.license.server import ServerConfig

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 8192  # a license request's headers are a few hundred bytes
REFUSAL_LOG_INTERVAL_SECONDS = 60
_HEADERS, _BODY = "headers", "body"


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, made before anything says "Listening", so a busy port
    or an unknown host is an OSError whose message says why."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OSError(f"cannot listen on {host}:{port}: unknown host ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen()
    except OSError as exc:
        sock.close()
        why = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            why += " (another server, or another copy of this one, is running there)"
        raise OSError(f"cannot listen on {host}:{port}: {why}") from None
    return sock


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with request deadlines and a connection cap (`limits`)."""

    limits: ClassVar[ServerConfig] = ServerConfig()
    last_refusal_log: ClassVar[float] = float("-inf")

    _deadline: asyncio.TimerHandle | None = None
    _phase: str | None = None  # what the client still owes us: headers, body, or nothing
    _since = 0.0
    _refused = False
    _served = False  # answered a request: silence in the headers phase is then keep-alive
    _partial = False  # bytes arrived in the current phase

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections and not self._make_room():
            self._refused = True
            self._log_refusal()
            transport.close()
            return
        super().connection_made(transport)  # type: ignore[arg-type]
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if not self._refused:
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._partial = True
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        self._served = True
        super().on_response_complete()
        self._watch()

    def _peer(self) -> str:
        return str(self.client[0]) if self.client else "unknown"

    def _watch(self) -> None:
        """(Re)arm the deadline when the client moves on to owing headers, a body, or nothing."""
        state = self.conn.their_state
        phase = _HEADERS if state is h11.IDLE else _BODY if state is h11.SEND_BODY else None
        if phase == self._phase:
            return
        self._disarm()
        self._phase, self._partial = phase, False
        if phase is None:
            return
        self._since = self.loop.time()
        self._deadline = self.loop.call_later(self._timeout(phase), self._expire)

    def _timeout(self, phase: str | None) -> float:
        if phase == _HEADERS:
            return self.limits.header_timeout_seconds
        return self.limits.body_timeout_seconds

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        self._drop(f"no complete request {self._phase} within {self._timeout(self._phase):g} s")

    def _drop(self, why: str) -> None:
        """Close this connection: one INFO line, unless it is an idle keep-alive or the
        endpoint, which awaited the body and sees it end, says it instead."""
        if self.transport.is_closing():
            return
        if self._phase == _HEADERS and (self._partial or not self._served):
            log.info("closed a connection from %s: %s", self._peer(), why)
        self.transport.close()

    def _make_room(self) -> bool:
        """Close the connection that has waited longest for its request; False if none waits."""
        waiting = [
            c
            for c in self.connections
            if isinstance(c, GuardedH11Protocol)
            and c._phase is not None
            and not c.transport.is_closing()
        ]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c._since)
        oldest._drop(
            f"connection cap ({self.limits.max_connections}) reached and it had waited longest"
            f" for its request {oldest._phase}"
        )
        return True

    def _log_refusal(self) -> None:
        now = time.monotonic()
        cls = type(self)
        if now - cls.last_refusal_log >= REFUSAL_LOG_INTERVAL_SECONDS:
            cls.last_refusal_log = now
            log.warning(
                "connection cap (%d) reached with every connection mid-request: refusing new"
                " connections (said at most once a minute)",
                self.limits.max_connections,
            )


def guarded_protocol(config: ServerConfig) -> type[GuardedH11Protocol]:
    """The protocol class for one server, carrying that server's limits."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": config})


def build_server(app: Any, config: ServerConfig, **uvicorn_options: Any) -> uvicorn.Server:
    """The uvicorn server `serve` and the tests run: guarded protocol, no access log."""
    options: dict[str, Any] = {
        "lifespan": "off",
        "log_config": None,
        "access_log": False,
        "ws": "none",
        "server_header": False,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        **uvicorn_options,
    }
    return uvicorn.Server(uvicorn.Config(app, http=guarded_protocol(config), **options))
