"""`lightspeed keys set|status|clear`: stored where we say, never shown."""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from cli_helpers import Cli

from lightspeed_cli.config.secrets import (
    SecretName,
    SecretSource,
    decode_binance_session,
    get_secret,
)

API_KEY = "AbCdEfGhIjKlMnOpQr"
API_SECRET = "zyXwVuTsRqPoNmLkJiHgFeDcBa0123456789"
P20T = "p20t-web.1234567.ABCDEFGHIJKLMNOP"
CSRF = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
ALL_SECRETS = (API_KEY, API_SECRET, P20T, CSRF)


def assert_never_shown(cli: Cli) -> None:
    """No secret appears in anything any command printed during the test."""
    everything = "\n".join(cli.seen)
    for value in ALL_SECRETS:
        assert value not in everything


def test_set_bybit_with_hidden_prompts(cli: Cli, plaintext_keyring: None) -> None:
    run = cli("keys", "set", "bybit", input=f"{API_KEY}\n{API_SECRET}\n")
    assert run.exit_code == 0, run.output
    assert "Bybit API key" in run.stdout and "Bybit API secret" in run.stdout
    assert "Stored bybit_api_key and bybit_api_secret in the OS keyring" in run.stdout
    assert "plain-text file" in run.stderr  # keyrings.alt's PlaintextKeyring is flagged
    assert keyring.get_password("lightspeed", "bybit_api_key") == API_KEY
    assert keyring.get_password("lightspeed", "bybit_api_secret") == API_SECRET
    assert_never_shown(cli)


def test_set_bybit_from_stdin(cli: Cli, plaintext_keyring: None) -> None:
    run = cli("keys", "set", "bybit", "--stdin", input=f"  {API_KEY}  \n{API_SECRET}\n")
    assert run.exit_code == 0, run.output
    assert "API key" not in run.stdout.split("Stored")[0]  # no prompt text
    assert get_secret(SecretName.BYBIT_API_KEY).value == API_KEY  # type: ignore[union-attr]
    assert get_secret(SecretName.BYBIT_API_SECRET).value == API_SECRET  # type: ignore[union-attr]
    assert_never_shown(cli)


def test_set_binance_session(cli: Cli, plaintext_keyring: None) -> None:
    run = cli("keys", "set", "binance-session", input=f"{P20T}\n{CSRF}\n")
    assert run.exit_code == 0, run.output
    stored = get_secret(SecretName.BINANCE_SESSION)
    assert stored is not None and stored.source is SecretSource.KEYRING
    assert decode_binance_session(stored.value) == (P20T, CSRF)
    assert_never_shown(cli)


def test_set_and_clear_the_telegram_token(cli: Cli, plaintext_keyring: None) -> None:
    token = "123456789:AAFakeTelegramBotTokenForTheTests"
    run = cli("keys", "set", "telegram", input=f"{token}\n")
    assert run.exit_code == 0, run.output
    assert "Telegram bot token" in run.stdout and "Stored telegram_token" in run.stdout
    assert get_secret(SecretName.TELEGRAM_TOKEN).value == token  # type: ignore[union-attr]
    status = cli("keys", "status")
    assert "telegram_token" in status.stdout and "keyring" in status.stdout
    cleared = cli("keys", "clear", "telegram")
    assert cleared.exit_code == 0 and get_secret(SecretName.TELEGRAM_TOKEN) is None
    assert token not in "\n".join(cli.seen)
    assert SecretName.TELEGRAM_TOKEN.env_var == "LIGHTSPEED_TELEGRAM_TOKEN"


@pytest.mark.parametrize("stdin", ["\n\n", f"{API_KEY}\n\n", f"{API_KEY}\n", "two words\nx\n"])
def test_set_refuses_empty_or_mangled_input(cli: Cli, plaintext_keyring: None, stdin: str) -> None:
    run = cli("keys", "set", "bybit", "--stdin", input=stdin)
    assert run.exit_code == 2
    assert "nothing stored" in run.stderr or "spaces" in run.stderr
    assert get_secret(SecretName.BYBIT_API_SECRET) is None
    assert "Traceback" not in run.output


