"""Any license problem at start: `run` starts closing-only (issue 12, item 1).

BTC 0.05 is mirrored under a good lease; the lease is then damaged (one byte flipped), replaced
by a genuine lease of another machine, or removed, and the bot restarted: the leader's close is
still mirrored (Bybit goes flat), the leader's next open is refused with the license's reason,
and `status`, the log and the webhook say the bot is closing only.
"""

from __future__ import annotations

import hashlib
import signal
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from e2e_rig import TRADER_A, TRADER_B, wait_for

from lightspeed_cli.config.secrets import lease_file_path
from lightspeed_cli.sim.binance import FakePosition

L = FakePosition.long


def flip_one_byte(lease: Path) -> None:
    token = lease.read_text()
    middle = len(token) // 2
    flipped = "A" if token[middle] != "A" else "B"
    lease.write_text(token[:middle] + flipped + token[middle + 1 :])


def other_machines_lease(e2e, lease: Path) -> None:
    """A genuine lease, signed by the same server, for another machine's fingerprint."""
    other = hashlib.sha256(b"another machine").hexdigest()
    resp = httpx.post(
        f"{e2e.license.url}/v1/activate",
        json={"key": e2e.license.issue(seats=1), "machine": other},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    lease.write_text(resp.json()["lease"])


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda e2e, lease: flip_one_byte(lease), "lease is not valid"),
        (other_machines_lease, "another machine"),
        (lambda e2e, lease: lease.unlink(), "no license lease found"),
    ],
    ids=["one-byte-flipped", "other-machines-lease", "no-lease"],
)
def test_a_bad_lease_at_start_runs_closing_only(e2e, webhook, damage, said: str) -> None:
    bot, binance, bybit = e2e.bot, e2e.binance, e2e.bybit
    bot.env["LIGHTSPEED_NOTIFY__WEBHOOK_URL"] = webhook.url
    e2e.start_flat()
    binance.set_positions(TRADER_A, [L("BTCUSDT", "0.5", "60000")])
    wait_for("BTC 0.05 mirrored", lambda: e2e.bybit_size("BTCUSDT", "long") == Decimal("0.05"))
    assert bot.stop(signal.SIGTERM) == 0, bot.log_text()

    lease = lease_file_path(bot.data_dir)  # no keyring in the suite: the data dir's file
    assert lease.exists()
    damage(e2e, lease)
    bot.start()
    wait_for("closing-only said at start", lambda: "CLOSING ONLY" in bot.latest_log())
    assert said in " ".join(bot.latest_log().split())
    assert bot.alive(), bot.latest_log()
    status = bot.cli("status")
    assert status.returncode == 0, status.stderr
    assert "CLOSING ONLY" in status.stdout and said in " ".join(status.stdout.split())

    binance.clear_positions(TRADER_A)  # the leader goes flat: the close still mirrors
    wait_for("Bybit flat", lambda: e2e.bybit_size("BTCUSDT", "long") == 0)

    binance.set_positions(TRADER_B, [L("ETHUSDT", "10", "3000")])  # a new open: refused
    refused = wait_for(
        "open refused by the license",
        lambda: bot.query("SELECT reason FROM signals WHERE check_name='license'"),
    )
    assert (
        said in refused[0]["reason"] and "closing and reducing still mirror" in refused[0]["reason"]
    )
    assert e2e.bybit_size("ETHUSDT", "long") == 0
    assert len(bybit.orders) == 2  # the open before, the close after: nothing else

    events = bot.query("SELECT message FROM events WHERE message LIKE 'license:%'")
    assert len(events) == 1 and "CLOSING ONLY" in events[0]["message"]  # said once
    wait_for("webhook told", lambda: [t for t in webhook.texts() if "CLOSING ONLY" in t])
    history = bot.cli("history", "--csv", "-")
    assert ",refused,license," in history.stdout
    assert bot.stop(signal.SIGTERM) == 0, bot.log_text()
