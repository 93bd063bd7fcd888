"""The mirrored book (the bot's own Bybit positions, per trader, symbol, side) and the daily
realized PnL."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from decimal import Decimal

from lightspeed_cli.journal.db import ts, utc_day
from lightspeed_cli.models import MirroredPosition, Side


def get(db: sqlite3.Connection, trader: str, symbol: str, side: Side) -> MirroredPosition | None:
    row = db.execute(
        "SELECT * FROM mirrored WHERE trader=? AND symbol=? AND side=?",
        (trader, symbol, side.value),
    ).fetchone()
    return _position(row) if row else None


def all_held(db: sqlite3.Connection) -> tuple[MirroredPosition, ...]:
    rows = db.execute("SELECT * FROM mirrored ORDER BY trader, symbol, side")
    return tuple(_position(r) for r in rows)


def write(
    db: sqlite3.Connection,
    base: MirroredPosition,
    quantity: Decimal,
    entry: Decimal,
    now: datetime,
) -> None:
    """Hold `quantity` at `entry` for `base`'s key (opened_at is kept once the row exists);
    a quantity of 0 or less removes the row."""
    if quantity <= 0:
        delete(db, base.trader, base.symbol, base.side)
        return
    db.execute(
        "INSERT INTO mirrored (trader, symbol, side, binance_symbol, quantity, entry_price,"
        " opened_at, updated_at) VALUES (?,?,?,?,?,?,?,?)"
        " ON CONFLICT(trader, symbol, side) DO UPDATE SET quantity=excluded.quantity,"
        " entry_price=excluded.entry_price, updated_at=excluded.updated_at",
        (
            base.trader,
            base.symbol,
            base.side.value,
            base.binance_symbol,
            str(quantity),
            str(entry),
            ts(base.opened_at),
            ts(now),
        ),
    )


def delete(db: sqlite3.Connection, trader: str, symbol: str, side: Side) -> None:
    db.execute(
        "DELETE FROM mirrored WHERE trader=? AND symbol=? AND side=?",
        (trader, symbol, side.value),
    )


def add_pnl(db: sqlite3.Connection, moment: datetime, amount: Decimal) -> None:
    day = utc_day(moment)
    total = realized_pnl(db, day) + amount
    db.execute(
        "INSERT INTO daily_pnl (day, realized_usdt) VALUES (?, ?)"
        " ON CONFLICT(day) DO UPDATE SET realized_usdt=excluded.realized_usdt",
        (day, str(total)),
    )


def realized_pnl(db: sqlite3.Connection, day: str) -> Decimal:
    row = db.execute("SELECT realized_usdt FROM daily_pnl WHERE day=?", (day,)).fetchone()
    return Decimal(row["realized_usdt"]) if row else Decimal(0)


def _position(row: sqlite3.Row) -> MirroredPosition:
    return MirroredPosition.model_validate(dict(row))
