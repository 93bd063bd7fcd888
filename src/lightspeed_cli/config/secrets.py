"""Secrets: exchange keys, the Binance web session and the license lease. Never in config.toml.

Lookup order for each secret: the OS keyring (service "lightspeed"), then a systemd credential
(`$CREDENTIALS_DIRECTORY/<name>`, from `LoadCredential=`), then `LIGHTSPEED_<NAME>` in the
environment. A headless VPS usually has no keyring backend; then `set_secret` refuses with a
message saying how to hand the secret over instead, except for the license lease, which the
program itself receives signed from the license server and keeps in a 0600 file in the data dir.

The lease belongs to a data dir (`storage.data_dir`), like the journal and the pinned server key
beside it: its file is in that dir, and its keyring entry is named after it (`license_lease`
for the default dir, `license_lease@/abs/path` for another), so two configs on one account
never share a lease, and a service and the shell using the same config always do.

Values never reach a log line or an exception message; `SecretValue`'s repr hides them.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

KEYRING_SERVICE = "lightspeed"
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"
ENV_PREFIX = "LIGHTSPEED_"


class SecretName(StrEnum):
    BYBIT_API_KEY = "bybit_api_key"
    BYBIT_API_SECRET = "bybit_api_secret"
    BINANCE_SESSION = "binance_session"
    LICENSE_LEASE = "license_lease"
    TELEGRAM_TOKEN = "telegram_token"

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.value.upper()


class SecretSource(StrEnum):
    KEYRING = "keyring"
    SYSTEMD = "systemd credential"
    ENV = "environment"
    FILE = "private file"  # only the license lease, when no keyring backend is usable
    NONE = "not set"


@dataclass(frozen=True)
class SecretValue:
    """A secret and where it came from. repr/str never show the value."""

    name: SecretName
    value: str = field(repr=False)
    source: SecretSource

    def __str__(self) -> str:
        return repr(self)

    @property
    def hint(self) -> str:
        """Safe to print: that it is set, and its length."""
        return mask(self.value)


class SecretStoreUnavailable(Exception):
    """No usable keyring on this machine; the message says what to do instead."""


def mask(value: str) -> str:
    """`**** (18 chars)`: enough to tell set from unset and spot a truncated paste."""
    return f"**** ({len(value)} chars)" if value else ""


# --- keyring -----------------------------------------------------------------------------------

_UNUSABLE_BACKENDS = ("keyring.backends.fail.Keyring", "keyring.backends.null.Keyring")
_PLAINTEXT_BACKENDS = ("keyrings.alt.file.PlaintextKeyring",)


def _backend() -> Any | None:
    """The keyring backend, or None when there is none worth using (fail/null/broken)."""
    try:
        import keyring
        from keyring.backends.chainer import ChainerBackend

        backend = keyring.get_keyring()
    except Exception as exc:  # a broken keyring install or config must not stop the CLI
        log.warning("keyring unavailable: %s", type(exc).__name__)
        return None
    if _qualname(backend) in _UNUSABLE_BACKENDS:
        return None
    if isinstance(backend, ChainerBackend) and not backend.backends:
        return None
    return backend


def _qualname(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def keyring_backend_name() -> str | None:
    """The usable keyring backend's name (for messages), or None."""
    backend = _backend()
    return _qualname(backend) if backend is not None else None


def keyring_is_plaintext() -> bool:
    """True when the keyring stores secrets unencrypted on disk (keyrings.alt)."""
    return keyring_backend_name() in _PLAINTEXT_BACKENDS


def keyring_usable() -> bool:
    return _backend() is not None


def keyring_account(name: SecretName, data_dir: Path | None = None) -> str:
    """The keyring entry's name: the lease's carries its data dir unless that is the default."""
    if name is not SecretName.LICENSE_LEASE or data_dir is None:
        return name.value
    from lightspeed_cli.config.paths import default_data_dir

    resolved = data_dir.expanduser().resolve()
    if resolved == default_data_dir().resolve():
        return name.value
    return f"{name.value}@{resolved}"


def _keyring_get(account: str) -> str | None:
    backend = _backend()
    if backend is None:
        return None
    try:
        return backend.get_password(KEYRING_SERVICE, account) or None
    except Exception as exc:  # locked, no D-Bus session, ...: fall through to the next source
        log.warning("keyring read of %s failed: %s", account, type(exc).__name__)
        return None


def _keyring_set(account: str, value: str) -> bool:
    backend = _backend()
    if backend is None:
        return False
    try:
        backend.set_password(KEYRING_SERVICE, account, value)
    except Exception as exc:
        log.warning("keyring write of %s failed: %s", account, type(exc).__name__)
        return False
    return True


def _keyring_delete(account: str) -> bool:
    backend = _backend()
    if backend is None:
        return False
    try:
        from keyring.errors import PasswordDeleteError

        try:
            backend.delete_password(KEYRING_SERVICE, account)
        except PasswordDeleteError:
            return False
    except Exception as exc:
        log.warning("keyring delete of %s failed: %s", account, type(exc).__name__)
        return False
    return True


# --- systemd credentials, environment, lease file ----------------------------------------------


def _credential_get(name: SecretName) -> str | None:
    directory = os.environ.get(CREDENTIALS_ENV)
    if not directory:
        return None
    try:
        return (Path(directory) / name.value).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("systemd credential %s unreadable: %s", name.value, type(exc).__name__)
        return None


def _env_get(name: SecretName) -> str | None:
    return os.environ.get(name.env_var, "").strip() or None


