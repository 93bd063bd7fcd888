"""The Broker interface the engine trades through, and what an order attempt can end as.

Two implementations: `BybitBroker` (real orders through ccxt) and `PaperBroker` (fills at
Bybit's public price, balance and positions kept locally). Both are async and cheap to import:
nothing here loads ccxt.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import BaseModel

from lightspeed_cli.models import ExchangeOrder, Fill, FollowerPosition, MarketInfo, OrderIntent


class ExecutionOutcome(StrEnum):
    """How one `execute()` ended. Only UNKNOWN means "an order may exist that we cannot see"."""

    FILLED = "filled"  # the order exists on Bybit and (partly) filled: `fill` says how much
    REJECTED = "rejected"  # not placed: bad qty / notional / symbol, or a setup step failed
    ALREADY_FLAT = "already_flat"  # reduce-only with nothing to reduce (Bybit 110017)
    INSUFFICIENT_FUNDS = "insufficient_funds"  # not placed: balance / margin too low
    RATE_LIMITED = "rate_limited"  # not placed: still rate limited after backing off
    UNAVAILABLE = "unavailable"  # not placed: exchange down / maintenance / network
    FATAL = "fatal"  # not placed, and no order will work: bad key, permission, mode mismatch
    UNKNOWN = "unknown"  # may or may not have been placed: look it up by client id later


class ExecutionResult(BaseModel):
    """`acknowledged`: Bybit said it has the order (an orderId, a duplicate-id answer, or a
    lookup found it), so it is never "not placed". `not_placed`: no request of it can execute
    (none was sent, or Bybit refused each one outright), so the change may go again at once.
    Neither: the order may exist; see execution/fate.py for when that is settled."""

    outcome: ExecutionOutcome
    fill: Fill | None = None
    error: str = ""
    sent_at: datetime | None = None
    acked_at: datetime | None = None
    setup_requests: int = 0  # Bybit requests made before the order (leverage, margin mode)
    acknowledged: bool = False
    not_placed: bool = False


class BrokerError(Exception):
    """A broker call other than `execute()` failed; `outcome` says what kind of failure."""

    def __init__(self, outcome: ExecutionOutcome, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


MODE_CHANGED = "position mode changed"  # in the FATAL message of errors.classify_ret_code
KEY_ACTION = (
    "check the Bybit API key, its secret and permissions (`lightspeed keys set`), then restart"
)
MODE_ACTION = (
    "on Bybit, switch the USDT perpetuals back to the position mode bybit.account_mode names"
    " (Derivatives settings; only possible with no open position or order), or set"
    " `lightspeed config set bybit.account_mode` to the account's mode; then restart"
)


def stopped_action(error: str) -> str:
    """What the user should do once trading stopped on `error`: a changed position mode is
    not a key problem, and the advice must not send them to the wrong fix."""
    if MODE_CHANGED in error or "position mode but bybit.account_mode" in error:
        return MODE_ACTION
    return KEY_ACTION


class BrokerStartError(BrokerError):
    """The broker cannot be used at all (keys, permissions, position-mode mismatch)."""

    def __init__(self, message: str, outcome: ExecutionOutcome = ExecutionOutcome.FATAL) -> None:
        super().__init__(outcome, message)


@runtime_checkable
class Broker(Protocol):
    """What the engine needs from an exchange account. Read methods raise `BrokerError`."""

    on_acknowledged: Callable[[str], None] | None  # see ExchangeOwner

    async def start(self) -> None:
        """Load the linear markets once and check the account's position mode."""

    async def aclose(self) -> None: ...

    @property
    def markets(self) -> dict[str, MarketInfo]:
        """Bybit id (BTCUSDT, 1000PEPEUSDT) -> market limits; filled by `start()`."""

    @property
    def hedge_mode(self) -> bool: ...

    async def last_price(self, symbol: str) -> Decimal: ...

    async def last_prices(self) -> dict[str, Decimal]:
        """Every linear perpetual's last price, in one request (the price cache's refresh)."""

    async def prepare(self, symbol: str | None = None, leverage: int = 0) -> int:
        """Margin mode and `symbol`'s leverage set ahead of the first open, cached; returns
        the Bybit requests made (0 when already set). Raises `BrokerError`."""

    async def equity_usdt(self) -> Decimal: ...

    async def positions(self) -> list[FollowerPosition]: ...

    async def open_orders(self) -> list[Fill]: ...

    async def execute(self, intent: OrderIntent) -> ExecutionResult:
        """Send one market order; the same `client_order_id` never becomes two orders."""

    async def lookup(self, client_order_id: str, symbol: str) -> Fill | None:
        """The order with this client id, or None when Bybit has no such order."""

    async def order_list(self, symbol: str | None = None, *, pages: int = 5) -> list[ExchangeOrder]:
        """Recent orders on one symbol (or all), open and past: reconciliation reads the
        orderLinkIds to tell the bot's orders from the user's."""

    async def server_time(self) -> datetime: ...
