"""Webhook notifications: the right body per flavour, delivered, and never blocking the loop."""

from __future__ import annotations

import asyncio

from aiohttp import web

from lightspeed_cli.notify import Notifier, webhook_payload
from lightspeed_cli.settings import NotifySettings


def test_payload_per_flavour() -> None:
    discord = webhook_payload("https://discord.com/api/webhooks/1/abc", "x" * 3000)
    assert discord == {"content": "x" * 2000}
    telegram = webhook_payload("https://api.telegram.org/botTOKEN/sendMessage", "hi", "42")
    assert telegram["chat_id"] == "42" and telegram["text"] == "hi"
    assert webhook_payload("https://example.test/hook", "hi")["text"] == "hi"


async def _server(delay: float) -> tuple[web.AppRunner, str, list[dict]]:
    received: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        await asyncio.sleep(delay)
        received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/hook", received


async def test_messages_are_delivered_in_order() -> None:
    runner, url, received = await _server(0)
    notifier = Notifier(NotifySettings(webhook_url=url))
    notifier.start()
    for i in range(3):
        notifier.notify(f"event {i}")
    await notifier.aclose()
    await runner.cleanup()
    assert [r["text"] for r in received] == ["event 0", "event 1", "event 2"]
    assert notifier.sent == 3


async def test_a_slow_webhook_never_blocks_the_caller() -> None:
    runner, url, received = await _server(0.5)
    notifier = Notifier(NotifySettings(webhook_url=url))
    notifier.start()
    for i in range(20):
        assert notifier.notify(f"event {i}") is None  # plain call: it cannot await the hook
    assert received == []  # all twenty queued before the first delivery even started
    await notifier.aclose(flush_timeout=0.1)
    await runner.cleanup()
    assert len(received) < 20


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
