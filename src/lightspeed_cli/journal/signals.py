"""The signals table: every change the bot saw in a leader's book, and what it decided."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal

from lightspeed_cli.journal.db import dec, ts
from lightspeed_cli.models import Side, Signal, SignalDecision, SignalKind, TraderPosition


def insert(
    db: sqlite3.Connection,
    signal: Signal,
    decision: SignalDecision,
    *,
    check: str | None,
    reason: str | None,
    client_order_id: str | None,
    leader_price: Decimal | None,
) -> int:
    cur = db.execute(
        "INSERT INTO signals (trader, kind, symbol, side, previous_size, new_size,"
        " reduce_fraction, leader_price, snapshot_time, source_time, position_json, decision,"
        " check_name, reason, client_order_id, created_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            signal.trader,
            signal.kind.value,
            signal.symbol,
            signal.side.value,
            str(signal.previous_size),
            str(signal.new_size),
            dec(signal.reduce_fraction),
            dec(leader_price),
            ts(signal.snapshot_time),
            ts(signal.source_time),
            signal.position.model_dump_json() if signal.position else None,
            decision.value,
            check,
            reason,
            client_order_id,
            ts(datetime.now(UTC)),
        ),
    )
    return int(cur.lastrowid or 0)


def repeat(
    db: sqlite3.Connection,
    signal: Signal,
    decision: SignalDecision,
    *,
    check: str | None,
    reason: str,
) -> int | None:
    """The same refusal (or skip) again: the trader's and symbol's latest signal had this
    decision, check and reason. Counted on that row, whose id this returns; None when it is
    news and needs a row of its own. Poll after poll, it is one row, not one per poll."""
    row = db.execute(
        "SELECT id, decision, check_name, reason FROM signals WHERE trader=? AND symbol=?"
        " ORDER BY id DESC LIMIT 1",
        (signal.trader, signal.symbol),
    ).fetchone()
    if row is None or (row["decision"], row["check_name"], row["reason"]) != (
        decision.value,
        check,
        reason,
    ):
        return None
    db.execute(
        "UPDATE signals SET repeats=repeats+1, last_seen_at=?, new_size=?, position_json=?"
        " WHERE id=?",
        (
            ts(datetime.now(UTC)),
            str(signal.new_size),
            signal.position.model_dump_json() if signal.position else None,
            row["id"],
        ),
    )
    return int(row["id"])


def finish(
    db: sqlite3.Connection, signal_id: int, decision: SignalDecision, reason: str | None
) -> None:
    db.execute(
        "UPDATE signals SET decision=?, reason=COALESCE(?, reason) WHERE id=?",
        (decision.value, reason, signal_id),
    )


def decide_by_order(db: sqlite3.Connection, client_order_id: str, decision: SignalDecision) -> None:
    """The decision of the signal behind an order."""
    db.execute(
        "UPDATE signals SET decision=? WHERE client_order_id=?",
        (decision.value, client_order_id),
    )


def fail_by_order(
    db: sqlite3.Connection, client_order_id: str, decision: SignalDecision, reason: str
) -> None:
    """The decision of the signal behind an order that failed, and why."""
    db.execute(
        "UPDATE signals SET decision=?, reason=? WHERE client_order_id=?",
        (decision.value, reason, client_order_id),
    )


def for_order(db: sqlite3.Connection, client_order_id: str) -> Signal | None:
    row = db.execute(
        "SELECT s.* FROM signals s JOIN orders o ON o.signal_id = s.id WHERE o.client_order_id=?",
        (client_order_id,),
    ).fetchone()
    return _from_row(row) if row else None


def _from_row(row: sqlite3.Row) -> Signal:
    return Signal(
        trader=row["trader"],
        kind=SignalKind(row["kind"]),
        symbol=row["symbol"],
        side=Side(row["side"]),
        previous_size=Decimal(row["previous_size"]),
        new_size=Decimal(row["new_size"]),
        reduce_fraction=Decimal(row["reduce_fraction"]) if row["reduce_fraction"] else None,
        position=TraderPosition.model_validate_json(row["position_json"])
        if row["position_json"]
        else None,
        snapshot_time=datetime.fromisoformat(row["snapshot_time"]),
        source_time=datetime.fromisoformat(row["source_time"]) if row["source_time"] else None,
    )
