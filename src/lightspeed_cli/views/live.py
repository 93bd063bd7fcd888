"""The rich live view of `lightspeed run` on a terminal (systemd gets plain log lines instead)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from lightspeed_cli.config.settings import Settings
from lightspeed_cli.engine.loop import Engine
from lightspeed_cli.views.status import good_read_cell, positions_table, summary_table
from lightspeed_cli.views.target import target_text


def _traders(engine: Engine, now: datetime) -> Table:
    table = Table(title=f"LightSpeed — {engine.view.polls} polls, {engine.view.orders_sent} orders")
    for col in ("trader", "label", "last poll", "last good read", "status", "reason"):
        table.add_column(col)
    blind_after = engine.settings.notify.blind_after_seconds
    for tv in engine.view.traders.values():
        age = f"{(now - tv.last_poll_at).total_seconds():.1f}s" if tv.last_poll_at else "-"
        good = good_read_cell(tv.last_ok_at, now, blind_after)
        table.add_row(tv.trader, tv.label, age, good, tv.last_status, tv.last_reason[:60])
    return table


def _events(engine: Engine) -> Table:
    table = Table(title="Last events")
    table.add_column("at")
    table.add_column("message")
    for e in engine.view.events[-8:]:
        color = {"error": "red", "warning": "yellow"}.get(e.level, "")
        table.add_row(e.at.strftime("%H:%M:%S"), f"[{color}]{e.message}[/]" if color else e.message)
    return table


def render(engine: Engine, settings: Settings, license_label: str) -> Group:
    now = datetime.now(UTC)
    license_line: str | Text = license_label
    if engine.license is not None:
        from lightspeed_cli.license.gate import license_text

        license_line = license_text(engine.license.state())
    from lightspeed_cli.execution.paper import PaperBroker

    target = target_text(settings, paper=isinstance(engine.broker, PaperBroker))
    limit = settings.safety.daily_loss_limit_usdt
    return Group(
        _traders(engine, now),
        positions_table(engine.journal),
        summary_table(engine.journal, now, limit, license_line, target),
        _events(engine),
    )


async def run_with_live_view(
    engine: Engine,
    stop: asyncio.Event,
    settings: Settings,
    license_label: str,
    console: Console | None = None,
) -> int:
    task = asyncio.create_task(engine.run(stop))
    view = render(engine, settings, license_label)
    with Live(view, console=console, refresh_per_second=2, transient=False) as live:
        while not task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout=0.5)
            live.update(render(engine, settings, license_label))
    return task.result()
