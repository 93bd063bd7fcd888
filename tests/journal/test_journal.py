"""The journal: written before an order is sent, replayable after a crash, PnL per UTC day."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from lightspeed_cli.journal.db import WAL_KEEP_BYTES
from lightspeed_cli.journal.store import MIGRATIONS, Journal
from lightspeed_cli.models import (
    Fill,
    OrderIntent,
    OrderStatus,
    Side,
    Signal,
    SignalDecision,
    SignalKind,
    Snapshot,
    TraderPosition,
)

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TRADER = "1234567890123456789"


def pos(size: str, side: Side = Side.LONG, mark: str = "100") -> TraderPosition:
    return TraderPosition(
        symbol="ETHUSDT",
        side=side,
        size=Decimal(size),
        entry_price=Decimal("100"),
        mark_price=Decimal(mark),
        leverage=10,
    )


def signal(kind: SignalKind, prev: str, new: str, side: Side = Side.LONG) -> Signal:
    return Signal(
        trader=TRADER,
        kind=kind,
        symbol="ETHUSDT",
        side=side,
        previous_size=Decimal(prev),
        new_size=Decimal(new),
        reduce_fraction=(Decimal(prev) - Decimal(new)) / Decimal(prev)
        if kind in (SignalKind.REDUCE, SignalKind.CLOSE)
        else None,
        position=pos(new, side) if Decimal(new) > 0 else None,
        snapshot_time=T0,
    )


def intent(cid: str, kind: SignalKind, qty: str, side: Side = Side.LONG) -> OrderIntent:
    reducing = kind in (SignalKind.REDUCE, SignalKind.CLOSE)
    return OrderIntent(
        trader=TRADER,
        signal_kind=kind,
        binance_symbol="ETHUSDT",
        symbol="ETHUSDT",
        side=side,
        order_side=side.close_order_side if reducing else side.open_order_side,
        quantity=Decimal(qty),
        reduce_only=reducing,
        leverage=10,
        reference_price=Decimal("100"),
        client_order_id=cid,
    )


def fill(cid: str, qty: str, price: str, side: str = "buy", fee: str = "0") -> Fill:
    return Fill(
        client_order_id=cid,
        order_id="oid-" + cid,
        symbol="ETHUSDT",
        order_side=side,  # type: ignore[arg-type]
        quantity=Decimal(qty),
        price=Decimal(price),
        fee=Decimal(fee),
        status="filled",
    )


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "journal.sqlite3")
    yield j
    j.close()


def test_fresh_journal_is_at_latest_schema_in_wal_mode(journal: Journal) -> None:
    assert journal.schema_version == len(MIGRATIONS)
    mode = journal._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_journal_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    Journal(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(RuntimeError, match="newer than this lightspeed"):
        Journal(path)


def test_instance_id_is_stable_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with Journal(path) as j:
        first = j.instance_id
    with Journal(path) as j:
        assert j.instance_id == first
    with Journal(tmp_path / "other.sqlite3") as j:
        assert j.instance_id != first


def test_baseline_is_the_book_and_no_snapshot_before_it(journal: Journal) -> None:
    assert journal.book_snapshot(TRADER) is None
    journal.set_baseline(Snapshot(trader=TRADER, positions=(pos("2"),), fetched_at=T0))
    book = journal.book_snapshot(TRADER)
    assert book is not None and book.by_key()[("ETHUSDT", Side.LONG)].size == Decimal(2)
    assert journal.book(TRADER)[("ETHUSDT", Side.LONG)].version == 0


def test_intent_is_committed_before_send_and_visible_to_another_connection(
    journal: Journal,
) -> None:
    sig = signal(SignalKind.OPEN, "0", "1")
    journal.record_intent(intent("ls-a", SignalKind.OPEN, "0.5"), sig, leader_change_at=T0)
    other = sqlite3.connect(journal.path)
    row = other.execute("SELECT status FROM orders WHERE client_order_id='ls-a'").fetchone()
    assert row == (OrderStatus.INTENT.value,)
    assert [o.client_order_id for o in journal.unfinished_orders()] == ["ls-a"]
    # the book has not moved: a crash now replays this change
    assert ("ETHUSDT", Side.LONG) not in journal.book(TRADER)


def test_fill_updates_mirror_book_and_signal_atomically(journal: Journal) -> None:
    sig = signal(SignalKind.OPEN, "0", "1")
    journal.record_intent(intent("ls-a", SignalKind.OPEN, "0.5"), sig, leader_change_at=T0)
    row = journal.order("ls-a")
    assert row is not None
    realized = journal.record_fill(
        row,
        fill("ls-a", "0.5", "101", fee="0.03"),
        signal=sig,
        slippage_bps=Decimal(100),
        detection_latency_ms=12.0,
    )
    assert realized == Decimal("-0.03")
    m = journal.mirrored_position(TRADER, "ETHUSDT", Side.LONG)
    assert m is not None and m.quantity == Decimal("0.5") and m.entry_price == Decimal(101)
    entry = journal.book(TRADER)[("ETHUSDT", Side.LONG)]
    assert entry.version == 1 and entry.position is not None
    assert journal.unfinished_orders() == []
    hist = journal.history()
    assert hist[-1]["decision"] == SignalDecision.EXECUTED.value
    assert hist[-1]["fill_price"] == "101"


def test_reduce_and_close_realize_pnl_for_long_and_short(journal: Journal) -> None:
    for side, close_price, expected in (
        (Side.LONG, "110", Decimal("10")),
        (Side.SHORT, "110", Decimal("-10")),
    ):
        open_sig = signal(SignalKind.OPEN, "0", "1", side)
        cid = f"ls-open-{side.value}"
        journal.record_intent(
            intent(cid, SignalKind.OPEN, "1", side), open_sig, leader_change_at=T0
        )
        journal.record_fill(
            journal.order(cid),  # type: ignore[arg-type]
            fill(cid, "1", "100", side.open_order_side),
            signal=open_sig,
            slippage_bps=None,
            detection_latency_ms=None,
        )
        close_sig = signal(SignalKind.CLOSE, "1", "0", side)
        cid = f"ls-close-{side.value}"
        journal.record_intent(
            intent(cid, SignalKind.CLOSE, "1", side), close_sig, leader_change_at=T0
        )
        realized = journal.record_fill(
            journal.order(cid),  # type: ignore[arg-type]
            fill(cid, "1", close_price, side.close_order_side),
            signal=close_sig,
            slippage_bps=None,
            detection_latency_ms=None,
        )
        assert realized == expected
        assert journal.mirrored_position(TRADER, "ETHUSDT", side) is None
        assert journal.book(TRADER)[("ETHUSDT", side)].position is None
    today = datetime.now(UTC).date()
    assert journal.realized_pnl(today) == Decimal(0)


def test_signal_for_order_rebuilds_the_signal(journal: Journal) -> None:
    sig = signal(SignalKind.REDUCE, "2", "1")
    journal.record_intent(intent("ls-r", SignalKind.REDUCE, "0.5"), sig, leader_change_at=T0)
    rebuilt = journal.signal_for_order("ls-r")
    assert rebuilt == sig


def test_failed_order_and_attempt_bump(journal: Journal) -> None:
    sig = signal(SignalKind.CLOSE, "1", "0")
    journal.record_intent(intent("ls-c", SignalKind.CLOSE, "1"), sig, leader_change_at=T0)
    journal.mark_order_failed(
        "ls-c", "not_placed", "never placed", signal_decision=SignalDecision.FAILED
    )
    journal.set_baseline(Snapshot(trader=TRADER, positions=(pos("1"),), fetched_at=T0))
    journal.bump_attempt(TRADER, "ETHUSDT", Side.LONG)
    entry = journal.book(TRADER)[("ETHUSDT", Side.LONG)]
    assert entry.attempt == 1 and entry.version == 0
    assert journal.order("ls-c").status is OrderStatus.FAILED  # type: ignore[union-attr]


def test_refusal_is_journaled_with_check_and_reason(journal: Journal) -> None:
    from lightspeed_cli.models import Decision, Refusal

    sig = signal(SignalKind.OPEN, "0", "1")
    refusal = Refusal(check="price_divergence", reason="60 bps > 50 bps", value="60", limit="50")
    journal.record_refusal(Decision(signal=sig, refusal=refusal), advance=True)
    row = journal.history()[-1]
    assert (row["decision"], row["check_name"]) == ("refused", "price_divergence")
    assert row["client_order_id"] is None
    assert journal.book(TRADER)[("ETHUSDT", Side.LONG)].version == 1


def test_bump_attempt_on_a_key_never_held_starts_a_flat_row(journal: Journal) -> None:
    journal.bump_attempt(TRADER, "SOLUSDT", Side.SHORT)
    journal.bump_attempt(TRADER, "SOLUSDT", Side.SHORT)
    entry = journal.book(TRADER)[("SOLUSDT", Side.SHORT)]
    assert (entry.position, entry.version, entry.attempt) == (None, 0, 2)
    assert journal.book_snapshot(TRADER) is None  # still no baseline: nothing was seen


def test_without_autocheckpoint_the_wal_grows_until_checkpoint(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3", autocheckpoint=False) as journal:
        for _ in range(1500):  # past the default 1,000-page auto-checkpoint threshold
            journal.record_event("info", "x" * 4000, T0)
        wal = tmp_path / "j.sqlite3-wal"
        grown = wal.stat().st_size
        assert grown > 1000 * 4096
        journal.checkpoint()
        assert len(journal.recent_events(3)) == 3
        # a WAL that big is truncated by the checkpoint (issue 22): its space is given back,
        # and more writes start it over small
        for _ in range(10):
            journal.record_event("info", "y", T0)
        assert wal.stat().st_size < WAL_KEEP_BYTES


def test_a_partial_close_keeps_the_change_open_under_a_new_attempt(journal: Journal) -> None:
    open_sig = signal(SignalKind.OPEN, "0", "1")
    journal.record_intent(intent("ls-o", SignalKind.OPEN, "1"), open_sig, leader_change_at=T0)
    journal.record_fill(
        journal.order("ls-o"),  # type: ignore[arg-type]
        fill("ls-o", "1", "100"),
        signal=open_sig,
        slippage_bps=None,
        detection_latency_ms=None,
    )
    close_sig = signal(SignalKind.CLOSE, "1", "0")
    journal.record_intent(intent("ls-c1", SignalKind.CLOSE, "0.3"), close_sig, leader_change_at=T0)
    journal.record_fill(
        journal.order("ls-c1"),  # type: ignore[arg-type]
        fill("ls-c1", "0.3", "100", side="sell"),
        signal=close_sig,
        slippage_bps=None,
        detection_latency_ms=None,
    )
    entry = journal.book(TRADER)[("ETHUSDT", Side.LONG)]
    assert entry.position is not None and (entry.version, entry.attempt) == (1, 1)
    held = journal.mirrored_position(TRADER, "ETHUSDT", Side.LONG)
    assert held is not None and held.quantity == Decimal("0.7")


def _open(journal: Journal, cid: str, qty: str) -> None:
    sig = signal(SignalKind.OPEN, "0", "1")
    journal.record_intent(intent(cid, SignalKind.OPEN, qty), sig, leader_change_at=T0)
    journal.record_fill(
        journal.order(cid),  # type: ignore[arg-type]
        fill(cid, qty, "100"),
        signal=sig,
        slippage_bps=None,
        detection_latency_ms=None,
    )


def test_the_mirrored_book_read_follows_every_write(tmp_path: Path, journal: Journal) -> None:
    """mirrored_positions() is cached: fills, drops and rollbacks must all show through."""
    assert journal.mirrored_positions() == []
    _open(journal, "ls-o1", "0.5")
    (held,) = journal.mirrored_positions()
    assert held.quantity == Decimal("0.5")
    journal.mirrored_positions().clear()  # a caller's list is its own
    assert len(journal.mirrored_positions()) == 1

    with pytest.raises(RuntimeError), journal._tx() as db:
        journal._write_mirrored(db, held, Decimal("9"), Decimal("100"), T0)
        assert journal.mirrored_positions()[0].quantity == Decimal("9")  # inside the write
        raise RuntimeError("crash before commit")
    assert journal.mirrored_positions()[0].quantity == Decimal("0.5")  # rolled back

    journal.drop_mirrored(TRADER, "ETHUSDT", Side.LONG)
    assert journal.mirrored_positions() == []
    with Journal(tmp_path / "journal.sqlite3") as reopened:  # and it is what is on disk
        assert reopened.mirrored_positions() == []
