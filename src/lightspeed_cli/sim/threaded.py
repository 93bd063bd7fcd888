"""An aiohttp app served on 127.0.0.1 from a background thread with its own event loop: how the
fakes run, so in-process async tests and subprocess end-to-end runs can share one server."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Self

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ThreadedServer:
    """`start()` serves every path with `handler`; `stop()` ends it; a restart keeps the port."""

    def __init__(self, name: str, handler: Handler, port: int = 0) -> None:
        self.name = name
        self.port = port
        self.loop: asyncio.AbstractEventLoop | None = None
        self._handler = handler
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._serve, args=(ready, errors), name=self.name, daemon=True
        )
        self._thread.start()
        ready.wait(10)
        if errors:
            raise RuntimeError(f"{self.name} failed to start: {errors[0]!r}")

    def _serve(self, ready: threading.Event, errors: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        try:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handler)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True)
            loop.run_until_complete(site.start())
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        except BaseException as exc:  # report to start() instead of dying silently
            errors.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        # a connection's handler still pending after the cleanup would be "destroyed but
        # pending", logged by asyncio at some later garbage collection, inside another test
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    def stop(self) -> None:
        if self.loop is not None and self._thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
        self.loop = self._thread = None


class ServedFake:
    """`with Fake.running(...) as fake:` / `with fake:` for a fake that has start() and stop()."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @classmethod
    @contextlib.contextmanager
    def running(cls, **kwargs: Any) -> Iterator[Self]:
        fake = cls(**kwargs)
        fake.start()
        try:
            yield fake
        finally:
            fake.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