def test_set_without_keyring_fails_before_prompting(cli: Cli) -> None:
    run = cli("keys", "set", "bybit", input=f"{API_KEY}\n{API_SECRET}\n")
    assert run.exit_code == 1
    assert "API key:" not in run.stdout  # nothing asked
    message = " ".join(run.stderr.split())
    assert "no usable OS keyring" in message
    assert "LoadCredential=bybit_api_key:" in message
    assert "LIGHTSPEED_BYBIT_API_KEY" in message and "LIGHTSPEED_BYBIT_API_SECRET" in message
    assert "Traceback" not in run.output


def test_unknown_target(cli: Cli) -> None:
    run = cli("keys", "set", "kraken")
    assert run.exit_code == 2
    assert "bybit" in run.stderr and "binance-session" in run.stderr


def test_status_with_keyring(
    cli: Cli, plaintext_keyring: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    cli("keys", "set", "bybit", "--stdin", input=f"{API_KEY}\n{API_SECRET}\n")
    run = cli("keys", "status")
    assert run.exit_code == 0, run.output
    rows = {
        cells[0]: cells[1:]
        for line in run.stdout.splitlines()
        if (cells := [c.strip() for c in line.split("│") if c.strip()]) and len(cells) == 3
    }
    assert rows["bybit_api_key"] == ["keyring", f"**** ({len(API_KEY)} chars)"]
    assert rows["bybit_api_secret"] == ["keyring", f"**** ({len(API_SECRET)} chars)"]
    assert rows["binance_session"] == ["not set", "-"]
    assert "OS keyring: keyrings.alt.file.PlaintextKeyring" in run.stdout
    assert_never_shown(cli)


def test_status_on_a_headless_box(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "bybit_api_key").write_text(API_KEY + "\n", encoding="utf-8")
    (creds / "bybit_api_secret").write_text(API_SECRET, encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    monkeypatch.setenv("LIGHTSPEED_BINANCE_SESSION", f'{{"p20t":"{P20T}","csrftoken":"{CSRF}"}}')
    monkeypatch.setenv("COLUMNS", "200")
    run = cli("keys", "status")
    assert run.exit_code == 0, run.output
    assert "systemd credential ($CREDENTIALS_DIRECTORY/bybit_api_key)" in run.stdout
    assert "environment (LIGHTSPEED_BINANCE_SESSION)" in run.stdout
    assert "none usable here" in run.stdout
    assert "warning" not in run.stderr  # key and secret come from the same place
    assert_never_shown(cli)


def test_status_warns_about_a_split_pair(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIGHTSPEED_BYBIT_API_KEY", API_KEY)
    run = cli("keys", "status")
    assert "only one of the Bybit API key and secret" in run.stderr
    assert_never_shown(cli)


def test_clear(cli: Cli, plaintext_keyring: None, monkeypatch: pytest.MonkeyPatch) -> None:
    cli("keys", "set", "bybit", "--stdin", input=f"{API_KEY}\n{API_SECRET}\n")
    cli("keys", "set", "binance-session", "--stdin", input=f"{P20T}\n{CSRF}\n")
    run = cli("keys", "clear", "bybit")
    assert run.exit_code == 0, run.output
    assert "bybit_api_key: removed from the keyring" in run.stdout
    assert get_secret(SecretName.BYBIT_API_KEY) is None
    assert get_secret(SecretName.BINANCE_SESSION) is not None

    monkeypatch.setenv("LIGHTSPEED_BYBIT_API_SECRET", API_SECRET)
    run = cli("keys", "clear", "all")
    assert run.exit_code == 0, run.output
    assert "binance_session: removed from the keyring" in run.stdout
    assert "bybit_api_key: not in the keyring" in run.stdout
    assert "still provided by environment (LIGHTSPEED_BYBIT_API_SECRET)" in run.stderr
    assert get_secret(SecretName.BINANCE_SESSION) is None
    assert_never_shown(cli)


def test_clear_all_keeps_the_license_lease(cli: Cli, plaintext_keyring: None) -> None:
    keyring.set_password("lightspeed", "license_lease", "lease")
    assert cli("keys", "clear", "all").exit_code == 0
    assert keyring.get_password("lightspeed", "license_lease") == "lease"


def test_secrets_never_reach_config_toml(
    cli: Cli, plaintext_keyring: None, default_config: Path
) -> None:
    cli("config", "set", "safety.max_leverage", "3")
    cli("keys", "set", "bybit", "--stdin", input=f"{API_KEY}\n{API_SECRET}\n")
    cli("config", "show")
    text = default_config.read_text(encoding="utf-8")
    assert API_KEY not in text and API_SECRET not in text
    assert_never_shown(cli)
