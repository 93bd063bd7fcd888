"""A fake Bybit v5 REST server that the real ccxt client talks to, for tests and `simulate`.

A real HTTP server on 127.0.0.1 (random port) running in a background thread with its own event
loop, so in-process async tests and subprocess end-to-end runs can share it:

    with FakeBybit.running(hedge_mode=False) as fake:
        fake.set_price("BTCUSDT", "60000")
        settings = fake.settings()              # BybitSettings pointed at fake.url
        ... BybitBroker(settings, api_key=fake.api_key, api_secret=fake.api_secret) ...
        fake.inject("/v5/order/create", Fault.lost_response())
        assert len(fake.orders) == 1            # the order log: every accepted order

It speaks the real envelope (`retCode/retMsg/result/retExtInfo/time`), checks the v5 HMAC
signature of private calls, keeps balances and positions in a `Ledger` (one-way or hedge mode),
fills market orders at the scripted price and refuses what Bybit refuses, with Bybit's codes.
A signed request is refused with 10002 when its X-BAPI-TIMESTAMP + X-BAPI-RECV-WINDOW has
passed by the time it is processed (a stalled create held past its window never executes).

Real behaviours, each a switch a test turns on (the facts are in shared/api/bybit_ccxt.md
section 5, "Real behaviours our fake did not model"; off by default):

    fake.hide_orders(3.0)          # accepted orders are in neither order list for 3 s
    fake.show_hidden_orders()      # ... or until this
    fake.history_only()            # after a Bybit "restart": closed orders only in order/history
    fake.partial_fills("0.4", orders=1, status="Cancelled")  # IOC market orders that run out
                                   # of liquidity: 40 % fills, the order ends Cancelled
    fake.paging(page_size=1, last_cursor="repeat")  # lists page; the last page still carries
                                   # a cursor whose page repeats its rows ("empty": no rows)
    fake.set_coins({"USDC": "90000"})  # a multi-coin unified wallet: totalEquity (USD, all
                                   # coins) != the USDT coin's equity; other coins are collateral

Switches that break what the bot relies on, for `lightspeed selftest` to catch:

    fake.accept_duplicate_link_ids()  # a reused orderLinkId is not refused with 110072
    fake.set_api_key(read_only=False, withdraw=True)  # what /v5/user/query-api reports

Run it alone: `python -m lightspeed_cli.sim.bybit --help`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from lightspeed_cli.config.choices import AccountMode
from lightspeed_cli.config.sections import BybitSettings
from lightspeed_cli.decisions.sizing import floor_to_step
from lightspeed_cli.execution.ledger import (
    DEFAULT_LEVERAGE,
    TAKER_FEE_RATE,
    Ledger,
    LedgerReject,
)
from lightspeed_cli.execution.markets import dec, fmt, market_from_instrument
from lightspeed_cli.models import MarketInfo
from lightspeed_cli.sim.bybit_shapes import (
    DEFAULT_PRICES,
    OrderRecord,
    default_instruments,
    instrument,
    order_json,
    position_json,
    protection_price,
    ticker_json,
    wallet_json,
)
from lightspeed_cli.sim.threaded import ServedFake, ThreadedServer

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "FakeBybit",
    "Fault",
    "OrderRecord",
    "RequestRecord",
    "default_instruments",
    "instrument",
]

_LINK_ID = re.compile(r"[A-Za-z0-9_-]+")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")

DEFAULT_API_KEY = "fake-bybit-key"
DEFAULT_API_SECRET = "fake-bybit-secret"


@dataclass(frozen=True)
class Fault:
    """Something to go wrong on the next call(s) of one endpoint (see `FakeBybit.inject`).

    kind: "lost_response" (processed, connection dropped), "delay" (processed, answered after
    `delay` seconds), "drop" (connection dropped before processing), "stall" / "stall_drop"
    (held `delay` seconds first, then processed / dropped unprocessed), "ret_code" (answered
    `ret_code`/`ret_msg`, not processed), "http" (HTTP `status` with an HTML body, not processed).
    """

    kind: str
    ret_code: int = 0
    ret_msg: str = ""
    status: int = 200
    delay: float = 0.0

    @property
    def processes(self) -> bool:
        return self.kind in ("lost_response", "delay", "stall")

    @classmethod
    def stalled(cls, seconds: float, *, then_process: bool) -> Fault:
        """Hold the request `seconds` before Bybit sees it, then process it (the order lands
        after the client may have died) or drop the connection unprocessed."""
        return cls("stall" if then_process else "stall_drop", delay=seconds)

    @classmethod
    def lost_response(cls) -> Fault:
        return cls("lost_response")

    @classmethod
    def delayed(cls, seconds: float) -> Fault:
        return cls("delay", delay=seconds)

    @classmethod
    def dropped(cls) -> Fault:
        return cls("drop")

    @classmethod
    def rate_limit(cls) -> Fault:
        return cls("ret_code", ret_code=10006, ret_msg="Too many visits!")

    @classmethod
    def error(cls, ret_code: int, ret_msg: str) -> Fault:
        return cls("ret_code", ret_code=ret_code, ret_msg=ret_msg)

    @classmethod
    def server_error(cls, status: int = 502) -> Fault:
        return cls("http", status=status)

    @classmethod
    def maintenance(cls) -> Fault:
        return cls("http", status=503)


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    params: dict[str, Any]


class BybitError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


@dataclass
class _State:
    ledger: Ledger
    instruments: dict[str, dict[str, Any]]
    prices: dict[str, Decimal]
    margin_mode: str = "REGULAR_MARGIN"
    orders: list[OrderRecord] = field(default_factory=list)
    by_link: dict[str, int] = field(default_factory=dict)  # orderLinkId -> index in orders
    rejections: list[tuple[str, int, str]] = field(default_factory=list)
    faults: dict[str, deque[Fault]] = field(default_factory=dict)
    requests: deque[RequestRecord] = field(default_factory=lambda: deque(maxlen=10_000))
    calls: Counter[str] = field(default_factory=Counter)
    slow_fills: int = 0
    slow_status: str = "New"
    # the real behaviours of bybit_ccxt.md section 5, as switches (see the module docstring)
    hide_seconds: float = 0.0
    history_only: bool = False
    partial: deque[tuple[Decimal, str]] = field(default_factory=deque)
    page_size: int = 0  # 0: Bybit's `limit` alone decides
    last_cursor: str = ""  # "", "repeat" or "empty"
    coins: dict[str, Decimal] = field(default_factory=dict)  # other coins' USD value
    duplicates_accepted: bool = False  # the `accept_duplicate_link_ids` switch
    key_read_only: bool = False
    key_withdraw: bool = False
    stops: dict[tuple[str, int], Decimal] = field(default_factory=dict)  # position stop-losses


Handler = Callable[[dict[str, Any]], dict[str, Any]]


class FakeBybit(ServedFake):
    """The fake server: scripting methods are thread-safe and take effect immediately."""

    def __init__(
        self,
        *,
        hedge_mode: bool = False,
        balance: Decimal | str = "10000",
        api_key: str = DEFAULT_API_KEY,
        api_secret: str = DEFAULT_API_SECRET,
        instruments: list[dict[str, Any]] | None = None,
        prices: dict[str, Decimal | str] | None = None,
        fee_rate: Decimal = TAKER_FEE_RATE,
        default_leverage: Decimal = DEFAULT_LEVERAGE,
        check_signature: bool = True,
        port: int = 0,
        latency: float = 0.0,
    ) -> None:
        """`latency`: seconds added to every answer (a VPS's round trip to Bybit)."""
        self.latency = latency
        self.api_key = api_key
        self.api_secret = api_secret
        self.check_signature = check_signature
        insts = instruments if instruments is not None else default_instruments()
        self._state = _State(
            ledger=Ledger(
                wallet=Decimal(str(balance)),
                hedge_mode=hedge_mode,
                fee_rate=fee_rate,
                default_leverage=default_leverage,
            ),
            instruments={raw["symbol"]: raw for raw in insts},
            prices={k: Decimal(str(v)) for k, v in (prices or DEFAULT_PRICES).items()},
        )
        self._lock = threading.RLock()
        self._server = ThreadedServer("fake-bybit", self._dispatch, port)
        self._routes: dict[tuple[str, str], tuple[bool, Handler]] = {
            ("GET", "/v5/market/time"): (False, self._time),
            ("GET", "/v5/market/instruments-info"): (False, self._instruments),
            ("GET", "/v5/market/tickers"): (False, self._tickers),
            ("GET", "/v5/asset/coin/query-info"): (True, lambda p: {"rows": []}),
            ("GET", "/v5/user/query-api"): (True, self._query_api),
            ("GET", "/v5/account/info"): (True, self._account_info),
            ("GET", "/v5/account/wallet-balance"): (True, self._wallet_balance),
            ("GET", "/v5/position/list"): (True, self._position_list),
            ("POST", "/v5/position/set-leverage"): (True, self._set_leverage),
            ("POST", "/v5/position/switch-mode"): (True, self._switch_mode),
            ("POST", "/v5/position/switch-isolated"): (True, self._switch_isolated),
            ("POST", "/v5/account/set-margin-mode"): (True, self._set_margin_mode),
            ("POST", "/v5/order/create"): (True, self._order_create),
            ("GET", "/v5/order/realtime"): (True, self._order_realtime),
            ("GET", "/v5/order/history"): (True, self._order_history),
            ("POST", "/v5/order/cancel"): (True, self._order_cancel),
            ("POST", "/v5/position/trading-stop"): (True, self._trading_stop),
        }

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    def settings(self, **overrides: Any) -> BybitSettings:
        """BybitSettings pointed at this fake, in the fake's position mode."""
        mode = AccountMode.HEDGE if self.hedge_mode else AccountMode.ONE_WAY
        return BybitSettings(**{"base_url": self.url, "account_mode": mode, **overrides})

    # ---- scripting -------------------------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal | str | float) -> None:
        with self._lock:
            self._state.prices[symbol] = Decimal(str(price))
            self._trigger_stops(symbol)

    def price(self, symbol: str) -> Decimal:
        with self._lock:
            return self._state.prices[symbol]

    def add_instrument(self, raw: dict[str, Any], price: Decimal | str | None = None) -> None:
        """Add or replace an instrument (build one with `instrument(...)`)."""
        with self._lock:
            self._state.instruments[raw["symbol"]] = raw
            if price is not None:
                self._state.prices[raw["symbol"]] = Decimal(str(price))

    def set_lot_size(self, symbol: str, **fields: str) -> None:
        """Change an instrument's lotSizeFilter (e.g. minOrderQty) after clients cached it."""
        with self._lock:
            self._state.instruments[symbol]["lotSizeFilter"].update(fields)

    def set_position_mode(self, hedge: bool) -> None:
        with self._lock:
            self._state.ledger.hedge_mode = hedge

    def set_balance(self, wallet: Decimal | str) -> None:
        with self._lock:
            self._state.ledger.wallet = Decimal(str(wallet))

    def inject(self, path: str, fault: Fault, times: int = 1) -> None:
        """The next `times` calls of `path` (e.g. "/v5/order/create") suffer `fault`."""
        with self._lock:
            self._state.faults.setdefault(path, deque()).extend([fault] * times)

    def clear_faults(self) -> None:
        """Forget every injected fault not yet used."""
        with self._lock:
            self._state.faults.clear()

    def hide_orders(self, seconds: float) -> None:
        """Orders accepted from now on are in neither order list for `seconds` (Bybit's docs:
        order/realtime "may experience increased latency or temporary delays in data
        delivery"; bybit_ccxt.md section 5). 0 turns it off."""
        with self._lock:
            self._state.hide_seconds = seconds

    def show_hidden_orders(self) -> None:
        """Every order hidden by `hide_orders` is listed from now on."""
        with self._lock:
            orders = self._state.orders
            orders[:] = [replace(o, listed_at=0.0) for o in orders]

    def history_only(self, on: bool = True) -> None:
        """As after a Bybit server restart: order/realtime lists open orders only, filled /
        cancelled / rejected ones are in order/history alone (bybit_ccxt.md section 5)."""
        with self._lock:
            self._state.history_only = on

    def partial_fills(
        self, fraction: Decimal | str, *, orders: int = 1, status: str = "Cancelled"
    ) -> None:
        """The next `orders` market orders find liquidity for `fraction` of their qty only
        (rounded down to the step; below the minimum nothing fills) and end `status`
        ("Cancelled", "PartiallyFilledCanceled" or "Deactivated") with that cumExecQty: a
        market order is an IOC limit at a protection price (bybit_ccxt.md section 5)."""
        with self._lock:
            self._state.partial.extend([(Decimal(str(fraction)), status)] * orders)

    def paging(self, page_size: int = 0, last_cursor: str = "") -> None:
        """Lists answer at most `page_size` rows a page; with `last_cursor` "repeat" or
        "empty" the last page still carries a nextPageCursor, whose page repeats the last
        rows or is empty (a real position/list answer carried a cursor with a single row;
        bybit_ccxt.md section 5)."""
        if last_cursor not in ("", "repeat", "empty"):
            raise ValueError(f"last_cursor: '', 'repeat' or 'empty', not {last_cursor!r}")
        with self._lock:
            self._state.page_size, self._state.last_cursor = page_size, last_cursor

    def set_coins(self, usd_values: dict[str, Decimal | str]) -> None:
        """Coins held beside USDT, by USD value: they add to the unified wallet's totalEquity
        and count as margin collateral (a real UTA had totalEquity 92,255.97 with a USDT
        equity of 3,304.30; bybit_ccxt.md section 5)."""
        with self._lock:
            coins = {k: Decimal(str(v)) for k, v in usd_values.items()}
            self._state.coins = coins
            self._state.ledger.collateral = sum(coins.values(), Decimal(0))

    def accept_duplicate_link_ids(self, on: bool = True) -> None:
        """A create that reuses an orderLinkId is processed as a new order instead of refused
        with 110072 "OrderLinkedID is duplicate": breaks the bot's idempotency (a resend after
        a lost answer would double the order); `lightspeed selftest` must report it."""
        with self._lock:
            self._state.duplicates_accepted = on

    def set_api_key(self, *, read_only: bool = False, withdraw: bool = False) -> None:
        """What /v5/user/query-api says about the key: read-only (cannot trade), and whether
        it may withdraw (a copy bot never needs it)."""
        with self._lock:
            self._state.key_read_only, self._state.key_withdraw = read_only, withdraw

    def slow_fills(self, lookups: int, *, partial: bool = False) -> None:
        """Orders accepted from now on read as "New" (or, with `partial`, "PartiallyFilled"
        with half their fill: a market order still eating the book) for `lookups` lookups."""
        with self._lock:
            self._state.slow_fills = lookups
            self._state.slow_status = "PartiallyFilled" if partial else "New"

    # ---- inspection ------------------------------------------------------------------------

    @property
    def hedge_mode(self) -> bool:
        with self._lock:
            return self._state.ledger.hedge_mode

    @property
    def orders(self) -> list[OrderRecord]:
        """Every accepted order, oldest first."""
        with self._lock:
            return list(self._state.orders)

    @property
    def rejections(self) -> list[tuple[str, int, str]]:
        """(orderLinkId, retCode, retMsg) of every refused order/create."""
        with self._lock:
            return list(self._state.rejections)

    @property
    def requests(self) -> list[RequestRecord]:
        """The last 10,000 requests (method, path, decoded params), oldest first."""
        with self._lock:
            return list(self._state.requests)

    def calls(self, path: str) -> int:
        """How many requests reached `path` (faulted ones included)."""
        with self._lock:
            return self._state.calls[path]

    @property
    def ledger(self) -> Ledger:
        """The account (read it; change it through the scripting methods)."""
        return self._state.ledger

    @property
    def leverage(self) -> dict[str, Decimal]:
        with self._lock:
            return dict(self._state.ledger.leverage)

    @property
    def margin_mode(self) -> str:
        with self._lock:
            return self._state.margin_mode

    def wallet(self) -> Decimal:
        with self._lock:
            return self._state.ledger.wallet

    # ---- HTTP ------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        raw_query = request.raw_path.partition("?")[2]
        body = await request.text() if request.method == "POST" else ""
        try:
            params = json.loads(body) if body else dict(parse_qsl(raw_query))
        except ValueError:
            params = {}
        with self._lock:
            self._state.calls[path] += 1
            self._state.requests.append(RequestRecord(request.method, path, params))
            queue = self._state.faults.get(path)
            fault = queue.popleft() if queue else None
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if fault is not None and fault.kind in ("stall", "stall_drop"):
            await asyncio.sleep(fault.delay)
        if fault is not None and not fault.processes:
            return await self._fail(request, fault)
        route = self._routes.get((request.method, path))
        try:
            if route is None:
                raise BybitError(10017, "route not found")
            private, handler = route
            if private:
                self._check_auth(request, raw_query if request.method == "GET" else body)
                if request.method == "POST" and self._state.key_read_only:
                    raise BybitError(10005, "Permission denied, please check your API key")
            with self._lock:
                result = handler(params)
            payload = self._envelope(0, "OK", result)
        except BybitError as exc:
            payload = self._envelope(exc.code, exc.msg, {})
        if fault is not None and fault.kind == "lost_response":
            return self._hang_up(request)
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.delay)
        return web.json_response(payload)

    async def _fail(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        if fault.kind in ("drop", "stall_drop"):
            return self._hang_up(request)
        if fault.kind == "http":
            what = "The system is under maintenance" if fault.status == 503 else "Bad Gateway"
            text = f"<html><body><h1>{fault.status}</h1>{what}</body></html>"
            return web.Response(status=fault.status, text=text, content_type="text/html")
        return web.json_response(self._envelope(fault.ret_code, fault.ret_msg, {}))

    @staticmethod
    def _hang_up(request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=200)

    @staticmethod
    def _envelope(code: int, msg: str, result: dict[str, Any]) -> dict[str, Any]:
        return {
            "retCode": code,
            "retMsg": msg,
            "result": result,
            "retExtInfo": {},
            "time": int(time.time() * 1000),
        }

    def _check_auth(self, request: web.Request, payload: str) -> None:
        key = request.headers.get("X-BAPI-API-KEY", "")
        ts = request.headers.get("X-BAPI-TIMESTAMP", "")
        recv = request.headers.get("X-BAPI-RECV-WINDOW", "")
        sign = request.headers.get("X-BAPI-SIGN", "")
        if not (key and ts and sign):
            raise BybitError(
                10001,
                f"empty value: apiTimestamp[{ts}] apiKey[{key}] apiSignature[{sign}]:"
                " openapi sign params error!",
            )
        if not self.check_signature:
            self._check_window(ts, recv)
            return
        if key != self.api_key:
            raise BybitError(10003, "API key is invalid.")
        origin = ts + key + recv + payload
        expected = hmac.new(self.api_secret.encode(), origin.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sign):
            # Bybit echoes the signed string, API key included: clients must not log it.
            raise BybitError(10004, f"error sign! origin_string[{origin}]")
        self._check_window(ts, recv)

    @staticmethod
    def _check_window(ts: str, recv: str) -> None:
        """Bybit executes a signed request only while server time <= timestamp + recv_window
        (and the timestamp is at most 1 s ahead): one held in the network past its window is
        refused, never executed (bybit_ccxt.md section 5)."""
        now = int(time.time() * 1000)
        try:
            stamp, window = int(ts), int(recv or 5000)
        except ValueError:
            raise BybitError(10001, "params error: X-BAPI-TIMESTAMP invalid") from None
        if stamp + window < now or stamp > now + 1000:
            raise BybitError(
                10002,
                "invalid request, please check your server timestamp or recv_window param."
                f" req_timestamp[{stamp}],server_timestamp[{now}],recv_window[{window}]",
            )

    # ---- public endpoints ------------------------------------------------------------------

    def _time(self, params: dict[str, Any]) -> dict[str, Any]:
        now = time.time_ns()
        return {"timeSecond": str(now // 10**9), "timeNano": str(now)}

    def _instruments(self, params: dict[str, Any]) -> dict[str, Any]:
        category = params.get("category", "")
        status = params.get("status", "Trading")
        items: list[dict[str, Any]] = []
        if category == "linear" and status != "PreLaunch":  # ccxt asks for PreLaunch separately
            items = [
                raw
                for raw in self._state.instruments.values()
                if raw["status"] == status and params.get("symbol") in (None, raw["symbol"])
            ]
        return {"category": category, "list": items, "nextPageCursor": ""}

    def _tickers(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("category") != "linear":
            return {"category": params.get("category", ""), "list": []}
        symbol = params.get("symbol")
        traded = [s for s in self._state.instruments if s in self._state.prices]
        if symbol is not None and symbol not in traded:
            raise BybitError(10001, "Not supported symbols")
        chosen = [symbol] if symbol else traded
        return {
            "category": "linear",
            "list": [ticker_json(s, self._state.prices[s]) for s in chosen],
        }

    # ---- account and positions -------------------------------------------------------------

    def _query_api(self, params: dict[str, Any]) -> dict[str, Any]:
        """The shape of a real v5 answer (permissions by product; "Withdraw" under Wallet)."""
        state = self._state
        wallet = ["AccountTransfer"] + (["Withdraw"] if state.key_withdraw else [])
        trade = [] if state.key_read_only else ["Order", "Position"]
        return {
            "apiKey": "***",
            "readOnly": int(state.key_read_only),
            "unified": 0,
            "uta": 1,
            "permissions": {
                "ContractTrade": trade,
                "Spot": [],
                "Wallet": wallet,
                "Options": [],
                "Derivatives": [],
                "CopyTrading": [],
                "BlockTrade": [],
                "Exchange": [],
                "NFT": [],
                "Affiliate": [],
            },
        }

    def _account_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"unifiedMarginStatus": 6, "marginMode": self._state.margin_mode}

    def _wallet_balance(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("accountType") != "UNIFIED":
            raise BybitError(10001, "accountType only support UNIFIED.")
        coin = params.get("coin")
        return wallet_json(self._state.ledger, self._state.prices, self._state.coins, coin)

    def _position_list(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("category") != "linear":
            raise BybitError(10001, "category only support linear or option or inverse")
        ledger = self._state.ledger
        idxs = (1, 2) if ledger.hedge_mode else (0,)
        symbol = params.get("symbol")
        if symbol:  # Bybit lists a symbol's (empty) position slots in either mode
            self._market(symbol)
            entries = [position_json(ledger, self._state.prices, symbol, i) for i in idxs]
            self._show_stops(entries)
            return {"category": "linear", **self._page(entries, params, 20)}
        elif params.get("settleCoin") == "USDT" or params.get("baseCoin"):
            entries = [
                position_json(ledger, self._state.prices, p.symbol, p.position_idx)
                for p in ledger.open_positions()
                if p.position_idx in idxs
            ]
        else:
            raise BybitError(10001, "Missing some parameters that must be filled in")
        self._show_stops(entries)
        return {"category": "linear", **self._page(entries, params, 20)}

    def _page(
        self, rows: list[dict[str, Any]], params: dict[str, Any], default_limit: int
    ) -> dict[str, Any]:
        """One page of a list: `list` and `nextPageCursor` ("" on the last page unless the
        `paging` switch makes it carry one, as real answers do)."""
        state = self._state
        try:
            limit = max(1, int(params.get("limit") or default_limit))
        except ValueError:
            raise BybitError(10001, "params error: limit invalid") from None
        if state.page_size:
            limit = min(limit, state.page_size)
        offset, tail = 0, False
        if cursor := str(params.get("cursor") or ""):
            head, _, end = cursor.partition(",")
            if not head.isdigit():
                raise BybitError(10001, "params error: cursor invalid")
            offset, tail = int(head), end == "tail"
        if tail:  # the page behind a last page's cursor
            page = rows[offset : offset + limit] if state.last_cursor == "repeat" else []
            return {"list": page, "nextPageCursor": ""}
        page, after = rows[offset : offset + limit], offset + limit
        if after < len(rows):
            return {"list": page, "nextPageCursor": f"{after},next"}
        if state.last_cursor and page:
            return {"list": page, "nextPageCursor": f"{offset},tail"}
        return {"list": page, "nextPageCursor": ""}

    def _market(self, symbol: str) -> MarketInfo:
        raw = self._state.instruments.get(symbol or "")
        market = market_from_instrument(raw) if raw else None
        if market is None:
            raise BybitError(10001, "params error: symbol invalid")
        return market

    def _set_leverage(self, params: dict[str, Any]) -> dict[str, Any]:
        market = self._market(params.get("symbol", ""))
        buy, sell = dec(params.get("buyLeverage")), dec(params.get("sellLeverage"))
        if buy is None or buy != sell or not (1 <= buy <= market.max_leverage):
            raise BybitError(10001, "buy leverage invalid")
        if not self._state.ledger.set_leverage(market.symbol, buy):
            raise BybitError(110043, "Set leverage not modified")
        return {}

    def _switch_mode(self, params: dict[str, Any]) -> dict[str, Any]:
        hedge = int(params.get("mode", -1)) == 3
        ledger = self._state.ledger
        if hedge == ledger.hedge_mode:
            raise BybitError(110025, "Position mode is not modified")
        if ledger.open_positions():
            raise BybitError(
                110024, "You have existing positions, so position mode cannot be switched"
            )
        ledger.hedge_mode = hedge
        return {}

    def _set_margin_mode(self, params: dict[str, Any]) -> dict[str, Any]:
        mode = params.get("setMarginMode")
        if mode not in ("REGULAR_MARGIN", "ISOLATED_MARGIN", "PORTFOLIO_MARGIN"):
            raise BybitError(10001, "setMarginMode invalid")
        self._state.margin_mode = mode
        return {"reasons": []}

    def _switch_isolated(self, params: dict[str, Any]) -> dict[str, Any]:
        mode = "ISOLATED_MARGIN" if int(params.get("tradeMode", 0)) == 1 else "REGULAR_MARGIN"
        if mode == self._state.margin_mode:
            raise BybitError(110026, "Cross/isolated margin mode is not modified")
        self._state.margin_mode = mode
        return {}

    # ---- orders ----------------------------------------------------------------------------

    def _order_create(self, params: dict[str, Any]) -> dict[str, Any]:
        link_id = str(params.get("orderLinkId") or "")
        try:
            record = self._accept(params, link_id)
        except BybitError as exc:
            self._state.rejections.append((link_id, exc.code, exc.msg))
            raise
        if record.order_link_id:
            self._state.by_link[record.order_link_id] = len(self._state.orders)
        self._state.orders.append(record)
        self._clear_stop_if_flat(record.symbol, record.position_idx)
        return {"orderId": record.order_id, "orderLinkId": record.order_link_id}

    def _accept(self, params: dict[str, Any], link_id: str) -> OrderRecord:
        if params.get("category") != "linear":
            raise BybitError(10001, "category invalid")
        if len(link_id) > 36 or not _LINK_ID.fullmatch(link_id or "x"):
            raise BybitError(10001, "orderLinkId is invalid")  # ≤ 36 of [A-Za-z0-9_-]
        if link_id and link_id in self._state.by_link and not self._state.duplicates_accepted:
            raise BybitError(110072, "OrderLinkedID is duplicate")
        market = self._market(params.get("symbol", ""))
        limit = _ioc_limit(params, market)
        side = params.get("side")
        if side not in ("Buy", "Sell"):
            raise BybitError(10001, "Side invalid")
        raw_qty = params.get("qty")
        if not isinstance(raw_qty, str) or not _DECIMAL.fullmatch(raw_qty):
            raise BybitError(10001, "Request parameter error.")  # decimal strings only
        qty = Decimal(raw_qty)
        reduce_only = params.get("reduceOnly") in (True, "true", "True", 1)
        idx = int(params.get("positionIdx", 0))
        state = self._state
        price = state.prices[market.symbol]
        order_side = "buy" if side == "Buy" else "sell"
        fraction, status = state.partial.popleft() if state.partial else (Decimal(1), "Filled")
        if limit is not None and (price > limit if order_side == "buy" else price < limit):
            fraction, status = Decimal(0), "Cancelled"  # nothing at the limit or better: IOC
        fill_qty = qty if status == "Filled" else floor_to_step(qty * fraction, market.qty_step)
        ledger = state.ledger
        try:
            if fill_qty != qty:  # Bybit checks the order, not the part that finds liquidity
                ledger.check_order(market, order_side, qty, price, reduce_only=reduce_only, idx=idx)
                if fill_qty < market.min_qty or (
                    not reduce_only and fill_qty * price < market.min_notional
                ):
                    fill_qty = Decimal(0)
            filled, fee = Decimal(0), Decimal(0)
            if fill_qty > 0:
                fill = ledger.fill_market(
                    market, order_side, fill_qty, price, reduce_only=reduce_only, idx=idx
                )
                filled, fee = fill.qty, fill.fee
        except LedgerReject as exc:
            raise BybitError(exc.code, exc.msg) from None
        return OrderRecord(
            order_id=str(uuid.uuid4()),
            order_link_id=link_id,
            symbol=market.symbol,
            side=side,
            qty=qty,
            filled_qty=filled,
            reduce_only=reduce_only,
            position_idx=idx,
            price=price,
            fee=fee,
            created_at=datetime.now(UTC),
            status=status,
            pending_lookups=state.slow_fills,
            pending_status=state.slow_status,
            listed_at=time.time() + state.hide_seconds,
            protection_price=(
                limit
                if limit is not None
                else protection_price(price, order_side, market.tick_size)
            ),
            order_type="Market" if limit is None else "Limit",
        )

    def _find_orders(
        self, params: dict[str, Any], *, open_only: bool, history_only: bool = False
    ) -> list[dict[str, Any]]:
        if params.get("category") != "linear":
            raise BybitError(10001, "category invalid")
        symbol, settle = params.get("symbol"), params.get("settleCoin")
        if not symbol and settle != "USDT" and not params.get("baseCoin"):
            raise BybitError(10001, "symbol or settleCoin is required")
        oid, link = params.get("orderId"), params.get("orderLinkId")
        out = []
        orders = self._state.orders
        if link:
            index = self._state.by_link.get(link)
            candidates = [] if index is None else [(index, orders[index])]
        else:
            candidates = list(enumerate(orders))
        now = time.time()
        for n, o in candidates:
            if (symbol and o.symbol != symbol) or (oid and o.order_id != oid):
                continue
            if o.listed_at > now:  # accepted, not listed yet (the `hide_orders` switch)
                continue
            if link and o.order_link_id != link:
                continue
            is_open = o.pending_lookups > 0
            if open_only and not is_open and not (oid or link):
                continue
            if history_only and not is_open:  # the `history_only` switch
                continue
            out.append(order_json(o))
            if is_open and (oid or link):
                self._state.orders[n] = replace(o, pending_lookups=o.pending_lookups - 1)
        return list(reversed(out))

    def _order_realtime(self, params: dict[str, Any]) -> dict[str, Any]:
        found = self._find_orders(
            params,
            open_only=str(params.get("openOnly", "0")) == "0",
            history_only=self._state.history_only,
        )
        return {"category": "linear", **self._page(found, params, 20)}

    def _order_history(self, params: dict[str, Any]) -> dict[str, Any]:
        found = [o for o in self._find_orders(params, open_only=False) if o["orderStatus"] != "New"]
        return {"category": "linear", **self._page(found, params, 20)}

    def _order_cancel(self, params: dict[str, Any]) -> dict[str, Any]:
        # Market orders fill at once: there is never anything left to cancel.
        raise BybitError(110001, "Order does not exist.")

    # ---- position stop-losses and the user's own trades -------------------------------------
    # Bybit keeps a position's stop-loss (POST /v5/position/trading-stop, tpslMode Full) and
    # closes the whole position at market when the price crosses it; the close shows in the
    # order history with stopOrderType "StopLoss" and no orderLinkId. Flat clears the stop.

    @property
    def stops(self) -> dict[tuple[str, int], Decimal]:
        """(symbol, positionIdx) -> stop-loss price, of positions that have one."""
        with self._lock:
            return dict(self._state.stops)

    def hand_order(self, symbol: str, side: str, qty: Decimal | str, *, idx: int = 0) -> None:
        """An order the user places on Bybit's site ("Buy" / "Sell"), outside the bot."""
        with self._lock:
            self._fill_outside(symbol, side, Decimal(str(qty)), idx, reduce_only=False)

    def _trading_stop(self, params: dict[str, Any]) -> dict[str, Any]:
        market = self._market(params.get("symbol", ""))
        idx = int(params.get("positionIdx", 0))
        pos = self._state.ledger.position(market.symbol, idx)
        if pos.size <= 0 or pos.side is None:
            raise BybitError(10001, "can not set tp/sl/ts for zero position")
        raw = params.get("stopLoss")
        if not isinstance(raw, str) or not _DECIMAL.fullmatch(raw):
            raise BybitError(10001, "params error: stopLoss invalid")
        stop = Decimal(raw)
        if stop == 0:
            self._state.stops.pop((market.symbol, idx), None)
            return {}
        if stop % market.tick_size != 0:
            raise BybitError(10001, "params error: stopLoss must be a multiple of tickSize")
        price = self._state.prices[market.symbol]
        long = pos.side.value == "long"
        if (long and stop >= price) or (not long and stop <= price):
            side = "Buy" if long else "Sell"
            word = "lower" if long else "higher"
            raise BybitError(
                10001, f"StopLoss:{raw} set for {side} position should {word} than base_price"
            )
        if self._state.stops.get((market.symbol, idx)) == stop:
            raise BybitError(34040, "not modified")
        self._state.stops[(market.symbol, idx)] = stop
        return {}

    def _trigger_stops(self, symbol: str) -> None:
        price = self._state.prices[symbol]
        for (stop_symbol, idx), stop in list(self._state.stops.items()):
            if stop_symbol != symbol:
                continue
            pos = self._state.ledger.position(symbol, idx)
            if pos.size <= 0 or pos.side is None:
                del self._state.stops[(symbol, idx)]
                continue
            long = pos.side.value == "long"
            if (long and price <= stop) or (not long and price >= stop):
                del self._state.stops[(symbol, idx)]
                closing = "Sell" if long else "Buy"
                self._fill_outside(symbol, closing, pos.size, idx, reduce_only=True, by_stop=True)

    def _fill_outside(
        self,
        symbol: str,
        side: str,
        qty: Decimal,
        idx: int,
        *,
        reduce_only: bool,
        by_stop: bool = False,
    ) -> None:
        market = self._market(symbol)
        price = self._state.prices[market.symbol]
        order_side = "buy" if side == "Buy" else "sell"
        fill = self._state.ledger.fill_market(
            market, order_side, qty, price, reduce_only=reduce_only, idx=idx
        )
        self._state.orders.append(
            OrderRecord(
                order_id=str(uuid.uuid4()),
                order_link_id="",
                symbol=market.symbol,
                side=side,
                qty=qty,
                filled_qty=fill.qty,
                reduce_only=reduce_only,
                position_idx=idx,
                price=price,
                fee=fill.fee,
                created_at=datetime.now(UTC),
                stop_order_type="StopLoss" if by_stop else "",
                protection_price=protection_price(price, order_side, market.tick_size),
            )
        )
        self._clear_stop_if_flat(market.symbol, idx)

    def _clear_stop_if_flat(self, symbol: str, idx: int) -> None:
        """A closed position takes its stop-loss with it (a new one starts without)."""
        if self._state.ledger.position(symbol, idx).size <= 0:
            self._state.stops.pop((symbol, idx), None)

    def _show_stops(self, entries: list[dict[str, Any]]) -> None:
        """position/list shows each position's stop-loss ("0" = none)."""
        for entry in entries:
            stop = self._state.stops.get((entry["symbol"], entry["positionIdx"]), Decimal(0))
            entry["stopLoss"] = fmt(stop)


def _ioc_limit(params: dict[str, Any], market: MarketInfo) -> Decimal | None:
    """None for a market order; a limit order's price, which must be IOC (the fake keeps no
    book: a resting order is not modelled) and on the tick. Bybit fills an IOC limit at the
    price or better and cancels the rest ("Cancelled", with or without an executed qty)."""
    kind = params.get("orderType")
    if kind == "Market":
        return None
    if kind != "Limit":
        raise BybitError(10001, "OrderType invalid")
    if params.get("timeInForce") != "IOC":
        raise BybitError(10001, "the fake Bybit fills IOC limit orders only")
    raw = params.get("price")
    if not isinstance(raw, str) or not _DECIMAL.fullmatch(raw) or Decimal(raw) <= 0:
        raise BybitError(10001, "Price invalid")
    price = Decimal(raw)
    if price % market.tick_size:
        raise BybitError(10001, "Price invalid: not a multiple of the tick size")
    return price


def main(argv: list[str] | None = None) -> None:
    """Run the fake Bybit alone until Ctrl-C; it prints its URL (point bybit.base_url at it)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m lightspeed_cli.sim.bybit",
        description="Run a fake Bybit v5 on 127.0.0.1 (the switches model real Bybit"
        " behaviours; see the module docstring).",
    )
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    parser.add_argument("--hedge", action="store_true", help="hedge position mode")
    parser.add_argument("--balance", default="10000", help="USDT wallet balance")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--api-secret", default=DEFAULT_API_SECRET)
    parser.add_argument(
        "--hide-orders",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="accepted orders are in neither order list for SECONDS",
    )
    parser.add_argument(
        "--history-only",
        action="store_true",
        help="closed orders only in order/history (as after a Bybit restart)",
    )
    parser.add_argument(
        "--partial-fill",
        default="",
        metavar="FRACTION",
        help="every market order fills FRACTION of its qty, then is Cancelled",
    )
    parser.add_argument("--page-size", type=int, default=0, help="rows per list page")
    parser.add_argument(
        "--last-cursor",
        choices=("", "repeat", "empty"),
        default="",
        help="the last page still carries a cursor (its page repeats / is empty)",
    )
    parser.add_argument(
        "--coin",
        action="append",
        default=[],
        metavar="COIN=USD",
        help="another coin in the unified wallet, by USD value (repeatable)",
    )
    args = parser.parse_args(argv)
    fake = FakeBybit(
        hedge_mode=args.hedge,
        balance=args.balance,
        api_key=args.api_key,
        api_secret=args.api_secret,
        port=args.port,
    )
    fake.hide_orders(args.hide_orders)
    fake.history_only(args.history_only)
    if args.partial_fill:
        fake.partial_fills(args.partial_fill, orders=10**9)
    fake.paging(args.page_size, args.last_cursor)
    coins = dict(c.split("=", 1) for c in args.coin)
    if coins:
        fake.set_coins(coins)  # type: ignore[arg-type]
    with fake:
        print(fake.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
