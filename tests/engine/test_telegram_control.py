"""Telegram control end to end: the real engine loop against the fake Binance and Bybit, and
python-telegram-bot against the fake Bot API server (src/lightspeed_cli/sim/telegram.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
from engine_rig import TRADER_A, TRADER_B, until

from lightspeed_cli.notify.webhook import Notifier
from lightspeed_cli.sim.binance import FakePosition
from lightspeed_cli.sim.telegram import FakeTelegram
from lightspeed_cli.steering import telegram as tg_module
from lightspeed_cli.steering.wiring import Steering

pytestmark = pytest.mark.timeout(300)  # whole sessions of the real loop, on a busy box

L = FakePosition.long
S = FakePosition.short
CHAT = 424242
STRANGER = 999


@pytest.fixture
def fake_telegram():  # type: ignore[no-untyped-def]
    with FakeTelegram.running() as fake:
        yield fake


@pytest.fixture(autouse=True)
def quick_telegram(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short timeouts so a hanging fake is given up on quickly (the logic is the same)."""
    monkeypatch.setattr(tg_module, "REQUEST_TIMEOUT", 1.0)
    monkeypatch.setattr(tg_module, "POLL_TIMEOUT", 1)
    monkeypatch.setattr(tg_module, "START_BACKOFF", (0.2, 1.0))


async def reply(fake: FakeTelegram, contains: str, after: int = 0, timeout: float = 20.0) -> Any:
    """The first message to CHAT, from the `after`-th on, containing `contains`."""
    return await until(
        f"a message with {contains!r}",
        lambda: next((s for s in fake.sent_to(CHAT)[after:] if contains in s.text), None),
        timeout,
    )


@asynccontextmanager
async def running_bot(
    rig: Any, telegram: FakeTelegram | None, monkeypatch: pytest.MonkeyPatch, chat: int = CHAT
) -> AsyncIterator[Steering]:
    """`lightspeed run`'s loop in-process: the engine, the control door and Telegram."""
    engine = rig.engine
    if telegram is not None:
        monkeypatch.setenv("LIGHTSPEED_TELEGRAM_TOKEN", telegram.token)
        engine.settings.notify.telegram_chat_id = str(chat)
        engine.settings.notify.telegram_api_url = telegram.base_url
    else:
        monkeypatch.delenv("LIGHTSPEED_TELEGRAM_TOKEN", raising=False)
    engine.notifier = Notifier(engine.settings.notify)
    steering = rig.steer()
    assert (steering.telegram is not None) is (telegram is not None)
    stop = asyncio.Event()
    steering.start(stop)
    loop = asyncio.create_task(engine.run(stop))
    try:
        yield steering
    finally:
        stop.set()
        await loop
        await steering.aclose()


