"""`lightspeed selftest` as the user runs it: a real `lightspeed` process, its config pointing at
the fake Bybit, the keys from the environment, the report in the data dir."""

from __future__ import annotations

import json


def test_selftest_process_passes_leaves_the_account_flat_and_saves_the_report(e2e) -> None:
    bot, bybit = e2e.bot, e2e.bybit
    bot.env["LIGHTSPEED_BYBIT__RECV_WINDOW_MS"] = "60000"  # round trips under load: no WARN
    run = bot.cli("selftest", "--network", "testnet", "--listing-timeout", "5", timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "every check passed" in run.stdout and "FAIL" not in run.stdout
    assert "fake-bybit-key" not in run.stdout + run.stderr
    assert "fake-bybit-secret" not in run.stdout + run.stderr
    (saved,) = (bot.data_dir / "selftest").glob("selftest-testnet-*.json")
    report = json.loads(saved.read_text())
    assert {c["status"] for c in report["checks"]} == {"PASS"}
    assert "fake-bybit" not in saved.read_text()
    assert [o.reduce_only for o in bybit.orders] == [False, True]
    assert bybit.ledger.open_positions() == []
    # the bot's own journal saw nothing: the self-test trades beside it, not through it
    assert not (bot.data_dir / "journal.sqlite3").exists() or bot.order_statuses() == []
