"""Real orders on Bybit USDT linear perpetuals through ccxt (async).

What keeps money safe here:
- every order carries the intent's deterministic orderLinkId; when a send ends without an
  answer (timeout, dropped connection, "system error") the order is looked up by that id
  before anything is resent, and a resend with the same id that Bybit calls a duplicate
  (110072) is answered with the existing order, never a second one;
- the account's position mode is read at start and must equal the configured one, and every
  order names its positionIdx explicitly, so an order can never land on the wrong book;
- reduces and closes are reduceOnly, so they can never open or grow a position;
- leverage and margin mode are set before the first opening order on a symbol, not on
  reduces (a reduce must never fail because a setting could not be changed).

Orders go to /v5/order/create through ccxt's signed implicit method, not `create_order`: the
body is exactly Bybit's (qty as a decimal string, never a float), and reduceOnly stays in
hedge mode, where ccxt's `hedged` param would drop it. Reads use the raw v5 endpoints too, so
sizes, prices and fees arrive as exact Decimals.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

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
    TERMINAL,
    checked_order,
    effective_leverage,
    exchange_order,
    fill_from_order,
    hedge_mode_from_positions,
    not_an_earlier_order,
    order_request,
    position_from_bybit,
    result_from_fill,
)
from lightspeed_cli.models import (
    ExchangeOrder,
    Fill,
    FollowerPosition,
    MarketInfo,
    OrderIntent,
    Side,
)
from lightspeed_cli.settings import AccountMode, BybitSettings, MarginMode

log = logging.getLogger(__name__)

_UTA_MARGIN_MODE = {MarginMode.CROSS: "cross", MarginMode.ISOLATED: "isolated"}
_PROBE_SYMBOLS = ("BTCUSDT", "ETHUSDT")
STOP_NOT_MODIFIED = 34040


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FillPolling:
    """How long to wait for a just-accepted market order to show its fill."""

    attempts: int = 6
    delay: float = 0.05


class _Again(Exception):
    """Internal: this send attempt failed in a way that allows another one."""

    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(info.message)
        self.info = info


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
    return ExecutionResult(outcome=outcome, error=f"not sent: {what}: {info.message}")


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
        self._filled: dict[str, ExecutionResult] = {}
        # what each order being sent asked for, to check an order found under its id against
        self._expected: dict[str, tuple[dict[str, Any], datetime | None]] = {}

    @classmethod
    def from_settings(cls, settings: BybitSettings, **kwargs: Any) -> BybitBroker:
        """Keys from the OS keyring / systemd credentials / env (see secrets.py)."""
        from lightspeed_cli.logsetup import register_secret
        from lightspeed_cli.secrets import SecretName, get_secret

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
        params = {"accountType": "UNIFIED", "coin": "USDT"}
        response = await self._call(lambda: self.exchange.privateGetV5AccountWalletBalance(params))
        for account in result_of(response).get("list") or []:
            for coin in account.get("coin") or []:
                if coin.get("coin") == "USDT":
                    equity = dec(coin.get("equity"))
                    if equity is None:
                        zero = Decimal(0)
                        equity = dec(coin.get("walletBalance"), zero) + dec(
                            coin.get("unrealisedPnl"), zero
                        )
                    return equity
        return Decimal(0)

    async def _position_rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(50):  # 200 per page: far more positions than anyone holds
            params = {"category": "linear", "settleCoin": "USDT", "limit": 200}
            if cursor:
                params["cursor"] = cursor
            response = await self._call(lambda p=params: self.exchange.privateGetV5PositionList(p))
            result = result_of(response)
            page = result.get("list") or []
            rows.extend(page)
            previous, cursor = cursor, str(result.get("nextPageCursor") or "")
            if not page or not cursor or cursor == previous:
                break
        return rows

    async def positions(self) -> list[FollowerPosition]:
        return [p for p in map(position_from_bybit, await self._position_rows()) if p is not None]

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

    async def lookup(self, client_order_id: str, symbol: str) -> Fill | None:
        """Recent orders first (order/realtime), then the order history."""
        rows = await self._order_rows("privateGetV5OrderRealtime", client_order_id, symbol)
        if not rows:
            rows = await self._order_rows("privateGetV5OrderHistory", client_order_id, symbol)
        return fill_from_order(rows[0]) if rows else None

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
        done = self._filled.get(intent.client_order_id)
        if done is not None:
            return done
        checked = checked_order(intent, self._markets)
        if isinstance(checked, ExecutionResult):
            return checked
        market, qty = checked
        if not intent.reduce_only:
            refused = await self._prepare_to_open(intent, market)
            if refused is not None:
                return refused
        result = await self._send(order_request(intent, qty, self._hedge), intent)
        if result.outcome is ExecutionOutcome.FILLED:
            self._filled[intent.client_order_id] = result
        return result

    async def _prepare_to_open(
        self, intent: OrderIntent, market: MarketInfo
    ) -> ExecutionResult | None:
        """Margin mode (account-wide on a UTA) once, leverage once per symbol and value."""
        if not self._margin_mode_set:
            mode = _UTA_MARGIN_MODE[self.settings.margin_mode]
            try:
                await self._call(lambda: self._tolerate(self.exchange.set_margin_mode(mode)))
            except BrokerError as exc:
                return _not_sent(exc, f"could not set the {mode} margin mode")
            self._margin_mode_set = True
        leverage = effective_leverage(intent, market)
        if leverage != intent.leverage:
            log.warning(
                "%s: leverage %s is above Bybit's maximum, using %s",
                market.symbol,
                intent.leverage,
                leverage,
            )
        if self._leverage.get(market.symbol) != leverage:
            symbol = market.ccxt_symbol
            try:
                await self._call(
                    lambda: self._tolerate(self.exchange.set_leverage(leverage, symbol))
                )
            except BrokerError as exc:
                return _not_sent(exc, f"could not set {market.symbol} leverage to {leverage}")
            self._leverage[market.symbol] = leverage
        return None

    async def _tolerate(self, request: Any) -> None:
        """Await a settings call; "not modified" (110043 / 110025 / 110026) is success."""
        try:
            await request
        except Exception as exc:
            if not classify_exception(exc, self._secrets).not_modified:
                raise

    async def _send(self, request: dict[str, Any], intent: OrderIntent) -> ExecutionResult:
        coid, symbol = intent.client_order_id, intent.symbol
        sent_at = _now()
        try:
            async for attempt in self._retry.retrying(lambda e: isinstance(e, _Again)):
                with attempt:
                    self._expected[coid] = (request, intent.journaled_at)
                    return await self._send_once(request, coid, symbol, sent_at)
        except _Again as exc:
            self._expected.pop(coid, None)
            attempts = self._retry.attempts
            return ExecutionResult(
                outcome=exc.info.outcome,
                error=f"{exc.info.message} (gave up after {attempts} attempts; not placed)",
                sent_at=sent_at,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_once(
        self, request: dict[str, Any], coid: str, symbol: str, sent_at: datetime
    ) -> ExecutionResult:
        try:
            response = await self.exchange.privatePostV5OrderCreate(request)
        except Exception as exc:
            info = classify_exception(exc, self._secrets)
            if info.duplicate:
                log.info("%s: Bybit already has this order: using it", coid)
                return await self._existing(coid, symbol, sent_at, info)
            if info.ambiguous:
                log.warning("%s: no answer to the order (%s): looking it up", coid, info.message)
                return await self._after_no_answer(coid, symbol, sent_at, info)
            if info.retry:
                if info.clock:
                    await self._resync_clock()
                raise _Again(info) from None
            return ExecutionResult(outcome=info.outcome, error=info.message, sent_at=sent_at)
        acked_at = _now()
        order_id = str(result_of(response).get("orderId", ""))
        return await self._settle(coid, symbol, order_id, sent_at, acked_at)

    async def _after_no_answer(
        self, coid: str, symbol: str, sent_at: datetime, info: ErrorInfo
    ) -> ExecutionResult:
        try:
            found = await self.lookup(coid, symbol)
        except BrokerError as exc:
            return ExecutionResult(
                outcome=ExecutionOutcome.UNKNOWN,
                error=f"{info.message}; the order may exist but the lookup failed: {exc.message}",
                sent_at=sent_at,
            )
        if found is None:
            raise _Again(info)  # Bybit never got it: sending again (same id) is safe
        return await self._settle_found(coid, symbol, sent_at, found)

    async def _existing(
        self, coid: str, symbol: str, sent_at: datetime, info: ErrorInfo
    ) -> ExecutionResult:
        try:
            found = await self.lookup(coid, symbol)
        except BrokerError as exc:
            found, info = None, ErrorInfo(exc.outcome, exc.message)
        if found is None:
            return ExecutionResult(
                outcome=ExecutionOutcome.UNKNOWN,
                error=f"Bybit reports a duplicate client id but the order is not visible: "
                f"{info.message}",
                sent_at=sent_at,
            )
        return await self._settle_found(coid, symbol, sent_at, found)

    async def _settle_found(
        self, coid: str, symbol: str, sent_at: datetime, found: Fill
    ) -> ExecutionResult:
        """An order Bybit already has under this id (a duplicate, or a lost answer): this
        request's only if symbol, side, quantity and time fit; else nothing was placed."""
        request, journaled_at = self._expected.pop(coid, ({}, None))
        seen = ExecutionResult(outcome=ExecutionOutcome.UNKNOWN, fill=found, sent_at=sent_at)
        checked = not_an_earlier_order(seen, request, journaled_at) if request else seen
        if checked is not seen:
            log.error("%s: %s", coid, checked.error)
            return checked
        return await self._settle(coid, symbol, found.order_id, sent_at, _now(), found)

    async def _settle(
        self,
        coid: str,
        symbol: str,
        order_id: str,
        sent_at: datetime,
        acked_at: datetime,
        seen: Fill | None = None,
    ) -> ExecutionResult:
        """Wait (briefly) until the market order shows a final status, then report it.

        PartiallyFilled is not final: the rest of a market order may still fill."""
        fill = seen
        for n in range(self._polling.attempts):
            if fill is not None and fill.status in ("filled", "canceled", "rejected"):
                break
            if n:
                await asyncio.sleep(self._polling.delay)
            try:
                rows = await self._order_rows("privateGetV5OrderRealtime", coid, symbol)
            except BrokerError as exc:
                log.warning("%s: fill lookup failed: %s", coid, exc.message)
                continue
            if rows:
                fill = fill_from_order(rows[0])
                if rows[0].get("orderStatus") in TERMINAL:
                    break
        if fill is None:
            return ExecutionResult(
                outcome=ExecutionOutcome.UNKNOWN,
                error=f"order {order_id} accepted by Bybit but not visible yet",
                sent_at=sent_at,
                acked_at=acked_at,
            )
        return result_from_fill(fill, sent_at, acked_at)

    async def _resync_clock(self) -> None:
        try:
            await self.exchange.load_time_difference()
        except Exception as exc:  # the retry will tell whether it mattered
            log.warning("clock resync with Bybit failed: %s", classify_exception(exc).message)
