"""A leader's strings reach the terminal, logs and webhooks clean (issue 22, item 9)."""

from __future__ import annotations

import logging

import pytest

from lightspeed_cli.config.logsetup import RedactingFilter
from lightspeed_cli.config.sections import NotifySettings
from lightspeed_cli.config.text import printable, without_mass_mentions
from lightspeed_cli.notify.webhook import Notifier, webhook_payload

EVIL = "Whale\u202eDSU\u2066\x1b[2J\r\nERROR forged line\u200b\x07"


def test_control_bidi_and_invisible_characters_are_removed() -> None:
    assert printable(EVIL) == "WhaleDSU[2JERROR forged line"
    assert printable("a\nb\tc", keep="\n") == "a\nbc"
    assert printable("Kim 金 Ünal") == "Kim 金 Ünal"  # letters of any script stay
    assert printable("x" * 100, limit=64) == "x" * 64


@pytest.mark.parametrize("text", ["@everyone", "hi @here now", "@EVERYONE"])
def test_mass_mentions_are_broken(text: str) -> None:
    assert "@everyone" not in without_mass_mentions(text).lower()
    assert "@here" not in without_mass_mentions(text).lower()


def test_a_log_line_with_a_leader_string_cannot_forge_another() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "trader %s opened", (EVIL,), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "trader WhaleDSU[2J\nERROR forged line opened"
    assert "\x1b" not in record.getMessage() and "\r" not in record.getMessage()


async def test_discord_pings_no_one_and_gets_no_control_characters(webhook) -> None:
    url = webhook.url.replace("/hook", "/discord.com/api/webhooks/1/abc")
    notifier = Notifier(NotifySettings(webhook_url=url))
    notifier.start()
    notifier.notify(f"{EVIL} says @everyone and @here")
    await notifier.aclose()
    (body,) = webhook.received
    assert body["allowed_mentions"] == {"parse": []}
    assert "@everyone" not in body["content"] and "@here" not in body["content"]
    assert "\u202e" not in body["content"] and "\x1b" not in body["content"]


def test_every_webhook_flavour_gets_clean_text() -> None:
    for url in ("https://api.telegram.org/botT/sendMessage", "https://example.test/hook"):
        assert webhook_payload(url, EVIL)["text"] == printable(EVIL, keep="\n")
