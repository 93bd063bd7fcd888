"""License fixtures: a real server on 127.0.0.1 and clients playing different machines.

The server helper itself is `lightspeed_cli.license.testing.run_license_server`, so tests in
other folders (engine end-to-end) can start one too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from license_helpers import ClientFactory, OfflineLease, fingerprint_of

from lightspeed_cli.config.sections import LicenseSettings
from lightspeed_cli.license.client import LicenseClient
from lightspeed_cli.license.server import ServerConfig
from lightspeed_cli.license.store import MemoryLeaseStore
from lightspeed_cli.license.testing import RunningLicenseServer, run_license_server


@pytest.fixture
def server_config() -> ServerConfig:
    """Override in a test module to start the server with other limits."""
    return ServerConfig()


@pytest.fixture
def license_server(tmp_path: Path, server_config: ServerConfig) -> Iterator[RunningLicenseServer]:
    with run_license_server(tmp_path / "server", server_config) as server:
        yield server


@pytest.fixture
def make_client(license_server: RunningLicenseServer, tmp_path: Path) -> ClientFactory:
    """`make_client("a")`: a client on machine "a" with its own data dir and lease store."""

    def make(
        machine: str = "a", *, store: MemoryLeaseStore | None = None, **settings: Any
    ) -> LicenseClient:
        config = LicenseSettings(server_url=license_server.url, **settings)
        return LicenseClient(
            config,
            tmp_path / f"client-{machine}",
            fingerprint=fingerprint_of(tmp_path, machine),
            store=store if store is not None else MemoryLeaseStore(),
        )

    return make


@pytest.fixture
def offline_lease(tmp_path: Path) -> OfflineLease:
    return OfflineLease(tmp_path)
