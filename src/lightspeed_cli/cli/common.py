"""Helpers every command group shares: the console, settings lookup, loud failures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:  # settings pulls in pydantic-settings (~0.3 s): keep it out of `--help`
    from lightspeed_cli.settings import Settings

console = Console()
err_console = Console(stderr=True)

EXIT_USAGE = 2  # bad input: config, arguments
EXIT_FAILURE = 1  # the thing itself failed (network, exchange, license)


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """Print one clear line to stderr and exit; never a traceback.

    The message is plain text: brackets in it (TOML tables, paths) are not rich markup.
    """
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def not_available(what: str) -> NoReturn:
    fail(f"`lightspeed {what}` is not available yet in this version.", EXIT_FAILURE)


def config_path(ctx: typer.Context) -> Path:
    from lightspeed_cli.settings import resolve_config_path

    obj = ctx.find_root().obj or {}
    return resolve_config_path(obj.get("config"))


def get_settings(ctx: typer.Context, *, missing_ok: bool = False) -> Settings:
    """Load settings for a command, turning any ConfigError into exit code 2."""
    from lightspeed_cli.settings import ConfigError, load_settings

    try:
        return load_settings(config_path(ctx), missing_ok=missing_ok)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
