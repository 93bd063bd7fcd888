"""`lightspeed relay ...`: the vendor's signal relay (needs the `server` extra, like
`license-server`). `serve` reads each leader its clients follow once, through the vendor's
Binance exits ([polling] proxies and budget), and pushes signed books over `/v1/stream`;
`status` reads the status file the running relay writes beside its key.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from lightspeed_cli.cli.common import (
    EXIT_USAGE,
    console,
    fail,
    fail_without_server_extra,
    get_settings,
)
from lightspeed_cli.cli.license_server_cmd import server_data_dir
from lightspeed_cli.cli.options import MAX_SECONDS, float_option, int_option
from lightspeed_cli.cli.output import emit_json, json_option

app = typer.Typer(
    help="Run the vendor's signal relay, or show what it is doing.", no_args_is_help=True
)

_DIR_OPTION = typer.Option(
    None,
    "--dir",
    help="Where the relay keeps its key and status (default: the license server's data dir,"
    " ~/.local/share/lightspeed-license-server).",
    file_okay=False,
)


def _relay_dir(explicit: Path | None) -> Path:
    """The vendor's side lives beside the license server, never in a bot's data dir."""
    return explicit.expanduser() if explicit is not None else server_data_dir()


@app.command("serve")
def serve_cmd(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8766, "--port", min=1, max=65535, help="Port to listen on."),
    directory: Path | None = _DIR_OPTION,
    db: Path | None = typer.Option(
        None,
        "--db",
        dir_okay=False,
        help="The license server's database (default: in the license server's data dir).",
    ),
    license_public_key: str = typer.Option(
        "",
        "--license-public-key",
        help="The license server's public key (default: from its key file in its data dir).",
    ),
    read_interval: float = float_option(
        1.0,
        "--read-interval",
        min=0.05,
        max=MAX_SECONDS,
        help="Seconds between reads of one leader.",
    ),
    max_leaders: int = int_option(
        50, "--max-leaders", min=1, max=10_000, help="Leaders one lease may follow."
    ),
    max_connections: int = int_option(
        2, "--max-connections", min=1, max=10_000, help="Connections one lease may hold."
    ),
) -> None:
    """Start the relay (put it behind TLS: clients connect with wss://)."""
    try:
        from lightspeed_cli.relay.server import build_relay, serve_relay
    except ModuleNotFoundError as exc:
        fail_without_server_extra("relay serve", exc)
    from lightspeed_cli.config.logsetup import configure
    from lightspeed_cli.license.db import DB_FILE, LicenseDBError
    from lightspeed_cli.license.listener import listen_socket
    from lightspeed_cli.license.server import KEY_FILE, load_or_create_signing_key
    from lightspeed_cli.license.token import public_key_from_b64
    from lightspeed_cli.relay.config import RelayConfig

    settings = get_settings(ctx, missing_ok=True)
    configure(settings.logging.level, json_lines=settings.logging.json_lines)
    data_dir = _relay_dir(directory)
    server_dir = server_data_dir()
    try:
        if license_public_key:
            license_key = public_key_from_b64(license_public_key)
        else:
            key_file = server_dir / KEY_FILE
            if not key_file.exists():
                fail(
                    f"{key_file}: no license server key here; pass --license-public-key", EXIT_USAGE
                )
            license_key = load_or_create_signing_key(key_file)[0].public_key()
        config = RelayConfig(
            read_interval_seconds=read_interval,
            max_leaders_per_lease=max_leaders,
            max_connections_per_lease=max_connections,
        )
        relay = build_relay(
            data_dir=data_dir,
            license_db=db.expanduser() if db else server_dir / DB_FILE,
            binance=settings.binance,
            polling=settings.polling,
            config=config,
        )
    except LicenseDBError as exc:
        fail(str(exc), EXIT_USAGE)
    except (OSError, ValueError) as exc:
        fail(str(exc))
    try:
        sock = listen_socket(host, port)
    except OSError as exc:
        relay.db.close()
        fail(str(exc))
    console.print(f"relay listening on ws://{host}:{port}/v1/stream")
    console.print(f"relay public key (clients pin it as relay.public_key): {relay.public_key}")
    serve_relay(relay, license_key, sock)


@app.command("status")
def status_cmd(
    ctx: typer.Context,
    directory: Path | None = _DIR_OPTION,
    as_json: bool = json_option(),
) -> None:
    """Leaders read, clients per leader, reads per second and lag, from the running relay."""
    from pydantic import ValidationError

    from lightspeed_cli.relay.status import STATUS_FILE, read_status

    get_settings(ctx, missing_ok=True)  # a named --config that is not there is an error
    path = _relay_dir(directory) / STATUS_FILE
    try:
        status = read_status(path)
    except FileNotFoundError:
        fail(f"{path}: no relay status here (is `relay serve` running with this --dir?)")
    except (OSError, ValidationError) as exc:
        fail(f"{path}: unreadable relay status: {exc}")
    if as_json:
        emit_json(status.model_dump(mode="json"))
        return
    console.print(
        f"written {status.written_at:%Y-%m-%d %H:%M:%S} UTC · {status.clients} client(s) ·"
        f" {status.reads_per_second:.1f} reads/s · {len(status.leaders)} leader(s)"
    )
    table = Table("leader", "clients", "reads", "published", "lag (s)")
    for leader in status.leaders:
        lag = "-" if leader.lag_seconds is None else f"{leader.lag_seconds:.1f}"
        table.add_row(
            leader.leader, str(leader.clients), str(leader.reads), str(leader.published), lag
        )
    console.print(table)
