"""A USDT-perpetual account kept in memory: balances, positions, fills, the way Bybit does it.

Shared by the fake Bybit server and the paper broker, so a paper run and a run against the fake
produce the same positions and fills. Orders that Bybit would refuse raise `LedgerReject` with
Bybit's retCode and message. Simplified on purpose: market orders fill in full at one price,
the taker fee is charged on every fill, and available balance is wallet minus the initial
margin of open positions (unrealised PnL is not lent out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from lightspeed_cli.execution.markets import dec, fmt
from lightspeed_cli.models import MarketInfo, Side

TAKER_FEE_RATE = Decimal("0.00055")
DEFAULT_LEVERAGE = Decimal(10)
_FEE_QUANT = Decimal("0.00000001")
_PRICE_QUANT = Decimal("0.0000000001")
_ZERO = Decimal(0)

OrderSide = Literal["buy", "sell"]


class LedgerReject(Exception):
    """An order Bybit would refuse, with Bybit's retCode and retMsg."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg


def position_idx(side: Side, hedge_mode: bool) -> int:
    """Bybit positionIdx: 0 in one-way mode; 1 = long book, 2 = short book in hedge mode."""
    if not hedge_mode:
        return 0
    return 1 if side is Side.LONG else 2


@dataclass
class LedgerPosition:
    symbol: str
    position_idx: int
    side: Side | None = None  # None = flat
    size: Decimal = _ZERO
    entry_price: Decimal = _ZERO
    realised_pnl: Decimal = _ZERO  # cumulative, fees included

    def unrealised(self, mark: Decimal) -> Decimal:
        if self.side is None or self.size == 0:
            return _ZERO
        sign = 1 if self.side is Side.LONG else -1
        return (mark - self.entry_price) * self.size * sign

    def to_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "position_idx": self.position_idx,
            "side": self.side.value if self.side else None,
            "size": fmt(self.size),
            "entry_price": fmt(self.entry_price),
            "realised_pnl": fmt(self.realised_pnl),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LedgerPosition:
        return cls(
            symbol=data["symbol"],
            position_idx=int(data["position_idx"]),
            side=Side(data["side"]) if data.get("side") else None,
            size=dec(data["size"], _ZERO),
            entry_price=dec(data["entry_price"], _ZERO),
            realised_pnl=dec(data.get("realised_pnl"), _ZERO),
        )


@dataclass(frozen=True)
class LedgerFill:
    symbol: str
    order_side: OrderSide
    qty: Decimal
    price: Decimal
    fee: Decimal
    realised_pnl: Decimal  # of this fill, before the fee
    position_idx: int
    reduce_only: bool


