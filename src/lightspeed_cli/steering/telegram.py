"""Telegram control inside `lightspeed run`, with python-telegram-bot (async, on httpx).

Only `notify.telegram_chat_id` may command; any other chat gets no answer (logged once per
chat). In it, only the users of `notify.telegram_user_ids` may (none given: the chat must be a
private one, never a group where any member could). An edited message never runs, a command
older than COMMAND_MAX_AGE (queued while the bot was down) expires like a shell request, and a
/closeall button works only for the user who asked. A revoked token is an alert. Pause /
resume / close-all go through the same door as the shell (control.py). The messages the
webhook sends (trades, alerts) go to the same chat.

Telegram can never slow or stop trading: everything here runs in its own tasks, every request
has a timeout, outgoing messages wait in a bounded queue (the oldest is dropped when full), and
an unreachable or hanging Telegram only means retries with a growing pause, said once in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lightspeed_cli.journal.store import utc_day
from lightspeed_cli.models import FollowerPosition
from lightspeed_cli.notify import alerts
from lightspeed_cli.steering import telegram_views as views
from lightspeed_cli.steering.control import Command, Control

if TYPE_CHECKING:
    from telegram import Update
    from telegram.ext import Application, ContextTypes

    from lightspeed_cli.config.settings import Settings
    from lightspeed_cli.journal.store import Journal

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
OUTBOX_SIZE = 100
REQUEST_TIMEOUT = 10.0  # seconds, for every Bot API call
POLL_TIMEOUT = 20  # getUpdates long poll (Telegram holds the request open this long)
START_BACKOFF = (5.0, 60.0)  # pause between attempts to reach Telegram: first, cap
CONFIRM_SECONDS = 120.0  # a /closeall button is good this long, once
COMMAND_MAX_AGE = timedelta(minutes=2)  # an older command expires (queued while we were down)
POLLING_TASK = "Updater:start_polling:polling_task"  # python-telegram-bot's name for it
BYBIT_READ_TIMEOUT = 5.0
MAX_TEXT = 4000  # Telegram refuses more than 4096 characters

Positions = Callable[[], Awaitable[list[FollowerPosition]]]  # Bybit's, for /status


Handler = Callable[["Update", "ContextTypes.DEFAULT_TYPE"], Awaitable[None]]


def parse_chat_id(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


def _int_arg(args: list[str] | None, default: int, low: int, high: int) -> int:
    try:
        value = int(args[0]) if args else default
    except ValueError:
        value = default
    return max(low, min(high, value))


class TelegramControl:
    def __init__(
        self,
        *,
        token: str,
        chat_id: int,
        control: Control,
        settings: Settings,
        journal: Journal,  # reads only: commands go through the control door
        positions: Positions,
        base_url: str = DEFAULT_BASE_URL,
        request_timeout: float | None = None,
        poll_timeout: int | None = None,
        mode: str = "LIVE",
    ) -> None:
        self.chat_id = chat_id
        self.mode = mode
        self.control = control
        self.settings = settings
        self.journal = journal
        self._read_positions = positions
        self._token = token
        self._base_url = base_url or DEFAULT_BASE_URL
        self._timeout = request_timeout or REQUEST_TIMEOUT
        self._poll_timeout = poll_timeout or POLL_TIMEOUT
        self._outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=OUTBOX_SIZE)
        self._ready = asyncio.Event()
        self._app: Application[Any, Any, Any, Any, Any, Any] | None = None
        self._ignored: set[int] = set()
        self._confirmations: dict[str, tuple[float, int]] = {}  # nonce -> (expiry, user id)
        self._failing = False  # a send / poll failure streak was logged
        self.sent = 0
        self.dropped = 0

    # ---- outgoing messages (trades, alerts) -------------------------------------------------

    def notify(self, text: str) -> None:
        """Queue a message for the chat; returns at once, never raises."""
        if self._outbox.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._outbox.get_nowait()
            self.dropped += 1
        self._outbox.put_nowait(text[:MAX_TEXT])

    async def _drain(self) -> None:
        await self._ready.wait()
        while True:
            text = await self._outbox.get()
            await self._send(text)

    async def _send(self, text: str) -> None:
        assert self._app is not None
        try:
            await self._app.bot.send_message(self.chat_id, text[:MAX_TEXT])
            self.sent += 1
            self._recovered("sending")
        except Exception as exc:  # Telegram's trouble is never the bot's
            self.dropped += 1
            if _is_invalid_token(exc):
                _token_revoked()
            self._failed("sending a message", exc)

    def _failed(self, what: str, exc: BaseException) -> None:
        if not self._failing:
            log.warning("Telegram: %s failed (%s); trading goes on", what, type(exc).__name__)
            self._failing = True

    def _recovered(self, what: str) -> None:
        if self._failing:
            log.info("Telegram: reachable again (%s)", what)
            self._failing = False

    # ---- lifecycle -------------------------------------------------------------------------

    def _build(self) -> Application[Any, Any, Any, Any, Any, Any]:
        from telegram import Update
        from telegram.ext import (
            Application,
            CallbackQueryHandler,
            CommandHandler,
            TypeHandler,
        )
        from telegram.request import HTTPXRequest

        def request() -> HTTPXRequest:  # getUpdates adds its long-poll time to the read timeout
            t = self._timeout
            return HTTPXRequest(connect_timeout=t, read_timeout=t, write_timeout=t, pool_timeout=t)

        app = (
            Application.builder()
            .token(self._token)
            .base_url(self._base_url)
            .request(request())
            .get_updates_request(request())
            .concurrent_updates(False)
            .build()
        )
        app.add_handler(TypeHandler(Update, self._gate), group=-1)
        commands: dict[str, Handler] = {
            "status": self._status,
            "positions": self._positions,
            "pnl": self._pnl,
            "history": self._history,
            "pause": self._pause,
            "resume": self._resume,
            "closeall": self._closeall,
            "traders": self._traders,
            "help": self._help,
            "start": self._help,
        }
        for name, handler in commands.items():
            app.add_handler(CommandHandler(name, handler))
        app.add_handler(CallbackQueryHandler(self._button))
        app.add_error_handler(self._on_error)
        return app

    async def run(self, stop: asyncio.Event) -> None:
        """Reach Telegram (retrying with a growing pause), serve commands until `stop`."""
        from telegram.error import InvalidToken

        sender = asyncio.create_task(self._drain(), name="telegram-send")
        pause = START_BACKOFF[0]
        try:
            while not stop.is_set():
                try:
                    await self._start()
                    break
                except InvalidToken:
                    _token_revoked()
                    return
                except Exception as exc:
                    self._failed("connecting", exc)
                    await self._stop_app()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
                pause = min(pause * 2, START_BACKOFF[1])
            if not stop.is_set():
                log.info("Telegram: listening to chat %s", self.chat_id)
                await self._serve_until(stop)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            await self._stop_app()

    async def _serve_until(self, stop: asyncio.Event) -> None:
        """Until `stop`, or until python-telegram-bot gives up polling: it aborts on a 401
        (a revoked token) without a word to us, which must be an alert, not a silent end."""
        polling = next((t for t in asyncio.all_tasks() if t.get_name() == POLLING_TASK), None)
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait(
                {stopped, *([polling] if polling else [])}, return_when="FIRST_COMPLETED"
            )
        finally:
            stopped.cancel()
        if polling is not None and polling.done() and not stop.is_set():
            error = None if polling.cancelled() else polling.exception()
            if error is not None and _is_invalid_token(error):
                _token_revoked()
            else:
                log.error("Telegram: reading commands stopped (%r): remote control is off", error)
            await stop.wait()

    async def _start(self) -> None:
        self._app = self._build()
        await self._app.initialize()  # getMe: the token works
        await self._app.start()
        assert self._app.updater is not None
        await self._app.updater.start_polling(
            timeout=self._poll_timeout,
            error_callback=lambda exc: self._failed("reading commands", exc),
        )
        self._recovered("connecting")
        self._ready.set()

    async def _stop_app(self) -> None:
        app, self._app = self._app, None
        self._ready.clear()
        if app is None:
            return
        for step in (
            app.updater.stop if app.updater is not None and app.updater.running else None,
            app.stop if app.running else None,
            app.shutdown,
        ):
            if step is None:
                continue
            try:
                await asyncio.wait_for(step(), timeout=self._timeout)
            except Exception as exc:  # a hanging Telegram must not hold the shutdown
                log.debug("Telegram shutdown step failed: %r", exc)

    # ---- who may command -------------------------------------------------------------------

    async def _gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        from telegram.ext import ApplicationHandlerStop

        chat = update.effective_chat
        if chat is not None and chat.id == self.chat_id:
            refusal = self._refusal(update)
            if not refusal:
                return
            log.warning("Telegram: %s: ignored", refusal)
            if refusal.startswith("a command sent"):
                await self._reply(update, f"{refusal[0].upper()}{refusal[1:]}: send it again.")
            raise ApplicationHandlerStop
        chat_id = chat.id if chat is not None else 0
        if chat_id not in self._ignored:
            self._ignored.add(chat_id)
            user = update.effective_user
            log.warning(
                "Telegram: ignored a message from chat %s (user %s): only chat %s may command",
                chat_id,
                user.id if user else "?",
                self.chat_id,
            )
        raise ApplicationHandlerStop

    def _allowed_users(self) -> frozenset[int]:
        return frozenset(int(i) for i in self.settings.notify.telegram_user_ids)

    def _refusal(self, update: Update) -> str:
        """Why an update from the right chat still may not command ("" if it may)."""
        if update.edited_message is not None or update.edited_channel_post is not None:
            return "an edited message never runs as a command"
        user, chat = update.effective_user, update.effective_chat
        allowed = self._allowed_users()
        if allowed and (user is None or user.id not in allowed):
            return f"user {user.id if user else '?'} is not in notify.telegram_user_ids"
        if not allowed and (chat is None or chat.type != "private"):
            return (
                f"chat {self.chat_id} is a {chat.type if chat else '?'} chat: list who may"
                " command in notify.telegram_user_ids"
            )
        message = update.message
        if message is not None and message.date is not None:
            age = datetime.now(UTC) - message.date
            if age > COMMAND_MAX_AGE:
                return (
                    f"a command sent {int(age.total_seconds())} s ago expired (older than"
                    f" {int(COMMAND_MAX_AGE.total_seconds())} s: queued while the bot was down?)"
                )
        return ""

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        self._failed("answering a command", context.error or Exception())

    async def _reply(self, update: Update, text: str, **kwargs: Any) -> None:
        if update.effective_message is not None:
            await update.effective_message.reply_text(text[:MAX_TEXT], **kwargs)

    # ---- commands ----------------------------------------------------------------------------

    async def _bybit_positions(self) -> dict[Any, Any] | None:
        try:
            found = await asyncio.wait_for(self._read_positions(), BYBIT_READ_TIMEOUT)
        except Exception as exc:
            log.warning("Telegram /status: Bybit positions unavailable: %s", exc)
            return None
        return {(p.symbol, p.side): p for p in found}

    def _labels(self) -> dict[str, str]:
        return {t.id: t.label for t in self.settings.traders if t.label}

    async def _positions_text(self) -> str:
        held = self.journal.mirrored_positions()
        bybit = await self._bybit_positions() if held else {}
        return views.positions_text(held, bybit, self._labels())

    async def _status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        now = datetime.now(UTC)
        journal = self.journal
        text = views.status_text(
            mode=self.mode,
            pause=self.control.pause_state.describe(),
            traders=views.traders_lines(self.settings, journal.trader_states(), now),
            positions=await self._positions_text(),
            realised_today=journal.realized_pnl(utc_day(now)),
        )
        await self._reply(update, text)

    async def _positions(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, await self._positions_text())

    async def _pnl(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        days = _int_arg(context.args, 7, 1, 90)
        today = datetime.now(UTC)
        keys = [utc_day(today - timedelta(days=n)) for n in range(days)]
        rows = [(day, self.journal.realized_pnl(day)) for day in keys]
        await self._reply(update, views.pnl_text(rows))

    async def _history(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        n = _int_arg(context.args, 10, 1, 50)
        await self._reply(update, views.history_text(self.journal.history(limit=n)))

    async def _traders(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        lines = views.traders_lines(self.settings, self.journal.trader_states(), datetime.now(UTC))
        await self._reply(update, "\n".join(["Traders followed:", *lines]))

    async def _help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, views.HELP)

    async def _pause(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        answer = await self.control.execute(Command.PAUSE, "telegram")
        await self._reply(update, answer.result or "paused")

    async def _resume(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        answer = await self.control.execute(Command.RESUME, "telegram")
        await self._reply(update, answer.result or "resumed")

    async def _closeall(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        from telegram import InlineKeyboardButton, InlineKeyboardMarkup

        held = self.journal.mirrored_positions()
        nonce = secrets.token_hex(6)
        now = time.monotonic()
        self._confirmations = {k: v for k, v in self._confirmations.items() if v[0] > now}
        asker = update.effective_user.id if update.effective_user else 0
        self._confirmations[nonce] = (now + CONFIRM_SECONDS, asker)  # that user's button
        buttons = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton("Close all", callback_data=f"closeall:{nonce}"),
                    InlineKeyboardButton("Cancel", callback_data=f"cancel:{nonce}"),
                ]
            ]
        )
        what = ", ".join(f"{m.symbol} {m.side.value}" for m in held) or "nothing right now"
        await self._reply(
            update,
            f"Close every position the bot holds ({what}) with market orders, and pause"
            " opens? Positions you opened yourself are left alone.",
            reply_markup=buttons,
        )

    async def _button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        action, _, nonce = (query.data or "").partition(":")
        held = self._confirmations.get(nonce)
        if held is not None and held[1] != query.from_user.id:  # another member's press
            log.warning(
                "Telegram: user %s pressed another user's /closeall button", query.from_user.id
            )
            with contextlib.suppress(Exception):
                await query.answer("Only the user who sent /closeall can answer it.")
            return
        expiry = self._confirmations.pop(nonce, (None, 0))[0]
        with contextlib.suppress(Exception):
            await query.answer()
        if expiry is None or expiry < time.monotonic():
            await query.edit_message_text("This button has expired: send /closeall again.")
            return
        if action != "closeall":
            await query.edit_message_text("Cancelled: nothing was closed.")
            return
        await query.edit_message_text("Closing every position the bot holds...")
        answer = await self.control.execute(Command.CLOSE_ALL, "telegram")
        await query.edit_message_text(answer.result or "close-all done")


def _is_invalid_token(exc: BaseException) -> bool:
    from telegram.error import InvalidToken

    return isinstance(exc, InvalidToken)


def _token_revoked() -> None:
    alerts.raise_(
        alerts.Kind.TELEGRAM,
        "telegram",
        "Telegram refused the bot token (401 Unauthorized): remote control is off, trading goes on",
        "make a new token with @BotFather, store it with `lightspeed keys set telegram`,"
        " and restart the bot",
    )
