"""Binance symbol -> Bybit market, built from Bybit's instrument list.

The two exchanges name some USDT perpetuals differently: a contract multiplier may be written as
a prefix on one and a suffix on the other (Binance 1000SHIBUSDT, Bybit SHIB1000USDT), or with a
different number (Binance 1MBABYDOGEUSDT, Bybit 1000000BABYDOGEUSDT; Binance 1000CHEEMSUSDT,
Bybit 1000000CHEEMSUSDT), and Binance lists quote assets (USDC, BUSD, FDUSD) that Bybit's USDT
perpetuals lack. So both sides are reduced to (coin, multiplier, quote), matched on (coin, quote),
and quantities/prices are scaled by the ratio of the multipliers.

Anything uncertain is refused, never guessed: an unparseable name, a market whose base coin and
id disagree, or more than one Bybit market for the same coin.

Pure: no I/O, no ccxt import.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from decimal import Decimal
from typing import NamedTuple

from lightspeed_cli.models import MarketInfo, Refusal, SymbolMapping

CHECK = "symbol_mapping"
KNOWN_QUOTES: tuple[str, ...] = ("FDUSD", "USDT", "USDC", "BUSD")
"""Quote assets Binance USDⓈ-M perpetual names end with (longest first when matching)."""
BYBIT_QUOTES: tuple[str, ...] = ("USDT",)
"""Quotes the bot trades on Bybit: linear USDT perpetuals only."""

_ONE = Decimal(1)
_MILLION = Decimal(1_000_000)
# A multiplier is 1 followed by at least three zeros (1000, 10000, ..., 1000000), or "1M".
# "1INCH" and "10" / "100" prefixes are not multipliers: no exchange here uses them, and a
# coin could start with them; an unknown scheme fails to match, which refuses (safe).
_PREFIX = re.compile(r"^(?:(?P<pow>10{3,})|(?P<mega>1M))(?P<coin>[A-Z][A-Z0-9]*)$")
_SUFFIX = re.compile(r"^(?P<coin>[A-Z0-9]*[A-Z])(?P<pow>10{3,})$")
_COIN = re.compile(r"^[A-Z0-9]+$")


class ParsedContract(NamedTuple):
    """A perpetual's name reduced to its parts: `multiplier` units of `base` per name unit."""

    base: str
    multiplier: Decimal
    quote: str


def split_multiplier(coin: str) -> tuple[str, Decimal]:
    """Split a contract-name coin into (bare coin, multiplier): 1000PEPE -> (PEPE, 1000).

    Handles prefixes (1000PEPE, 1MBABYDOGE) and suffixes (SHIB1000). A name without a
    multiplier comes back unchanged with multiplier 1. Raises ValueError if the name is not
    an upper-case alphanumeric coin, or carries a multiplier on both sides.
    """
    if not _COIN.match(coin):
        raise ValueError(f"not a coin name: {coin!r}")
    prefix = _PREFIX.match(coin)
    if prefix:
        bare = prefix["coin"]
        mult = Decimal(prefix["pow"]) if prefix["pow"] else _MILLION
        if _SUFFIX.match(bare):
            raise ValueError(f"multiplier on both sides of {coin!r}")
        return bare, mult
    suffix = _SUFFIX.match(coin)
    if suffix:
        return suffix["coin"], Decimal(suffix["pow"])
    return coin, _ONE


def multiplier_from_bybit_base(base_coin: str) -> tuple[str, Decimal]:
    """Bybit instruments-info `baseCoin` -> (bare coin, multiplier), for building MarketInfo.

    SHIB1000 -> (SHIB, 1000); 1000PEPE -> (PEPE, 1000); BTC -> (BTC, 1). Never raises: a base
    coin this cannot read is returned unchanged with multiplier 1 (SymbolMap then cross-checks it
    against the market id and refuses the market if the two disagree).
    """
    try:
        return split_multiplier(base_coin)
    except ValueError:
        return base_coin, _ONE


