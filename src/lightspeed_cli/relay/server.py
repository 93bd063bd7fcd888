"""Assemble a relay: its signing key, the license database it checks leases against, the
Binance source it reads through, the hub and the WebSocket app; and serve it with uvicorn.

`serve_relay` is what `relay serve` runs; relay/testing.py runs the same in a thread.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lightspeed_cli.config.sections import BinanceSettings, PollingSettings, TraderSettings
from lightspeed_cli.license.db import LicenseDB
from lightspeed_cli.license.server import load_or_create_signing_key
from lightspeed_cli.license.token import public_key_to_b64
from lightspeed_cli.models import FetchResult
from lightspeed_cli.relay.app import create_relay_app
from lightspeed_cli.relay.config import RelayConfig
from lightspeed_cli.relay.hub import Hub
from lightspeed_cli.relay.leases import LeaseChecker
from lightspeed_cli.relay.status import STATUS_FILE, StatusWriter
from lightspeed_cli.sources.binance import BinanceSource

RELAY_KEY_FILE = "relay.key"


class LazyBinance:
    """The BinanceSource, built on first use inside the server's own event loop."""

    def __init__(self, binance: BinanceSettings, polling: PollingSettings) -> None:
        self._settings = (binance, polling)
        self._source: BinanceSource | None = None

    async def __call__(self, trader: TraderSettings, other_exit: bool) -> FetchResult:
        if self._source is None:
            self._source = BinanceSource(*self._settings)
        return await self._source.fetch(trader, other_exit=other_exit)

    async def aclose(self) -> None:
        if self._source is not None:
            await self._source.aclose()


@dataclass
class Relay:
    hub: Hub
    db: LicenseDB
    public_key: str  # base64: what clients pin as `relay.public_key`
    key_created: bool
    source: LazyBinance


def build_relay(
    *,
    data_dir: Path,
    license_db: Path,
    binance: BinanceSettings,
    polling: PollingSettings,
    config: RelayConfig | None = None,
) -> Relay:
    config = config or RelayConfig()
    signing_key, created = load_or_create_signing_key(data_dir / RELAY_KEY_FILE)
    db = LicenseDB(license_db, create=False)
    source = LazyBinance(binance, polling)
    hub = Hub(source, signing_key, config)
    hub.on_tick = StatusWriter(data_dir / STATUS_FILE)
    return Relay(hub, db, public_key_to_b64(signing_key.public_key()), created, source)


def uvicorn_server(
    relay: Relay, license_key: Ed25519PublicKey, **options: object
) -> uvicorn.Server:
    app = create_relay_app(relay.hub, LeaseChecker(relay.db, license_key))
    settings: dict[str, object] = {
        "lifespan": "off",
        "log_config": None,
        "access_log": False,
        "ws": "websockets-sansio",
        "ws_ping_interval": None,  # the relay's own heartbeats keep the line alive
        "server_header": False,
        **options,
    }
    return uvicorn.Server(uvicorn.Config(app, **settings))  # type: ignore[arg-type]


def serve_relay(relay: Relay, license_key: Ed25519PublicKey, sock: socket.socket) -> None:
    server = uvicorn_server(relay, license_key, log_level="info")
    try:
        server.run(sockets=[sock])
    finally:
        relay.db.close()
