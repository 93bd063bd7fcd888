"""`lightspeed traders ...`: the lead traders to follow."""

from __future__ import annotations

import typer

from lightspeed_cli.cli.common import not_available

app = typer.Typer(
    help="Add, remove, list and check the lead traders you follow.", no_args_is_help=True
)


@app.command("list")
def list_cmd() -> None:
    """List followed traders."""
    not_available("traders list")
