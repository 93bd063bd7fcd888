"""Rich renderings of the journal, shared by `status` and the live view of `run`, and the same
facts as plain data for `status --json`."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from lightspeed_cli.journal.store import Journal, utc_day


def _age(moment: str | None, now: datetime) -> str:
    if not moment:
        return "never"
    seconds = (now - datetime.fromisoformat(moment)).total_seconds()
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def good_read_cell(last_ok: datetime | str | None, now: datetime, blind_after: float) -> str:
    """Time since the trader's last good read; red past `notify.blind_after_seconds` (the bot
    is blind to that trader: its closes would not be mirrored)."""
    if isinstance(last_ok, str):
        last_ok = datetime.fromisoformat(last_ok)
    if last_ok is None:
        return "[red]never[/]"
    seconds = (now - last_ok).total_seconds()
    text = _age(last_ok.isoformat(), now)
    return f"[bold red]{text} BLIND[/]" if seconds > blind_after else text


def trader_rows(journal: Journal, labels: dict[str, str]) -> list[dict[str, Any]]:
    """The configured traders with their last poll; a trader removed from the config is listed
    only while the bot still holds a mirrored position for it (status `removed`)."""
    states = {s["trader"]: s for s in journal.trader_states()}
    holding = {m.trader for m in journal.mirrored_positions()}
    rows = []
    for trader in sorted(set(labels) | (holding - set(labels))):
        s = states.get(trader, {})
        rows.append(
            {
                "id": trader,
                "label": labels.get(trader, ""),
                "last_poll_at": s.get("last_poll_at"),
                "last_ok_at": s.get("last_ok_at"),
                "status": s.get("last_status") if trader in labels else "removed",
                "reason": s.get("last_reason") or "",
            }
        )
    return rows


def traders_table(
    journal: Journal, labels: dict[str, str], now: datetime, blind_after: float = 60
) -> Table:
    table = Table(title="Traders", expand=False)
    for col in ("trader", "label", "last poll", "last good read", "status", "reason"):
        table.add_column(col)
    for row in trader_rows(journal, labels):
        status = row["status"] or "-"
        style = {"ok": "green", "hidden": "yellow", "error": "red", "removed": "yellow"}
        color = style.get(status, "")
        table.add_row(
            row["id"],
            row["label"],
            _age(row["last_poll_at"], now),
            good_read_cell(row["last_ok_at"], now, blind_after),
            f"[{color}]{status}[/]" if color else status,
            row["reason"],
        )
    return table


def schedule_view(journal: Journal) -> Group | None:
    """How often traders are read and each exit's request budget (cut after a 429 / 418), as
    the running bot last reported it; None before any run."""
    from rich.text import Text

    from lightspeed_cli.sources.schedule import SCHEDULE_META_KEY, ScheduleState

    raw = journal.meta(SCHEDULE_META_KEY)
    if raw is None:
        return None
    try:
        state = ScheduleState.model_validate_json(raw)
    except ValueError:
        return None
    polled = (
        f"Polling: {state.mode.value} mode, each of {state.traders} trader(s) every"
        f" {state.interval_seconds:g} s"
        if state.traders
        else "Polling: none"
    )
    pushed = f"; pushed: {state.pushed} wallet(s) on the Hyperliquid socket" if state.pushed else ""
    line = Text(polled + pushed)
    table = Table(title="Request budget per exit")
    for col in ("exit", "budget", "cuts", "state"):
        table.add_column(col)
    for e in state.exits:
        if e.blocked_for_seconds > 0:
            what = f"[red]blocked {e.blocked_for_seconds:.0f} s more[/]: {e.reason}"
        elif e.budget < e.ceiling:
            what = f"[yellow]cut, recovering[/]: {e.reason}"
        else:
            what = "[green]ok[/]"
        table.add_row(e.name, f"{e.budget:g}/{e.ceiling:g} req/s", str(e.cuts), what)
    return Group(line, table)


def positions_table(journal: Journal) -> Table:
    table = Table(title="Open mirrored positions")
    for col in ("trader", "symbol", "side", "quantity", "entry", "since"):
        table.add_column(col)
    for m in journal.mirrored_positions():
        table.add_row(
            m.trader,
            m.symbol,
            m.side.value,
            str(m.quantity),
            str(m.entry_price),
            m.opened_at.strftime("%Y-%m-%d %H:%M"),
        )
    return table


def fidelity_today(journal: Journal, now: datetime) -> dict[str, Any]:
    """Today's median and worst slippage (bps) and detection latency (ms)."""
    start = datetime.fromisoformat(utc_day(now)).replace(tzinfo=UTC)
    rows = journal.filled_orders_since(start)
    slips = [float(r.slippage_bps) for r in rows if r.slippage_bps is not None]
    lats = [r.detection_latency_ms for r in rows if r.detection_latency_ms is not None]
    return {
        "fills": len(rows),
        # slippage and latency of these were measured against the leader's own fill
        "leader_fills": sum(1 for r in rows if r.leader_fill_price is not None),
        "slippage_median_bps": statistics.median(slips) if slips else None,
        "slippage_worst_bps": max(slips) if slips else None,
        "latency_median_ms": statistics.median(lats) if lats else None,
        "latency_worst_ms": max(lats) if lats else None,
    }


