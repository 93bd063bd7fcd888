"""A fake Telegram Bot API server, for tests: python-telegram-bot talks to it through `base_url`.

A real HTTP server on 127.0.0.1 in a background thread (like the fake Bybit):

    with FakeTelegram.running() as tg:
        settings: base_url = tg.base_url, token = tg.token
        tg.user_says(CHAT, "/status")            # a user's message, as a getUpdates update
        tg.wait_for_reply(CHAT, "paused")        # what the bot sent (sendMessage / editMessageText)
        tg.press(CHAT, message_id, "closeall:yes")  # a press on an inline button
        tg.go_down(); tg.come_back()             # connection refused for a while
        tg.hang(True)                            # every request held without an answer
        tg.user_says(GROUP, "/closeall", user_id=MEMBER)  # a group (negative id) member
        tg.user_edits(CHAT, message_id, "/closeall")      # an edited message (edited_message)
        tg.user_says(CHAT, "/pause", sent_ago=300)        # queued while the bot was down
        tg.revoke_token()                        # @BotFather revoked it: 401 from now on

Speaks the Bot API envelope (`{"ok": true, "result": ...}`), long-polls getUpdates with its
`timeout`, answers a wrong token with 401 like Telegram does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from lightspeed_cli.sim.threaded import ServedFake, ThreadedServer

DEFAULT_TOKEN = "123456:FAKE-telegram-token-for-tests"
BOT_USER = {"id": 777000111, "is_bot": True, "first_name": "LightSpeed", "username": "ls_bot"}


@dataclass(frozen=True)
class Sent:
    """A message the bot sent (or edited), as Telegram stored it."""

    chat_id: int
    message_id: int
    text: str
    reply_markup: dict[str, Any] | None = None
    method: str = "sendMessage"


@dataclass
class _State:
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    answered_callbacks: list[str] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    next_update: int = 1
    next_message: int = 1000
    hanging: bool = False


class FakeTelegram(ServedFake):
    def __init__(self, *, token: str = DEFAULT_TOKEN, port: int = 0) -> None:
        self.token = token
        self._state = _State()
        self._lock = threading.RLock()
        self._new_update: asyncio.Event | None = None
        self._server = ThreadedServer("fake-telegram", self._dispatch, port)

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._new_update = asyncio.Event()  # bound to the server loop of this start
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def go_down(self) -> None:
        """Telegram unreachable: the port refuses connections until `come_back()`."""
        self.stop()

    def come_back(self) -> None:
        self.start()  # same port: the client finds it again

    def hang(self, on: bool) -> None:
        """While on, every request is held open and never answered."""
        with self._lock:
            self._state.hanging = on

    @property
    def base_url(self) -> str:
        """python-telegram-bot's `base_url` (the token is appended to it)."""
        return f"http://127.0.0.1:{self._server.port}/bot"

    # ---- scripting -----------------------------------------------------------------------

    def user_says(
        self, chat_id: int, text: str, *, user_id: int | None = None, sent_ago: float = 0.0
    ) -> int:
        """A message in `chat_id` (a group when negative, as Telegram numbers them), sent
        `sent_ago` seconds ago; a leading /command is marked as one. Returns its message id."""
        with self._lock:
            message = self._message(chat_id, text, user_id, self._message_id(), sent_ago)
            self._push({"message": message})
        return int(message["message_id"])

    def user_edits(
        self, chat_id: int, message_id: int, text: str, *, user_id: int | None = None
    ) -> None:
        """The user edits an earlier message: Telegram sends it again as `edited_message`."""
        with self._lock:
            message = self._message(chat_id, text, user_id, message_id, 0.0)
            message["edit_date"] = int(time.time())
            self._push({"edited_message": message})

    def revoke_token(self) -> None:
        """The token is revoked (@BotFather /revoke): every call answers 401 Unauthorized."""
        with self._lock:
            self.token = f"{self.token}-revoked"

    def _message(
        self, chat_id: int, text: str, user_id: int | None, message_id: int, sent_ago: float
    ) -> dict[str, Any]:
        entities = []
        if text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {
            "message_id": message_id,
            "date": int(time.time() - sent_ago),
            "chat": _chat(chat_id),
            "from": self._user(user_id or chat_id),
            "text": text,
            "entities": entities,
        }

    def press(self, chat_id: int, message_id: int, data: str, *, user_id: int | None = None) -> str:
        """A press on an inline button of the bot's message; returns the callback query id."""
        with self._lock:
            query_id = f"cb{self._state.next_update}"
            sent = next((s for s in self._state.sent if s.message_id == message_id), None)
            message = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": _chat(chat_id),
                "from": BOT_USER,
                "text": sent.text if sent else "",
            }
            self._push(
                {
                    "callback_query": {
                        "id": query_id,
                        "from": self._user(user_id or chat_id),
                        "message": message,
                        "chat_instance": str(chat_id),
                        "data": data,
                    }
                }
            )
        return query_id

    # ---- inspection ----------------------------------------------------------------------

    @property
    def sent(self) -> list[Sent]:
        with self._lock:
            return list(self._state.sent)

    def sent_to(self, chat_id: int) -> list[Sent]:
        return [s for s in self.sent if s.chat_id == chat_id]

    @property
    def answered_callbacks(self) -> list[str]:
        with self._lock:
            return list(self._state.answered_callbacks)

    def calls(self, method: str) -> int:
        with self._lock:
            return self._state.calls.get(method, 0)

    def wait_for_reply(self, chat_id: int, contains: str, timeout: float = 20.0) -> Sent:
        """The first message to `chat_id` whose text contains `contains` (blocking)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for s in self.sent_to(chat_id):
                if contains in s.text:
                    return s
            time.sleep(0.05)
        texts = [s.text for s in self.sent_to(chat_id)]
        raise AssertionError(f"no message containing {contains!r} to {chat_id}; got {texts}")

    # ---- the Bot API -----------------------------------------------------------------------

    def _user(self, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}

    def _message_id(self) -> int:
        self._state.next_message += 1
        return self._state.next_message

    def _push(self, update: dict[str, Any]) -> None:
        update["update_id"] = self._state.next_update
        self._state.next_update += 1
        self._state.updates.append(update)
        loop = self._server.loop
        if loop is not None and self._new_update is not None:
            loop.call_soon_threadsafe(self._new_update.set)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        prefix, _, method = request.path.rpartition("/")
        token = prefix.removeprefix("/bot")
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update(await request.post())
        with self._lock:
            self._state.calls[method] = self._state.calls.get(method, 0) + 1
            hanging = self._state.hanging
        if hanging:
            await asyncio.sleep(3600)
        if token != self.token:
            return self._error(401, "Unauthorized")
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return self._error(404, "Not Found")
        result = await handler(params)
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(code: int, description: str) -> web.Response:
        body = {"ok": False, "error_code": code, "description": description}
        return web.json_response(body, status=code)

    async def _api_getMe(self, params: dict[str, Any]) -> Any:  # noqa: N802 - Bot API names
        return BOT_USER

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    async def _api_setMyCommands(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    async def _api_getUpdates(self, params: dict[str, Any]) -> Any:  # noqa: N802
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), 30.0)
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                # an offset confirms every update before it (Telegram forgets them)
                self._state.updates = [u for u in self._state.updates if u["update_id"] >= offset]
                pending = list(self._state.updates)
                assert self._new_update is not None
                self._new_update.clear()
            left = deadline - time.monotonic()
            if pending or left <= 0:
                return pending
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), timeout=left)

    def _store(self, method: str, params: dict[str, Any], message_id: int) -> dict[str, Any]:
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        chat_id = int(params["chat_id"])
        text = str(params.get("text", ""))
        with self._lock:
            self._state.sent.append(Sent(chat_id, message_id, text, markup, method))
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": _chat(chat_id),
            "from": BOT_USER,
            "text": text,
        }
        if markup:
            message["reply_markup"] = markup
        return message

    async def _api_sendMessage(self, params: dict[str, Any]) -> Any:  # noqa: N802
        with self._lock:
            message_id = self._message_id()
        return self._store("sendMessage", params, message_id)

    async def _api_editMessageText(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return self._store("editMessageText", params, int(params["message_id"]))

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:  # noqa: N802
        with self._lock:
            self._state.answered_callbacks.append(str(params.get("callback_query_id")))
        return True


def _chat(chat_id: int) -> dict[str, Any]:
    """Telegram's chat object: user chats have positive ids, groups negative ones."""
    if chat_id < 0:
        return {"id": chat_id, "type": "supergroup", "title": "a group"}
    return {"id": chat_id, "type": "private"}