async def test_telegram_commands_steer_the_running_bot(
    make_rig, fake_telegram: FakeTelegram, monkeypatch, caplog
) -> None:
    caplog.set_level(logging.INFO)
    tg = fake_telegram
    rig = await make_rig(steered=True)
    rig.binance.clear_positions(TRADER_A)
    rig.binance.clear_positions(TRADER_B)
    async with running_bot(rig, tg, monkeypatch) as steering:
        await until("Telegram polling", lambda: tg.calls("getUpdates") > 0)
        await until("baselines", lambda: rig.engine.journal.book_snapshot(TRADER_B))
        rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "2", "60000")])
        await until("A's open", lambda: rig.bybit_size("BTCUSDT") == Decimal("0.2"))
        await reply(tg, "EXECUTED")  # the trade message the webhook would send, in the chat

        # another chat is never answered, and cannot command
        tg.user_says(STRANGER, "/pause")
        tg.user_says(STRANGER, "/status")
        tg.user_says(CHAT, "/help")
        await reply(tg, "/closeall")
        assert not steering.control.paused
        assert tg.sent_to(STRANGER) == []

        tg.user_says(CHAT, "/pause")
        await reply(tg, "paused: no new positions")
        assert steering.control.paused
        rig.binance.set_positions(
            TRADER_A, [L("BTCUSDT", "1", "60000"), S("ETHUSDT", "10", "3000")]
        )
        await until("A's reduce", lambda: rig.bybit_size("BTCUSDT") == Decimal("0.1"))
        await until(
            "ETH open refused",
            lambda: [r for r in rig.engine.journal.history() if r["check_name"] == "paused"],
        )
        assert rig.bybit_size("ETHUSDT", "short") == Decimal(0)

        tg.user_says(CHAT, "/status")
        status = await reply(tg, "Realised PnL today")
        assert "PAUSED" in status.text and "alpha" in status.text and "beta" in status.text
        assert "BTCUSDT long 0.1" in status.text and "uPnL" in status.text
        assert "last good read" in status.text
        for command, expected in (
            ("/positions", "Open positions (1)"),
            ("/pnl 3", "last 3 day(s)"),
            ("/history 5", "refused (paused)"),
            ("/traders", "Traders followed"),
        ):
            tg.user_says(CHAT, command)
            await reply(tg, expected)

        tg.user_says(CHAT, "/resume")
        await reply(tg, "resumed")
        assert not steering.control.paused
        rig.binance.set_positions(
            TRADER_A,
            [L("BTCUSDT", "1", "60000"), S("ETHUSDT", "10", "3000"), L("SOLUSDT", "100", "150")],
        )
        await until("A's SOL open", lambda: rig.bybit_size("SOLUSDT") == Decimal("10"))
        rig.bybit.hand_order("XRPUSDT", "Buy", "100")  # the user's own: never touched

        # /closeall asks first; Cancel closes nothing
        tg.user_says(CHAT, "/closeall")
        ask = await reply(tg, "Close every position the bot holds")
        buttons = ask.reply_markup["inline_keyboard"][0]
        assert [b["text"] for b in buttons] == ["Close all", "Cancel"]
        cancel = next(b["callback_data"] for b in buttons if b["text"] == "Cancel")
        tg.press(CHAT, ask.message_id, cancel)
        await reply(tg, "Cancelled")
        assert rig.bybit_size("BTCUSDT") == Decimal("0.1")

        tg.user_says(CHAT, "/closeall")
        seen = len(tg.sent_to(CHAT))
        ask = await reply(tg, "Close every position the bot holds", after=seen - 1)
        yes = ask.reply_markup["inline_keyboard"][0][0]["callback_data"]
        tg.press(STRANGER, ask.message_id, yes)  # a stranger's press does nothing
        tg.press(CHAT, ask.message_id, yes)
        # the button's message is edited with the result (the engine's own event line with
        # the same words may reach the chat first, as a message of its own, under load)
        done = await until(
            "the button's message edited with the result",
            lambda: next(
                (
                    s
                    for s in tg.sent_to(CHAT)
                    if "close-all: closed" in s.text and s.method == "editMessageText"
                ),
                None,
            ),
        )
        assert done.message_id == ask.message_id
        assert rig.bybit_size("BTCUSDT") == 0 and rig.bybit_size("SOLUSDT") == 0
        assert rig.bybit.ledger.position("XRPUSDT", 0).size == Decimal("100")
        assert rig.engine.journal.mirrored_positions() == []
        assert steering.control.paused
        tg.press(CHAT, ask.message_id, yes)  # the same button again: expired, nothing sent
        await reply(tg, "expired")
        assert len(tg.answered_callbacks) == 3
    ignored = [r for r in caplog.records if "ignored a message from chat 999" in r.getMessage()]
    assert len(ignored) == 1  # logged once, however many times the stranger writes
    # the token is in every Bot API URL: only httpx's request lines (silenced below WARNING and
    # redacted by logsetup in `lightspeed run`) may carry it, never ours or python-telegram-bot's
    ours = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert ours and all(tg.token not in r.getMessage() for r in ours)


SCRIPT = (
    [L("BTCUSDT", "1", "60000")],
    [L("BTCUSDT", "2", "60000"), S("ETHUSDT", "10", "3000")],
    [L("BTCUSDT", "0.5", "60000"), S("ETHUSDT", "10", "3000")],
    [S("ETHUSDT", "4", "3000")],
    [],
)


async def scripted_session(rig: Any) -> list[tuple[str, str, Decimal, bool]]:
    """A leader session, each step waited for on Bybit; the orders it produced."""
    rig.binance.clear_positions(TRADER_A)
    rig.binance.clear_positions(TRADER_B)
    await until("baseline", lambda: rig.engine.journal.book_snapshot(TRADER_A))
    for n, (positions, signals) in enumerate(zip(SCRIPT, (1, 3, 4, 6, 7), strict=True)):
        rig.binance.set_positions(TRADER_A, positions)
        await until(
            f"step {n} journaled",
            lambda want=signals: len(rig.engine.journal.history()) >= want,
        )
        await until(
            f"step {n} settled",
            lambda: not [r for r in rig.engine.journal.history() if r["decision"] == "pending"],
        )
    return [(o.symbol, o.side, o.qty, o.reduce_only) for o in rig.bybit.orders]


@pytest.mark.parametrize("trouble", ["down", "hanging"])
async def test_telegram_unreachable_changes_no_trade(
    make_rig, fake_telegram: FakeTelegram, monkeypatch, trouble: str, tmp_path
) -> None:
    from lightspeed_cli.sim.bybit import FakeBybit

    with FakeBybit.running() as plain_bybit:
        plain = await make_rig(
            plain_bybit, steered=True, storage={"data_dir": str(tmp_path / "plain")}
        )
        async with running_bot(plain, None, monkeypatch):
            without = await scripted_session(plain)
    rig = await make_rig(steered=True)
    if trouble == "down":
        fake_telegram.go_down()
    else:
        fake_telegram.hang(True)
    async with running_bot(rig, fake_telegram, monkeypatch) as steering:
        with_trouble = await scripted_session(rig)
        assert steering.telegram is not None and steering.telegram.sent == 0
    assert with_trouble == without
    assert len(without) == 7
    assert rig.engine.journal.mirrored_positions() == []


