"""`lightspeed history` renderings: a table when the terminal is wide, one block per signal when
it is narrow (80 columns), CSV and JSON records with the same stable keys."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

HISTORY_COLUMNS = (
    "created_at",
    "trader",
    "kind",
    "symbol",
    "side",
    "previous_size",
    "new_size",
    "decision",
    "check_name",
    "reason",
    "bybit_symbol",
    "quantity",
    "fill_qty",
    "fill_price",
    "fee",
    "slippage_bps",
    "detection_latency_ms",
    "client_order_id",
    "repeats",
    "last_seen_at",
)
WIDE_COLUMNS = 120  # below this the table's 12 columns wrap into unreadable slivers


def history_records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The journal rows reduced to HISTORY_COLUMNS (the CSV header and the JSON keys)."""
    return [{k: r.get(k) for k in HISTORY_COLUMNS} for r in rows]


def _when(r: dict[str, Any]) -> str:
    return str(r.get("created_at"))[:19].replace("T", " ")


def _slip(r: dict[str, Any]) -> str:
    value = r.get("slippage_bps")
    return "" if value is None else f"{Decimal(value):.1f}"


def _latency(r: dict[str, Any]) -> str:
    value = r.get("detection_latency_ms")
    return "" if value is None else f"{value:.0f}"


def _reason(r: dict[str, Any]) -> str:
    said = ": ".join(x for x in (r.get("check_name"), r.get("reason")) if x)
    if r.get("repeats"):  # the same refusal, poll after poll: one row that counts them
        said += f" (again ×{r['repeats']}, last {str(r.get('last_seen_at'))[:19]})"
    return said


def _size(r: dict[str, Any]) -> str:
    return f"{r['previous_size']} → {r['new_size']}"


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def history_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="History")
    for title in (
        "time",
        "trader",
        "signal",
        "symbol",
        "side",
        "size",
        "decision",
        "qty",
        "fill",
        "slip bps",
        "latency ms",
        "reason",
    ):
        table.add_column(title)
    for r in rows:
        table.add_row(
            _when(r),
            _cell(r.get("trader")),
            _cell(r.get("kind")),
            _cell(r.get("symbol")),
            _cell(r.get("side")),
            _size(r),
            _cell(r.get("decision")),
            _cell(r.get("fill_qty")),
            _cell(r.get("fill_price")),
            _slip(r),
            _latency(r),
            Text(_reason(r)),
        )
    return table


def history_blocks(rows: list[dict[str, Any]], labels: dict[str, str]) -> Group:
    """One short block per signal: readable at 80 columns, every field of the table kept."""
    parts: list[RenderableType] = [Text("History", style="bold")]
    for r in rows:
        trader = labels.get(r.get("trader") or "") or _cell(r.get("trader"))
        head = Text(f"{_when(r)}  ", style="dim")
        head.append(f"{r.get('kind')} {r.get('side')} {r.get('symbol')}", style="bold")
        head.append(f"  {_size(r)}  {trader}")
        parts.append(head)
        outcome = f"  {r.get('decision')}"
        if r.get("fill_qty") is not None:
            outcome += f": {r['fill_qty']} @ {_cell(r.get('fill_price'))}"
        extras = [
            f"slippage {_slip(r)} bps" if _slip(r) else "",
            f"latency {_latency(r)} ms" if _latency(r) else "",
        ]
        outcome += "".join(f", {e}" for e in extras if e)
        parts.append(Text(outcome))
        if _reason(r):
            parts.append(Text(f"  {_reason(r)}"))
    return Group(*parts)


def history_view(rows: list[dict[str, Any]], labels: dict[str, str], width: int) -> RenderableType:
    return history_table(rows) if width >= WIDE_COLUMNS else history_blocks(rows, labels)


def history_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HISTORY_COLUMNS)
    writer.writeheader()
    writer.writerows(history_records(rows))
    return out.getvalue()
