"""blind.py: a trader unread past notify.blind_after_seconds is an alert, exactly past the limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lightspeed_cli.notify.alerts import Alerts, Kind
from lightspeed_cli.notify.blind import blindness, check
from lightspeed_cli.views.status import good_read_cell

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_blind_only_past_the_limit() -> None:
    traders = [("a", at(0), ""), ("b", at(0.001), "")]
    blind, seeing = blindness(traders, started=at(0), now=at(60.0005), limit_seconds=60)
    assert [b.trader for b in blind] == ["a"] and seeing == ["b"]
    assert blind[0].seconds > 60


def test_never_read_counts_from_the_start() -> None:
    blind, seeing = blindness([("a", None, "HTTP 418")], at(0), at(59), 60)
    assert blind == [] and seeing == ["a"]
    blind, _ = blindness([("a", None, "HTTP 418")], at(0), at(61), 60)
    assert blind[0].reason == "HTTP 418" and round(blind[0].seconds) == 61


def test_check_raises_once_and_resolves_when_read_again() -> None:
    alerts = Alerts(None)
    for second in range(61, 120):
        check(alerts, [("a", at(0), "Binance IP banned")], at(0), at(second), 60)
    assert len(alerts.sent) == 1
    assert "not read successfully for 61 s: Binance IP banned" in alerts.sent[0]
    assert "What to do:" in alerts.sent[0]
    check(alerts, [("a", at(119), "")], at(0), at(120), 60)
    assert not alerts.is_active(Kind.BLIND, "a")
    assert alerts.sent[-1].startswith("LightSpeed RESOLVED [blind] a: read successfully again")


def test_status_cell_is_red_past_the_limit() -> None:
    assert good_read_cell(at(0), at(30), 60) == "30s ago"
    assert good_read_cell(at(0).isoformat(), at(61), 60) == "[bold red]61s ago BLIND[/]"
    assert "never" in good_read_cell(None, at(61), 60)
