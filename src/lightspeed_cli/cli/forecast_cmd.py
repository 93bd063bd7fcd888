"""`lightspeed traders forecast ID`: the I/O shell around forecast.py. Nothing is traded.

Reads, within the Binance request budget (BinanceSource.read): the lead portfolio's positions,
`detail` (marginBalance, for leader_equity sizing), `order-history` back to the window's start
and `position-history`; from Bybit, the public instruments list (filters: no keys needed, so
it works in paper mode too) and, only if keys are set and no `--equity` is given, the account's
equity. Then replays, prints, and writes the JSON / PNG asked for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import typer

from lightspeed_cli.cli.common import EXIT_USAGE, console, fail, get_settings
from lightspeed_cli.cli.output import emit_json
from lightspeed_cli.config.choices import AccountMode, SizingMode
from lightspeed_cli.config.sections import TraderSettings
from lightspeed_cli.config.settings import Settings
from lightspeed_cli.decisions.forecast import ForecastInputs, ForecastReport, forecast
from lightspeed_cli.models import FetchStatus, LeaderLot, LeaderOrder, SourceKind, TraderPosition

logging.getLogger("lightspeed_cli.sources").addHandler(logging.NullHandler())

ORDER_PAGES = 50  # 5,000 orders: a busy leader's month; the rest is reported as incomplete
LOT_PAGES = 5
EQUITY_MODES = frozenset({SizingMode.EQUITY_PCT, SizingMode.LEADER_EQUITY})


@dataclass
class _Read:
    current: tuple[TraderPosition, ...]
    orders: list[LeaderOrder]
    complete: bool
    lots: list[LeaderLot] | None
    lots_complete: bool
    balance: Decimal | None
    notes: list[str]


def run(
    ctx: typer.Context,
    trader_id: str,
    *,
    days: int,
    equity: Decimal | None,
    as_json: bool,
    plot: Path | None,
    source: SourceKind | None,
) -> None:
    from lightspeed_cli.cli.traders_check import resolve_trader

    settings = get_settings(ctx, missing_ok=True)
    trader = resolve_trader(settings, trader_id, source)
    if trader.source is not SourceKind.COPYTRADE:
        fail(
            f"trader {trader.id} is a leaderboard trader: Binance publishes no order history"
            " for it, so there is nothing to replay (forecast works for copy-trade lead"
            " portfolios only)",
            EXIT_USAGE,
        )
    if plot is not None:
        from lightspeed_cli.views.forecast_plot import plot_problem
        from lightspeed_cli.views.plotting import PlotUnavailable

        try:
            problem = plot_problem(plot)
        except PlotUnavailable as exc:
            fail(str(exc), EXIT_USAGE)
        if problem:
            fail(problem, EXIT_USAGE)
    sizing = trader.effective_sizing(settings.sizing)
    end_ms = int(time.time() * 1000)
    start_ms = end_ms - days * 86_400_000
    read = asyncio.run(_read_binance(settings, trader, start_ms))
    markets, filters_from = asyncio.run(_bybit_filters(settings))
    equity_usdt, equity_note = _equity(settings, sizing.mode, equity)
    from lightspeed_cli.decisions.symbols import SymbolMap

    report = forecast(
        ForecastInputs(
            trader=trader.id,
            orders=read.orders,
            current=read.current,
            start_ms=start_ms,
            end_ms=end_ms,
            symbols=SymbolMap.from_markets(markets.values()),
            sizing=sizing,
            safety=settings.safety,
            copy=settings.copy_settings,
            equity_usdt=equity_usdt,
            leader_balance_usdt=read.balance,
            fee_rate=settings.bybit.taker_fee_rate,
            filters_from=filters_from,
            history_complete=read.complete,
            lots=read.lots,
            lots_complete=read.lots_complete,
        )
    )
    if settings.bybit.account_mode is AccountMode.ONE_WAY and any(
        o.position_side != "BOTH" for o in read.orders
    ):
        read.notes.append(
            "the leader trades in hedge mode: on your one-way account the bot refuses an open"
            " opposite to a side you hold (one_way_conflict), which the forecast does not model"
        )
    report = report.model_copy(update={"notes": [*read.notes, equity_note, *report.notes]})
    if plot is not None:
        from lightspeed_cli.views.forecast_plot import plot_forecast

        plot_forecast(report, plot)
    if as_json:
        emit_json(report)
        return
    _print(report, days)
    if plot is not None:
        console.print(f"plot written: {plot}", highlight=False)


async def _read_binance(settings: Settings, trader: TraderSettings, start_ms: int) -> _Read:
    """Positions, detail, order and position history; a failed positions or order-history
    read exits 1 (no replay without them), the others only leave a note."""
    from lightspeed_cli.config.secrets import SecretName, get_secret
    from lightspeed_cli.sources.binance import BinanceSource
    from lightspeed_cli.sources.errors import SourceError
    from lightspeed_cli.sources.lead_portfolio import read_detail, read_lots, read_order_window

    session = get_secret(SecretName.BINANCE_SESSION)
    secret = session.value if session is not None else None
    notes: list[str] = []
    async with BinanceSource(settings.binance, settings.polling, session=secret) as source:
        result = await source.fetch(trader)
        if result.status is not FetchStatus.OK or result.snapshot is None:
            what = "hides its positions" if result.status is FetchStatus.HIDDEN else "is unreadable"
            fail(f"trader {trader.id} {what}: {result.reason}")
        try:
            orders, complete = await read_order_window(
                source, trader.id, since_ms=start_ms, max_pages=ORDER_PAGES
            )
        except SourceError as exc:
            fail(f"trader {trader.id}: order history unavailable: {exc.reason}")
        balance = None
        try:
            detail = await read_detail(source, trader.id)
            balance = detail.margin_balance
            if detail.stopped:
                notes.append(
                    f"the lead portfolio is {detail.status} now: the bot would open nothing"
                    " new for this trader today (closes are still mirrored)"
                )
        except SourceError as exc:
            notes.append(f"lead-portfolio detail unavailable ({exc.reason}): balance unknown")
        lots, lots_complete = None, False
        try:
            lots, lots_complete = await read_lots(source, trader.id, max_pages=LOT_PAGES)
        except SourceError as exc:
            notes.append(f"position history unavailable ({exc.reason}): opening book unchecked")
    return _Read(result.snapshot.positions, orders, complete, lots, lots_complete, balance, notes)


async def _bybit_filters(settings: Settings) -> tuple[dict, str]:
    """Bybit's markets and where they came from (public: no keys)."""
    from lightspeed_cli.execution.ccxt_client import public_markets

    where = settings.bybit.base_url or f"Bybit {settings.bybit.network.value}"
    try:
        markets = await public_markets(settings.bybit, attempts=2, timeout_ms=10_000)
    except Exception as exc:
        fail(f"Bybit's market filters are unavailable from {where}: {exc}")
    return markets, f"{where} public instruments-info ({len(markets)} USDT perpetuals, no keys)"


