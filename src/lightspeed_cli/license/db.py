"""The license server's SQLite store: keys (hashed) and the machines activated on each.

The server and the admin commands open the same file (WAL, so `issue` or `revoke` work while
`serve` runs). Times are whole UTC seconds. Seat accounting happens inside one IMMEDIATE
transaction, so two machines racing for the last seat cannot both get it.

Only `serve` and `issue` may create the file: the other admin commands open it with
`create=False`, so a mistyped `--db` is an error rather than a new empty database. A file that
is not SQLite, or a SQLite file of something else (the bot's journal), is refused untouched.
Waiting on the lock is bounded (`busy_timeout`): past it, `DatabaseBusy`, which the server
answers with 503 and the admin commands with a clear line.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel

from lightspeed_cli.license.keys import (
    generate_key,
    key_hash,
    key_id,
    looks_like_key_id,
    mask_key,
    parse_key,
)
from lightspeed_cli.license.token import from_epoch, to_epoch

DB_FILE = "license-server.sqlite3"  # in the data dir unless --db says otherwise

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    key_id      TEXT PRIMARY KEY,
    key_hash    TEXT NOT NULL UNIQUE,
    hint        TEXT NOT NULL,
    seats       INTEGER NOT NULL CHECK (seats > 0),
    features    TEXT NOT NULL DEFAULT '[]',
    note        TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE TABLE IF NOT EXISTS activations (
    key_id       TEXT NOT NULL REFERENCES keys(key_id),
    machine      TEXT NOT NULL,
    activated_at INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL,
    PRIMARY KEY (key_id, machine)
);
"""
_SELECT_KEY = """
SELECT k.key_id, k.hint, k.seats, k.features, k.note, k.created_at, k.expires_at, k.revoked_at,
       (SELECT COUNT(*) FROM activations a WHERE a.key_id = k.key_id) AS seats_used
FROM keys k
"""


class KeyStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


MAX_KEY_DAYS = 36_500.0  # a hundred years: any longer overflows a date sooner or later
MAX_SEATS = 1_000_000


def _bounded_days(days: float) -> timedelta:
    if not (math.isfinite(days) and 0 < days <= MAX_KEY_DAYS):
        raise ValueError(f"days must be above 0 and at most {MAX_KEY_DAYS:g} (got {days})")
    return timedelta(days=days)


class KeyRecord(BaseModel):
    key_id: str
    hint: str
    seats: int
    seats_used: int
    features: tuple[str, ...]
    note: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def status(self, now: datetime) -> KeyStatus:
        if self.revoked_at is not None:
            return KeyStatus.REVOKED
        if now >= self.expires_at:
            return KeyStatus.EXPIRED
        return KeyStatus.ACTIVE


class Seat(BaseModel):
    """One machine holding a seat: `machine` is its fingerprint (a hash, never raw ids)."""

    machine: str
    activated_at: datetime
    last_seen: datetime


class SeatsExhausted(Exception):
    def __init__(self, record: KeyRecord) -> None:
        super().__init__(f"all {record.seats} seat(s) of key {record.key_id} are in use")
        self.record = record


class LicenseDBError(Exception):
    """The file cannot be used as the license database (missing, not SQLite, something else)."""


class DatabaseBusy(Exception):
    """Another connection held the database lock for longer than the busy timeout."""

    def __init__(self, timeout: float) -> None:
        super().__init__(
            f"the license database stayed locked by another process for more than {timeout:g} s;"
            " try again"
        )
        self.timeout = timeout


_SQLITE_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _is_busy(exc: sqlite3.Error) -> bool:
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in _SQLITE_BUSY_CODES


