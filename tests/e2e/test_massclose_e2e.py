"""`lightspeed run`: one empty lead-portfolio answer closes nothing; a real mass close does
(issue 12, item 4)."""

from __future__ import annotations

import json
import signal
import time
from decimal import Decimal

from e2e_rig import TRADER_A, TRADER_B, wait_for

from lightspeed_cli.sim.binance import FakePosition, Fault

EMPTY = json.dumps({"code": "000000", "message": None, "data": [], "success": True})


def test_an_empty_answer_between_normal_ones_sends_nothing_a_real_mass_close_closes_all(
    e2e,
) -> None:
    bot, binance, bybit = e2e.bot, e2e.binance, e2e.bybit
    binance.clear_positions(TRADER_B)
    binance.clear_positions(TRADER_A)
    bot.start()
    wait_for("both traders baselined", lambda: bot.baselined(TRADER_A, TRADER_B))
    binance.set_positions(
        TRADER_A,
        [FakePosition.long("BTCUSDT", "1", "60000"), FakePosition.short("ETHUSDT", "10", "3000")],
    )
    wait_for("two opens", lambda: len(bybit.orders) == 2)

    binance.inject(Fault.BODY, trader=TRADER_A, times=1, body=EMPTY)
    wait_for("the odd answer served", lambda: not binance._rules)
    time.sleep(1.0)  # several normal polls after it
    assert len(bybit.orders) == 2, [o.order_link_id for o in bybit.orders]
    assert e2e.bybit_size("BTCUSDT", "long") == Decimal("0.1")
    assert e2e.bybit_size("ETHUSDT", "short") == Decimal("1")

    binance.clear_positions(TRADER_A)  # the trader really closes both
    wait_for("both closes", lambda: len(bybit.orders) == 4)
    assert e2e.bybit_size("BTCUSDT", "long") == 0 and e2e.bybit_size("ETHUSDT", "short") == 0
    assert bot.stop(signal.SIGTERM) == 0, bot.log_text()
    assert "ignored as a glitch, nothing sent" in bot.log_text()
