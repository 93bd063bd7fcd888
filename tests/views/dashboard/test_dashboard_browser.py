"""The dashboard in a real headless Chromium, against journals the fakes and the hand scenario
wrote: the right figures on each page, no console error, usable at 1280 px and on a phone,
controls refused without the control token and acting with it. Screenshots of every page go
to $LIGHTSPEED_SCREENSHOTS (default /tmp/lightspeed-dashboard-screenshots), never the repo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dashboard_browser import Page, browser_page, chromium_binary
from dashboard_rig import HAND_EXPECTED, SHOTS, TRADER, Dashboard

from lightspeed_cli.steering.control import read_pause_state

PHONE = 390

pytestmark = pytest.mark.skipif(
    chromium_binary() is None,
    reason="Debian's chromium package is not installed (.ci/run installs it)",
)


async def _both_widths(page: Page, url: str, name: str) -> None:
    """Load at 1280 px and at a phone's width: no sideways scroll, no console error."""
    for width, label in ((1280, "desktop"), (PHONE, "phone")):
        await page.width(width, mobile=width == PHONE)
        await page.goto(url)
        assert not await page.overflows(width), f"{name} scrolls sideways at {width} px"
        await page.screenshot(SHOTS / f"{name}-{label}.png")
    assert page.console_errors == [], page.console_errors


async def test_overview_shows_the_journal(hand_board: Dashboard) -> None:
    async with browser_page() as page:
        await _both_widths(page, hand_board.at("/", hand_board.read_token), "overview")
        assert "token=" not in await page.js("location.href")  # traded for a cookie
        assert await page.text("mode") == "live"
        assert await page.text("license") == "CLOSING ONLY"  # no lease in this data dir
        assert "license activate" in (await page.text("license-detail") or "")
        assert await page.text("network") == "mainnet"
        assert await page.text("kill-switch") == "off"
        assert await page.text("opens") == "opens allowed"
        traders = await page.text("traders")
        assert TRADER in traders and "ok" in traders and "BLIND" not in traders
        positions = await page.text("positions")
        assert "XRPUSDT" in positions and "100" in positions  # the close that failed
        assert "a hand-written warning" in await page.text("events")
        # today's PnL is the journal's: fills' realized PnL net of fees
        pnl = await page.text("pnl-today")
        assert pnl is not None and pnl.endswith("USDT")


async def test_trader_page_shows_the_hand_computed_edge(hand_board: Dashboard) -> None:
    async with browser_page() as page:
        await page.goto(hand_board.at("/", hand_board.read_token))
        await _both_widths(page, hand_board.at(f"/trader/{TRADER}"), "trader")
        for element in ("edge-kept", "ideal-pnl", "follower-pnl"):
            assert await page.text(element) == HAND_EXPECTED[element], element
        parts = json.loads(
            await page.js(
                "JSON.stringify(Object.fromEntries([...document.querySelectorAll('[data-part]')]"
                ".map(e => [e.dataset.part, e.textContent])))"
            )
        )
        assert parts == {k: HAND_EXPECTED[k] for k in parts} and len(parts) == 6
        # pictures, not only tables: the PnL lines, the waterfall, two histograms
        assert await page.js("document.querySelectorAll('svg.chart').length") == 5
        series = await page.js(
            "[...document.querySelectorAll('polyline[data-series]')].map(e => e.dataset.series)"
        )
        assert series[:2] == ["leader x ratio", "follower"]
        bars = await page.js(
            "[...document.querySelectorAll('rect.bar')].reduce((n, e) => n + +e.dataset.count, 0)"
        )
        assert bars == 2 * 5  # latency and slippage of the five fills
        assert page.console_errors == []


async def test_pages_over_a_simulated_journal(sim_board: Dashboard, sim_dir: Path) -> None:
    from lightspeed_cli.config.settings import load_settings

    traders = [t.id for t in load_settings(sim_dir / "config.toml").traders]
    async with browser_page() as page:
        await _both_widths(page, sim_board.at("/", sim_board.read_token), "sim-overview")
        listed = await page.text("traders")
        assert all(t in listed for t in traders)
        changes = 0
        for n, trader in enumerate(traders):
            await _both_widths(page, sim_board.at(f"/trader/{trader}"), f"sim-trader-{n}")
            assert await page.js("document.querySelectorAll('svg.chart').length") == 5
            changes += int(await page.text("changes") or "0")
        assert changes > 0  # the scenario's changes, whichever trader made them
        # a read-only dashboard offers no controls, and refuses them
        assert await page.js("document.querySelector('a[href=\"/control\"]')") is None
        await page.goto(sim_board.at("/control"))
        assert "read-only" in (await page.text("message") or "")


async def test_controls_need_the_control_token_and_a_confirmation(hand_board: Dashboard) -> None:
    journal = hand_board.data_dir / "journal.sqlite3"
    async with browser_page() as page:
        await page.goto(hand_board.at("/", hand_board.read_token))
        assert await page.js("document.querySelector('a[href=\"/control\"]')") is None
        await page.goto(hand_board.at("/control/pause"))
        assert "cannot steer" in (await page.text("message") or "")
        page.console_errors.clear()  # the 403 itself is logged as one
        await page.screenshot(SHOTS / "control-refused.png")

        await page.goto(hand_board.at("/control", hand_board.control_token))
        await page.screenshot(SHOTS / "controls.png")
        assert await page.text("opens") == "Opens: opens allowed"
        await page.click("ask-pause")
        assert "Pause opens" in (await page.text("question") or "")
        assert not read_pause_state(journal).paused  # asking is not doing
        await page.screenshot(SHOTS / "control-confirm.png")
        await page.click("confirm")
        assert (await page.text("result") or "").startswith("paused: no new positions")
        assert read_pause_state(journal).paused
        await page.goto(hand_board.at("/"))
        assert (await page.text("opens") or "").startswith("PAUSED")

        await page.goto(hand_board.at("/control/resume"))
        await page.click("confirm")
        assert not read_pause_state(journal).paused
        assert page.console_errors == []
