"""Instrument parsing and quantity rules (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lightspeed_cli.execution.markets import (
    fmt,
    market_from_instrument,
    markets_from_instruments,
    qty_problem,
    round_qty,
)
from lightspeed_cli.sim.bybit import default_instruments, instrument

MARKETS = markets_from_instruments(default_instruments())


def test_only_trading_usdt_perpetuals_are_markets() -> None:
    assert "BTCUSDT-26DEC25" not in MARKETS  # dated future
    closed = instrument(
        "OLDUSDT", "OLD", qty_step="1", min_qty="1", max_qty="10", max_mkt_qty="10",
        tick="0.1", max_leverage="10", status="Closed",
    )  # fmt: skip
    assert market_from_instrument(closed) is None
    assert {"BTCUSDT", "1000PEPEUSDT", "SHIB1000USDT", "1INCHUSDT"} <= set(MARKETS)


@pytest.mark.parametrize(
    ("symbol", "base", "multiplier"),
    [
        ("BTCUSDT", "BTC", 1),
        ("1000PEPEUSDT", "PEPE", 1000),
        ("SHIB1000USDT", "SHIB", 1000),
        ("1000000BABYDOGEUSDT", "BABYDOGE", 1_000_000),
        ("1INCHUSDT", "1INCH", 1),
    ],
)
def test_multiplier_from_the_name(symbol: str, base: str, multiplier: int) -> None:
    market = MARKETS[symbol]
    assert (market.base, market.multiplier) == (base, Decimal(multiplier))


def test_limits_come_from_the_lot_size_filter() -> None:
    btc = MARKETS["BTCUSDT"]
    assert btc.qty_step == Decimal("0.001")
    assert btc.min_qty == Decimal("0.001")
    assert btc.max_qty == Decimal("119")  # the market-order cap, not the limit-order one
    assert btc.min_notional == Decimal(5)
    assert btc.tick_size == Decimal("0.1")
    assert btc.max_leverage == Decimal(100)
    assert btc.ccxt_symbol == "BTC/USDT:USDT"


@pytest.mark.parametrize(
    ("symbol", "qty", "rounded"),
    [
        ("BTCUSDT", "0.0109", "0.01"),
        ("BTCUSDT", "0.001", "0.001"),
        ("BTCUSDT", "0.0009", "0"),
        ("1000PEPEUSDT", "12345", "12300"),
        ("XRPUSDT", "10.99", "10"),
        ("SOLUSDT", "1.25", "1.2"),
    ],
)
def test_round_qty_truncates_to_the_step(symbol: str, qty: str, rounded: str) -> None:
    assert round_qty(Decimal(qty), MARKETS[symbol]) == Decimal(rounded)


def test_qty_problem_boundaries() -> None:
    btc = MARKETS["BTCUSDT"]
    assert qty_problem(Decimal("0.001"), btc) == ""
    assert "rounds to 0" in qty_problem(Decimal(0), btc)
    assert "below" in qty_problem(Decimal("0.001"), MARKETS["BTCUSDT"].model_copy(
        update={"min_qty": Decimal("0.002")}))  # fmt: skip
    assert "multiple" in qty_problem(Decimal("0.0015"), btc)
    assert qty_problem(Decimal("119"), btc) == ""
    assert "maximum" in qty_problem(Decimal("119.001"), btc)


def test_fmt_never_uses_exponents() -> None:
    assert fmt(Decimal("1E+2")) == "100"
    assert fmt(Decimal("0.0100")) == "0.01"
    assert fmt(Decimal("1E-7")) == "0.0000001"
    assert fmt(Decimal(0)) == "0"
