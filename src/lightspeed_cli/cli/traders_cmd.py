"""`lightspeed traders ...`: the lead traders to follow (`[[traders]]` in the config file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from lightspeed_cli.cli.common import EXIT_USAGE, config_path, console, fail
from lightspeed_cli.cli.config_cmd import edit, load_or_fail
from lightspeed_cli.cli.output import emit_json, json_option

app = typer.Typer(
    help="Add, remove, list and check the lead traders you follow.", no_args_is_help=True
)


def _guess_source(trader_id: str) -> str:
    """copytrade for a digits-only lead portfolio id, leaderboard for a 32-hex encryptedUid,
    hyperliquid for a wallet address (0x + 40 hex)."""
    from lightspeed_cli.config.sections import is_wallet_address

    if trader_id.isdigit():
        return "copytrade"
    if len(trader_id) == 32 and all(c in "0123456789abcdefABCDEF" for c in trader_id):
        return "leaderboard"
    if is_wallet_address(trader_id):
        return "hyperliquid"
    fail(
        f"trader {trader_id!r}: cannot tell its source; a copytrade id is the lead portfolio id"
        " (digits), a leaderboard id the 32-hex-char encryptedUid, a hyperliquid id the wallet"
        " address (0x + 40 hex); pass --source",
        EXIT_USAGE,
    )


def _sizing_override(
    ratio: str | None,
    mode: str | None,
    value: str | None,
    leverage: str | None,
    max_order_notional: str | None,
) -> dict[str, Any]:
    """The `[traders.sizing]` table from the options, values typed like `config set` does."""
    from lightspeed_cli.config.keys import lookup, parse_cli_value
    from lightspeed_cli.config.sections import TraderSettings
    from lightspeed_cli.config.settings import ConfigError

    if ratio is not None:
        if mode not in (None, "ratio") or value is not None:
            fail("--ratio R is short for --sizing-mode ratio --sizing-value R", EXIT_USAGE)
        mode, value = "ratio", ratio
    raw = {"mode": mode, "value": value, "leverage": leverage}
    raw["max_order_notional_usdt"] = max_order_notional
    sizing: dict[str, Any] = {}
    for key, text in raw.items():
        if text is None:
            continue
        try:
            sizing[key] = parse_cli_value(lookup(f"sizing.{key}", TraderSettings), text)
        except ConfigError as exc:
            fail(f"--{key.replace('_', '-')}: {exc}", EXIT_USAGE)
    return sizing


@app.command("add")
def add_cmd(
    ctx: typer.Context,
    trader_id: str = typer.Argument(
        ...,
        metavar="ID",
        help="Lead portfolio id (digits), leaderboard encryptedUid (32 hex) or Hyperliquid"
        " wallet (0x + 40 hex).",
    ),
    source: str | None = typer.Option(
        None,
        "--source",
        help="copytrade, leaderboard or hyperliquid (default: guessed from the id).",
        show_default=False,
    ),
    label: str = typer.Option("", "--label", help="Your name for this trader."),
    ratio: str | None = typer.Option(
        None, "--ratio", help="Shorthand: size at this multiple of the trader's size."
    ),
    sizing_mode: str | None = typer.Option(
        None,
        "--sizing-mode",
        help="Override [sizing] mode: ratio, fixed_margin, equity_pct or leader_equity.",
    ),
    sizing_value: str | None = typer.Option(
        None, "--sizing-value", help="Override [sizing] value (multiplier, USDT or percent)."
    ),
    leverage: str | None = typer.Option(
        None, "--leverage", help="Leverage for this trader's positions (0 = the trader's own)."
    ),
    max_order_notional: str | None = typer.Option(
        None, "--max-order-notional", help="Largest opening order for this trader, in USDT."
    ),
    disabled: bool = typer.Option(False, "--disabled", help="Add it paused (enabled = false)."),
) -> None:
    """Follow a lead trader: adds a [[traders]] table to the config file (checked first)."""
    from lightspeed_cli.config.editing import add_trader, trader_ids
    from lightspeed_cli.config.settings import ConfigError

    entry: dict[str, Any] = {"id": trader_id, "source": source or _guess_source(trader_id)}
    if label:
        entry["label"] = label
    if disabled:
        entry["enabled"] = False
    sizing = _sizing_override(ratio, sizing_mode, sizing_value, leverage, max_order_notional)
    if sizing:
        entry["sizing"] = sizing

    def change(doc: Any) -> None:
        if trader_id in trader_ids(doc):
            raise ConfigError(f"trader {trader_id!r} is already followed; remove it first")
        add_trader(doc, entry)

    settings = edit(ctx, change, "traders")
    trader = settings.trader(trader_id)
    assert trader is not None
    what = f"{trader.id} ({trader.source.value}{', ' + trader.label if trader.label else ''})"
    state = "" if trader.enabled else ", paused"
    console.print(
        f"Following {what}{state}: {len(settings.traders)} trader(s) in {config_path(ctx)}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@app.command("remove")
def remove_cmd(
    ctx: typer.Context,
    trader: str = typer.Argument(
        ..., metavar="ID|LABEL", help="The trader's id or its label (see `list`)."
    ),
) -> None:
    """Stop following a trader: removes its [[traders]] table from the config file.

    Positions already mirrored for it stay open on Bybit; close them there if you want out.
    """
    from lightspeed_cli.config.editing import remove_trader, trader_ids
    from lightspeed_cli.config.settings import ConfigError

    removed: list[str] = []

    def change(doc: Any) -> None:
        found = remove_trader(doc, trader)
        if found is None:
            ids = ", ".join(trader_ids(doc)) or "none"
            raise ConfigError(f"no trader {trader!r} in the file (followed: {ids})")
        removed.append(found)

    settings = edit(ctx, change, "traders")
    what = removed[0] + (f" ({trader})" if removed[0] != trader else "")
    console.print(
        f"Removed {what}: {len(settings.traders)} trader(s) left in {config_path(ctx)}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@app.command("list")
def list_cmd(ctx: typer.Context, as_json: bool = json_option()) -> None:
    """List followed traders with their source and the sizing that applies to each."""
    from rich.markup import escape
    from rich.table import Table

    from lightspeed_cli.config.keys import format_value

    path, settings = load_or_fail(ctx)
    rows = [_trader_record(t, settings) for t in settings.traders]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        console.print(
            f"No traders in {path}. Add one: lightspeed traders add <id> --label <name>",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        return
    table = Table(title=f"Traders: {path}", title_justify="left", highlight=False)
    for column in ("id", "source", "label", "enabled", "sizing"):
        table.add_column(column, overflow="fold")
    for row in rows:
        sizing = row["sizing"]
        text = f"{sizing['mode']} {format_value(sizing['value'])}"
        if sizing["leverage"]:
            text += f", {sizing['leverage']}x"
        text += " (own)" if sizing["own"] else " (global)"
        table.add_row(
            escape(row["id"]),
            row["source"],
            escape(row["label"]),
            "yes" if row["enabled"] else "paused",
            escape(text),
        )
    console.print(table)


def _trader_record(trader: Any, settings: Any) -> dict[str, Any]:
    """One trader as `traders list --json` gives it: the sizing that applies, and whose it is."""
    sizing = trader.effective_sizing(settings.sizing)
    return {
        "id": trader.id,
        "source": trader.source.value,
        "label": trader.label,
        "enabled": trader.enabled,
        "sizing": {
            "mode": sizing.mode.value,
            "value": sizing.value,
            "leverage": sizing.leverage,
            "own": bool(trader.sizing),
        },
    }


@app.command("check")
def check_cmd(
    ctx: typer.Context,
    trader_id: str = typer.Argument(..., metavar="ID", help="The trader's id."),
    source: str | None = typer.Option(
        None,
        "--source",
        help="copytrade, leaderboard or hyperliquid, for a trader that is not in the config.",
        show_default=False,
    ),
    as_json: bool = json_option(),
) -> None:
    """Fetch the trader's positions once and say whether they are readable (nothing traded)."""
    module = "lightspeed_cli.cli.traders_check"
    try:
        from lightspeed_cli.cli.traders_check import check
    except ImportError as exc:
        if exc.name != module:  # the module is there but broken: say so, loudly
            fail(f"`lightspeed traders check` cannot load: {exc}")
        fail("`lightspeed traders check` is not available yet in this version.")
    check(ctx, trader_id, source=_source_kind(source), as_json=as_json)


