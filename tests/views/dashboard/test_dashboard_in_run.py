"""`run --dashboard`: the dashboard inside the running bot (the fakes' simulation), its pages
and /metrics while the bot trades, and pause / resume through the bot's own control door."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from lightspeed_cli.views.dashboard.tokens import CONTROL_TOKEN_FILE, READ_TOKEN_FILE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _probe(data_dir: Path, port: int, seen: dict[str, Any]) -> None:
    base = f"http://127.0.0.1:{port}"
    while not (data_dir / CONTROL_TOKEN_FILE).exists():
        await asyncio.sleep(0.1)
    read = (data_dir / READ_TOKEN_FILE).read_text().strip()
    control = (data_dir / CONTROL_TOKEN_FILE).read_text().strip()
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            try:
                async with http.get(f"{base}/") as resp:
                    seen["no token"] = resp.status
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
        await asyncio.sleep(4)  # let the bot mirror a few changes
        auth = {"Authorization": f"Bearer {read}"}
        async with http.get(f"{base}/", headers=auth) as resp:
            seen["overview"] = (resp.status, await resp.text())
        async with http.get(f"{base}/metrics", headers=auth) as resp:
            seen["metrics"] = await resp.text()
        steer = {"Authorization": f"Bearer {control}"}
        for command in ("pause", "resume"):
            async with http.post(
                f"{base}/control/{command}", data={"confirm": command}, headers=steer
            ) as resp:
                seen[command] = (resp.status, await resp.text())


async def test_run_serves_the_dashboard_beside_the_bot(tmp_path: Path) -> None:
    from lightspeed_cli.runner import run_bot
    from lightspeed_cli.sim.simulate import run_simulation

    port, seen = _free_port(), {}
    probes: list[asyncio.Task[None]] = []

    async def bot(settings: Any, options: Any, _config: Path) -> int:
        settings.dashboard.port = port
        settings.dashboard.control = True
        data_dir = settings.storage.resolved_data_dir()
        probes.append(asyncio.create_task(_probe(data_dir, port, seen)))
        return await run_bot(settings, dataclasses.replace(options, dashboard=True))

    result = await run_simulation(12, data_dir=tmp_path, bot_runner=bot)
    await asyncio.wait_for(probes[0], 5)
    assert result.exit_code == 0
    assert seen["no token"] == 401
    status, page = seen["overview"]
    assert status == 200 and "Open mirrored positions" in page
    families = {f.name: f for f in text_string_to_metric_families(seen["metrics"])}
    executed = [
        s.value
        for s in families["lightspeed_orders"].samples
        if s.labels.get("outcome") == "executed"
    ]
    assert executed and executed[0] > 0
    assert seen["pause"][0] == 200 and "the running bot" not in seen["pause"][1]
    assert "paused" in seen["pause"][1].lower()
    assert seen["resume"][0] == 200 and "resumed" in seen["resume"][1].lower()
