"""A real license server on 127.0.0.1 for tests (and `simulate`): uvicorn in a thread.

    with run_license_server(tmp_path) as server:
        key = server.issue(seats=1, days=30)
        settings = LicenseSettings(server_url=server.url, public_key=server.public_key)

The server reads time through `datetime.now`, so freezegun moves its clock too; pass
`real_asyncio=True` to freeze_time so uvicorn's event loop keeps real time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lightspeed_cli.license.db import DB_FILE, KeyRecord
from lightspeed_cli.license.server import (
    KEY_FILE,
    LicenseService,
    ServerConfig,
    build_service,
    create_app,
)

STARTUP_TIMEOUT_SECONDS = 10


@dataclass
class RunningLicenseServer:
    url: str
    public_key: str  # base64, what `license.public_key` in a client config takes
    service: LicenseService
    db_path: Path
    key_file: Path

    def issue(
        self,
        *,
        seats: int = 1,
        days: float = 30,
        note: str = "test",
        features: tuple[str, ...] = (),
    ) -> str:
        """Issue a key and return it in full (tests only: real admins see it once)."""
        key, _ = self.service.db.issue(
            seats=seats, days=days, note=note, features=features, now=self.service.now()
        )
        return key

    def record(self, key_or_id: str) -> KeyRecord:
        record = self.service.db.find(key_or_id)
        assert record is not None, "no such key"
        return record

    def revoke(self, key_or_id: str) -> None:
        self.service.db.revoke(self.record(key_or_id).key_id, self.service.now())


@contextmanager
def run_license_server(
    directory: Path, config: ServerConfig | None = None
) -> Iterator[RunningLicenseServer]:
    """Start the server (db and signing key under `directory`) on a free port; stop on exit.

    It is the server `license-server serve` runs (same protocol, limits and timeouts)."""
    from lightspeed_cli.license.listener import build_server, listen_socket

    directory.mkdir(parents=True, exist_ok=True)
    db_path, key_file = directory / DB_FILE, directory / KEY_FILE
    service, _ = build_service(db_path, key_file, config)
    sock = listen_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = build_server(create_app(service), service.config, log_level="warning")
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="license-server", daemon=True
    )
    thread.start()
    try:
        for _ in range(STARTUP_TIMEOUT_SECONDS * 100):
            if server.started or not thread.is_alive():
                break
            time.sleep(0.01)
        if not server.started:
            raise RuntimeError("the test license server did not start")
        yield RunningLicenseServer(
            url=f"http://127.0.0.1:{port}",
            public_key=service.public_key,
            service=service,
            db_path=db_path,
            key_file=key_file,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT_SECONDS)
        sock.close()
        service.db.close()
