"""Helpers for the license tests: pretend machines, a dead URL, offline-signed leases."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lightspeed_cli.config.sections import LicenseSettings
from lightspeed_cli.license.client import LicenseClient
from lightspeed_cli.license.fingerprint import machine_fingerprint
from lightspeed_cli.license.store import STATE_FILE, LocalState, MemoryLeaseStore, save_state
from lightspeed_cli.license.token import LeasePayload, public_key_to_b64, sign_lease, to_epoch

ClientFactory = Callable[..., LicenseClient]

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
KEY_ID = "0123456789abcdef"


def fingerprint_of(tmp_path: Path, machine: str) -> str:
    """The real fingerprint of a pretend machine (its own machine-id file)."""
    id_file = tmp_path / f"machine-id-{machine}"
    id_file.write_text(f"{machine}-0123456789abcdef\n")
    return machine_fingerprint(id_file, user="tester")


def dead_url() -> str:
    """A 127.0.0.1 URL where nothing listens: connection refused, at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class OfflineLease:
    """Leases signed by a throwaway key, with no server: for the pure verdict tests."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.signing_key = Ed25519PrivateKey.generate()
        self.public_key = public_key_to_b64(self.signing_key.public_key())
        self.machine = fingerprint_of(tmp_path, "a")

    def payload(
        self,
        *,
        issued: datetime = T0,
        lease_hours: float = 72,
        expires: datetime = T0 + timedelta(days=30),
        machine: str | None = None,
    ) -> LeasePayload:
        return LeasePayload(
            key_id=KEY_ID,
            machine=machine or self.machine,
            issued_at=to_epoch(issued),
            expires_at=to_epoch(expires),
            lease_until=to_epoch(issued + timedelta(hours=lease_hours)),
        )

    def token(self, **kwargs: Any) -> str:
        return sign_lease(self.payload(**kwargs), self.signing_key)

    def client(
        self,
        token: str | None = None,
        *,
        local: LocalState | None = None,
        fingerprint: str | None = None,
        **settings: Any,
    ) -> LicenseClient:
        """A client holding `token` (default: a fresh lease issued at T0), server unreachable."""
        data_dir = self.tmp_path / "offline-client"
        if local is not None:
            save_state(data_dir / STATE_FILE, local)
        config = LicenseSettings(server_url=dead_url(), public_key=self.public_key, **settings)
        return LicenseClient(
            config,
            data_dir,
            fingerprint=fingerprint or self.machine,
            store=MemoryLeaseStore(token if token is not None else self.token()),
        )
