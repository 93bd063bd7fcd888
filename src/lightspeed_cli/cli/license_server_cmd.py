"""`lightspeed license-server ...`: run the license server and administer keys."""

from __future__ import annotations

import typer

from lightspeed_cli.cli.common import not_available

app = typer.Typer(
    help="Run the license server and issue, list, revoke or extend keys.", no_args_is_help=True
)


@app.command("serve")
def serve_cmd() -> None:
    """Start the license server."""
    not_available("license-server serve")
