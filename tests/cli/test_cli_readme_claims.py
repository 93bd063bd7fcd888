"""README says what the CLI does: the options and arguments it names exist (issue 21)."""

from __future__ import annotations

import re
from pathlib import Path

from cli_helpers import Cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_traders_add_options_in_the_readme_exist(cli: Cli) -> None:
    row = next(line for line in README.splitlines() if line.startswith("| `traders add ID ["))
    named = set(re.findall(r"--[a-z-]+", row.split("|")[1]))
    assert "--max-order-notional" in named
    help_text = cli("traders", "add", "--help").stdout
    for option in named:
        assert option in help_text, option


def test_keys_clear_targets_match_the_readme(cli: Cli) -> None:
    listed = re.search(r"`keys clear ([a-z|-]+)`", README)
    assert listed
    targets = listed.group(1).split("|")
    assert "telegram" in targets
    for target in targets:
        assert cli("keys", "clear", target).exit_code == 0, target


def test_the_follow_a_real_trader_steps_activate_the_license() -> None:
    steps = README.split("Then, to follow a real trader:", 1)[1].split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in steps.splitlines() if line.strip()]
    assert "lightspeed license activate" in commands
    assert commands.index("lightspeed license activate") < commands.index("lightspeed run")
    assert any(c.startswith("lightspeed config set license.server_url") for c in commands)
