"""A fake Binance: the web "bapi" position endpoints on 127.0.0.1, with scriptable faults.

Serves the shapes of shared/api/binance.md: the leaderboard `getOtherPosition` (v1 public and
v2 private, the latter optionally requiring the `p20t` cookie + `csrftoken` header) and the
copy-trading lead portfolio positions (numbers as strings, zero-amount rows for closed symbols,
`BOTH` or hedge `LONG`/`SHORT` rows), and the lead portfolio's `detail`, `order-history` and
`position-history`, kept consistent with the scripted positions: every change of a trader's
positions records the orders that explain it (sim/binance_portfolio.py). Tests, `lightspeed
simulate` and the benchmarks drive the real source against it over real HTTP.

Run it on the caller's loop (`async with FakeBinance() as fake`), in a background thread with its
own loop (`with FakeBinance.running() as fake`, for a `lightspeed run` subprocess), or as its own
process (`python -m lightspeed_cli.sim.binance --latency 0.05 --demo-traders 200`). Scripting
methods are thread-safe. Faults apply per trader and/or per client (the proxy that forwarded the
request, from its `Via` header: Binance limits per IP), for the next N requests or until cleared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Any, Literal

from aiohttp import web

from lightspeed_cli.sim.binance_portfolio import (
    FakeDetail,
    FakeLot,
    FakeOrder,
    PortfolioRecord,
    PortfolioStatus,
    detail_data,
    page,
)

LEADERBOARD_V1 = "/bapi/futures/v1/public/future/leaderboard/getOtherPosition"
LEADERBOARD_V2 = "/bapi/futures/v2/private/future/leaderboard/getOtherPosition"
COPYTRADE = "/bapi/futures/v1/friendly/future/copy-trade/lead-data/positions"
_LEAD = "/bapi/futures/v1/friendly/future/copy-trade/lead-portfolio"
DETAIL = f"{_LEAD}/detail"
ORDER_HISTORY = f"{_LEAD}/order-history"
POSITION_HISTORY = f"{_LEAD}/position-history"
POSITION_PATHS = frozenset({LEADERBOARD_V1, LEADERBOARD_V2, COPYTRADE})
LEAD_PORTFOLIO_PATHS = frozenset({DETAIL, ORDER_HISTORY, POSITION_HISTORY})
MAX_PAGE_SIZE = 100

PositionSide = Literal["BOTH", "LONG", "SHORT"]


class Fault(StrEnum):
    RATE_LIMIT = "429"  # with Retry-After
    BAN = "418"  # IP banned for ignoring 429s, with Retry-After
    SERVER_ERROR = "500"
    FORBIDDEN = "403"  # the WAF's HTML page
    SLOW = "slow"  # the normal answer, `delay` seconds late
    MALFORMED = "malformed"  # 200 with a truncated JSON body
    REJECT = "success_false"  # 200, success:false with a code and message
    BODY = "body"  # serve `body` with `status` verbatim (recorded fixtures)
    GZIP_BOMB = "gzip_bomb"  # 200, ~1 MiB of gzip that inflates to `size` bytes (1 GiB)
    HUGE_BODY = "huge_body"  # 200, a chunked JSON body of `size` bytes, streamed (no length)


@dataclass(frozen=True)
class FakePosition:
    """One open position as Binance holds it: `amount` signed (short negative)."""

    symbol: str
    amount: Decimal
    entry_price: Decimal
    leverage: int = 10
    position_side: PositionSide = "BOTH"

    @classmethod
    def long(
        cls,
        symbol: str,
        size: Decimal | str,
        entry: Decimal | str,
        leverage: int = 10,
        *,
        hedge: bool = False,
    ) -> FakePosition:
        return cls(symbol, Decimal(size), Decimal(entry), leverage, "LONG" if hedge else "BOTH")

    @classmethod
    def short(
        cls,
        symbol: str,
        size: Decimal | str,
        entry: Decimal | str,
        leverage: int = 10,
        *,
        hedge: bool = False,
    ) -> FakePosition:
        return cls(symbol, -Decimal(size), Decimal(entry), leverage, "SHORT" if hedge else "BOTH")


@dataclass(frozen=True)
class RecordedRequest:
    at: float  # time.monotonic() on arrival
    method: str
    path: str
    trader: str | None
    client: str  # the forwarding proxy's name from its Via header, or "direct"
    headers: Mapping[str, str]
    status: int


@dataclass
class _Rule:
    fault: Fault
    trader: str | None
    client: str | None
    remaining: int | None
    retry_after: float
    delay: float
    status: int
    body: bytes
    code: str
    message: str
    paths: frozenset[str] = POSITION_PATHS
    size: int = 1 << 30

    def matches(self, trader: str | None, client: str, path: str) -> bool:
        return (
            (self.trader is None or self.trader == trader)
            and (self.client is None or self.client == client)
            and path in self.paths
        )


@dataclass
class _Book:
    positions: list[FakePosition] = field(default_factory=list)
    closed: dict[tuple[str, str], None] = field(default_factory=dict)  # zero rows, in order
    hidden: bool = False
    updated_ms: int = field(default_factory=lambda: int(time.time() * 1000))


class FakeBinance:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        rate_limit: int | None = None,
        keep_log: bool = True,
        zero_rows: Iterable[str] = ("SNTUSDT", "XRPUSDT"),
    ) -> None:
        """`latency`: seconds added to every answer. `rate_limit`: requests per second per
        client before answering 429 on its own. `zero_rows`: closed symbols listed in every
        lead portfolio answer, as Binance does."""
        self.host = host
        self.port = port
        self.latency = latency
        self.rate_limit = rate_limit
        self.keep_log = keep_log
        self._zero_rows = tuple(zero_rows)
        self._lock = threading.Lock()
        self._books: dict[str, _Book] = {}
        self._records: dict[str, PortfolioRecord] = {}
        self._marks: dict[str, Decimal] = {}
        self._session: tuple[str, str] | None = None
        self._rules: list[_Rule] = []
        self._log: list[RecordedRequest] = []
        self._windows: dict[str, deque[float]] = {}
        self._cache: dict[tuple[str, str], bytes] = {}
        self._runner: web.AppRunner | None = None
        self._in_flight = 0
        self.peak_in_flight = 0  # most requests being answered at once

    # -- scripting -------------------------------------------------------------------------

    def set_positions(
        self,
        trader: str,
        positions: Iterable[FakePosition],
        *,
        prices: Mapping[str, Decimal | str] | None = None,
        at_ms: int | None = None,
    ) -> list[FakeOrder]:
        """Replace the trader's open positions; symbols that disappear become zero rows.

        Records (and returns) the orders that explain the change, at `at_ms` (default now):
        adds fill at the price that gives the new entry price, reduces at `prices[symbol]`,
        else the mark price, else the entry price."""
        with self._lock:
            book = self._books.setdefault(trader, _Book())
            new = list(positions)
            fills = {k: Decimal(v) for k, v in (prices or {}).items()}
            when = int(time.time() * 1000) if at_ms is None else at_ms
            record = self._records.setdefault(trader, PortfolioRecord())
            orders = record.apply(book.positions, new, marks=self._marks, prices=fills, at_ms=when)
            keep = {(p.symbol, p.position_side) for p in new}
            for p in book.positions:
                if (p.symbol, p.position_side) not in keep:
                    book.closed[(p.symbol, p.position_side)] = None
            for key in keep:
                book.closed.pop(key, None)
            book.positions = new
            book.updated_ms = when
            self._cache.clear()
            return orders

    def clear_positions(
        self,
        trader: str,
        *,
        prices: Mapping[str, Decimal | str] | None = None,
        at_ms: int | None = None,
    ) -> list[FakeOrder]:
        """The trader is flat: a success answer with an empty list (closing orders recorded)."""
        return self.set_positions(trader, [], prices=prices, at_ms=at_ms)

    def set_detail(
        self,
        trader: str,
        *,
        status: PortfolioStatus | None = None,
        margin_balance: Decimal | str | None = None,
        nickname: str | None = None,
        position_show: bool | None = None,
    ) -> None:
        """Change what `lead-portfolio/detail` says (a trader without a record gets one)."""
        with self._lock:
            d = self._records.setdefault(trader, PortfolioRecord()).detail
            if status is not None:
                d.status = status
            if margin_balance is not None:
                d.margin_balance = Decimal(margin_balance)
            if nickname is not None:
                d.nickname = nickname
            if position_show is not None:
                d.position_show = position_show

    def detail(self, trader: str) -> FakeDetail:
        with self._lock:
            return self._records.setdefault(trader, PortfolioRecord()).detail

    def orders(self, trader: str) -> list[FakeOrder]:
        """The trader's recorded orders, oldest first."""
        with self._lock:
            record = self._records.get(trader)
            return list(record.orders) if record else []

    def lots(self, trader: str) -> list[FakeLot]:
        """The trader's position-history lots, oldest first."""
        with self._lock:
            record = self._records.get(trader)
            return list(record.lots) if record else []

    def hide(self, trader: str, hidden: bool = True) -> None:
        """The trader stops (or resumes) sharing: a success answer with a null list."""
        with self._lock:
            self._books.setdefault(trader, _Book()).hidden = hidden
            self._cache.clear()

    def set_mark_price(self, symbol: str, price: Decimal | str) -> None:
        with self._lock:
            self._marks[symbol] = Decimal(price)
            self._cache.clear()

    def require_session(self, p20t: str | None, csrftoken: str | None = None) -> None:
        """Make the v2 private path demand this cookie + header (None: no check)."""
        with self._lock:
            self._session = (p20t, csrftoken or "") if p20t else None

    def inject(
        self,
        fault: Fault,
        *,
        trader: str | None = None,
        client: str | None = None,
        times: int | None = None,
        retry_after: float = 1,
        delay: float = 30.0,
        status: int = 200,
        body: bytes | str = b"",
        code: str = "000002",
        message: str = "illegal parameter",
        path: str | None = None,
        size: int | None = None,
    ) -> None:
        """Answer matching requests (this trader / this client, None = any) with `fault`, for
        the next `times` of them (None = until `clear_faults`). Earlier rules win. A rule hits
        the position reads only, unless `path` names another endpoint (DETAIL, ORDER_HISTORY,
        POSITION_HISTORY) or is "*" (every endpoint). `size`: the inflated bytes of a
        GZIP_BOMB (1 GiB), the bytes of a HUGE_BODY (200 MiB)."""
        raw = body.encode() if isinstance(body, str) else body
        paths = POSITION_PATHS if path is None else frozenset({path})
        if path == "*":
            paths = POSITION_PATHS | LEAD_PORTFOLIO_PATHS
        if size is None:
            size = 200 << 20 if fault is Fault.HUGE_BODY else 1 << 30
        rule = _Rule(
            fault,
            trader,
            client,
            times,
            retry_after,
            delay,
            status,
            raw,
            code,
            message,
            paths,
            size,
        )
        with self._lock:
            self._rules.append(rule)

    def clear_faults(self) -> None:
        with self._lock:
            self._rules.clear()

    def requests(
        self, trader: str | None = None, *, paths: Iterable[str] | None = None
    ) -> list[RecordedRequest]:
        """Logged requests for this trader (None = any) on these paths (None = any)."""
        wanted = None if paths is None else frozenset(paths)
        with self._lock:
            return [
                r
                for r in self._log
                if (trader is None or r.trader == trader) and (wanted is None or r.path in wanted)
            ]

    def request_count(
        self, trader: str | None = None, *, paths: Iterable[str] | None = None
    ) -> int:
        return len(self.requests(trader, paths=paths))

    def position_reads(self, trader: str | None = None) -> int:
        """Reads of the trader's open positions (not of its detail or history)."""
        return self.request_count(trader, paths=POSITION_PATHS)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the fake Binance is not running")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FakeBinance:
        app = web.Application()
        app.router.add_post(LEADERBOARD_V1, self._leaderboard)
        app.router.add_post(LEADERBOARD_V2, self._leaderboard)
        app.router.add_get(COPYTRADE, self._copytrade)
        app.router.add_get(DETAIL, self._detail)
        app.router.add_post(ORDER_HISTORY, self._history)
        app.router.add_post(POSITION_HISTORY, self._history)
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            handler_cancellation=True,
            shutdown_timeout=0.5,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        self.port = runner.addresses[0][1]
        self._runner = runner
        return self

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeBinance:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @classmethod
    @contextmanager
    def running(cls, **kwargs: Any) -> Iterator[FakeBinance]:
        """Serve from a background thread with its own event loop (for subprocess clients)."""
        fake = cls(**kwargs)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="fake-binance", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(fake.start(), loop).result(timeout=10)
            yield fake
        finally:
            with suppress(Exception):
                asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()

    # -- serving ---------------------------------------------------------------------------

    async def _leaderboard(self, request: web.Request) -> web.Response:
        try:
            payload = await request.json()
            trader = payload.get("encryptedUid") if isinstance(payload, dict) else None
        except ValueError:
            trader = None
        needs_session = request.path == LEADERBOARD_V2
        return await self._answer(request, "leaderboard", trader, needs_session)

    async def _copytrade(self, request: web.Request) -> web.Response:
        trader = request.query.get("portfolioId")
        return await self._answer(request, "copytrade", trader, needs_session=False)

    async def _detail(self, request: web.Request) -> web.Response:
        trader = request.query.get("portfolioId")
        return await self._answer(request, "detail", trader, needs_session=False)

    async def _history(self, request: web.Request) -> web.Response:
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        payload = payload if isinstance(payload, dict) else {}
        trader = payload.get("portfolioId")
        trader = str(trader) if trader is not None else None
        return await self._answer(request, "history", trader, False, payload)

    async def _answer(
        self,
        request: web.Request,
        kind: str,
        trader: str | None,
        needs_session: bool,
        payload: Mapping[str, Any] | None = None,
    ) -> web.Response:
        client = _client_name(request.headers.get("Via"))
        with self._lock:
            response, delay = self._decide(
                request, kind, trader, client, needs_session, payload or {}
            )
            if self.keep_log:
                self._log.append(
                    RecordedRequest(
                        time.monotonic(),
                        request.method,
                        request.path,
                        trader,
                        client,
                        dict(request.headers),
                        response.status,
                    )
                )
        self._in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            if self.latency + delay > 0:
                await asyncio.sleep(self.latency + delay)
        finally:
            self._in_flight -= 1
        return response

    def _decide(
        self,
        request: web.Request,
        kind: str,
        trader: str | None,
        client: str,
        needs_session: bool,
        payload: Mapping[str, Any],
    ) -> tuple[web.Response, float]:
        """The answer to one request and how late to send it; called with the lock held."""
        if self.rate_limit is not None and self._over_rate_limit(client):
            return _throttled(429, 1), 0.0
        rule = self._take_rule(trader, client, request.path)
        if rule is not None and rule.fault is not Fault.SLOW:
            return _fault_response(rule), 0.0
        delay = rule.delay if rule is not None else 0.0
        if trader is None:
            return _json(_envelope(None, code="000002", message="illegal parameter")), delay
        if needs_session and self._session is not None and not self._has_session(request):
            body = _envelope(None, code="100002001", message="Please log in first")
            return _json(body, status=401), delay
        if kind == "detail":
            return self._detail_answer(trader), delay
        if kind == "history":
            return self._history_answer(request.path, trader, payload), delay
        key = (kind, trader)
        body = self._cache.get(key)
        if body is None:
            book = self._books.get(trader) or _Book(hidden=True)
            build = _leaderboard_body if kind == "leaderboard" else _copytrade_body
            body = self._cache[key] = json.dumps(build(book, self._marks, self._zero_rows)).encode()
        return web.Response(body=body, content_type="application/json"), delay

    def _detail_answer(self, trader: str) -> web.Response:
        record = self._records.get(trader)
        if record is None and trader not in self._books:
            return _json(_envelope(None, code="000002", message="illegal parameter"), status=400)
        record = record or self._records.setdefault(trader, PortfolioRecord())
        return _json(_envelope(detail_data(trader, record)))

    def _history_answer(self, path: str, trader: str, payload: Mapping[str, Any]) -> web.Response:
        """One page of orders or position lots, newest first; `startTime` / `endTime` (ms)
        bound the order time (orders) or the open time (lots)."""
        try:
            number = int(payload.get("pageNumber", 1))
            size = int(payload.get("pageSize", 10))
            start = int(payload.get("startTime") or 0)
            end = int(payload.get("endTime") or 2**62)
        except (TypeError, ValueError):
            number = size = 0
        if number < 1 or not 0 < size <= MAX_PAGE_SIZE:
            return _json(_envelope(None, code="000002", message="illegal parameter"), status=400)
        record = self._records.get(trader) or PortfolioRecord()
        if path == ORDER_HISTORY:
            rows = [o.row() for o in record.orders if start <= o.time_ms <= end]
        else:
            rows = [lot.row() for lot in record.lots if start <= lot.opened <= end]
        return _json(_envelope(page(rows[::-1], number, size)))

    def _take_rule(self, trader: str | None, client: str, path: str) -> _Rule | None:
        for rule in self._rules:
            if rule.matches(trader, client, path):
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                return rule
        return None

    def _over_rate_limit(self, client: str) -> bool:
        now = time.monotonic()
        window = self._windows.setdefault(client, deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        window.append(now)
        return len(window) > (self.rate_limit or 0)

    def _has_session(self, request: web.Request) -> bool:
        assert self._session is not None
        p20t, csrftoken = self._session
        return request.cookies.get("p20t") == p20t and request.headers.get("csrftoken") == csrftoken


def _client_name(via: str | None) -> str:
    """The proxy that reached us (last hop of `Via: 1.1 name`), or "direct"."""
    if not via:
        return "direct"
    return via.split(",")[-1].split()[-1]


# -- bodies ------------------------------------------------------------------------------------


def _envelope(data: Any, *, code: str = "000000", message: str | None = None) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "messageDetail": None,
        "data": data,
        "success": code == "000000",
    }


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def _throttled(status: int, retry_after: float) -> web.Response:
    return web.Response(
        status=status,
        headers={"Retry-After": f"{retry_after:g}"},
        text="" if status == 418 else '{"code":"-1003","msg":"Too many requests"}',
        content_type="application/json",
    )


