"""`lightspeed license ...`: activate this machine against the license server.

The key is never printed in full and the lease never at all; both stay out of logs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.text import Text

from lightspeed_cli.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    console,
    fail,
    get_settings,
    read_secret_values,
)
from lightspeed_cli.cli.output import emit_json, json_option

if TYPE_CHECKING:
    from rich.table import Table

    from lightspeed_cli.license.client import LicenseClient
    from lightspeed_cli.license.state import LicenseState

app = typer.Typer(help="Activate, check and release this machine's license.", no_args_is_help=True)


def _client(ctx: typer.Context) -> LicenseClient:
    from lightspeed_cli.license.client import LicenseClient

    settings = get_settings(ctx, missing_ok=True)
    return LicenseClient(settings.license, settings.storage.resolved_data_dir())


def _stamp(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _when(moment: datetime | None, now: datetime) -> str:
    from lightspeed_cli.license.timefmt import human_duration

    if moment is None:
        return "-"
    if moment <= now:
        return _stamp(moment)
    return f"{_stamp(moment)} (in {human_duration(moment - now)})"


def _table(rows: list[tuple[str, str]]) -> Table:
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for label, value in rows:
        table.add_row(label, Text(value))  # Text: values are never read as rich markup
    return table


@app.command("activate")
def activate_cmd(
    ctx: typer.Context,
    key: str | None = typer.Argument(
        None,
        help="The license key (LS-…). Omit it to be prompted without echo (keeps it out of"
        " shell history).",
        show_default=False,
    ),
    stdin: bool = typer.Option(
        False, "--stdin", help="Read the key from standard input (one line) instead of prompting."
    ),
) -> None:
    """Activate this machine: takes one seat of the key and stores a signed lease.

    Scripts: `printf '%s\\n' "$KEY" | lightspeed license activate --stdin`.
    """
    import asyncio

    from lightspeed_cli.license.client import LicenseError
    from lightspeed_cli.license.keys import KeyFormatError, parse_key

    if key is None:
        key = read_secret_values(("License key",), stdin)[0]
    elif stdin:
        fail("give the key either as an argument or with --stdin, not both", EXIT_USAGE)
    try:
        parse_key(key)  # typos are caught here, before anything is sent
    except KeyFormatError as exc:
        fail(str(exc), EXIT_USAGE)
    client = _client(ctx)
    try:
        result = asyncio.run(client.activate(key))
    except LicenseError as exc:
        fail(f"activation failed: {exc}")
    now = datetime.now(UTC)
    interval = client.settings.renew_interval_minutes
    console.print("[bold green]License activated on this machine.[/]")
    console.print(
        _table(
            [
                ("key", f"{result.key_hint}  (id {result.key_id})"),
                ("seats", f"{result.seats_used} of {result.seats} in use"),
                ("expires", _when(result.expires_at, now)),
                ("lease", f"renewed every {interval:g} min while `lightspeed run` runs"),
                ("offline until", _when(result.grace_until, now)),
                ("lease stored in", result.stored_in),
            ]
        )
    )
    if result.previous:
        console.print(Text(result.previous))


@app.command("status")
def status_cmd(
    ctx: typer.Context,
    check: bool = typer.Option(
        False, "--check", help="Ask the license server first (renews the lease)."
    ),
    as_json: bool = json_option(),
) -> None:
    """Show the license state (the key is never shown in full). Exit 1 if opening is blocked."""
    import asyncio

    client = _client(ctx)
    state = asyncio.run(client.renew()) if check else client.state()
    if as_json:
        emit_json(_status_record(client, state))
    else:
        _print_status(client, state)
    if not state.can_open:
        raise typer.Exit(EXIT_FAILURE)


def _status_record(client: LicenseClient, state: LicenseState) -> dict[str, Any]:
    """`license status --json`: the same facts as the screen, key masked, lease never."""
    local = client.local
    return {
        "valid": state.valid,
        "can_open": state.can_open,
        "code": state.code,
        "state": state.reason,
        "warning": state.warning,
        "offline": bool(local.last_error),
        "key": state.key_hint,
        "key_id": state.key_id,
        "seats": local.seats,
        "seats_used": local.seats_used,
        "expires_at": state.expires_at,
        "lease_until": state.lease_until,
        "grace_until": state.grace_until,
        "last_contact": state.last_contact,
        "server": local.server_url or client.settings.server_url,
        "machine": _machine(client),
    }


def _print_status(client: LicenseClient, state: LicenseState) -> None:
    from lightspeed_cli.license.gate import CLOSING_ONLY

    now = datetime.now(UTC)
    local = client.local
    if state.can_open:
        headline = "[bold green]valid[/]" + (" [yellow](offline)[/]" if local.last_error else "")
    else:  # what the running bot does now, not only what the key is
        what = "valid, but" if state.valid else "not valid:"
        headline = f"[bold red]{what} {CLOSING_ONLY}[/] (no new positions; closes still mirror)"
    console.print(f"License: {headline}")
    rows = [("state", state.reason)]
    if state.warning:
        rows.append(("warning", state.warning))
    if state.key_id:
        seats = (
            f"{local.seats_used} of {local.seats} in use (at last contact)"
            if local.seats is not None
            else "-"
        )
        rows += [
            ("key", f"{state.key_hint or '-'}  (id {state.key_id})"),
            ("seats", seats),
            ("expires", _when(state.expires_at, now)),
            ("lease until", _when(state.lease_until, now)),
            ("offline grace", _grace(state.grace_until, now)),
            ("last contact", _when(state.last_contact, now)),
            ("server", local.server_url or client.settings.server_url),
            ("this machine", _machine(client)),
        ]
    console.print(_table(rows))


def _machine(client: LicenseClient) -> str:
    """The fingerprint prefix an admin gives `license-server release` (a hash, not an id)."""
    from lightspeed_cli.license.client import LicenseError
    from lightspeed_cli.license.fingerprint import short_fingerprint

    try:
        return short_fingerprint(client.fingerprint)
    except LicenseError as exc:
        return str(exc)


def _grace(until: datetime | None, now: datetime) -> str:
    from lightspeed_cli.license.timefmt import human_duration

    if until is None:
        return "-"
    if until <= now:
        return f"over since {_stamp(until)}"
    return f"{human_duration(until - now)} left without contact (until {_stamp(until)})"


@app.command("deactivate")
def deactivate_cmd(
    ctx: typer.Context,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    local: bool = typer.Option(
        False, "--local", help="Only forget the lease here (the server keeps the seat taken)."
    ),
) -> None:
    """Release this machine's seat so the key can be used elsewhere."""
    import asyncio

    from lightspeed_cli.license.client import LicenseError

    client = _client(ctx)
    if not yes and not typer.confirm(
        "Deactivate? `lightspeed run` will stop opening positions on this machine."
    ):
        raise typer.Exit(EXIT_FAILURE)
    try:
        seats_used = asyncio.run(client.deactivate(local_only=local))
    except LicenseError as exc:
        fail(f"deactivation failed: {exc}")
    if local:
        console.print("Lease forgotten on this machine; the server still counts its seat.")
    else:
        left = f" ({seats_used} seat(s) of the key still in use)" if seats_used is not None else ""
        console.print(f"[bold]License deactivated; the seat is free.[/]{left}")
