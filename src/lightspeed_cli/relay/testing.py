"""A real relay on 127.0.0.1 for tests: uvicorn in a thread, its own event loop.

with run_license_server(tmp) as lic, run_relay(tmp / "relay", lic, binance.url) as relay:
    ...  # connect a RelayClient to relay.url, pinning relay.public_key
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lightspeed_cli.config.sections import BinanceSettings, PollingSettings
from lightspeed_cli.license.testing import RunningLicenseServer
from lightspeed_cli.license.token import public_key_from_b64
from lightspeed_cli.relay.app import STREAM_PATH
from lightspeed_cli.relay.config import RelayConfig
from lightspeed_cli.relay.hub import Hub
from lightspeed_cli.relay.server import build_relay, uvicorn_server

STARTUP_TIMEOUT_SECONDS = 10


@dataclass
class RunningRelay:
    url: str  # ws://127.0.0.1:PORT/v1/stream
    public_key: str
    hub: Hub  # lives in the server's thread: read its counters, do not call it
    data_dir: Path


@contextmanager
def run_relay(
    directory: Path,
    license_server: RunningLicenseServer,
    binance_url: str,
    config: RelayConfig | None = None,
) -> Iterator[RunningRelay]:
    from lightspeed_cli.license.listener import listen_socket

    directory.mkdir(parents=True, exist_ok=True)
    relay = build_relay(
        data_dir=directory,
        license_db=license_server.db_path,
        binance=BinanceSettings(base_url=binance_url),
        polling=PollingSettings(retries=0, timeout_seconds=5),
        config=config,
    )
    sock = listen_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn_server(
        relay, public_key_from_b64(license_server.public_key), log_level="warning"
    )
    loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve(sockets=[sock]))
        loop.run_until_complete(relay.hub.close())
        loop.run_until_complete(relay.source.aclose())

    thread = threading.Thread(target=run, name="relay", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not server.started:
            raise RuntimeError("the test relay did not start")
        yield RunningRelay(
            url=f"ws://127.0.0.1:{port}{STREAM_PATH}",
            public_key=relay.public_key,
            hub=relay.hub,
            data_dir=directory,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT_SECONDS)
        loop.close()
        sock.close()
        relay.db.close()
