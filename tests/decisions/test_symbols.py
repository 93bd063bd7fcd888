"""Binance -> Bybit symbol mapping: multiplier naming, quotes, refusals, never a crash."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightspeed_cli.decisions.symbols import (
    ParsedContract,
    SymbolMap,
    multiplier_from_bybit_base,
    parse_contract_name,
    split_multiplier,
    to_bybit_price,
    to_bybit_qty,
)
from lightspeed_cli.models import MarketInfo, Refusal, SymbolMapping

D = Decimal


def market(symbol: str, base: str, multiplier: str = "1", quote: str = "USDT") -> MarketInfo:
    """A Bybit market as execution builds it; `base` is Bybit's baseCoin (or the bare coin)."""
    return MarketInfo(
        symbol=symbol,
        ccxt_symbol=f"{base}/{quote}:{quote}",
        base=base,
        quote=quote,
        qty_step=D("1"),
        min_qty=D("1"),
        multiplier=D(multiplier),
    )


# Names as the exchanges list them (Bybit instruments-info symbol / baseCoin).
BYBIT = [
    market("BTCUSDT", "BTC"),
    market("ETHUSDT", "ETH"),
    market("1INCHUSDT", "1INCH"),
    market("SHIB1000USDT", "SHIB1000"),
    market("1000PEPEUSDT", "1000PEPE"),
    market("1000BONKUSDT", "1000BONK"),
    market("1000LUNCUSDT", "1000LUNC"),
    market("1000000BABYDOGEUSDT", "1000000BABYDOGE"),
    market("1000000CHEEMSUSDT", "1000000CHEEMS"),
    market("HPOS10IUSDT", "HPOS10I"),
    market("BTCPERP", "BTC", quote="USDC"),  # USDC perp: out of scope
    market("BTCUSDT-27DEC24", "BTC"),  # dated future: out of scope
]


@pytest.fixture(scope="module")
def smap() -> SymbolMap:
    return SymbolMap.from_markets(BYBIT)


def mapped(smap: SymbolMap, symbol: str) -> SymbolMapping:
    result = smap.resolve(symbol)
    assert isinstance(result, SymbolMapping), result
    return result


def refused(smap: SymbolMap, symbol: str) -> Refusal:
    result = smap.resolve(symbol)
    assert isinstance(result, Refusal), result
    assert result.check == "symbol_mapping"
    return result


@pytest.mark.parametrize(
    ("binance", "bybit", "qty_scale", "price_scale"),
    [
        ("BTCUSDT", "BTCUSDT", "1", "1"),
        ("1INCHUSDT", "1INCHUSDT", "1", "1"),  # a leading 1 is part of the coin
        ("1000PEPEUSDT", "1000PEPEUSDT", "1", "1"),
        ("1000SHIBUSDT", "SHIB1000USDT", "1", "1"),  # prefix on Binance, suffix on Bybit
        ("1MBABYDOGEUSDT", "1000000BABYDOGEUSDT", "1", "1"),  # 1M == 1000000
        ("1000CHEEMSUSDT", "1000000CHEEMSUSDT", "0.001", "1000"),
        ("HPOS10IUSDT", "HPOS10IUSDT", "1", "1"),  # digits inside a coin are not a multiplier
    ],
)
def test_maps_and_scales(
    smap: SymbolMap, binance: str, bybit: str, qty_scale: str, price_scale: str
) -> None:
    m = mapped(smap, binance)
    assert m.binance_symbol == binance
    assert m.market.symbol == bybit
    assert m.qty_scale == D(qty_scale)
    assert m.price_scale == D(price_scale)


def test_scaling_both_directions() -> None:
    """Binance bare / Bybit prefixed, and Binance suffixed / Bybit bare: scales invert."""
    smap = SymbolMap.from_markets([market("1000FOOUSDT", "1000FOO"), market("BARUSDT", "BAR")])
    foo = mapped(smap, "FOOUSDT")
    assert (foo.qty_scale, foo.price_scale) == (D("0.001"), D("1000"))
    bar = mapped(smap, "BAR1000USDT")
    assert (bar.qty_scale, bar.price_scale) == (D("1000"), D("0.001"))
    # 2 FOO on Binance is 0.002 contracts of 1000FOO; a FOO price of 0.5 is 500 per 1000FOO.
    assert to_bybit_qty(foo, D("2")) == D("0.002")
    assert to_bybit_price(foo, D("0.5")) == D("500.0")


def test_bare_base_with_multiplier_field_maps() -> None:
    """Execution may store the bare coin with its multiplier (base PEPE, multiplier 1000)."""
    smap = SymbolMap.from_markets([market("1000PEPEUSDT", "PEPE", "1000")])
    assert mapped(smap, "1000PEPEUSDT").qty_scale == D(1)
    assert mapped(smap, "PEPEUSDT").qty_scale == D("0.001")


