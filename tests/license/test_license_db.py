"""The license store's edges: it creates only when asked, touches no other file, waits boundedly."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lightspeed_cli.license.db import DatabaseBusy, LicenseDB, LicenseDBError

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def test_opening_without_create_never_makes_a_file_or_folder(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "license.sqlite3"
    with pytest.raises(LicenseDBError, match="no license database at"):
        LicenseDB(missing, create=False)
    assert not missing.parent.exists()
    LicenseDB(missing).close()  # create=True (serve, issue) makes both
    LicenseDB(missing, create=False).close()


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_bytes(b"not a database at all\n" * 100)
    for create in (False, True):
        with pytest.raises(LicenseDBError, match="not a usable license database"):
            LicenseDB(junk, create=create)
    assert junk.read_bytes() == b"not a database at all\n" * 100


def test_another_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    """The bot's journal passed as --db by mistake gets no license tables and no WAL switch."""
    other = tmp_path / "journal.sqlite3"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER)")
    for create in (False, True):
        with pytest.raises(LicenseDBError, match="not a license database"):
            LicenseDB(other, create=create)
    with sqlite3.connect(other) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert tables == {"orders"}
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_an_empty_file_is_not_a_license_database_unless_creating(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    with pytest.raises(LicenseDBError, match="not a license database"):
        LicenseDB(empty, create=False)
    LicenseDB(empty, create=True).close()
    LicenseDB(empty, create=False).close()


def test_extend_leaves_a_revoked_key_as_it_is(tmp_path: Path) -> None:
    db = LicenseDB(tmp_path / "db.sqlite3")
    _, record = db.issue(seats=1, days=10, note="", features=(), now=NOW)
    db.revoke(record.key_id, NOW)
    after = db.extend(record.key_id, 30, NOW)
    assert after is not None and after.revoked_at is not None
    assert after.expires_at == record.expires_at


def test_a_held_lock_is_database_busy_not_a_raw_sqlite_error(tmp_path: Path) -> None:
    db = LicenseDB(tmp_path / "db.sqlite3", busy_timeout=0.1)
    _, record = db.issue(seats=1, days=10, note="", features=(), now=NOW)
    holder = sqlite3.connect(db.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert db.get(record.key_id) is not None  # WAL: reads still work
        with pytest.raises(DatabaseBusy, match="locked by another process"):
            db.activate(record.key_id, "ab" * 32, NOW)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert db.activate(record.key_id, "ab" * 32, NOW).seats_used == 1
    assert not db.in_use
