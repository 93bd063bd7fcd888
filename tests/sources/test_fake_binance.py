"""The fake Binance itself: real shapes, scripting, faults, logs; thread and process modes."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from binance_helpers import CT_ID, LB_ID, fixture_body

from lightspeed_cli.sim.binance import (
    COPYTRADE,
    LEADERBOARD_V1,
    LEADERBOARD_V2,
    FakeBinance,
    FakePosition,
    Fault,
    demo_traders,
)


def _lb(client: httpx.Client, path: str = LEADERBOARD_V1, trader: str = LB_ID, **kw):
    return client.post(path, json={"encryptedUid": trader, "tradeType": "PERPETUAL"}, **kw)


def _ct(client: httpx.Client, trader: str = CT_ID):
    return client.get(COPYTRADE, params={"portfolioId": trader})


def test_bodies_have_the_recorded_shapes(threaded_fake: FakeBinance) -> None:
    fake = threaded_fake
    fake.set_positions(LB_ID, [FakePosition.short("ETHUSDT", "2", "3000", 10)])
    fake.set_positions(CT_ID, [FakePosition.long("BTCUSDT", "0.25", "60123.4", 20)])
    fake.set_mark_price("ETHUSDT", "2990")
    with httpx.Client(base_url=fake.url) as client:
        lb = _lb(client).json()
        ct = _ct(client).json()
    recorded_lb = json.loads(fixture_body("leaderboard_positions.json"))
    recorded_ct = json.loads(fixture_body("copytrade_positions.json"))
    assert lb.keys() == recorded_lb.keys() and lb["data"].keys() == recorded_lb["data"].keys()
    (row,) = lb["data"]["otherPositionRetList"]
    assert row.keys() == recorded_lb["data"]["otherPositionRetList"][0].keys()
    assert (row["amount"], row["markPrice"], row["pnl"]) == (-2.0, 2990.0, 20.0)
    assert ct.keys() == recorded_ct.keys()
    assert all(r.keys() == recorded_ct["data"][0].keys() for r in ct["data"])
    assert ct["data"][0]["positionAmount"] == "0.25" and ct["data"][0]["positionSide"] == "BOTH"
    assert [r["positionAmount"] for r in ct["data"][1:]] == ["0", "0"]  # closed symbols


def test_closed_positions_stay_as_zero_rows_and_hidden_is_null(
    threaded_fake: FakeBinance,
) -> None:
    fake = threaded_fake
    fake.set_positions(CT_ID, [FakePosition.long("ETHUSDT", "1", "3000", hedge=True)])
    fake.clear_positions(CT_ID)
    with httpx.Client(base_url=fake.url) as client:
        rows = _ct(client).json()["data"]
        assert {(r["symbol"], r["positionSide"], r["positionAmount"]) for r in rows} >= {
            ("ETHUSDT", "LONG", "0")
        }
        fake.hide(CT_ID)
        fake.hide(LB_ID)
        assert _ct(client).json() == json.loads(fixture_body("copytrade_hidden.json"))
        assert _lb(client).json() == json.loads(fixture_body("leaderboard_hidden.json"))
        unknown = _lb(client, trader="f" * 32).json()
        assert unknown["success"] and unknown["data"]["otherPositionRetList"] is None


def test_faults_are_scoped_per_trader_and_counted(threaded_fake: FakeBinance) -> None:
    fake = threaded_fake
    fake.set_positions(CT_ID, [])
    fake.inject(Fault.RATE_LIMIT, trader=CT_ID, times=2, retry_after=7)
    with httpx.Client(base_url=fake.url) as client:
        first, second, third = (_ct(client) for _ in range(3))
        other = _ct(client, "1234567890123")
    assert [first.status_code, second.status_code, third.status_code] == [429, 429, 200]
    assert first.headers["Retry-After"] == "7" and other.status_code == 200
    assert [r.status for r in fake.requests(CT_ID)] == [429, 429, 200]
    fake.clear_log()
    assert fake.request_count() == 0


def test_session_is_required_on_the_private_path_only(threaded_fake: FakeBinance) -> None:
    fake = threaded_fake
    fake.set_positions(LB_ID, [])
    fake.require_session("cookie", "csrf")
    with httpx.Client(base_url=fake.url) as client:
        refused = _lb(client, LEADERBOARD_V2)
        allowed = _lb(
            client, LEADERBOARD_V2, headers={"csrftoken": "csrf", "Cookie": "p20t=cookie"}
        )
        public = _lb(client, LEADERBOARD_V1)
    assert refused.status_code == 401 and refused.json()["success"] is False
    assert allowed.status_code == 200 and allowed.json()["success"] is True
    assert public.status_code == 200


def test_own_rate_limit_answers_429_per_client(threaded_fake: FakeBinance) -> None:
    fake = threaded_fake
    fake.rate_limit = 3
    with httpx.Client(base_url=fake.url) as client:
        statuses = [_ct(client).status_code for _ in range(5)]
        proxied = _ct_via(client, "1.1 proxy-z")
    assert statuses == [200, 200, 200, 429, 429] and proxied == 200


def _ct_via(client: httpx.Client, via: str) -> int:
    return client.get(COPYTRADE, params={"portfolioId": CT_ID}, headers={"Via": via}).status_code


async def test_async_mode_and_malformed_fault() -> None:
    async with FakeBinance() as fake, httpx.AsyncClient(base_url=fake.url) as client:
        fake.inject(Fault.MALFORMED, times=1)
        bad = await client.get(COPYTRADE, params={"portfolioId": CT_ID})
        assert bad.status_code == 200
        with pytest.raises(ValueError):
            bad.json()


def test_runs_as_its_own_process_with_demo_traders() -> None:
    cmd = [sys.executable, "-m", "lightspeed_cli.sim.binance", "--demo-traders", "4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        (_, lb), (_, ct) = demo_traders(2)
        with httpx.Client(base_url=url) as client:
            rows = _lb(client, trader=lb).json()["data"]["otherPositionRetList"]
            portfolio = _ct(client, ct).json()["data"]
        assert rows and any(r["positionAmount"] != "0" for r in portfolio)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
