"""The `lightspeed` command tree. Heavy modules (ccxt) are imported lazily inside commands."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from lightspeed_cli import __version__
from lightspeed_cli.cli import (
    config_cmd,
    control_cmd,
    journal_cmd,
    keys_cmd,
    license_cmd,
    license_server_cmd,
    relay_cmd,
    run_cmd,
    selftest_cmd,
    service_cmd,
    status_cmd,
    traders_cmd,
)
from lightspeed_cli.cli.common import EXIT_USAGE, fail
from lightspeed_cli.cli.output import emit_json_error, reset_json_errors

CONFIG_FLAGS = ("--config", "-c")
ARGS_META = "lightspeed.args"  # the command line as typed, for the JSON form of usage errors


def hoist_config(args: Sequence[str]) -> list[str]:
    """Move `--config X` (or `-c X`, `--config=X`) to the front, wherever it was typed.

    So `lightspeed status --config X` works like `lightspeed --config X status`. Nothing after
    a `--` is touched.
    """
    args = list(args)
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg in CONFIG_FLAGS and i + 1 < len(args):
            front.extend(args[i : i + 2])
            i += 2
            continue
        if arg.startswith("--config="):
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


class _RootGroup(TyperGroup):
    """The root command: accepts the global `--config` after the subcommand too."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        ctx.meta[ARGS_META] = list(args)
        return super().parse_args(ctx, hoist_config(args))

    def invoke(self, ctx: typer.Context) -> object:
        """A usage error (a bad option value) of a command run with `--json` is JSON too; every
        command's known failures are one line and their exit code (cli/errors.py)."""
        reset_json_errors()
        try:
            return super().invoke(ctx)
        except TyperException as exc:
            sub = getattr(exc, "ctx", None)
            args = ctx.meta.get(ARGS_META, [])
            typed = "--json" in args[: args.index("--")] if "--" in args else "--json" in args
            if sub is None or not typed or not _has_json_flag(sub.command):
                raise
            code = int(getattr(exc, "exit_code", EXIT_USAGE))
            emit_json_error(exc.format_message() if hasattr(exc, "format_message") else "", code)
            exc.show()  # type: ignore[attr-defined]  # the usual usage text on stderr
            raise typer.Exit(code) from None
        except Exception as exc:
            from lightspeed_cli.cli.errors import explain

            known = explain(exc)
            if known is None:
                raise
            fail(known.message, known.code)


def _has_json_flag(command: object) -> bool:
    """Whether `--json` is this command's flag (simulate's `--json PATH` is not)."""
    return any(
        "--json" in getattr(p, "opts", ()) and getattr(p, "is_flag", False)
        for p in getattr(command, "params", ())
    )


app = typer.Typer(
    name="lightspeed",
    cls=_RootGroup,
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
        help="Config file (default: ~/.config/lightspeed/config.toml). May also come after"
        " the subcommand: `lightspeed status --config FILE`.",
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
app.add_typer(relay_cmd.app, name="relay")
app.add_typer(service_cmd.app, name="service")
run_cmd.register(app)
status_cmd.register(app)
control_cmd.register(app)
selftest_cmd.register(app)


def main() -> None:
    app()
