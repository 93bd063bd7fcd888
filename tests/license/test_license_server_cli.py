"""`lightspeed license-server ...` at its edges: bad or mistyped databases, a port it cannot
take, extending a revoked key, and the `--json` output scripts read."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from lightspeed_cli.cli import app, license_server_cmd
from lightspeed_cli.license.db import LicenseDB
from lightspeed_cli.license.keys import mask_key

KEY_LINE = re.compile(r"^LS(-[0-9A-Z]{5}){6}$", re.MULTILINE)
KEY_FIELDS = {
    "key_id",
    "key",
    "status",
    "seats",
    "seats_used",
    "created_at",
    "expires_at",
    "revoked_at",
    "note",
    "features",
}
SEAT_FIELDS = {"machine", "activated_at", "last_seen"}
MACHINE = "0123456789abcdef" + "ab" * 24
ADMIN_ONLY = [
    ("list",),
    ("revoke", "0123456789abcdef"),
    ("extend", "0123456789abcdef", "--days", "5"),
    ("seats", "0123456789abcdef"),
    ("release", "0123456789abcdef", "01234567"),
]


@pytest.fixture
def cli(tmp_path: Path):
    """Run `lightspeed --config <tmp config> ...`; the data dir is in tmp_path."""
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n')

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, ["--config", str(config), *args])

    return run


def _one_clear_error(result: Result, code: int, *needles: str) -> None:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and all(n in errors[0] for n in needles), result.output


@pytest.fixture
def issued(cli, tmp_path: Path) -> tuple[str, str]:
    """(db path, full key) for a database holding one key."""
    db = str(tmp_path / "keys.sqlite3")
    result = cli("license-server", "issue", "--seats", "2", "--note", "bob", "--db", db)
    assert result.exit_code == 0, result.output
    return db, KEY_LINE.search(result.output).group(0)


@pytest.mark.parametrize(
    "command",
    [("list",), ("issue",), ("seats", "0123456789abcdef"), ("serve", "--port", "1")],
    ids=lambda c: c[0],
)
def test_a_file_that_is_not_sqlite_is_one_clear_line_and_exit_2(
    cli, tmp_path: Path, command: tuple[str, ...]
) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("shopping list\n")
    key_file = tmp_path / "server.key"
    extra = ("--key-file", str(key_file)) if command[0] == "serve" else ()
    result = cli("license-server", *command, "--db", str(junk), *extra)
    _one_clear_error(result, 2, str(junk), "not a usable license database")
    assert junk.read_text() == "shopping list\n"
    assert "Listening" not in result.output and not key_file.exists()


@pytest.mark.parametrize("command", ADMIN_ONLY, ids=lambda c: c[0])
def test_a_mistyped_db_is_an_error_and_creates_nothing(
    cli, tmp_path: Path, command: tuple[str, ...]
) -> None:
    typo = tmp_path / "licnese" / "keys.sqlite3"
    _one_clear_error(
        cli("license-server", *command, "--db", str(typo)), 2, "no license database at"
    )
    assert not typo.parent.exists()
    # the default database (in the data dir) is not created either
    _one_clear_error(cli("license-server", *command), 2, "no license database at")
    assert not (tmp_path / "data").exists()


def test_another_sqlite_database_is_refused(cli, tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    with sqlite3.connect(journal) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER)")
    before = journal.read_bytes()
    for command in (("list",), ("issue",)):
        result = cli("license-server", *command, "--db", str(journal))
        _one_clear_error(result, 2, "not a license database")
    assert journal.read_bytes() == before


def test_a_locked_database_is_one_clear_line_and_exit_1(
    cli, issued, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(license_server_cmd, "ADMIN_BUSY_TIMEOUT_SECONDS", 0.2)
    db, key = issued
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        for command in (("issue",), ("revoke", key), ("extend", key, "--days", "1")):
            result = cli("license-server", *command, "--db", db)
            _one_clear_error(result, 1, "locked by another process", "try again")
        assert cli("license-server", "list", "--db", db).exit_code == 0  # reading still works
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert cli("license-server", "revoke", key, "--db", db).exit_code == 0


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _serve(cli, tmp_path: Path, *args: str) -> Result:
    db, key = tmp_path / "srv.sqlite3", tmp_path / "srv.key"
    return cli("license-server", "serve", "--db", str(db), "--key-file", str(key), *args)


def test_serve_on_a_busy_port_says_so_and_exits_1(cli, tmp_path: Path, busy_port: int) -> None:
    result = _serve(cli, tmp_path, "--port", str(busy_port))
    _one_clear_error(result, 1, f"cannot listen on 127.0.0.1:{busy_port}", "already in use")
    assert "Listening" not in result.output


@pytest.mark.parametrize(
    ("host", "why"),
    [("192.0.2.1", "Cannot assign requested address"), ("no-such-host.invalid", "unknown host")],
)
def test_serve_on_a_bad_host_says_so_and_exits_1(cli, tmp_path: Path, host: str, why: str) -> None:
    result = _serve(cli, tmp_path, "--host", host, "--port", "8765")
    _one_clear_error(result, 1, f"cannot listen on {host}:8765", why)
    assert "Listening" not in result.output


def test_extend_on_a_revoked_key_changes_nothing_and_says_so(cli, issued) -> None:
    db, key = issued
    assert cli("license-server", "revoke", key, "--db", db).exit_code == 0
    before = json.loads(cli("license-server", "list", "--json", "--db", db).output)[0]
    result = cli("license-server", "extend", key, "--days", "30", "--db", db)
    _one_clear_error(result, 1, "was revoked", "nothing changed", "issue a new key")
    after = json.loads(cli("license-server", "list", "--json", "--db", db).output)[0]
    assert after == before and after["status"] == "revoked"


def test_list_json_has_stable_keys_and_masks_the_key(cli, issued, tmp_path: Path) -> None:
    db, key = issued
    empty = tmp_path / "empty.sqlite3"
    LicenseDB(empty).close()
    assert json.loads(cli("license-server", "list", "--json", "--db", str(empty)).output) == []

    result = cli("license-server", "list", "--json", "--db", db)
    assert result.exit_code == 0, result.output
    assert key not in result.output and key[3:].replace("-", "") not in result.output
    [entry] = json.loads(result.output)
    assert set(entry) == KEY_FIELDS
    assert entry["key"] == mask_key(key) and entry["status"] == "active"
    assert (entry["seats"], entry["seats_used"], entry["note"]) == (2, 0, "bob")
    assert entry["revoked_at"] is None and entry["features"] == []
    assert entry["expires_at"].endswith("+00:00")


def test_seats_json_lists_machines_as_release_takes_them(cli, issued) -> None:
    db, key = issued
    database = LicenseDB(Path(db))
    record = database.find(key)
    assert record is not None
    database.activate(record.key_id, MACHINE, datetime.now(UTC))
    database.close()

    result = cli("license-server", "seats", record.key_id, "--json", "--db", db)
    assert result.exit_code == 0, result.output
    assert key not in result.output and MACHINE not in result.output
    data = json.loads(result.output)
    assert set(data) == {"key", "machines"} and set(data["key"]) == KEY_FIELDS
    assert data["key"]["key"] == mask_key(key) and data["key"]["seats_used"] == 1
    [seat] = data["machines"]
    assert set(seat) == SEAT_FIELDS and seat["machine"] == MACHINE[:16]
    released = cli("license-server", "release", key, seat["machine"], "--db", db)
    assert released.exit_code == 0, released.output
    after = json.loads(cli("license-server", "seats", key, "--json", "--db", db).output)
    assert after["machines"] == [] and after["key"]["seats_used"] == 0