# -- issue 22, item 2: a group member, an edit, an old command or a revoked token ----------

GROUP, OWNER, PARTNER, MEMBER = -1001234567890, 111, 333, 222


def _in(fake: FakeTelegram, chat: int, contains: str) -> list[Any]:
    return [s for s in fake.sent_to(chat) if contains in s.text]


async def test_in_a_group_only_the_listed_users_command_and_only_the_asker_confirms(
    make_rig, fake_telegram: FakeTelegram, monkeypatch, caplog
) -> None:
    tg = fake_telegram
    rig = await make_rig(steered=True)
    rig.binance.clear_positions(TRADER_A)
    rig.binance.clear_positions(TRADER_B)
    rig.engine.settings.notify.telegram_user_ids = [OWNER, PARTNER]
    async with running_bot(rig, tg, monkeypatch, chat=GROUP) as steering:
        await until("baselines", lambda: rig.engine.journal.book_snapshot(TRADER_B))
        rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "2", "60000")])
        await until("A's open", lambda: rig.bybit_size("BTCUSDT") == Decimal("0.2"))
        tg.user_says(GROUP, "/pause", user_id=MEMBER)  # any member: nothing
        tg.user_says(GROUP, "/closeall", user_id=MEMBER)
        tg.user_says(GROUP, "/closeall", user_id=OWNER)
        ask = await until(
            "the owner's question", lambda: next(iter(_in(tg, GROUP, "Close every")), None)
        )
        assert len(_in(tg, GROUP, "Close every")) == 1 and not steering.control.paused
        yes = ask.reply_markup["inline_keyboard"][0][0]["callback_data"]
        tg.press(GROUP, ask.message_id, yes, user_id=MEMBER)  # not listed: ignored
        tg.press(GROUP, ask.message_id, yes, user_id=PARTNER)  # listed, but did not ask
        await until("the partner's press answered", lambda: len(tg.answered_callbacks) == 1)
        assert rig.bybit_size("BTCUSDT") == Decimal("0.2") and not steering.control.paused
        tg.press(GROUP, ask.message_id, yes, user_id=OWNER)  # still good for the asker
        await until("closed", lambda: rig.bybit_size("BTCUSDT") == 0)
        assert steering.control.paused
    assert "user 222 is not in notify.telegram_user_ids" in caplog.text
    assert "user 333 pressed another user's /closeall button" in caplog.text


async def test_a_group_without_a_user_list_never_commands(
    make_rig, fake_telegram: FakeTelegram, monkeypatch
) -> None:
    tg = fake_telegram
    rig = await make_rig(steered=True)
    async with running_bot(rig, tg, monkeypatch, chat=GROUP) as steering:
        await until("Telegram polling", lambda: tg.calls("getUpdates") > 0)
        tg.user_says(GROUP, "/pause", user_id=OWNER)
        tg.user_says(GROUP, "/help", user_id=OWNER)
        await until("both read", lambda: tg.calls("getUpdates") > 3)
        await asyncio.sleep(0.5)
        assert not steering.control.paused and not _in(tg, GROUP, "/closeall")


async def test_an_edited_or_an_old_command_never_runs(
    make_rig, fake_telegram: FakeTelegram, monkeypatch
) -> None:
    tg = fake_telegram
    rig = await make_rig(steered=True)
    async with running_bot(rig, tg, monkeypatch) as steering:
        await until("Telegram polling", lambda: tg.calls("getUpdates") > 0)
        first = tg.user_says(CHAT, "/status")
        await reply(tg, "Realised PnL today")
        tg.user_edits(CHAT, first, "/pause")  # the edit arrives as edited_message
        tg.user_says(CHAT, "/pause", sent_ago=300)  # queued while the bot was down
        expired = await reply(tg, "expired")
        assert "300 s ago" in expired.text or "30" in expired.text
        tg.user_says(CHAT, "/help")
        await reply(tg, "/closeall")
        assert not steering.control.paused
        assert not _in(tg, CHAT, "paused: no new positions")


async def test_a_revoked_token_is_an_alert_not_a_silent_stop(
    make_rig, fake_telegram: FakeTelegram, monkeypatch, caplog
) -> None:
    tg = fake_telegram
    rig = await make_rig(steered=True)
    rig.binance.clear_positions(TRADER_A)
    rig.binance.clear_positions(TRADER_B)
    async with running_bot(rig, tg, monkeypatch):
        await until("Telegram polling", lambda: tg.calls("getUpdates") > 0)
        await until("baselines", lambda: rig.engine.journal.book_snapshot(TRADER_B))
        tg.revoke_token()
        await until(
            "the alert",
            lambda: "Telegram refused the bot token (401" in caplog.text,
            timeout=30,
        )
        rig.binance.set_positions(TRADER_A, [L("BTCUSDT", "1", "60000")])
        await until("trading goes on", lambda: rig.bybit_size("BTCUSDT") == Decimal("0.1"))
    alert = [r for r in caplog.records if "refused the bot token" in r.getMessage()]
    assert alert[0].levelno == logging.ERROR and "@BotFather" in alert[0].getMessage()
