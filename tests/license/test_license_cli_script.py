"""`license activate --stdin` and `license status --json`: the license commands from a script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from lightspeed_cli.cli import app
from lightspeed_cli.license.fingerprint import MACHINE_ID_ENV
from lightspeed_cli.license.keys import mask_key
from lightspeed_cli.license.testing import RunningLicenseServer


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[license]\nserver_url = "{url}"\n\n[storage]\ndata_dir = "{tmp_path / "data"}"\n'
    )
    return path


def test_activate_from_a_pipe_then_status_as_json(
    license_server: RunningLicenseServer, tmp_path: Path
) -> None:
    id_file = tmp_path / "machine-id"
    id_file.write_text("script-machine\n")
    config = _config(tmp_path, license_server.url)
    key = license_server.issue(seats=1, days=30)
    env = {**os.environ, MACHINE_ID_ENV: str(id_file)}
    command = [sys.executable, "-m", "lightspeed_cli", "license", "activate", "--stdin"]
    # --config after the subcommand, the way a user types it last
    result = subprocess.run(
        [*command, "--config", str(config)],
        input=f"{key}\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "GetPassWarning" not in result.stderr and "Warning" not in result.stderr
    assert key not in result.stdout + result.stderr
    assert license_server.record(key).seats_used == 1

    status = subprocess.run(
        [sys.executable, "-m", "lightspeed_cli", "license", "status", "--json", "-c", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["valid"] is True and data["can_open"] is True and data["code"] == "ok"
    assert data["key"] == mask_key(key) and key not in status.stdout
    assert data["key_id"] == license_server.record(key).key_id
    assert data["seats"] == 1 and data["seats_used"] == 1
    assert data["server"] == license_server.url
    assert len(data["machine"]) >= 8
    assert "lease" not in data  # the lease itself is never printed


def test_status_json_without_a_license_exits_1(tmp_path: Path) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9")
    result = CliRunner().invoke(app, ["license", "status", "--json", "--config", str(config)])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["valid"] is False and data["can_open"] is False and data["key"] is None


def test_stdin_and_an_argument_together_is_a_usage_error(tmp_path: Path) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9")
    result = CliRunner().invoke(
        app, ["--config", str(config), "license", "activate", "LS-X", "--stdin"]
    )
    assert result.exit_code == 2 and "not both" in result.output
