"""massclose.py: a suspect change in one answer waits for a second read that agrees."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from lightspeed_cli.decisions.massclose import (
    ABSURD_FACTOR,
    Suspect,
    absurd,
    agreed,
    closed_keys,
    confirmed,
    needs_confirmation,
    suspects,
)
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


def test_one_close_alone_is_read_again_too() -> None:
    """Issue 22: a single vanished row is a close + reopen when the next answer has it back."""
    assert needs_confirmation(BEFORE, book(ETH, SOL))
    assert needs_confirmation(book(BTC), book())  # the only position closing
    assert not needs_confirmation(None, book())  # a first read closes nothing
    assert not needs_confirmation(BEFORE, BEFORE)


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


# --- absurd sizes, flips and renames (issue 22) --------------------------------------------


def sized(symbol: str, size: str, side: Side = Side.LONG) -> TraderPosition:
    return pos(symbol, side, size)


@pytest.mark.parametrize(
    ("new", "suspect"),
    [
        ("10", None),  # exactly 10x: acted on at once
        ("10.000001", Suspect.GREW),  # just above
        ("9.999999", None),  # just below
        ("0.1", None),  # exactly 1/10
        ("0.099999", Suspect.SHRANK),  # just below 1/10
        ("0.100001", None),  # just above 1/10
        ("100", Suspect.GREW),
        ("0.00001", Suspect.SHRANK),
    ],
)
def test_a_size_beyond_the_factor_in_one_read_is_suspect(new: str, suspect) -> None:
    assert ABSURD_FACTOR == 10
    assert absurd(Decimal(1), Decimal(new)) is suspect
    current = book(sized("BTCUSDT", new), ETH, SOL)
    assert needs_confirmation(BEFORE, current) is (suspect is not None)
    assert suspects(BEFORE, current) == ({BTC.key: suspect} if suspect else {})


def test_a_spike_the_second_read_does_not_repeat_is_dropped() -> None:
    spike = book(sized("BTCUSDT", "100"), ETH, SOL)
    assert confirmed(BEFORE, spike, BEFORE) == BEFORE
    # two symbols x1000 at once, the second read normal again
    spikes = book(sized("BTCUSDT", "1000"), pos("ETHUSDT", Side.SHORT, "1000"), SOL)
    assert confirmed(BEFORE, spikes, BEFORE) == BEFORE


def test_a_spike_seen_only_in_the_second_read_is_held() -> None:
    decided = confirmed(
        BEFORE, book(sized("BTCUSDT", "2"), ETH, SOL), book(sized("BTCUSDT", "0.01"), ETH, SOL)
    )
    assert decided is not None and decided.by_key()[BTC.key].size == 1


def test_a_real_jump_both_reads_see_is_acted_on() -> None:
    first = book(sized("BTCUSDT", "20"), ETH, SOL)
    second = book(sized("BTCUSDT", "21"), ETH, SOL)
    assert confirmed(BEFORE, first, second) == second
    assert agreed(BEFORE, second) == {BTC.key: Suspect.GREW}


def test_a_sign_flip_is_a_close_plus_reopen_to_confirm() -> None:
    flipped = book(pos("BTCUSDT", Side.SHORT), ETH, SOL)
    seen = suspects(BEFORE, flipped)
    assert seen == {BTC.key: Suspect.CLOSED, ("BTCUSDT", Side.SHORT): Suspect.OPENED}
    assert confirmed(BEFORE, flipped, BEFORE) == BEFORE  # one answer: nothing done
    assert confirmed(BEFORE, flipped, flipped) == flipped  # two: the flip goes


def test_a_renamed_row_is_confirmed_and_the_new_name_not_opened_alone() -> None:
    renamed = book(pos("BTCUSDC"), ETH, SOL)
    assert suspects(BEFORE, renamed) == {
        BTC.key: Suspect.CLOSED,
        ("BTCUSDC", Side.LONG): Suspect.OPENED,
    }
    assert symbols(confirmed(BEFORE, renamed, BEFORE)) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}


def test_an_open_without_a_close_is_not_suspect() -> None:
    assert suspects(BEFORE, book(BTC, ETH, SOL, pos("XRPUSDT"))) == {}
