"""What the pages show, read from the journal through its public methods only.

A fresh Journal per request (SQLite in WAL mode: readers never block the running bot).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from lightspeed_cli.config.choices import SizingMode
from lightspeed_cli.config.settings import Settings
from lightspeed_cli.decisions.edge import (
    Change,
    EdgeBreakdown,
    Outcome,
    PnlPoint,
    edge_breakdown,
    pnl_over_time,
)
from lightspeed_cli.decisions.fidelity import leader_change_time
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.models import Side, SignalKind
from lightspeed_cli.views.status import status_data

HISTORY_LIMIT = 20_000  # signals per trader page: months of a busy trader


@contextmanager
def open_journal(path: Path) -> Iterator[Journal | None]:
    """The journal, or None while nothing has run (the file is never created from here)."""
    if not path.exists():
        yield None
        return
    with Journal(path) as journal:
        yield journal


def labels(settings: Settings) -> dict[str, str]:
    return {t.id: t.label for t in settings.traders}


def overview(
    journal: Journal, settings: Settings, license_info: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """`status --json`'s facts (views/status.py): one source for the terminal and the page."""
    return status_data(
        journal,
        labels(settings),
        settings.safety.daily_loss_limit_usdt,
        license_info,
        now=now,
        blind_after=settings.notify.blind_after_seconds,
    )


def _dec(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _change_time(row: dict[str, Any]) -> datetime:
    """When the leader changed (fidelity's rule: the source's time unless it is skewed)."""
    seen = datetime.fromisoformat(row["snapshot_time"] or row["created_at"])
    source = row.get("source_time")
    return leader_change_time(seen, datetime.fromisoformat(source) if source else None)


_OUTCOMES = {"executed": Outcome.EXECUTED, "refused": Outcome.REFUSED}


def change_of(row: dict[str, Any]) -> Change | None:
    """One history row as an edge Change; None when no price for the leader's change is known
    (its fill from order-history, the mark at the signal, or at worst our own fill price)."""
    fill_qty, fill_price = _dec(row.get("fill_qty")), _dec(row.get("fill_price"))
    price = _dec(row.get("leader_fill_price")) or _dec(row.get("leader_price")) or fill_price
    if price is None or price <= 0:
        return None
    outcome = _OUTCOMES.get(row["decision"], Outcome.MISSED)
    if outcome is Outcome.EXECUTED and not (fill_qty and fill_price):
        outcome = Outcome.MISSED
    return Change(
        at=_change_time(row),
        symbol=row["symbol"],
        side=Side(row["side"]),
        kind=SignalKind(row["kind"]),
        previous_size=Decimal(row["previous_size"]),
        new_size=Decimal(row["new_size"]),
        leader_price=price,
        outcome=outcome,
        ordered_qty=_dec(row.get("quantity")),
        fill_qty=fill_qty,
        fill_price=fill_price,
        fee=_dec(row.get("fee")) or Decimal(0),
    )


def intended_ratio(settings: Settings, trader: str, changes: list[Change]) -> tuple[Decimal, bool]:
    """(ratio, configured): the configured ratio in ratio mode, else the median of what was
    ordered over the leader's change (the other modes have no fixed ratio)."""
    sizing = settings.sizing
    override = next((t.sizing for t in settings.traders if t.id == trader), None)
    mode = (override.mode if override and override.mode else None) or sizing.mode
    if mode is SizingMode.RATIO:
        value = (override.value if override and override.value else None) or sizing.value
        return value, True
    seen = [
        c.ordered_qty / abs(c.new_size - c.previous_size)
        for c in changes
        if c.ordered_qty
        and c.kind in (SignalKind.OPEN, SignalKind.INCREASE)
        and c.new_size != c.previous_size
    ]
    return (statistics.median(seen) if seen else Decimal(0)), False


@dataclass
class TraderPage:
    trader: str
    label: str
    ratio: Decimal
    ratio_configured: bool
    edge: EdgeBreakdown
    points: list[PnlPoint]
    unpriced: int
    slippage_bps: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)


def trader_page(journal: Journal, settings: Settings, trader: str) -> TraderPage:
    rows = journal.history(trader=trader, limit=HISTORY_LIMIT)
    changes = [c for c in (change_of(r) for r in rows) if c is not None]
    ratio, configured = intended_ratio(settings, trader, changes)
    outcomes: dict[str, int] = {}
    for r in rows:
        outcomes[r["decision"]] = outcomes.get(r["decision"], 0) + 1
    return TraderPage(
        trader=trader,
        label=labels(settings).get(trader, ""),
        ratio=ratio,
        ratio_configured=configured,
        edge=edge_breakdown(changes, ratio),
        points=pnl_over_time(changes, ratio),
        unpriced=len(rows) - len(changes),
        slippage_bps=[float(r["slippage_bps"]) for r in rows if r.get("slippage_bps") is not None],
        latency_ms=[
            float(r["detection_latency_ms"])
            for r in rows
            if r.get("detection_latency_ms") is not None
        ],
        outcomes=outcomes,
    )


def known_traders(journal: Journal, settings: Settings) -> list[str]:
    """Configured traders, then any the journal still has state for."""
    configured = [t.id for t in settings.traders]
    seen = [s["trader"] for s in journal.trader_states() if s["trader"] not in configured]
    return configured + seen


def utcnow() -> datetime:
    return datetime.now(UTC)
