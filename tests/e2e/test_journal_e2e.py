"""A damaged journal is a loud stop; `journal recover` rebuilds it and the bot runs on
(issue 12, item 2)."""

from __future__ import annotations

import signal
from decimal import Decimal

from e2e_rig import TRADER_A, TRADER_B, wait_for

from journal_damage import damage_middle, grow_journal
from lightspeed_cli.sim.binance import FakePosition

EXIT_STOPPED = 3


def test_damaged_journal_stops_loudly_and_recover_lets_it_run_again(e2e, webhook) -> None:
    bot, binance = e2e.bot, e2e.binance
    bot.env["LIGHTSPEED_NOTIFY__WEBHOOK_URL"] = webhook.url
    for trader in (TRADER_A, TRADER_B):
        binance.clear_positions(trader)
    bot.start()
    wait_for("both traders baselined", lambda: bot.baselined(TRADER_A, TRADER_B))
    binance.set_positions(TRADER_A, [FakePosition.long("BTCUSDT", "1", "60000")])
    wait_for("the open mirrored", lambda: e2e.bybit_size("BTCUSDT", "long") == Decimal("0.1"))
    assert bot.stop(signal.SIGTERM) == 0, bot.log_text()

    journal = bot.data_dir / "journal.sqlite3"
    grow_journal(journal)  # months of events: the middle of the file is pages in use
    damage_middle(journal)

    bot.start()
    assert bot.proc is not None
    code = bot.proc.wait(60)
    log = bot.latest_log()
    assert code == EXIT_STOPPED, log
    assert "is damaged" in log and "lightspeed journal recover" in log, log
    assert "following" not in log and "Traceback" not in log, log
    alert = next(r for r in webhook.received if r.get("kind") == "journal")
    assert "trading stopped" in alert["text"] and "journal recover" in alert["action"]

    check = bot.cli("journal", "check")
    assert check.returncode == EXIT_STOPPED, check.stdout + check.stderr
    status = bot.cli("status")  # whether it reaches the damaged pages or not: no traceback
    assert status.returncode in (0, EXIT_STOPPED) and "Traceback" not in status.stderr

    recovered = bot.cli("journal", "recover")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert "rebuilt" in recovered.stdout and "reconciles" in recovered.stdout
    assert list(bot.data_dir.glob("journal.sqlite3.damaged-*"))
    assert bot.cli("journal", "check").returncode == 0

    # run again: it follows, and the position opened before the damage is still mirrored
    bot.start()
    wait_for("following again", lambda: "following" in bot.latest_log())
    binance.clear_positions(TRADER_A)
    wait_for("the close mirrored", lambda: e2e.bybit_size("BTCUSDT", "long") == 0)
    assert bot.stop(signal.SIGTERM) == 0, bot.log_text()
