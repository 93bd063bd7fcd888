"""Shared by the Binance source tests: ids, the session, recorded bodies, a forward proxy."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
from aiohttp import web

from lightspeed_cli.config.sections import TraderSettings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "binance"
LB_ID = "0123456789abcdef0123456789ABCDEF"
CT_ID = "3987123456789012345"
SESSION = {"p20t": "test-p20t-cookie-value", "csrftoken": "test-csrf-token-value"}
SESSION_JSON = json.dumps(SESSION)

LEADERBOARD = TraderSettings(id=LB_ID, source="leaderboard")
COPYTRADE = TraderSettings(id=CT_ID, source="copytrade")


def fixture_body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "upgrade",
    "content-length",
    "host",
    "proxy-authorization",
}


class ForwardProxy:
    """A minimal HTTP forward proxy (absolute-form requests, no CONNECT), like a paid proxy
    in front of plain-HTTP traffic. It adds `Via: 1.1 <name>`, which the fake reads as the
    client's identity (Binance limits per IP; on loopback every IP is 127.0.0.1)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.forwarded = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> ForwardProxy:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._session = aiohttp.ClientSession(auto_decompress=False)
        return self

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        self.forwarded += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Via"] = f"1.1 {self.name}"
        async with self._session.request(
            request.method,
            str(request.url),
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as upstream:
            body = await upstream.read()
            back = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            return web.Response(status=upstream.status, body=body, headers=back)
