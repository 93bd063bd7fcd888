"""A damaged `journal.control.sqlite3` (garbage, truncated) is moved aside with an alert and
`run` goes on trading (issue 22, item 4): no traceback, no silent restart loop under systemd."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from e2e_rig import TRADER_A, wait_for

from lightspeed_cli.sim.binance import FakePosition
from lightspeed_cli.steering.control import Command, ControlStore

pytestmark = pytest.mark.timeout(300)


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database\n" * 200)


def _truncated(path: Path) -> None:
    with ControlStore(path) as store:
        for _ in range(2000):
            store.submit(Command.PAUSE, "shell")
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size // 2)


@pytest.mark.parametrize("damage", [_garbage, _truncated], ids=["garbage", "truncated"])
def test_run_goes_on_with_a_damaged_control_file(e2e, damage) -> None:  # type: ignore[no-untyped-def]
    bot = e2e.bot
    bot.data_dir.mkdir(parents=True, exist_ok=True)
    control = bot.data_dir / "journal.control.sqlite3"
    damage(control)
    e2e.start_flat()
    e2e.binance.set_positions(TRADER_A, [FakePosition.long("BTCUSDT", "1", "60000")])
    wait_for("the open", lambda: e2e.bybit_size("BTCUSDT", "long") > Decimal(0))
    assert bot.alive(), bot.log_text()
    log = bot.log_text()
    assert "Traceback" not in log, log
    assert "control file" in log and "moved aside" in log, log
    assert list(bot.data_dir.glob("journal.control.sqlite3.damaged-*")), "moved aside"
    said = bot.query("SELECT message FROM events WHERE message LIKE '%control file%'")
    assert said, "the alert is journaled (and sent: Events.report notifies)"
    paused = bot.cli("pause")  # the fresh control file works
    assert paused.returncode == 0 and "the running bot acted" in paused.stdout, paused
    assert bot.stop() == 0
