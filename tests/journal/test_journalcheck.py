"""journalcheck.py: damage is found at start and on a mid-run error; recover keeps what it can."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from journal_damage import damage_middle, grow_journal
from lightspeed_cli.journal import integrity as journalcheck
from lightspeed_cli.journal.store import Journal


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    path = tmp_path / "journal.sqlite3"
    grow_journal(path)
    assert journalcheck.check_file(path) == []
    damage_middle(path)
    return path


def test_damage_in_the_middle_is_found_before_anything_trades(damaged: Path) -> None:
    assert journalcheck.check_file(damaged)
    with pytest.raises(journalcheck.JournalDamaged) as caught:
        journalcheck.open_checked(damaged)
    message = str(caught.value)
    assert "is damaged" in message and "lightspeed journal recover" in message


def test_damage_words_tell_a_broken_file_from_a_full_disk() -> None:
    assert journalcheck.is_damage(sqlite3.DatabaseError("database disk image is malformed"))
    assert journalcheck.is_damage(sqlite3.DatabaseError("file is not a database"))
    assert not journalcheck.is_damage(sqlite3.OperationalError("database or disk is full"))
    assert not journalcheck.is_damage(sqlite3.OperationalError("disk I/O error"))
    assert not journalcheck.is_damage(sqlite3.OperationalError("database is locked"))


async def test_diagnose_runs_quick_check_when_the_error_does_not_say(damaged: Path) -> None:
    io_error = sqlite3.OperationalError("disk I/O error")
    assert await journalcheck.diagnose(damaged, io_error) is not None
    sound = damaged.with_name("sound.sqlite3")
    Journal(sound).close()
    assert await journalcheck.diagnose(sound, io_error) is None


def test_recover_keeps_the_readable_rows_and_the_damaged_file(damaged: Path) -> None:
    with Journal(damaged.with_name("x.sqlite3")) as other:
        schema_tables = {r[0] for r in other._db.execute("SELECT name FROM sqlite_master")}
    report = journalcheck.recover(damaged, datetime(2026, 11, 30, 12, 0, 5, tzinfo=UTC))
    assert report.kept_as.name == "journal.sqlite3.damaged-20261130T120005Z"
    assert report.kept_as.exists()
    assert journalcheck.check_file(damaged) == []
    assert "events" in report.damaged_tables
    kept = next(t.rows for t in report.tables if t.table == "events")
    assert 19_000 < kept < 20_000  # a few pages' worth lost, everything after them kept
    with Journal(damaged) as journal:  # opens, migrated, usable
        assert journal.schema_version >= 1
        journal.record_event("info", "after recovery")
        ids = [r[0] for r in journal._db.execute("SELECT id FROM events ORDER BY id DESC LIMIT 1")]
        assert ids[0] > 19_000  # the AUTOINCREMENT sequence survived: no id reused
        tables = {r[0] for r in journal._db.execute("SELECT name FROM sqlite_master")}
        assert tables == schema_tables
        instance = journal.instance_id
    assert len(instance) == 16


def test_recover_of_a_file_with_a_damaged_first_page_still_gives_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    grow_journal(path, events=100)
    with path.open("r+b") as f:
        f.write(b"\xff" * 4096)
    assert journalcheck.check_file(path)
    report = journalcheck.recover(path)
    assert report.rows == 0
    assert journalcheck.check_file(path) == []
    Journal(path).close()


async def test_a_full_disk_is_an_alert_and_damage_a_stop(damaged: Path) -> None:
    from lightspeed_cli.notify.alerts import Alerts, Kind

    alerts = Alerts(None)
    sound = damaged.with_name("sound.sqlite3")
    Journal(sound).close()
    full = sqlite3.OperationalError("database or disk is full")
    assert await journalcheck.handle_error(sound, full, alerts) is None
    assert alerts.is_active(Kind.JOURNAL, "disk") and "df -h" in alerts.sent[-1]
    stop = await journalcheck.handle_error(damaged, full, alerts)
    assert stop is not None and alerts.is_active(Kind.JOURNAL, "journal")
    assert "trading stopped" in alerts.sent[-1] and "journal recover" in alerts.sent[-1]
