"""Where the client keeps what it knows: the lease (a secret) and the local state (not secret).

The lease goes through secrets.py (keyring, else a 0600 file). The local state file,
`license_state.json` in the data dir, holds the pinned server public key, the latest server
time seen (for clock-rollback detection), the last contact and any refusal from the server.
"""

from __future__ import annotations

import json
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

STATE_FILE = "license_state.json"


class LeaseStore(Protocol):
    def load(self) -> str | None: ...

    def save(self, token: str) -> str:
        """Store the lease; return where it went, for the user."""
        ...

    def delete(self) -> bool: ...


class SecretsLeaseStore:
    """The lease of one data dir: in the OS keyring, or the 0600 file in that dir (secrets.py).

    `data_dir` None is the default data dir."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.data_dir = data_dir

    def load(self) -> str | None:
        from lightspeed_cli.config.secrets import SecretName, get_secret

        found = get_secret(SecretName.LICENSE_LEASE, data_dir=self.data_dir)
        return found.value if found else None

    def save(self, token: str) -> str:
        from lightspeed_cli.config.secrets import (
            SecretName,
            SecretSource,
            lease_file_path,
            set_secret,
        )

        source = set_secret(SecretName.LICENSE_LEASE, token, data_dir=self.data_dir)
        if source is SecretSource.FILE:
            return f"{source} ({lease_file_path(self.data_dir)})"
        return str(source)

    def delete(self) -> bool:
        from lightspeed_cli.config.secrets import SecretName, delete_secret

        return delete_secret(SecretName.LICENSE_LEASE, data_dir=self.data_dir)


class MemoryLeaseStore:
    """A lease store in memory: for tests and for tools that must not touch the keyring."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token

    def load(self) -> str | None:
        return self.token

    def save(self, token: str) -> str:
        self.token = token
        return "memory"

    def delete(self) -> bool:
        had, self.token = self.token is not None, None
        return had


class Refusal(BaseModel):
    code: str
    message: str
    at: datetime


class LocalState(BaseModel):
    """The client's memory between runs. Nothing here is secret."""

    model_config = ConfigDict(extra="ignore")

    server_url: str = ""
    public_key: str = ""  # pinned at activation when the config does not set one
    key_id: str = ""
    key_hint: str = ""  # LS-ABCDE-…-WXYZ
    seats: int | None = None
    seats_used: int | None = None
    latest_server_time: datetime | None = None
    last_contact: datetime | None = None  # server time of the last successful answer
    last_error: str | None = None  # why the last renewal could not reach the server
    last_error_at: datetime | None = None
    refusal: Refusal | None = None  # the server's explicit "no" (revoked, expired, ...)
    # the latest reading of this machine's clock since the last server answer: with the server
    # times above, the floor of "now" (a clock wound back cannot revive a lapsed lease)
    latest_local_time: datetime | None = None

    def seen_server_time(self, when: datetime) -> None:
        if self.latest_server_time is None or when > self.latest_server_time:
            self.latest_server_time = when

    def seen_local_time(self, when: datetime) -> None:
        if self.latest_local_time is None or when > self.latest_local_time:
            self.latest_local_time = when

    def time_floor(self) -> datetime:
        """The latest time this client has seen, from the server or its own clock."""
        seen = (
            self.latest_server_time,
            self.latest_local_time,
            self.last_error_at,
            self.refusal.at if self.refusal else None,
        )
        return max((t for t in seen if t is not None), default=datetime.min.replace(tzinfo=UTC))


def load_state(path: Path) -> LocalState:
    """The saved state; a missing or unreadable file is an empty state (re-activate fixes it).
    Never through a symlink: the pinned key in it decides which server we believe."""
    from lightspeed_cli.config.atomicfile import read_private

    try:
        return LocalState.model_validate(json.loads(read_private(path)))
    except (OSError, ValueError, ValidationError):
        return LocalState()


def save_state(path: Path, state: LocalState) -> None:
    """Write atomically so a crash mid-write never leaves half a file, and never through a
    symlink planted at `path` (OSError ELOOP)."""
    from lightspeed_cli.config.atomicfile import write_atomic

    write_atomic(path, state.model_dump_json(indent=2), follow_symlinks=False)


def delete_state(path: Path) -> None:
    with suppress(FileNotFoundError):
        path.unlink()