_WAF_PAGE = (
    "<html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1>"
    "<p>Request blocked.</p></body></html>"
)


def _fault_response(rule: _Rule) -> web.Response:
    match rule.fault:
        case Fault.RATE_LIMIT | Fault.BAN:
            return _throttled(int(rule.fault.value), rule.retry_after)
        case Fault.SERVER_ERROR:
            return web.Response(status=500, text="Internal Server Error")
        case Fault.FORBIDDEN:
            return web.Response(status=403, text=_WAF_PAGE, content_type="text/html")
        case Fault.MALFORMED:
            return web.Response(
                body=b'{"code":"000000","success":true,"data":{"otherPositionRetList":[{"sym',
                content_type="application/json",
            )
        case Fault.REJECT:
            return _json(_envelope(None, code=rule.code, message=rule.message))
        case Fault.GZIP_BOMB:
            return web.Response(
                body=gzip_bomb(rule.size),
                headers={"Content-Encoding": "gzip"},
                content_type="application/json",
            )
        case Fault.HUGE_BODY:
            return web.Response(body=_huge_body(rule.size), content_type="application/json")
        case _:
            return web.Response(status=rule.status, body=rule.body, content_type="application/json")


_BODY_HEAD = b'{"code":"000000","success":true,"data":{"otherPositionRetList":['
_BODY_TAIL = b"]}}"


