"""Builders for the decision tests: small, explicit defaults so each test states what matters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from lightspeed_cli.decisions.decide import DecisionContext
from lightspeed_cli.decisions.safety import SafetyContext
from lightspeed_cli.models import (
    MarketInfo,
    Side,
    Signal,
    SignalKind,
    Snapshot,
    SymbolMapping,
    TraderPosition,
)

D = Decimal
T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
TRADER = "4000000000001"


def pos(
    symbol: str = "BTCUSDT",
    side: Side = Side.LONG,
    size: str | Decimal = "1",
    mark: str | Decimal = "50000",
    leverage: int = 10,
) -> TraderPosition:
    return TraderPosition(
        symbol=symbol,
        side=side,
        size=D(size),
        entry_price=D(mark),
        mark_price=D(mark),
        leverage=leverage,
    )


def snap(*positions: TraderPosition, at: datetime = T0, trader: str = TRADER) -> Snapshot:
    return Snapshot(trader=trader, positions=tuple(positions), fetched_at=at)


def market(
    symbol: str = "BTCUSDT",
    qty_step: str = "0.001",
    min_qty: str = "0.001",
    max_qty: str | None = None,
    min_notional: str = "5",
    max_leverage: str = "100",
) -> MarketInfo:
    return MarketInfo(
        symbol=symbol,
        ccxt_symbol=f"{symbol.removesuffix('USDT')}/USDT:USDT",
        base=symbol.removesuffix("USDT"),
        qty_step=D(qty_step),
        min_qty=D(min_qty),
        max_qty=D(max_qty) if max_qty is not None else None,
        min_notional=D(min_notional),
        max_leverage=D(max_leverage),
    )


def mapping(
    binance_symbol: str = "BTCUSDT",
    qty_scale: str = "1",
    price_scale: str = "1",
    **market_kw: str | None,
) -> SymbolMapping:
    market_kw.setdefault("symbol", binance_symbol)
    return SymbolMapping(
        binance_symbol=binance_symbol,
        market=market(**market_kw),  # type: ignore[arg-type]
        qty_scale=D(qty_scale),
        price_scale=D(price_scale),
    )


def signal(
    kind: SignalKind,
    previous_size: str | Decimal = "0",
    new_size: str | Decimal = "1",
    *,
    symbol: str = "BTCUSDT",
    side: Side = Side.LONG,
    mark: str | Decimal = "50000",
    leverage: int = 10,
    at: datetime = T0,
) -> Signal:
    """A signal as diff would build it (previous/new position filled in when they exist)."""
    prev, new = D(previous_size), D(new_size)
    before = pos(symbol, side, prev, mark, leverage) if prev > 0 else None
    after = pos(symbol, side, new, mark, leverage) if new > 0 else None
    fraction = None
    if kind is SignalKind.CLOSE:
        fraction = D(1)
    elif kind is SignalKind.REDUCE:
        fraction = (prev - new) / prev
    return Signal(
        trader=TRADER,
        kind=kind,
        symbol=symbol,
        side=side,
        previous_size=prev,
        new_size=new,
        reduce_fraction=fraction,
        position=after,
        previous_position=before,
        snapshot_time=at,
    )


def safety_ctx(**overrides: object) -> SafetyContext:
    """A context every check passes with the default SafetySettings."""
    values: dict[str, object] = {
        "binance_symbol": "BTCUSDT",
        "binance_mark": D("50000"),
        "bybit_last": D("50000"),
        "mapping": mapping(),
        "requested_leverage": 10,
        "order_notional_usdt": D("100"),
        "position_notional_usdt": D(0),
        "total_notional_usdt": D(0),
        "open_positions": 0,
        "snapshot_fetched_at": T0,
        "now": T0 + timedelta(seconds=1),
        "daily_realized_pnl_usdt": D(0),
    }
    values.update(overrides)
    return SafetyContext(**values)  # type: ignore[arg-type]


def decision_ctx(**overrides: object) -> DecisionContext:
    """A follower state in which an ordinary OPEN is approved with default settings."""
    values: dict[str, object] = {
        "mapping": mapping(),
        "bybit_last": D("50000"),
        "equity_usdt": D("10000"),
        "held_qty": D(0),
        "open_positions": 0,
        "total_notional_usdt": D(0),
        "position_notional_usdt": D(0),
        "daily_realized_pnl_usdt": D(0),
        "now": T0 + timedelta(seconds=1),
        "client_order_id": "ls-test-0001",
    }
    values.update(overrides)
    return DecisionContext(**values)  # type: ignore[arg-type]
