"""Helpers every command group shares: the console, settings lookup, loud failures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:  # settings pulls in pydantic-settings (~0.3 s): keep it out of `--help`
    from lightspeed_cli.config.settings import Settings
    from lightspeed_cli.license.state import LicenseState

console = Console()
err_console = Console(stderr=True)

EXIT_USAGE = 2  # bad input: config, arguments
EXIT_FAILURE = 1  # the thing itself failed (network, exchange, license)


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """Print one clear line to stderr and exit; never a traceback.

    The message is plain text: brackets in it (TOML tables, paths) are not rich markup.
    Under `--json` the same error is also `{"error": ..., "code": ...}` on stdout.
    """
    from lightspeed_cli.cli.output import emit_json_error, json_errors

    if json_errors():
        emit_json_error(message, code)
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def fail_without_server_extra(command: str, exc: ModuleNotFoundError) -> NoReturn:
    """The vendor's servers (`license-server serve`, `relay serve`) need the `server` extra."""
    fail(
        f"`{command}` needs the server extra ({exc.name} is not installed):"
        " pipx install --force '.[server]', or pip install '.[server]'"
    )


def not_available(what: str) -> NoReturn:
    fail(f"`lightspeed {what}` is not available yet in this version.", EXIT_FAILURE)


def config_path(ctx: typer.Context) -> Path:
    from lightspeed_cli.config.paths import resolve_config_path

    obj = ctx.find_root().obj or {}
    return resolve_config_path(obj.get("config"))


def config_named(ctx: typer.Context) -> bool:
    """Whether the user named a config (--config or $LIGHTSPEED_CONFIG) rather than the default."""
    return (ctx.find_root().obj or {}).get("config") is not None


def get_settings(ctx: typer.Context, *, missing_ok: bool = False) -> Settings:
    """Load settings for a command, turning any ConfigError into exit code 2.

    `missing_ok` lets a read command work on defaults while the *default* config does not
    exist yet; a config the user named must exist (a typo must not mean "defaults").
    """
    from lightspeed_cli.config.settings import ConfigError, load_settings

    try:
        return load_settings(config_path(ctx), missing_ok=missing_ok and not config_named(ctx))
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)


def license_state(settings: Settings, as_user: str | None = None) -> LicenseState:
    """The license as `run` would find it with these settings (the config's data dir);
    `as_user`: as that user's bot would (root reading a system unit's lease)."""
    from lightspeed_cli.license.client import LicenseClient
    from lightspeed_cli.license.fingerprint import machine_fingerprint

    fingerprint = machine_fingerprint(user=as_user) if as_user else None
    data_dir = settings.storage.resolved_data_dir()
    return LicenseClient(settings.license, data_dir, fingerprint=fingerprint).state()


def read_stdin_line(label: str) -> str:
    """One line of stdin, from the process's one binary reader: a text wrapper per call would
    buffer ahead and swallow the next secrets. Bytes that are not UTF-8 exit 2."""
    import sys

    raw = sys.stdin.buffer.readline()
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        fail(f"{label}: the input is not UTF-8 text; nothing stored, paste it again", EXIT_USAGE)


def read_secret_values(labels: tuple[str, ...], from_stdin: bool) -> list[str]:
    """One value per label: hidden prompts, or one line each from stdin with --stdin (or when
    stdin is a pipe: getpass would only warn that it cannot hide what is not shown anyway).

    Values are never echoed; an empty one or one with spaces (a bad paste) exits 2.
    """
    import sys

    values = []
    piped = not from_stdin and not sys.stdin.isatty()  # a pipe: nothing to hide, no warning
    for label in labels:
        if from_stdin:
            value = read_stdin_line(label)
        elif piped:
            typer.echo(f"{label}: ", nl=False)
            value = read_stdin_line(label)
        else:
            value = str(typer.prompt(label, hide_input=True)).strip()
        if not value:
            fail(f"{label}: empty, nothing stored", EXIT_USAGE)
        if any(c.isspace() or not c.isprintable() for c in value):
            fail(f"{label}: contains spaces or control characters; paste it again", EXIT_USAGE)
        values.append(value)
    return values
