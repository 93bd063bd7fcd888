"""A trader the bot cannot read is a webhook alert, and red in `status` (issue 12, item 5)."""

from __future__ import annotations

import signal

from e2e_rig import TRADER_A, TRADER_B, wait_for

from lightspeed_cli.sim.binance import Fault


def test_a_binance_ban_is_a_blind_alert_on_the_webhook_and_red_in_status(e2e, webhook) -> None:
    bot, binance = e2e.bot, e2e.binance
    bot.env["LIGHTSPEED_NOTIFY__WEBHOOK_URL"] = webhook.url
    bot.env["LIGHTSPEED_NOTIFY__BLIND_AFTER_SECONDS"] = "5"
    for trader in (TRADER_A, TRADER_B):
        binance.clear_positions(trader)
    bot.start()
    wait_for("both traders baselined", lambda: bot.baselined(TRADER_A, TRADER_B))
    assert not [t for t in webhook.texts() if "[blind]" in t]

    # Binance bans the bot's only IP for an hour: no trader can be read
    binance.inject(Fault.BAN, retry_after=3600)

    def blind_alerts() -> list[dict]:
        return [r for r in webhook.received if r.get("kind") == "blind"]

    wait_for("a blind alert for both traders", lambda: len(blind_alerts()) >= 2, timeout=30)
    alerts = blind_alerts()
    assert {a["subject"].split(" (")[-1].rstrip(")") for a in alerts} == {TRADER_A, TRADER_B}
    for alert in alerts:
        assert alert["state"] == "raised"
        assert "not read successfully for" in alert["text"]
        assert "HTTP 418" in alert["text"] and "Retry-After 3600" in alert["text"]
        assert "What to do:" in alert["text"] and "close on Bybit by hand" in alert["action"]

    status = bot.cli("status")
    assert status.returncode == 0, status.stderr
    lines = [line for line in status.stdout.splitlines() if TRADER_A in line]
    assert any("BLIND" in line for line in lines), status.stdout

    # still blind a few seconds later: no second message (rate-limited per trader)
    seen = len(webhook.received)
    wait_for("more blind seconds", lambda: "BLIND" in bot.cli("status").stdout)
    assert len(blind_alerts()) == 2 and len(webhook.received) == seen
    assert bot.alive()
    assert bot.stop(signal.SIGTERM) == 0, bot.log_text()
