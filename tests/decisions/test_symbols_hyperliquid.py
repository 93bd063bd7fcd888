"""Hyperliquid coins onto Bybit markets: `k` coins by base and multiplier, non-perps refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from test_symbols import market

from lightspeed_cli.decisions.symbols import (
    SymbolMap,
    hyperliquid_coin,
    hyperliquid_refusal,
    hyperliquid_symbol,
)
from lightspeed_cli.models import Refusal, SymbolMapping

BYBIT = SymbolMap.from_markets(
    [
        market("BTCUSDT", "BTC"),
        market("1000PEPEUSDT", "1000PEPE"),
        market("SHIB1000USDT", "SHIB1000"),
        market("BONKUSDT", "BONK"),
    ]
)


@pytest.mark.parametrize(
    ("coin", "symbol"), [("BTC", "BTCUSDT"), ("kPEPE", "1000PEPEUSDT"), ("HYPE", "HYPEUSDT")]
)
def test_perp_coins_are_named_as_contracts_and_back(coin: str, symbol: str) -> None:
    assert hyperliquid_symbol(coin) == symbol
    assert hyperliquid_coin(symbol) == coin


@pytest.mark.parametrize(
    ("coin", "qty_scale", "bybit"),
    [
        ("kPEPE", "1", "1000PEPEUSDT"),  # 1000 PEPE a unit on both sides
        ("kSHIB", "1", "SHIB1000USDT"),  # Bybit writes the multiplier as a suffix
        ("kBONK", "1000", "BONKUSDT"),  # Bybit lists the bare coin: 1 kBONK = 1000 contracts
        ("BTC", "1", "BTCUSDT"),
    ],
)
def test_k_coins_map_by_base_and_multiplier(coin: str, qty_scale: str, bybit: str) -> None:
    mapping = BYBIT.resolve(hyperliquid_symbol(coin))
    assert isinstance(mapping, SymbolMapping)
    assert mapping.market.symbol == bybit and mapping.qty_scale == Decimal(qty_scale)
    assert mapping.price_scale == 1 / Decimal(qty_scale)


@pytest.mark.parametrize(
    ("coin", "words"),
    [
        ("@107", "spot"),
        ("PURR/USDC", "spot"),
        ("#12", "outcome"),
        ("flx:CRCL", "builder-deployed dex 'flx'"),
        ("kshib", "cannot read"),
        ("", "not a Hyperliquid coin"),
    ],
)
def test_coins_that_are_not_first_dex_perps_are_refused_with_the_reason(
    coin: str, words: str
) -> None:
    reason = hyperliquid_refusal(coin)
    assert reason is not None and words in reason
    with pytest.raises(ValueError, match="not copied|not a Hyperliquid|cannot read"):
        hyperliquid_symbol(coin)


def test_a_coin_bybit_lacks_is_refused_by_the_map() -> None:
    refusal = BYBIT.resolve(hyperliquid_symbol("SOL"))
    assert isinstance(refusal, Refusal) and "no SOL/USDT" in refusal.reason
