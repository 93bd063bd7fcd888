"""The fake Hyperliquid speaks the recorded shapes (shared/api/hyperliquid.md) over real sockets."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from lightspeed_cli.sim.hyperliquid import GREETING, FakeHyperliquid, Fault, HlPosition, fill_dir

USER = "0x" + "12" * 20


@pytest.fixture
async def fake() -> AsyncIterator[FakeHyperliquid]:
    async with FakeHyperliquid(idle_timeout=1.0) as server:
        yield server


async def info(fake: FakeHyperliquid, body: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(fake.info_url, json=body) as r:
        text = await r.text()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text


async def test_clearinghouse_state_has_the_recorded_shape(fake: FakeHyperliquid) -> None:
    fake.set_positions(
        USER, [HlPosition.short("BTC", "0.00785", "60000", 20)], account_value="1000.5"
    )
    status, body = await info(fake, {"type": "clearinghouseState", "user": USER})
    assert status == 200
    assert set(body) >= {"assetPositions", "marginSummary", "crossMarginSummary", "time"}
    assert body["marginSummary"]["accountValue"] == "1000.5"
    (row,) = body["assetPositions"]
    assert row["type"] == "oneWay"
    position = row["position"]
    assert position["szi"] == "-0.00785" and position["entryPx"] == "60000.0"
    assert position["leverage"] == {"type": "cross", "value": 20}
    assert isinstance(body["time"], int)


async def test_a_flat_account_answers_an_empty_list(fake: FakeHyperliquid) -> None:
    _, body = await info(fake, {"type": "clearinghouseState", "user": USER})
    assert body["assetPositions"] == []


def test_dir_names_the_flips() -> None:
    D = Decimal
    assert fill_dir(D(0), "B", D(1)) == "Open Long"
    assert fill_dir(D(2), "A", D(1)) == "Close Long"
    assert fill_dir(D(2), "A", D(3)) == "Long > Short"
    assert fill_dir(D(-87), "B", D("1737.4")) == "Short > Long"
    assert fill_dir(D(-1), "A", D(1)) == "Open Short"


async def test_fills_newest_first_and_by_time_inclusive(fake: FakeHyperliquid) -> None:
    for n in range(4):
        fake.fill(USER, "ETH", "B", "1", "3000", time_ms=1_000 + n)
    _, recent = await info(fake, {"type": "userFills", "user": USER})
    assert [f["time"] for f in recent] == [1003, 1002, 1001, 1000]
    body = {"type": "userFillsByTime", "user": USER, "startTime": 1001, "endTime": 1002}
    _, window = await info(fake, body)
    assert [f["time"] for f in window] == [1001, 1002]
    first = recent[-1]
    assert first["startPosition"] == "0.0" and first["dir"] == "Open Long"
    assert isinstance(first["tid"], int) and isinstance(first["oid"], int)
    assert fake.positions(USER)["ETH"].szi == 4


@pytest.mark.parametrize(("fault", "status", "text"), [
    (Fault.RATE_LIMIT, 429, ""), (Fault.SERVER_NULL, 500, None),
])  # fmt: skip
async def test_faults(fake: FakeHyperliquid, fault: Fault, status: int, text: Any) -> None:
    fake.inject(fault, request_type="clearinghouseState")
    assert await info(fake, {"type": "clearinghouseState", "user": USER}) == (status, text)
    assert (await info(fake, {"type": "clearinghouseState", "user": USER}))[0] == 200


async def test_socket_greets_acks_and_sends_the_snapshot_first(fake: FakeHyperliquid) -> None:
    fake.fill(USER, "BTC", "B", "0.1", "60000")
    async with aiohttp.ClientSession() as session, session.ws_connect(fake.ws_url) as ws:
        assert (await ws.receive_str(timeout=2)) == GREETING
        sub = {"method": "subscribe", "subscription": {"type": "userFills", "user": USER}}
        await ws.send_json(sub)
        ack = await ws.receive_json(timeout=2)
        assert ack == {"channel": "subscriptionResponse", "data": sub}
        snapshot = await ws.receive_json(timeout=2)
        assert snapshot["channel"] == "userFills" and snapshot["data"]["isSnapshot"] is True
        assert len(snapshot["data"]["fills"]) == 1
        sent = fake.fill(USER, "BTC", "A", "0.3", "60100")
        live = await ws.receive_json(timeout=2)
        assert live["data"] == {"user": USER, "fills": [sent]}
        assert sent["dir"] == "Long > Short"
        await ws.send_json({"method": "ping"})
        assert await ws.receive_json(timeout=2) == {"channel": "pong"}


async def test_idle_socket_is_closed(fake: FakeHyperliquid) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(fake.ws_url) as ws:
        await ws.receive_str(timeout=2)
        message = await ws.receive(timeout=fake.idle_timeout + 3)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_a_gap_refuses_sockets_until_reconnect(fake: FakeHyperliquid) -> None:
    async with aiohttp.ClientSession() as session:
        fake.disconnect()
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(fake.ws_url)
        fake.reconnect()
        ws = await session.ws_connect(fake.ws_url)
        await ws.close()


async def test_push_delay_holds_every_frame() -> None:
    async with (
        FakeHyperliquid(push_delay=0.2, greeting=False) as fake,
        aiohttp.ClientSession() as session,
        session.ws_connect(fake.ws_url) as ws,
    ):
        loop = asyncio.get_running_loop()
        sent = loop.time()
        await ws.send_json({"method": "ping"})
        await ws.receive_json(timeout=2)
        assert loop.time() - sent >= 0.2


def test_threaded_fake_serves_synchronous_clients() -> None:
    import httpx

    with FakeHyperliquid.running() as fake:
        fake.set_positions(USER, [HlPosition.long("SOL", "3", "150")])
        body = httpx.post(fake.info_url, json={"type": "clearinghouseState", "user": USER}).json()
        assert body["assetPositions"][0]["position"]["coin"] == "SOL"


def test_runs_standalone_and_prints_its_urls() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "lightspeed_cli.sim.hyperliquid", "--demo-wallets", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info_url = process.stdout.readline().strip()
        ws_url = process.stdout.readline().strip()
        assert info_url.startswith("http://127.0.0.1:") and info_url.endswith("/info")
        assert ws_url.startswith("ws://127.0.0.1:") and ws_url.endswith("/ws")
        import httpx

        wallet = process.stdout.readline().split()[1]
        body = httpx.post(info_url, json={"type": "clearinghouseState", "user": wallet}).json()
        assert {r["position"]["coin"] for r in body["assetPositions"]} == {"BTC", "kPEPE"}
    finally:
        process.terminate()
        process.wait(10)
