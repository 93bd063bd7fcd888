"""`lightspeed traders check ID`: fetch a trader's positions once and show them, or say why not.

Nothing is traded. A trader who hides positions, and every error, exit 1 with the exact reason:
the same outcomes the bot would treat as "no data" (never as flat). `--json` prints
`{trader, source, status, reason, positions: [{symbol, side, quantity, entry_price, leverage,
bybit_symbol, bybit_note}]}` for every source: `symbol` is the source's own name (BTCUSDT on
Binance, kPEPE on Hyperliquid), `bybit_symbol` the market it maps to (null, with the reason in
`bybit_note`, when none); positions a source does not copy (Hyperliquid spot, outcome and
builder-dex coins) come last with `bybit_symbol` null and the reason.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import typer
from pydantic import ValidationError

from lightspeed_cli.cli.common import EXIT_USAGE, console, fail, get_settings
from lightspeed_cli.cli.output import emit_json
from lightspeed_cli.config.sections import TraderSettings, is_wallet_address
from lightspeed_cli.config.settings import Settings
from lightspeed_cli.models import FetchResult, FetchStatus, Snapshot, SourceKind

# The reason is printed once by `fail`; keep the source's own log line off stderr here.
logging.getLogger("lightspeed_cli.sources").addHandler(logging.NullHandler())

Refused = tuple[tuple[str, str], ...]  # (the source's symbol, why it is not copied)
Mapped = tuple[str | None, str]  # (the Bybit market or None, a note: the qty scale or why none)


def check(
    ctx: typer.Context, trader_id: str, source: SourceKind | None = None, as_json: bool = False
) -> None:
    """Print the trader's open positions as a table; exit 1 with the reason if unreadable."""
    settings = get_settings(ctx, missing_ok=True)
    trader = resolve_trader(settings, trader_id, source)
    result, refused = asyncio.run(_fetch_once(settings, trader))
    snapshot = result.snapshot if result.status is FetchStatus.OK else None
    symbols = {p.symbol for p in snapshot.positions} if snapshot else set()
    bybit = asyncio.run(_bybit_markets(settings, symbols)) if symbols else {}
    if as_json:
        emit_json(_record(trader, result, bybit, refused))
        if snapshot is None:
            raise typer.Exit(1)
        return
    if snapshot is None:
        what = "hides its positions" if result.status is FetchStatus.HIDDEN else "is unreadable"
        fail(f"trader {trader.id} {what}: {result.reason}")
    _print_snapshot(trader, snapshot, {s: _shown(m) for s, m in bybit.items()}, refused)


async def _bybit_markets(settings: Settings, symbols: set[str]) -> dict[str, Mapped]:
    """Symbol -> (the Bybit market it maps to or None, a note), from Bybit's public list."""
    from lightspeed_cli.decisions.symbols import SymbolMap
    from lightspeed_cli.execution.ccxt_client import public_markets
    from lightspeed_cli.models import SymbolMapping

    try:
        markets = await public_markets(settings.bybit)
    except Exception as exc:  # shown in the table: the positions are still worth seeing
        return dict.fromkeys(symbols, (None, f"Bybit markets unavailable: {type(exc).__name__}"))
    symbol_map = SymbolMap.from_markets(markets.values())
    shown: dict[str, Mapped] = {}
    for symbol in symbols:
        mapping = symbol_map.resolve(symbol)
        if isinstance(mapping, SymbolMapping):
            scale = f"qty x{mapping.qty_scale:f}" if mapping.qty_scale != 1 else ""
            shown[symbol] = (mapping.market.symbol, scale)
        else:
            shown[symbol] = (None, mapping.reason)
    return shown


def _shown(mapping: Mapped) -> str:
    market, note = mapping
    if market is None:
        return f"none: {note}" if not note.startswith("Bybit") else f"? ({note})"
    return f"{market} ({note})" if note else market


def resolve_trader(settings: Settings, trader_id: str, source: SourceKind | None) -> TraderSettings:
    """The configured trader, or one with its source guessed from the id's shape."""
    configured = settings.trader(trader_id)
    if configured is not None and (source is None or configured.source is source):
        return configured
    if source is None:
        source = guess_source(trader_id)
    try:
        return TraderSettings(id=trader_id, source=source)
    except ValidationError as exc:
        fail(exc.errors()[0]["msg"].removeprefix("Value error, "), EXIT_USAGE)


