"""A damaged journal is a loud stop, and `lightspeed journal recover` rebuilds what it can.

A damaged page in `journal.sqlite3` used to show only mid-run, as a `DatabaseError` on every
poll: the bot kept running, mirrored no close and told nobody. Now the file is checked at start
(`PRAGMA quick_check`) and again on any database error while running; damage stops trading with
exit code 3 (systemd does not restart it), a clear message and a webhook alert.

`recover` moves the damaged file (and its -wal / -shm) aside with a timestamp and copies every
row it can still read, table by table, into a fresh journal; the bot's start-up reconciliation
with Bybit (the truth) then settles what was lost.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lightspeed_cli.journal.store import Journal
from lightspeed_cli.notify.alerts import Alerts, Kind

log = logging.getLogger(__name__)

RECOVER_ACTION = (
    "stop the bot if it still runs, then run `lightspeed journal recover` (add --paper for the"
    " paper journal) and start it again: at start it reconciles with Bybit, which is the truth."
    " Until then nothing is mirrored: watch your Bybit positions."
)
DISK_ACTION = (
    "free disk space or check the disk (`df -h`, `dmesg`); until the journal can be written no"
    " order is sent, and the bot tries again on every poll"
)
DAMAGE_WORDS = ("malformed", "not a database", "corrupt", "encrypted")
SCAN_BATCH = 500


class JournalDamaged(Exception):
    """The journal file is damaged; the message says which file and what to do."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        # quick_check's lines ("*** in database main ***\nPage 5: ...") on one line: the
        # message is one line with what to do at its end
        self.detail = detail = " ".join(detail.split())
        self.what = f"the journal {path} is damaged ({detail}): trading stopped"
        super().__init__(f"{self.what}. What to do: {RECOVER_ACTION}")


def is_damage(exc: BaseException) -> bool:
    """A damaged file, as opposed to a full disk, an I/O error or a busy database (which may
    pass: those are alerts, and trading goes on once the journal can be written again)."""
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return True  # "database disk image is malformed", "file is not a database"
    return any(word in str(exc).lower() for word in DAMAGE_WORDS)


def quick_check(db: sqlite3.Connection, limit: int = 5) -> list[str]:
    """SQLite's structural check (seconds on a large file, no index content compare): the
    problems found, [] when the file is sound."""
    try:
        rows = [str(r[0]) for r in db.execute(f"PRAGMA quick_check({int(limit)})")]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [] if rows == ["ok"] else rows


def check_file(path: Path) -> list[str]:
    """quick_check of the file at `path` on a connection of its own; [] if sound or absent."""
    if not path.exists():
        return []
    try:
        db = sqlite3.connect(path, timeout=5)
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    try:
        return quick_check(db)
    finally:
        db.close()


def open_checked(path: Path, **kwargs: bool) -> Journal:
    """The journal at `path`, checked first; JournalDamaged if it is not sound."""
    problems = check_file(path)
    if problems:
        raise JournalDamaged(path, "; ".join(problems[:3]))
    try:
        return Journal(path, **kwargs)
    except sqlite3.DatabaseError as exc:
        if is_damage(exc):
            raise JournalDamaged(path, str(exc)) from None
        raise


async def diagnose(path: Path, exc: sqlite3.DatabaseError) -> JournalDamaged | None:
    """After a database error mid-run: JournalDamaged if the file is damaged (the error says
    so, or quick_check, run in a thread, finds damage); None for a disk or lock problem."""
    import asyncio

    problems = [str(exc)] if is_damage(exc) else await asyncio.to_thread(check_file, path)
    return JournalDamaged(path, "; ".join(problems[:3])) if problems else None


async def handle_error(
    path: Path, exc: sqlite3.DatabaseError, alerts: Alerts
) -> JournalDamaged | None:
    """A database error in the running engine: JournalDamaged (said loudly) if the file is
    damaged, and trading must stop; None for a full disk or an I/O error, which is an alert
    while the loop goes on (nothing is sent that is not journaled first)."""
    damaged = await diagnose(path, exc)
    if damaged is None:
        log.error("journal write failed: %s", exc)
        alerts.raise_(Kind.JOURNAL, "disk", f"the journal cannot be written: {exc}", DISK_ACTION)
        return None
    log.error("%s", damaged)
    alerts.raise_(Kind.JOURNAL, "journal", damaged.what, RECOVER_ACTION)
    return damaged


# ---- recovery ------------------------------------------------------------------------------


@dataclass
class TableRecovery:
    table: str
    rows: int = 0
    damaged: bool = False  # some of its rows could not be read


