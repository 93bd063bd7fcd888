"""`lightspeed license-server ...`: run the license server and administer keys.

`serve` and the admin commands share one SQLite file (`--db`, default in the data dir), so keys
can be issued, revoked or extended while the server runs. Keys are stored hashed: `issue` is the
only time a key is shown.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from lightspeed_cli.cli.common import EXIT_USAGE, console, fail, get_settings

if TYPE_CHECKING:
    from lightspeed_cli.license.db import KeyRecord, LicenseDB

app = typer.Typer(
    help="Run the license server and issue, list, revoke or extend keys, or free a seat.",
    no_args_is_help=True,
)

_DB_OPTION = typer.Option(
    None,
    "--db",
    help="SQLite file (default: license-server.sqlite3 in the data dir).",
    dir_okay=False,
)


def _data_file(ctx: typer.Context, explicit: Path | None, name: str) -> Path:
    if explicit is not None:
        return explicit.expanduser()
    return get_settings(ctx, missing_ok=True).storage.resolved_data_dir() / name


def _open_db(ctx: typer.Context, db: Path | None) -> LicenseDB:
    from lightspeed_cli.license.db import DB_FILE, LicenseDB  # no server extra needed

    return LicenseDB(_data_file(ctx, db, DB_FILE))


def _find(database: LicenseDB, key_or_id: str) -> KeyRecord:
    from lightspeed_cli.license.keys import KeyFormatError

    try:
        record = database.find(key_or_id)
    except KeyFormatError as exc:
        fail(f"not a license key or key id: {exc}", EXIT_USAGE)
    if record is None:
        fail("no such key in this database (give the full key or the key id from `list`)")
    return record


def _stamp(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment else "-"


def _show(record: KeyRecord) -> None:
    console.print(
        Text(
            f"{record.key_id}  {record.hint}  {record.status(datetime.now(UTC)).value}"
            f"  seats {record.seats_used}/{record.seats}  expires {_stamp(record.expires_at)}"
        )
    )


@app.command("serve")
def serve_cmd(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="Port to listen on."),
    db: Path | None = _DB_OPTION,
    key_file: Path | None = typer.Option(
        None,
        "--key-file",
        dir_okay=False,
        help="Ed25519 signing key, created (mode 0600) on first start"
        " (default: license-server.key in the data dir).",
    ),
    lease_hours: float = typer.Option(
        72, "--lease-hours", min=0.01, help="How long a client may run without contact."
    ),
    activate_per_ip: int = typer.Option(
        10, "--activate-per-ip", min=1, help="Activation attempts per client IP per window."
    ),
    activate_per_key: int = typer.Option(
        5, "--activate-per-key", min=1, help="Activation attempts per key per window."
    ),
    rate_window: float = typer.Option(
        60, "--rate-window", min=1, help="Rate-limit window in seconds."
    ),
) -> None:
    """Start the license server (put it behind HTTPS in production)."""
    try:
        import uvicorn

        from lightspeed_cli.license.server import (
            KEY_FILE,
            ServerConfig,
            build_service,
            create_app,
        )
    except ModuleNotFoundError as exc:
        fail(
            f"`license-server serve` needs the server extra ({exc.name} is not installed):"
            " pipx install --force '.[server]', or pip install '.[server]'"
        )
    from lightspeed_cli.license.db import DB_FILE
    from lightspeed_cli.logsetup import configure

    settings = get_settings(ctx, missing_ok=True)
    configure(settings.logging.level, json_lines=settings.logging.json_lines)
    config = ServerConfig(
        lease_hours=lease_hours,
        activate_per_ip=activate_per_ip,
        activate_per_key=activate_per_key,
        rate_window_seconds=rate_window,
    )
    db_path, key_path = _data_file(ctx, db, DB_FILE), _data_file(ctx, key_file, KEY_FILE)
    try:
        service, created = build_service(db_path, key_path, config)
    except (OSError, ValueError) as exc:
        fail(str(exc))
    verb = "created" if created else "loaded"
    console.print(f"Signing key {verb}: {key_path}", highlight=False)
    console.print(f"Database: {db_path}", highlight=False)
    console.print(
        "Public key (set it as license.public_key in client configs):\n"
        f"  [bold]{service.public_key}[/]",
        highlight=False,
    )
    console.print(f"Listening on http://{host}:{port}", highlight=False)
    uvicorn.run(create_app(service), host=host, port=port, log_config=None, access_log=False)


@app.command("issue")
def issue_cmd(
    ctx: typer.Context,
    seats: int = typer.Option(1, "--seats", min=1, help="Machines that may use the key at once."),
    days: float = typer.Option(30, "--days", min=0.001, help="Valid for this many days."),
    note: str = typer.Option("", "--note", help="Free text for you (customer, order...)."),
    feature: list[str] = typer.Option([], "--feature", help="Feature flag in the lease (repeat)."),
    db: Path | None = _DB_OPTION,
) -> None:
    """Create a key. It is shown once here and stored only hashed."""
    database = _open_db(ctx, db)
    key, record = database.issue(
        seats=seats, days=days, note=note, features=tuple(feature), now=datetime.now(UTC)
    )
    console.print(Text(key, style="bold"))
    console.print(
        Text(
            f"key id {record.key_id}, {seats} seat(s), expires {_stamp(record.expires_at)}."
            " Copy the key now: it is stored hashed and cannot be shown again."
        ),
        style="dim",
    )


@app.command("list")
def list_cmd(ctx: typer.Context, db: Path | None = _DB_OPTION) -> None:
    """List keys (ids and masked hints only) with seats in use and status."""
    from rich import box
    from rich.table import Table

    records = _open_db(ctx, db).list_keys()
    if not records:
        console.print("No keys yet: create one with `lightspeed license-server issue`.")
        return
    now = datetime.now(UTC)
    table = Table(box=box.SIMPLE_HEAD)
    for name in ("key id", "key", "status", "seats", "expires (UTC)"):
        table.add_column(name, no_wrap=True)  # the id must stay whole: `revoke` takes it
    table.add_column("note", min_width=8)
    for r in records:
        table.add_row(
            r.key_id,
            Text(r.hint),
            r.status(now).value,
            f"{r.seats_used}/{r.seats}",
            f"{r.expires_at:%Y-%m-%d %H:%M}",
            Text(r.note),
        )
    console.print(table)


@app.command("revoke")
def revoke_cmd(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="The key, or its key id from `list`."),
    db: Path | None = _DB_OPTION,
) -> None:
    """Revoke a key: its machines stop opening positions at their next heartbeat."""
    database = _open_db(ctx, db)
    record = database.revoke(_find(database, key).key_id, datetime.now(UTC))
    assert record is not None
    _show(record)


@app.command("extend")
def extend_cmd(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="The key, or its key id from `list`."),
    days: float = typer.Option(..., "--days", min=0.001, help="Days to add to the expiry."),
    db: Path | None = _DB_OPTION,
) -> None:
    """Push a key's expiry back (counted from now if it has already expired)."""
    database = _open_db(ctx, db)
    record = database.extend(_find(database, key).key_id, days, datetime.now(UTC))
    assert record is not None
    _show(record)