def guess_source(trader_id: str) -> SourceKind:
    """copytrade for digits, hyperliquid for a wallet address (0x + 40 hex), else leaderboard
    (whose id check then says what a leaderboard id looks like)."""
    if trader_id.isdigit():
        return SourceKind.COPYTRADE
    if is_wallet_address(trader_id):
        return SourceKind.HYPERLIQUID
    return SourceKind.LEADERBOARD


async def _fetch_once(settings: Settings, trader: TraderSettings) -> tuple[FetchResult, Refused]:
    if trader.source is SourceKind.HYPERLIQUID:
        from lightspeed_cli.sources.hyperliquid import HyperliquidSource

        async with HyperliquidSource(settings.hyperliquid, settings.polling) as hl:
            return await hl.fetch(trader), hl.refused(trader.id)
    from lightspeed_cli.config.secrets import SecretName, get_secret
    from lightspeed_cli.sources.binance import BinanceSource

    session = get_secret(SecretName.BINANCE_SESSION)
    secret = session.value if session is not None else None
    async with BinanceSource(settings.binance, settings.polling, session=secret) as source:
        return await source.fetch(trader), ()


def _own_symbol(trader: TraderSettings, symbol: str) -> str:
    """The position's name as the source itself writes it (kPEPE for 1000PEPEUSDT)."""
    if trader.source is SourceKind.HYPERLIQUID:
        from lightspeed_cli.decisions.symbols import hyperliquid_coin

        return hyperliquid_coin(symbol)
    return symbol


def _record(
    trader: TraderSettings,
    result: FetchResult,
    bybit: dict[str, Mapped],
    refused: Refused,
) -> dict[str, Any]:
    positions: list[dict[str, Any]] = []
    for p in result.snapshot.positions if result.snapshot else ():
        market, note = bybit.get(p.symbol, (None, ""))
        positions.append(
            {
                "symbol": _own_symbol(trader, p.symbol),
                "side": p.side.value,
                "quantity": p.size,
                "entry_price": p.entry_price,
                "leverage": p.leverage,
                "bybit_symbol": market,
                "bybit_note": note,
            }
        )
    for coin, reason in refused:
        positions.append({"symbol": coin, "bybit_symbol": None, "bybit_note": reason})
    return {
        "trader": trader.id,
        "source": trader.source.value,
        "status": result.status.value,
        "reason": result.reason,
        "positions": positions,
    }


def _print_snapshot(
    trader: TraderSettings, snapshot: Snapshot, bybit: dict[str, str], refused: Refused
) -> None:
    from rich.markup import escape
    from rich.table import Table

    name = f"{trader.id} ({trader.source.value}{', ' + trader.label if trader.label else ''})"
    for coin, reason in refused:
        console.print(f"Not copied: {escape(coin)}: {escape(reason)}", highlight=False)
    if not snapshot.positions:
        console.print(f"Trader {name}: no open positions (flat).", highlight=False)
        return
    table = Table(title=f"Trader {name}: {len(snapshot.positions)} open position(s)")
    left = ("Symbol", "Side", "Bybit market")
    for column in ("Symbol", "Side", "Size", "Entry", "Mark", "Leverage", "PnL", "Bybit market"):
        table.add_column(column, justify="left" if column in left else "right")
    for p in snapshot.positions:
        side = f"[green]{p.side.value}[/]" if p.side.value == "long" else f"[red]{p.side.value}[/]"
        table.add_row(
            _own_symbol(trader, p.symbol),
            side,
            f"{p.size:f}",
            f"{p.entry_price:f}",
            f"{p.mark_price:f}",
            f"{p.leverage}x",
            f"{p.pnl:f}",
            escape(bybit[p.symbol]),
        )
    console.print(table)
    when = snapshot.source_time or snapshot.fetched_at
    if trader.source is SourceKind.HYPERLIQUID:
        label = "Hyperliquid time" if snapshot.source_time else "fetched at"
    else:
        label = "Binance update time" if snapshot.source_time else "fetched at"
    console.print(f"{label}: {when:%Y-%m-%d %H:%M:%S} UTC", highlight=False)
    if snapshot.leader_equity is not None:
        console.print(f"Leader account value: {snapshot.leader_equity:f} USDC", highlight=False)
