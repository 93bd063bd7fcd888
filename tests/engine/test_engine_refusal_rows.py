"""Issue 22, item 6: an answer of many symbols Bybit does not list, read poll after poll,
writes a bounded number of journal rows and a bounded WAL (it once wrote 64 MiB in a second
and filled the disk)."""

from __future__ import annotations

from engine_rig import TRADER_A

from lightspeed_cli.journal.db import WAL_KEEP_BYTES
from lightspeed_cli.sim.binance import FakePosition

SYMBOLS = [f"ZZ{i:03d}USDT" for i in range(300)]  # none of them a Bybit market
POLLS = 15


def signal_rows(rig) -> int:
    return int(rig.engine.journal._db.execute("SELECT COUNT(*) FROM signals").fetchone()[0])


async def test_many_unknown_symbols_polled_many_times_write_bounded_rows(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat()  # baseline: flat
    for poll in range(1, POLLS + 1):  # the leader grows every one of them, every poll
        rig.binance.set_positions(TRADER_A, [FakePosition.long(s, str(poll), "1") for s in SYMBOLS])
        await rig.poll()
    assert rig.bybit.orders == []
    # the refused open, then the skipped growth (not mirrored): a row each per symbol, with
    # its repeats counted, not a row per poll (POLLS x 300 before)
    assert signal_rows(rig) == 2 * len(SYMBOLS)
    rows = rig.engine.journal.history(limit=10_000)
    assert sum(r["repeats"] for r in rows) == (POLLS - 2) * len(SYMBOLS)
    rig.engine.journal.checkpoint()
    assert rig.engine.journal.wal_bytes() < WAL_KEEP_BYTES
