"""`lightspeed keys ...`: exchange credentials in the OS keyring (or systemd credentials / env).

Values are read with hidden prompts (or from stdin for scripts) and go straight to
`lightspeed_cli.config.secrets`; nothing here prints, logs or echoes them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

import typer

from lightspeed_cli.cli.common import console, err_console, fail, get_settings, read_secret_values
from lightspeed_cli.cli.output import emit_json, json_option

if TYPE_CHECKING:  # secrets pulls in logging/tempfile: imported inside the commands
    from pathlib import Path

    from lightspeed_cli.config.secrets import SecretName, SecretSource

app = typer.Typer(help="Store, check and clear API keys (never printed).", no_args_is_help=True)


class KeyTarget(StrEnum):
    BYBIT = "bybit"
    BINANCE_SESSION = "binance-session"
    TELEGRAM = "telegram"


class ClearTarget(StrEnum):
    BYBIT = "bybit"
    BINANCE_SESSION = "binance-session"
    TELEGRAM = "telegram"
    ALL = "all"


def secrets_of(target: KeyTarget) -> tuple[SecretName, ...]:
    """The stored secrets behind a `keys` target."""
    from lightspeed_cli.config.secrets import SecretName

    if target is KeyTarget.BYBIT:
        return (SecretName.BYBIT_API_KEY, SecretName.BYBIT_API_SECRET)
    if target is KeyTarget.TELEGRAM:
        return (SecretName.TELEGRAM_TOKEN,)
    return (SecretName.BINANCE_SESSION,)


PROMPTS: dict[KeyTarget, tuple[str, str]] = {
    KeyTarget.BYBIT: ("Bybit API key", "Bybit API secret"),
    KeyTarget.BINANCE_SESSION: (
        "Binance `p20t` cookie (from your logged-in browser)",
        "Binance `csrftoken` header (same browser session)",
    ),
    KeyTarget.TELEGRAM: ("Telegram bot token (from @BotFather)",),
}


@app.command("set")
def set_cmd(
    target: KeyTarget = typer.Argument(
        ...,
        help="bybit (API key + secret), binance-session (p20t cookie + csrftoken) or"
        " telegram (bot token).",
    ),
    stdin: bool = typer.Option(
        False,
        "--stdin",
        help="Read the values from standard input, one per line, instead of prompting.",
    ),
) -> None:
    """Store credentials in the OS keyring (hidden input; nothing is echoed or printed).

    Use a Bybit API key limited to contract trading, without withdrawal permission.
    """
    from lightspeed_cli.config.secrets import (
        SecretStoreUnavailable,
        encode_binance_session,
        keyring_backend_name,
        keyring_is_plaintext,
        set_secret,
        unavailable_message,
    )

    names = secrets_of(target)
    backend = keyring_backend_name()
    if backend is None:  # say so before the user types anything
        more = "".join(f" Do the same for {n.value} ({n.env_var})." for n in names[1:])
        fail(unavailable_message(names[0]) + more)
    values = read_secret_values(PROMPTS[target], stdin)
    if target is KeyTarget.BYBIT:
        pairs = [(names[0], values[0]), (names[1], values[1])]
    elif target is KeyTarget.TELEGRAM:
        pairs = [(names[0], values[0])]
    else:
        pairs = [(names[0], encode_binance_session(values[0], values[1]))]
    try:
        for name, value in pairs:
            set_secret(name, value)
    except SecretStoreUnavailable as exc:
        fail(str(exc))
    stored = " and ".join(name.value for name, _ in pairs)
    console.print(
        f"Stored {stored} in the OS keyring ({backend}).", highlight=False, soft_wrap=True
    )
    if keyring_is_plaintext():
        err_console.print(
            "warning: this keyring backend keeps secrets in a plain-text file in your home"
            " directory; prefer a system keyring or systemd credentials on a shared machine.",
            highlight=False,
            soft_wrap=True,
        )


def _where(name: SecretName, source: SecretSource, data_dir: Path | None = None) -> str:
    """Where a secret comes from, with the exact variable or credential file."""
    from lightspeed_cli.config.secrets import SecretSource

    if source is SecretSource.ENV:
        return f"environment ({name.env_var})"
    if source is SecretSource.SYSTEMD:
        return f"systemd credential ($CREDENTIALS_DIRECTORY/{name.value})"
    if source is SecretSource.FILE:
        from lightspeed_cli.config.secrets import lease_file_path

        return f"private file ({lease_file_path(data_dir)})"
    return source.value


@app.command("status")
def status_cmd(ctx: typer.Context, as_json: bool = json_option()) -> None:
    """Say where each secret comes from (keyring, systemd credential, environment), never it.

    The license lease is the one of the config's data dir (`storage.data_dir`)."""
    from rich.markup import escape
    from rich.table import Table

    from lightspeed_cli.config.secrets import (
        SecretName,
        SecretSource,
        get_secret,
        keyring_backend_name,
    )

    rows = []
    sources: dict[SecretName, SecretSource] = {}
    data_dir = get_settings(ctx, missing_ok=True).storage.resolved_data_dir()
    for name in SecretName:
        found = get_secret(name, data_dir=data_dir)
        sources[name] = found.source if found else SecretSource.NONE
        rows.append(
            {
                "name": name.value,
                "source": sources[name].name.lower(),  # keyring, systemd, env, file, none
                "where": _where(name, sources[name], data_dir),
                "value": found.hint if found else None,
            }
        )
    backend = keyring_backend_name()
    if as_json:
        emit_json({"secrets": rows, "keyring": backend})
        return
    table = Table(highlight=False)
    table.add_column("secret", no_wrap=True)
    table.add_column("from", overflow="fold")
    table.add_column("value", no_wrap=True)
    for row in rows:
        table.add_row(row["name"], escape(row["where"]), row["value"] or "-")
    console.print(table)
    if backend:
        console.print(f"OS keyring: {backend}", highlight=False, markup=False)
    else:
        console.print(
            "OS keyring: none usable here. Give secrets to the service as systemd credentials"
            " (LoadCredential=bybit_api_key:/path) or LIGHTSPEED_BYBIT_API_KEY-style variables.",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    _warn_split_pair(sources[SecretName.BYBIT_API_KEY], sources[SecretName.BYBIT_API_SECRET])


def _warn_split_pair(key: SecretSource, secret: SecretSource) -> None:
    """The Bybit key and secret must be one pair: say so when they come from different places."""
    from lightspeed_cli.config.secrets import SecretSource

    if key is secret:
        return
    if SecretSource.NONE in (key, secret):
        message = "only one of the Bybit API key and secret is set; `keys set bybit` stores both"
    else:
        message = (
            f"the Bybit API key comes from {key.value} but its secret from {secret.value};"
            " make sure they are one pair"
        )
    err_console.print(f"warning: {message}", highlight=False, markup=False, soft_wrap=True)


@app.command("clear")
def clear_cmd(
    target: ClearTarget = typer.Argument(
        ..., help="bybit, binance-session, telegram, or all (the license lease stays)."
    ),
) -> None:
    """Remove stored credentials from the OS keyring."""
    from lightspeed_cli.config.secrets import delete_secret, get_secret

    if target is ClearTarget.ALL:
        names = [n for t in KeyTarget for n in secrets_of(t)]
    else:
        names = list(secrets_of(KeyTarget(target.value)))
    for name in names:
        removed = delete_secret(name)
        console.print(
            f"{name.value}: {'removed from the keyring' if removed else 'not in the keyring'}",
            highlight=False,
            soft_wrap=True,
        )
        still = get_secret(name)
        if still is not None:
            err_console.print(
                f"note: {name.value} is still provided by {_where(name, still.source)};"
                " remove it there.",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
