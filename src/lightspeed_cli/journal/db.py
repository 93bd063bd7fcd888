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
_EVERYDAY = "NORMAL"
_DURABLE = "FULL"
WAL_KEEP_BYTES = 4 << 20  # a WAL past this after a checkpoint is truncated, not kept


def connect(path: Path, *, autocheckpoint: bool = True) -> sqlite3.Connection:
    """`autocheckpoint=False`: commits never run a WAL checkpoint themselves (19-31 ms
    measured on the hot path); the owner then calls `checkpoint()` off the loop."""
    prepare_data_dir(path.parent)
    create_private(path)  # 0600 before SQLite creates it; its -wal and -shm follow its mode
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL: a commit survives the process dying at any point (SIGKILL, OOM); only
    # an OS crash or power loss can lose the last few. An order's intent is the exception:
    # it commits through `transaction(durable=True)` (FULL, the WAL fsynced) before the
    # order is sent, so a power loss never forgets an order Bybit may have filled.
    db.execute(f"PRAGMA synchronous={_EVERYDAY}")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=5000")
    db.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
    if not autocheckpoint:
        db.execute("PRAGMA wal_autocheckpoint=0")
    return db


def checkpoint(path: Path, *, truncate: bool = False) -> None:
    """Fold the WAL back into the database, on a connection of its own (thread-safe).

    PASSIVE takes no lock a commit waits for, but leaves the WAL file its size; a burst of
    writes (thousands of rows in a second) must not keep that space for good: a WAL over
    `WAL_KEEP_BYTES`, or `truncate`, gets TRUNCATE (it waits for the writer of the moment,
    busy_timeout, and cuts the file to zero bytes). The connection's journal_size_limit
    trims it too, the next time a writer starts the WAL over."""
    if not truncate and wal_bytes(path) > WAL_KEEP_BYTES:
        truncate = True
    db = sqlite3.connect(path, timeout=5)
    try:
        db.execute(f"PRAGMA wal_checkpoint({'TRUNCATE' if truncate else 'PASSIVE'})").fetchall()
    finally:
        db.close()


def wal_bytes(path: Path) -> int:
    """The size of the journal's WAL file (0 when there is none)."""
    try:
        return path.with_name(path.name + "-wal").stat().st_size
    except FileNotFoundError:
        return 0


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
    db: sqlite3.Connection, on_abort: Callable[[], None], *, durable: bool = False
) -> Iterator[sqlite3.Connection]:
    """One committed write; `on_abort` runs when it is rolled back or its commit fails (what
    the caller cached may then hold what never reached the file). `durable`: the commit runs
    at synchronous=FULL (the WAL is fsynced before COMMIT returns), for what must survive a
    power loss, not only the process dying: an order's intent, before the order is sent."""
    if durable:
        db.execute(f"PRAGMA synchronous={_DURABLE}")
    try:
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
    finally:
        if durable:
            db.execute(f"PRAGMA synchronous={_EVERYDAY}")


def ts(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def dec(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def utc_day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()