def _source_kind(source: str | None) -> Any:
    """--source as a SourceKind (None when not given); anything else exits 2."""
    if source is None:
        return None
    from lightspeed_cli.models import SourceKind

    try:
        return SourceKind(source)
    except ValueError:
        allowed = ", ".join(k.value for k in SourceKind)
        fail(f"--source {source!r}: must be one of {allowed}", EXIT_USAGE)


@app.command("forecast")
def forecast_cmd(
    ctx: typer.Context,
    trader_id: str = typer.Argument(..., metavar="ID", help="The lead portfolio id."),
    days: int = typer.Option(30, "--days", min=1, max=365, help="How far back to replay."),
    equity: str | None = typer.Option(
        None,
        "--equity",
        metavar="USDT",
        help="Your equity to size with (default: read from Bybit when keys are set).",
        show_default=False,
    ),
    plot: Path | None = typer.Option(
        None,
        "--plot",
        metavar="PATH",
        help="Also write a PNG of PnL and exposure (needs the `plot` extra: matplotlib).",
        show_default=False,
    ),
    source: str | None = typer.Option(
        None,
        "--source",
        help="copytrade or leaderboard, for a trader that is not in the config.",
        show_default=False,
    ),
    as_json: bool = json_option(),
) -> None:
    """Replay the leader's recent orders through your sizing, safety checks and Bybit's
    filters: what would have been copied, refused and why, the exposure error and the PnL.
    Nothing is traded."""
    from decimal import Decimal, InvalidOperation

    from lightspeed_cli.cli.forecast_cmd import run

    kind = _source_kind(source)
    amount = None
    if equity is not None:
        try:
            amount = Decimal(equity)
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite() or amount <= 0:
            fail(f"--equity {equity!r}: must be a positive number of USDT", EXIT_USAGE)
    run(ctx, trader_id, days=days, equity=amount, as_json=as_json, plot=plot, source=kind)
