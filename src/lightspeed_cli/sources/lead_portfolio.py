"""A lead portfolio's companions: `detail` (status, marginBalance), `order-history` (the
leader's own fills) and `position-history` (its positions from open to close), read through
the same exits, budget and retries as the positions (BinanceSource.read). Shapes:
shared/api/binance.md; every field optional, numbers maybe strings.

A failed read raises SourceError: the caller keeps what it knew (positions stay the truth).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import BeforeValidator, Field

from lightspeed_cli.config.text import printable
from lightspeed_cli.models import LeaderDetail, LeaderLot, LeaderOrder, Side
from lightspeed_cli.sources.errors import MalformedAnswer, RejectedAnswer
from lightspeed_cli.sources.wire import (
    _Envelope,
    _Millis,
    _Number,
    _rows_capped,
    _Symbol,
    _Wire,
    load_json,
)

LEAD = "/bapi/futures/v1/friendly/future/copy-trade/lead-portfolio"
DETAIL_PATH = f"{LEAD}/detail"
ORDER_HISTORY_PATH = f"{LEAD}/order-history"
POSITION_HISTORY_PATH = f"{LEAD}/position-history"
PAGE_SIZE = 100  # Binance's maximum
NICKNAME_LIMIT = 64  # characters of a leader's nickname we keep


class _OrderRow(_Wire):
    symbol: _Symbol = None
    positionSide: str | None = None
    side: str | None = None
    executedQty: _Number = None
    avgPrice: _Number = None
    totalPnl: _Number = None
    orderTime: _Millis = None
    orderUpdateTime: _Millis = None


class _OrderPage(_Wire):
    rows: Annotated[list[_OrderRow] | None, BeforeValidator(_rows_capped)] = Field(
        default=None, alias="list"
    )
    total: int | None = None


class _OrderAnswer(_Envelope):
    data: _OrderPage | None = None


class _LotRow(_Wire):
    symbol: _Symbol = None
    side: str | None = None
    opened: _Millis = None
    closed: _Millis = None


class _LotPage(_Wire):
    rows: Annotated[list[_LotRow] | None, BeforeValidator(_rows_capped)] = Field(
        default=None, alias="list"
    )
    total: int | None = None


class _LotAnswer(_Envelope):
    data: _LotPage | None = None


class _DetailData(_Wire):
    status: str | None = None
    marginBalance: _Number = None
    nickname: str | None = None


class _DetailAnswer(_Envelope):
    data: _DetailData | None = None


_M = TypeVar("_M", bound=_Envelope)


def _checked(model: type[_M], body: bytes) -> _M:
    try:
        answer = model.model_validate(load_json(body))
    except (ValueError, RecursionError) as exc:  # ValidationError is a ValueError too
        raise MalformedAnswer(str(exc).splitlines()[0][:200]) from None
    if not answer.success:
        raise RejectedAnswer(answer.code, answer.message)
    return answer


def parse_orders(body: bytes) -> tuple[list[LeaderOrder], int]:
    """The filled orders of one page (rows without a usable fill are skipped: an order that
    did not fill explains no position) and the total count."""
    answer = _checked(_OrderAnswer, body)
    if answer.data is None:
        raise MalformedAnswer("order-history without data")
    orders = []
    for row in answer.data.rows or []:
        when = row.orderUpdateTime or row.orderTime
        qty, price = row.executedQty, row.avgPrice
        if not row.symbol or when is None or not qty or not price or qty <= 0 or price <= 0:
            continue
        side = (row.side or "").upper()
        position_side = (row.positionSide or "BOTH").upper()
        if side not in ("BUY", "SELL") or position_side not in ("BOTH", "LONG", "SHORT"):
            continue
        pnl = row.totalPnl or Decimal(0)
        orders.append(LeaderOrder(row.symbol, position_side, side, qty, price, when, pnl))  # type: ignore[arg-type]
    return orders, answer.data.total or len(orders)


def parse_lots(body: bytes) -> tuple[list[LeaderLot], int]:
    """The position-history rows of one page (rows without a symbol, side or open time are
    skipped) and the total count."""
    answer = _checked(_LotAnswer, body)
    if answer.data is None:
        raise MalformedAnswer("position-history without data")
    lots = []
    for row in answer.data.rows or []:
        side = {"LONG": Side.LONG, "SHORT": Side.SHORT}.get((row.side or "").upper())
        if not row.symbol or side is None or row.opened is None:
            continue
        lots.append(LeaderLot(row.symbol, side, row.opened, row.closed))
    return lots, answer.data.total or len(lots)


def parse_detail(body: bytes) -> LeaderDetail:
    answer = _checked(_DetailAnswer, body)
    if answer.data is None:
        raise MalformedAnswer("lead-portfolio detail without data")
    d = answer.data
    balance = d.marginBalance if d.marginBalance is not None and d.marginBalance > 0 else None
    nickname = printable(d.nickname or "", limit=NICKNAME_LIMIT)  # a leader's words, shown
    return LeaderDetail(printable(d.status or "").upper(), balance, nickname)


class Reader(Protocol):
    async def read(
        self, method: str, path: str, payload: dict[str, Any], parse: Any, *, urgent: bool = False
    ) -> Any: ...


async def read_detail(source: Reader, portfolio_id: str, *, urgent: bool = False) -> LeaderDetail:
    """`urgent`: the polls' lane of the budget (a first read: opens may wait for it)."""
    payload = {"portfolioId": portfolio_id}
    return await source.read("GET", DETAIL_PATH, payload, parse_detail, urgent=urgent)


async def read_orders(
    source: Reader, portfolio_id: str, *, since_ms: int, max_pages: int = 3, urgent: bool = False
) -> list[LeaderOrder]:
    """The leader's orders since `since_ms`, newest first: one request unless more than a
    page of orders came since (then up to `max_pages`). `urgent`: an order waits for it (the
    polls' lane of the budget, not the background one)."""
    found = await read_order_window(
        source, portfolio_id, since_ms=since_ms, max_pages=max_pages, urgent=urgent
    )
    return found[0]


async def read_order_window(
    source: Reader, portfolio_id: str, *, since_ms: int, max_pages: int, urgent: bool = False
) -> tuple[list[LeaderOrder], bool]:
    """The leader's orders since `since_ms`, newest first, and whether they reach back that
    far (False: `max_pages` ran out first). Pages only by number: the body binance.md knows."""
    found: list[LeaderOrder] = []
    for number in range(1, max_pages + 1):
        payload = {"pageNumber": number, "pageSize": PAGE_SIZE, "portfolioId": portfolio_id}
        orders, total = await source.read(
            "POST", ORDER_HISTORY_PATH, payload, parse_orders, urgent=urgent
        )
        found += [o for o in orders if o.time_ms >= since_ms]
        if (
            len(orders) < PAGE_SIZE
            or number * PAGE_SIZE >= total
            or min(o.time_ms for o in orders) < since_ms
        ):
            return found, True
    return found, False


async def read_lots(
    source: Reader, portfolio_id: str, *, max_pages: int
) -> tuple[list[LeaderLot], bool]:
    """The leader's position-history, newest first, and whether all of it was read. A lot
    opened long ago may still be open, so there is no date to stop at: only `max_pages`."""
    found: list[LeaderLot] = []
    for number in range(1, max_pages + 1):
        payload = {"pageNumber": number, "pageSize": PAGE_SIZE, "portfolioId": portfolio_id}
        lots, total = await source.read("POST", POSITION_HISTORY_PATH, payload, parse_lots)
        found += lots
        if len(lots) < PAGE_SIZE or number * PAGE_SIZE >= total:
            return found, True
    return found, False