def parse_contract_name(name: str, known_quotes: Iterable[str] = KNOWN_QUOTES) -> ParsedContract:
    """Parse a perpetual's name (BTCUSDT, 1000SHIBUSDT, SHIB1000USDT) into its parts.

    Raises ValueError for anything else: lower case, separators (dated futures such as
    BTCUSDT_240628 or BTCUSDT-27DEC24), an unknown quote, or an empty base.
    """
    if not isinstance(name, str) or not _COIN.match(name):
        raise ValueError(f"not a perpetual contract name: {name!r}")
    for quote in sorted(known_quotes, key=len, reverse=True):
        if name.endswith(quote) and len(name) > len(quote):
            base, mult = split_multiplier(name[: -len(quote)])
            return ParsedContract(base, mult, quote)
    raise ValueError(f"{name!r} does not end with a known quote ({', '.join(known_quotes)})")


class _Entry(NamedTuple):
    """One Bybit market as indexed: its multiplier, or why it cannot be used."""

    market: MarketInfo
    multiplier: Decimal
    problem: str | None = None


def _read_market(market: MarketInfo, quotes: Collection[str]) -> tuple[set[str], _Entry] | None:
    """The coin(s) a Bybit market is indexed under, and its entry; None if it is out of scope.

    The id (SHIB1000USDT) and the base coin (SHIB1000, or SHIB with multiplier 1000) must tell
    the same story; if they do not, the market is indexed under both coins with a problem, so a
    Binance symbol for either is refused rather than mapped onto a doubtful contract.
    """
    if market.quote not in quotes:
        return None
    try:
        from_id = parse_contract_name(market.symbol, (market.quote,))
    except ValueError:
        return None  # not a perpetual name (dated future, pre-market oddity): out of scope
    base_coin, base_mult = multiplier_from_bybit_base(market.base)
    if base_mult == _ONE:
        base_mult = market.multiplier  # base is the bare coin: trust the multiplier field
    elif market.multiplier not in (_ONE, base_mult):
        base_mult = market.multiplier  # base and field disagree: surfaces as a mismatch below
    if (base_coin, base_mult) == (from_id.base, from_id.multiplier):
        return {from_id.base}, _Entry(market, from_id.multiplier)
    problem = (
        f"Bybit market {market.symbol} is inconsistent: its id says {from_id.multiplier}x"
        f" {from_id.base}, its base coin says {base_mult}x {base_coin}"
    )
    return {from_id.base, base_coin}, _Entry(market, from_id.multiplier, problem)


def _scales(binance_mult: Decimal, bybit_mult: Decimal) -> tuple[Decimal, Decimal]:
    """(qty_scale, price_scale): bybit qty = binance qty x qty_scale, price likewise."""
    return binance_mult / bybit_mult, bybit_mult / binance_mult


class SymbolMap:
    """Binance symbol -> Bybit market, for one load of Bybit's markets. Resolutions are cached."""

    def __init__(
        self, index: dict[tuple[str, str], tuple[_Entry, ...]], quotes: Collection[str]
    ) -> None:
        self._index = index
        self._quotes = tuple(quotes)
        self._cache: dict[str, SymbolMapping | Refusal] = {}

    @classmethod
    def from_markets(
        cls, markets: Iterable[MarketInfo], quotes: Collection[str] = BYBIT_QUOTES
    ) -> SymbolMap:
        """Index Bybit's markets by (bare coin, quote); markets quoted otherwise are ignored."""
        index: dict[tuple[str, str], list[_Entry]] = {}
        for market in dict.fromkeys(markets):  # drop exact duplicates, keep order
            read = _read_market(market, quotes)
            if read is None:
                continue
            coins, entry = read
            for coin in coins:
                index.setdefault((coin, market.quote), []).append(entry)
        return cls({k: tuple(v) for k, v in index.items()}, quotes)

    def __len__(self) -> int:
        """Number of indexed (coin, quote) pairs."""
        return len(self._index)

    def resolve(self, binance_symbol: str) -> SymbolMapping | Refusal:
        """The Bybit market for a Binance symbol, or a Refusal saying why there is none."""
        cached = self._cache.get(binance_symbol) if isinstance(binance_symbol, str) else None
        if cached is not None:
            return cached
        result = self._resolve(binance_symbol)
        if isinstance(binance_symbol, str) and len(self._cache) < 10_000:
            self._cache[binance_symbol] = result
        return result

    def _resolve(self, symbol: str) -> SymbolMapping | Refusal:
        shown = symbol if isinstance(symbol, str) and _COIN.match(symbol) else repr(symbol)

        def refuse(why: str, prefix: str = "no Bybit market for") -> Refusal:
            return Refusal(check=CHECK, reason=f"{prefix} {shown}: {why}", value=shown)

        try:
            parsed = parse_contract_name(symbol)
        except ValueError as exc:
            return refuse(f"not a Binance perpetual symbol ({exc})")
        if parsed.quote not in self._quotes:
            return refuse(
                f"quote {parsed.quote} is not traded (Bybit {'/'.join(self._quotes)}"
                " perpetuals only)"
            )
        entries = self._index.get((parsed.base, parsed.quote), ())
        if not entries:
            return refuse(f"Bybit lists no {parsed.base}/{parsed.quote} perpetual")
        if len(entries) > 1:
            names = ", ".join(sorted({e.market.symbol for e in entries}))
            return refuse(f"{names} all match, refusing to guess", "ambiguous Bybit market for")
        entry = entries[0]
        if entry.problem:
            return refuse(entry.problem)
        qty_scale, price_scale = _scales(parsed.multiplier, entry.multiplier)
        return SymbolMapping(
            binance_symbol=symbol,
            market=entry.market,
            qty_scale=qty_scale,
            price_scale=price_scale,
        )


