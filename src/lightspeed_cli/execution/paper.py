"""Paper trading: Bybit's public prices and market rules, a local account, no keys.

Orders are checked and filled by the same `Ledger` the fake Bybit uses (qty step and minimum,
min notional, reduce-only, margin, taker fee), at the current public last price. The account
(balance, positions, filled orders) is saved to `state_path` after every fill, so a restart
carries on where it stopped.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from lightspeed_cli.config.atomicfile import write_atomic
from lightspeed_cli.config.choices import AccountMode
from lightspeed_cli.config.sections import BybitSettings
from lightspeed_cli.execution import ccxt_client
from lightspeed_cli.execution.base import BrokerError, ExecutionOutcome, ExecutionResult
from lightspeed_cli.execution.ccxt_client import ExchangeOwner, RetryPolicy
from lightspeed_cli.execution.errors import classify_ret_code
from lightspeed_cli.execution.ledger import Ledger, LedgerReject, position_idx
from lightspeed_cli.execution.orders import beyond_bound, checked_order, effective_leverage
from lightspeed_cli.models import ExchangeOrder, Fill, FollowerPosition, MarketInfo, OrderIntent

log = logging.getLogger(__name__)

STATE_VERSION = 1
KEEP_FILLS = 5000  # client ids remembered for lookup / idempotency (newest kept)


def _now() -> datetime:
    return datetime.now(UTC)


class PaperBroker(ExchangeOwner):
    """The Broker for `--paper`: simulated fills at Bybit's public price."""

    def __init__(
        self,
        settings: BybitSettings,
        *,
        starting_equity_usdt: Decimal,
        state_path: Path | None,
        timeout_ms: int = 10_000,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self._state_path = state_path
        self._timeout_ms = timeout_ms
        self._retry = retry or RetryPolicy()
        self._exchange: Any = None
        self._markets: dict[str, MarketInfo] = {}
        hedge = settings.account_mode is AccountMode.HEDGE
        self._ledger = Ledger(wallet=Decimal(starting_equity_usdt), hedge_mode=hedge)
        self._fills: dict[str, Fill] = {}
        self._started = False

    # ---- state -----------------------------------------------------------------------------

    def _load_state(self) -> None:
        if self._state_path is None or not self._state_path.exists():
            return
        try:
            data = json.loads(self._state_path.read_text(encoding="utf-8"))
            ledger = Ledger.from_json(data["ledger"])
            fills = {k: Fill.model_validate(v) for k, v in data.get("fills", {}).items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BrokerError(
                ExecutionOutcome.FATAL,
                f"{self._state_path}: paper account state is unreadable ({exc});"
                " move it away to start a fresh paper account",
            ) from None
        if ledger.hedge_mode != self._ledger.hedge_mode:
            raise BrokerError(
                ExecutionOutcome.FATAL,
                f"{self._state_path}: the paper account was kept in the other position mode;"
                " move it away to start a fresh paper account in this mode",
            )
        self._ledger, self._fills = ledger, fills

    def _save_state(self) -> None:
        if self._state_path is None:
            return
        data = {
            "version": STATE_VERSION,
            "ledger": self._ledger.to_json(),
            "fills": {k: v.model_dump(mode="json") for k, v in self._fills.items()},
        }
        write_atomic(self._state_path, json.dumps(data, indent=1))

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def exchange(self) -> Any:
        if self._exchange is None:
            self._exchange = ccxt_client.create_exchange(self.settings, timeout_ms=self._timeout_ms)
        return self._exchange

    async def start(self) -> None:
        if not self._started:
            self._load_state()
            self._markets = await ccxt_client.load_markets(self.exchange, self._retry)
            self._started = True

    @property
    def hedge_mode(self) -> bool:
        return self._ledger.hedge_mode

    @property
    def ledger(self) -> Ledger:
        return self._ledger

    # ---- reads -----------------------------------------------------------------------------

    async def last_price(self, symbol: str) -> Decimal:
        return await ccxt_client.last_price(self.exchange, self._retry, symbol)

    async def server_time(self) -> datetime:
        return await ccxt_client.server_time(self.exchange, self._retry)

    async def _marks(self) -> dict[str, Decimal]:
        if not self._ledger.open_positions():
            return {}
        return await ccxt_client.ticker_prices(self.exchange, self._retry)

    async def equity_usdt(self) -> Decimal:
        return self._ledger.equity(await self._marks())

    async def positions(self) -> list[FollowerPosition]:
        marks = await self._marks()
        out = []
        for p in self._ledger.open_positions():
            assert p.side is not None
            mark = marks.get(p.symbol, p.entry_price)
            out.append(
                FollowerPosition(
                    symbol=p.symbol,
                    side=p.side,
                    size=p.size,
                    entry_price=p.entry_price,
                    mark_price=mark,
                    leverage=self._ledger.leverage_of(p.symbol),
                    unrealized_pnl=p.unrealised(mark),
                )
            )
        return out

    async def open_orders(self) -> list[Fill]:
        return []  # market orders fill at once

    async def lookup(self, client_order_id: str, symbol: str) -> Fill | None:
        return self._fills.get(client_order_id)

    async def order_list(self, symbol: str | None = None, *, pages: int = 5) -> list[ExchangeOrder]:
        """The paper account's own (recent) orders: every one is the bot's."""
        return [
            ExchangeOrder(
                link_id=f.client_order_id,
                order_id=f.order_id,
                symbol=f.symbol,
                order_side=f.order_side,
                filled=f.quantity,
                quantity=f.quantity,
                status="Filled",
                created_at=f.sent_at,
            )
            for f in self._fills.values()
            if symbol in (None, f.symbol)
        ]

    # ---- orders ----------------------------------------------------------------------------

    async def execute(self, intent: OrderIntent) -> ExecutionResult:
        if not self._started:
            return ExecutionResult(outcome=ExecutionOutcome.FATAL, error="broker not started")
        done = self._fills.get(intent.client_order_id)
        if done is not None:
            return ExecutionResult(
                outcome=ExecutionOutcome.FILLED, fill=done, sent_at=done.sent_at,
                acked_at=done.acked_at,
            )  # fmt: skip
        checked = checked_order(intent, self._markets)
        if isinstance(checked, ExecutionResult):
            return checked
        market, qty = checked
        sent_at = _now()
        try:
            price = await self.last_price(intent.symbol)
        except BrokerError as exc:
            return ExecutionResult(
                outcome=exc.outcome, error=f"not sent: {exc.message}", not_placed=True
            )
        if beyond_bound(price, intent, market.tick_size):
            return ExecutionResult(
                outcome=ExecutionOutcome.REJECTED,
                error=f"an IOC limit at {intent.limit_price} found nothing at it or better (last"
                f" {price}): nothing filled",
                sent_at=sent_at,
                not_placed=True,
            )
        if not intent.reduce_only:
            self._ledger.set_leverage(market.symbol, Decimal(effective_leverage(intent, market)))
        try:
            filled = self._ledger.fill_market(
                market,
                intent.order_side,
                qty,
                price,
                reduce_only=intent.reduce_only,
                idx=position_idx(intent.side, self._ledger.hedge_mode),
            )
        except LedgerReject as exc:
            info = classify_ret_code(exc.code, exc.msg)
            return ExecutionResult(
                outcome=info.outcome, error=info.message, sent_at=sent_at, not_placed=True
            )
        acked_at = _now()
        fill = Fill(
            client_order_id=intent.client_order_id,
            order_id=f"paper-{uuid.uuid4()}",
            symbol=market.symbol,
            order_side=intent.order_side,
            quantity=filled.qty,
            price=filled.price,
            fee=filled.fee,
            status="filled",
            sent_at=sent_at,
            acked_at=acked_at,
        )
        self._fills[intent.client_order_id] = fill
        while len(self._fills) > KEEP_FILLS:
            del self._fills[next(iter(self._fills))]
        self._save_state()
        return ExecutionResult(
            outcome=ExecutionOutcome.FILLED, fill=fill, sent_at=sent_at, acked_at=acked_at
        )
