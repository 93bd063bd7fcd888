"""alerts.py: the first message at once, one reminder per period, "resolved" once, no flood."""

from __future__ import annotations

from lightspeed_cli.config.sections import NotifySettings
from lightspeed_cli.notify import alerts
from lightspeed_cli.notify.alerts import Alerts, Kind
from lightspeed_cli.notify.webhook import Notifier


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def book(repeat: float = 600, burst: int = 10) -> tuple[Alerts, Clock]:
    clock = Clock()
    return Alerts(None, repeat_seconds=repeat, burst=burst, clock=clock), clock


def test_first_at_once_then_silent_until_the_repeat_period() -> None:
    a, clock = book(repeat=600)
    assert a.raise_(Kind.BLIND, "t1", "not read for 61 s", "check the proxies")
    assert "What to do: check the proxies" in a.sent[-1] and "ALERT [blind] t1" in a.sent[-1]
    for _ in range(100):
        clock.now += 5
        a.raise_(Kind.BLIND, "t1", "not read for longer", "check the proxies")
    assert len(a.sent) == 1  # 500 s of polls: still the one message
    clock.now += 100  # 600 s after the first
    assert a.raise_(Kind.BLIND, "t1", "not read for 661 s", "check the proxies")
    assert a.sent[-1].startswith("LightSpeed STILL [blind] t1: not read for 661 s")


def test_resolved_once_and_only_for_what_was_said() -> None:
    a, _ = book()
    assert not a.clear(Kind.BLIND, "t1")  # never raised: nothing to say
    a.raise_(Kind.BLIND, "t1", "blind", "wait")
    assert a.is_active(Kind.BLIND, "t1")
    assert a.clear(Kind.BLIND, "t1", "read again")
    assert a.sent[-1] == "LightSpeed RESOLVED [blind] t1: read again"
    assert not a.clear(Kind.BLIND, "t1")
    assert a.active() == []


def test_keys_are_independent() -> None:
    a, _ = book()
    assert a.raise_(Kind.BLIND, "t1", "x", "y")
    assert a.raise_(Kind.BLIND, "t2", "x", "y")
    assert a.raise_(Kind.ORDER, "t1", "x", "y")
    assert not a.raise_(Kind.BLIND, "t1", "x", "y")
    assert len(a.sent) == 3


def test_flood_guard_holds_back_then_summarises_and_sends_the_held() -> None:
    a, clock = book(burst=3)
    sent = [a.raise_(Kind.BLIND, f"t{i}", "blind", "wait") for i in range(10)]
    assert sent == [True] * 3 + [False] * 7
    clock.now += 61
    assert a.raise_(Kind.BLIND, "t5", "blind", "wait")  # held one goes out once there is room
    assert "7 more alert message(s) were held back" in a.sent[3]
    assert a.sent[4].startswith("LightSpeed ALERT [blind] t5")
    assert not a.clear(Kind.BLIND, "t6")  # held and never said: no "resolved" either


def test_module_level_api_without_an_instance_only_logs(caplog) -> None:
    previous = alerts.install(None)
    try:
        assert not alerts.raise_(Kind.DRIFT, "BTCUSDT long", "Bybit holds more", "check it")
        assert not alerts.clear(Kind.DRIFT, "BTCUSDT long")
    finally:
        alerts.install(previous)
    assert "ALERT [drift] BTCUSDT long: Bybit holds more What to do: check it" in caplog.text


async def test_alerts_reach_the_webhook_with_their_fields(webhook) -> None:
    notifier = Notifier(NotifySettings(webhook_url=webhook.url))
    notifier.start()
    a = Alerts.from_settings(NotifySettings(webhook_url=webhook.url), notifier)
    previous = alerts.install(a)
    try:
        alerts.raise_(Kind.JOURNAL, "journal", "database disk image is malformed", "recover")
        alerts.clear(Kind.JOURNAL, "journal", "journal readable again")
    finally:
        alerts.install(previous)
    await notifier.aclose()
    first, second = webhook.received
    assert first["kind"] == "journal" and first["state"] == "raised"
    assert first["action"] == "recover" and "What to do: recover" in first["text"]
    assert second["state"] == "resolved" and "RESOLVED" in second["text"]


async def test_say_now_is_delivered_before_returning(webhook) -> None:
    settings = NotifySettings(webhook_url=webhook.url)
    await alerts.say_now(settings, Kind.STOPPED, "trading", "journal damaged", "recover it")
    assert webhook.received[0]["state"] == "raised"
