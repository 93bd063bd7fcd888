"""Hyperliquid wallets pushed over the WebSocket: every leader fill a snapshot at once.

Interface, for the engine to consume (nothing in engine/ uses it yet):

    push = HyperliquidPush(source, ws_url, traders, max_wallets=10)
    async with push:                      # connects, subscribes, reads each book
        async for event in push:          # PushEvent, in order, per wallet
            ...
    push.pushed, push.polled              # wallet ids on the socket / left for polling
    push.blind(trader)                    # the reason it is blind now, or None

A `PushEvent` is one of:
- `BOOK`: a `clearinghouseState` read (the book's truth): at start, after every reconnect (once
  the gap is backfilled) and when a check finds the pushed book drifted. `snapshot` is the book.
- `FILL`: a pushed fill moved the book; `snapshot` is the whole book after it (the new size is
  the fill's `startPosition` +/- `sz`: a "Long > Short" flip is one fill, two legs, seen as one
  snapshot change), `fill` the leader's own fill (price and time: slippage and latency).
- `BLIND`: the socket closed, was refused or went silent: no snapshot, `reason` says why. The
  wallet sees again once its book was read and the socket spoke for it on one connection (a
  BOOK read while the socket stays silent is still the truth, but `blind()` keeps the reason).
  Never "flat".

How it stays exact: the subscribe's first frame (`isSnapshot: true`) is history: it only seeds
the dedupe set, never a trade. Fills are deduped by `tid` (coin/time/startPosition when `tid`
is 0). A ping goes every `ping_seconds` (the server closes a socket idle for 60 s) and a socket
that says nothing for `ping_seconds + pong_seconds` is dead. After any drop: reconnect with
back-off and jitter, resubscribe, backfill with `userFillsByTime` from the last processed fill
(inclusive, so deduped), then read `clearinghouseState` before anything is copied; live fills
that arrive meanwhile wait and are applied only if they follow the book (their
`startPosition` equals its size). A fill whose `startPosition` differs from the book we hold
means something was missed: it is logged as drift and the book is re-read.

The leverage of a position opened by a fill is not in the fill: the coin's last known leverage,
else 1 (the safe side) until the confirming book read that an open of an unknown coin triggers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from types import TracebackType
from typing import Any

import aiohttp

from lightspeed_cli.decisions.symbols import hyperliquid_coin, hyperliquid_refusal
from lightspeed_cli.models import Side, Snapshot, TraderPosition
from lightspeed_cli.sources.errors import SourceError
from lightspeed_cli.sources.hyperliquid import HyperliquidSource
from lightspeed_cli.sources.hyperliquid_wire import (
    FillsFrame,
    HlBook,
    HlFill,
    parse_frame,
    position,
)

log = logging.getLogger(__name__)

PING_SECONDS = 50.0  # the SDK's interval; the server closes a socket idle for 60 s
PONG_SECONDS = 10.0
BOOK_CHECK_SECONDS = 60.0  # the pushed book is compared with clearinghouseState this often
RECONNECT_FIRST, RECONNECT_MAX = 0.25, 8.0  # seconds, doubling, plus up to 25 % jitter
SEEN_MAX = 20_000  # fill keys remembered per wallet (the API keeps only 10,000 fills)
UNKNOWN_LEVERAGE = 1
LEVERAGE_LEARNED = "leverage learned"  # a BOOK's reason: sizes as pushed, a leverage now known


class PushKind(StrEnum):
    BOOK = "book"
    FILL = "fill"
    BLIND = "blind"


@dataclass(frozen=True, slots=True)
class PushEvent:
    trader: str
    kind: PushKind
    snapshot: Snapshot | None = None
    fill: HlFill | None = None
    reason: str = ""


@dataclass
class _Wallet:
    trader: str  # as configured
    user: str  # lower case, as frames carry it
    book: dict[str, TraderPosition] = field(default_factory=dict)  # by coin
    leverage: dict[str, int] = field(default_factory=dict)  # last known, kept while flat
    equity: Decimal | None = None
    seen: OrderedDict[tuple[Any, ...], None] = field(default_factory=OrderedDict)
    cursor_ms: int = 0  # the last processed fill (or the last book read): backfill from here
    moves: int = 0  # fills applied so far: a book read older than the latest is not taken
    synced: bool = False  # the book was read on this connection; live fills apply
    heard: bool = False  # the socket sent this wallet's fills frame on this connection
    waiting: list[HlFill] = field(default_factory=list)  # live fills before the book read
    blind: str | None = "not read yet"
    blind_said: bool = False  # the BLIND event of this outage went out
    ever_read: bool = False

    def remember(self, fill: HlFill) -> bool:
        """False if the fill was seen before (a duplicate)."""
        if fill.key in self.seen:
            return False
        self.seen[fill.key] = None
        if len(self.seen) > SEEN_MAX:
            self.seen.popitem(last=False)
        return True

    def size(self, coin: str) -> Decimal:
        held = self.book.get(coin)
        if held is None:
            return Decimal(0)
        return held.size if held.side is Side.LONG else -held.size


class HyperliquidPush:
    """One socket for up to `max_wallets` wallets' `userFills`; the rest are `polled`."""

    def __init__(
        self,
        source: HyperliquidSource,
        ws_url: str,
        traders: Sequence[str],
        *,
        max_wallets: int = 10,
        ping_seconds: float = PING_SECONDS,
        pong_seconds: float = PONG_SECONDS,
        book_check_seconds: float = BOOK_CHECK_SECONDS,
        reconnect: tuple[float, float] = (RECONNECT_FIRST, RECONNECT_MAX),
    ) -> None:
        self._source = source
        self._url = ws_url
        self.pushed = tuple(traders[:max_wallets])
        self.polled = tuple(traders[max_wallets:])
        self._wallets = {t.lower(): _Wallet(t, t.lower()) for t in self.pushed}
        self._ping = ping_seconds
        self._silence = ping_seconds + pong_seconds
        self._book_check = book_check_seconds
        self._reconnect = reconnect
        self._events: asyncio.Queue[PushEvent] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._runner: asyncio.Task[None] | None = None
        self.connections = 0  # sockets opened so far (1 + reconnects)

    async def __aenter__(self) -> HyperliquidPush:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def start(self) -> None:
        if self._runner is None and self._wallets:
            self._session = aiohttp.ClientSession()
            self._runner = asyncio.create_task(self._run(), name="hyperliquid-push")

    async def aclose(self) -> None:
        tasks = [t for t in (self._runner, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def __aiter__(self) -> HyperliquidPush:
        return self

    async def __anext__(self) -> PushEvent:
        """The next event; cancelling the wait (a timeout) loses none."""
        return await self._events.get()

    def blind(self, trader: str) -> str | None:
        wallet = self._wallets.get(trader.lower())
        return None if wallet is None else wallet.blind

    # -- the connection --------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while True:
            opened = self.connections
            try:
                await self._connection()
                reason = "the Hyperliquid socket closed"
            except TimeoutError:  # before OSError, its base class
                reason = f"the Hyperliquid socket was silent for {self._silence:g} s"
            except (aiohttp.ClientError, OSError) as exc:
                reason = f"cannot reach the Hyperliquid socket: {type(exc).__name__}"
            except Exception as exc:  # a bug must not stop the socket for good: say it, go on
                log.exception("Hyperliquid socket failed")
                reason = f"internal error on the Hyperliquid socket: {type(exc).__name__}"
            self._go_blind(reason)
            failures = 1 if self.connections > opened else failures + 1  # it came up: start over
            first, most = self._reconnect
            pause = min(first * 2 ** (failures - 1), most)
            await asyncio.sleep(pause + random.uniform(0, pause / 4))

    async def _connection(self) -> None:
        """One socket's life: subscribe, resync every wallet, read until it ends."""
        assert self._session is not None
        async with self._session.ws_connect(self._url, heartbeat=None, autoping=True) as ws:
            self.connections += 1
            log.info("Hyperliquid socket open: %d wallet(s) pushed", len(self._wallets))
            for wallet in self._wallets.values():
                wallet.synced, wallet.heard, wallet.waiting = False, False, []
                subscription = {"type": "userFills", "user": wallet.user}
                await ws.send_str(json.dumps({"method": "subscribe", "subscription": subscription}))
            syncs = [self._spawn(self._sync(w)) for w in self._wallets.values()]
            pinger = self._spawn(self._pinger(ws))
            checker = self._spawn(self._checker())
            unheard = self._spawn(self._unheard(ws))
            try:
                await self._read(ws)
            finally:
                for task in (*syncs, pinger, checker, unheard):
                    task.cancel()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            message = await ws.receive(timeout=self._silence)
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):  # fmt: skip
                return
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            try:
                frame = parse_frame(message.data)
            except SourceError as exc:  # a frame we cannot read may have held a fill
                log.warning("%s: re-reading the pushed books", exc.reason)
                for wallet in self._wallets.values():
                    self._spawn(self._check_book(wallet, f"after {exc.reason}"))
                continue
            if isinstance(frame, FillsFrame):
                self._on_fills(frame)
            elif frame == "error":
                log.warning("Hyperliquid socket error frame: %s", message.data[:200])

    async def _pinger(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            await asyncio.sleep(self._ping)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str('{"method":"ping"}')

    async def _unheard(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """A socket that answers pings but never sent a subscribed wallet's fills frame
        (its subscribe was lost) is no use to that wallet: close it, so it is made again."""
        await asyncio.sleep(self._silence)
        unheard = [w.trader for w in self._wallets.values() if not w.heard]
        if unheard:
            log.warning(
                "the Hyperliquid socket never answered the subscribe of %d wallet(s) in %g s:"
                " reconnecting", len(unheard), self._silence,
            )  # fmt: skip
            await ws.close()

    async def _checker(self) -> None:
        while True:
            await asyncio.sleep(self._book_check)
            for wallet in self._wallets.values():
                if wallet.synced:
                    await self._check_book(wallet, "periodic check")

    def _seeing(self, wallet: _Wallet) -> None:
        """Not blind once both are true on this connection: the book was read and the socket
        spoke for the wallet (a socket that accepts but stays silent keeps it blind, however
        readable the book is)."""
        if wallet.synced and wallet.heard:
            wallet.blind, wallet.blind_said = None, False

    def _go_blind(self, reason: str) -> None:
        for wallet in self._wallets.values():
            wallet.synced = False
            if not wallet.blind_said:
                wallet.blind, wallet.blind_said = reason, True
                log.warning("trader %s is blind: %s", wallet.trader, reason)
                self._emit(PushEvent(wallet.trader, PushKind.BLIND, reason=reason))

    # -- books -----------------------------------------------------------------------------

    async def _sync(self, wallet: _Wallet) -> None:
        """After (re)subscribing: backfill the gap, read the book, then let live fills apply."""
        pause = self._reconnect[0]
        while True:
            try:
                backfill: list[HlFill] = []
                if wallet.ever_read:
                    backfill = await self._source.fills_since(wallet.user, wallet.cursor_ms)
                book = await self._source.read_book(wallet.user)
                break
            except SourceError as exc:
                log.warning("trader %s: cannot resync: %s", wallet.trader, exc.reason)
                await asyncio.sleep(pause)
                pause = min(pause * 2, self._reconnect[1])
        missed = [f for f in backfill if wallet.remember(f)]
        if missed:
            log.info("trader %s: %d fill(s) during the gap", wallet.trader, len(missed))
        self._take_book(wallet, book)
        wallet.synced, wallet.ever_read = True, True
        self._seeing(wallet)
        self._emit_book(wallet, missed[-1] if missed else None)
        waiting, wallet.waiting = wallet.waiting, []
        self._apply(wallet, waiting, after_book=True)

    async def _check_book(self, wallet: _Wallet, why: str) -> None:
        """Compare the pushed book with clearinghouseState; the latter wins, loudly."""
        moves = wallet.moves
        try:
            book = await self._source.read_book(wallet.user)
        except SourceError as exc:
            log.warning("trader %s: book check (%s) failed: %s", wallet.trader, why, exc.reason)
            return
        if not wallet.synced or wallet.moves != moves:
            return  # a fill came meanwhile: this read may be older than it; the next check
        before, levered = _sizes(wallet.book), _leverages(wallet.book)
        self._take_book(wallet, book)
        after = _sizes(wallet.book)
        if before != after:
            log.warning(
                "trader %s: the leader's book drifted (%s): pushed %s, clearinghouseState %s;"
                " settled in the book's favour", wallet.trader, why, before, after,
            )  # fmt: skip
            self._emit_book(wallet, None)
        elif levered != _leverages(wallet.book):  # e.g. a new position's: set ahead of time
            self._emit_book(wallet, None, LEVERAGE_LEARNED)

    def _take_book(self, wallet: _Wallet, book: HlBook) -> None:
        wallet.book = {hyperliquid_coin(p.symbol): p for p in book.positions}
        for coin, p in wallet.book.items():
            wallet.leverage[coin] = p.leverage
        wallet.equity = book.account_value if book.account_value is not None else wallet.equity
        wallet.cursor_ms = max(wallet.cursor_ms, book.time_ms or 0)

    # -- fills -----------------------------------------------------------------------------

    def _on_fills(self, frame: FillsFrame) -> None:
        wallet = self._wallets.get(frame.user)
        if wallet is None:
            return
        if not wallet.heard:
            wallet.heard = True
            self._seeing(wallet)
        if frame.is_snapshot:  # history: never copied; seeds the dedupe set on the first
            if wallet.ever_read:  # connection (after a gap the backfill does, and counts)
                return
            for fill in frame.fills:
                wallet.remember(fill)
            return
        fills = sorted(frame.fills, key=lambda f: f.time_ms)
        if not wallet.synced:
            wallet.waiting.extend(fills)
            return
        self._apply(wallet, fills, after_book=False)

    def _apply(self, wallet: _Wallet, fills: list[HlFill], *, after_book: bool) -> None:
        """Apply new fills in order. `after_book`: they waited for a book read that may
        already hold them (one whose result the book shows is skipped, not applied twice)."""
        for fill in fills:
            if fill.key in wallet.seen:
                continue
            refusal = hyperliquid_refusal(fill.coin)
            if refusal is not None:
                wallet.remember(fill)
                log.info("trader %s: fill not copied: %s", wallet.trader, refusal)
                continue
            held = wallet.size(fill.coin)
            if after_book and held == fill.new_position and held != fill.start_position:
                wallet.remember(fill)  # the book read already holds it
                continue
            wallet.remember(fill)
            wallet.moves += 1
            wallet.cursor_ms = max(wallet.cursor_ms, fill.time_ms)
            if held != fill.start_position:
                log.warning(
                    "trader %s: %s fill %d starts at %s but the book holds %s: a fill was"
                    " missed; re-reading the book", wallet.trader, fill.coin, fill.tid,
                    fill.start_position, held,
                )  # fmt: skip
                self._spawn(self._check_book(wallet, "fill chain broken"))
            if self._move(wallet, fill):
                self._spawn(self._check_book(wallet, f"leverage of the new {fill.coin} position"))
            self._emit(PushEvent(wallet.trader, PushKind.FILL, self._snapshot(wallet, fill), fill))

    def _move(self, wallet: _Wallet, fill: HlFill) -> bool:
        """The book after `fill`; True if it opened a position of unknown leverage."""
        new = fill.new_position
        held = wallet.book.get(fill.coin)
        if new == 0:
            wallet.book.pop(fill.coin, None)
            return False
        side = Side.LONG if new > 0 else Side.SHORT
        unknown = False
        if held is None or held.side is not side:
            entry = fill.px
            leverage = wallet.leverage.get(fill.coin)
            unknown = leverage is None
        else:
            grown = abs(new) - held.size
            entry = held.entry_price
            if grown > 0:
                entry = (held.size * held.entry_price + grown * fill.px) / abs(new)
            leverage = held.leverage
        wallet.book[fill.coin] = position(
            fill.coin, new, entry, leverage or UNKNOWN_LEVERAGE, fill.px
        )
        return unknown

    # -- out -------------------------------------------------------------------------------

    def _snapshot(self, wallet: _Wallet, fill: HlFill | None) -> Snapshot:
        return Snapshot(
            trader=wallet.trader,
            positions=tuple(wallet.book.values()),
            fetched_at=datetime.now(UTC),
            source_time=fill.at if fill is not None else None,
            leader_equity=wallet.equity,
        )

    def _emit_book(self, wallet: _Wallet, fill: HlFill | None, reason: str = "") -> None:
        snapshot = self._snapshot(wallet, fill)
        self._emit(PushEvent(wallet.trader, PushKind.BOOK, snapshot, fill, reason))

    def _emit(self, event: PushEvent) -> None:
        self._events.put_nowait(event)

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _sizes(book: dict[str, TraderPosition]) -> dict[str, str]:
    return {coin: f"{p.side.value} {p.size.normalize():f}" for coin, p in sorted(book.items())}


def _leverages(book: dict[str, TraderPosition]) -> dict[str, int]:
    return {coin: p.leverage for coin, p in book.items()}
