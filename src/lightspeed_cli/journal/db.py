"""The journal's SQLite file: opening it (mode 0600, pragmas), its schema version, transactions,
and how values are written to its TEXT columns."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from lightspeed_cli.config.datadir import create_private, prepare_data_dir
from lightspeed_cli.journal.migrations import MIGRATIONS

JOURNAL_FILE = "journal.sqlite3"


def connect(path: Path, *, autocheckpoint: bool = True) -> sqlite3.Connection:
    """`autocheckpoint=False`: commits never run a WAL checkpoint themselves (19-31 ms
    measured on the hot path); the owner then calls `checkpoint()` off the loop."""
    prepare_data_dir(path.parent)
    create_private(path)  # 0600 before SQLite creates it; its -wal and -shm follow its mode
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL: a commit survives the process dying at any point (SIGKILL, OOM); only
    # an OS crash or power loss can lose the last few. That is covered by the order ids:
    # a lost intent or fill replays the same change under the same orderLinkId, Bybit
    # refuses the copy and the broker looks the original up. FULL cost ~1 ms per commit.
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=5000")
    if not autocheckpoint:
        db.execute("PRAGMA wal_autocheckpoint=0")
    return db


def checkpoint(path: Path) -> None:
    """Fold the WAL back into the database, on a connection of its own (thread-safe)."""
    db = sqlite3.connect(path, timeout=5)
    try:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        db.close()


def schema_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection, path: Path) -> None:
    current = schema_version(db)
    if current > len(MIGRATIONS):
        raise RuntimeError(
            f"{path}: journal schema v{current} is newer than this lightspeed"
            f" (v{len(MIGRATIONS)}); upgrade lightspeed"
        )
    for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
        # one script, one transaction: a crash mid-migration leaves the old version intact
        db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={version};\nCOMMIT;")


@contextmanager
def transaction(
    db: sqlite3.Connection, on_abort: Callable[[], None]
) -> Iterator[sqlite3.Connection]:
    """One committed write; `on_abort` runs when it is rolled back or its commit fails (what
    the caller cached may then hold what never reached the file)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        on_abort()
        raise
    try:
        db.execute("COMMIT")
    except BaseException:
        on_abort()
        raise


def ts(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def dec(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def utc_day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()