def _connect(path: Path, *, create: bool, busy_timeout: float) -> sqlite3.Connection:
    """Open (or, with `create`, make) the license database, touching no other kind of file."""
    if not create and not path.is_file():
        raise LicenseDBError(
            f"no license database at {path} (check --db; `license-server issue` or `serve`"
            " creates one)"
        )
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        uri = f"{path.resolve().as_uri()}?mode={'rwc' if create else 'rw'}"
        conn = sqlite3.connect(
            uri, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
    except (OSError, sqlite3.Error) as exc:
        raise LicenseDBError(f"cannot open the license database {path}: {exc}") from None
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if (not tables and not create) or (tables and not {"keys", "activations"} <= tables):
            raise LicenseDBError(f"{path} is not a license database (check --db)")
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executescript(_SCHEMA)
    except sqlite3.Error as exc:
        conn.close()
        if _is_busy(exc):
            raise DatabaseBusy(busy_timeout) from None
        raise LicenseDBError(f"{path} is not a usable license database: {exc}") from None
    except LicenseDBError:
        conn.close()
        raise
    return conn


class LicenseDB:
    def __init__(self, path: Path, *, create: bool = True, busy_timeout: float = 5.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._conn = _connect(path, create=create, busy_timeout=busy_timeout)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @property
    def in_use(self) -> bool:
        """Some thread holds the connection now (working, or waiting on SQLite's lock)."""
        return self._lock.locked()

    @contextmanager
    def _session(self) -> Iterator[sqlite3.Connection]:
        """The connection, to this thread alone; waiting for it or for SQLite is bounded."""
        if not self._lock.acquire(timeout=self.busy_timeout):
            raise DatabaseBusy(self.busy_timeout)
        try:
            yield self._conn
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise DatabaseBusy(self.busy_timeout) from None
            raise
        finally:
            self._lock.release()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._session() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @staticmethod
    def _record(row: sqlite3.Row) -> KeyRecord:
        return KeyRecord(
            key_id=row["key_id"],
            hint=row["hint"],
            seats=row["seats"],
            seats_used=row["seats_used"],
            features=tuple(json.loads(row["features"])),
            note=row["note"],
            created_at=from_epoch(row["created_at"]),
            expires_at=from_epoch(row["expires_at"]),
            revoked_at=from_epoch(row["revoked_at"]) if row["revoked_at"] is not None else None,
        )

    def _get(self, conn: sqlite3.Connection, kid: str) -> KeyRecord | None:
        row = conn.execute(_SELECT_KEY + "WHERE k.key_id = ?", (kid,)).fetchone()
        return self._record(row) if row else None

    def get(self, kid: str) -> KeyRecord | None:
        with self._session() as conn:
            return self._get(conn, kid)

    def get_by_key(self, canonical_key: str) -> KeyRecord | None:
        """Look a key up by its hash, the only form stored."""
        with self._session() as conn:
            row = conn.execute(
                _SELECT_KEY + "WHERE k.key_hash = ?", (key_hash(canonical_key),)
            ).fetchone()
        return self._record(row) if row else None

    def find(self, key_or_id: str) -> KeyRecord | None:
        """Admin lookup: a full key (any accepted spelling) or a key_id from `list`."""
        text = key_or_id.strip()
        if looks_like_key_id(text):
            return self.get(text)
        return self.get_by_key(parse_key(text))

    def list_keys(self) -> list[KeyRecord]:
        with self._session() as conn:
            rows = conn.execute(_SELECT_KEY + "ORDER BY k.created_at, k.key_id").fetchall()
        return [self._record(r) for r in rows]

    def issue(
        self, *, seats: int, days: float, note: str, features: tuple[str, ...], now: datetime
    ) -> tuple[str, KeyRecord]:
        """Create a key; the returned key text is never stored and cannot be shown again.
        ValueError for seats or days out of bounds (an overflow would be stored for good)."""
        if not 1 <= seats <= MAX_SEATS:
            raise ValueError(f"seats must be 1 to {MAX_SEATS} (got {seats})")
        expires = now + _bounded_days(days)
        key = generate_key()
        kid = key_id(key)
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO keys (key_id, key_hash, hint, seats, features, note, created_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    kid,
                    key_hash(key),
                    mask_key(key),
                    seats,
                    json.dumps(list(features)),
                    note,
                    to_epoch(now),
                    to_epoch(expires),
                ),
            )
            record = self._get(conn, kid)
        assert record is not None
        return key, record

    def revoke(self, kid: str, now: datetime) -> KeyRecord | None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE keys SET revoked_at = COALESCE(revoked_at, ?) WHERE key_id = ?",
                (to_epoch(now), kid),
            )
            return self._get(conn, kid)

    def extend(self, kid: str, days: float, now: datetime) -> KeyRecord | None:
        """Add days to the expiry, counted from now if the key has already expired.

        A revoked key is left unchanged (revocation is final); the caller sees `revoked_at`.
        ValueError if the expiry would end more than MAX_KEY_DAYS from now."""
        added = int(_bounded_days(days).total_seconds())
        latest = to_epoch(now + timedelta(days=MAX_KEY_DAYS))
        with self._tx() as conn:
            row = conn.execute("SELECT expires_at FROM keys WHERE key_id = ?", (kid,)).fetchone()
            if row is not None and max(int(row[0]), to_epoch(now)) + added > latest:
                raise ValueError(
                    f"the expiry would end more than {MAX_KEY_DAYS:g} days from now: extend by"
                    " fewer days"
                )
            conn.execute(
                "UPDATE keys SET expires_at = MAX(expires_at, ?) + ?"
                " WHERE key_id = ? AND revoked_at IS NULL",
                (to_epoch(now), added, kid),
            )
            return self._get(conn, kid)

    def set_expiry(self, kid: str, expires_at: datetime) -> KeyRecord | None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE keys SET expires_at = ? WHERE key_id = ?", (to_epoch(expires_at), kid)
            )
            return self._get(conn, kid)

    def activate(self, kid: str, machine: str, now: datetime) -> KeyRecord:
        """Take a seat for `machine` (idempotent), or raise SeatsExhausted."""
        with self._tx() as conn:
            record = self._get(conn, kid)
            if record is None:
                raise KeyError(kid)
            held = conn.execute(
                "SELECT 1 FROM activations WHERE key_id = ? AND machine = ?", (kid, machine)
            ).fetchone()
            if held:
                conn.execute(
                    "UPDATE activations SET last_seen = ? WHERE key_id = ? AND machine = ?",
                    (to_epoch(now), kid, machine),
                )
            elif record.seats_used >= record.seats:
                raise SeatsExhausted(record)
            else:
                conn.execute(
                    "INSERT INTO activations (key_id, machine, activated_at, last_seen)"
                    " VALUES (?, ?, ?, ?)",
                    (kid, machine, to_epoch(now), to_epoch(now)),
                )
            updated = self._get(conn, kid)
        assert updated is not None
        return updated

    def touch(self, kid: str, machine: str, now: datetime) -> bool:
        """Record a heartbeat; False when this machine holds no seat of the key."""
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE activations SET last_seen = ? WHERE key_id = ? AND machine = ?",
                (to_epoch(now), kid, machine),
            )
            return cur.rowcount > 0

    def deactivate(self, kid: str, machine: str) -> bool:
        """Free the seat; False when there was none."""
        with self._tx() as conn:
            cur = conn.execute(
                "DELETE FROM activations WHERE key_id = ? AND machine = ?", (kid, machine)
            )
            return cur.rowcount > 0

    def seats(self, kid: str) -> list[Seat]:
        """The machines holding a seat of the key, most recently seen first."""
        with self._session() as conn:
            rows = conn.execute(
                "SELECT machine, activated_at, last_seen FROM activations WHERE key_id = ?"
                " ORDER BY last_seen DESC, machine",
                (kid,),
            ).fetchall()
        return [
            Seat(
                machine=r["machine"],
                activated_at=from_epoch(r["activated_at"]),
                last_seen=from_epoch(r["last_seen"]),
            )
            for r in rows
        ]
