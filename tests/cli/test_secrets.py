"""secrets.py: keyring first, then systemd credentials, then env; the lease's file fallback."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

from lightspeed_cli.config import secrets
from lightspeed_cli.config.secrets import (
    SecretName,
    SecretSource,
    SecretStoreUnavailable,
    SecretValue,
    decode_binance_session,
    delete_secret,
    encode_binance_session,
    get_secret,
    secret_status,
    set_secret,
)

VALUE = "xK9-very-secret-value-42"


@pytest.fixture
def creds_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "credentials"
    directory.mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(directory))
    return directory


class BrokenKeyring(KeyringBackend):
    """A backend that is installed but fails every call (locked, no D-Bus session...)."""

    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError(f"boom {service} {username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError("boom")

    def delete_password(self, service: str, username: str) -> None:
        raise RuntimeError("boom")


def test_value_is_never_in_repr_or_str() -> None:
    secret = SecretValue(SecretName.BYBIT_API_KEY, VALUE, SecretSource.ENV)
    for text in (repr(secret), str(secret), f"{secret}", repr([secret])):
        assert VALUE not in text
    assert secret.value == VALUE
    assert secret.hint == f"**** ({len(VALUE)} chars)"


def test_env_var_names() -> None:
    assert SecretName.BYBIT_API_KEY.env_var == "LIGHTSPEED_BYBIT_API_KEY"
    assert SecretName.BYBIT_API_SECRET.env_var == "LIGHTSPEED_BYBIT_API_SECRET"
    assert SecretName.BINANCE_SESSION.env_var == "LIGHTSPEED_BINANCE_SESSION"


def test_keyring_round_trip(plaintext_keyring: None) -> None:
    assert set_secret(SecretName.BYBIT_API_KEY, f"  {VALUE}\n") is SecretSource.KEYRING
    found = get_secret(SecretName.BYBIT_API_KEY)
    assert found == SecretValue(SecretName.BYBIT_API_KEY, VALUE, SecretSource.KEYRING)
    assert keyring.get_password("lightspeed", "bybit_api_key") == VALUE
    assert delete_secret(SecretName.BYBIT_API_KEY) is True
    assert delete_secret(SecretName.BYBIT_API_KEY) is False
    assert get_secret(SecretName.BYBIT_API_KEY) is None


def test_order_keyring_then_systemd_then_env(
    plaintext_keyring: None, creds_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = SecretName.BYBIT_API_SECRET
    monkeypatch.setenv(name.env_var, "from-env")
    assert get_secret(name) == SecretValue(name, "from-env", SecretSource.ENV)
    (creds_dir / name.value).write_text("from-systemd\n", encoding="utf-8")
    assert get_secret(name) == SecretValue(name, "from-systemd", SecretSource.SYSTEMD)
    set_secret(name, "from-keyring")
    assert get_secret(name) == SecretValue(name, "from-keyring", SecretSource.KEYRING)


def test_no_keyring_falls_back_to_systemd_credentials_then_env(
    creds_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (creds_dir / "bybit_api_key").write_text("cred-key", encoding="utf-8")
    (creds_dir / "bybit_api_secret").write_text("   \n", encoding="utf-8")  # blank: not set
    monkeypatch.setenv("LIGHTSPEED_BYBIT_API_SECRET", "env-secret")
    assert secrets.keyring_backend_name() is None
    assert get_secret(SecretName.BYBIT_API_KEY) == SecretValue(
        SecretName.BYBIT_API_KEY, "cred-key", SecretSource.SYSTEMD
    )
    assert get_secret(SecretName.BYBIT_API_SECRET) == SecretValue(
        SecretName.BYBIT_API_SECRET, "env-secret", SecretSource.ENV
    )
    assert secret_status() == [
        (SecretName.BYBIT_API_KEY, SecretSource.SYSTEMD),
        (SecretName.BYBIT_API_SECRET, SecretSource.ENV),
        (SecretName.BINANCE_SESSION, SecretSource.NONE),
        (SecretName.LICENSE_LEASE, SecretSource.NONE),
        (SecretName.TELEGRAM_TOKEN, SecretSource.NONE),
    ]


def test_set_without_keyring_says_what_to_do_instead() -> None:
    with pytest.raises(SecretStoreUnavailable) as info:
        set_secret(SecretName.BYBIT_API_KEY, VALUE)
    message = str(info.value)
    assert "LoadCredential=bybit_api_key:" in message
    assert "LIGHTSPEED_BYBIT_API_KEY" in message
    assert VALUE not in message


@pytest.mark.parametrize(
    "backend", ["keyring.backends.fail.Keyring", "keyring.backends.null.Keyring"]
)
def test_fail_and_null_backends_are_not_usable(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", backend)
    assert not secrets.keyring_usable()
    with pytest.raises(SecretStoreUnavailable):
        set_secret(SecretName.BYBIT_API_SECRET, VALUE)


def test_broken_keyring_falls_through_and_logs_no_value(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    keyring.set_keyring(BrokenKeyring())
    monkeypatch.setenv("LIGHTSPEED_BYBIT_API_KEY", VALUE)
    with caplog.at_level(logging.DEBUG):
        found = get_secret(SecretName.BYBIT_API_KEY)
        with pytest.raises(SecretStoreUnavailable):
            set_secret(SecretName.BYBIT_API_KEY, VALUE)
        assert delete_secret(SecretName.BYBIT_API_KEY) is False
    assert found is not None and found.source is SecretSource.ENV
    assert "RuntimeError" in caplog.text
    assert VALUE not in caplog.text


def test_lease_falls_back_to_a_private_file(tmp_path: Path) -> None:
    lease = "lease-token." + "A" * 200
    assert set_secret(SecretName.LICENSE_LEASE, lease) is SecretSource.FILE
    path = secrets.lease_file_path()
    assert path.is_relative_to(Path.home())  # under the (tmp) XDG data dir
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert get_secret(SecretName.LICENSE_LEASE) == SecretValue(
        SecretName.LICENSE_LEASE, lease, SecretSource.FILE
    )
    assert set_secret(SecretName.LICENSE_LEASE, "renewed") is SecretSource.FILE
    assert get_secret(SecretName.LICENSE_LEASE).value == "renewed"  # type: ignore[union-attr]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left
    assert delete_secret(SecretName.LICENSE_LEASE) is True
    assert not path.exists()
    assert get_secret(SecretName.LICENSE_LEASE) is None


def test_lease_in_keyring_removes_a_stale_file(plaintext_keyring: None) -> None:
    secrets._file_set("old-lease", None)
    assert set_secret(SecretName.LICENSE_LEASE, "new-lease") is SecretSource.KEYRING
    assert not secrets.lease_file_path().exists()
    assert get_secret(SecretName.LICENSE_LEASE).source is SecretSource.KEYRING  # type: ignore[union-attr]


def test_empty_value_is_refused(plaintext_keyring: None) -> None:
    with pytest.raises(ValueError, match="empty"):
        set_secret(SecretName.BYBIT_API_KEY, "  \n")


def test_binance_session_encoding() -> None:
    stored = encode_binance_session(" p20t-cookie ", "csrf123\n")
    assert decode_binance_session(stored) == ("p20t-cookie", "csrf123")
    with pytest.raises(ValueError):
        encode_binance_session("x", "")


@pytest.mark.parametrize("bad", [VALUE, "[1]", '{"p20t": "x"}', '{"p20t": 1, "csrftoken": "y"}'])
def test_binance_session_decode_errors_do_not_echo(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        decode_binance_session(bad)
    assert VALUE not in str(info.value)


@pytest.mark.parametrize("with_keyring", [False, True], ids=["file", "keyring"])
def test_each_data_dir_keeps_its_own_lease(
    tmp_path: Path, with_keyring: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two configs on one account (two data dirs) never share a lease, keyring or not."""
    if with_keyring:
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    first, second = tmp_path / "bot-a", tmp_path / "bot-b"
    expected = SecretSource.KEYRING if with_keyring else SecretSource.FILE
    assert set_secret(SecretName.LICENSE_LEASE, "lease-a", data_dir=first) is expected
    assert get_secret(SecretName.LICENSE_LEASE, data_dir=second) is None
    assert get_secret(SecretName.LICENSE_LEASE) is None  # nor the default data dir's
    set_secret(SecretName.LICENSE_LEASE, "lease-b", data_dir=second)
    assert get_secret(SecretName.LICENSE_LEASE, data_dir=first).value == "lease-a"  # type: ignore[union-attr]
    assert get_secret(SecretName.LICENSE_LEASE, data_dir=second).value == "lease-b"  # type: ignore[union-attr]
    assert secrets.lease_file_path(first).exists() is not with_keyring
    assert delete_secret(SecretName.LICENSE_LEASE, data_dir=first)
    assert get_secret(SecretName.LICENSE_LEASE, data_dir=first) is None
    assert get_secret(SecretName.LICENSE_LEASE, data_dir=second) is not None


def test_the_default_data_dir_spelled_out_is_the_default_entry(
    plaintext_keyring: None, tmp_path: Path
) -> None:
    from lightspeed_cli.config.paths import default_data_dir

    set_secret(SecretName.LICENSE_LEASE, "lease", data_dir=default_data_dir())
    assert get_secret(SecretName.LICENSE_LEASE).value == "lease"  # type: ignore[union-attr]
    assert secrets.keyring_account(SecretName.LICENSE_LEASE, tmp_path / "x") == (
        f"license_lease@{(tmp_path / 'x').resolve()}"
    )


def test_a_lease_file_readable_by_others_is_made_private_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    set_secret(SecretName.LICENSE_LEASE, "lease-token", data_dir=tmp_path)
    path = secrets.lease_file_path(tmp_path)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        found = get_secret(SecretName.LICENSE_LEASE, data_dir=tmp_path)
    assert found is not None and found.value == "lease-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "open to other users (mode 644): changed to 600" in caplog.text
    assert "lease-token" not in caplog.text
