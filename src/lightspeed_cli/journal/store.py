"""The SQLite journal: what the bot saw, decided and sent, so a restart knows what may be in flight.

Rule 3 of DESIGN.md lives here: an order row is committed *before* the order is sent. The
"leader book" is the trader's positions as the bot has acted on them, per (trader, symbol, side);
it only moves forward once a signal for that key reached a final outcome, so a crash replays
exactly the changes that were not finished, under the same client order ids.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal, localcontext
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from lightspeed_cli.config.datadir import create_private, prepare_data_dir
from lightspeed_cli.decisions.fate import ACKNOWLEDGED
from lightspeed_cli.models import (
    Decision,
    Fill,
    OrderIntent,
    Side,
    Signal,
    Snapshot,
    TraderPosition,
)

JOURNAL_FILE = "journal.sqlite3"
REPAIR_KIND = "repair"  # orders.kind of reconcile.py's reduce-only repairs

MIGRATIONS: tuple[str, ...] = (
    # 1: initial schema
    """
    CREATE TABLE leader_book (
        trader TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
        position_json TEXT,            -- TraderPosition as last acted on; NULL = flat
        version INTEGER NOT NULL DEFAULT 0,
        attempt INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (trader, symbol, side)
    );
    CREATE TABLE trader_state (
        trader TEXT PRIMARY KEY,
        baseline_at TEXT,              -- first good snapshot seen (follow_existing=false baseline)
        last_poll_at TEXT, last_status TEXT, last_reason TEXT,
        last_ok_at TEXT, last_source_time TEXT
    );
    CREATE TABLE signals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        trader TEXT NOT NULL, kind TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
        previous_size TEXT NOT NULL, new_size TEXT NOT NULL, reduce_fraction TEXT,
        leader_price TEXT, snapshot_time TEXT NOT NULL, source_time TEXT,
        position_json TEXT,            -- the trader's position after the change (NULL = flat)
        decision TEXT NOT NULL,        -- pending | executed | refused | skipped | failed
        check_name TEXT, reason TEXT, client_order_id TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX signals_trader ON signals (trader, created_at);
    CREATE TABLE orders (
        client_order_id TEXT PRIMARY KEY,
        signal_id INTEGER REFERENCES signals (id),
        trader TEXT NOT NULL, binance_symbol TEXT NOT NULL, symbol TEXT NOT NULL,
        side TEXT NOT NULL, order_side TEXT NOT NULL, kind TEXT NOT NULL,
        quantity TEXT NOT NULL, reduce_only INTEGER NOT NULL, leverage INTEGER NOT NULL,
        reference_price TEXT NOT NULL,
        status TEXT NOT NULL,          -- intent | filled | failed | unknown
        outcome TEXT, error TEXT, exchange_order_id TEXT,
        fill_qty TEXT, fill_price TEXT, fee TEXT,
        leader_change_at TEXT, snapshot_at TEXT,
        created_at TEXT NOT NULL, sent_at TEXT, acked_at TEXT,
        slippage_bps TEXT, detection_latency_ms REAL
    );
    CREATE INDEX orders_status ON orders (status);
    CREATE TABLE mirrored (
        trader TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
        binance_symbol TEXT NOT NULL,
        quantity TEXT NOT NULL, entry_price TEXT NOT NULL,
        opened_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        PRIMARY KEY (trader, symbol, side)
    );
    CREATE TABLE daily_pnl (
        day TEXT PRIMARY KEY, realized_usdt TEXT NOT NULL
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL, level TEXT NOT NULL, message TEXT NOT NULL
    );
    """,
    # 2: the leader's own fill (lead-portfolio order-history): price and order time, against
    # which slippage_bps and detection_latency_ms are then measured (leader_fills.py)
    """
    ALTER TABLE orders ADD COLUMN leader_fill_price TEXT;
    ALTER TABLE orders ADD COLUMN leader_fill_at TEXT;
    """,
)


class OrderStatus(StrEnum):
    INTENT = "intent"  # committed, may or may not have reached Bybit
    FILLED = "filled"
    FAILED = "failed"  # Bybit does not have it (rejected, or confirmed never placed)
    UNKNOWN = "unknown"  # sent, outcome not known: must be looked up before anything else


class SignalDecision(StrEnum):
    PENDING = "pending"
    EXECUTED = "executed"
    REFUSED = "refused"
    SKIPPED = "skipped"
    FAILED = "failed"


class MirroredPosition(BaseModel):
    trader: str
    symbol: str
    side: Side
    binance_symbol: str
    quantity: Decimal
    entry_price: Decimal
    opened_at: datetime
    updated_at: datetime


class OrderRow(BaseModel):
    client_order_id: str
    signal_id: int | None
    trader: str
    binance_symbol: str
    symbol: str
    side: Side
    order_side: str
    kind: str
    quantity: Decimal
    reduce_only: bool
    leverage: int
    reference_price: Decimal
    status: OrderStatus
    outcome: str | None = None
    error: str | None = None
    exchange_order_id: str | None = None
    fill_qty: Decimal | None = None
    fill_price: Decimal | None = None
    fee: Decimal | None = None
    leader_change_at: datetime | None = None
    snapshot_at: datetime | None = None
    created_at: datetime
    sent_at: datetime | None = None
    acked_at: datetime | None = None
    slippage_bps: Decimal | None = None
    detection_latency_ms: float | None = None
    leader_fill_price: Decimal | None = None
    leader_fill_at: datetime | None = None


class BookEntry(BaseModel):
    position: TraderPosition | None
    version: int
    attempt: int


def _ts(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _dec(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def utc_day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


class Journal:
    """One SQLite file in the data dir; every write is its own committed transaction."""

    def __init__(self, path: Path, *, autocheckpoint: bool = True) -> None:
        """`autocheckpoint=False`: commits never run a WAL checkpoint themselves (19-31 ms
        measured on the hot path); the owner then calls `checkpoint()` off the loop."""
        self.path = path
        prepare_data_dir(path.parent)
        create_private(path)  # 0600 before SQLite creates it; its -wal and -shm follow its mode
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit survives the process dying at any point (SIGKILL, OOM); only
        # an OS crash or power loss can lose the last few. That is covered by the order ids:
        # a lost intent or fill replays the same change under the same orderLinkId, Bybit
        # refuses the copy and the broker looks the original up. FULL cost ~1 ms per commit.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        if not autocheckpoint:
            self._db.execute("PRAGMA wal_autocheckpoint=0")
        # the mirrored book, read on every signal and written only through this object (one
        # bot per journal: instancelock.py); every write and every rollback drops it
        self._mirrored_cache: tuple[MirroredPosition, ...] | None = None
        self._migrate()

    @classmethod
    def in_dir(cls, data_dir: Path) -> Journal:
        return cls(data_dir / JOURNAL_FILE)

    def checkpoint(self) -> None:
        """Fold the WAL back into the database, on a connection of its own (thread-safe)."""
        db = sqlite3.connect(self.path, timeout=5)
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def instance_id(self) -> str:
        """Random per-journal salt for client order ids, so a fresh journal never reuses an id."""
        row = self._db.execute("SELECT value FROM meta WHERE key='instance_id'").fetchone()
        if row:
            return str(row["value"])
        value = secrets.token_hex(8)
        self._db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('instance_id', ?)", (value,)
        )
        return str(self._db.execute("SELECT value FROM meta WHERE key='instance_id'").fetchone()[0])

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.schema_version
        if current > len(MIGRATIONS):
            raise RuntimeError(
                f"{self.path}: journal schema v{current} is newer than this lightspeed"
                f" (v{len(MIGRATIONS)}); upgrade lightspeed"
            )
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            # one script, one transaction: a crash mid-migration leaves the old version intact
            self._db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={version};\nCOMMIT;")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            self._mirrored_cache = None  # it may hold what was just rolled back
            raise
        try:
            self._db.execute("COMMIT")
        except BaseException:
            self._mirrored_cache = None
            raise

    # ---- leader book -------------------------------------------------------------------

    def book(self, trader: str) -> dict[tuple[str, Side], BookEntry]:
        rows = self._db.execute(
            "SELECT symbol, side, position_json, version, attempt FROM leader_book WHERE trader=?",
            (trader,),
        ).fetchall()
        return {(r["symbol"], Side(r["side"])): _book_entry(r) for r in rows}

    def book_entry(self, trader: str, symbol: str, side: Side) -> BookEntry | None:
        """One key of the book: what a client order id is derived from."""
        row = self._db.execute(
            "SELECT position_json, version, attempt FROM leader_book"
            " WHERE trader=? AND symbol=? AND side=?",
            (trader, symbol, side.value),
        ).fetchone()
        return _book_entry(row) if row is not None else None

    def book_snapshot(self, trader: str) -> Snapshot | None:
        """The trader's book as acted on, or None before the first good snapshot."""
        state = self._db.execute(
            "SELECT baseline_at FROM trader_state WHERE trader=?", (trader,)
        ).fetchone()
        if state is None or state["baseline_at"] is None:
            return None
        positions = tuple(e.position for e in self.book(trader).values() if e.position is not None)
        return Snapshot(
            trader=trader,
            positions=tuple(sorted(positions, key=lambda p: (p.symbol, p.side))),
            fetched_at=datetime.fromisoformat(state["baseline_at"]),
        )

    def set_baseline(self, snapshot: Snapshot) -> None:
        """Adopt a first snapshot as the starting book without acting on it."""
        with self._tx() as db:
            for p in snapshot.positions:
                self._write_book(db, snapshot.trader, p.symbol, p.side, p, bump=False)
            db.execute(
                "INSERT INTO trader_state (trader, baseline_at) VALUES (?, ?)"
                " ON CONFLICT(trader) DO UPDATE SET baseline_at=excluded.baseline_at",
                (snapshot.trader, _ts(snapshot.fetched_at)),
            )

    def _write_book(
        self,
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
                _ts(datetime.now(UTC)),
                1 if bump else 0,
            ),
        )

    def advance_book(self, signal: Signal) -> None:
        """The signal reached a final outcome: the book moves to the trader's new position."""
        with self._tx() as db:
            self._advance(db, signal)

    def _advance(self, db: sqlite3.Connection, signal: Signal) -> None:
        db.execute(
            "INSERT INTO trader_state (trader, baseline_at) VALUES (?, ?)"
            " ON CONFLICT(trader) DO UPDATE SET"
            " baseline_at=COALESCE(trader_state.baseline_at, excluded.baseline_at)",
            (signal.trader, _ts(signal.snapshot_time)),
        )
        self._write_book(db, signal.trader, signal.symbol, signal.side, signal.position)

    def bump_attempt(self, trader: str, symbol: str, side: Side) -> None:
        """Bybit confirms an order was never placed: the next try of this change gets a new id.

        A key the book has never held (a first open) gets a flat row, which means the same.
        """
        with self._tx() as db:
            self._bump(db, trader, symbol, side)

    def _bump(self, db: sqlite3.Connection, trader: str, symbol: str, side: Side) -> None:
        db.execute(
            "INSERT INTO leader_book (trader, symbol, side, position_json, version, attempt,"
            " updated_at) VALUES (?, ?, ?, NULL, 0, 1, ?)"
            " ON CONFLICT(trader, symbol, side) DO UPDATE SET attempt=leader_book.attempt + 1",
            (trader, symbol, side.value, _ts(datetime.now(UTC))),
        )

    # ---- polls ---------------------------------------------------------------------------

    def record_poll(
        self,
        trader: str,
        status: str,
        reason: str,
        at: datetime,
        source_time: datetime | None = None,
    ) -> None:
        ok_at = _ts(at) if status == "ok" else None
        self._db.execute(
            "INSERT INTO trader_state (trader, last_poll_at, last_status, last_reason, last_ok_at,"
            " last_source_time) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(trader) DO UPDATE SET last_poll_at=excluded.last_poll_at,"
            " last_status=excluded.last_status, last_reason=excluded.last_reason,"
            " last_ok_at=COALESCE(excluded.last_ok_at, trader_state.last_ok_at),"
            " last_source_time=COALESCE(excluded.last_source_time, trader_state.last_source_time)",
            (trader, _ts(at), status, reason, ok_at, _ts(source_time)),
        )

    def trader_states(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute("SELECT * FROM trader_state ORDER BY trader")]

    # ---- signals and orders ------------------------------------------------------------

    def record_signal(
        self,
        signal: Signal,
        decision: SignalDecision,
        *,
        check: str | None = None,
        reason: str | None = None,
        client_order_id: str | None = None,
        leader_price: Decimal | None = None,
    ) -> int:
        cur = self._db.execute(
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
                _dec(signal.reduce_fraction),
                _dec(leader_price),
                _ts(signal.snapshot_time),
                _ts(signal.source_time),
                signal.position.model_dump_json() if signal.position else None,
                decision.value,
                check,
                reason,
                client_order_id,
                _ts(datetime.now(UTC)),
            ),
        )
        return int(cur.lastrowid or 0)

    def finish_signal(
        self, signal_id: int, decision: SignalDecision, reason: str | None = None
    ) -> None:
        self._db.execute(
            "UPDATE signals SET decision=?, reason=COALESCE(?, reason) WHERE id=?",
            (decision.value, reason, signal_id),
        )

    def record_refusal(self, decision: Decision, *, advance: bool) -> int:
        """A refused signal is journaled with its check and reason; nothing is sent."""
        assert decision.refusal is not None
        with self._tx() as db:
            signal_id = self.record_signal(
                decision.signal,
                SignalDecision.REFUSED,
                check=decision.refusal.check,
                reason=decision.refusal.reason,
                leader_price=decision.signal.position.mark_price
                if decision.signal.position
                else None,
            )
            if advance:
                self._advance(db, decision.signal)
        return signal_id

    def record_skip(self, signal: Signal, reason: str) -> None:
        with self._tx() as db:
            self.record_signal(signal, SignalDecision.SKIPPED, reason=reason)
            self._advance(db, signal)

    def record_intent(
        self,
        intent: OrderIntent,
        signal: Signal,
        *,
        leader_change_at: datetime | None,
    ) -> int:
        """Commit the order row BEFORE it is sent (DESIGN rule 3)."""
        now = datetime.now(UTC)
        with self._tx() as db:
            signal_id = self.record_signal(
                signal,
                SignalDecision.PENDING,
                client_order_id=intent.client_order_id,
                leader_price=intent.reference_price,
            )
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
                    _ts(leader_change_at),
                    _ts(signal.snapshot_time),
                    _ts(now),
                ),
            )
        return signal_id

    def order(self, client_order_id: str) -> OrderRow | None:
        row = self._db.execute(
            "SELECT * FROM orders WHERE client_order_id=?", (client_order_id,)
        ).fetchone()
        return _order_row(row) if row else None

    def unfinished_orders(self, *, repairs: bool = False) -> list[OrderRow]:
        """Orders of unknown fate: the engine's (default), or reconcile.py's repairs."""
        rows = self._db.execute(
            "SELECT * FROM orders WHERE status IN (?, ?) AND (kind = ?) = ? ORDER BY created_at",
            (OrderStatus.INTENT.value, OrderStatus.UNKNOWN.value, REPAIR_KIND, int(repairs)),
        ).fetchall()
        return [_order_row(r) for r in rows]

    # ---- reconciliation (reconcile.py) ---------------------------------------------------

    def record_repair_intent(self, intent: OrderIntent) -> OrderRow:
        """A reduce-only repair of the bot's own excess, committed before it is sent."""
        self._db.execute(
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
                _ts(datetime.now(UTC)),
            ),
        )
        row = self.order(intent.client_order_id)
        assert row is not None
        return row

    def repair_count(self, trader: str, symbol: str, side: Side) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) FROM orders WHERE kind=? AND trader=? AND symbol=? AND side=?",
            (REPAIR_KIND, trader, symbol, side.value),
        ).fetchone()
        return int(row[0])

    def known_order_ids(self, ids: list[str]) -> set[str]:
        """Which of these client order ids the journal has a row for."""
        known: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT client_order_id FROM orders WHERE client_order_id IN ({marks})", chunk
            )
            known.update(r[0] for r in rows)
        return known

    def set_mirrored(self, position: MirroredPosition) -> None:
        """Make the journal hold what Bybit shows (a quantity of 0 removes the row)."""
        with self._tx() as db:
            self._write_mirrored(
                db, position, position.quantity, position.entry_price, datetime.now(UTC)
            )

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str | None) -> None:
        """A small named value the running bot shares with the CLI (poll budget, opens
        blocked); None removes it."""
        if value is None:
            self._db.execute("DELETE FROM meta WHERE key=?", (key,))
        else:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, value),
            )

    def forget_leader_books(self) -> None:
        """Every trader's next read becomes a fresh baseline (versions and attempts are kept, so
        ids are never derived twice)."""
        with self._tx() as db:
            db.execute("UPDATE leader_book SET position_json=NULL")
            db.execute("UPDATE trader_state SET baseline_at=NULL")

    def rotate_instance(self) -> str:
        """A fresh id salt: after a restore from an older copy, ids derived from the old salt
        may already be used on Bybit."""
        value = secrets.token_hex(8)
        self.set_meta("instance_id", value)
        return value

    def signal_for_order(self, client_order_id: str) -> Signal | None:
        """Rebuild the signal behind an order, for reconciliation after a restart."""
        row = self._db.execute(
            "SELECT s.* FROM signals s JOIN orders o ON o.signal_id = s.id"
            " WHERE o.client_order_id=?",
            (client_order_id,),
        ).fetchone()
        return _signal_from_row(row) if row else None

    def mark_order_failed(
        self, client_order_id: str, outcome: str, error: str, *, signal_decision: SignalDecision
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE orders SET status=?, outcome=?, error=? WHERE client_order_id=?",
                (OrderStatus.FAILED.value, outcome, error, client_order_id),
            )
            db.execute(
                "UPDATE signals SET decision=?, reason=? WHERE client_order_id=?",
                (signal_decision.value, error, client_order_id),
            )

    def mark_acknowledged(self, client_order_id: str) -> None:
        """Bybit said it has this order: it can never again be taken for never placed, even
        if the process dies before its fill is read (execution/fate.py)."""
        self._db.execute(
            "UPDATE orders SET outcome=? WHERE client_order_id=? AND status IN (?, ?)",
            (ACKNOWLEDGED, client_order_id, OrderStatus.INTENT.value, OrderStatus.UNKNOWN.value),
        )

    def mark_order_unknown(self, client_order_id: str, outcome: str, error: str) -> None:
        """Of unknown fate. An acknowledgement already recorded stays: close-all and repairs
        record their unknown orders through here too, and must not un-say Bybit's answer."""
        self._db.execute(
            "UPDATE orders SET status=?, outcome=CASE WHEN outcome=? THEN outcome ELSE ? END,"
            " error=? WHERE client_order_id=?",
            (OrderStatus.UNKNOWN.value, ACKNOWLEDGED, outcome, error, client_order_id),
        )

    def record_fill(
        self,
        row: OrderRow,
        fill: Fill,
        *,
        signal: Signal | None,
        slippage_bps: Decimal | None,
        detection_latency_ms: float | None,
    ) -> Decimal:
        """Apply a fill: order row, mirrored position, daily PnL and the leader book, atomically.

        Returns the realized PnL of this fill in USDT (0 for opens).
        """
        realized = Decimal(0)
        qty = fill.quantity
        price = fill.price if fill.price is not None else row.reference_price
        now = datetime.now(UTC)
        with self._tx() as db:
            db.execute(
                "UPDATE orders SET status=?, outcome='filled', exchange_order_id=?, fill_qty=?,"
                " fill_price=?, fee=?, sent_at=COALESCE(?, sent_at), acked_at=?, slippage_bps=?,"
                " detection_latency_ms=? WHERE client_order_id=?",
                (
                    OrderStatus.FILLED.value,
                    fill.order_id,
                    str(qty),
                    str(price),
                    str(fill.fee),
                    _ts(fill.sent_at),
                    _ts(fill.acked_at or now),
                    _dec(slippage_bps),
                    detection_latency_ms,
                    row.client_order_id,
                ),
            )
            db.execute(
                "UPDATE signals SET decision=? WHERE client_order_id=?",
                (SignalDecision.EXECUTED.value, row.client_order_id),
            )
            held = self._mirrored_row(db, row.trader, row.symbol, row.side)
            remaining = Decimal(0)
            if row.reduce_only:
                if held is not None:
                    closed = min(qty, held.quantity)
                    direction = 1 if row.side is Side.LONG else -1
                    realized = (price - held.entry_price) * closed * direction - fill.fee
                    remaining = held.quantity - closed
                    self._write_mirrored(db, held, remaining, held.entry_price, now)
                else:
                    realized = -fill.fee
            else:
                if held is None or held.quantity == 0:
                    new_entry, new_qty, opened = price, qty, now
                else:
                    new_qty = held.quantity + qty
                    with localcontext() as exact:
                        exact.prec = 16  # a weighted mean: keep it readable, not 28 digits
                        new_entry = +((held.entry_price * held.quantity + price * qty) / new_qty)
                    opened = held.opened_at
                self._write_mirrored(
                    db,
                    MirroredPosition(
                        trader=row.trader,
                        symbol=row.symbol,
                        side=row.side,
                        binance_symbol=row.binance_symbol,
                        quantity=new_qty,
                        entry_price=new_entry,
                        opened_at=opened,
                        updated_at=now,
                    ),
                    new_qty,
                    new_entry,
                    now,
                )
                realized = -fill.fee
            self._add_pnl(db, now, realized)
            short = row.kind == "reduce" and qty < row.quantity  # an IOC reduce cut short
            if signal is not None and ((row.kind == "close" and remaining > 0) or short):
                # a close is done only when nothing is left (chunked above Bybit's market-order
                # maximum, or partly filled), a reduce when all of it filled: the same change
                # goes again, under a new id
                self._bump(db, row.trader, row.binance_symbol, row.side)
            elif signal is not None:
                self._advance(db, signal)
        return realized

    # ---- mirrored positions and PnL ------------------------------------------------------

    def _mirrored_row(
        self, db: sqlite3.Connection, trader: str, symbol: str, side: Side
    ) -> MirroredPosition | None:
        row = db.execute(
            "SELECT * FROM mirrored WHERE trader=? AND symbol=? AND side=?",
            (trader, symbol, side.value),
        ).fetchone()
        return _mirrored(row) if row else None

    def _write_mirrored(
        self,
        db: sqlite3.Connection,
        base: MirroredPosition,
        quantity: Decimal,
        entry: Decimal,
        now: datetime,
    ) -> None:
        self._mirrored_cache = None
        if quantity <= 0:
            db.execute(
                "DELETE FROM mirrored WHERE trader=? AND symbol=? AND side=?",
                (base.trader, base.symbol, base.side.value),
            )
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
                _ts(base.opened_at),
                _ts(now),
            ),
        )

    def mirrored_position(self, trader: str, symbol: str, side: Side) -> MirroredPosition | None:
        return self._mirrored_row(self._db, trader, symbol, side)

    def mirrored_positions(self) -> list[MirroredPosition]:
        if self._mirrored_cache is None:
            rows = self._db.execute("SELECT * FROM mirrored ORDER BY trader, symbol, side")
            self._mirrored_cache = tuple(_mirrored(r) for r in rows)
        return list(self._mirrored_cache)

    def drop_mirrored(self, trader: str, symbol: str, side: Side) -> None:
        """Bybit no longer has this position (closed outside the bot, or liquidated)."""
        self._mirrored_cache = None
        self._db.execute(
            "DELETE FROM mirrored WHERE trader=? AND symbol=? AND side=?",
            (trader, symbol, side.value),
        )

    def _add_pnl(self, db: sqlite3.Connection, moment: datetime, amount: Decimal) -> None:
        day = utc_day(moment)
        row = db.execute("SELECT realized_usdt FROM daily_pnl WHERE day=?", (day,)).fetchone()
        total = (Decimal(row["realized_usdt"]) if row else Decimal(0)) + amount
        db.execute(
            "INSERT INTO daily_pnl (day, realized_usdt) VALUES (?, ?)"
            " ON CONFLICT(day) DO UPDATE SET realized_usdt=excluded.realized_usdt",
            (day, str(total)),
        )

    def realized_pnl(self, day: date | str) -> Decimal:
        key = day if isinstance(day, str) else day.isoformat()
        row = self._db.execute("SELECT realized_usdt FROM daily_pnl WHERE day=?", (key,)).fetchone()
        return Decimal(row["realized_usdt"]) if row else Decimal(0)

    # ---- events and history --------------------------------------------------------------

    def record_event(self, level: str, message: str, at: datetime | None = None) -> None:
        self._db.execute(
            "INSERT INTO events (at, level, message) VALUES (?, ?, ?)",
            (_ts(at or datetime.now(UTC)), level, message),
        )

    def recent_events(self, limit: int = 10) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM events ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(r) for r in rows]

    def history(
        self, *, since: datetime | None = None, trader: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Signals with their order outcome, newest last."""
        sql = (
            "SELECT s.id, s.created_at, s.trader, s.kind, s.symbol, s.side, s.previous_size,"
            " s.new_size, s.decision, s.check_name, s.reason, s.leader_price, s.source_time,"
            " s.snapshot_time, o.client_order_id, o.symbol AS bybit_symbol, o.quantity,"
            " o.fill_qty, o.fill_price, o.fee, o.status AS order_status, o.sent_at, o.acked_at,"
            " o.slippage_bps, o.detection_latency_ms, o.leader_fill_price, o.leader_fill_at"
            " FROM signals s LEFT JOIN orders o ON o.client_order_id = s.client_order_id"
            " WHERE 1=1"
        )
        params: list[Any] = []
        if since is not None:
            sql += " AND s.created_at >= ?"
            params.append(_ts(since))
        if trader is not None:
            sql += " AND s.trader = ?"
            params.append(trader)
        sql += " ORDER BY s.id DESC LIMIT ?"
        params.append(limit)
        return [dict(r) for r in reversed(self._db.execute(sql, params).fetchall())]

    def record_leader_fill(
        self,
        client_order_id: str,
        price: Decimal,
        at: datetime,
        *,
        slippage_bps: Decimal | None,
        detection_latency_ms: float | None,
    ) -> None:
        """The leader's own fill for this order's change: slippage and latency now measure
        against it (leader_fills.py)."""
        with self._tx() as db:
            db.execute(
                "UPDATE orders SET leader_fill_price=?, leader_fill_at=?,"
                " slippage_bps=COALESCE(?, slippage_bps),"
                " detection_latency_ms=COALESCE(?, detection_latency_ms)"
                " WHERE client_order_id=?",
                (_dec(price), _ts(at), _dec(slippage_bps), detection_latency_ms, client_order_id),
            )

    def filled_orders_since(self, since: datetime) -> list[OrderRow]:
        rows = self._db.execute(
            "SELECT * FROM orders WHERE status=? AND created_at >= ? ORDER BY created_at",
            (OrderStatus.FILLED.value, _ts(since)),
        )
        return [_order_row(r) for r in rows]


def _book_entry(row: sqlite3.Row) -> BookEntry:
    position = row["position_json"]
    return BookEntry(
        position=TraderPosition.model_validate_json(position) if position else None,
        version=row["version"],
        attempt=row["attempt"],
    )


def _order_row(row: sqlite3.Row) -> OrderRow:
    data = dict(row)
    data["reduce_only"] = bool(data["reduce_only"])
    return OrderRow.model_validate(data)


def _mirrored(row: sqlite3.Row) -> MirroredPosition:
    return MirroredPosition.model_validate(dict(row))


def _signal_from_row(row: sqlite3.Row) -> Signal:
    from lightspeed_cli.models import SignalKind

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