def summary_table(
    journal: Journal,
    now: datetime,
    daily_loss_limit: Decimal,
    license_line: str | Text,
    target: Text | None = None,
) -> Table:
    pnl = journal.realized_pnl(utc_day(now))
    kill = -pnl >= daily_loss_limit
    fid = fidelity_today(journal, now)
    table = Table(show_header=False, title="Today (UTC)")
    table.add_column("what")
    table.add_column("value")
    if target is not None:  # views/target.py: network, paper or live, account
        table.add_row("trading on", target)
    table.add_row("license", license_line)
    table.add_row("realized PnL", f"{pnl:+.2f} USDT")
    table.add_row(
        "kill switch",
        f"[red]ON[/]: daily loss {-pnl:.2f} ≥ {daily_loss_limit} USDT; no new opens until 00:00 UTC"
        if kill
        else f"off (limit {daily_loss_limit} USDT)",
    )
    table.add_row("fills", str(fid["fills"]))
    if fid["slippage_median_bps"] is not None:
        median, worst = fid["slippage_median_bps"], fid["slippage_worst_bps"]
        table.add_row("slippage", f"median {median:.1f} bps, worst {worst:.1f} bps")
    if fid["latency_median_ms"] is not None:
        table.add_row(
            "detection latency",
            f"median {fid['latency_median_ms']:.0f} ms, worst {fid['latency_worst_ms']:.0f} ms",
        )
    if fid["fills"]:
        table.add_row(
            "measured against",
            f"the leader's own fill (order-history or pushed) for {fid['leader_fills']} of"
            f" {fid['fills']}"
            " fills; the rest against the leader's snapshot",
        )
    return table


def events_table(events: Iterable[dict[str, Any]]) -> Table:
    table = Table(title="Last events")
    table.add_column("at")
    table.add_column("level")
    table.add_column("message")
    for e in events:
        table.add_row(e["at"][11:19], e["level"], e["message"])
    return table


def status_group(
    journal: Journal,
    labels: dict[str, str],
    daily_loss_limit: Decimal,
    license_line: str | Text,
    now: datetime | None = None,
    blind_after: float = 60,
    target: Text | None = None,
) -> Group:
    now = now or datetime.now(UTC)
    schedule = schedule_view(journal)
    return Group(
        summary_table(journal, now, daily_loss_limit, license_line, target),
        traders_table(journal, labels, now, blind_after),
        *([schedule] if schedule is not None else []),
        positions_table(journal),
        events_table(journal.recent_events(8)),
    )


def status_data(
    journal: Journal,
    labels: dict[str, str],
    daily_loss_limit: Decimal,
    license_info: dict[str, Any],
    now: datetime | None = None,
    blind_after: float = 60,
) -> dict[str, Any]:
    """`status --json`: what `status` shows, as data (keys documented in the README)."""
    now = now or datetime.now(UTC)
    traders = trader_rows(journal, labels)
    for row in traders:  # blind: no good read for longer than notify.blind_after_seconds
        last_ok = row["last_ok_at"]
        age = (now - datetime.fromisoformat(last_ok)).total_seconds() if last_ok else None
        row["blind"] = age is None or age > blind_after
    pnl = journal.realized_pnl(utc_day(now))
    fid = fidelity_today(journal, now)
    return {
        "license": license_info,
        "day": utc_day(now),
        "realized_pnl_usdt": pnl,
        "kill_switch": {"on": -pnl >= daily_loss_limit, "daily_loss_limit_usdt": daily_loss_limit},
        "fills": fid["fills"],
        "slippage_bps": {"median": fid["slippage_median_bps"], "worst": fid["slippage_worst_bps"]},
        "detection_latency_ms": {
            "median": fid["latency_median_ms"],
            "worst": fid["latency_worst_ms"],
        },
        "traders": traders,
        "positions": [
            {
                "trader": m.trader,
                "symbol": m.symbol,
                "side": m.side.value,
                "quantity": m.quantity,
                "entry_price": m.entry_price,
                "opened_at": m.opened_at,
            }
            for m in journal.mirrored_positions()
        ],
        "events": [
            {"at": e["at"], "level": e["level"], "message": e["message"]}
            for e in journal.recent_events(8)
        ],
    }
