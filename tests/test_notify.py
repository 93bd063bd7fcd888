"""Webhook notifications: the right body per flavour, delivered, and never blocking the loop."""

from __future__ import annotations

from lightspeed_cli.config.sections import NotifySettings
from lightspeed_cli.notify.webhook import Notifier, webhook_payload


def test_payload_per_flavour() -> None:
    discord = webhook_payload("https://discord.com/api/webhooks/1/abc", "x" * 3000)
    assert discord == {"content": "x" * 2000, "allowed_mentions": {"parse": []}}
    telegram = webhook_payload("https://api.telegram.org/botTOKEN/sendMessage", "hi", "42")
    assert telegram["chat_id"] == "42" and telegram["text"] == "hi"
    assert webhook_payload("https://example.test/hook", "hi")["text"] == "hi"


async def test_messages_are_delivered_in_order(webhook) -> None:
    notifier = Notifier(NotifySettings(webhook_url=webhook.url))
    notifier.start()
    for i in range(3):
        notifier.notify(f"event {i}")
    await notifier.aclose()
    assert webhook.texts() == ["event 0", "event 1", "event 2"]
    assert notifier.sent == 3


async def test_a_slow_webhook_never_blocks_the_caller(webhook) -> None:
    webhook.delay = 0.5
    notifier = Notifier(NotifySettings(webhook_url=webhook.url))
    notifier.start()
    for i in range(20):
        assert notifier.notify(f"event {i}") is None  # plain call: it cannot await the hook
    assert webhook.received == []  # all twenty queued before the first delivery even started
    await notifier.aclose(flush_timeout=0.1)
    assert len(webhook.received) < 20


def test_alert_fields_reach_a_generic_webhook_only() -> None:
    fields = {"kind": "blind", "state": "raised"}
    generic = webhook_payload("https://example.test/hook", "hi", fields=fields)
    assert generic["kind"] == "blind" and generic["text"] == "hi"
    assert "kind" not in webhook_payload("https://discord.com/api/webhooks/1/a", "hi", "", fields)


async def test_unreachable_webhook_is_counted_not_raised(caplog) -> None:
    notifier = Notifier(NotifySettings(webhook_url="http://127.0.0.1:9/secret-token"), timeout=1)
    notifier.start()
    notifier.notify("x")
    await notifier.aclose()
    assert notifier.failed == 1
    assert "secret-token" not in caplog.text


def test_disabled_without_url() -> None:
    notifier = Notifier(NotifySettings())
    notifier.notify("nothing happens")
    assert not notifier.enabled
