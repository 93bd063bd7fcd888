"""The orders table: each order committed before it is sent (DESIGN rule 3), then its fate."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal

from lightspeed_cli.decisions.fate import ACKNOWLEDGED
from lightspeed_cli.journal.db import dec, ts
from lightspeed_cli.models import Fill, OrderIntent, OrderRow, OrderStatus, Side

REPAIR_KIND = "repair"  # orders.kind of reconcile.py's reduce-only repairs
_ID_CHUNK = 500  # below SQLite's bound-parameter limit


def insert_intent(
    db: sqlite3.Connection,
    intent: OrderIntent,
    signal_id: int,
    *,
    leader_change_at: datetime | None,
    snapshot_at: datetime,
    created_at: datetime,
) -> None:
    db.execute(
        "INSERT INTO orders (client_order_id, signal_id, trader, binance_symbol, symbol,"
        " side, order_side, kind, quantity, reduce_only, leverage, reference_price,"
        " status, leader_change_at, snapshot_at, created_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            intent.client_order_id,
            signal_id,
            intent.trader,
            intent.binance_symbol,
            intent.symbol,
            intent.side.value,
            intent.order_side,
            intent.signal_kind.value,
            str(intent.quantity),
            int(intent.reduce_only),
            intent.leverage,
            str(intent.reference_price),
            OrderStatus.INTENT.value,
            ts(leader_change_at),
            ts(snapshot_at),
            ts(created_at),
        ),
    )


def insert_repair(db: sqlite3.Connection, intent: OrderIntent) -> None:
    db.execute(
        "INSERT INTO orders (client_order_id, trader, binance_symbol, symbol, side,"
        " order_side, kind, quantity, reduce_only, leverage, reference_price, status,"
        " created_at) VALUES (?,?,?,?,?,?,?,?,1,?,?,?,?)",
        (
            intent.client_order_id,
            intent.trader,
            intent.binance_symbol,
            intent.symbol,
            intent.side.value,
            intent.order_side,
            REPAIR_KIND,
            str(intent.quantity),
            intent.leverage,
            str(intent.reference_price),
            OrderStatus.INTENT.value,
            ts(datetime.now(UTC)),
        ),
    )


def get(db: sqlite3.Connection, client_order_id: str) -> OrderRow | None:
    row = db.execute("SELECT * FROM orders WHERE client_order_id=?", (client_order_id,)).fetchone()
    return _row(row) if row else None


def unfinished(db: sqlite3.Connection, *, repairs: bool) -> list[OrderRow]:
    rows = db.execute(
        "SELECT * FROM orders WHERE status IN (?, ?) AND (kind = ?) = ? ORDER BY created_at",
        (OrderStatus.INTENT.value, OrderStatus.UNKNOWN.value, REPAIR_KIND, int(repairs)),
    ).fetchall()
    return [_row(r) for r in rows]


def filled_since(db: sqlite3.Connection, since: datetime) -> list[OrderRow]:
    rows = db.execute(
        "SELECT * FROM orders WHERE status=? AND created_at >= ? ORDER BY created_at",
        (OrderStatus.FILLED.value, ts(since)),
    )
    return [_row(r) for r in rows]


def repair_count(db: sqlite3.Connection, trader: str, symbol: str, side: Side) -> int:
    row = db.execute(
        "SELECT COUNT(*) FROM orders WHERE kind=? AND trader=? AND symbol=? AND side=?",
        (REPAIR_KIND, trader, symbol, side.value),
    ).fetchone()
    return int(row[0])


def known_ids(db: sqlite3.Connection, ids: list[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = db.execute(
            f"SELECT client_order_id FROM orders WHERE client_order_id IN ({marks})", chunk
        )
        known.update(r[0] for r in rows)
    return known


def mark_failed(db: sqlite3.Connection, client_order_id: str, outcome: str, error: str) -> None:
    db.execute(
        "UPDATE orders SET status=?, outcome=?, error=? WHERE client_order_id=?",
        (OrderStatus.FAILED.value, outcome, error, client_order_id),
    )


def mark_acknowledged(db: sqlite3.Connection, client_order_id: str) -> None:
    db.execute(
        "UPDATE orders SET outcome=? WHERE client_order_id=? AND status IN (?, ?)",
        (ACKNOWLEDGED, client_order_id, OrderStatus.INTENT.value, OrderStatus.UNKNOWN.value),
    )


def mark_unknown(db: sqlite3.Connection, client_order_id: str, outcome: str, error: str) -> None:
    db.execute(
        "UPDATE orders SET status=?, outcome=CASE WHEN outcome=? THEN outcome ELSE ? END,"
        " error=? WHERE client_order_id=?",
        (OrderStatus.UNKNOWN.value, ACKNOWLEDGED, outcome, error, client_order_id),
    )


def mark_filled(
    db: sqlite3.Connection,
    client_order_id: str,
    fill: Fill,
    price: Decimal,
    *,
    acked_at: datetime,
    slippage_bps: Decimal | None,
    detection_latency_ms: float | None,
) -> None:
    db.execute(
        "UPDATE orders SET status=?, outcome='filled', exchange_order_id=?, fill_qty=?,"
        " fill_price=?, fee=?, sent_at=COALESCE(?, sent_at), acked_at=?, slippage_bps=?,"
        " detection_latency_ms=? WHERE client_order_id=?",
        (
            OrderStatus.FILLED.value,
            fill.order_id,
            str(fill.quantity),
            str(price),
            str(fill.fee),
            ts(fill.sent_at),
            ts(acked_at),
            dec(slippage_bps),
            detection_latency_ms,
            client_order_id,
        ),
    )


def set_leader_fill(
    db: sqlite3.Connection,
    client_order_id: str,
    price: Decimal,
    at: datetime,
    *,
    slippage_bps: Decimal | None,
    detection_latency_ms: float | None,
) -> None:
    """Slippage and latency measured against the leader's own fill (a None keeps the old)."""
    db.execute(
        "UPDATE orders SET leader_fill_price=?, leader_fill_at=?,"
        " slippage_bps=COALESCE(?, slippage_bps),"
        " detection_latency_ms=COALESCE(?, detection_latency_ms)"
        " WHERE client_order_id=?",
        (dec(price), ts(at), dec(slippage_bps), detection_latency_ms, client_order_id),
    )


def _row(row: sqlite3.Row) -> OrderRow:
    data = dict(row)
    data["reduce_only"] = bool(data["reduce_only"])
    return OrderRow.model_validate(data)
