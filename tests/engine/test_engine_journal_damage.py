"""A journal damaged under the running engine stops trading loudly, never a silent loop of
DatabaseError (issue 12, item 2); the live view shows a blind trader in red."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from datetime import timedelta
from pathlib import Path

from engine_rig import TRADER_A, TRADER_B
from rich.console import Console

from lightspeed_cli.engine.loop import EXIT_FATAL
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.notify.alerts import Kind
from lightspeed_cli.views.live import render


def _damage_table(path: Path, table: str) -> None:
    """Overwrite the root pages of `table` and its indexes in the main file (the WAL folded
    in first)."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    roots = [
        r[0] for r in db.execute("SELECT rootpage FROM sqlite_master WHERE tbl_name=?", (table,))
    ]
    db.close()
    noise = random.Random(7)
    with path.open("r+b") as f:
        for root in roots:
            f.seek((root - 1) * page_size)
            f.write(noise.randbytes(page_size))


async def test_damage_found_mid_run_stops_trading_with_an_alert(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat(TRADER_A, TRADER_B)
    path = rig.engine.journal.path
    rig.engine.journal.close()
    _damage_table(path, "leader_book")
    # the engine's connection would serve the old page from its cache; a disk fault shows to
    # a connection reading the page afresh, as this one does
    rig.engine.journal = Journal(path)
    code = await asyncio.wait_for(rig.engine.run(asyncio.Event()), timeout=60)
    assert code == EXIT_FATAL
    assert rig.engine.fatal is not None and "is damaged" in rig.engine.fatal
    assert "lightspeed journal recover" in rig.engine.fatal
    assert rig.engine.alerts.is_active(Kind.JOURNAL, "journal")
    journal_alerts = [t for t in rig.engine.alerts.sent if "[journal]" in t]
    assert len(journal_alerts) == 1 and "trading stopped" in journal_alerts[0]
    assert rig.bybit.orders == []


async def test_live_view_shows_a_blind_trader_in_red(make_rig) -> None:
    rig = await make_rig()
    await rig.poll_flat(TRADER_A, TRADER_B)
    view = rig.engine.view.traders
    assert view[TRADER_A].last_ok_at is not None
    view[TRADER_A].last_ok_at -= timedelta(seconds=61)
    console = Console(width=220, record=True)
    console.print(render(rig.engine, rig.engine.settings, "valid"))
    lines = console.export_text().splitlines()
    assert any("BLIND" in line for line in lines if TRADER_A in line)
    assert not any("BLIND" in line for line in lines if TRADER_B in line)
