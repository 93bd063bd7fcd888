"""Real orders on Bybit USDT linear perpetuals through ccxt (async).

What keeps money safe here:
- every order carries the intent's deterministic orderLinkId; when a send ends without an
  answer (timeout, dropped connection, "system error") the order is looked up by that id
  before anything is resent, and a resend with the same id that Bybit calls a duplicate
  (110072) is answered with the existing order, never a second one;
- the account's position mode is read at start and must equal the configured one, and every
  order names its positionIdx explicitly, so an order can never land on the wrong book;
- reduces and closes are reduceOnly, so they can never open or grow a position;
- leverage and margin mode are set before the first opening order on a symbol (ahead of time
  through `prepare`, prepare.py, or else by the order itself), never for reduces (a reduce must
  never fail because a setting could not be changed).

Orders go to /v5/order/create through ccxt's signed implicit method, not `create_order`: the
body is exactly Bybit's (qty as a decimal string, never a float), and reduceOnly stays in
hedge mode, where ccxt's `hedged` param would drop it. Reads use the raw v5 endpoints too, so
sizes, prices and fees arrive as exact Decimals.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from lightspeed_cli.config.choices import AccountMode, MarginMode
from lightspeed_cli.config.sections import BybitSettings
from lightspeed_cli.decisions.fate import SEND_SPAN_SECONDS, is_final
from lightspeed_cli.execution import ccxt_client
from lightspeed_cli.execution.base import (
    BrokerError,
    BrokerStartError,
    ExecutionOutcome,
    ExecutionResult,
)
from lightspeed_cli.execution.ccxt_client import ExchangeOwner, RetryPolicy, call, result_of
from lightspeed_cli.execution.errors import ErrorInfo, classify_exception
from lightspeed_cli.execution.ledger import position_idx
from lightspeed_cli.execution.markets import dec, fmt
from lightspeed_cli.execution.orders import (
    checked_order,
    effective_leverage,
    exchange_order,
    fill_from_order,
    hedge_mode_from_positions,
    not_an_earlier_order,
    order_request,
    position_from_bybit,
    result_from_fill,
    unified_equity,
)
from lightspeed_cli.models import (
    ExchangeOrder,
    Fill,
    FollowerPosition,
    MarketInfo,
    OrderIntent,
    Side,
)

log = logging.getLogger(__name__)

_UTA_MARGIN_MODE = {MarginMode.CROSS: "cross", MarginMode.ISOLATED: "isolated"}
_PROBE_SYMBOLS = ("BTCUSDT", "ETHUSDT")
_ORDER_LISTS = {"realtime": "privateGetV5OrderRealtime", "history": "privateGetV5OrderHistory"}
STOP_NOT_MODIFIED = 34040


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FillPolling:
    """How long to wait for a just-accepted market order to show its fill."""

    attempts: int = 6
    delay: float = 0.05


class _SetupFailed(BrokerError):
    """Internal: margin mode or leverage could not be set, so an open cannot go."""

    def __init__(self, error: BrokerError, what: str) -> None:
        super().__init__(error.outcome, error.message)
        self.error, self.what = error, what


def _not_sent(info: ErrorInfo | BrokerError, what: str) -> ExecutionResult:
    """A failure before the order went out: never UNKNOWN, since nothing can exist."""
    outcome = info.outcome
    if outcome not in (
        ExecutionOutcome.FATAL,
        ExecutionOutcome.RATE_LIMITED,
        ExecutionOutcome.UNAVAILABLE,
        ExecutionOutcome.INSUFFICIENT_FUNDS,
    ):
        outcome = ExecutionOutcome.REJECTED
    return ExecutionResult(
        outcome=outcome, error=f"not sent: {what}: {info.message}", not_placed=True
    )


class BybitBroker(ExchangeOwner):
    """The Broker for a real (or testnet / demo) Bybit unified trading account."""

    def __init__(
        self,
        settings: BybitSettings,
        *,
        api_key: str,
        api_secret: str,
        timeout_ms: int = 10_000,
        retry: RetryPolicy | None = None,
        fill_polling: FillPolling | None = None,
    ) -> None:
        if not api_key or not api_secret:
            raise BrokerStartError("the Bybit API key and secret must both be set")
        self.settings = settings
        self._key, self._secret = api_key, api_secret
        self._secrets = (api_key, api_secret)
        self._timeout_ms = timeout_ms
        self._retry = retry or RetryPolicy()
        self._polling = fill_polling or FillPolling()
        self._exchange: Any = None
        self._markets: dict[str, MarketInfo] = {}
        self._hedge = settings.account_mode is AccountMode.HEDGE
        self._started = False
        self._margin_mode_set = False
        self._leverage: dict[str, int] = {}
        self._leverage_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._filled: dict[str, ExecutionResult] = {}
        # what each order being sent asked for, to check an order found under its id against
        self._expected: dict[str, tuple[dict[str, Any], datetime | None]] = {}

    @classmethod
    def from_settings(cls, settings: BybitSettings, **kwargs: Any) -> BybitBroker:
        """Keys from the OS keyring / systemd credentials / env (see secrets.py)."""
        from lightspeed_cli.config.logsetup import register_secret
        from lightspeed_cli.config.secrets import SecretName, get_secret

        key = get_secret(SecretName.BYBIT_API_KEY)
        secret = get_secret(SecretName.BYBIT_API_SECRET)
        if key is None or secret is None:
            raise BrokerStartError(
                "no Bybit API key/secret found: run `lightspeed keys set`"
                " (or use --paper to trade without keys)"
            )
        register_secret(key.value)
        register_secret(secret.value)
        return cls(settings, api_key=key.value, api_secret=secret.value, **kwargs)

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def exchange(self) -> Any:
        if self._exchange is None:
            self._exchange = ccxt_client.create_exchange(
                self.settings,
                api_key=self._key,
                api_secret=self._secret,
                timeout_ms=self._timeout_ms,
            )
        return self._exchange

    async def start(self) -> None:
        if self._started:
            return
        try:
            self._markets = await ccxt_client.load_markets(self.exchange, self._retry)
            detected = await self._detect_hedge_mode()
        except BrokerStartError:
            raise
        except BrokerError as exc:
            msg = f"cannot start trading on Bybit: {exc.message}"
            raise BrokerStartError(msg, exc.outcome) from None
        configured = self.settings.account_mode
        actual = AccountMode.HEDGE if detected else AccountMode.ONE_WAY
        if actual is not configured:
            raise BrokerStartError(
                f"the Bybit account is in {actual.value} position mode but bybit.account_mode"
                f" is {configured.value}: set `lightspeed config set bybit.account_mode"
                f" {actual.value}`, or switch the account's USDT perpetuals to {configured.value}"
                " mode on Bybit (with no open positions), then start again"
            )
        self._hedge = detected
        self._started = True

    @property
    def hedge_mode(self) -> bool:
        return self._hedge

    async def _detect_hedge_mode(self) -> bool:
        """From positionIdx of open positions, else of one symbol's (empty) position slots."""
        mode = hedge_mode_from_positions(await self._position_rows())
        probe = next(
            (s for s in _PROBE_SYMBOLS if s in self._markets), next(iter(self._markets), None)
        )
        if mode is None and probe is not None:
            params = {"category": "linear", "symbol": probe}
            response = await self._call(lambda: self.exchange.privateGetV5PositionList(params))
            mode = hedge_mode_from_positions(result_of(response).get("list") or [])
        if mode is None:
            raise BrokerStartError(
                "could not tell whether the Bybit account is in one-way or hedge mode"
                " (position/list showed no position slots)"
            )
        return mode

    # ---- reads -----------------------------------------------------------------------------

    async def _call(self, fn: Any) -> Any:
        return await call(fn, self._retry, self._secrets)

    async def last_price(self, symbol: str) -> Decimal:
        return await ccxt_client.last_price(self.exchange, self._retry, symbol)

    async def server_time(self) -> datetime:
        return await ccxt_client.server_time(self.exchange, self._retry)

    async def equity_usdt(self) -> Decimal:
        """The unified account's totalEquity (USD, every coin): what margins the perps. A
        real account had 92,255.97 total with 3,304.30 in USDT (bybit_ccxt.md section 5)."""
        params = {"accountType": "UNIFIED"}
        response = await self._call(lambda: self.exchange.privateGetV5AccountWalletBalance(params))
        return unified_equity(result_of(response).get("list") or [])

    async def position_pages(self, limit: int = 200) -> AsyncIterator[list[dict[str, Any]]]:
        """position/list page by page (USDT perpetuals), following nextPageCursor until it is
        empty or comes again; at most 50 pages."""
        cursor, seen = "", set()
        for _ in range(50):  # 200 per page: far more positions than anyone holds
            params: dict[str, Any] = {"category": "linear", "settleCoin": "USDT", "limit": limit}
            if cursor:
                params["cursor"] = cursor
            response = await self._call(lambda p=params: self.exchange.privateGetV5PositionList(p))
            result = result_of(response)
            yield list(result.get("list") or [])
            seen.add(cursor)
            cursor = str(result.get("nextPageCursor") or "")
            if not cursor or cursor in seen:
                return

    async def _position_rows(self, limit: int = 200) -> list[dict[str, Any]]:
        """Every page, each row once: a real answer carries a cursor even on its last page,
        and the page behind it may repeat rows or be empty (bybit_ccxt.md section 5)."""
        rows: dict[tuple[str, int], dict[str, Any]] = {}
        async for page in self.position_pages(limit):
            before = len(rows)
            for row in page:
                rows.setdefault((str(row.get("symbol")), int(row.get("positionIdx") or 0)), row)
            if len(rows) == before:
                break
        self._forget_leverage_changed_by_hand(rows.values())
        return list(rows.values())

    def _forget_leverage_changed_by_hand(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """A position whose leverage is not the one this bot set (raised by hand on Bybit,
        say to 100x) drops the cached value, so `prepare` sets it back before the next open
        adds to the position at the wrong leverage (issue 22). Every positions read checks."""
        for row in rows:
            symbol, held = str(row.get("symbol") or ""), dec(row.get("leverage"))
            ours = self._leverage.get(symbol)
            if ours is None or held is None or held == ours:
                continue
            log.warning(
                "%s: Bybit shows leverage %s, not the %s the bot set (changed by hand?): it is"
                " set back before the next open",
                symbol,
                fmt(held),
                ours,
            )
            del self._leverage[symbol]

    async def positions(self, *, page_size: int = 200) -> list[FollowerPosition]:
        rows = await self._position_rows(page_size)
        return [p for p in map(position_from_bybit, rows) if p is not None]

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One v5 read through ccxt's implicit method `method` (e.g. "privateGetV5AccountInfo")
        with the broker's retries and error handling: the answer's `result`."""
        fn = getattr(self.exchange, method)
        return result_of(await self._call(lambda: fn(params or {})))

    def classify(self, exc: BaseException) -> ErrorInfo:
        """What the bot makes of an exception from a raw ccxt call (no secret in the text)."""
        return classify_exception(exc, self._secrets)

    async def open_orders(self) -> list[Fill]:
        params = {"category": "linear", "settleCoin": "USDT", "openOnly": 0, "limit": 50}
        response = await self._call(lambda: self.exchange.privateGetV5OrderRealtime(params))
        return [fill_from_order(raw) for raw in result_of(response).get("list") or []]

    async def _order_rows(self, endpoint: str, client_order_id: str, symbol: str) -> list[Any]:
        params = {"category": "linear", "symbol": symbol, "orderLinkId": client_order_id}
        method = getattr(self.exchange, endpoint)
        response = await self._call(lambda: method(params))
        return [
            r
            for r in result_of(response).get("list") or []
            if r.get("orderLinkId") == client_order_id
        ]

    async def listed_in(self, order_list: str, client_order_id: str, symbol: str) -> Fill | None:
        """The order as one list shows it ("realtime" or "history"), None if it does not."""
        rows = await self._order_rows(_ORDER_LISTS[order_list], client_order_id, symbol)
        return fill_from_order(rows[0]) if rows else None

    async def lookup(self, client_order_id: str, symbol: str) -> Fill | None:
        """Recent orders first (order/realtime), then the order history: after a Bybit restart
        closed orders are in the history only. None proves nothing until the order's request
        window has closed (execution/fate.py)."""
        return await self.listed_in("realtime", client_order_id, symbol) or await self.listed_in(
            "history", client_order_id, symbol
        )

    async def order_list(self, symbol: str | None = None, *, pages: int = 5) -> list[ExchangeOrder]:
        """Orders Bybit lists for one symbol (or every USDT one): the open ones, then the
        history, newest first, `pages` of 50 at most each; an order in both counts once."""
        found: dict[str, ExchangeOrder] = {}
        for endpoint, extra in (
            ("privateGetV5OrderRealtime", {"openOnly": 0}),
            ("privateGetV5OrderHistory", {}),
        ):
            method = getattr(self.exchange, endpoint)
            scope = {"symbol": symbol} if symbol else {"settleCoin": "USDT"}
            base = {"category": "linear", "limit": 50, **scope, **extra}
            cursor = ""
            for _ in range(pages):
                params = {**base, "cursor": cursor} if cursor else base
                result = result_of(await self._call(lambda m=method, p=params: m(p)))
                page = result.get("list") or []
                for raw in page:
                    order = exchange_order(raw)
                    found.setdefault(order.order_id or order.link_id, order)
                previous, cursor = cursor, str(result.get("nextPageCursor") or "")
                if not page or not cursor or cursor == previous:
                    break
        return list(found.values())

    # ---- protective stop-losses (stops.py) -------------------------------------------------

    async def set_stop_loss(self, symbol: str, side: Side, price: Decimal) -> None:
        """The position's stop-loss, held by Bybit (v5 position/trading-stop, whole position,
        triggered by the mark price); raises BrokerError."""
        params = {
            "category": "linear",
            "symbol": symbol,
            "stopLoss": fmt(price),
            "slTriggerBy": "MarkPrice",
            "tpslMode": "Full",
            "positionIdx": position_idx(side, self._hedge),
        }

        async def request() -> None:
            try:
                await self.exchange.privatePostV5PositionTradingStop(params)
            except Exception as exc:  # 34040: that stop is already in place
                if classify_exception(exc, self._secrets).ret_code != STOP_NOT_MODIFIED:
                    raise

        await self._call(request)

    async def stop_loss_fills(self, symbol: str) -> list[Fill]:
        """Recent orders Bybit itself sent because a position's stop-loss triggered."""
        params = {"category": "linear", "symbol": symbol, "limit": 50}
        response = await self._call(lambda: self.exchange.privateGetV5OrderHistory(params))
        rows = result_of(response).get("list") or []
        return [fill_from_order(r) for r in rows if r.get("stopOrderType") == "StopLoss"]

    # ---- orders ----------------------------------------------------------------------------

    async def execute(self, intent: OrderIntent) -> ExecutionResult:
        if not self._started:
            return ExecutionResult(outcome=ExecutionOutcome.FATAL, error="broker not started")
        # the engine journaled the intent just before this call: the window it waits for
        # counts from then (execution/fate.py)
        deadline = time.monotonic() + SEND_SPAN_SECONDS
        done = self._filled.get(intent.client_order_id)
        if done is not None:
            return done
        checked = checked_order(intent, self._markets)
        if isinstance(checked, ExecutionResult):
            return checked
        market, qty = checked
        setup = 0
        if not intent.reduce_only:
            prepared = await self._prepare_to_open(intent, market)
            if isinstance(prepared, ExecutionResult):
                return prepared
            setup = prepared
        request = order_request(intent, qty, self._hedge, market.tick_size)
        self._expected[intent.client_order_id] = (request, intent.journaled_at)
        try:
            result = await self._send(request, intent, deadline)
        finally:
            self._expected.pop(intent.client_order_id, None)
        if result.outcome is ExecutionOutcome.FILLED:
            self._filled[intent.client_order_id] = result
        return result.model_copy(update={"setup_requests": setup}) if setup else result

    async def _prepare_to_open(
        self, intent: OrderIntent, market: MarketInfo
    ) -> ExecutionResult | int:
        """Margin mode and leverage (see `prepare`): the requests made, or why not sent."""
        leverage = effective_leverage(intent, market)
        if leverage != intent.leverage:
            log.warning(
                "%s: leverage %s is above Bybit's maximum, using %s",
                market.symbol,
                intent.leverage,
                leverage,
            )
        try:
            return await self.prepare(market.symbol, leverage)
        except _SetupFailed as exc:
            return _not_sent(exc.error, exc.what)

    async def prepare(self, symbol: str | None = None, leverage: int = 0) -> int:
        """Margin mode (account-wide on a UTA) once, `symbol`'s leverage once per value (capped
        at Bybit's maximum), both cached: done ahead of time, the order makes no request for
        them. Returns the requests made; raises BrokerError (as `_SetupFailed`)."""
        made = 0
        if not self._margin_mode_set:
            mode = _UTA_MARGIN_MODE[self.settings.margin_mode]
            try:
                await self._call(lambda: self._tolerate(self.exchange.set_margin_mode(mode)))
            except BrokerError as exc:
                raise _SetupFailed(exc, f"could not set the {mode} margin mode") from None
            self._margin_mode_set = True
            made += 1
        market = self._markets.get(symbol or "")
        if market is None:
            return made
        leverage = int(min(Decimal(leverage), market.max_leverage))
        async with self._leverage_locks[market.symbol]:  # a warm-up and an order never race
            if self._leverage.get(market.symbol) != leverage:
                ccxt_symbol = market.ccxt_symbol
                try:
                    await self._call(
                        lambda: self._tolerate(self.exchange.set_leverage(leverage, ccxt_symbol))
                    )
                except BrokerError as exc:
                    msg = f"could not set {market.symbol} leverage to {leverage}"
                    raise _SetupFailed(exc, msg) from None
                self._leverage[market.symbol] = leverage
                made += 1
        return made

    async def _tolerate(self, request: Any) -> None:
        """Await a settings call; "not modified" (110043 / 110025 / 110026) is success."""
        try:
            await request
        except Exception as exc:
            if not classify_exception(exc, self._secrets).not_modified:
                raise

    async def _send(
        self, request: dict[str, Any], intent: OrderIntent, deadline: float
    ) -> ExecutionResult:
        """Send under the intent's id until Bybit answers, with the same id only: a resend
        that Bybit calls a duplicate is the first one. No create is signed after `deadline`
        (monotonic), so the engine knows when the last one can have run out (fate.py)."""
        coid, symbol = intent.client_order_id, intent.symbol
        sent_at = _now()
        maybe_sent = False  # an earlier attempt may have reached Bybit (no answer)
        info: ErrorInfo | None = None
        for attempt in range(max(1, self._retry.attempts)):
            if attempt:
                await asyncio.sleep(self._retry.delay(attempt))
            if time.monotonic() > deadline:
                break
            try:
                response = await self.exchange.privatePostV5OrderCreate(request)
            except Exception as exc:
                info = classify_exception(exc, self._secrets)
                if info.duplicate:
                    log.info("%s: Bybit already has this order: using it", coid)
                    return await self._settle(coid, symbol, sent_at, _now(), info.message)
                if info.ambiguous:
                    log.warning(
                        "%s: no answer to the order (%s): looking it up", coid, info.message
                    )
                    maybe_sent = True
                    found = await self._find(coid, symbol)
                    if isinstance(found, ExecutionResult):
                        return found.model_copy(update={"sent_at": sent_at})
                    if found is not None:
                        return await self._settle(coid, symbol, sent_at, _now(), "", found)
                    continue  # not listed (proves nothing yet): the same id again is safe
                if info.retry:
                    if info.clock:
                        await self._resync_clock()
                    continue
                return self._refused(info, sent_at, maybe_sent)
            order_id = str(result_of(response).get("orderId", ""))
            return await self._settle(coid, symbol, sent_at, _now(), f"order {order_id}")
        if maybe_sent or info is None:
            return ExecutionResult(
                outcome=info.outcome if info else ExecutionOutcome.UNKNOWN,
                error=f"no answer from Bybit{f' ({info.message})' if info else ''}: the order"
                " may still reach it until its request window closes",
                sent_at=sent_at,
            )
        return ExecutionResult(
            outcome=info.outcome,
            error=f"{info.message} (gave up after {attempt + 1} attempts; not placed)",
            sent_at=sent_at,
            not_placed=True,
        )

    @staticmethod
    def _refused(info: ErrorInfo, sent_at: datetime, maybe_sent: bool) -> ExecutionResult:
        """Bybit refused this attempt; an earlier unanswered one may still execute."""
        if maybe_sent:
            return ExecutionResult(
                outcome=ExecutionOutcome.UNKNOWN,
                error=f"{info.message}, after an attempt that got no answer: it may still"
                " reach Bybit until its request window closes",
                sent_at=sent_at,
            )
        return ExecutionResult(
            outcome=info.outcome, error=info.message, sent_at=sent_at, not_placed=True
        )

    async def _find(self, coid: str, symbol: str) -> Fill | ExecutionResult | None:
        """lookup(), with a failed lookup as the UNKNOWN result it means."""
        try:
            return await self.lookup(coid, symbol)
        except BrokerError as exc:
            return ExecutionResult(
                outcome=ExecutionOutcome.UNKNOWN,
                error=f"the order may exist but the lookup failed: {exc.message}",
            )

    async def _settle(
        self,
        coid: str,
        symbol: str,
        sent_at: datetime,
        acked_at: datetime,
        what: str,
        seen: Fill | None = None,
    ) -> ExecutionResult:
        """Bybit has the order: wait (briefly) until it shows a final status in either list.

        PartiallyFilled is not final: the rest of a market order may still fill. Not listed
        yet, or still running, is UNKNOWN and acknowledged: never "not placed"."""
        if self.on_acknowledged is not None:
            self.on_acknowledged(coid)
        fill = seen
        for n in range(self._polling.attempts):
            if fill is not None and is_final(fill):
                break
            if n:
                await asyncio.sleep(self._polling.delay)
            try:
                fill = await self.lookup(coid, symbol) or fill
            except BrokerError as exc:
                log.warning("%s: fill lookup failed: %s", coid, exc.message)
        if fill is None:
            return ExecutionResult(
                outcome=ExecutionOutcome.UNKNOWN,
                error=f"{what or 'the order'} acknowledged by Bybit but not listed yet",
                sent_at=sent_at,
                acked_at=acked_at,
                acknowledged=True,
            )
        expected = self._expected.get(coid)
        if expected is not None:  # an order under this id from before: not this one's fill
            seen = ExecutionResult(outcome=ExecutionOutcome.UNKNOWN, fill=fill, sent_at=sent_at)
            checked = not_an_earlier_order(seen, *expected)
            if checked is not seen:
                log.error("%s: %s", coid, checked.error)
                return checked.model_copy(update={"not_placed": True})
        return result_from_fill(fill, sent_at, acked_at)

    async def _resync_clock(self) -> None:
        try:
            await self.exchange.load_time_difference()
        except Exception as exc:  # the retry will tell whether it mattered
            log.warning("clock resync with Bybit failed: %s", classify_exception(exc).message)
