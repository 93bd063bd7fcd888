"""The event log, and the history read (signals joined with their order's outcome)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from lightspeed_cli.journal.db import ts

_HISTORY = (
    "SELECT s.id, s.created_at, s.trader, s.kind, s.symbol, s.side, s.previous_size,"
    " s.new_size, s.decision, s.check_name, s.reason, s.leader_price, s.source_time,"
    " s.snapshot_time, s.repeats, s.last_seen_at, o.client_order_id,"
    " o.symbol AS bybit_symbol, o.quantity,"
    " o.fill_qty, o.fill_price, o.fee, o.status AS order_status, o.sent_at, o.acked_at,"
    " o.slippage_bps, o.detection_latency_ms, o.leader_fill_price, o.leader_fill_at"
    " FROM signals s LEFT JOIN orders o ON o.client_order_id = s.client_order_id"
    " WHERE 1=1"
)


def record(db: sqlite3.Connection, level: str, message: str, at: datetime | None) -> None:
    db.execute(
        "INSERT INTO events (at, level, message) VALUES (?, ?, ?)",
        (ts(at or datetime.now(UTC)), level, message),
    )


def recent(db: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    rows = db.execute("SELECT * FROM events ORDER BY id DESC LIMIT ?", (limit,))
    return [dict(r) for r in rows]


def history(
    db: sqlite3.Connection, *, since: datetime | None, trader: str | None, limit: int
) -> list[dict[str, Any]]:
    """Signals with their order outcome, newest last."""
    sql = _HISTORY
    params: list[Any] = []
    if since is not None:
        sql += " AND s.created_at >= ?"
        params.append(ts(since))
    if trader is not None:
        sql += " AND s.trader = ?"
        params.append(trader)
    sql += " ORDER BY s.id DESC LIMIT ?"
    params.append(limit)
    return [dict(r) for r in reversed(db.execute(sql, params).fetchall())]
