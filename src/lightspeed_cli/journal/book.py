"""The leader book (per trader, symbol, side: the position as last acted on, with the version
and attempt client order ids are derived from) and each trader's poll state."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from lightspeed_cli.journal.db import ts
from lightspeed_cli.models import BookEntry, Side, Signal, Snapshot, TraderPosition


def entries(db: sqlite3.Connection, trader: str) -> dict[tuple[str, Side], BookEntry]:
    rows = db.execute(
        "SELECT symbol, side, position_json, version, attempt FROM leader_book WHERE trader=?",
        (trader,),
    ).fetchall()
    return {(r["symbol"], Side(r["side"])): _entry(r) for r in rows}


def entry(db: sqlite3.Connection, trader: str, symbol: str, side: Side) -> BookEntry | None:
    row = db.execute(
        "SELECT position_json, version, attempt FROM leader_book"
        " WHERE trader=? AND symbol=? AND side=?",
        (trader, symbol, side.value),
    ).fetchone()
    return _entry(row) if row is not None else None


def snapshot(db: sqlite3.Connection, trader: str) -> Snapshot | None:
    state = db.execute("SELECT baseline_at FROM trader_state WHERE trader=?", (trader,)).fetchone()
    if state is None or state["baseline_at"] is None:
        return None
    positions = tuple(e.position for e in entries(db, trader).values() if e.position is not None)
    return Snapshot(
        trader=trader,
        positions=tuple(sorted(positions, key=lambda p: (p.symbol, p.side))),
        fetched_at=datetime.fromisoformat(state["baseline_at"]),
    )


def set_baseline(db: sqlite3.Connection, snap: Snapshot) -> None:
    for p in snap.positions:
        write(db, snap.trader, p.symbol, p.side, p, bump=False)
    db.execute(
        "INSERT INTO trader_state (trader, baseline_at) VALUES (?, ?)"
        " ON CONFLICT(trader) DO UPDATE SET baseline_at=excluded.baseline_at",
        (snap.trader, ts(snap.fetched_at)),
    )


def write(
    db: sqlite3.Connection,
    trader: str,
    symbol: str,
    side: Side,
    position: TraderPosition | None,
    *,
    bump: bool = True,
) -> None:
    db.execute(
        "INSERT INTO leader_book (trader, symbol, side, position_json, version, attempt,"
        " updated_at) VALUES (?, ?, ?, ?, ?, 0, ?)"
        " ON CONFLICT(trader, symbol, side) DO UPDATE SET position_json=excluded.position_json,"
        " version=leader_book.version + ?, attempt=0, updated_at=excluded.updated_at",
        (
            trader,
            symbol,
            side.value,
            position.model_dump_json() if position is not None else None,
            1 if bump else 0,
            ts(datetime.now(UTC)),
            1 if bump else 0,
        ),
    )


def advance(db: sqlite3.Connection, signal: Signal) -> None:
    """The book moves to the trader's position after `signal` (a first one sets the baseline)."""
    db.execute(
        "INSERT INTO trader_state (trader, baseline_at) VALUES (?, ?)"
        " ON CONFLICT(trader) DO UPDATE SET"
        " baseline_at=COALESCE(trader_state.baseline_at, excluded.baseline_at)",
        (signal.trader, ts(signal.snapshot_time)),
    )
    write(db, signal.trader, signal.symbol, signal.side, signal.position)


def bump_attempt(db: sqlite3.Connection, trader: str, symbol: str, side: Side) -> None:
    db.execute(
        "INSERT INTO leader_book (trader, symbol, side, position_json, version, attempt,"
        " updated_at) VALUES (?, ?, ?, NULL, 0, 1, ?)"
        " ON CONFLICT(trader, symbol, side) DO UPDATE SET attempt=leader_book.attempt + 1",
        (trader, symbol, side.value, ts(datetime.now(UTC))),
    )


def forget(db: sqlite3.Connection) -> None:
    """Every trader's next read becomes a fresh baseline; versions and attempts are kept."""
    db.execute("UPDATE leader_book SET position_json=NULL")
    db.execute("UPDATE trader_state SET baseline_at=NULL")


def record_poll(
    db: sqlite3.Connection,
    trader: str,
    status: str,
    reason: str,
    at: datetime,
    source_time: datetime | None,
) -> None:
    ok_at = ts(at) if status == "ok" else None
    db.execute(
        "INSERT INTO trader_state (trader, last_poll_at, last_status, last_reason, last_ok_at,"
        " last_source_time) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(trader) DO UPDATE SET last_poll_at=excluded.last_poll_at,"
        " last_status=excluded.last_status, last_reason=excluded.last_reason,"
        " last_ok_at=COALESCE(excluded.last_ok_at, trader_state.last_ok_at),"
        " last_source_time=COALESCE(excluded.last_source_time, trader_state.last_source_time)",
        (trader, ts(at), status, reason, ok_at, ts(source_time)),
    )


def trader_states(db: sqlite3.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in db.execute("SELECT * FROM trader_state ORDER BY trader")]


def _entry(row: sqlite3.Row) -> BookEntry:
    position = row["position_json"]
    return BookEntry(
        position=TraderPosition.model_validate_json(position) if position else None,
        version=row["version"],
        attempt=row["attempt"],
    )
