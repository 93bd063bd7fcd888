"""`lightspeed keys ...`: exchange credentials in the OS keyring (or systemd credentials / env)."""

from __future__ import annotations

import typer

from lightspeed_cli.cli.common import not_available

app = typer.Typer(help="Store, check and clear API keys (never printed).", no_args_is_help=True)


@app.command("status")
def status_cmd() -> None:
    """Say where each secret comes from, without printing it."""
    not_available("keys status")
