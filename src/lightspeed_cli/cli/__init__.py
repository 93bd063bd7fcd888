"""The `lightspeed` command tree. Heavy modules (ccxt) are imported lazily inside commands."""

from __future__ import annotations

from pathlib import Path

import typer

from lightspeed_cli import __version__
from lightspeed_cli.cli import (
    config_cmd,
    control_cmd,
    journal_cmd,
    keys_cmd,
    license_cmd,
    license_server_cmd,
    run_cmd,
    traders_cmd,
)

app = typer.Typer(
    name="lightspeed",
    help="Mirror Binance lead traders' futures positions onto your Bybit USDT perpetuals.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain click help: rich help pulls in markdown-it (+150 ms)
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lightspeed {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        envvar="LIGHTSPEED_CONFIG",
        help="Config file (default: ~/.config/lightspeed/config.toml).",
        show_default=False,
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    ctx.obj = {"config": config}


app.add_typer(config_cmd.app, name="config")
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(traders_cmd.app, name="traders")
app.add_typer(journal_cmd.app, name="journal")
app.add_typer(license_cmd.app, name="license")
app.add_typer(license_server_cmd.app, name="license-server")
run_cmd.register(app)
control_cmd.register(app)


def main() -> None:
    app()
