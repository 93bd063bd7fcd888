"""Under `--json` an error is `{"error": ..., "code": ...}` on stdout, with that exit code.

For every command that has `--json` (found by walking the command tree, so a new one is
covered), whether the error is the command's own or a bad option value.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import Cli, Run

from lightspeed_cli.cli import _has_json_flag, app

TRADER = "4000000000000000001"
ARGS = {  # what each command needs besides --json to get as far as its config
    "traders forecast": [TRADER],
    "traders check": [TRADER],
    "license-server seats": ["LS-X"],
    "selftest": ["--network", "testnet"],
}


def json_commands() -> list[str]:
    from typer.main import get_command

    found: list[str] = []

    def walk(command: object, prefix: str) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{prefix} {name}".strip())
        if _has_json_flag(command):
            found.append(prefix)

    walk(get_command(app), "")
    return sorted(found)


def assert_json_error(run: Run, *needles: str) -> dict:
    assert run.exit_code != 0, run.output
    assert "Traceback" not in run.output
    data = json.loads(run.stdout)
    assert set(data) == {"error", "code"}, data
    assert data["code"] == run.exit_code
    for needle in needles:
        assert needle in data["error"], (needle, data)
    return data


def test_the_walk_finds_the_json_commands() -> None:
    found = json_commands()
    for name in ("status", "history", "doctor", "config show", "license-server list"):
        assert name in found
    assert "simulate" not in found  # its --json takes a path


@pytest.mark.parametrize("command", json_commands())
def test_a_missing_config_is_a_json_error(cli: Cli, tmp_path: Path, command: str) -> None:
    words = command.split()
    missing = tmp_path / "nope.toml"
    db = ["--db", str(tmp_path / "none.sqlite3")] if words[0] == "license-server" else []
    run = cli("--config", str(missing), *words, *ARGS.get(command, []), *db, "--json")
    needle = "no license database" if db else "no config file"
    assert assert_json_error(run, needle)["code"] == 2


@pytest.mark.parametrize(
    "argv",
    [["history", "--json", "--limit", "abc"], ["status", "--json", "--bogus"]],
    ids=" ".join,
)
def test_a_usage_error_is_a_json_error_too(cli: Cli, argv: list[str]) -> None:
    assert assert_json_error(cli(*argv))["code"] == 2


def test_without_json_the_error_stays_on_stderr(cli: Cli, tmp_path: Path) -> None:
    run = cli("--config", str(tmp_path / "nope.toml"), "status")
    assert run.exit_code == 2 and run.stdout == ""


def test_history_json_with_no_journal_is_an_empty_list(cli: Cli) -> None:
    run = cli("history", "--json")
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout) == []


def test_status_json_with_no_journal_is_a_json_error(cli: Cli) -> None:
    assert_json_error(cli("status", "--json"), "no journal yet")
