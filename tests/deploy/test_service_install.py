"""`lightspeed service install|status`: the unit it writes, the credential files, the next steps."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lightspeed_cli.cli import app
from lightspeed_cli.config.unitfile import (
    HARDENING_COMMON,
    HARDENING_SYSTEM,
    UnitSpec,
    render_unit,
    unit_environment,
)

API_KEY = "AbCdEfGhIjKlMnOpQr"
API_SECRET = "zyXwVuTsRqPoNmLkJiHgFeDcBa0123456789"
LIGHTSPEED = str(Path(sys.executable).with_name("lightspeed"))


def _install(tmp_path: Path, *args: str, input: str | None = None):
    return CliRunner().invoke(
        app,
        [
            "service",
            "install",
            "--stdin",
            "--exec",
            LIGHTSPEED,
            "--unit-dir",
            str(tmp_path / "units"),
            "--credentials-dir",
            str(tmp_path / "creds"),
            *args,
        ],
        input=input if input is not None else f"{API_KEY}\n{API_SECRET}\n",
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_system_install_writes_a_verified_hardened_unit_and_private_credentials(
    tmp_path: Path,
) -> None:
    config = tmp_path / "etc" / "config.toml"
    result = _install(tmp_path, "--config", str(config))
    assert result.exit_code == 0, result.output
    unit = tmp_path / "units" / "lightspeed.service"
    text = unit.read_text()
    creds = tmp_path / "creds"
    assert _mode(creds) == 0o700
    assert (creds / "bybit_api_key").read_text() == f"{API_KEY}\n"
    assert (creds / "bybit_api_secret").read_text() == f"{API_SECRET}\n"
    assert _mode(creds / "bybit_api_key") == _mode(creds / "bybit_api_secret") == 0o600
    assert API_KEY not in result.output and API_SECRET not in result.output
    assert f"ExecStart={LIGHTSPEED} run --no-live" in text
    assert unit_environment(text)["LIGHTSPEED_CONFIG"] == str(config)
    assert f"LoadCredential=bybit_api_key:{creds}/bybit_api_key" in text
    for key, value in (*HARDENING_COMMON, *HARDENING_SYSTEM):  # the same lines as deploy/
        assert f"\n{key}={value}\n" in text, key
    assert "sudo systemctl daemon-reload && sudo systemctl enable --now lightspeed" in result.output
    assert f"--config {config} license activate" in result.output
    if shutil.which("systemd-analyze"):  # the CI image has it: systemd itself checks the unit
        done = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert "lightspeed.service" not in done.stderr, done.stderr  # no warning about it


def test_user_install_renders_the_user_unit(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    result = _install(tmp_path, "--user", "-c", str(config))
    assert result.exit_code == 0, result.output
    text = (tmp_path / "units" / "lightspeed.service").read_text()
    expected = UnitSpec(
        exec_start=LIGHTSPEED,
        config=str(config),
        credentials_dir=str(tmp_path / "creds"),
        user_unit=True,
    )
    assert text == render_unit(expected)
    assert "network-online" not in text and "User=" not in text
    assert "systemctl --user daemon-reload" in result.output
    assert 'loginctl enable-linger "$USER"' in result.output
    if shutil.which("systemd-analyze"):
        runtime = tmp_path / "run"
        runtime.mkdir(mode=0o700)
        done = subprocess.run(
            ["systemd-analyze", "--user", "verify", str(tmp_path / "units" / "lightspeed.service")],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
        )
        assert done.returncode == 0, done.stderr


def test_an_existing_credentials_folder_is_made_private(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir(mode=0o755)
    (creds / "bybit_api_key").write_text("old")
    (creds / "bybit_api_key").chmod(0o644)
    assert _install(tmp_path, "--user").exit_code == 0
    assert _mode(creds) == 0o700 and _mode(creds / "bybit_api_key") == 0o600


def test_binance_session_is_stored_and_loaded(tmp_path: Path) -> None:
    result = _install(
        tmp_path, "--user", "--binance-session", input=f"{API_KEY}\n{API_SECRET}\np20t\ncsrf\n"
    )
    assert result.exit_code == 0, result.output
    assert _mode(tmp_path / "creds" / "binance_session") == 0o600
    text = (tmp_path / "units" / "lightspeed.service").read_text()
    assert f"LoadCredential=binance_session:{tmp_path / 'creds'}/binance_session" in text


def test_empty_input_stores_nothing(tmp_path: Path) -> None:
    result = _install(tmp_path, "--user", input="\n\n")
    assert result.exit_code == 2 and "nothing stored" in result.output
    assert not (tmp_path / "units").exists() and not (tmp_path / "creds").exists()


def test_no_keys_writes_only_the_unit_and_warns(tmp_path: Path) -> None:
    result = _install(tmp_path, "--user", "--no-keys", input="")
    assert result.exit_code == 0, result.output
    assert "warning: no bybit_api_key, bybit_api_secret" in result.output
    assert "LoadCredential" not in (tmp_path / "units" / "lightspeed.service").read_text()


def test_a_folder_it_may_not_write_is_one_clear_line(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.access(locked, os.W_OK):  # root ignores modes: use a path under a file instead
        locked = tmp_path / "a-file"
        locked.write_text("")
    result = CliRunner().invoke(
        app,
        ["service", "install", "--user", "--stdin", "--exec", LIGHTSPEED]
        + ["--unit-dir", str(locked / "units"), "--credentials-dir", str(tmp_path / "c")],
        input=f"{API_KEY}\n{API_SECRET}\n",
    )
    assert result.exit_code in (1, 2) and "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_a_missing_command_is_a_usage_error(tmp_path: Path) -> None:
    result = _install(tmp_path, "--user", "--exec", str(tmp_path / "nope"))
    assert result.exit_code == 2 and "--exec" in result.output


def test_status_without_systemctl_says_so_and_shows_the_bot_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lightspeed_cli.journal.store import Journal

    data = tmp_path / "data"
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n')
    Journal.in_dir(data).close()
    assert _install(tmp_path, "--user", "-c", str(config)).exit_code == 0
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no systemctl here
    result = CliRunner().invoke(
        app, ["service", "status", "--user", "--unit-dir", str(tmp_path / "units")]
    )
    assert result.exit_code == 1, result.output
    assert "systemctl not found" in result.output
    assert "realized PnL" in result.output  # the bot's status, from the unit's config


def _systemctl(folder: Path, script: str) -> None:
    """A `systemctl` on PATH that answers as given (the real one needs a running systemd)."""
    folder.mkdir(exist_ok=True)
    tool = folder / "systemctl"
    tool.write_text(f"#!/bin/sh\n{script}\n")
    tool.chmod(0o755)


def test_status_reads_systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lightspeed_cli.journal.store import Journal

    data = tmp_path / "data"
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n')
    Journal.in_dir(data).close()
    assert _install(tmp_path, "-c", str(config)).exit_code == 0
    bin_dir = tmp_path / "bin"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    args = ["service", "status", "--unit-dir", str(tmp_path / "units")]
    _systemctl(
        bin_dir, 'echo "System has not been booted with systemd as init system." >&2; exit 1'
    )
    down = CliRunner().invoke(app, args)
    assert down.exit_code == 1 and "not been booted with systemd" in down.output
    _systemctl(
        bin_dir,
        'echo "$@" > "$(dirname "$0")/args"; printf "LoadState=loaded\\nActiveState=active\\n'
        'SubState=running\\nUnitFileState=enabled\\nNRestarts=0\\n"',
    )
    up = CliRunner().invoke(app, args)
    assert up.exit_code == 0, up.output
    assert "ActiveState active, SubState running" in up.output
    assert "realized PnL" in up.output
    assert (bin_dir / "args").read_text().startswith("show lightspeed.service --property=")


def test_piped_keys_without_stdin_flag_give_no_getpass_warning(tmp_path: Path) -> None:
    """A pipe is not a terminal: read it plainly, no Python GetPassWarning, nothing echoed."""
    done = subprocess.run(
        [sys.executable, "-m", "lightspeed_cli", "service", "install", "--user", "--exec"]
        + [LIGHTSPEED, "--unit-dir", str(tmp_path / "u"), "--credentials-dir", str(tmp_path / "c")],
        input=f"{API_KEY}\n{API_SECRET}\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and API_KEY not in done.stdout + done.stderr
    assert (tmp_path / "c" / "bybit_api_secret").read_text() == f"{API_SECRET}\n"


def test_status_reads_the_license_as_the_units_user(tmp_path: Path) -> None:
    """Issue 21 item 3: `sudo lightspeed service status` reads the lease as the unit's user
    would (its fingerprint), and says so; never "another machine" for a user mismatch."""
    from lightspeed_cli.config.datadir import current_user
    from lightspeed_cli.journal.store import Journal

    data = tmp_path / "data"
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n')
    Journal.in_dir(data).close()
    other = "nobody" if current_user() != "nobody" else "root"
    assert _install(tmp_path, "-c", str(config), "--system-user", other).exit_code == 0
    shown = CliRunner().invoke(
        app, ["service", "status", "--unit-dir", str(tmp_path / "units")], env={"COLUMNS": "300"}
    )
    assert "Traceback" not in shown.output
    assert f"read as the unit's user {other} (you are {current_user()})" in shown.output
    assert "another machine" not in shown.output
