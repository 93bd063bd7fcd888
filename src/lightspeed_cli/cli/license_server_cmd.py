"""`lightspeed license-server ...`: run the license server and administer keys.

`serve` and the admin commands share one SQLite file (`--db`, default in the server's own data
dir, ~/.local/share/lightspeed-license-server: never the bot's, which a vendor's server and a
user's bot do not share), so keys
can be issued, revoked or extended while the server runs. Keys are stored hashed: `issue` is the
only time a key is shown. Only `serve` and `issue` create the database; the others refuse a
path where there is none (exit 2), so a typo never starts an empty one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.text import Text

from lightspeed_cli.cli.common import (
    EXIT_USAGE,
    console,
    err_console,
    fail,
    fail_without_server_extra,
    get_settings,
)
from lightspeed_cli.cli.options import (
    MAX_DAYS,
    MAX_LEASE_HOURS,
    MAX_SEATS,
    MAX_SECONDS,
    float_option,
    int_option,
)
from lightspeed_cli.cli.output import json_option

if TYPE_CHECKING:
    from lightspeed_cli.license.db import KeyRecord, LicenseDB, Seat

app = typer.Typer(
    help="Run the license server and issue, list, revoke or extend keys, or free a seat.",
    no_args_is_help=True,
)

_DB_OPTION = typer.Option(
    None,
    "--db",
    help="SQLite file (default: license-server.sqlite3 in"
    " ~/.local/share/lightspeed-license-server).",
    dir_okay=False,
)


SERVER_APP_NAME = "lightspeed-license-server"


def server_data_dir() -> Path:
    """The server's own data dir (XDG): its database and signing key, apart from any bot's."""
    from platformdirs import user_data_path

    return user_data_path(SERVER_APP_NAME, appauthor=False)


def _data_file(explicit: Path | None, name: str) -> Path:
    if explicit is not None:
        return explicit.expanduser()
    path = server_data_dir() / name
    from lightspeed_cli.config.paths import default_data_dir

    old = default_data_dir() / name  # where an older version kept it: say so, never guess
    if not path.exists() and old.exists():
        err_console.print(
            f"note: {old} is from an older version (the bot's data dir); this command uses"
            f" {path}: pass --{'db' if name.endswith('sqlite3') else 'key-file'} {old}"
            " or move the file",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    return path


ADMIN_BUSY_TIMEOUT_SECONDS = 5.0  # how long an admin command waits on a locked database

_JSON_OPTION = json_option("Print JSON for scripts (keys in README; the key itself stays masked).")


@contextmanager
def _database(ctx: typer.Context, db: Path | None, *, create: bool = False) -> Iterator[LicenseDB]:
    """The admin's database: not there or not a license database -> exit 2; locked -> exit 1."""
    from lightspeed_cli.license.db import (  # no server extra needed
        DB_FILE,
        DatabaseBusy,
        LicenseDB,
        LicenseDBError,
    )

    try:
        database = LicenseDB(
            _data_file(db, DB_FILE), create=create, busy_timeout=ADMIN_BUSY_TIMEOUT_SECONDS
        )
    except LicenseDBError as exc:
        fail(str(exc), EXIT_USAGE)
    except DatabaseBusy as exc:
        fail(str(exc))
    try:
        yield database
    except DatabaseBusy as exc:
        fail(str(exc))
    except ValueError as exc:  # a bound the database keeps (days, seats)
        fail(str(exc), EXIT_USAGE)
    finally:
        database.close()


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _key_json(record: KeyRecord, now: datetime) -> dict[str, Any]:
    """One key as `list --json` and `seats --json` print it (stable keys, see README)."""
    return {
        "key_id": record.key_id,
        "key": record.hint,  # masked, as on screen
        "status": record.status(now).value,
        "seats": record.seats,
        "seats_used": record.seats_used,
        "created_at": _iso(record.created_at),
        "expires_at": _iso(record.expires_at),
        "revoked_at": _iso(record.revoked_at),
        "note": record.note,
        "features": list(record.features),
    }


