"""With no license server configured (the placeholder default), activation says so in one
line: not a DNS error about license.lightspeed.example (issue 21)."""

from __future__ import annotations

from cli_helpers import Cli

from lightspeed_cli.config.sections import PLACEHOLDER_SERVER_URL
from lightspeed_cli.config.settings import Settings
from lightspeed_cli.license.keys import generate_key


def test_the_default_server_url_is_the_placeholder() -> None:
    assert Settings().license.server_url == PLACEHOLDER_SERVER_URL


def test_activate_with_the_placeholder_is_one_line(cli: Cli) -> None:
    run = cli("license", "activate", "--stdin", input=generate_key() + "\n")
    assert run.exit_code == 1, run.output
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert "no license server configured" in lines[0]
    assert "config set license.server_url" in lines[0]
    for dns_words in ("ConnectError", "Name or service", "getaddrinfo", "cannot reach"):
        assert dns_words not in run.output