def _equity(settings: Settings, mode: SizingMode, given: Decimal | None) -> tuple[Decimal, str]:
    """--equity; else 0 when the sizing needs none; else the account's own (keys set)."""
    if given is not None:
        return given, f"equity: {given:f} USDT (--equity)"
    if mode not in EQUITY_MODES:
        return Decimal(0), f"equity: not read ({mode.value} sizing needs none)"
    from lightspeed_cli.execution.base import BrokerError, BrokerStartError
    from lightspeed_cli.execution.bybit import BybitBroker

    try:
        broker = BybitBroker.from_settings(settings.bybit)
    except BrokerStartError:
        fail(
            f"sizing mode {mode.value} sizes by your equity: pass --equity USDT, or set"
            " your Bybit keys (`lightspeed keys set`) to read it",
            EXIT_USAGE,
        )

    async def read() -> Decimal:
        try:
            return await broker.equity_usdt()
        finally:
            await broker.aclose()

    try:
        value = asyncio.run(read())
    except BrokerError as exc:
        fail(f"cannot read your Bybit equity ({exc.message}): pass --equity USDT")
    return value, f"equity: {value:f} USDT (your Bybit account, {settings.bybit.network.value})"


def _money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _print(report: ForecastReport, days: int) -> None:
    from rich.table import Table

    console.print(
        f"[bold]Forecast for {report.trader}[/]: the last {days} day(s) replayed through your"
        f" settings ({report.sizing_mode.value} {report.sizing_value:f}); nothing was traded",
        highlight=False,
    )
    summary = Table(show_header=False)
    summary.add_column("what")
    summary.add_column("value", justify="right")
    changes = report.leader_changes
    rows = [
        ("Leader orders replayed", f"{report.leader_orders}"),
        ("Leader position changes", f"{changes}"),
        ("Copied", f"{report.copied}"),
        ("Refused", f"{report.refused}"),
        ("Not followed", f"{report.not_followed}"),
        ("Exposure error, mean", _pct(report.exposure_error_mean_pct)),
        ("Exposure error, max", _pct(report.exposure_error_max_pct)),
        ("Follower realized PnL (USDT)", _money(report.follower_realized_pnl_usdt)),
        (
            f"Fees at {(report.fee_rate * 100).normalize():f} % (USDT)",
            _money(report.follower_fees_usdt),
        ),
        ("Follower net PnL (USDT)", _money(report.follower_net_pnl_usdt)),
        ("Follower unrealized PnL (USDT)", _money(report.follower_unrealized_pnl_usdt)),
        ("Leader realized PnL (USDT)", _money(report.leader_realized_pnl_usdt)),
        ("Leader balance (USDT)", _money(report.leader_balance_usdt)),
    ]
    for name, value in rows:
        summary.add_row(name, value)
    console.print(summary)
    reasons = {**report.refused_by_reason, **report.not_followed_by_reason}
    if reasons:
        table = Table(title="Not copied, by reason")
        table.add_column("Reason")
        table.add_column("Changes", justify="right")
        table.add_column("Example")
        for check, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
            example = next(c for c in report.changes if c.check == check)
            what = f"{example.symbol} {example.kind.value}: {example.reason}"
            table.add_row(check, str(count), what)
        console.print(table)
    console.print(f"filters: {report.filters_from}", highlight=False)
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)


def _pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.2f} %"