def lease_file_path(data_dir: Path | None = None) -> Path:
    """Where the license lease lives when there is no keyring: in its data dir."""
    from lightspeed_cli.config.paths import default_data_dir

    return (data_dir or default_data_dir()) / SecretName.LICENSE_LEASE.value


def _file_get(name: SecretName, data_dir: Path | None) -> str | None:
    if name is not SecretName.LICENSE_LEASE:
        return None
    from lightspeed_cli.config.atomicfile import read_private
    from lightspeed_cli.config.datadir import keep_private

    path = lease_file_path(data_dir)
    try:
        keep_private(path)
        return read_private(path).strip() or None
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            log.error(
                "the lease file %s is a symlink: refused (someone may have planted it);"
                " remove it and run `lightspeed license activate` again",
                path,
            )
            return None
        log.warning("lease file unreadable: %s", type(exc).__name__)
        return None
    except UnicodeDecodeError as exc:
        log.warning("lease file unreadable: %s", type(exc).__name__)
        return None


def _file_set(value: str, data_dir: Path | None) -> Path:
    """Write the lease 0600, atomically (temp file in the same dir, fsync, rename)."""
    from lightspeed_cli.config.atomicfile import write_atomic

    path = lease_file_path(data_dir)
    write_atomic(path, value, new_mode=0o600, force_mode=True)
    return path


def _file_delete(name: SecretName, data_dir: Path | None) -> bool:
    if name is not SecretName.LICENSE_LEASE:
        return False
    try:
        lease_file_path(data_dir).unlink()
    except FileNotFoundError:
        return False
    return True


# --- public interface --------------------------------------------------------------------------


def get_secret(name: SecretName, *, data_dir: Path | None = None) -> SecretValue | None:
    """The secret from the first source that has it, or None. `data_dir` (the lease's; None
    for the default) picks the lease's keyring entry and file."""
    lookups = (
        (SecretSource.KEYRING, lambda: _keyring_get(keyring_account(name, data_dir))),
        (SecretSource.FILE, lambda: _file_get(name, data_dir)),
        (SecretSource.SYSTEMD, lambda: _credential_get(name)),
        (SecretSource.ENV, lambda: _env_get(name)),
    )
    for source, lookup in lookups:
        value = lookup()
        if value is not None:
            return SecretValue(name, value, source)
    return None


def set_secret(name: SecretName, value: str, *, data_dir: Path | None = None) -> SecretSource:
    """Store in the OS keyring (the lease falls back to a 0600 file); return where it went."""
    value = value.strip()
    if not value:
        raise ValueError(f"{name.value}: empty value, nothing stored")
    if _keyring_set(keyring_account(name, data_dir), value):
        if name is SecretName.LICENSE_LEASE:
            _file_delete(name, data_dir)  # a stale file copy must not outlive the keyring one
        return SecretSource.KEYRING
    if name is SecretName.LICENSE_LEASE:
        _file_set(value, data_dir)
        return SecretSource.FILE
    raise SecretStoreUnavailable(unavailable_message(name))


def unavailable_message(name: SecretName) -> str:
    """What to do on a machine with no keyring: systemd credentials or an env variable."""
    return (
        f"no usable OS keyring on this machine, so {name.value} cannot be stored. "
        f"Under systemd, put it in a root-only file and add `LoadCredential={name.value}:"
        f"/path/to/file` to the service (read from $CREDENTIALS_DIRECTORY/{name.value}); "
        f"otherwise set {name.env_var} in the service's environment. "
        "On a desktop, install and unlock a keyring (GNOME Keyring, KWallet, macOS Keychain)."
    )


def delete_secret(name: SecretName, *, data_dir: Path | None = None) -> bool:
    """Remove it from the keyring (and the lease file). True if something was removed.

    A systemd credential or an environment variable cannot be removed from here; check
    `get_secret` afterwards to tell the user if one still provides the secret.
    """
    removed_keyring = _keyring_delete(keyring_account(name, data_dir))
    removed_file = _file_delete(name, data_dir)
    return removed_keyring or removed_file


def secret_status(data_dir: Path | None = None) -> list[tuple[SecretName, SecretSource]]:
    """Where each secret currently comes from (SecretSource.NONE when unset)."""
    status = []
    for name in SecretName:
        found = get_secret(name, data_dir=data_dir)
        status.append((name, found.source if found else SecretSource.NONE))
    return status


# --- the Binance web session value -------------------------------------------------------------


def encode_binance_session(p20t: str, csrftoken: str) -> str:
    """The stored form of the session: `{"p20t": ..., "csrftoken": ...}`."""
    p20t, csrftoken = p20t.strip(), csrftoken.strip()
    if not p20t or not csrftoken:
        raise ValueError("binance_session: both the p20t cookie and the csrftoken are needed")
    return json.dumps({"p20t": p20t, "csrftoken": csrftoken}, separators=(",", ":"))


def decode_binance_session(value: str) -> tuple[str, str]:
    """(p20t cookie, csrftoken header) from the stored form; ValueError without the value."""
    try:
        data = json.loads(value)
    except json.JSONDecodeError:
        raise ValueError(
            'binance_session: not JSON; expected {"p20t": "...", "csrftoken": "..."}'
        ) from None
    if not isinstance(data, dict):
        raise ValueError('binance_session: expected {"p20t": "...", "csrftoken": "..."}')
    p20t, csrf = data.get("p20t"), data.get("csrftoken")
    if not isinstance(p20t, str) or not isinstance(csrf, str) or not p20t or not csrf:
        raise ValueError('binance_session: expected {"p20t": "...", "csrftoken": "..."}')
    return p20t, csrf
