"""The SQLite journal: what the bot saw, decided and sent, so a restart knows what may be in flight.

Rule 3 of DESIGN.md lives here: an order row is committed *before* the order is sent. The
"leader book" is the trader's positions as the bot has acted on them, per (trader, symbol, side);
it only moves forward once a signal for that key reached a final outcome, so a crash replays
exactly the changes that were not finished, under the same client order ids.

`Journal` is the one door: each table's SQL lives in its own module beside this one (book,
signals, orders, positions, events, meta; db and migrations for the file itself), the fill
arithmetic in decisions/fills.py. Every write is its own committed transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from lightspeed_cli.decisions import fills
from lightspeed_cli.journal import book, events, meta, orders, positions, signals
from lightspeed_cli.journal import db as sqlfile
from lightspeed_cli.journal.db import JOURNAL_FILE, utc_day
from lightspeed_cli.journal.migrations import MIGRATIONS
from lightspeed_cli.journal.orders import REPAIR_KIND
from lightspeed_cli.models import (
    BookEntry,
    Decision,
    Fill,
    MirroredPosition,
    OrderIntent,
    OrderRow,
    OrderStatus,
    Side,
    Signal,
    SignalDecision,
    Snapshot,
)

# Re-exported: callers written before the vocabulary moved to models.py keep importing here.
__all__ = [
    "JOURNAL_FILE",
    "MIGRATIONS",
    "REPAIR_KIND",
    "BookEntry",
    "Journal",
    "MirroredPosition",
    "OrderRow",
    "OrderStatus",
    "SignalDecision",
    "utc_day",
]


class Journal:
    """One SQLite file in the data dir; every write is its own committed transaction."""

    def __init__(self, path: Path, *, autocheckpoint: bool = True) -> None:
        """`autocheckpoint=False`: commits never run a WAL checkpoint themselves (19-31 ms
        measured on the hot path); the owner then calls `checkpoint()` off the loop."""
        self.path = path
        self._db = sqlfile.connect(path, autocheckpoint=autocheckpoint)
        # the mirrored book, read on every signal and written only through this object (one
        # bot per journal: instancelock.py); every write and every rollback drops it
        self._mirrored_cache: tuple[MirroredPosition, ...] | None = None
        sqlfile.migrate(self._db, path)

    @classmethod
    def in_dir(cls, data_dir: Path) -> Journal:
        return cls(data_dir / JOURNAL_FILE)

    def checkpoint(self, *, truncate: bool = False) -> None:
        """Fold the WAL back into the database, on a connection of its own (thread-safe);
        `truncate` (at start) also cuts the WAL file to zero bytes, as does any checkpoint
        that finds it over `db.WAL_KEEP_BYTES`."""
        sqlfile.checkpoint(self.path, truncate=truncate)

    def wal_bytes(self) -> int:
        return sqlfile.wal_bytes(self.path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def instance_id(self) -> str:
        """Random per-journal salt for client order ids, so a fresh journal never reuses an id."""
        return meta.instance_id(self._db)

    @property
    def schema_version(self) -> int:
        return sqlfile.schema_version(self._db)

    @contextmanager
    def _tx(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        with sqlfile.transaction(self._db, self._drop_cache, durable=durable) as db:
            yield db

    def _drop_cache(self) -> None:
        self._mirrored_cache = None  # it may hold what was just rolled back

    # ---- leader book and polls -----------------------------------------------------------

    def book(self, trader: str) -> dict[tuple[str, Side], BookEntry]:
        return book.entries(self._db, trader)

    def book_entry(self, trader: str, symbol: str, side: Side) -> BookEntry | None:
        """One key of the book: what a client order id is derived from."""
        return book.entry(self._db, trader, symbol, side)

    def book_snapshot(self, trader: str) -> Snapshot | None:
        """The trader's book as acted on, or None before the first good snapshot."""
        return book.snapshot(self._db, trader)

    def set_baseline(self, snapshot: Snapshot) -> None:
        """Adopt a first snapshot as the starting book without acting on it."""
        with self._tx() as db:
            book.set_baseline(db, snapshot)

    def advance_book(self, signal: Signal) -> None:
        """The signal reached a final outcome: the book moves to the trader's new position."""
        with self._tx() as db:
            book.advance(db, signal)

    def bump_attempt(self, trader: str, symbol: str, side: Side) -> None:
        """Bybit confirms an order was never placed: the next try of this change gets a new id.

        A key the book has never held (a first open) gets a flat row, which means the same.
        """
        with self._tx() as db:
            book.bump_attempt(db, trader, symbol, side)

    def forget_leader_books(self) -> None:
        """Every trader's next read becomes a fresh baseline (versions and attempts are kept, so
        ids are never derived twice)."""
        with self._tx() as db:
            book.forget(db)

    def record_poll(
        self,
        trader: str,
        status: str,
        reason: str,
        at: datetime,
        source_time: datetime | None = None,
    ) -> None:
        book.record_poll(self._db, trader, status, reason, at, source_time)

    def trader_states(self) -> list[dict[str, Any]]:
        return book.trader_states(self._db)

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
        return signals.insert(
            self._db,
            signal,
            decision,
            check=check,
            reason=reason,
            client_order_id=client_order_id,
            leader_price=leader_price,
        )

    def finish_signal(
        self, signal_id: int, decision: SignalDecision, reason: str | None = None
    ) -> None:
        signals.finish(self._db, signal_id, decision, reason)

    def record_refusal(self, decision: Decision, *, advance: bool) -> int:
        """A refused signal is journaled with its check and reason; nothing is sent. The same
        refusal again (trader, symbol, check, reason) counts a repeat on its row: a leader
        refused poll after poll, or an answer of thousands of unknown symbols read again and
        again, writes a row once, not once per poll (issue 22: 64 MiB of WAL in a second)."""
        assert decision.refusal is not None
        check, reason = decision.refusal.check, decision.refusal.reason
        with self._tx() as db:
            signal_id = signals.repeat(
                db, decision.signal, SignalDecision.REFUSED, check=check, reason=reason
            )
            if signal_id is None:
                signal_id = self.record_signal(
                    decision.signal,
                    SignalDecision.REFUSED,
                    check=check,
                    reason=reason,
                    leader_price=decision.signal.position.mark_price
                    if decision.signal.position
                    else None,
                )
            if advance:
                book.advance(db, decision.signal)
        return signal_id

    def record_skip(self, signal: Signal, reason: str) -> None:
        """A change not acted on (not mirrored); the same skip again counts a repeat, as a
        refusal does."""
        with self._tx() as db:
            again = signals.repeat(db, signal, SignalDecision.SKIPPED, check=None, reason=reason)
            if again is None:
                self.record_signal(signal, SignalDecision.SKIPPED, reason=reason)
            book.advance(db, signal)

    def record_intent(
        self,
        intent: OrderIntent,
        signal: Signal,
        *,
        leader_change_at: datetime | None,
    ) -> int:
        """Commit the order row BEFORE it is sent (DESIGN rule 3), durably: synchronous=FULL
        for this commit, so a power loss cannot lose an order Bybit may fill."""
        now = datetime.now(UTC)
        with self._tx(durable=True) as db:
            signal_id = self.record_signal(
                signal,
                SignalDecision.PENDING,
                client_order_id=intent.client_order_id,
                leader_price=intent.reference_price,
            )
            orders.insert_intent(
                db,
                intent,
                signal_id,
                leader_change_at=leader_change_at,
                snapshot_at=signal.snapshot_time,
                created_at=now,
            )
        return signal_id

    def order(self, client_order_id: str) -> OrderRow | None:
        return orders.get(self._db, client_order_id)

    def unfinished_orders(self, *, repairs: bool = False) -> list[OrderRow]:
        """Orders of unknown fate: the engine's (default), or reconcile.py's repairs."""
        return orders.unfinished(self._db, repairs=repairs)

    def signal_for_order(self, client_order_id: str) -> Signal | None:
        """Rebuild the signal behind an order, for reconciliation after a restart."""
        return signals.for_order(self._db, client_order_id)

    def mark_order_failed(
        self, client_order_id: str, outcome: str, error: str, *, signal_decision: SignalDecision
    ) -> None:
        with self._tx() as db:
            orders.mark_failed(db, client_order_id, outcome, error)
            signals.fail_by_order(db, client_order_id, signal_decision, error)

    def mark_acknowledged(self, client_order_id: str) -> None:
        """Bybit said it has this order: it can never again be taken for never placed, even
        if the process dies before its fill is read (execution/fate.py)."""
        orders.mark_acknowledged(self._db, client_order_id)

    def mark_order_unknown(self, client_order_id: str, outcome: str, error: str) -> None:
        """Of unknown fate. An acknowledgement already recorded stays: close-all and repairs
        record their unknown orders through here too, and must not un-say Bybit's answer."""
        orders.mark_unknown(self._db, client_order_id, outcome, error)

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
        price = fill.price if fill.price is not None else row.reference_price
        now = datetime.now(UTC)
        with self._tx() as db:
            orders.mark_filled(
                db,
                row.client_order_id,
                fill,
                price,
                acked_at=fill.acked_at or now,
                slippage_bps=slippage_bps,
                detection_latency_ms=detection_latency_ms,
            )
            signals.decide_by_order(db, row.client_order_id, SignalDecision.EXECUTED)
            held = positions.get(db, row.trader, row.symbol, row.side)
            effect = fills.apply_fill(
                held,
                side=row.side,
                reduce_only=row.reduce_only,
                quantity=fill.quantity,
                price=price,
                fee=fill.fee,
            )
            if effect.moved:
                if row.reduce_only and held is not None:
                    base = held  # a close keeps its row's key and opened_at
                else:
                    base = self._opened(row, held, effect, now)
                self._write_mirrored(db, base, effect.quantity, effect.entry_price, now)
            positions.add_pnl(db, now, effect.realized)
            if signal is not None:
                if fills.goes_again(row.kind, row.quantity, fill.quantity, effect.left):
                    # the same change goes again, under a new id
                    book.bump_attempt(db, row.trader, row.binance_symbol, row.side)
                else:
                    book.advance(db, signal)
        return effect.realized

    @staticmethod
    def _opened(
        row: OrderRow, held: MirroredPosition | None, effect: fills.FillEffect, now: datetime
    ) -> MirroredPosition:
        """The position an opening fill leaves, for the mirrored row's key and opened_at."""
        return MirroredPosition(
            trader=row.trader,
            symbol=row.symbol,
            side=row.side,
            binance_symbol=row.binance_symbol,
            quantity=effect.quantity,
            entry_price=effect.entry_price,
            opened_at=held.opened_at if held is not None and not effect.fresh else now,
            updated_at=now,
        )

    # ---- reconciliation (reconcile.py) ---------------------------------------------------

    def record_repair_intent(self, intent: OrderIntent) -> OrderRow:
        """A reduce-only repair of the bot's own excess, committed (durably, as every intent)
        before it is sent."""
        with self._tx(durable=True) as db:
            orders.insert_repair(db, intent)
        row = self.order(intent.client_order_id)
        assert row is not None
        return row

    def repair_count(self, trader: str, symbol: str, side: Side) -> int:
        return orders.repair_count(self._db, trader, symbol, side)

    def known_order_ids(self, ids: list[str]) -> set[str]:
        """Which of these client order ids the journal has a row for."""
        return orders.known_ids(self._db, ids)

    def set_mirrored(self, position: MirroredPosition) -> None:
        """Make the journal hold what Bybit shows (a quantity of 0 removes the row)."""
        with self._tx() as db:
            self._write_mirrored(
                db, position, position.quantity, position.entry_price, datetime.now(UTC)
            )

    def meta(self, key: str) -> str | None:
        return meta.get(self._db, key)

    def set_meta(self, key: str, value: str | None) -> None:
        """A small named value the running bot shares with the CLI (poll budget, opens
        blocked); None removes it."""
        meta.put(self._db, key, value)

    def rotate_instance(self) -> str:
        """A fresh id salt: after a restore from an older copy, ids derived from the old salt
        may already be used on Bybit."""
        value = meta.new_salt()
        self.set_meta(meta.INSTANCE_KEY, value)
        return value

    # ---- mirrored positions and PnL ------------------------------------------------------

    def _write_mirrored(
        self,
        db: sqlite3.Connection,
        base: MirroredPosition,
        quantity: Decimal,
        entry: Decimal,
        now: datetime,
    ) -> None:
        self._mirrored_cache = None
        positions.write(db, base, quantity, entry, now)

    def mirrored_position(self, trader: str, symbol: str, side: Side) -> MirroredPosition | None:
        return positions.get(self._db, trader, symbol, side)

    def mirrored_positions(self) -> list[MirroredPosition]:
        if self._mirrored_cache is None:
            self._mirrored_cache = positions.all_held(self._db)
        return list(self._mirrored_cache)

    def drop_mirrored(self, trader: str, symbol: str, side: Side) -> None:
        """Bybit no longer has this position (closed outside the bot, or liquidated)."""
        self._mirrored_cache = None
        positions.delete(self._db, trader, symbol, side)

    def realized_pnl(self, day: date | str) -> Decimal:
        return positions.realized_pnl(self._db, day if isinstance(day, str) else day.isoformat())

    # ---- events and history --------------------------------------------------------------

    def record_event(self, level: str, message: str, at: datetime | None = None) -> None:
        events.record(self._db, level, message, at)

    def recent_events(self, limit: int = 10) -> list[dict[str, Any]]:
        return events.recent(self._db, limit)

    def history(
        self, *, since: datetime | None = None, trader: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Signals with their order outcome, newest last."""
        return events.history(self._db, since=since, trader=trader, limit=limit)

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
            orders.set_leader_fill(
                db,
                client_order_id,
                price,
                at,
                slippage_bps=slippage_bps,
                detection_latency_ms=detection_latency_ms,
            )

    def filled_orders_since(self, since: datetime) -> list[OrderRow]:
        return orders.filled_since(self._db, since)
