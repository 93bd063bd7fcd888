"""`lightspeed config ...`: read and edit the TOML config.

Imports of settings/tomlkit happen inside the commands: `lightspeed --help` must stay fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from lightspeed_cli.cli.common import EXIT_USAGE, config_path, console, err_console, fail
from lightspeed_cli.cli.output import emit_json, json_option

if TYPE_CHECKING:
    from tomlkit.toml_document import TOMLDocument

    from lightspeed_cli.config.settings import Settings

app = typer.Typer(help="Show, check and edit the config file.", no_args_is_help=True)


# --- shared by config and traders commands -----------------------------------------------------


def edit(ctx: typer.Context, change: Callable[[TOMLDocument], None], key: str) -> Settings:
    """Apply `change` to the config file (created if it is the missing default one).

    Exits 2 with one line naming the file, the key and what is allowed when the result would
    be invalid; the file is then left exactly as it was.
    """
    from lightspeed_cli.config.editing import edit_config
    from lightspeed_cli.config.paths import default_config_path
    from lightspeed_cli.config.settings import ConfigError, env_var_for

    path = config_path(ctx)
    create = path == default_config_path()
    try:
        settings = edit_config(path, change, create=create)
    except ConfigError as exc:
        message = str(exc)
        fail(message if message.startswith(str(path)) else f"{path}: {message}", EXIT_USAGE)
    env = env_var_for(tuple(key.split(".")))
    if env:
        err_console.print(
            f"note: {env} is set in the environment and overrides this value", highlight=False
        )
    return settings


def load_or_fail(ctx: typer.Context) -> tuple[Path, Settings]:
    """The config path and its settings (file + environment); exit 2 on any problem."""
    from lightspeed_cli.cli.common import get_settings

    return config_path(ctx), get_settings(ctx)


# --- commands ----------------------------------------------------------------------------------


@app.command("path")
def path_cmd(ctx: typer.Context) -> None:
    """Print where the config file is (--config, then $LIGHTSPEED_CONFIG, then the default)."""
    path = config_path(ctx)
    typer.echo(str(path))
    if not path.exists():
        err_console.print(
            "(no file there yet: `lightspeed config init` writes a commented one)",
            highlight=False,
        )


@app.command("init")
def init_cmd(
    ctx: typer.Context,
    force: bool = typer.Option(False, "--force", help="Overwrite an existing config file."),
) -> None:
    """Write the commented example config (every key, unit and default) to the config path."""
    from lightspeed_cli.config.atomicfile import write_atomic
    from lightspeed_cli.config.editing import example_config_text
    from lightspeed_cli.config.settings import ConfigError

    path = config_path(ctx)
    if path.exists() and not force:
        fail(f"{path}: already exists; use --force to overwrite it", EXIT_USAGE)
    try:
        write_atomic(path, example_config_text())
    except ConfigError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{path}: cannot write: {exc.strerror}", EXIT_USAGE)
    console.print(f"Wrote {path}", highlight=False)
    console.print(
        "Next: `lightspeed traders add <id> --label <name>`, then `lightspeed keys set bybit`.",
        highlight=False,
    )


@app.command("show")
def show_cmd(ctx: typer.Context, as_json: bool = json_option()) -> None:
    """Every setting with its value and where it comes from (file, environment, default).

    The notify webhook URL is masked.
    """
    from rich.markup import escape
    from rich.table import Table

    from lightspeed_cli.config.keys import current_value, leaf_specs
    from lightspeed_cli.config.settings import env_overrides, read_toml

    path, settings = load_or_fail(ctx)
    file_data = read_toml(path)
    env_data = env_overrides()
    env_vars: dict[str, list[str]] = {}
    keys: dict[str, dict[str, Any]] = {}
    for spec in leaf_specs():
        value = current_value(settings, spec)
        source = _source(spec.path, file_data, env_data, env_vars)
        keys[spec.key] = {"value": _masked(value) if spec.secret else value, "source": source}
    traders_source = _source(("traders",), file_data, env_data, env_vars)
    data_dir = settings.storage.resolved_data_dir()  # absolute: a relative one is anchored
    if as_json:
        emit_json(
            {
                "path": path,
                "keys": keys,
                "traders": {"ids": [t.id for t in settings.traders], "source": traders_source},
                "env": env_vars,
                "data_dir": data_dir,
            }
        )
        return
    table = Table(title=f"Config: {path}", title_justify="left", highlight=False)
    table.add_column("key", no_wrap=True)
    table.add_column("value", overflow="fold", min_width=16, ratio=1)
    table.add_column("source", no_wrap=True)
    for key, item in keys.items():
        table.add_row(key, _display(item["value"]), item["source"])
    traders = ", ".join(t.id + (f" ({t.label})" if t.label else "") for t in settings.traders)
    table.add_row("traders", escape(traders) or "(none)", traders_source)
    console.print(table)
    for name, names in sorted(env_vars.items()):
        line = f"env: {name} sets {', '.join(names)}"
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    how = "storage.data_dir" if settings.storage.data_dir else "the default, storage.data_dir unset"
    line = f"data dir: {data_dir} ({how}; a relative path is taken from the config's folder)"
    console.print(line, highlight=False, markup=False, soft_wrap=True)


def _source(
    path: tuple[str, ...],
    file_data: dict[str, Any],
    env_data: dict[str, Any],
    env_vars: dict[str, list[str]],
) -> str:
    """file / env / default, remembering which variable set an env value."""
    from lightspeed_cli.config.keys import lookup_nested
    from lightspeed_cli.config.settings import env_var_for

    env = env_var_for(path, env_data)
    if env:
        env_vars.setdefault(env, []).append(".".join(path))
        return "env"
    return "file" if lookup_nested(file_data, path)[0] else "default"


def _masked(value: Any) -> str:
    from lightspeed_cli.config.secrets import mask

    return mask(str(value)) or "(not set)"


def _display(value: Any) -> str:
    from rich.markup import escape

    from lightspeed_cli.config.keys import format_value

    text = format_value(value)
    return escape(text) if text else '""'


@app.command("get")
def get_cmd(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Dotted key, e.g. safety.max_leverage, or a section."),
    reveal: bool = typer.Option(False, "--reveal", help="Print a masked value (webhook URL)."),
) -> None:
    """Print one setting's effective value (file, then environment), or a whole section."""
    from lightspeed_cli.config.keys import Kind, current_value, format_value, iter_specs, lookup
    from lightspeed_cli.config.secrets import mask
    from lightspeed_cli.config.settings import ConfigError

    path, settings = load_or_fail(ctx)
    try:
        spec = lookup(key)
    except ConfigError as exc:
        fail(f"{path}: {exc}", EXIT_USAGE)
    if spec.kind is Kind.TABLE_LIST:
        fail("traders: use `lightspeed traders list`", EXIT_USAGE)
    specs = [spec]
    if spec.kind is Kind.SECTION:
        specs = [s for s in iter_specs() if s.path[:-1] == spec.path]
    for item in specs:
        value = current_value(settings, item)
        text = mask(str(value)) if item.secret and not reveal else format_value(value)
        typer.echo(text if len(specs) == 1 else f"{item.path[-1]} = {text}")


