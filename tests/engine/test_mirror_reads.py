"""One signal reads the book entry of its key once (issue 20): the client id, the replay check
and a retried reduce's earlier attempts all work from that one read."""

from __future__ import annotations

import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_rig import TRADER_A

import lightspeed_cli.engine.mirror as mirror_module
from lightspeed_cli.sim.binance import FakePosition

L = FakePosition.long
MIRROR = Path(mirror_module.__file__).resolve()


def count_mirror_reads(monkeypatch: pytest.MonkeyPatch, journal: Any) -> list[int]:
    """Calls of journal.book_entry made from engine/mirror.py, per signal handled."""
    per_signal: list[int] = []
    real: Callable[..., Any] = journal.book_entry

    def book_entry(*args: Any, **kwargs: Any) -> Any:
        if Path(sys._getframe(1).f_code.co_filename).resolve() == MIRROR:
            per_signal[-1] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(journal, "book_entry", book_entry)
    return per_signal


def count_per_signal(monkeypatch: pytest.MonkeyPatch, rig: Any) -> list[int]:
    reads = count_mirror_reads(monkeypatch, rig.engine.journal)
    real_handle = rig.engine.mirror.handle

    async def handle(*args: Any) -> None:
        reads.append(0)
        await real_handle(*args)

    monkeypatch.setattr(rig.engine.mirror, "handle", handle)
    return reads


async def test_each_signal_reads_its_book_entry_once(make_rig, monkeypatch) -> None:
    rig = await make_rig()
    await rig.poll_flat()
    reads = count_per_signal(monkeypatch, rig)
    for size in ("1", "2", "0.5"):  # open, increase, reduce
        rig.binance.set_positions(TRADER_A, [L("BTCUSDT", size, "60000")])
        await rig.poll()
    await rig.poll_flat()  # close
    assert rig.bybit_size("BTCUSDT") == Decimal(0)
    assert reads == [1, 1, 1, 1]


async def test_a_retried_reduce_reads_its_book_entry_once(make_rig, monkeypatch) -> None:
    """The rest of a reduce Bybit cut short sums the earlier attempts from the same read (it
    read the entry again per attempt before)."""
    rig = await make_rig()
    await rig.poll_flat()
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "10", "3000")])
    await rig.poll()
    rig.bybit.partial_fills("0.5")
    rig.binance.set_positions(TRADER_A, [L("ETHUSDT", "6", "3000")])
    reads = count_per_signal(monkeypatch, rig)
    await rig.poll()  # 0.2 of the 0.4 filled
    await rig.poll()  # the rest, as attempt 1
    assert rig.bybit_size("ETHUSDT") == Decimal("0.6")
    assert reads == [1, 1]
