"""The machine fingerprint a lease is bound to: stable per machine and user, never raw.

sha256 over a constant salt, the machine id and the user name. The machine id comes from
`$LIGHTSPEED_MACHINE_ID_FILE` (tests use it to play "another machine"), else /etc/machine-id,
else /var/lib/dbus/machine-id, else the host name. Only the hash ever leaves this module.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import socket
from pathlib import Path

MACHINE_ID_ENV = "LIGHTSPEED_MACHINE_ID_FILE"
MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
_SALT = "lightspeed-license-fingerprint-v1"


def _read_id(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def machine_id(machine_id_file: Path | None = None) -> str:
    """The raw machine identity; stays inside this module's callers, never printed or sent."""
    override = machine_id_file or (
        Path(os.environ[MACHINE_ID_ENV]) if os.environ.get(MACHINE_ID_ENV) else None
    )
    candidates = (override,) if override else MACHINE_ID_FILES
    for path in candidates:
        value = _read_id(path)
        if value:
            return value
    if override:
        raise ValueError(f"{override}: machine id file is missing or empty")
    return f"host:{socket.gethostname()}"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def machine_fingerprint(machine_id_file: Path | None = None, user: str | None = None) -> str:
    """64 hex chars identifying this machine and user to the license server."""
    material = "\0".join((_SALT, machine_id(machine_id_file), user or _user()))
    return hashlib.sha256(material.encode()).hexdigest()


def short_fingerprint(fingerprint: str) -> str:
    """How a machine is shown to people: 16 hex digits name it well enough for
    `license-server release` (which takes any unique prefix) and fit any terminal."""
    return f"{fingerprint[:16]}…"
