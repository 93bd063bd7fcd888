"""massclose.py: two or more closes in one answer wait for a second read that agrees."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from lightspeed_cli.decisions.massclose import closed_keys, confirmed, needs_confirmation
from lightspeed_cli.models import Side, Snapshot, TraderPosition

AT = datetime(2026, 11, 30, 12, tzinfo=UTC)


def pos(symbol: str, side: Side = Side.LONG, size: str = "1") -> TraderPosition:
    return TraderPosition(
        symbol=symbol,
        side=side,
        size=Decimal(size),
        entry_price=Decimal(100),
        mark_price=Decimal(100),
        leverage=10,
    )


def book(*positions: TraderPosition) -> Snapshot:
    return Snapshot(trader="t", positions=positions, fetched_at=AT)


BTC, ETH, SOL = pos("BTCUSDT"), pos("ETHUSDT", Side.SHORT), pos("SOLUSDT")
BEFORE = book(BTC, ETH, SOL)


def symbols(snapshot: Snapshot | None) -> set[str]:
    assert snapshot is not None
    return {p.symbol for p in snapshot.positions}


def test_one_close_alone_is_not_held() -> None:
    assert not needs_confirmation(BEFORE, book(ETH, SOL))
    assert not needs_confirmation(book(BTC), book())  # the only position closing
    assert not needs_confirmation(None, book())  # a first read closes nothing


def test_two_or_more_closes_at_once_need_a_second_read() -> None:
    assert needs_confirmation(BEFORE, book(SOL))
    assert needs_confirmation(BEFORE, book())
    assert closed_keys(BEFORE, book(SOL)) == {BTC.key, ETH.key}
    assert not needs_confirmation(BEFORE, book(BTC, ETH, SOL, pos("XRPUSDT")))  # opens: no


def test_a_glitch_answer_is_dropped_for_the_normal_second_read() -> None:
    assert confirmed(BEFORE, book(), book(BTC, ETH, SOL)) == book(BTC, ETH, SOL)


def test_two_reads_that_agree_close_everything() -> None:
    assert symbols(confirmed(BEFORE, book(), book())) == set()


def test_a_failed_second_read_acts_on_nothing() -> None:
    assert confirmed(BEFORE, book(), None) is None


def test_only_the_closes_both_reads_saw_are_acted_on() -> None:
    # first: BTC and ETH gone; second: BTC and SOL gone. BTC agreed; SOL seen once: held
    decided = confirmed(BEFORE, book(SOL), book(ETH))
    assert symbols(decided) == {"ETHUSDT", "SOLUSDT"}
    # no close seen twice, two seen only in the second read: all held for a later poll
    xrp = pos("XRPUSDT")
    four = book(BTC, ETH, SOL, xrp)
    decided = confirmed(four, book(SOL, xrp), book(BTC, ETH))
    assert symbols(decided) == {"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"}


def test_a_single_close_in_the_second_read_alone_goes_at_once() -> None:
    assert symbols(confirmed(BEFORE, book(SOL), book(ETH, SOL))) == {"ETHUSDT", "SOLUSDT"}


def test_other_changes_in_the_second_read_are_kept() -> None:
    bigger = pos("SOLUSDT", size="3")
    assert symbols(confirmed(BEFORE, book(), book(BTC, ETH, bigger))) == {
        "BTCUSDT",
        "ETHUSDT",
        "SOLUSDT",
    }
    decided = confirmed(BEFORE, book(), book(BTC, ETH, bigger))
    assert decided is not None and decided.by_key()[bigger.key].size == 3