@app.command(
    "set",
    context_settings={"ignore_unknown_options": True},  # so `set safety.max_leverage -5` parses
)
def set_cmd(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Dotted key, e.g. safety.max_leverage."),
    value: str = typer.Argument(
        ..., help='New value. Lists: comma separated (BTCUSDT,ETHUSDT) or ["BTCUSDT"].'
    ),
) -> None:
    """Change one setting in the file, keeping its comments. Checked before anything is written.

    A missing default config file is created.
    """
    from lightspeed_cli.config.editing import set_value
    from lightspeed_cli.config.keys import current_value, format_value, parse_cli_value, settable
    from lightspeed_cli.config.settings import ConfigError

    path = config_path(ctx)
    try:
        spec = settable(key)
        parsed = parse_cli_value(spec, value)
    except ConfigError as exc:
        fail(f"{path}: {exc}", EXIT_USAGE)
    settings = edit(ctx, lambda doc: set_value(doc, spec.path, parsed), spec.key)
    shown = "(masked)" if spec.secret else format_value(current_value(settings, spec))
    console.print(f"{spec.key} = {shown}  ({path})", highlight=False, markup=False, soft_wrap=True)


@app.command("unset")
def unset_cmd(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Dotted key, e.g. safety.max_leverage."),
) -> None:
    """Remove one setting from the file so its default applies again."""
    from lightspeed_cli.config.editing import unset_value
    from lightspeed_cli.config.keys import settable
    from lightspeed_cli.config.settings import ConfigError

    path = config_path(ctx)
    try:
        spec = settable(key)
    except ConfigError as exc:
        fail(f"{path}: {exc}", EXIT_USAGE)
    removed: list[bool] = []
    edit(ctx, lambda doc: removed.append(unset_value(doc, spec.path)), spec.key)
    if removed and removed[0]:
        console.print(f"{spec.key}: removed, the default applies", highlight=False, markup=False)
    else:
        console.print(f"{spec.key}: not in the file, the default applies", markup=False)


@app.command("validate")
def validate_cmd(ctx: typer.Context) -> None:
    """Check the file (and LIGHTSPEED_* variables): OK, or every problem found (exit 2)."""
    from rich.markup import escape

    from lightspeed_cli.config.settings import ConfigError, load_settings

    path = config_path(ctx)
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            err_console.print(
                f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True
            )
        raise typer.Exit(EXIT_USAGE) from None
    enabled = sum(t.enabled for t in settings.traders)
    console.print(
        f"OK: {path} ({len(settings.traders)} traders, {enabled} enabled)",
        highlight=False,
        markup=False,
    )