def test_missing_market_is_refused_with_reason(smap: SymbolMap) -> None:
    r = refused(smap, "DOGEUSDT")
    assert r.reason.startswith("no Bybit market for DOGEUSDT")
    assert r.value == "DOGEUSDT"


@pytest.mark.parametrize("symbol", ["BTCUSDC", "ETHBUSD", "BTCFDUSD"])
def test_unsupported_quote_is_refused(smap: SymbolMap, symbol: str) -> None:
    r = refused(smap, symbol)
    assert r.reason.startswith(f"no Bybit market for {symbol}")
    assert "quote" in r.reason


@pytest.mark.parametrize("symbol", ["", "btcusdt", "BTCUSDT_240628", "USDT", "BTC", "1000USDT"])
def test_malformed_symbol_is_refused(smap: SymbolMap, symbol: str) -> None:
    assert "no Bybit market for" in refused(smap, symbol).reason


def test_ambiguous_match_is_refused() -> None:
    smap = SymbolMap.from_markets([market("SHIB1000USDT", "SHIB1000"), market("SHIBUSDT", "SHIB")])
    r = refused(smap, "1000SHIBUSDT")
    assert r.reason.startswith("ambiguous Bybit market for 1000SHIBUSDT")
    assert "SHIB1000USDT" in r.reason and "SHIBUSDT" in r.reason


def test_exact_duplicates_are_not_ambiguous() -> None:
    """load_markets can list a market twice (the PreLaunch request): same data, one market."""
    smap = SymbolMap.from_markets([market("BTCUSDT", "BTC"), market("BTCUSDT", "BTC")])
    assert mapped(smap, "BTCUSDT").market.symbol == "BTCUSDT"


@pytest.mark.parametrize(
    ("base", "multiplier"),
    [("PEPE", "1"), ("1000PEPE", "10"), ("10000PEPE", "1"), ("FROG", "1000")],
)
def test_inconsistent_bybit_market_is_refused(base: str, multiplier: str) -> None:
    """If Bybit's id and base coin disagree on the multiplier, refuse rather than pick one."""
    smap = SymbolMap.from_markets([market("1000PEPEUSDT", base, multiplier)])
    r = refused(smap, "1000PEPEUSDT")
    assert r.reason.startswith("no Bybit market for 1000PEPEUSDT")
    assert "inconsistent" in r.reason


def test_resolution_is_cached(smap: SymbolMap) -> None:
    assert smap.resolve("1000SHIBUSDT") is smap.resolve("1000SHIBUSDT")


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("BTCUSDT", ParsedContract("BTC", D(1), "USDT")),
        ("1000SHIBUSDT", ParsedContract("SHIB", D(1000), "USDT")),
        ("SHIB1000USDT", ParsedContract("SHIB", D(1000), "USDT")),
        ("1MBABYDOGEUSDT", ParsedContract("BABYDOGE", D(1_000_000), "USDT")),
        ("10000000AIDOGEUSDT", ParsedContract("AIDOGE", D(10_000_000), "USDT")),
        ("BTCFDUSD", ParsedContract("BTC", D(1), "FDUSD")),
        ("ETHBUSD", ParsedContract("ETH", D(1), "BUSD")),
        ("FDUSDUSDT", ParsedContract("FDUSD", D(1), "USDT")),
    ],
)
def test_parse_contract_name(name: str, parsed: ParsedContract) -> None:
    assert parse_contract_name(name) == parsed


@pytest.mark.parametrize("name", ["BTCEUR", "1000SHIB1000USDT", "BTC-USDT", "btcusdt", "USDC"])
def test_parse_contract_name_rejects(name: str) -> None:
    with pytest.raises(ValueError):
        parse_contract_name(name)


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("SHIB1000", ("SHIB", D(1000))),
        ("1000PEPE", ("PEPE", D(1000))),
        ("1000000BABYDOGE", ("BABYDOGE", D(1_000_000))),
        ("BTC", ("BTC", D(1))),
        ("1INCH", ("1INCH", D(1))),
        ("weird-coin", ("weird-coin", D(1))),  # never raises
    ],
)
def test_multiplier_from_bybit_base(base: str, expected: tuple[str, Decimal]) -> None:
    assert multiplier_from_bybit_base(base) == expected


def test_split_multiplier_rejects_non_coin() -> None:
    with pytest.raises(ValueError):
        split_multiplier("")


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=24),
        st.from_regex(r"\A(1M|10{1,8})?[A-Z0-9]{0,8}(10{3,6})?(USDT|USDC|BUSD|FDUSD)?\Z"),
    )
)
def test_resolve_never_raises(symbol: str) -> None:
    smap = SymbolMap.from_markets(BYBIT)
    result = smap.resolve(symbol)
    assert isinstance(result, SymbolMapping | Refusal)
    if isinstance(result, SymbolMapping):
        assert result.qty_scale * result.price_scale == 1
