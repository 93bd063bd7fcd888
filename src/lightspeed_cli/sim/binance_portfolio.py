"""The fake Binance's lead-portfolio records: the orders and position-history rows that explain
every scripted position change, and the portfolio `detail`.

Pure bookkeeping (no I/O, no locks): `FakeBinance.set_positions` hands each old → new book to
`PortfolioRecord.apply`, which appends one order per changed (symbol, positionSide) with the fill
price that makes the new entry price come out (adds) or the mark / a given price (reduces), and
opens / updates / closes position-history lots. Shapes follow shared/api/binance.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

PortfolioStatus = Literal["ACTIVE", "CLOSING", "CLOSED"]
DEFAULT_MARGIN_BALANCE = Decimal("10000")
_PRICE_PLACES = Decimal("0.00000001")


class _Position(Protocol):
    symbol: str
    amount: Decimal
    entry_price: Decimal
    position_side: str


@dataclass(frozen=True)
class FakeOrder:
    """One lead-portfolio order-history row (already filled)."""

    symbol: str
    side: Literal["BUY", "SELL"]
    position_side: str  # BOTH / LONG / SHORT
    qty: Decimal
    avg_price: Decimal
    pnl: Decimal
    time_ms: int

    def row(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "baseAsset": self.symbol.removesuffix("USDT"),
            "quoteAsset": "USDT",
            "side": self.side,
            "type": "MARKET",
            "positionSide": self.position_side,
            "executedQty": float(self.qty),
            "avgPrice": float(self.avg_price),
            "totalPnl": float(self.pnl),
            "orderUpdateTime": self.time_ms,
            "orderTime": self.time_ms,
        }


@dataclass
class FakeLot:
    """One position-history row: a position from its open to its full close."""

    number: int
    symbol: str
    side: Literal["Long", "Short"]
    opened: int
    avg_cost: Decimal
    size: Decimal = Decimal(0)
    max_open: Decimal = Decimal(0)
    closed_volume: Decimal = Decimal(0)
    close_value: Decimal = Decimal(0)
    closing_pnl: Decimal = Decimal(0)
    closed: int | None = None
    updated: int = 0

    @property
    def status(self) -> str:
        if self.closed is not None:
            return "Closed"
        return "Partially Closed" if self.closed_volume else "Open"

    def row(self) -> dict[str, Any]:
        avg_close = self.close_value / self.closed_volume if self.closed_volume else Decimal(0)
        return {
            "id": f"{self.number}",
            "symbol": self.symbol,
            "type": "USDT",
            "opened": self.opened,
            "closed": self.closed,
            "avgCost": _s(self.avg_cost),
            "avgClosePrice": _s(avg_close),
            "closingPnl": _s(self.closing_pnl),
            "maxOpenInterest": _s(self.max_open),
            "closedVolume": _s(self.closed_volume),
            "isolated": "Cross",
            "side": self.side,
            "status": self.status,
            "updateTime": self.updated,
        }


@dataclass
class FakeDetail:
    """What `lead-portfolio/detail` tells about the portfolio."""

    nickname: str = ""
    status: PortfolioStatus = "ACTIVE"
    margin_balance: Decimal = DEFAULT_MARGIN_BALANCE
    position_show: bool = True
    copy_count: int = 12


@dataclass
class PortfolioRecord:
    """A trader's order and position history, newest last."""

    orders: list[FakeOrder] = field(default_factory=list)
    lots: list[FakeLot] = field(default_factory=list)
    detail: FakeDetail = field(default_factory=FakeDetail)
    _open: dict[tuple[str, str], FakeLot] = field(default_factory=dict)

    def apply(
        self,
        old: Iterable[_Position],
        new: Iterable[_Position],
        *,
        marks: Mapping[str, Decimal],
        prices: Mapping[str, Decimal],
        at_ms: int,
    ) -> list[FakeOrder]:
        """Record the orders that turn `old` into `new` at `at_ms`; returns them. A reduce
        fills at `prices[symbol]`, else the mark, else the entry price."""
        before = {(p.symbol, p.position_side): p for p in old}
        after = {(p.symbol, p.position_side): p for p in new}
        made = []
        for key in sorted(before.keys() | after.keys()):
            was, now = before.get(key), after.get(key)
            a0 = was.amount if was else Decimal(0)
            a1 = now.amount if now else Decimal(0)
            if a0 == a1:
                continue
            exit_price = prices.get(key[0], marks.get(key[0], was.entry_price if was else None))
            order = self._order(key, was, now, a0, a1, exit_price, at_ms)
            self.orders.append(order)
            made.append(order)
        return made

    def _order(
        self,
        key: tuple[str, str],
        was: _Position | None,
        now: _Position | None,
        a0: Decimal,
        a1: Decimal,
        exit_price: Decimal | None,
        at_ms: int,
    ) -> FakeOrder:
        symbol, position_side = key
        side: Literal["BUY", "SELL"] = "BUY" if a1 > a0 else "SELL"
        same_side = a0 * a1 > 0
        closed = abs(a0) if not same_side else max(Decimal(0), abs(a0) - abs(a1))
        opened = abs(a1) if not same_side else max(Decimal(0), abs(a1) - abs(a0))
        price = exit_price or Decimal(0)
        if opened and now is not None:
            # the fill that makes the new entry price the size-weighted average (a one-way flip
            # is one order: its close fills at the same price)
            kept = abs(a0) if same_side else Decimal(0)
            entry0 = was.entry_price if (was is not None and same_side) else Decimal(0)
            price = ((now.entry_price * abs(a1) - entry0 * kept) / opened).quantize(_PRICE_PLACES)
        pnl = Decimal(0)
        if closed and was is not None:
            pnl = (price - was.entry_price) * closed * (1 if a0 > 0 else -1)
            self._reduce(key, closed, price, pnl, at_ms)
        if opened:
            self._add(key, a1, opened, price, at_ms)
        qty = closed + opened
        return FakeOrder(symbol, side, position_side, qty, price.normalize(), pnl, at_ms)

    def _add(
        self, key: tuple[str, str], a1: Decimal, qty: Decimal, price: Decimal, at: int
    ) -> None:
        lot = self._open.get(key)
        if lot is None:
            side: Literal["Long", "Short"] = "Long" if a1 > 0 else "Short"
            lot = FakeLot(len(self.lots) + 1, key[0], side, opened=at, avg_cost=price)
            self.lots.append(lot)
            self._open[key] = lot
        else:
            lot.avg_cost = (lot.avg_cost * lot.size + price * qty) / (lot.size + qty)
        lot.size += qty
        lot.max_open = max(lot.max_open, lot.size)
        lot.updated = at

    def _reduce(
        self, key: tuple[str, str], qty: Decimal, price: Decimal, pnl: Decimal, at: int
    ) -> None:
        lot = self._open.get(key)
        if lot is None:
            return
        lot.size -= qty
        lot.closed_volume += qty
        lot.close_value += qty * price
        lot.closing_pnl += pnl
        lot.updated = at
        if lot.size <= 0:
            lot.closed = at
            del self._open[key]


def page(rows: list[dict[str, Any]], page_number: int, page_size: int) -> dict[str, Any]:
    """`{"list", "total"}` of the given 1-based page of rows already sorted newest first."""
    start = (page_number - 1) * page_size
    return {"list": rows[start : start + page_size], "total": len(rows)}


def detail_data(portfolio_id: str, record: PortfolioRecord) -> dict[str, Any]:
    d = record.detail
    return {
        "leadPortfolioId": portfolio_id,
        "nickname": d.nickname or f"lead-{portfolio_id[-4:]}",
        "avatarUrl": None,
        "status": d.status,
        "positionShow": d.position_show,
        "marginBalance": _s(d.margin_balance),
        "aumAmount": _s(d.margin_balance * 3),
        "copierPnl": "0",
        "currentCopyCount": d.copy_count,
        "maxCopyCount": 300,
        "fixedAmountMinCopyUsd": "10",
        "startTime": record.lots[0].opened if record.lots else None,
        "closeLeadCount": 0,
        "futuresType": "UM",
    }


def _s(value: Decimal) -> str:
    return f"{value.normalize():f}"
