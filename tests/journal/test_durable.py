"""Issue 22, items 6 and 7: a repeated refusal is one row, the WAL is given back, and an
order's intent is durable (synchronous=FULL) before the order is sent."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from test_journal import T0, TRADER, signal

from lightspeed_cli.journal import orders
from lightspeed_cli.journal.db import WAL_KEEP_BYTES
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.models import (
    Decision,
    OrderIntent,
    Refusal,
    Side,
    SignalDecision,
    SignalKind,
)

FULL, NORMAL = 2, 1  # PRAGMA synchronous's answers


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.sqlite3", autocheckpoint=False) as j:
        yield j


def synchronous(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA synchronous").fetchone()[0])


def intent(cid: str = "ls-1", *, reduce_only: bool = False) -> OrderIntent:
    return OrderIntent(
        client_order_id=cid,
        trader=TRADER,
        signal_kind=SignalKind.OPEN,
        binance_symbol="ETHUSDT",
        symbol="ETHUSDT",
        side=Side.LONG,
        order_side="sell" if reduce_only else "buy",
        quantity=Decimal("0.1"),
        reduce_only=reduce_only,
        leverage=5,
        reference_price=Decimal(100),
    )


def test_an_intent_commits_at_synchronous_full_and_the_rest_at_normal(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read inside the intent's own transaction (the real SQLite answer): FULL; after it the
    connection is back at NORMAL for polls, events and fills."""
    seen: list[int] = []
    for name in ("insert_intent", "insert_repair"):
        original = getattr(orders, name)

        def reading(db: sqlite3.Connection, *args: object, _f=original, **kw: object) -> None:
            seen.append(synchronous(db))
            assert db.in_transaction
            _f(db, *args, **kw)

        monkeypatch.setattr(orders, name, reading)
    assert synchronous(journal._db) == NORMAL
    journal.record_intent(intent(), signal(SignalKind.OPEN, "0", "1"), leader_change_at=T0)
    journal.record_repair_intent(intent("ls-r", reduce_only=True))
    assert seen == [FULL, FULL]
    assert synchronous(journal._db) == NORMAL
    assert journal.order("ls-1") is not None and journal.order("ls-r") is not None


def test_a_failed_intent_commit_still_puts_normal_back(journal: Journal) -> None:
    journal.record_intent(intent(), signal(SignalKind.OPEN, "0", "1"), leader_change_at=T0)
    with pytest.raises(sqlite3.IntegrityError):  # the same id twice
        journal.record_intent(intent(), signal(SignalKind.OPEN, "0", "1"), leader_change_at=T0)
    assert synchronous(journal._db) == NORMAL


def refused(new: str, reason: str = "ETHUSDT has no Bybit USDT perpetual") -> Decision:
    return Decision(
        signal=signal(SignalKind.INCREASE, "1", new),
        refusal=Refusal(check="symbol", reason=reason),
    )


def test_the_same_refusal_poll_after_poll_is_one_row_that_counts(journal: Journal) -> None:
    for size in range(2, 12):
        journal.record_refusal(refused(str(size)), advance=True)
    rows = journal.history()
    assert len(rows) == 1
    assert rows[0]["repeats"] == 9 and rows[0]["last_seen_at"] is not None
    assert rows[0]["new_size"] == "11"  # the latest the leader held
    assert rows[0]["decision"] == SignalDecision.REFUSED.value
    # another reason is news: its own row, and so is the first again after it
    journal.record_refusal(refused("12", "over the notional cap"), advance=True)
    journal.record_refusal(refused("13"), advance=True)
    assert [r["repeats"] for r in journal.history()] == [9, 0, 0]


def test_the_same_skip_poll_after_poll_is_one_row(journal: Journal) -> None:
    for size in range(2, 7):
        journal.record_skip(signal(SignalKind.INCREASE, "1", str(size)), "not mirrored")
    assert [r["repeats"] for r in journal.history()] == [4]


def test_a_checkpoint_gives_a_burst_of_wal_back(journal: Journal) -> None:
    for _ in range(3000):
        journal.record_event("info", "x" * 4000, T0)
    assert journal.wal_bytes() > WAL_KEEP_BYTES
    journal.checkpoint()  # the periodic one: over the keep size it truncates
    assert journal.wal_bytes() == 0
    journal.record_event("info", "y", T0)
    journal.checkpoint(truncate=True)  # the one at start, whatever the size
    assert journal.wal_bytes() == 0
    assert len(journal.recent_events(5)) == 5
