"""Small named values in the journal's meta table, and the per-journal id salt among them."""

from __future__ import annotations

import secrets
import sqlite3

INSTANCE_KEY = "instance_id"


def get(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return str(row[0]) if row else None


def put(db: sqlite3.Connection, key: str, value: str | None) -> None:
    """Set `key` (None removes it)."""
    if value is None:
        db.execute("DELETE FROM meta WHERE key=?", (key,))
    else:
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )


def new_salt() -> str:
    return secrets.token_hex(8)


def instance_id(db: sqlite3.Connection) -> str:
    """The salt, drawn on first read (a concurrent first reader's draw wins: INSERT OR IGNORE)."""
    row = db.execute("SELECT value FROM meta WHERE key='instance_id'").fetchone()
    if row:
        return str(row["value"])
    db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('instance_id', ?)", (new_salt(),))
    return str(db.execute("SELECT value FROM meta WHERE key='instance_id'").fetchone()[0])