@dataclass
class RecoveryReport:
    path: Path
    kept_as: Path
    tables: list[TableRecovery] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def damaged_tables(self) -> list[str]:
        return [t.table for t in self.tables if t.damaged]


def _companions(path: Path) -> list[tuple[Path, str]]:
    return [(path.with_name(path.name + s), s) for s in ("-wal", "-shm")]


def move_aside(path: Path, now: datetime) -> Path:
    """Rename the damaged file and its -wal / -shm to `<name>.damaged-<UTC time>`."""
    aside = path.with_name(f"{path.name}.damaged-{now:%Y%m%dT%H%M%SZ}")
    os.replace(path, aside)
    for companion, suffix in _companions(path):
        if companion.exists():
            os.replace(companion, aside.with_name(aside.name + suffix))
    return aside


def _rows(db: sqlite3.Connection, table: str, columns: str) -> Iterator[tuple[object, ...]]:
    """Every row still readable, in rowid order. On a damaged page, jump ahead (doubling the
    jump) until a read works again, then search back for the first rowid readable after the
    damage. Yields () once per damaged stretch; never raises for damage."""
    query = f'SELECT rowid, {columns} FROM "{table}" WHERE rowid > ? ORDER BY rowid LIMIT ?'

    def read(after: int, limit: int) -> list[sqlite3.Row] | None:
        try:
            return db.execute(query, (after, limit)).fetchall()
        except sqlite3.DatabaseError:
            return None

    last = -(2**63)
    while True:
        count = 0
        try:
            for row in db.execute(query, (last, SCAN_BATCH)):
                yield tuple(row[1:])
                last, count = int(row[0]), count + 1
        except sqlite3.DatabaseError:
            pass
        else:
            if count < SCAN_BATCH:
                return
            continue
        yield ()
        failed, jump = last, 1
        while read(last + jump, 1) is None:
            if last + jump >= 2**62:
                return
            failed, jump = last + jump, jump * 2
        good = last + jump
        while good - failed > 1:  # the first readable start after the damage
            middle = (good + failed) // 2
            if read(middle, 1) is None:
                failed = middle
            else:
                good = middle
        last = good


def _copy_table(old: sqlite3.Connection, new: sqlite3.Connection, table: str) -> TableRecovery:
    result = TableRecovery(table)
    wanted = [r[1] for r in new.execute(f'PRAGMA table_info("{table}")')]
    try:
        have = {r[1] for r in old.execute(f'PRAGMA table_info("{table}")')}
    except sqlite3.DatabaseError:
        have = set()
    columns = [c for c in wanted if c in have] or wanted  # a lost schema: try the current one
    names = ", ".join(f'"{c}"' for c in columns)
    insert = f'INSERT OR IGNORE INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'
    try:
        for row in _rows(old, table, names):
            if not row:
                result.damaged = True
                continue
            try:
                new.execute(insert, row)
                result.rows += 1
            except sqlite3.DatabaseError:  # a row the damage garbled (NOT NULL, types)
                result.damaged = True
    except sqlite3.DatabaseError:
        result.damaged = True
    return result


def recover(path: Path, now: datetime | None = None) -> RecoveryReport:
    """Rebuild `path` from what is readable; the damaged file is kept beside it. The caller
    holds the instance lock (no bot may run meanwhile)."""
    now = now or datetime.now(UTC)
    aside = move_aside(path, now)
    fresh = path.with_name(path.name + ".recovering")
    fresh.unlink(missing_ok=True)
    Journal(fresh).close()  # the current schema
    report = RecoveryReport(path, aside)
    old = sqlite3.connect(f"file:{aside}?mode=ro", uri=True)
    new = sqlite3.connect(fresh, isolation_level=None)
    try:
        new.execute("PRAGMA foreign_keys=OFF")  # orders may outlive their damaged signal row
        new.execute("BEGIN")
        tables = [
            r[0]
            for r in new.execute(
                "SELECT name FROM sqlite_master WHERE type='table'"
                " AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        for table in tables:
            report.tables.append(_copy_table(old, new, table))
        new.execute("COMMIT")
        new.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        old.close()
        new.close()
    problems = check_file(fresh)
    if problems:  # cannot happen short of a failing disk; never install a bad rebuild
        raise JournalDamaged(fresh, "; ".join(problems[:3]))
    for companion, _ in _companions(fresh):
        companion.unlink(missing_ok=True)
    os.replace(fresh, path)
    os.chmod(path, 0o600)
    return report
