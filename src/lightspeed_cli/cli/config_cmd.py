"""`lightspeed config ...`: read and edit the TOML config."""

from __future__ import annotations

import typer

from lightspeed_cli.cli.common import not_available

app = typer.Typer(help="Show, check and edit the config file.", no_args_is_help=True)


@app.command("path")
def path_cmd() -> None:
    """Print where the config file is."""
    not_available("config path")