def _seat_json(seat: Seat) -> dict[str, Any]:
    return {
        "machine": seat.machine[:16],  # as on screen, and what `release` takes
        "activated_at": _iso(seat.activated_at),
        "last_seen": _iso(seat.last_seen),
    }


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
        " (default: license-server.key in ~/.local/share/lightspeed-license-server).",
    ),
    lease_hours: float = float_option(
        72,
        "--lease-hours",
        min=0.01,
        max=MAX_LEASE_HOURS,
        help="How long a client may run without contact.",
    ),
    activate_per_ip: int = int_option(
        10, "--activate-per-ip", min=1, help="Activation attempts per client IP per window."
    ),
    activate_per_key: int = int_option(
        5, "--activate-per-key", min=1, help="Activation attempts per key per window."
    ),
    rate_window: float = float_option(
        60, "--rate-window", min=1, max=MAX_SECONDS, help="Rate-limit window in seconds."
    ),
    max_connections: int = int_option(
        500,
        "--max-connections",
        min=1,
        max=1_000_000,
        help="Open connections at most (slow ones make room).",
    ),
    header_timeout: float = float_option(
        5,
        "--header-timeout",
        min=0.1,
        max=MAX_SECONDS,
        help="Seconds a client has to send its request headers.",
    ),
    body_timeout: float = float_option(
        5,
        "--body-timeout",
        min=0.1,
        max=MAX_SECONDS,
        help="Seconds a client has to send its request body.",
    ),
    db_busy_timeout: float = float_option(
        5,
        "--db-busy-timeout",
        min=0.1,
        max=MAX_SECONDS,
        help="Seconds a request waits for the database lock before a 503 + Retry-After.",
    ),
) -> None:
    """Start the license server (put it behind HTTPS in production)."""
    try:
        from lightspeed_cli.license.listener import build_server, listen_socket
        from lightspeed_cli.license.server import (
            KEY_FILE,
            ServerConfig,
            build_service,
            create_app,
        )
    except ModuleNotFoundError as exc:
        fail_without_server_extra("license-server serve", exc)
    from lightspeed_cli.config.logsetup import configure
    from lightspeed_cli.license.db import DB_FILE, DatabaseBusy, LicenseDBError

    settings = get_settings(ctx, missing_ok=True)
    configure(settings.logging.level, json_lines=settings.logging.json_lines)
    config = ServerConfig(
        lease_hours=lease_hours,
        activate_per_ip=activate_per_ip,
        activate_per_key=activate_per_key,
        rate_window_seconds=rate_window,
        max_connections=max_connections,
        header_timeout_seconds=header_timeout,
        body_timeout_seconds=body_timeout,
        db_busy_timeout_seconds=db_busy_timeout,
    )
    db_path, key_path = _data_file(db, DB_FILE), _data_file(key_file, KEY_FILE)
    try:
        service, created = build_service(db_path, key_path, config)
    except LicenseDBError as exc:
        fail(str(exc), EXIT_USAGE)
    except (OSError, ValueError, DatabaseBusy) as exc:
        fail(str(exc))
    try:
        sock = listen_socket(host, port)  # before the banner: a busy port is said, exit 1
    except OSError as exc:
        service.db.close()
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
    try:
        build_server(create_app(service), config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # Ctrl-C: uvicorn has shut down cleanly
    finally:
        sock.close()
        service.db.close()


@app.command("issue")
def issue_cmd(
    ctx: typer.Context,
    seats: int = int_option(
        1, "--seats", min=1, max=MAX_SEATS, help="Machines that may use the key at once."
    ),
    days: float = float_option(
        30, "--days", min=0.001, max=MAX_DAYS, help="Valid for this many days."
    ),
    note: str = typer.Option("", "--note", help="Free text for you (customer, order...)."),
    feature: list[str] = typer.Option([], "--feature", help="Feature flag in the lease (repeat)."),
    db: Path | None = _DB_OPTION,
) -> None:
    """Create a key. It is shown once here and stored only hashed."""
    with _database(ctx, db, create=True) as database:
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
def list_cmd(
    ctx: typer.Context, db: Path | None = _DB_OPTION, as_json: bool = _JSON_OPTION
) -> None:
    """List keys (ids and masked hints only) with seats in use and status."""
    from rich import box
    from rich.table import Table

    with _database(ctx, db) as database:
        records = database.list_keys()
    now = datetime.now(UTC)
    if as_json:
        _print_json([_key_json(r, now) for r in records])
        return
    if not records:
        console.print("No keys yet: create one with `lightspeed license-server issue`.")
        return
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
    with _database(ctx, db) as database:
        record = database.revoke(_find(database, key).key_id, datetime.now(UTC))
    assert record is not None
    _show(record)


@app.command("extend")
def extend_cmd(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="The key, or its key id from `list`."),
    days: float = float_option(
        ..., "--days", min=0.001, max=MAX_DAYS, help="Days to add to the expiry."
    ),
    db: Path | None = _DB_OPTION,
) -> None:
    """Push a key's expiry back (counted from now if it has already expired).

    A revoked key is left as it is (exit 1): revocation is final, so a longer expiry would
    not let it run again; issue a new key instead.
    """
    with _database(ctx, db) as database:
        record = database.extend(_find(database, key).key_id, days, datetime.now(UTC))
    assert record is not None
    if record.revoked_at is not None:
        fail(
            f"key {record.key_id} was revoked on {_stamp(record.revoked_at)}: nothing changed."
            " Revocation is final, so a later expiry would not let it run again; issue a new"
            " key with `lightspeed license-server issue`"
        )
    _show(record)


@app.command("seats")
def seats_cmd(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="The key, or its key id from `list`."),
    db: Path | None = _DB_OPTION,
    as_json: bool = _JSON_OPTION,
) -> None:
    """List the machines holding a seat of a key, with when each was last seen."""
    from rich import box
    from rich.table import Table

    from lightspeed_cli.license.fingerprint import short_fingerprint

    with _database(ctx, db) as database:
        record = _find(database, key)
        seats = database.seats(record.key_id)
    if as_json:
        now = datetime.now(UTC)
        _print_json({"key": _key_json(record, now), "machines": [_seat_json(s) for s in seats]})
        return
    _show(record)
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
    with _database(ctx, db) as database:
        record = _find(database, key)
        seats = database.seats(record.key_id)
        matches = [s for s in seats if s.machine.startswith(machine.lower())]
        if not matches:
            fail(f"no machine {machine}… holds a seat of key {record.key_id} (see `seats`)")
        if len(matches) > 1:
            fail(
                f"{machine}… matches {len(matches)} machines: give more of the fingerprint",
                EXIT_USAGE,
            )
        database.deactivate(record.key_id, matches[0].machine)
        refreshed = database.get(record.key_id)
    console.print(Text(f"Released the seat of machine {short_fingerprint(matches[0].machine)}"))
    assert refreshed is not None
    _show(refreshed)
