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
from lightspeed_cli.models import FetchResult, FetchStatus, Snapshot, SourceKind
from lightspeed_cli.settings import Settings, TraderSettings

# The reason is printed once by `fail`; keep the source's own log line off stderr here.
logging.getLogger("lightspeed_cli.sources").addHandler(logging.NullHandler())


def check(ctx: typer.Context, trader_id: str, source: SourceKind | None = None) -> None:
    """Print the trader's open positions as a table; exit 1 with the reason if unreadable."""
    settings = get_settings(ctx, missing_ok=True)
    trader = _trader(settings, trader_id, source)
    result = asyncio.run(_fetch_once(settings, trader))
    if result.status is not FetchStatus.OK or result.snapshot is None:
        what = "hides its positions" if result.status is FetchStatus.HIDDEN else "is unreadable"
        fail(f"trader {trader.id} {what}: {result.reason}")
    _print_snapshot(trader, result.snapshot)


def _trader(settings: Settings, trader_id: str, source: SourceKind | None) -> TraderSettings:
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
    from lightspeed_cli.secrets import SecretName, get_secret
    from lightspeed_cli.sources.binance import BinanceSource

    session = get_secret(SecretName.BINANCE_SESSION)
    secret = session.value if session is not None else None
    async with BinanceSource(settings.binance, settings.polling, session=secret) as source:
        return await source.fetch(trader)


def _print_snapshot(trader: TraderSettings, snapshot: Snapshot) -> None:
    from rich.table import Table

    name = f"{trader.id} ({trader.source.value}{', ' + trader.label if trader.label else ''})"
    if not snapshot.positions:
        console.print(f"Trader {name}: no open positions (flat).", highlight=False)
        return
    table = Table(title=f"Trader {name}: {len(snapshot.positions)} open position(s)")
    for column in ("Symbol", "Side", "Size", "Entry", "Mark", "Leverage", "PnL"):
        table.add_column(column, justify="left" if column in ("Symbol", "Side") else "right")
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
        )
    console.print(table)
    when = snapshot.source_time or snapshot.fetched_at
    label = "Binance update time" if snapshot.source_time else "fetched at"
    console.print(f"{label}: {when:%Y-%m-%d %H:%M:%S} UTC", highlight=False)
