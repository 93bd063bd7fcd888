"""A fake Hyperliquid: `POST /info` and the WebSocket `/ws` on 127.0.0.1, with scriptable faults.

Speaks the recorded shapes of shared/api/hyperliquid.md: `clearinghouseState` (decimals as
strings, `assetPositions[].position` with signed `szi`, `leverage {type, value}`, a flat account
as `assetPositions: []`), `userFills` (newest first, at most 2000), `userFillsByTime` (both bounds
inclusive, oldest first, at most 2000) and `meta`; on the socket the plain-text greeting,
`subscribe` / `unsubscribe` of `userFills` with the `subscriptionResponse` ack and then a frame
tagged `isSnapshot: true` holding earlier fills (history, on every subscribe), live pushes of one
fill each, `{"method":"ping"}` -> `{"channel":"pong"}`, and the close of a connection the server
has sent nothing on for `idle_timeout` seconds (60 like the real one, shorter in tests).

Scripting (thread-safe): `set_positions` sets a wallet's book without fills (a book that moved
off the socket: drift); `fill` trades the wallet's book the way Hyperliquid does (one fill per
call, `startPosition`, `sz`, `side`, `dir` including the one-fill flips "Long > Short" and
"Short > Long", a fresh `tid`), records it and pushes it to subscribers after `push_delay`.
Switches: `drop_sockets` (connections cut mid-stream), `disconnect` / `reconnect` (a gap: no
connection is accepted while fills keep happening), `silence` (sockets open, nothing sent: no
pushes, no pongs), `inject` (429, 500 with body `null`, a malformed 200, a slow answer) per
request type and/or user, `push_frame` (any frame, e.g. a malformed one).

Run it on the caller's loop (`async with FakeHyperliquid() as fake`), in a thread with its own
loop (`with FakeHyperliquid.running() as fake`), or standalone
(`python -m lightspeed_cli.sim.hyperliquid --demo-wallets 3`: prints the info and ws URLs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from aiohttp import WSMsgType, web

MAX_FILLS_PER_ANSWER = 2000
GREETING = "Websocket connection established."
DEFAULT_MARKS = {
    "BTC": Decimal(60000),
    "ETH": Decimal(3000),
    "SOL": Decimal(150),
    "HYPE": Decimal(30),
    "kPEPE": Decimal("0.0102"),
}
_SZ_DECIMALS = {"BTC": 5, "ETH": 4, "SOL": 2, "HYPE": 2, "kPEPE": 0}

FillSide = Literal["B", "A"]


class Fault(StrEnum):
    RATE_LIMIT = "429"  # HTTP 429, no body (none was found recorded)
    SERVER_NULL = "500-null"  # HTTP 500 with body `null` (the cloudfront error answer)
    MALFORMED = "malformed"  # 200 with a truncated JSON body
    SLOW = "slow"  # the normal answer, `delay` seconds late


@dataclass(frozen=True)
class HlPosition:
    """One open perp position as Hyperliquid holds it: `szi` signed (short negative)."""

    coin: str
    szi: Decimal
    entry_px: Decimal
    leverage: int = 10
    margin: Literal["cross", "isolated"] = "cross"

    @classmethod
    def long(cls, coin: str, size: Decimal | str, entry: Decimal | str, leverage: int = 10):  # type: ignore[no-untyped-def]
        return cls(coin, Decimal(size), Decimal(entry), leverage)

    @classmethod
    def short(cls, coin: str, size: Decimal | str, entry: Decimal | str, leverage: int = 10):  # type: ignore[no-untyped-def]
        return cls(coin, -Decimal(size), Decimal(entry), leverage)


@dataclass
class _Wallet:
    positions: dict[str, HlPosition] = field(default_factory=dict)
    account_value: Decimal = Decimal(10_000)
    fills: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    leverage: dict[str, int] = field(default_factory=dict)  # per coin, kept while flat


@dataclass
class _Rule:
    fault: Fault
    request_type: str | None
    user: str | None
    remaining: int | None  # None = until cleared
    delay: float = 0.0

    def matches(self, request_type: str, user: str | None) -> bool:
        return (self.request_type in (None, request_type)) and (self.user in (None, user))


@dataclass(frozen=True)
class InfoRequest:
    at: float  # time.monotonic() on arrival
    type: str
    user: str | None
    body: dict[str, Any]
    status: int


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    request: web.Request
    users: set[str] = field(default_factory=set)
    outbox: asyncio.Queue[tuple[float, str, str | None]] = field(default_factory=asyncio.Queue)
    last_sent: float = field(default_factory=time.monotonic)


def _s(value: Decimal) -> str:
    """A decimal as Hyperliquid writes it: a plain string, no exponent."""
    text = format(value.normalize(), "f")
    return text if "." in text else f"{text}.0"


def fill_dir(start: Decimal, side: FillSide, sz: Decimal) -> str:
    """Hyperliquid's `dir` for a perp fill from the position before it."""
    new = start + sz if side == "B" else start - sz
    if start == 0 or (start > 0) == (side == "B"):
        return "Open Long" if side == "B" else "Open Short"
    if start > 0:
        return "Long > Short" if new < 0 else "Close Long"
    return "Short > Long" if new > 0 else "Close Short"


