"""`run --paper` needs no keys and no license and sends nothing; `doctor` checks everything."""

from __future__ import annotations

import signal

from e2e_rig import TRADER_A, TRADER_B, wait_for

from lightspeed_cli.sim.binance import FakePosition


def test_paper_run_mirrors_locally_without_keys_or_license(e2e) -> None:
    bot, binance, bybit = e2e.bot, e2e.binance, e2e.bybit
    for name in ("LIGHTSPEED_BYBIT_API_KEY", "LIGHTSPEED_BYBIT_API_SECRET"):
        bot.env.pop(name)
    deactivated = bot.cli("license", "deactivate", "--yes")
    assert deactivated.returncode == 0, deactivated.stderr
    for trader in (TRADER_A, TRADER_B):
        binance.clear_positions(trader)
    bot.start_args = ["--paper"]
    bot.start()
    paper_journal = bot.data_dir / "paper-journal.sqlite3"
    wait_for("paper journal", paper_journal.exists)
    bot.journal_file = paper_journal.name
    wait_for("baselined", lambda: bot.baselined(TRADER_A, TRADER_B))
    binance.set_positions(TRADER_A, [FakePosition.long("ETHUSDT", "10", "3000")])
    wait_for("paper fill", lambda: bot.order_statuses() == ["filled"])
    assert bybit.orders == []  # nothing reached the exchange
    assert bot.stop(signal.SIGTERM) == 0, bot.log_text()
    status = bot.cli("status", "--paper")
    assert status.returncode == 0 and "ETHUSDT" in status.stdout
    live = bot.cli("status")
    assert live.returncode == 1 and "no journal yet" in live.stderr


def test_live_run_without_keys_fails_clearly(e2e) -> None:
    bot = e2e.bot
    bot.env.pop("LIGHTSPEED_BYBIT_API_KEY")
    result = bot.cli("run", "--no-live", timeout=60)
    assert result.returncode == 1
    assert "no Bybit API key/secret found" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_doctor_all_good_then_each_problem(e2e) -> None:
    bot = e2e.bot
    ok = bot.cli("doctor")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "all good" in ok.stdout and "clock skew" in ok.stdout
    assert "fake-bybit-secret" not in ok.stdout
    bot.env.pop("LIGHTSPEED_BYBIT_API_SECRET")
    bot.env["LIGHTSPEED_BYBIT__BASE_URL"] = "http://127.0.0.1:9"
    bad = bot.cli("doctor")
    assert bad.returncode == 1
    assert "secret bybit_api_secret" in bad.stdout and "Bybit reachable" in bad.stdout
    assert bad.stdout.count("FAIL") == 2