@cache
def gzip_bomb(size: int) -> bytes:
    """A valid positions answer padded with blanks to `size` bytes, gzipped (~1000:1; built
    once per size: 1 GiB takes ~3 s)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts, left = [packer.compress(_BODY_HEAD)], size - len(_BODY_HEAD) - len(_BODY_TAIL)
    block = b" " * (1 << 20)
    while left > 0:
        parts.append(packer.compress(block[: min(left, len(block))]))
        left -= len(block)
    parts += [packer.compress(_BODY_TAIL), packer.flush()]
    return b"".join(parts)


async def _huge_body(size: int) -> AsyncIterator[bytes]:
    """`size` bytes of a valid answer, a MiB at a time: the fake never holds it whole."""
    yield _BODY_HEAD
    block, left = b" " * (1 << 20), size - len(_BODY_HEAD) - len(_BODY_TAIL)
    while left > 0:
        yield block[: min(left, len(block))]
        left -= len(block)
    yield _BODY_TAIL


def _mark(p: FakePosition, marks: Mapping[str, Decimal]) -> Decimal:
    return marks.get(p.symbol, p.entry_price)


def _pnl(p: FakePosition, mark: Decimal) -> Decimal:
    return (mark - p.entry_price) * p.amount


def _time_array(ms: int) -> list[int]:
    t = datetime.fromtimestamp(ms / 1000, UTC)
    return [t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond * 1000]


def _leaderboard_body(
    book: _Book, marks: Mapping[str, Decimal], zero_rows: tuple[str, ...]
) -> dict[str, Any]:
    """Leaderboard rows: numbers as JSON numbers, amount signed, no positionSide."""
    if book.hidden:
        data = {"otherPositionRetList": None, "updateTime": None, "updateTimeStamp": None}
        return _envelope(data)
    rows = []
    for p in book.positions:
        mark = _mark(p, marks)
        pnl = _pnl(p, mark)
        margin = abs(p.amount) * p.entry_price / p.leverage
        rows.append(
            {
                "symbol": p.symbol,
                "entryPrice": float(p.entry_price),
                "markPrice": float(mark),
                "pnl": float(pnl),
                "roe": float(round(pnl / margin, 4)) if margin else 0.0,
                "updateTime": _time_array(book.updated_ms),
                "amount": float(p.amount),
                "updateTimeStamp": book.updated_ms,
                "yellow": False,
                "tradeBefore": True,
                "leverage": p.leverage,
            }
        )
    data = {
        "otherPositionRetList": rows,
        "updateTime": _time_array(book.updated_ms),
        "updateTimeStamp": book.updated_ms,
    }
    return _envelope(data)


def _copytrade_row(
    symbol: str, side: str, amount: Decimal, entry: Decimal, mark: Decimal, leverage: int
) -> dict[str, Any]:
    pnl = (mark - entry) * amount
    return {
        "id": f"0_{symbol}_{side}",
        "symbol": symbol,
        "collateral": "USDT",
        "positionAmount": str(amount),
        "entryPrice": str(entry),
        "unrealizedProfit": f"{pnl:.8f}",
        "cumRealized": "0",
        "askNotional": "0",
        "bidNotional": "0",
        "notionalValue": str(abs(amount) * mark),
        "markPrice": str(mark),
        "leverage": leverage,
        "isolated": False,
        "isolatedWallet": "0",
        "adl": 2 if amount else 0,
        "positionSide": side,
        "breakEvenPrice": str(entry),
    }


def _copytrade_body(
    book: _Book, marks: Mapping[str, Decimal], zero_rows: tuple[str, ...]
) -> dict[str, Any]:
    """Lead portfolio rows: numbers as strings, closed symbols as zero-amount rows."""
    if book.hidden:
        return _envelope(None)
    rows = [
        _copytrade_row(
            p.symbol, p.position_side, p.amount, p.entry_price, _mark(p, marks), p.leverage
        )
        for p in book.positions
    ]
    zero = Decimal("0")
    closed = list(book.closed) + [(s, "BOTH") for s in zero_rows]
    rows += [_copytrade_row(s, side, zero, Decimal("0.0"), zero, 5) for s, side in closed]
    return _envelope(rows)


def copytrade_answer(
    positions: Iterable[FakePosition], amounts: Mapping[str, str] | None = None
) -> str:
    """One lead-portfolio answer for `positions`, as `Fault.BODY` serves it: a glitch to
    inject once. `amounts` (symbol -> the amount as sent) spikes a row verbatim."""
    rows = []
    for p in positions:
        row = _copytrade_row(
            p.symbol, p.position_side, p.amount, p.entry_price, p.entry_price, p.leverage
        )
        if amounts and p.symbol in amounts:
            row["positionAmount"] = amounts[p.symbol]
        rows.append(row)
    return json.dumps(_envelope(rows))


# -- demo traders for `simulate` and the benchmarks ---------------------------------------------


def demo_traders(count: int) -> list[tuple[str, str]]:
    """`count` deterministic (source, id) pairs, half leaderboard and half copytrade."""
    traders = []
    for i in range(count):
        if i % 2 == 0:
            traders.append(("leaderboard", f"{i:032X}"))
        else:
            traders.append(("copytrade", f"{4_000_000_000_000_000_000 + i}"))
    return traders


def seed_demo(fake: FakeBinance, traders: Iterable[tuple[str, str]]) -> None:
    """Give each demo trader a few positions, some hedged, some short."""
    symbols = [("BTCUSDT", "60123.4"), ("ETHUSDT", "3012.5"), ("SOLUSDT", "145.3")]
    for n, (_source, trader) in enumerate(traders):
        positions = []
        for k, (symbol, entry) in enumerate(symbols[: 1 + n % 3]):
            size = Decimal(1 + n % 7) / 100
            make = FakePosition.short if (n + k) % 2 else FakePosition.long
            positions.append(make(symbol, size, entry, 5 + k * 5, hedge=n % 4 == 3))
        fake.set_positions(trader, positions)


async def serve(fake: FakeBinance, ready: Any = None) -> None:
    """Run until cancelled; `ready(url)` is called once listening."""
    await fake.start()
    try:
        if ready is not None:
            ready(fake.url)
        await asyncio.Event().wait()
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a fake Binance on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per answer")
    parser.add_argument("--demo-traders", type=int, default=0, help="seed N demo traders")
    parser.add_argument("--session", default="", help="require this p20t:csrftoken on v2")
    args = parser.parse_args(argv)
    fake = FakeBinance(port=args.port, latency=args.latency, keep_log=False)
    seed_demo(fake, demo_traders(args.demo_traders))
    if args.session:
        fake.require_session(*args.session.split(":", 1))
    try:
        import uvloop

        run: Any = uvloop.run
    except ImportError:
        run = asyncio.run
    with suppress(KeyboardInterrupt):
        run(serve(fake, lambda url: print(url, flush=True)))


if __name__ == "__main__":
    main()
