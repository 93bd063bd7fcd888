"""Serving the dashboard: a uvicorn server on a socket made beforehand, inside any event loop.

uvicorn's own signal capture is switched off: inside `run` the bot owns SIGTERM / SIGINT and
stops the dashboard with the engine; `lightspeed dashboard` stops on Ctrl-C the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_server(app: Any) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_config=None,
        access_log=False,  # a first request carries the token in its URL
        ws="none",
        server_header=False,
    )
    return _QuietServer(config)


async def serve(app: Any, sock: socket.socket, stop: asyncio.Event) -> None:
    """Serve on `sock` until `stop` is set."""
    server = build_server(app)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="dashboard")
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        stopper.cancel()
        await asyncio.gather(task, return_exceptions=True)