def to_bybit_qty(mapping: SymbolMapping, binance_qty: Decimal) -> Decimal:
    """A Binance quantity in Bybit contracts (unrounded: sizing rounds to the market's step)."""
    return binance_qty * mapping.qty_scale


def to_bybit_price(mapping: SymbolMapping, binance_price: Decimal) -> Decimal:
    """A Binance price in the Bybit contract's units (for price-divergence checks)."""
    return binance_price * mapping.price_scale


# Hyperliquid coins. Its perps are named by coin alone (BTC, kPEPE); `k` coins are quoted and
# sized per 1,000 units (kPEPE = 1,000 PEPE), the unit of a 1000PEPE contract. A coin becomes
# the contract name the rest of the pipeline speaks (kPEPE -> 1000PEPEUSDT, BTC -> BTCUSDT), so
# SymbolMap matches it by base and multiplier exactly like Binance's 1000SHIBUSDT.
HYPERLIQUID_K_MULTIPLIER = Decimal(1000)
_HL_QUOTE = "USDT"


def hyperliquid_refusal(coin: str) -> str | None:
    """Why a Hyperliquid coin is not copied, or None for a first-dex perp we can name."""
    if not isinstance(coin, str) or not coin:
        return f"not a Hyperliquid coin: {coin!r}"
    if coin.startswith("@") or "/" in coin:
        return f"{coin} is a Hyperliquid spot pair, not a perpetual: not copied"
    if coin.startswith("#"):
        return f"{coin} is a Hyperliquid outcome contract (HIP-4), not a perpetual: not copied"
    if ":" in coin:
        dex = coin.split(":", 1)[0]
        return (
            f"{coin} is a perpetual on the builder-deployed dex {dex!r} (HIP-3), which is not"
            " followed: not copied (only Hyperliquid's first perp dex is)"
        )
    bare = coin[1:] if coin.startswith("k") else coin
    if not _COIN.match(bare) or bare != bare.upper():
        return f"{coin}: a Hyperliquid coin name this bot cannot read: not copied"
    return None


def hyperliquid_symbol(coin: str) -> str:
    """A first-dex Hyperliquid coin as a contract name: kPEPE -> 1000PEPEUSDT, BTC -> BTCUSDT.
    Raises ValueError with the reason for a coin that is not copied (hyperliquid_refusal)."""
    refusal = hyperliquid_refusal(coin)
    if refusal is not None:
        raise ValueError(refusal)
    if coin.startswith("k") and coin[1:]:
        return f"{HYPERLIQUID_K_MULTIPLIER}{coin[1:]}{_HL_QUOTE}"
    return f"{coin}{_HL_QUOTE}"


def hyperliquid_coin(symbol: str) -> str:
    """The inverse of hyperliquid_symbol, for showing the source's own name: 1000PEPEUSDT ->
    kPEPE. Raises ValueError for a name it never produces."""
    parsed = parse_contract_name(symbol, (_HL_QUOTE,))
    if parsed.multiplier == HYPERLIQUID_K_MULTIPLIER:
        return f"k{parsed.base}"
    if parsed.multiplier == _ONE:
        return parsed.base
    raise ValueError(f"{symbol!r} is not a Hyperliquid coin's contract name")
