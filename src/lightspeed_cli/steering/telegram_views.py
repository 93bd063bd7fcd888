"""The plain-text answers the Telegram commands send: pure functions of journal rows.

Plain text on purpose (no Markdown): symbols and reasons carry characters Telegram's Markdown
would take for markup, and a message refused for bad markup is a message lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from lightspeed_cli.config.settings import Settings
from lightspeed_cli.models import FollowerPosition, MirroredPosition, Side

HELP = """LightSpeed commands
/status - traders, open positions, today's PnL, paused or not
/positions - open mirrored positions with unrealised PnL
/pnl [days] - realised PnL per day (default 7)
/history [n] - the last n signals and what was done (default 10)
/pause - no new positions; closes and reduces still mirror
/resume - allow new positions again
/closeall - close every position the bot holds (asks first), then pause
/traders - the traders followed and their last read
/help - this list"""


def _money(value: Decimal) -> str:
    return f"{value:+.2f}"


def _ago(moment: str | datetime | None, now: datetime) -> str:
    if not moment:
        return "never"
    at = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    seconds = int((now - at.astimezone(UTC)).total_seconds())
    if seconds < 120:
        return f"{max(seconds, 0)} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def unrealised(m: MirroredPosition, bybit: Mapping[tuple[str, Side], FollowerPosition]) -> str:
    """This trader's share of a Bybit position, valued at Bybit's mark price."""
    on_bybit = bybit.get((m.symbol, m.side))
    if on_bybit is None or on_bybit.mark_price <= 0:
        return "uPnL n/a"
    direction = 1 if m.side is Side.LONG else -1
    return f"uPnL {_money((on_bybit.mark_price - m.entry_price) * m.quantity * direction)}"


def positions_text(
    held: Sequence[MirroredPosition],
    bybit: Mapping[tuple[str, Side], FollowerPosition] | None,
    labels: Mapping[str, str],
) -> str:
    if not held:
        return "No open mirrored positions."
    lines = [f"Open positions ({len(held)}):"]
    for m in held:
        pnl = unrealised(m, bybit) if bybit is not None else "uPnL n/a (Bybit not readable)"
        who = labels.get(m.trader) or m.trader
        lines.append(f"{m.symbol} {m.side.value} {m.quantity} @ {m.entry_price} · {pnl} · {who}")
    return "\n".join(lines)


def traders_lines(
    settings: Settings, states: Iterable[Mapping[str, Any]], now: datetime
) -> list[str]:
    by_id = {s["trader"]: s for s in states}
    lines = []
    for t in settings.traders:
        state = by_id.get(t.id, {})
        name = f"{t.label} ({t.id})" if t.label else t.id
        if not t.enabled:
            lines.append(f"{name}: disabled")
            continue
        status = state.get("last_status") or "not read yet"
        good = _ago(state.get("last_ok_at"), now)
        reason = f" - {state['last_reason']}" if state.get("last_reason") else ""
        lines.append(f"{name}: {status}{reason}; last good read {good}")
    return lines


def status_text(
    *,
    mode: str,
    pause: str,
    traders: list[str],
    positions: str,
    realised_today: Decimal,
) -> str:
    return "\n".join(
        [
            f"LightSpeed {mode} · opens {pause}",
            "",
            "Traders:",
            *traders,
            "",
            positions,
            "",
            f"Realised PnL today (UTC): {_money(realised_today)} USDT",
        ]
    )


def pnl_text(days: Sequence[tuple[str, Decimal]]) -> str:
    total = sum((v for _, v in days), Decimal(0))
    lines = [f"Realised PnL, last {len(days)} day(s) (UTC):"]
    lines += [f"{day}: {_money(value)} USDT" for day, value in days]
    lines.append(f"Total: {_money(total)} USDT")
    return "\n".join(lines)


def history_text(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "No signals yet."
    lines = [f"Last {len(rows)} signal(s):"]
    for r in rows:
        at = str(r.get("created_at") or "")[11:19]
        head = f"{at} {r['trader'][-6:]} {r['kind']} {r['symbol']} {r['side']}"
        decision = str(r["decision"])
        if r.get("fill_qty"):
            decision += f" {r['fill_qty']} @ {r['fill_price']}"
        elif r.get("check_name"):
            decision += f" ({r['check_name']})"
        elif r.get("reason"):
            decision += f" ({r['reason']})"
        lines.append(f"{head} -> {decision}")
    return "\n".join(lines)
