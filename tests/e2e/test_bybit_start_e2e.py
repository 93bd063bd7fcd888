"""`lightspeed run` against a Bybit account it cannot use at start (issue 22, item 10)."""

from __future__ import annotations


def test_a_wrong_bybit_secret_at_start_exits_3_as_documented(e2e) -> None:
    bot = e2e.bot
    bot.env = {**bot.env, "LIGHTSPEED_BYBIT_API_SECRET": "not-the-secret"}
    done = bot.cli("run", "--no-live")
    said = done.stdout + done.stderr
    assert done.returncode == 3, said
    assert "invalid key" in said and "Traceback" not in said
    assert "not-the-secret" not in said
    assert e2e.bybit.orders == []
