"""Inputs a new user gets wrong: each is one clear line and the documented exit code."""

from __future__ import annotations

import base64
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Cli, assert_one_line_error

from lightspeed_cli.cli import app, hoist_config

PORTFOLIO = "3803470589839557376"
PORTFOLIO_2 = "4012345678901234567"


def test_hoist_config_moves_only_the_config_option() -> None:
    assert hoist_config(["status", "--config", "x.toml", "--paper"]) == [
        "--config",
        "x.toml",
        "status",
        "--paper",
    ]
    assert hoist_config(["traders", "list", "-c", "y"]) == ["-c", "y", "traders", "list"]
    assert hoist_config(["config", "show", "--config=z"]) == ["--config=z", "config", "show"]
    assert hoist_config(["config", "set", "k", "--", "--config", "v"]) == [
        "config",
        "set",
        "k",
        "--",
        "--config",
        "v",
    ]
    assert hoist_config(["status", "--config"]) == ["status", "--config"]  # click says: no value


def _leaf_commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            out += _leaf_commands(command, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


def test_no_command_has_its_own_config_option() -> None:
    """`--config` after any subcommand reaches the root: none may shadow it."""
    import typer

    root: Any = typer.main.get_command(app)
    leaves = _leaf_commands(root)
    assert ("status",) in leaves and ("license", "activate") in leaves
    for path in leaves:
        command = root
        for name in path:
            command = command.commands[name]
        flags = {opt for p in command.params for opt in p.opts}
        assert not flags & {"--config", "-c"}, path


@pytest.mark.parametrize(
    "command",
    [
        ["config", "show"],
        ["config", "validate"],
        ["config", "get", "safety.max_leverage"],
        ["traders", "list"],
        ["status"],
        ["history"],
        ["run"],
        ["license", "status"],
    ],
)
def test_config_after_the_subcommand(cli: Cli, tmp_path: Path, command: list[str]) -> None:
    """The file named after the subcommand is the one read (its error names it)."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[safety]\nmax_leverage = -5\n", encoding="utf-8")
    run = cli(*command, "--config", str(bad))
    assert run.exit_code == 2, run.output
    assert str(bad) in run.stderr and "max_leverage" in run.stderr


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("license.server_url", "notaurl", "http:// or https://"),
        ("license.server_url", "ftp://x", "http:// or https://"),
        ("license.server_url", "https://", "http:// or https://"),
        ("license.public_key", "AAAA", "32-byte Ed25519 key"),
        ("license.public_key", "not base64!", "base64"),
        ("license.public_key", base64.b64encode(bytes(31)).decode(), "decodes to 31 bytes"),
    ],
)
def test_invalid_license_settings_are_refused(
    cli: Cli, cfg: Path, key: str, value: str, needle: str
) -> None:
    cfg.parent.mkdir(parents=True)
    cfg.write_text("", encoding="utf-8")
    assert_one_line_error(cli("-c", str(cfg), "config", "set", key, value), key, needle)
    assert cfg.read_text(encoding="utf-8") == ""


def test_valid_license_settings_are_kept(cli: Cli, cfg: Path) -> None:
    cfg.parent.mkdir(parents=True)
    cfg.write_text("", encoding="utf-8")
    key = base64.b64encode(bytes(range(32))).decode()
    assert cli("-c", str(cfg), "config", "set", "license.public_key", key).exit_code == 0
    url = "https://license.example.com:8443"
    assert cli("-c", str(cfg), "config", "set", "license.server_url", url).exit_code == 0
    data = tomllib.loads(cfg.read_text(encoding="utf-8"))
    assert data["license"] == {"public_key": key, "server_url": url}


@pytest.mark.parametrize("equity", ["-5", "0", "nan"])
def test_run_paper_with_a_bad_equity_is_a_usage_error(cli: Cli, cfg: Path, equity: str) -> None:
    run = cli("run", "--paper", "--paper-equity", equity, "-c", str(cfg))
    assert_one_line_error(run, "--paper-equity", "above 0")


def test_run_with_no_traders_is_a_config_problem(tmp_path: Path) -> None:
    """A subprocess: `run` sets up logging on its stderr, which must not outlive the test."""
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "lightspeed_cli", "run", "--paper", "--no-live", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "no traders to follow" in done.stderr and "Traceback" not in done.stderr


def test_traders_remove_by_label(cli: Cli, cfg: Path) -> None:
    cfg.parent.mkdir(parents=True)
    cfg.write_text(
        f'[[traders]]\nid = "{PORTFOLIO}"\nlabel = "alice"\n'
        f'[[traders]]\nid = "{PORTFOLIO_2}"\nlabel = "bob"\n',
        encoding="utf-8",
    )
    run = cli("traders", "remove", "alice", "-c", str(cfg))
    assert run.exit_code == 0, run.output
    assert f"Removed {PORTFOLIO} (alice)" in run.stdout
    assert [t["id"] for t in tomllib.loads(cfg.read_text())["traders"]] == [PORTFOLIO_2]


def test_traders_remove_an_ambiguous_label_removes_nothing(cli: Cli, cfg: Path) -> None:
    cfg.parent.mkdir(parents=True)
    text = (
        f'[[traders]]\nid = "{PORTFOLIO}"\nlabel = "same"\n'
        f'[[traders]]\nid = "{PORTFOLIO_2}"\nlabel = "same"\n'
    )
    cfg.write_text(text, encoding="utf-8")
    run = cli("traders", "remove", "same", "-c", str(cfg))
    assert_one_line_error(run, "label 'same' is on 2 traders", PORTFOLIO, "remove by id")
    assert cfg.read_text() == text
