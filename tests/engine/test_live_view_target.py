"""The live view of `run` says which network, paper or live, and the account (views/target)."""

from __future__ import annotations

from rich.console import Console

from lightspeed_cli.views.live import render


async def test_the_live_view_says_where_it_trades(make_rig) -> None:
    rig = await make_rig()
    console = Console(width=220, record=True)
    console.print(render(rig.engine, rig.engine.settings, "valid"))
    text = console.export_text()
    network = rig.engine.settings.bybit.network.value.upper()
    assert "trading on" in text and f"Bybit {network}, LIVE (real orders)" in text