@app.command("seats")
def seats_cmd(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="The key, or its key id from `list`."),
    db: Path | None = _DB_OPTION,
) -> None:
    """List the machines holding a seat of a key, with when each was last seen."""
    from rich import box
    from rich.table import Table

    from lightspeed_cli.license.fingerprint import short_fingerprint

    database = _open_db(ctx, db)
    record = _find(database, key)
    _show(record)
    seats = database.seats(record.key_id)
    if not seats:
        console.print("No machine holds a seat of this key.")
        return
    table = Table(box=box.SIMPLE_HEAD)
    for name in ("machine", "activated", "last seen"):
        table.add_column(name, no_wrap=True)
    for seat in seats:
        table.add_row(
            short_fingerprint(seat.machine), _stamp(seat.activated_at), _stamp(seat.last_seen)
        )
    console.print(table)


@app.command("release")
def release_cmd(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="The key, or its key id from `list`."),
    machine: str = typer.Argument(
        ..., help="The machine's fingerprint from `seats`, or a prefix of it (8+ characters)."
    ),
    db: Path | None = _DB_OPTION,
) -> None:
    """Free a seat a machine holds (a dead VPS that cannot deactivate itself).

    If that machine is still running, it stops opening positions at its next heartbeat.
    """
    from lightspeed_cli.license.fingerprint import short_fingerprint

    if len(machine) < 8:
        fail("give at least 8 characters of the machine's fingerprint (see `seats`)", EXIT_USAGE)
    database = _open_db(ctx, db)
    record = _find(database, key)
    matches = [s for s in database.seats(record.key_id) if s.machine.startswith(machine.lower())]
    if not matches:
        fail(f"no machine {machine}… holds a seat of key {record.key_id} (see `seats`)")
    if len(matches) > 1:
        fail(
            f"{machine}… matches {len(matches)} machines: give more of the fingerprint", EXIT_USAGE
        )
    database.deactivate(record.key_id, matches[0].machine)
    console.print(Text(f"Released the seat of machine {short_fingerprint(matches[0].machine)}"))
    refreshed = database.get(record.key_id)
    assert refreshed is not None
    _show(refreshed)
