"""Which files a command uses (issue 21, items 6 and 9).

A relative `storage.data_dir` is taken from the config file's folder, not the current one (the
service and a shell would otherwise use different journals and leases), and `config show` /
`doctor` say the absolute path. A config the user names (`--config`, `$LIGHTSPEED_CONFIG`) that
does not exist is an error, not "the defaults", except for the commands that create it. The
license server keeps its database in its own data dir, whatever the bot's config says.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import Cli, assert_one_line_error

from lightspeed_cli.config.settings import load_settings
from lightspeed_cli.license.keys import generate_key

TRADER = "4000000000000000001"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- item 6: a relative data dir -------------------------------------------------------------


def test_a_relative_data_dir_is_taken_from_the_config_folder(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write(tmp_path / "etc" / "config.toml", '[storage]\ndata_dir = "state"\n')
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    expected = tmp_path / "etc" / "state"
    assert load_settings(cfg).storage.resolved_data_dir() == expected
    shown = cli("--config", str(cfg), "config", "show", "--json")
    assert json.loads(shown.stdout)["keys"]["storage.data_dir"]["value"] == str(expected)
    assert json.loads(shown.stdout)["data_dir"] == str(expected)
    table = cli("--config", str(cfg), "config", "show")
    assert f"data dir: {expected}" in table.stdout.replace("\n", "")


def test_the_shell_and_the_service_share_one_journal(tmp_path: Path) -> None:
    """`run` from two working directories (a shell's, systemd's /) writes one data dir."""
    cfg = write(
        tmp_path / "conf" / "config.toml",
        f'[storage]\ndata_dir = "data"\n[[traders]]\nid = "{TRADER}"\n'
        '[binance]\nbase_url = "http://127.0.0.1:9"\n[bybit]\nbase_url = "http://127.0.0.1:9"\n',
    )
    for cwd in (tmp_path, Path("/")):
        subprocess.run(
            [sys.executable, "-m", "lightspeed_cli", "-c", str(cfg), "run", "--paper", "--no-live"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=cwd,
            env={**os.environ, "HOME": str(tmp_path)},
        )
    assert (tmp_path / "conf" / "data").is_dir()
    assert not (tmp_path / "data").exists()


def test_doctor_says_the_absolute_data_dir(cli: Cli, tmp_path: Path) -> None:
    cfg = write(tmp_path / "conf" / "config.toml", '[storage]\ndata_dir = "./d"\n')
    run = cli("--config", str(cfg), "doctor", "--paper", "--json")
    checks = {c["name"]: c for c in json.loads(run.stdout)["checks"]}
    assert checks["data dir"]["detail"].startswith(str(tmp_path / "conf" / "d"))


# --- item 9: a named config that is not there ----------------------------------------------


READ_COMMANDS = [
    ["status"],
    ["status", "--json"],
    ["history"],
    ["keys", "status"],
    ["license", "status"],
    ["traders", "list"],
    ["traders", "check", TRADER],
    ["config", "show"],
    ["config", "get", "safety.max_leverage"],
    ["journal", "check"],
    ["doctor"],
    ["pause"],
    ["license", "activate", "--stdin"],
]


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_a_named_config_that_does_not_exist_is_an_error(
    cli: Cli, tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "typo" / "confg.toml"
    run = cli("--config", str(missing), *command, input=generate_key() + "\n")
    assert run.exit_code == 2, run.output
    assert "Traceback" not in run.output
    assert str(missing) in run.stderr and "no config file" in run.stderr
    assert not missing.exists()
    assert not (tmp_path / "home" / ".local" / "share" / "lightspeed").exists()  # nothing taken


def test_the_same_from_the_environment(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.toml"
    monkeypatch.setenv("LIGHTSPEED_CONFIG", str(missing))
    assert_one_line_error(cli("license", "status"), str(missing), "no config file")


def test_the_missing_default_config_still_means_defaults(cli: Cli) -> None:
    run = cli("keys", "status")
    assert run.exit_code == 0, run.output


def test_the_commands_that_write_it_still_create_it(
    cli: Cli, tmp_path: Path, default_config: Path
) -> None:
    """`config init` writes a named file; `config set` and `traders add` create the default
    one (a named file they refuse, as a typo: test_cli_config.py)."""
    cfg = tmp_path / "new.toml"
    assert cli("--config", str(cfg), "config", "init").exit_code == 0
    assert cfg.is_file()
    added = cli("traders", "add", TRADER)
    assert added.exit_code == 0, added.output
    assert default_config.is_file()


def test_license_server_has_its_own_default_database(cli: Cli, tmp_path: Path) -> None:
    """Not the bot's data dir: a bot config's storage.data_dir does not move it."""
    cfg = write(tmp_path / "bot.toml", f'[storage]\ndata_dir = "{tmp_path / "botdata"}"\n')
    run = cli("--config", str(cfg), "license-server", "issue", "--seats", "1", "--days", "1")
    assert run.exit_code == 0, run.output
    server_dir = tmp_path / "home" / ".local" / "share" / "lightspeed-license-server"
    assert (server_dir / "license-server.sqlite3").is_file()
    assert not (tmp_path / "botdata").exists()
    listed = cli("license-server", "list", "--json")  # no config at all: the same database
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.stdout)) == 1


def test_license_server_names_a_database_left_in_the_bot_data_dir(cli: Cli, tmp_path: Path) -> None:
    assert cli("license-server", "issue", "--seats", "1", "--days", "1").exit_code == 0
    server_dir = tmp_path / "home" / ".local" / "share" / "lightspeed-license-server"
    old_dir = tmp_path / "home" / ".local" / "share" / "lightspeed"
    old_dir.mkdir(parents=True)
    (server_dir / "license-server.sqlite3").rename(old_dir / "license-server.sqlite3")
    run = cli("license-server", "list")
    assert run.exit_code == 2
    assert f"--db {old_dir / 'license-server.sqlite3'}" in run.stderr.replace("\n", "")
