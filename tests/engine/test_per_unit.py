"""engine/per_unit.py: the follower's quantity per leader unit, from what actually filled."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from lightspeed_cli.engine.per_unit import mirrored_per_unit
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.models import Fill, OrderIntent, Side, Signal, SignalKind, TraderPosition

K = SignalKind
D = Decimal
TRADER = "1234567890123456789"


def signal(kind: SignalKind, prev: str, new: str) -> Signal:
    position = TraderPosition(symbol="ETHUSDT", side=Side.LONG, size=D(new), entry_price=D(100),
                              mark_price=D(100), leverage=10) if D(new) > 0 else None  # fmt: skip
    return Signal(trader=TRADER, kind=kind, symbol="ETHUSDT", side=Side.LONG,
                  previous_size=D(prev), new_size=D(new), position=position,
                  snapshot_time=datetime.now(UTC))  # fmt: skip


def intent(cid: str, kind: SignalKind, qty: str) -> OrderIntent:
    reducing = kind.is_risk_reducing
    return OrderIntent(
        trader=TRADER, signal_kind=kind, binance_symbol="ETHUSDT", symbol="ETHUSDT",
        side=Side.LONG, order_side="sell" if reducing else "buy", quantity=D(qty),
        reduce_only=reducing, leverage=10, reference_price=D(100), client_order_id=cid,
    )  # fmt: skip


def fill(cid: str, qty: str, price: str, side: str) -> Fill:
    return Fill(client_order_id=cid, order_id="oid-" + cid, symbol="ETHUSDT",
                order_side=side, quantity=D(qty), price=D(price), status="filled")  # type: ignore[arg-type]  # fmt: skip


def _filled(journal: Journal, cid: str, kind: SignalKind, prev: str, new: str, qty: str,
            filled: str | None = None) -> None:  # fmt: skip
    sig = signal(kind, prev, new)
    journal.record_intent(intent(cid, kind, qty), sig, leader_change_at=None)
    row = journal.order(cid)
    assert row is not None
    side = "sell" if kind in (K.REDUCE, K.CLOSE) else "buy"
    done = fill(cid, filled or qty, "100", side)
    journal.record_fill(row, done, signal=sig, slippage_bps=None, detection_latency_ms=None)


def _per_unit(journal: Journal) -> Decimal | None:
    held = journal.mirrored_position(TRADER, "ETHUSDT", Side.LONG)
    assert held is not None
    return mirrored_per_unit(journal, held)


def test_the_open_sets_it_and_a_refused_change_does_not_move_it(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        _filled(journal, "a", K.OPEN, "0", "2", "0.5")
        assert _per_unit(journal) == Decimal("0.25")
        # an increase 2 -> 200 refused: nothing filled, the book moved, the per-unit did not
        journal.advance_book(signal(K.INCREASE, "2", "200"))
        assert _per_unit(journal) == Decimal("0.25")


def test_a_clamped_increase_is_what_was_mirrored(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        _filled(journal, "a", K.OPEN, "0", "2", "0.5")
        _filled(journal, "b", K.INCREASE, "2", "4", "0.1")  # clamped by a cap: 0.6 for 4
        assert _per_unit(journal) == Decimal("0.15")


def test_a_reduce_cut_short_is_not_taken_for_the_target(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        _filled(journal, "a", K.OPEN, "0", "2", "0.5")
        _filled(journal, "b", K.REDUCE, "2", "1", "0.25", filled="0.05")  # IOC out of liquidity
        assert _per_unit(journal) == Decimal("0.25")  # from the open: 0.45 + 0.05 for 2
