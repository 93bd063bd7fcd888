"""A real headless Chromium driven over its DevTools protocol (aiohttp's WebSocket client):
navigate, read the page, click, screenshot, and collect every console error and exception.

Debian's `chromium` package (.ci/run installs it); `chromium_binary()` is None without it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

START_TIMEOUT = 30.0
LOAD_TIMEOUT = 20.0


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.console_errors: list[str] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self.waiting:
                self.waiting.pop(data["id"]).set_result(data)
                continue
            method, params = data.get("method"), data.get("params", {})
            if method == "Runtime.exceptionThrown":
                self.console_errors.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                self.console_errors.append(json.dumps(params.get("args"))[:500])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                self.console_errors.append(params["entry"].get("text", ""))
            await self.events.put(data)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[msg_id] = future
        await self.ws.send_str(json.dumps({"id": msg_id, "method": method, "params": params}))
        answer = await asyncio.wait_for(future, LOAD_TIMEOUT)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    async def _loaded(self) -> None:
        while True:
            event = await self.events.get()
            if event.get("method") == "Page.loadEventFired":
                return

    async def _drain(self) -> None:
        while not self.events.empty():
            self.events.get_nowait()

    async def goto(self, url: str) -> None:
        await self._drain()
        await self.call("Page.navigate", url=url)
        await asyncio.wait_for(self._loaded(), LOAD_TIMEOUT)

    async def click(self, element_id: str) -> None:
        """Click an element that submits or navigates, and wait for the next page."""
        await self._drain()
        await self.js(f"document.getElementById({json.dumps(element_id)}).click()")
        await asyncio.wait_for(self._loaded(), LOAD_TIMEOUT)

    async def js(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def text(self, element_id: str) -> str | None:
        found = f"document.getElementById({json.dumps(element_id)})"
        return await self.js(f"(e => e ? e.textContent.trim() : null)({found})")

    async def width(self, width: int, height: int = 900, mobile: bool = False) -> None:
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )

    async def overflows(self, width: int) -> bool:
        """True when the page is wider than `width` (a phone would scroll sideways; a mobile
        viewport widens itself to fit, so its innerWidth proves nothing)."""
        return bool(await self.js(f"document.documentElement.scrollWidth > {width}"))

    async def screenshot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))


@contextlib.asynccontextmanager
async def browser_page() -> AsyncIterator[Page]:
    binary = chromium_binary()
    assert binary is not None
    with tempfile.TemporaryDirectory(prefix="ls-chromium-") as profile:
        proc = subprocess.Popen(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + START_TIMEOUT
            while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("chromium did not start its DevTools endpoint")
                await asyncio.sleep(0.1)
            port = int(port_file.read_text().splitlines()[0])
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                    targets = await resp.json()
                target = next(t for t in targets if t["type"] == "page")
                async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                    page = Page(ws)
                    for domain in ("Page", "Runtime", "Log"):
                        await page.call(f"{domain}.enable")
                    try:
                        yield page
                    finally:
                        page.reader.cancel()
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
