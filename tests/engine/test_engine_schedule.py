"""The engine reads its traders on the budget schedule (sources/schedule.py) against the fake
Binance: evenly, never over the budget, and says so in `status`."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from rich.console import Console

from lightspeed_cli.config.sections import TraderSettings
from lightspeed_cli.sources.schedule import SCHEDULE_META_KEY
from lightspeed_cli.views.status import status_group

TRADERS = [f"{4_100_000_000_000_000_000 + i}" for i in range(4)]


async def test_budget_mode_reads_every_trader_evenly_within_the_budget(make_rig) -> None:
    rig = await make_rig(polling={"mode": "budget", "requests_per_second": 20})
    rig.engine.settings.traders = [TraderSettings(id=t) for t in TRADERS]
    for trader in TRADERS:
        rig.binance.clear_positions(trader)
    rig.binance.clear_log()
    stop = asyncio.Event()
    run = asyncio.create_task(rig.engine.run(stop))
    while rig.binance.request_count() < 40:  # 2 s at 20/s; bounded by the test timeout
        await asyncio.sleep(0.05)
    stop.set()
    assert await asyncio.wait_for(run, timeout=10) == 0

    requests = rig.binance.requests()
    counts = Counter(r.trader for r in requests)
    assert set(counts) == set(TRADERS)
    # round robin: evenly spread (2, not 1: a poll slowed by a loaded machine is read late)
    assert max(counts.values()) - min(counts.values()) <= 2
    times = [r.at for r in requests]
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 20 + 1  # + 1: arrival jitter at the server; the pure slots are exact

    state = json.loads(rig.engine.journal.meta(SCHEDULE_META_KEY))
    assert state["mode"] == "budget" and state["traders"] == 4
    # 4 traders / 19 per second: copy-trade leaders keep 1 of the 20 for their portfolio reads
    assert state["interval_seconds"] == round(4 / 19, 4)
    assert [(e["budget"], e["ceiling"], e["cuts"]) for e in state["exits"]] == [(20, 20, 0)]
    console = Console(width=160, record=True)
    console.print(
        status_group(rig.engine.journal, {}, rig.engine.settings.safety.daily_loss_limit_usdt, "ok")
    )
    text = console.export_text()
    assert f"budget mode, each of 4 trader(s) every {round(4 / 19, 4):g} s" in text
    assert "20/20 req/s" in text


async def test_fixed_mode_reads_each_trader_every_interval(make_rig) -> None:
    rig = await make_rig(polling={"mode": "fixed", "interval_seconds": 0.5})
    rig.engine.settings.traders = [TraderSettings(id=t) for t in TRADERS[:2]]
    for trader in TRADERS[:2]:
        rig.binance.clear_positions(trader)
    rig.binance.clear_log()
    stop = asyncio.Event()
    run = asyncio.create_task(rig.engine.run(stop))
    while rig.binance.request_count() < 4:
        await asyncio.sleep(0.05)
    stop.set()
    assert await asyncio.wait_for(run, timeout=10) == 0
    state = json.loads(rig.engine.journal.meta(SCHEDULE_META_KEY))
    assert (state["mode"], state["interval_seconds"]) == ("fixed", 0.5)
    counts = Counter(r.trader for r in rig.binance.requests())
    assert set(counts) == set(TRADERS[:2]) and max(counts.values()) - min(counts.values()) <= 1
