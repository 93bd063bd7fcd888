"""`lightspeed traders check ID`: fetch a trader's positions once and show them, or say why not.

Nothing is traded. A trader who hides positions, and every error, exit 1 with the exact reason:
the same outcomes the bot would treat as "no data" (never as flat).
"""

from __future__ import annotations

import asyncio
import logging

import typer
from pydantic import ValidationError

from lightspeed_cli.cli.common import EXIT_USAGE, console, fail, get_settings
from lightspeed_cli.config.settings import Settings, TraderSettings
from lightspeed_cli.models import FetchResult, FetchStatus, Snapshot, SourceKind

# The reason is printed once by `fail`; keep the source's own log line off stderr here.
logging.getLogger("lightspeed_cli.sources").addHandler(logging.NullHandler())


def check(ctx: typer.Context, trader_id: str, source: SourceKind | None = None) -> None:
    """Print the trader's open positions as a table; exit 1 with the reason if unreadable."""
    settings = get_settings(ctx, missing_ok=True)
    trader = resolve_trader(settings, trader_id, source)
    result = asyncio.run(_fetch_once(settings, trader))
    if result.status is not FetchStatus.OK or result.snapshot is None:
        what = "hides its positions" if result.status is FetchStatus.HIDDEN else "is unreadable"
        fail(f"trader {trader.id} {what}: {result.reason}")
    symbols = {p.symbol for p in result.snapshot.positions}
    bybit = asyncio.run(_bybit_markets(settings, symbols)) if symbols else {}
    _print_snapshot(trader, result.snapshot, bybit)


async def _bybit_markets(settings: Settings, symbols: set[str]) -> dict[str, str]:
    """Binance symbol -> the Bybit market it maps to, or why none, from Bybit's public list."""
    from lightspeed_cli.decisions.symbols import SymbolMap
    from lightspeed_cli.execution.ccxt_client import public_markets
    from lightspeed_cli.models import SymbolMapping

    try:
        markets = await public_markets(settings.bybit)
    except Exception as exc:  # shown in the table: the positions are still worth seeing
        return dict.fromkeys(symbols, f"? (Bybit markets unavailable: {type(exc).__name__})")
    symbol_map = SymbolMap.from_markets(markets.values())
    shown = {}
    for symbol in symbols:
        mapping = symbol_map.resolve(symbol)
        if isinstance(mapping, SymbolMapping):
            scale = f" (qty x{mapping.qty_scale:f})" if mapping.qty_scale != 1 else ""
            shown[symbol] = mapping.market.symbol + scale
        else:
            shown[symbol] = f"none: {mapping.reason}"
    return shown


def resolve_trader(settings: Settings, trader_id: str, source: SourceKind | None) -> TraderSettings:
    """The configured trader, or one with its source guessed from the id's shape."""
    configured = settings.trader(trader_id)
    if configured is not None and (source is None or configured.source is source):
        return configured
    if source is None:
        source = SourceKind.COPYTRADE if trader_id.isdigit() else SourceKind.LEADERBOARD
    try:
        return TraderSettings(id=trader_id, source=source)
    except ValidationError as exc:
        fail(exc.errors()[0]["msg"].removeprefix("Value error, "), EXIT_USAGE)


async def _fetch_once(settings: Settings, trader: TraderSettings) -> FetchResult:
    from lightspeed_cli.config.secrets import SecretName, get_secret
    from lightspeed_cli.sources.binance import BinanceSource

    session = get_secret(SecretName.BINANCE_SESSION)
    secret = session.value if session is not None else None
    async with BinanceSource(settings.binance, settings.polling, session=secret) as source:
        return await source.fetch(trader)


def _print_snapshot(trader: TraderSettings, snapshot: Snapshot, bybit: dict[str, str]) -> None:
    from rich.table import Table

    name = f"{trader.id} ({trader.source.value}{', ' + trader.label if trader.label else ''})"
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
            p.symbol,
            side,
            f"{p.size:f}",
            f"{p.entry_price:f}",
            f"{p.mark_price:f}",
            f"{p.leverage}x",
            f"{p.pnl:f}",
            bybit[p.symbol],
        )
    console.print(table)
    when = snapshot.source_time or snapshot.fetched_at
    label = "Binance update time" if snapshot.source_time else "fetched at"
    console.print(f"{label}: {when:%Y-%m-%d %H:%M:%S} UTC", highlight=False)