class FakeHyperliquid:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        idle_timeout: float = 60.0,
        push_delay: float = 0.0,
        greeting: bool = True,
        snapshot_fills: bool = True,
    ) -> None:
        """`push_delay`: seconds every frame to a socket waits (one way); `greeting`: send the
        plain-text hello on connect; `snapshot_fills`: the subscribe snapshot holds the earlier
        fills (else the frame comes with `fills: []`)."""
        self.host, self.port = host, port
        self.idle_timeout = idle_timeout
        self.push_delay = push_delay
        self.greeting = greeting
        self.snapshot_fills = snapshot_fills
        self._lock = threading.RLock()
        self._wallets: dict[str, _Wallet] = {}
        self._marks = dict(DEFAULT_MARKS)
        self._rules: list[_Rule] = []
        self._log: list[InfoRequest] = []
        self._conns: set[_Conn] = set()
        self._refusing = False
        self._silent = False
        self._next_tid = 1_000_000
        self._next_oid = 50_000
        self._last_time = 0
        self.connections_accepted = 0
        self.subscribes: list[str] = []  # every subscribed user, in order (resubscribes too)
        self._pushes_sent: dict[str, int] = {}  # scripted pushes sent on a socket, per user
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- scripting -------------------------------------------------------------------------

    def set_positions(
        self,
        user: str,
        positions: Iterable[HlPosition],
        *,
        account_value: Decimal | str | None = None,
    ) -> None:
        """The wallet's whole book, replaced without any fill (nothing is pushed)."""
        with self._lock:
            wallet = self._wallet(user)
            wallet.positions = {p.coin: p for p in positions if p.szi != 0}
            for p in wallet.positions.values():
                wallet.leverage[p.coin] = p.leverage
            if account_value is not None:
                wallet.account_value = Decimal(account_value)

    def set_account_value(self, user: str, value: Decimal | str) -> None:
        with self._lock:
            self._wallet(user).account_value = Decimal(value)

    def set_leverage(self, user: str, coin: str, leverage: int) -> None:
        """The wallet's leverage setting for a coin (used by the next position it opens)."""
        with self._lock:
            self._wallet(user).leverage[coin] = leverage

    def set_mark(self, coin: str, px: Decimal | str) -> None:
        with self._lock:
            self._marks[coin] = Decimal(px)

    def positions(self, user: str) -> dict[str, HlPosition]:
        with self._lock:
            return dict(self._wallet(user).positions)

    def fill(
        self,
        user: str,
        coin: str,
        side: FillSide,
        sz: Decimal | str,
        px: Decimal | str | None = None,
        *,
        time_ms: int | None = None,
        tid: int | None = None,
        push: bool = True,
    ) -> dict[str, Any]:
        """One fill of the wallet: its book moves, the fill is recorded and (with `push`) sent
        to every socket subscribed to the wallet. Returns the fill as the API shows it."""
        size, user = Decimal(sz), user.lower()
        if size <= 0:
            raise ValueError("a fill's sz is positive; `side` says buy (B) or sell (A)")
        with self._lock:
            wallet = self._wallet(user)
            price = Decimal(px) if px is not None else self._marks.get(coin, Decimal(1))
            held = wallet.positions.get(coin)
            start = held.szi if held else Decimal(0)
            new = start + size if side == "B" else start - size
            self._move(wallet, coin, held, new, price)
            if time_ms is None:
                time_ms = max(int(time.time() * 1000), self._last_time)
            self._last_time = max(self._last_time, time_ms)
            if tid is None:
                self._next_tid += 1
                tid = self._next_tid
            self._next_oid += 1
            closed = self._closed_pnl(held, start, new, price)
            fill = {
                "coin": coin,
                "px": _s(price),
                "sz": _s(size),
                "side": side,
                "time": time_ms,
                "startPosition": _s(start),
                "dir": fill_dir(start, side, size),
                "closedPnl": _s(closed),
                "hash": f"0x{tid:064x}",
                "oid": self._next_oid,
                "crossed": True,
                "fee": _s((price * size * Decimal("0.00045")).quantize(Decimal("0.000001"))),
                "tid": tid,
                "feeToken": "USDC",
            }
            wallet.fills.append(fill)
        if push:
            self.push_frame(user, {"channel": "userFills", "data": {"user": user, "fills": [fill]}})
        return fill

    def repush(self, user: str, fill: dict[str, Any]) -> None:
        """Send an already pushed fill again (a duplicate delivery)."""
        user = user.lower()
        self.push_frame(user, {"channel": "userFills", "data": {"user": user, "fills": [fill]}})

    def push_frame(self, user: str | None, frame: Any) -> None:
        """Send `frame` (JSON-encoded unless a str) to every socket subscribed to `user`
        (every socket when None)."""
        text = frame if isinstance(frame, str) else json.dumps(frame)
        loop = self._loop
        if loop is None:
            return
        target = user.lower() if user else None
        loop.call_soon_threadsafe(self._enqueue, target, text)

    def inject(
        self,
        fault: Fault,
        *,
        request_type: str | None = None,
        user: str | None = None,
        times: int | None = 1,
        delay: float = 1.0,
    ) -> None:
        """Answer the next `times` matching /info requests (None: all until cleared) with
        `fault`; `delay` is SLOW's lateness."""
        with self._lock:
            self._rules.append(
                _Rule(fault, request_type, user.lower() if user else None, times, delay)
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._rules.clear()

    def drop_sockets(self) -> None:
        """Cut every connection at once, without a close frame (a dropped socket)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._abort_all)

    def disconnect(self) -> None:
        """Start a gap: cut every connection and refuse new ones until `reconnect`."""
        with self._lock:
            self._refusing = True
        self.drop_sockets()

    def reconnect(self) -> None:
        with self._lock:
            self._refusing = False

    def silence(self, silent: bool = True) -> None:
        """Keep sockets open but send nothing on them (no pushes, no pongs, no acks)."""
        with self._lock:
            self._silent = silent

    def requests(self, request_type: str | None = None) -> list[InfoRequest]:
        with self._lock:
            return [r for r in self._log if request_type in (None, r.type)]

    def pushes_sent(self, user: str) -> int:
        """Scripted pushes (fills, push_frame) to `user` that left on a socket so far."""
        with self._lock:
            return self._pushes_sent.get(user.lower(), 0)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    @property
    def open_sockets(self) -> int:
        return len(self._conns)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the fake Hyperliquid is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def info_url(self) -> str:
        return f"{self.url}/info"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    async def start(self) -> FakeHyperliquid:
        app = web.Application()
        app.router.add_post("/info", self._info)
        app.router.add_get("/ws", self._socket)
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, handler_cancellation=True,
            shutdown_timeout=0.5,
        )  # fmt: skip
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        self.port = runner.addresses[0][1]
        self._runner = runner
        self._loop = asyncio.get_running_loop()
        self._spawn(self._idle_watch())
        return self

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        self._abort_all()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if runner is not None:
            await runner.cleanup()
        self._loop = None

    async def __aenter__(self) -> FakeHyperliquid:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def running(cls, **kwargs: Any) -> Iterator[FakeHyperliquid]:
        """Serve from a background thread with its own event loop (for synchronous clients)."""
        fake = cls(**kwargs)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="fake-hyperliquid", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(fake.start(), loop).result(timeout=10)
            yield fake
        finally:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()

    # -- REST ------------------------------------------------------------------------------

    async def _info(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
            kind = body["type"]
            assert isinstance(kind, str)
        except (ValueError, KeyError, TypeError, AssertionError):
            return web.Response(status=422, text="Failed to deserialize the JSON body")
        user = body.get("user")
        user = user.lower() if isinstance(user, str) else None
        rule = self._take_rule(kind, user)
        if rule is not None and rule.fault is Fault.SLOW:
            await asyncio.sleep(rule.delay)
            rule = None
        if rule is not None:
            response = _fault_response(rule.fault)
        else:
            response = self._answer(kind, user, body)
        with self._lock:
            self._log.append(InfoRequest(time.monotonic(), kind, user, body, response.status))
        return response

    def _answer(self, kind: str, user: str | None, body: dict[str, Any]) -> web.Response:
        with self._lock:
            if kind == "meta":
                return _json(self._meta())
            if user is None:
                return web.Response(status=422, text="Failed to deserialize the JSON body")
            wallet = self._wallet(user)
            if kind == "clearinghouseState":
                return _json(self._clearinghouse(wallet))
            if kind == "userFills":
                return _json(list(reversed(wallet.fills))[:MAX_FILLS_PER_ANSWER])
            if kind == "userFillsByTime":
                start = int(body.get("startTime", 0))
                end = int(body.get("endTime") or 2**62)
                hits = [f for f in wallet.fills if start <= f["time"] <= end]
                return _json(hits[:MAX_FILLS_PER_ANSWER])
        return web.Response(status=422, text="Failed to deserialize the JSON body")

    def _clearinghouse(self, wallet: _Wallet) -> dict[str, Any]:
        rows, notional, margin = [], Decimal(0), Decimal(0)
        for p in wallet.positions.values():
            mark = self._marks.get(p.coin, p.entry_px)
            value = abs(p.szi) * mark
            used = value / p.leverage
            pnl = p.szi * (mark - p.entry_px)
            notional += value
            margin += used
            leverage: dict[str, Any] = {"type": p.margin, "value": p.leverage}
            if p.margin == "isolated":
                leverage["rawUsd"] = _s(-p.szi * p.entry_px + used)
            rows.append(
                {
                    "type": "oneWay",
                    "position": {
                        "coin": p.coin,
                        "szi": _s(p.szi),
                        "leverage": leverage,
                        "entryPx": _s(p.entry_px),
                        "positionValue": _s(value),
                        "unrealizedPnl": _s(pnl),
                        "returnOnEquity": _s(pnl / used if used else Decimal(0)),
                        "liquidationPx": None if p.leverage == 1 else _s(p.entry_px / 2),
                        "marginUsed": _s(used),
                        "maxLeverage": 50,
                        "cumFunding": {"allTime": "0.0", "sinceOpen": "0.0", "sinceChange": "0.0"},
                    },
                }
            )
        summary = {
            "accountValue": _s(wallet.account_value),
            "totalNtlPos": _s(notional),
            "totalRawUsd": _s(wallet.account_value),
            "totalMarginUsed": _s(margin),
        }
        return {
            "marginSummary": summary,
            "crossMarginSummary": dict(summary),
            "crossMaintenanceMarginUsed": _s(margin / 2),
            "withdrawable": _s(max(Decimal(0), wallet.account_value - margin)),
            "assetPositions": rows,
            "time": int(time.time() * 1000),
        }

    def _meta(self) -> dict[str, Any]:
        universe = [
            {"name": coin, "szDecimals": _SZ_DECIMALS.get(coin, 2), "maxLeverage": 50}
            for coin in self._marks
        ]
        return {"universe": universe, "marginTables": []}

    # -- WebSocket -------------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            refusing = self._refusing
        if refusing:
            return web.Response(status=503, text="unavailable")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Conn(ws, request)
        self._conns.add(conn)
        self.connections_accepted += 1
        sender = asyncio.create_task(self._sender(conn))
        if self.greeting:
            self._send(conn, GREETING)
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    self._on_text(conn, message.data)
        finally:
            self._conns.discard(conn)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return ws

    def _on_text(self, conn: _Conn, text: str) -> None:
        try:
            message = json.loads(text)
            method = message["method"]
        except (ValueError, KeyError, TypeError):
            self._send(conn, json.dumps({"channel": "error", "data": f"Invalid message: {text}"}))
            return
        if method == "ping":
            self._send(conn, json.dumps({"channel": "pong"}))
            return
        subscription = message.get("subscription") or {}
        user = subscription.get("user")
        if method not in ("subscribe", "unsubscribe") or subscription.get("type") != "userFills":
            self._send(conn, json.dumps({"channel": "error", "data": f"Unsupported: {text}"}))
            return
        if not isinstance(user, str):
            self._send(conn, json.dumps({"channel": "error", "data": f"Invalid user: {text}"}))
            return
        user = user.lower()
        self._send(conn, json.dumps({"channel": "subscriptionResponse", "data": message}))
        if method == "unsubscribe":
            conn.users.discard(user)
            return
        conn.users.add(user)
        self.subscribes.append(user)
        with self._lock:
            history = list(reversed(self._wallet(user).fills)) if self.snapshot_fills else []
        snapshot = {"isSnapshot": True, "user": user, "fills": history[:MAX_FILLS_PER_ANSWER]}
        self._send(conn, json.dumps({"channel": "userFills", "data": snapshot}))

    def _enqueue(self, user: str | None, text: str) -> None:
        for conn in list(self._conns):
            if user is None or user in conn.users:
                self._send(conn, text, user)

    def _send(self, conn: _Conn, text: str, pushed_to: str | None = None) -> None:
        """`pushed_to`: the user a scripted push is for (counted once sent: `pushes_sent`)."""
        with self._lock:
            if self._silent:
                return
        conn.outbox.put_nowait((time.monotonic() + self.push_delay, text, pushed_to))

    async def _sender(self, conn: _Conn) -> None:
        """Frames leave in order, each `push_delay` after it was queued."""
        while True:
            due, text, pushed_to = await conn.outbox.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if conn.ws.closed:
                return
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
            conn.last_sent = time.monotonic()
            if pushed_to is not None:
                with self._lock:
                    self._pushes_sent[pushed_to] = self._pushes_sent.get(pushed_to, 0) + 1

    async def _idle_watch(self) -> None:
        """Close a connection nothing was sent on for `idle_timeout`, like the real server."""
        while True:
            await asyncio.sleep(min(1.0, self.idle_timeout / 4))
            now = time.monotonic()
            for conn in list(self._conns):
                if now - conn.last_sent > self.idle_timeout and not conn.ws.closed:
                    self._spawn(conn.ws.close())

    def _abort_all(self) -> None:
        for conn in list(self._conns):
            transport = conn.request.transport
            if transport is not None:
                transport.abort()
            else:
                self._spawn(conn.ws.close())
        self._conns.clear()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- internals -------------------------------------------------------------------------

    def _wallet(self, user: str) -> _Wallet:
        return self._wallets.setdefault(user.lower(), _Wallet())

    def _move(
        self, wallet: _Wallet, coin: str, held: HlPosition | None, new: Decimal, px: Decimal
    ) -> None:
        """The book after a fill: weighted entry on a grow, the fill's price on an open or flip,
        unchanged on a reduce; the coin's leverage setting carries over."""
        if new == 0:
            wallet.positions.pop(coin, None)
            return
        leverage = wallet.leverage.get(coin, held.leverage if held else 10)
        if held is None or (held.szi > 0) != (new > 0):
            entry = px
        elif abs(new) > abs(held.szi):
            entry = (abs(held.szi) * held.entry_px + (abs(new) - abs(held.szi)) * px) / abs(new)
        else:
            entry = held.entry_px
        margin = held.margin if held else "cross"
        wallet.positions[coin] = HlPosition(coin, new, entry, leverage, margin)
        wallet.leverage[coin] = leverage

    @staticmethod
    def _closed_pnl(held: HlPosition | None, start: Decimal, new: Decimal, px: Decimal) -> Decimal:
        if held is None or start == 0:
            return Decimal(0)
        closed = min(abs(start), abs(start - new)) if (start > 0) != (new > start) else Decimal(0)
        return closed * (px - held.entry_px) * (1 if start > 0 else -1)

    def _take_rule(self, kind: str, user: str | None) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(kind, user):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining <= 0:
                            self._rules.remove(rule)
                    return rule
        return None


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def _fault_response(fault: Fault) -> web.Response:
    if fault is Fault.RATE_LIMIT:
        return web.Response(status=429)
    if fault is Fault.SERVER_NULL:
        return web.Response(status=500, text="null", content_type="application/json")
    return web.Response(status=200, text='{"assetPositions": [', content_type="application/json")


def demo_wallets(count: int) -> list[str]:
    return [f"0x{n + 1:040x}" for n in range(count)]


def seed_demo(fake: FakeHyperliquid, wallets: Iterable[str]) -> None:
    """A few positions per wallet, kPEPE among them (the `k` coin mapping)."""
    for n, user in enumerate(wallets):
        fake.set_positions(
            user,
            [
                HlPosition.long("BTC", Decimal(n + 1) / 100, "60000", 20),
                HlPosition.short("kPEPE", Decimal(1000 * (n + 1)), "0.0102", 5),
            ],
            account_value=Decimal(10_000 * (n + 1)),
        )


async def serve(fake: FakeHyperliquid, ready: Any = None) -> None:
    """Run until cancelled; `ready(fake)` is called once listening."""
    await fake.start()
    try:
        if ready is not None:
            ready(fake)
        await asyncio.Event().wait()
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a fake Hyperliquid on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--push-delay", type=float, default=0.0, help="seconds added per frame")
    parser.add_argument("--idle-timeout", type=float, default=60.0, help="idle socket close (s)")
    parser.add_argument("--demo-wallets", type=int, default=0, help="seed N demo wallets")
    args = parser.parse_args(argv)
    fake = FakeHyperliquid(
        port=args.port, push_delay=args.push_delay, idle_timeout=args.idle_timeout
    )
    wallets = demo_wallets(args.demo_wallets)
    seed_demo(fake, wallets)

    def ready(server: FakeHyperliquid) -> None:
        print(server.info_url, flush=True)
        print(server.ws_url, flush=True)
        for user in wallets:
            print(f"wallet {user}", flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(fake, ready))


if __name__ == "__main__":
    main()
