"""`lightspeed license ...`: activate this machine against the license server."""

from __future__ import annotations

import typer

from lightspeed_cli.cli.common import not_available

app = typer.Typer(help="Activate, check and release this machine's license.", no_args_is_help=True)


@app.command("status")
def status_cmd() -> None:
    """Show the license state (the key is never shown in full)."""
    not_available("license status")