@dataclass
class Ledger:
    wallet: Decimal
    hedge_mode: bool = False
    fee_rate: Decimal = TAKER_FEE_RATE
    default_leverage: Decimal = DEFAULT_LEVERAGE
    positions: dict[tuple[str, int], LedgerPosition] = field(default_factory=dict)
    leverage: dict[str, Decimal] = field(default_factory=dict)
    collateral: Decimal = _ZERO  # USD value of other coins a unified account margins with

    # ---- reading ---------------------------------------------------------------------------

    def position(self, symbol: str, idx: int) -> LedgerPosition:
        return self.positions.get((symbol, idx)) or LedgerPosition(symbol, idx)

    def open_positions(self) -> list[LedgerPosition]:
        return [p for p in self.positions.values() if p.size > 0]

    def leverage_of(self, symbol: str) -> Decimal:
        return self.leverage.get(symbol, self.default_leverage)

    def initial_margin(self) -> Decimal:
        return sum(
            (p.size * p.entry_price / self.leverage_of(p.symbol) for p in self.open_positions()),
            _ZERO,
        )

    def available(self) -> Decimal:
        return self.wallet + self.collateral - self.initial_margin()

    def unrealised(self, marks: dict[str, Decimal]) -> Decimal:
        return sum(
            (p.unrealised(marks.get(p.symbol, p.entry_price)) for p in self.open_positions()),
            _ZERO,
        )

    def equity(self, marks: dict[str, Decimal]) -> Decimal:
        return self.wallet + self.unrealised(marks)

    # ---- changing --------------------------------------------------------------------------

    def set_leverage(self, symbol: str, leverage: Decimal) -> bool:
        """False when unchanged (Bybit answers 110043 "leverage not modified")."""
        if self.leverage_of(symbol) == leverage and symbol in self.leverage:
            return False
        self.leverage[symbol] = leverage
        return True

    def fill_market(
        self,
        market: MarketInfo,
        order_side: OrderSide,
        qty: Decimal,
        price: Decimal,
        *,
        reduce_only: bool,
        idx: int,
    ) -> LedgerFill:
        """Check the order the way Bybit does, then fill it whole at `price`."""
        pos = self.position(market.symbol, idx)
        close_qty, open_qty, open_side = self.check_order(
            market, order_side, qty, price, reduce_only=reduce_only, idx=idx
        )
        fill_qty = close_qty + open_qty
        fee = (fill_qty * price * self.fee_rate).quantize(_FEE_QUANT, ROUND_HALF_UP)
        if open_qty > 0:
            needed = open_qty * price / self.leverage_of(market.symbol) + fee
            released = close_qty * pos.entry_price / self.leverage_of(market.symbol)
            if needed > self.available() + released:
                raise LedgerReject(110007, "ab not enough for new order")
        pnl = self._apply(pos, close_qty, open_qty, open_side, price)
        pos.realised_pnl += pnl - fee
        self.wallet += pnl - fee
        self.positions[(market.symbol, idx)] = pos
        return LedgerFill(market.symbol, order_side, fill_qty, price, fee, pnl, idx, reduce_only)

    def check_order(
        self,
        market: MarketInfo,
        order_side: OrderSide,
        qty: Decimal,
        price: Decimal,
        *,
        reduce_only: bool,
        idx: int,
    ) -> tuple[Decimal, Decimal, Side]:
        """Bybit's refusals of an order, without filling it: (closing qty, opening qty, side)."""
        self._check_idx(idx)
        self._check_qty(market, qty)
        pos = self.position(market.symbol, idx)
        split = self._split(pos, order_side, qty, reduce_only, idx)
        if not reduce_only and qty * price < market.min_notional:
            raise LedgerReject(
                110094, f"Order does not meet minimum order value {fmt(market.min_notional)}USDT"
            )
        return split

    def _check_idx(self, idx: int) -> None:
        ok = idx in (1, 2) if self.hedge_mode else idx == 0
        if not ok:
            raise LedgerReject(10001, "position idx not match position mode")

    @staticmethod
    def _check_qty(market: MarketInfo, qty: Decimal) -> None:
        if qty <= 0 or qty % market.qty_step != 0:
            raise LedgerReject(10001, f"Qty invalid: must be a multiple of {fmt(market.qty_step)}")
        if qty < market.min_qty:
            raise LedgerReject(10001, "The number of contracts exceeds minimum limit allowed")
        if market.max_qty is not None and qty > market.max_qty:
            raise LedgerReject(10001, "The number of contracts exceeds maximum limit allowed")

    def _split(
        self, pos: LedgerPosition, order_side: OrderSide, qty: Decimal, reduce_only: bool, idx: int
    ) -> tuple[Decimal, Decimal, Side]:
        """(qty that closes, qty that opens, side the opening part builds)."""
        if self.hedge_mode:
            book = Side.LONG if idx == 1 else Side.SHORT
            if order_side == book.open_order_side:
                if reduce_only:
                    raise LedgerReject(110017, "Reduce-only rule not satisfied")
                return _ZERO, qty, book
            if pos.size == 0:  # in hedge mode the opposite side only ever closes this book
                raise LedgerReject(110017, "Reduce-only rule not satisfied")
            return min(qty, pos.size), _ZERO, book
        order_opens = Side.LONG if order_side == "buy" else Side.SHORT
        if pos.side is None or pos.size == 0 or pos.side is order_opens:
            if reduce_only:
                raise LedgerReject(110017, "Reduce-only rule not satisfied")
            return _ZERO, qty, order_opens
        close = min(qty, pos.size)
        return close, (_ZERO if reduce_only else qty - close), order_opens

    @staticmethod
    def _apply(
        pos: LedgerPosition, close_qty: Decimal, open_qty: Decimal, open_side: Side, price: Decimal
    ) -> Decimal:
        pnl = _ZERO
        if close_qty > 0:
            pnl = pos.unrealised(price) * close_qty / pos.size
            pos.size -= close_qty
            if pos.size == 0:
                pos.side, pos.entry_price = None, _ZERO
        if open_qty > 0:
            if pos.size == 0:
                pos.side, pos.entry_price = open_side, price
            else:
                total = pos.size + open_qty
                pos.entry_price = (
                    (pos.entry_price * pos.size + price * open_qty) / total
                ).quantize(_PRICE_QUANT, ROUND_HALF_UP)
            pos.size += open_qty
        return pnl

    # ---- persistence -----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "wallet": fmt(self.wallet),
            "hedge_mode": self.hedge_mode,
            "fee_rate": fmt(self.fee_rate),
            "positions": [p.to_json() for p in self.positions.values() if p.size > 0],
            "leverage": {k: fmt(v) for k, v in self.leverage.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ledger:
        ledger = cls(
            wallet=dec(data["wallet"], _ZERO),
            hedge_mode=bool(data.get("hedge_mode", False)),
            fee_rate=dec(data.get("fee_rate"), TAKER_FEE_RATE) or TAKER_FEE_RATE,
            leverage={k: Decimal(v) for k, v in data.get("leverage", {}).items()},
        )
        for raw in data.get("positions", []):
            pos = LedgerPosition.from_json(raw)
            ledger.positions[(pos.symbol, pos.position_idx)] = pos
        return ledger
